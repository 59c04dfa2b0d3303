"""The disk cache of :class:`~fastsoftmax.model.pipeline.ImagePipeline`'s fitted steps.

A fitted feature step is stored with its training features, and a fitted PCA on
its own, under keys made of the training images and the steps' parameters
(:func:`fastsoftmax.io.cache.cache_key`); a bad entry is a miss, removed with a
warning.
"""
import json
import logging

import numpy as np

from fastsoftmax._shared.progress import report, shifted, takes_progress
from fastsoftmax.model.pca import VariancePCA

log = logging.getLogger("fastsoftmax.model.pipeline")


def step_key(images, y, kind, step, **extra):
    """The cache key of ``step`` fitted on ``images`` (and ``y``), or None when the step
    must not be cached (a random ``fit`` without an integer seed, or parameters that are
    not JSON)."""
    from fastsoftmax.io.cache import cache_key

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
    key = step_key(images, y, kind, step) if cache else None
    if key is None:
        return step, np.asarray(step_call(step.fit_transform, progress, images, y))
    report(progress, "features", 0, len(images))  # reading a large entry takes seconds
    from fastsoftmax.io.untrusted import loads_json
    from fastsoftmax.io.cache import discard_cached, load_cached

    hit = load_cached(key, expect={"features": (len(images), None), "step_metadata": (None,)})
    if hit is not None:
        try:
            metadata = loads_json(hit["step_metadata"].tobytes(), "step_metadata")
            arrays = {k[6:]: v for k, v in hit.items() if k.startswith("state_")}
            fitted = type(step).from_arrays(metadata, arrays)
            log.info("%s: cache hit (%s)", kind, key[:12])
            report(progress, "features", len(images), len(images), cached=True)
            return fitted, hit["features"]
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            discard_cached(key, f"{kind}: {exc}")
    log.info("%s: cache miss (%s), computing", kind, key[:12])
    features = np.asarray(step_call(step.fit_transform, progress, images, y))
    metadata, arrays = step.to_arrays()
    entry = {"features": features, "step_metadata": np.frombuffer(
        json.dumps(metadata).encode("utf-8"), dtype=np.uint8)}
    entry.update({f"state_{k}": v for k, v in arrays.items()})
    try_save(key, entry, cache_kind(step))
    return step, features


def fit_pca_cached(pca, features, images, y, step, cache, standardized=False):
    """``(pca fitted on features, whether it came from the cache)``: ``features`` are the
    ``step`` features of ``images``, standardized when ``standardized``; the disk cache is
    used when ``cache``."""
    extra = {"standardized": True} if standardized else {}
    key = step_key(images, y, "pca", step, variance=pca.variance, **extra) if cache else None
    if key is None:
        return pca.fit(features), False
    from fastsoftmax.io.cache import discard_cached, load_cached

    n_features = features.shape[1]
    hit = load_cached(key, expect={"mean_": (n_features,), "components_": (None, n_features)})
    if hit is not None:
        try:
            fitted = VariancePCA.from_arrays({"params": pca.get_params(),
                                              "n_features_in_": n_features}, hit)
            log.info("pca: cache hit (%s)", key[:12])
            return fitted, True
        except (KeyError, TypeError, ValueError) as exc:
            discard_cached(key, f"pca: {exc}")
    log.info("pca: cache miss (%s), computing", key[:12])
    pca.fit(features)
    try_save(key, pca.to_arrays()[1], "pca")
    return pca, False


def cache_kind(step):
    """The label of a feature step's cache entries (``data info`` lists it)."""
    return getattr(step, "cache_kind", type(step).__name__.lower())


def try_save(key, arrays, kind):
    """A cache write that fails (read-only or full disk) must not fail training."""
    from fastsoftmax.io.cache import save_cached

    try:
        path = save_cached(key, arrays, kind=kind)
        if path is not None:
            log.info("%s: stored in the cache as %s", kind, path)
    except OSError as exc:
        log.warning("could not write the feature cache: %s", exc)


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
        from fastsoftmax.io.cache import load_cached

        report(progress, "features", 0, n)
        hit = load_cached(key, expect={"features": (n, n_features)})
        if hit is not None:
            log.info("mirrored features: cache hit (%s)", key[:12])
            report(progress, "features", n, n, cached=True)
            if out is None:
                return hit["features"]
            out[...] = hit["features"]
            return out
        log.info("mirrored features: cache miss (%s), computing", key[:12])
    if out is None:
        features = np.asarray(step_call(fitted.transform, progress, mirror_images(images)))
    else:
        features = out
        for start in range(0, n, MIRROR_CHUNK):
            stop = min(start + MIRROR_CHUNK, n)
            features[start:stop] = step_call(fitted.transform, shifted(progress, start, n),
                                             mirror_images(images[start:stop]))
        report(progress, "features", n, n)
    if key is not None:
        try_save(key, {"features": features}, cache_kind(step))
    return features


def mirror_images(images):
    """``images`` (N, H, W[, C]) flipped left to right, C-contiguous."""
    return np.ascontiguousarray(np.asarray(images)[:, :, ::-1])
