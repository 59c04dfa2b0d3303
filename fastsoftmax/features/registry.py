"""The feature steps by name: the classes a model file may name, and the steps the
command line builds (``--features hog|kmeans``) with the study's defaults."""
import importlib

from fastsoftmax._shared.presets import FEATURE_SETUPS, KMEANS_FEATURES
from fastsoftmax.features.hog_step import study_hog
from fastsoftmax.features.learned import KMeansFeatures

__all__ = ["FEATURE_KINDS", "FEATURE_STEPS", "feature_step_class", "make_feature_step"]

#: Feature steps an :class:`~fastsoftmax.model.pipeline.ImagePipeline` model file may name:
#: class name -> module.  Only these classes are ever built from a file; a new feature
#: extractor adds its line here.
FEATURE_STEPS = {
    "HOGTransformer": "fastsoftmax.features.hog_step",
    "KMeansFeatures": "fastsoftmax.features.learned",
}

#: The feature steps the command line offers (``--features``); the first is the default.
FEATURE_KINDS = tuple(FEATURE_SETUPS)


def feature_step_class(name):
    """The feature-step class registered as ``name`` in :data:`FEATURE_STEPS`.

    Raises
    ------
    ValueError
        ``name`` is not a registered feature step (e.g. a model file naming another).
    """
    if not isinstance(name, str) or name not in FEATURE_STEPS:
        raise ValueError(f"unknown feature step {name!r}; known: {', '.join(FEATURE_STEPS)}")
    # by module name: a registered extractor may live outside this package
    return getattr(importlib.import_module(FEATURE_STEPS[name]), name)


def make_feature_step(kind, image_shape, random_state=0, **params):
    """The unfitted feature step ``kind`` of :data:`FEATURE_KINDS` for images of
    ``image_shape``.

    ``hog``: :func:`~fastsoftmax.features.hog_step.study_hog` (``params`` override its HOG
    parameters); ``kmeans``: :class:`~fastsoftmax.features.learned.KMeansFeatures` with
    :data:`fastsoftmax._shared.presets.KMEANS_FEATURES` overridden by ``params`` and seeded
    with ``random_state``; its parameters are checked here, before any work (with
    ``image_shape`` None: only the parameters).

    Raises
    ------
    ValueError or TypeError
        An unknown ``kind``, or parameters the step refuses.
    """
    if kind == "hog":
        return study_hog(image_shape, **params)
    if kind != "kmeans":
        raise ValueError(f"unknown features {kind!r}; known: {', '.join(FEATURE_KINDS)}")
    step = KMeansFeatures(**{**KMEANS_FEATURES, **params}, random_state=random_state)
    params = step._validated_params()
    patch_size = params["patch_size"]
    if image_shape is not None and min(image_shape[:2]) < patch_size:
        raise ValueError(f"patch_size {patch_size} is larger than the "
                         f"{image_shape[0]}x{image_shape[1]} images")
    if image_shape is not None:
        step._check_grid(params, image_shape)
    return step
