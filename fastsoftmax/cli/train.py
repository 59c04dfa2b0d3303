"""``fastsoftmax train``: the study's pipeline, end to end, on one data set."""
import time

import click

from .figure_options import dpi_option
from .options import (InputError, ProgressBar, data_option, echo_json, handle_errors,
                      is_quiet, json_option, seed_option)

#: The study's configuration.  Its L2 strength 1.2 multiplies 1/2 ||W||^2 against the
#: minibatch's *summed* loss; our loss is the batch *mean*, so alpha = 1.2 / 500.
STUDY_PRESET = {
    "batch_size": 500,
    "learning_rate": 0.01,
    "n_iter": 50_000,
    "lr_schedule": "constant",
    "momentum": 0.0,
    "sampling": "replacement",
    "penalty": "l2",
    "alpha": 1.2 / 500,
}
STUDY_TEST_ACCURACY = 0.4419


def classifier_options(func):
    """Every SoftmaxClassifier hyperparameter as an option (default: the classifier's)."""
    options = [
        click.option("--batch-size", type=click.IntRange(min=1), help="Samples per minibatch. [default: 256]"),
        click.option("--learning-rate", "--lr", "learning_rate", type=float,
                     help="Initial learning rate (> 0). [default: 0.1]"),
        click.option("--lr-schedule", type=click.Choice(["constant", "step", "invscaling"]),
                     help="Learning-rate schedule: step halves it every --lr-decay-steps updates. [default: step]"),
        click.option("--lr-decay-steps", type=click.IntRange(min=1),
                     help="Updates per decay period. [default: a fifth of all updates]"),
        click.option("--n-iter", type=click.IntRange(min=1),
                     help="Number of minibatch updates (exclusive with --epochs)."),
        click.option("--epochs", type=click.IntRange(min=1),
                     help="Passes over the training data. [default: 10, and at least 1,000 updates]"),
        click.option("--sampling", type=click.Choice(["shuffle", "replacement"]),
                     help="shuffle: permuted epochs; replacement: the study's random draws. [default: shuffle]"),
        click.option("--penalty", type=click.Choice(["none", "l2", "l1", "elasticnet"]),
                     help="Weight penalty. [default: l2]"),
        click.option("--alpha", type=float, help="Penalty strength. [default: 0.0001]"),
        click.option("--l1-ratio", type=float, help="Elastic-net L1 share in [0, 1]. [default: 0.15]"),
        click.option("--l1-method", type=click.Choice(["proximal", "subgradient"]),
                     help="L1 by soft-thresholding (exact zeros) or the sign subgradient. [default: proximal]"),
        click.option("--momentum", type=float, help="Heavy-ball momentum in [0, 1). [default: 0.9]"),
        click.option("--early-stopping/--no-early-stopping", default=None,
                     help="Stop when a 10% validation split stops improving. [default: off]"),
        click.option("--backend", type=click.Choice(["numba", "numpy"]),
                     help="Fused Numba kernels or the NumPy reference. [default: numba]"),
        click.option("--dtype", type=click.Choice(["float32", "float64"]),
                     help="Training precision. [default: float32]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


CLASSIFIER_PARAMS = ("batch_size", "learning_rate", "lr_schedule", "lr_decay_steps", "n_iter",
                     "epochs", "sampling", "penalty", "alpha", "l1_ratio", "l1_method", "momentum",
                     "early_stopping", "backend", "dtype")


def build_classifier(options, preset, seed):
    from ..classifier import SoftmaxClassifier

    params = dict(STUDY_PRESET) if preset == "study" else {}
    given = {name: options[name] for name in CLASSIFIER_PARAMS if options.get(name) is not None}
    if "epochs" in given:
        params.pop("n_iter", None)
    if "n_iter" in given:
        params.pop("epochs", None)
    params.update(given)
    classifier = SoftmaxClassifier(random_state=seed, **params)
    classifier._validate_params()  # bad hyperparameters fail before any data is read
    return classifier


@click.command()
@data_option
@click.option("--download", is_flag=True, help="Download CIFAR-10 into the data cache first if it is missing.")
@click.option("--preset", type=click.Choice(["default", "study"]), default="default", show_default=True,
              help="study: the study's batch 500, learning rate 0.01, 50,000 updates with replacement, "
                   "L2 alpha = 1.2/500 (its 1.2 was against the summed batch loss).")
@classifier_options
@click.option("--pca-variance", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True,
              help="Fraction of the HOG features' variance PCA keeps (1 keeps all components).")
@click.option("--pixels-per-cell", type=click.IntRange(min=1), default=None,
              help="HOG cell size in pixels. [default: 4; 2 for images under 16 px, e.g. digits]")
@click.option("--no-cache", is_flag=True, help="Recompute HOG features and PCA instead of using the disk cache.")
@seed_option
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=str),
              help="Save the fitted pipeline (features, PCA, classifier, class names) here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str),
              help="Write the training loss curve here (.png, .pdf or .svg).")
