"""What a command runs, built from its options: the classifier, the feature step, the
data and its features, a saved pipeline, the Dask cluster.

Each function checks what it is given before any work and says what is wrong in one
line (:class:`~fastsoftmax.cli.errors.InputError`).  The library (NumPy, Numba,
scikit-learn) is imported inside them, when a command runs, so that ``--help`` stays
instant.
"""
import contextlib
import os
import re

from fastsoftmax._shared.presets import FEATURE_SETUPS, LARGE_SETUPS, STUDY_PRESET, is_large_image
from fastsoftmax.cli.errors import InputError
from fastsoftmax.cli.options import CLASSIFIER_PARAMS, KMEANS_OPTIONS
from fastsoftmax.cli.progress import StageProgress, write_line
from fastsoftmax.cli.verbosity import log, log_cache, log_seconds, log_threads

__all__ = ["build_classifier", "feature_setup", "feature_params", "build_features",
           "check_cache_limit", "load_data", "load_features", "load_pipeline",
           "connect_scheduler"]


def build_classifier(options, preset, seed, defaults=None):
    """The classifier of the options given over the preset's (``defaults``, e.g. those of
    ``--features kmeans``, without a preset); checked before any data is read."""
    from fastsoftmax.model.classifier import SoftmaxClassifier

    params = dict(STUDY_PRESET) if preset == "study" else dict(defaults or {})
    given = {name: options[name] for name in CLASSIFIER_PARAMS if options.get(name) is not None}
    if "epochs" in given:
        params.pop("n_iter", None)
    if "n_iter" in given:
        params.pop("epochs", None)
    params.update(given)
    classifier = SoftmaxClassifier(random_state=seed, **params)
    classifier.check_params()
    return classifier


def feature_setup(kind, options, pca_variance, hog_params=None, preset="default", flip=None):
    """What ``--features kind`` sets up, checked before any data is read.

    Returns a dict: ``kind``, ``params`` (the feature step's parameters given),
    ``pca_variance`` (the option's, else the kind's default: 0.95 for HOG, none for
    kmeans), ``standardize``, the pipeline's defaults for its copies of the images
    (``flip_train``, ``flip_predict``, ``shift_predict``, ``shift_train``,
    ``shift_rounds``) and ``classifier`` (classifier defaults).  ``options``
    holds the :func:`~fastsoftmax.cli.options.feature_options` values (they are removed
    from it).  ``preset`` "large" takes :data:`~fastsoftmax._shared.presets.LARGE_SETUPS`;
    ``flip`` (``--flip/--no-flip``, None when not given) sets the learned features'
    ``mirror``.  ``image_params`` holds the preset's parameters for images of at least
    :data:`~fastsoftmax._shared.presets.LARGE_IMAGE_MIN_SIDE` pixels a side that no
    option overrides (:func:`build_features` applies them).
    """
    params = {name: options.pop(name) for name in KMEANS_OPTIONS if name in options}
    params = {name: value for name, value in params.items() if value is not None}
    if preset == "large" and kind not in LARGE_SETUPS:
        raise InputError(f"--preset large is for --features {', '.join(LARGE_SETUPS)}")
    classifier_defaults = FEATURE_SETUPS[kind]["classifier"]
    setup = FEATURE_SETUPS[kind]
    image_params = {}
    if preset == "large":
        image_params = {name: value for name, value in
                        LARGE_SETUPS[kind].get("image_params", {}).items() if name not in params}
        if params.get("second_layer") == 0:  # the preset's quadrants are of its second layer
            image_params.pop("quadrants", None)
        params = {**LARGE_SETUPS[kind]["params"], **params}
        classifier_defaults = LARGE_SETUPS[kind]["classifier"]
        setup = {**setup, **LARGE_SETUPS[kind]["setup"]}
    if kind == "kmeans" and flip is not None:
        params["mirror"] = bool(flip)
    hog_params = {name: value for name, value in (hog_params or {}).items() if value is not None}
    if kind != "kmeans" and params:
        raise InputError(f"{KMEANS_OPTIONS[next(iter(params))]} is for --features kmeans")
    if kind != "hog" and hog_params:
        raise InputError(f"--{next(iter(hog_params)).replace('_', '-')} is for --features hog")
    if kind == "kmeans":
        from fastsoftmax.features import make_feature_step

        try:
            make_feature_step(kind, None, **{**params, **image_params})
        except (TypeError, ValueError) as exc:
            raise InputError(_option_names(str(exc))) from None
    else:
        params = {name: (value,) * 2 if name == "pixels_per_cell" else value
                  for name, value in hog_params.items()}
    return {"kind": kind, "params": params, "image_params": image_params,
            "standardize": setup["standardize"],
            "pca_variance": setup["pca_variance"] if pca_variance is None else pca_variance,
            "flip_train": setup["flip_train"], "flip_predict": setup["flip_predict"],
            "shift_predict": setup["shift_predict"], "shift_train": setup["shift_train"],
            "shift_rounds": setup["shift_rounds"], "classifier": classifier_defaults}


