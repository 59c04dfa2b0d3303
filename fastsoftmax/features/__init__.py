"""Image features: HOG exactly as scikit-image computes it, and learned features.

- :mod:`.batch_hog`: :func:`hog` of a stack of images (equal image by image to
  :func:`skimage.feature.hog`), :func:`rgb2gray`, :func:`min_max_scale`;
- :mod:`.hog_step`: :class:`HOGTransformer`, HOG as a scikit-learn transformer, and
  :func:`study_hog`, the study's;
- :mod:`.learned`: :class:`KMeansFeatures`, learned single-layer features (Coates, Lee &
  Ng 2011; Coates & Ng 2011: a dictionary of whitened patches, triangle or soft-threshold
  encoding, sums over a grid of regions, optionally the same for an image and its mirror
  image, see ``_mirror``);
- :mod:`.second_layer`, :mod:`.shifted_copies`: a second layer on the learned
  features' cells; the features of an image's copies shifted by one cell, made from
  its own cells (the prediction's shifted copies);
- :mod:`.registry`: the feature steps by name (:data:`FEATURE_STEPS`,
  :func:`make_feature_step`);
- ``_hog_kernels``, ``_encoder_kernels``, ``_dictionary_kernels``: the Numba kernels of
  HOG, of the learned-feature encoder and of k-means, each beside its NumPy reference
  where there is one.

This module only re-exports.
"""
import importlib

from fastsoftmax.features.batch_hog import BLOCK_NORMS, hog, hog_n_features, min_max_scale, rgb2gray

__all__ = ["hog", "hog_n_features", "rgb2gray", "min_max_scale", "HOGTransformer",
           "KMeansFeatures", "study_hog", "FEATURE_STEPS", "feature_step_class",
           "FEATURE_KINDS", "make_feature_step"]

_SCIKIT_LEARN_NAMES = {
    "HOGTransformer": "hog_step", "study_hog": "hog_step", "KMeansFeatures": "learned",
    "FEATURE_STEPS": "registry", "FEATURE_KINDS": "registry",
    "feature_step_class": "registry", "make_feature_step": "registry",
}


def __getattr__(name):
    # The transformers import scikit-learn, which the wheel build lacks: it compiles the
    # HOG kernels through this package with only numpy, numba and scipy installed.
    if name in _SCIKIT_LEARN_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_SCIKIT_LEARN_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
