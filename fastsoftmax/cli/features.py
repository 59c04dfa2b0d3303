"""``fastsoftmax features``: a data set's features, written for another classifier."""
import click

from fastsoftmax.cli.dataset_options import data_option, labels_option
from fastsoftmax.cli.folders import image_size_option, split_options
from fastsoftmax.cli.building import build_features, check_cache_limit, feature_setup, load_data
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.options import (cache_option, feature_options, json_option,
                                     overwrite_option, pixels_per_cell_option, seed_option)
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.paths import output_file
from fastsoftmax.cli.progress import StageProgress
from fastsoftmax.cli.verbosity import is_quiet, log_seconds

#: The layout of the files this command writes (the ``format`` of their metadata).
FEATURES_FORMAT = "fastsoftmax-features"
FEATURES_FORMAT_VERSION = 1


@click.command()
@data_option
@labels_option
@image_size_option
@split_options
@feature_options
@pixels_per_cell_option
@cache_option
@seed_option
@click.option("-o", "--out", "out", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="The .npz file to write.")
@overwrite_option
@json_option
@handle_errors
def features(data, labels, image_size, test_fraction, split_seed, features_kind, pixels_per_cell,
             no_cache, seed, out, force, as_json, **options):
    """Compute a data set's features and write them, to train another classifier on.

    The feature step (--features hog: HOG, or kmeans: learned features, with their
    options) is fitted on the training images only, then applied to the training and
    test images.  The .npz file (read with numpy.load, no pickle) holds X_train,
    y_train, X_test, y_test (float32 features, int64 labels), class_names, and
    metadata: a JSON string with the data set, the split (images per split and how it
    was drawn) and the fitted feature step's parameters; a learned step's arrays (its
    whitening and dictionary) are the members features__<name>.  No PCA or
    standardization is applied.

    \b
    Example:
      fastsoftmax features -d path/to/mnist --features hog -o mnist-hog.npz
    """
    quiet = is_quiet() or as_json
    setup = feature_setup(features_kind, options, None,
                          hog_params={"pixels_per_cell": pixels_per_cell})
    check_cache_limit(no_cache)
    out_file = output_file(out, "--out", force)

    import json

    import numpy as np

    from fastsoftmax.io.atomic import atomic_open
    from fastsoftmax.model.pipeline import ImagePipeline

    with StageProgress(quiet) as progress:
        with progress.stage("load"):
            dataset = load_data(data, quiet, image_size=image_size, test_fraction=test_fraction,
                                split_seed=split_seed, labels=labels)
        pipe = ImagePipeline(features=build_features(setup, dataset.image_shape, seed),
                             pca_variance=None, cache=not no_cache)
        X_train = pipe.fit_features(dataset.X_train, dataset.y_train, progress=progress)
        with progress.stage("test features", len(dataset.y_test)) as report:
            X_test = pipe.transform(dataset.X_test, progress=report)
    log_seconds(progress.seconds)
    step = pipe.features_
    step_metadata, step_arrays = step.to_arrays()
    split = {"n_train": len(dataset.y_train), "n_test": len(dataset.y_test),
             **(dataset.split or {})}
    metadata = {"format": FEATURES_FORMAT, "format_version": FEATURES_FORMAT_VERSION,
                "data": dataset.name, "class_names": list(dataset.class_names),
                "image_shape": list(dataset.image_shape), "features": features_kind,
                "feature_step": type(step).__name__, "n_features": int(X_train.shape[1]),
                "seed": seed, "split": split, "feature_step_state": step_metadata}
    members = {"X_train": X_train, "y_train": dataset.y_train, "X_test": X_test,
               "y_test": dataset.y_test, "class_names": np.array(dataset.class_names, dtype=str),
               "metadata": np.array(json.dumps(metadata)),
               **{f"features__{name}": value for name, value in step_arrays.items()}}
    try:
        with atomic_open(out_file, "wb", replace=force) as handle:
            np.savez(handle, **members)
    except FileExistsError:  # written by someone else since the check before the work
        raise InputError(f"--out: {out!r} already exists; add --force to overwrite it") from None
    result = {"out": out, "data": dataset.name, "features": features_kind,
              "n_features": int(X_train.shape[1]), "n_train": len(dataset.y_train),
              "n_test": len(dataset.y_test), "class_names": list(dataset.class_names),
              "split": split, "feature_params": step.get_params(),
              "seconds": {k: round(v, 4) for k, v in progress.seconds.items()}}
    if as_json:
        echo_json(result)
        return
    echo(f"{dataset.name}: {result['n_train']} training and {result['n_test']} test images, "
         f"{result['n_features']} {features_kind} features each, written to {out}")