def _option_names(message):
    """A feature step's message about its parameters, in the command line's words."""
    message = message.replace("with mirror, ", "with --flip, ")
    for name, option in KMEANS_OPTIONS.items():
        message = re.sub(rf"(?<![-\w]){name}[= ]", f"{option} ", message)
    return message


def feature_params(setup, image_shape):
    """The feature step's parameters of a :func:`feature_setup` for images of
    ``image_shape``: with the setup's ``image_params`` when the images are large enough
    for them."""
    if is_large_image(image_shape):
        return {**setup["params"], **setup["image_params"]}
    return setup["params"]


def build_features(setup, image_shape, seed):
    """The unfitted feature step of a :func:`feature_setup` for images of ``image_shape``
    (its :func:`feature_params`)."""
    from fastsoftmax.features import make_feature_step

    try:
        return make_feature_step(setup["kind"], image_shape, random_state=seed,
                                 **feature_params(setup, image_shape))
    except (TypeError, ValueError) as exc:
        raise InputError(_option_names(str(exc))) from None


def load_pipeline(model_path):
    """Load a model file that holds a whole image pipeline (one-line errors otherwise)."""
    from fastsoftmax.model.loading import load_model
    from fastsoftmax.model.pipeline import ImagePipeline

    model = load_model(model_path)
    if not isinstance(model, ImagePipeline):
        raise InputError(
            f"{model_path!r} holds a bare {type(model).__name__}, not an image pipeline; "
            "save one with `fastsoftmax train --model PATH`"
        )
    return model


def load_data(data, quiet, download=False, progress=None, **folder):
    """Load a data set (``folder``: the image-folder parameters of ``load_dataset``), say
    what it is on stderr, and log where it came from."""
    from fastsoftmax.data import load_dataset

    dataset = load_dataset(data, download=download, progress=progress, **folder)
    log.info("data: %s from %s", dataset.name,
             os.path.abspath(data) if data else "scikit-learn's bundled digits (built in)")
    if not quiet:
        write_line(f"{dataset.name}: {len(dataset.y_train)} training and {len(dataset.y_test)} "
                   f"test images of {'x'.join(map(str, dataset.image_shape))}")
    return dataset


def check_cache_limit(no_cache):
    """Read ``$FASTSOFTMAX_CACHE_LIMIT`` before any work, so a bad one fails at once."""
    if not no_cache:
        from fastsoftmax.io.cache import cache_limit

        cache_limit()


def load_features(data, val_fraction, seed, setup, no_cache, quiet, image_size=None, labels=None):
    """Load a data set and compute its features once (the :func:`feature_setup`'s step,
    standardization and PCA): ``(dataset, features, sizes)``.  ``image_size`` and
    ``labels`` (CIFAR-100's label set) are :func:`load_data`'s."""
    from fastsoftmax.experiments.sweep import prepare_features

    with StageProgress(quiet) as progress:
        with progress.stage("load"):
            dataset = load_data(data, quiet, image_size=image_size, labels=labels)
        log_threads()
        log_cache(not no_cache)
        features = prepare_features(dataset, val_fraction=val_fraction, seed=seed,
                                    pca_variance=setup["pca_variance"],
                                    features=build_features(setup, dataset.image_shape, seed),
                                    standardize=setup["standardize"], cache=not no_cache,
                                    progress=progress)
    log_seconds(progress.seconds)
    sizes = {"train": len(features["y_train"]), "val": len(features["y_val"]),
             "test": len(features["y_test"]), "features": int(features["X_train"].shape[1]),
             "feature_step": setup["kind"], "image_features": features["n_image_features"],
             "standardized": setup["standardize"], "pca": setup["pca_variance"] is not None}
    if setup["kind"] == "hog":
        sizes["hog_features"] = features["n_image_features"]
    return dataset, features, sizes


def connect_scheduler(address):
    """A context manager holding the Dask cluster at ``address`` (``None`` without one).

    It connects at once, before any work, so a wrong address or a missing
    ``distributed`` package is a one-line error (exit 2) within seconds.
    """
    if not address or not address.strip():
        return contextlib.nullcontext(None)
    from fastsoftmax.experiments.distributed import connect

    try:
        return connect(address)
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
