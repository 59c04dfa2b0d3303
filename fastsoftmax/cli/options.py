"""The options two or more commands share, as click decorators, and their types.

A command's own options stay in its module; the image-folder options are in
:mod:`fastsoftmax.cli.folders`, ``-q``/``-v`` in :mod:`fastsoftmax.cli.verbosity`.
What the options build (a classifier, the feature step) is :mod:`fastsoftmax.cli.building`.
"""
import math

import click

from fastsoftmax._shared.presets import (FEATURE_SETUPS, KMEANS_FEATURES, LARGE_IMAGE_MIN_SIDE,
                                        LARGE_SETUPS)


class FiniteFloatRange(click.FloatRange):
    """A ``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which pass every
    range comparison or bound, and would fail only deep in the work)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: Largest seed: NumPy's legacy generators (scikit-learn's splits) take 0..2**32-1.
MAX_SEED = 2**32 - 1

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the results instead of text."
)
seed_option = click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
    help="Random seed (validation split, minibatch order, initial weights)."
)


# ---------------------------------------------------------------------- outputs
#: The one rule for every output (files and folders): an existing one is refused
#: before any work unless --force.
overwrite_option = click.option(
    "--force", is_flag=True,
    help="Overwrite output files that already exist (without it, an existing output is "
         "refused before any work).")
dpi_option = click.option(
    "--dpi", type=FiniteFloatRange(min=1, max=2400), default=120, show_default=True,
    help="Resolution of the figure (pixels per inch; for PDF/SVG only their raster parts).")


# ---------------------------------------------------------------------- the classifier
def classifier_options(func):
    """Every SoftmaxClassifier hyperparameter as an option (default: the classifier's).

    The real-valued ones are plain floats here:
    :func:`~fastsoftmax.cli.building.build_classifier` checks every value (``nan`` and
    ``inf`` included) against the classifier's own rules, before any work, so the
    message states the rule.
    """
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
                     help="shuffle: each epoch uses every image once, in a new order; "
                          "replacement: each batch is drawn at random (the study's). "
                          "[default: shuffle]"),
        click.option("--penalty", type=click.Choice(["none", "l2", "l1", "elasticnet"]),
                     help="Weight penalty. [default: l2]"),
        click.option("--alpha", type=float, help="Penalty strength. [default: 0.0001]"),
        click.option("--l1-ratio", type=float, help="Elastic-net L1 share in [0, 1]. [default: 0.15]"),
        click.option("--l1-method", type=click.Choice(["proximal", "subgradient"]),
                     help="proximal: shrink the weights towards 0 after each update (gives "
                          "exact zeros); subgradient: add alpha * sign(W) to the gradient "
                          "(the study's). [default: proximal]"),
        click.option("--momentum", type=float,
                     help="Share of the previous update added to each update, in [0, 1). "
                          "[default: 0.9]"),
        click.option("--early-stopping/--no-early-stopping", default=None,
                     help="Stop when a 10% validation split stops improving. [default: off]"),
        click.option("--backend", type=click.Choice(["numba", "numpy"]),
                     help="numba: the fast compiled code; numpy: the plain NumPy version the "
                          "tests compare it with (slower). [default: numba]"),
        click.option("--dtype", type=click.Choice(["float32", "float64"]),
                     help="Number precision of training (float64: slower, for checks). "
                          "[default: float32]"),
        click.option("--class-weight", type=click.Choice(["balanced"]),
                     help="balanced: weigh each class by n_samples / (n_classes * its count), "
                          "so rare classes count as much as common ones. [default: none]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: The classifier parameters :func:`classifier_options` sets.
CLASSIFIER_PARAMS = ("batch_size", "learning_rate", "lr_schedule", "lr_decay_steps", "n_iter",
                     "epochs", "sampling", "penalty", "alpha", "l1_ratio", "l1_method", "momentum",
                     "early_stopping", "backend", "dtype", "class_weight")

preset_option = click.option(
    "--preset", type=click.Choice(["default", "study", "large"]), default="default",
    show_default=True,
    help="study: the study's batch 500, learning rate 0.01, 50,000 updates with replacement, "
         "L2 alpha = 1.2/500 (its 1.2 was against the summed batch loss). large (with "
         f"--features kmeans, on images of at least {LARGE_IMAGE_MIN_SIDE}x"
         f"{LARGE_IMAGE_MIN_SIDE} pixels): a second layer of "
         f"{LARGE_SETUPS['kmeans']['image_params']['second_layer']:,} atoms (--second-layer), "
         "the first layer's sums over quadrants too (--quadrants) "
         f"and {LARGE_SETUPS['kmeans']['setup']['shift_rounds']} rounds of training images "
         f"shifted up to {LARGE_SETUPS['kmeans']['setup']['shift_train']} pixels "
         "(--shift-train): higher accuracy for about four times the time and twice the "
         "memory (docs/learned-features.md).")


# ---------------------------------------------------------------------- feature steps
#: ``--features kmeans`` parameters: option name -> KMeansFeatures parameter.
KMEANS_OPTIONS = {"n_centroids": "--n-centroids", "patch_size": "--patch-size",
                  "stride": "--stride", "n_patches": "--n-patches", "power": "--power",
                  "whiten_eps": "--whiten-eps", "encoder": "--encoder", "threshold": "--threshold",
                  "pooling": "--pooling", "max_iter": "--dictionary-iter",
                  "pyramid": "--pyramid", "quadrants": "--quadrants",
                  "second_layer": "--second-layer",
                  "second_layer_channels": "--second-layer-channels",
                  "second_layer_weight": "--second-layer-weight"}


def feature_options(func):
    """``--features`` and the learned features' parameters (train, sweep, study)."""
    options = [
        click.option("--features", "features_kind", type=click.Choice(list(FEATURE_SETUPS)),
                     default="hog", show_default=True,
                     help="hog: the study's HOG, then PCA. kmeans: learned features (Coates & "
                          "Ng 2011: a dictionary of whitened image patches, every patch "
                          "soft-thresholded against it, sums over a 3x3 grid and the whole "
                          "image, square-rooted, "
                          "the same for an image and its mirror image), standardized, no PCA, "
                          "and classifier defaults for them (learning rate 0.01, alpha 0.001, "
                          "200 epochs, batch 512) unless set."),
        click.option("--n-centroids", type=click.IntRange(min=1),
                     help="kmeans: dictionary size (atoms and their mirror images: even). "
                          f"[default: {KMEANS_FEATURES['n_centroids']}]"),
        click.option("--patch-size", type=click.IntRange(min=2),
                     help=f"kmeans: patch side in pixels. [default: {KMEANS_FEATURES['patch_size']}]"),
        click.option("--stride", type=click.IntRange(min=1),
                     help=f"kmeans: step between encoded patches. [default: {KMEANS_FEATURES['stride']}]"),
        click.option("--n-patches", type=click.IntRange(min=1),
                     help="kmeans: random training patches for the whitening and the "
                          f"dictionary. [default: {KMEANS_FEATURES['n_patches']:,}]"),
        click.option("--power", type=FiniteFloatRange(0, 1, min_open=True),
                     help="kmeans: the pooled sums are raised to this power; 1 keeps the "
                          "paper's sums, 0.5 (square roots) scores higher. "
                          f"[default: {KMEANS_FEATURES['power']}]"),
        click.option("--whiten-eps", type=FiniteFloatRange(0, min_open=True),
                     help="kmeans: ZCA whitening regularization, added to the patch "
                          "covariance's eigenvalues (larger amplifies the finest detail "
                          "less); the paper used 0.1. "
                          f"[default: {KMEANS_FEATURES['whiten_eps']}]"),
        click.option("--encoder", type=click.Choice(["soft-threshold", "triangle"]),
                     help="kmeans: soft-threshold: unit atoms of a spherical k-means, two "
                          "features per atom, max(0, d.x - t) and max(0, -d.x - t); triangle: "
                          "Lloyd's k-means and max(0, mean distance - distance), one feature "
                          "per atom (the 2011 AISTATS paper's, with --pooling 2 --no-flip). "
                          f"[default: {KMEANS_FEATURES['encoder']}]"),
        click.option("--threshold", type=FiniteFloatRange(0),
                     help="kmeans: the soft threshold t. "
                          f"[default: {KMEANS_FEATURES['threshold']}]"),
        click.option("--pooling", type=click.IntRange(min=1),
                     help="kmeans: sums over a grid of N x N regions of the patch positions, "
                          "split as evenly as they can be, symmetrically (with --flip an even "
                          "N needs an even number of positions: 32x32 images with 6x6 "
                          f"patches give 27). [default: {KMEANS_FEATURES['pooling']}]"),
        click.option("--pyramid/--no-pyramid", default=None,
                     help="kmeans: also the sums over the whole image (a two-level spatial "
                          "pyramid). [default: on]"),
        click.option("--quadrants/--no-quadrants", default=None,
                     help="kmeans, with --second-layer: also the first layer's sums over the "
                          "four quadrants of that layer's grid of cells (an odd number of "
                          "cells: the halves share the middle one), a third pyramid level. "
                          "[default: off; on with --preset large]"),
        click.option("--dictionary-iter", "max_iter", type=click.IntRange(min=1),
                     help="kmeans: dictionary (k-means) iterations at most. "
                          f"[default: {KMEANS_FEATURES['max_iter']}]"),
        click.option("--second-layer", type=click.IntRange(min=0),
                     help="kmeans: atoms of a second layer (atoms and their mirror images: "
                          "even; 0: none). It encodes every 3x3 neighbourhood of a map of the "
                          "first layer's codes, summed over cells of a grid three times finer "
                          "than --pooling, and its features follow the first layer's; about "
                          "twice the encoding time. "
                          f"[default: {KMEANS_FEATURES['second_layer']}]"),
        click.option("--second-layer-channels", type=click.IntRange(min=2),
                     help="kmeans: channels of that map, reduced by PCA (even: half "
                          "mirror-even, half mirror-odd). "
                          f"[default: {KMEANS_FEATURES['second_layer_channels']}]"),
        click.option("--second-layer-weight", type=FiniteFloatRange(0, min_open=True),
                     help="kmeans: the second layer's standardized features are multiplied "
                          "by it: below 1, a stronger penalty on their weights. "
                          f"[default: {KMEANS_FEATURES['second_layer_weight']}]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# ---------------------------------------------------------------------- sweeps and the study
force_option = click.option("--force", is_flag=True,
                            help="Replace complete results already in the output folder "
                                 "(without it, a folder holding results is refused before any "
                                 "work).")
#: Most fits at once (``--jobs``): each is a thread; more would only exhaust the machine.
MAX_JOBS = 256
jobs_option = click.option("-j", "--jobs", "n_jobs", type=click.IntRange(1, MAX_JOBS), default=2,
                           show_default=True,
                           help="How many runs train at once (threads of this process).")
val_option = click.option("--val-fraction", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
                          default=0.15, show_default=True,
                          help="Stratified share of the training images held out for validation.")
resplit_option = click.option(
    "--resplit", is_flag=True,
    help="Draw each seed's own validation split (with that seed), the features fitted on "
    "its training part: the spread over seeds then includes the split, not only the "
    "minibatch order.")
pca_option = click.option("--pca-variance", type=FiniteFloatRange(0, 1, min_open=True), default=None,
                          help="Fraction of the features' variance PCA keeps (1 keeps all "
                          "components). [default: 0.95 with --features hog; no PCA with kmeans]")
cache_option = click.option("--no-cache", is_flag=True,
                            help="Recompute features and PCA instead of using the disk cache.")
scheduler_option = click.option(
    "--scheduler",
    envvar="FASTSOFTMAX_SCHEDULER",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the fits on this Dask cluster (`dask scheduler` prints the address; needs "
    'pip install "fastsoftmax[distributed]"); --jobs is then ignored. Also read from '
    "$FASTSOFTMAX_SCHEDULER. Default: local threads.",
)

pixels_per_cell_option = click.option(
    "--pixels-per-cell", type=click.IntRange(min=1), default=None,
    help="hog: cell size in pixels. [default: 4; 2 for images under 16 px, e.g. digits]")
