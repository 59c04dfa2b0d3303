"""``fastsoftmax train``: the study's pipeline, end to end, on one data set."""
import time

import click

from fastsoftmax._shared.presets import KMEANS_FEATURES, STUDY_TEST_ACCURACY, is_large_image
from fastsoftmax.cli.building import (build_classifier, build_features, check_cache_limit,
                                      feature_setup, load_data)
from fastsoftmax.cli.errors import InputError, handle_errors
from fastsoftmax.cli.folders import image_size_option, split_options
from fastsoftmax.cli.options import (cache_option, classifier_options, dpi_option,
                                     feature_options, json_option, overwrite_option, pca_option,
                                     pixels_per_cell_option, preset_option, seed_option)
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.paths import output_file
from fastsoftmax.cli.progress import DownloadProgress, StageProgress
from fastsoftmax.cli.verbosity import is_quiet, log_cache, log_seconds, log_threads
from fastsoftmax.cli.dataset_options import (data_option, labels_option, set_validation_fraction,
                                             val_fraction_option)


@click.command()
@data_option
@labels_option
@click.option("--download", is_flag=True,
              help="Download CIFAR-10 (170 MB) into the data folder first if it is not there "
                   "(see `fastsoftmax data info`).")
@preset_option
@classifier_options
@feature_options
@pca_option
@pixels_per_cell_option
@click.option("--flip/--no-flip", "flip_train", default=None,
              help="Learn as if from every image and its mirror image (flipped left to right) "
                   "too. kmeans: features that are the same for an image and its mirror "
                   "image, which gives that at no extra cost (half the features). hog: the "
                   "mirror images are also encoded and trained on (twice the rows). "
                   "[default: on with --features kmeans, off with hog]")
@click.option("--flip-predict/--no-flip-predict", "flip_predict", default=None,
              help="Predict from the mean of the class probabilities of each image and its "
                   "mirror image (the model file keeps it for evaluate and predict): twice the "
                   "feature work when predicting; kmeans with --flip already does this. "
                   "[default: off]")
@click.option("--shift-predict", "shift_predict", type=click.IntRange(min=0), default=None,
              metavar="PIXELS",
              help="Predict from the mean of the class probabilities of each image and four "
                   "copies of it moved this many pixels down, up, right and left (borders "
                   "reflected; the model file keeps it for evaluate and predict): five times "
                   "the feature work when predicting, about twice with --features kmeans "
                   "and a shift of 3 (the copies' features made from the image's); 0: off. "
                   "[default: 3 with --features "
                   "kmeans on images of at least 32x32 pixels, else 0]")
@click.option("--shift-train", "shift_train", type=click.IntRange(min=0), default=None,
              metavar="PIXELS",
              help="Data augmentation: --shift-rounds times over the epochs, replace the "
                   "training features by those of the training images each moved by a "
                   "random offset of up to this many pixels along each axis (borders "
                   "reflected), so that the classifier learns from several shifted copies "
                   "for the memory of one; each round encodes the training images once "
                   "more. 0: off. [default: 2 with --preset large on images of at least "
                   "32x32 pixels, else 0]")
@click.option("--shift-rounds", "shift_rounds", type=click.IntRange(min=1), default=None,
              metavar="N",
              help="Rounds of --shift-train, evenly spaced over the epochs. [default: 3]")
@cache_option
@seed_option
@val_fraction_option
@split_options
@image_size_option
@click.option("-o", "--model", "model_path", type=click.Path(dir_okay=False, path_type=str),
              help="Save the fitted pipeline (features, PCA, classifier, class names) to this "
                   "file, for `evaluate` and `predict`.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the training loss curve here (.png, .pdf or .svg).")
