"""The disk cache of :class:`~fastsoftmax.model.pipeline.ImagePipeline`'s fitted steps.

A fitted feature step is stored with its training features, and a fitted PCA on
its own, under keys made of the training images and the steps' parameters
(:func:`fastsoftmax.io.cache.cache_key`).  Each step is one call of
:func:`fastsoftmax.io.cache.cached`, which loads and checks a hit (a bad entry is a
miss, removed with a warning) or computes, stores and trims.
"""
import json

import numpy as np

from fastsoftmax._shared.progress import report, shifted, takes_progress
from fastsoftmax.io.cache import cache_key, cached
from fastsoftmax.io.untrusted import loads_json
from fastsoftmax.model.pca import VariancePCA
from fastsoftmax.model.views import mirror_images


def step_key(images, y, kind, step, **extra):
    """The cache key of ``step`` fitted on ``images`` (and ``y``), or None when the step
    must not be cached (a random ``fit`` without an integer seed, or parameters that are
    not JSON)."""
    params = step.get_params(deep=False)
    seed = params.get("random_state", 0)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        return None
    try:
        data = (images,) if y is None else (images, np.asarray(y))
        return cache_key(*data, kind=kind, step=type(step).__name__, **params, **extra)
    except TypeError:
        return None


def step_call(method, progress, *args):
    """``method(*args)``, with ``progress=`` when the feature step's method takes it."""
    if progress is not None and takes_progress(method):
        return method(*args, progress=progress)
    return method(*args)


def fit_transform_cached(step, images, y, cache, kind, progress=None):
    """``(fitted step, step.fit_transform(images, y))``, from the disk cache when on."""
    n = len(images)
    key = step_key(images, y, kind, step) if cache else None
    if key is not None:
        report(progress, "features", 0, n)  # reading a large entry takes seconds

    def compute():
        return step, np.asarray(step_call(step.fit_transform, progress, images, y))

    def to_arrays(result):
        fitted, features = result
        metadata, arrays = fitted.to_arrays()
        entry = {"features": features, "step_metadata": np.frombuffer(
            json.dumps(metadata).encode("utf-8"), dtype=np.uint8)}
        entry.update({f"state_{k}": v for k, v in arrays.items()})
        return entry

    def from_arrays(entry):
        metadata = loads_json(entry["step_metadata"].tobytes(), "step_metadata")
        arrays = {k[6:]: v for k, v in entry.items() if k.startswith("state_")}
        return type(step).from_arrays(metadata, arrays), entry["features"]

    (fitted, features), hit = cached(
        key, compute, kind=cache_kind(step), label=kind, to_arrays=to_arrays,
        from_arrays=from_arrays, expect={"features": (n, None), "step_metadata": (None,)})
    if hit:
        report(progress, "features", n, n, cached=True)
    return fitted, features


def fit_pca_cached(pca, features, images, y, step, cache, standardized=False):
    """``(pca fitted on features, whether it came from the cache)``: ``features`` are the
    ``step`` features of ``images``, standardized when ``standardized``; the disk cache is
    used when ``cache``."""
    extra = {"standardized": True} if standardized else {}
    key = step_key(images, y, "pca", step, variance=pca.variance, **extra) if cache else None
    n_features = features.shape[1]

    def from_arrays(arrays):
        return VariancePCA.from_arrays({"params": pca.get_params(),
                                        "n_features_in_": n_features}, arrays)

    return cached(key, lambda: pca.fit(features), kind="pca", label="pca",
                  to_arrays=lambda fitted: fitted.to_arrays()[1], from_arrays=from_arrays,
                  expect={"mean_": (n_features,), "components_": (None, n_features)})


def cache_kind(step):
    """The label of a feature step's cache entries (``data info`` lists it)."""
    return getattr(step, "cache_kind", type(step).__name__.lower())


#: Images whose mirror images are encoded at a time when the features go into ``out``.
MIRROR_CHUNK = 2048


def mirrored_features_cached(fitted, step, images, y, n_features, cache, progress=None,
                             out=None):
    """Features (N, ``n_features``) of the mirror images of ``images`` (flipped left to
    right) from the feature step ``fitted`` on ``images``, from the disk cache when on.

    ``step`` is the unfitted step (its parameters, with ``images`` and ``y``, key the
    entry: they determine ``fitted``).  With ``out`` (a C-contiguous (N, n_features)
    array) the features are written into it, computed a chunk of images at a time, so
    that no second (N, n_features) array is made; ``out`` is returned.
    """
    n = len(images)
    key = step_key(images, y, "mirrored", step) if cache else None
    if key is not None:
        report(progress, "features", 0, n)
    features, hit = cached(
        key, lambda: _mirrored_features(fitted, images, progress, out),
        kind=cache_kind(step), label="mirrored features",
        to_arrays=lambda computed: {"features": computed},
        from_arrays=lambda arrays: arrays["features"], expect={"features": (n, n_features)})
    if not hit:
        return features
    report(progress, "features", n, n, cached=True)
    if out is None:
        return features
    out[...] = features
    return out


def _mirrored_features(fitted, images, progress, out):
    """The features of the mirror images of ``images`` (into ``out``, chunk by chunk,
    when given)."""
    if out is None:
        return np.asarray(step_call(fitted.transform, progress, mirror_images(images)))
    n = len(images)
    for start in range(0, n, MIRROR_CHUNK):
        stop = min(start + MIRROR_CHUNK, n)
        out[start:stop] = step_call(fitted.transform, shifted(progress, start, n),
                                    mirror_images(images[start:stop]))
    report(progress, "features", n, n)
    return out