@dpi_option
@json_option
@handle_errors
def train(data, download, preset, pca_variance, pixels_per_cell, no_cache, seed, model_path,
          plot_path, dpi, as_json, **options):
    """Train the study's pipeline and report train and test accuracy.

    Images are scaled to 0..1, turned to grayscale, described by HOG (9 orientations,
    4x4-pixel cells, 2x2-cell blocks), reduced by PCA, and classified by a softmax
    trained with minibatch SGD.  Without --data it runs on scikit-learn's bundled
    digits (8x8 images, a fixed 75/25 split), with no download.
    """
    quiet = is_quiet() or as_json
    classifier = build_classifier(options, preset, seed)
    _check_output_path(model_path, "--model")
    _check_output_path(plot_path, "--plot")
    if plot_path:
        from ..plots import check_figure_path

        check_figure_path(plot_path, dpi)

    from ..data import load_dataset
    from ..pipeline import ImagePipeline, default_hog_params

    seconds = {}
    start = time.perf_counter()
    from .data import DownloadProgress

    if not no_cache:
        from ..data.cache import cache_limit

        cache_limit()  # a bad $FASTSOFTMAX_CACHE_LIMIT fails before any work
    with DownloadProgress(quiet) as download_progress:
        dataset = load_dataset(data, download=download, progress=download_progress)
    seconds["load"] = time.perf_counter() - start

    hog_params = default_hog_params(dataset.image_shape)
    if pixels_per_cell is not None:
        hog_params["pixels_per_cell"] = (pixels_per_cell, pixels_per_cell)
    pipe = ImagePipeline(classifier=classifier, hog_params=hog_params, pca_variance=pca_variance,
                         class_names=dataset.class_names)
    if not quiet:
        click.echo(f"{dataset.name}: {len(dataset.y_train)} training and {len(dataset.y_test)} "
                   f"test images of {'x'.join(map(str, dataset.image_shape))}", err=True)
    bar = ProgressBar(1, "training", quiet=quiet)

    def progress(done, total, loss):
        bar.total = total
        if bar._bar is not None:
            bar._bar.length = total
        bar.update(done, f"loss {loss:.4f}")

    try:
        pipe.fit(dataset.X_train, dataset.y_train, callback=progress, cache=not no_cache)
    finally:
        bar.close()
    seconds.update(pipe.timings_)

    start = time.perf_counter()
    train_accuracy = pipe.train_accuracy_
    test_accuracy = pipe.score(dataset.X_test, dataset.y_test)
    seconds["evaluate"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())

    if model_path:
        pipe.save(model_path)
    if plot_path:
        from ..plots import plot_loss_curve

        plot_loss_curve(pipe.classifier.loss_curve_, plot_path,
                        title=f"{dataset.name}: training loss", dpi=dpi)

    result = {
        "data": dataset.name,
        "preset": preset,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "n_iter": int(pipe.classifier.n_iter_),
        "n_features": int(pipe.n_features_),
        "n_hog_features": int(pipe.pca_components_.shape[1]) if pipe.pca_components_ is not None else int(pipe.n_features_),
        "final_loss": float(pipe.classifier.loss_curve_[-1]),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "params": {k: v for k, v in pipe.classifier.get_params().items() if k != "random_state"},
        "seed": seed,
        "model": model_path,
    }
    if preset == "study":
        result["study_test_accuracy"] = STUDY_TEST_ACCURACY
    if as_json:
        echo_json(result)
        return
    click.echo(f"train accuracy: {train_accuracy:.4f}")
    line = f"test accuracy:  {test_accuracy:.4f}"
    if preset == "study":
        line += f"   (the study reported {STUDY_TEST_ACCURACY:.4f})"
    click.echo(line)
    click.echo(f"features: {result['n_hog_features']} HOG -> {result['n_features']} after PCA; "
               f"{result['n_iter']} updates")
    click.echo("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    if model_path:
        click.echo(f"model saved to {model_path}")
    if plot_path:
        click.echo(f"loss curve written to {plot_path}")


def _check_output_path(path, option):
    """Refuse an output path whose folder does not exist before any work is done."""
    if not path:
        return
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{option}: folder {os.path.dirname(path) or '.'!r} does not exist")