@dpi_option
@overwrite_option
@json_option
@handle_errors
def train(data, labels, download, preset, features_kind, pca_variance, pixels_per_cell,
          flip_train, flip_predict, shift_predict, shift_train, shift_rounds, no_cache, seed,
          val_fraction, test_fraction, split_seed, image_size, model_path, plot_path, dpi,
          force, as_json, **options):
    """Train the study's pipeline and report train and test accuracy.

    Images are scaled to 0..1, turned to grayscale, described by HOG (9 orientations,
    4x4-pixel cells, 2x2-cell blocks), reduced by PCA, and classified by a softmax
    trained with minibatch SGD.  With --features kmeans, learned features replace HOG
    (a dictionary of whitened colour patches, every patch encoded against it, pooled
    over a 3x3 grid and the whole image), standardized, without PCA; they are the same
    for an image and its mirror image, so the classifier learns as if from both
    (--flip).  Without --data it runs on scikit-learn's bundled digits (8x8 images, a
    fixed 75/25 split), with no download.
    CIFAR-10, CIFAR-100 (--labels fine|coarse), MNIST, Fashion-MNIST and SVHN use their
    published test split.  An image folder root/<class>/ is split at random
    (--test-fraction, --split-seed); the model file records the training images (path
    and SHA-256 of each file), so that `evaluate` on a folder leaves them out.  The
    JSON output and the model file say how many images each split held and how it was
    drawn.  On 28x28 grayscale images (MNIST) HOG takes 4x4-pixel cells (1,296
    features) and --features kmeans 6x6 patches, as on 32x32 ones.

    Each stage (load, features, PCA, training, evaluation) shows its progress on
    stderr, then a line with its seconds.  The final loss (the training line, and
    final_loss in --json) is the mean minibatch loss over the last 5% of updates.
    """
    quiet = is_quiet() or as_json
    setup = feature_setup(features_kind, options, pca_variance,
                          hog_params={"pixels_per_cell": pixels_per_cell}, preset=preset,
                          flip=flip_train)
    if features_kind == "kmeans":
        if flip_predict and setup["params"].get("mirror", KMEANS_FEATURES["mirror"]):
            raise InputError("--flip-predict adds nothing to --features kmeans with --flip: "
                             "its features are the same for an image and its mirror image")
        flip_train = False  # --flip is the features' own
    classifier = build_classifier(options, preset, seed, defaults=setup["classifier"])
    if shift_train and classifier.early_stopping:
        raise InputError("--shift-train cannot be combined with --early-stopping")
    set_validation_fraction(classifier, val_fraction)
    model_file = output_file(model_path, "--model", force)
    plot_file = output_file(plot_path, "--plot", force, dpi=dpi)

    check_cache_limit(no_cache)

    from fastsoftmax.data.splits import SplitRecord
    from fastsoftmax.model.pipeline import ImagePipeline
    from fastsoftmax.model.views import check_shift

    seconds = {}
    with StageProgress(quiet) as progress:
        start = time.perf_counter()
        with progress.stage("load"), DownloadProgress(quiet) as download_progress:
            dataset = load_data(data, quiet, download=download, progress=download_progress,
                                image_size=image_size, test_fraction=test_fraction,
                                split_seed=split_seed, labels=labels)
        seconds["load"] = time.perf_counter() - start
        log_threads()
        log_cache(not no_cache)
        shiftable = is_large_image(dataset.image_shape)
        if shift_predict is None:
            shift_predict = setup["shift_predict"] if shiftable else 0
        if shift_train is None:
            shift_train = (setup["shift_train"] if shiftable and not classifier.early_stopping
                           else 0)
        try:
            check_shift(shift_predict, dataset.image_shape, "--shift-predict")
            check_shift(shift_train, dataset.image_shape, "--shift-train")
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if shift_rounds is not None and not shift_train:
            raise InputError("--shift-rounds needs --shift-train (shifted training images)")

        pipe = ImagePipeline(classifier=classifier,
                             features=build_features(setup, dataset.image_shape, seed),
                             pca_variance=setup["pca_variance"],
                             standardize=setup["standardize"],
                             flip_train=setup["flip_train"] if flip_train is None else flip_train,
                             flip_predict=(setup["flip_predict"] if flip_predict is None
                                           else flip_predict),
                             shift_predict=shift_predict, shift_train=shift_train,
                             shift_rounds=(setup["shift_rounds"] if shift_rounds is None
                                           else shift_rounds),
                             class_names=dataset.class_names, cache=not no_cache)
        split = SplitRecord.of_training(dataset, classifier, pipe.flip_train)
        pipe.fit(dataset.X_train, dataset.y_train, progress=progress,
                 training_files=dataset.train_files, split=split)
        seconds.update(pipe.timings_)

        start = time.perf_counter()
        with progress.stage("evaluate", len(dataset.y_test)) as evaluation:
            predicted = pipe.predict(dataset.X_test, progress=evaluation)
            test_accuracy = float((predicted == dataset.y_test).mean())
        seconds["evaluate"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    log_seconds(seconds)

    if model_file:
        try:
            pipe.save(model_file, overwrite=force)
        except FileExistsError:  # written by someone else since the check before the work
            raise InputError(f"--model: {model_path!r} already exists; add --force to "
                             "overwrite it") from None
    if plot_file:
        from fastsoftmax.plots.figures import plot_loss_curve

        plot_loss_curve(pipe.classifier_.loss_curve_, plot_file,
                        title=f"{dataset.name}: training loss", dpi=dpi)

    from fastsoftmax.model.metrics import final_loss  # here: keeps --help fast

    files = dataset.train_files
    result = {
        "data": dataset.name,
        "preset": preset,
        "train_accuracy": pipe.train_accuracy_,
        "test_accuracy": test_accuracy,
        "n_iter": int(pipe.classifier_.n_iter_),
        "features": features_kind,
        "n_features": pipe.n_features_,
        "n_image_features": pipe.n_image_features_,
        "final_loss": final_loss(pipe.classifier_.loss_curve_),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "feature_params": pipe.features_.get_params(),
        "params": {k: v for k, v in pipe.classifier_.get_params().items() if k != "random_state"},
        "seed": seed,
        "split_seed": files.split_seed if files is not None else None,
        "test_fraction": files.test_fraction if files is not None else None,
        "n_training_files": len(files) if files is not None else None,
        "split": split.to_dict(),
        "class_names": list(dataset.class_names),
        "flip_train": pipe.flip_train,
        "flip_predict": pipe.flip_predict,
        "shift_predict": pipe.shift_predict,
        "shift_train": pipe.shift_train,
        "shift_rounds": pipe.shift_rounds,
        "model": model_path,
    }
    if features_kind == "hog":
        result["n_hog_features"] = pipe.n_image_features_  # the name before --features
    if preset == "study":
        result["study_test_accuracy"] = STUDY_TEST_ACCURACY
    if as_json:
        echo_json(result)
        return
    echo(f"train accuracy: {pipe.train_accuracy_:.4f}")
    line = f"test accuracy:  {test_accuracy:.4f}"
    if preset == "study":
        line += f"   (the study reported {STUDY_TEST_ACCURACY:.4f})"
    echo(line)
    echo(f"features: {_describe_features(pipe, features_kind)}; {result['n_iter']} updates")
    echo(f"{dataset.name}: {len(dataset.class_names)} classes; {split.describe()}")
    echo("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    if model_path:
        echo(f"model saved to {model_path}")
    if plot_path:
        echo(f"loss curve written to {plot_path}")


def _describe_features(pipe, kind):
    """``1764 HOG -> 98 after PCA`` or ``16000 kmeans, standardized``."""
    name = "HOG" if kind == "hog" else kind
    text = f"{pipe.n_image_features_} {name}"
    if pipe.standardize:
        text += ", standardized"
    if pipe.pca_ is not None:
        text += f" -> {pipe.n_features_} after PCA"
    if pipe.flip_train:
        text += "; trained on the mirror images too"
    if pipe.flip_predict:
        text += "; predicts from each image and its mirror"
    if pipe.shift_train:
        text += (f"; {pipe.shift_rounds} rounds of training images shifted up to "
                 f"{pipe.shift_train} px")
    if pipe.shift_predict:
        text += f"; predicts from each image and 4 copies shifted {pipe.shift_predict} px"
    return text
