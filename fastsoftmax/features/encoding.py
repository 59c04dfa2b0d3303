"""The learned-feature encoder's entry point: the pooled features of uint8 images from a
fitted whitening and dictionary, through the fast kernel that applies
(:mod:`fastsoftmax.features._encoder_kernels`), finished with the whole image's sums,
the power and the mirror fold where the kernel does not finish them itself.
"""
import numpy as np

from fastsoftmax._shared.aligned import aligned_empty
from fastsoftmax._shared.progress import report
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features._blas import limit_blas_threads
from fastsoftmax.features._mirror import fold_mirror

__all__ = ["encode"]

#: Images handed to the kernel per call (bounds the time between interrupts).
_BATCH = 1024


def encode(images, patch_size, stride, norm_eps, whiten_mean, whiten_matrix, centroids,
           encoder="triangle", threshold=0.25, n_regions=2, power=1.0, mirror=False,
           pyramid=False, tile=_encoder.DEFAULT_TILE, progress=None):
    """Pooled features of uint8 images (the fast kernel; inputs already checked).

    Parameters
    ----------
    images : (N, H, W, C) uint8 ndarray
    patch_size, stride : int
    norm_eps : float
    whiten_mean : (D,) ndarray
    whiten_matrix : (D, D) ndarray
    centroids : (K, D) ndarray
    encoder : {"triangle", "soft-threshold"}
    threshold : float
        The soft threshold's alpha.
    n_regions : int
        Pooling regions a side.
    power : float
        The pooled sums are raised to this power.
    mirror : bool
        Fold the features of each mirror pair into one (:func:`~._mirror.fold_mirror`;
        the atoms are K / 2 base atoms then their mirror images).
    pyramid : bool
        Append the sums over the whole image (the grid's sums added up, then raised to
        ``power`` and folded like the grid's).
    tile : int
        Patch positions per tile.
    progress : callable, optional
        ``progress("features", done, total)`` after each batch of images.

    Returns
    -------
    (N, (R * R + pyramid) * P * K) float32 ndarray, half as wide with ``mirror``
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    whiten_mean = np.ascontiguousarray(whiten_mean, dtype=np.float32)
    whiten_matrix = np.ascontiguousarray(whiten_matrix, dtype=np.float32)
    centroids = np.asarray(centroids, dtype=np.float32)
    centroids_t = np.ascontiguousarray(centroids.T)
    sqnorms = np.einsum("kd,kd->k", centroids, centroids, dtype=np.float64).astype(np.float32)
    n_rows, n_cols = _encoder.grid_shape(images.shape[1], images.shape[2], patch_size, stride)
    row_regions = _encoder.pooling_regions(n_rows, n_regions)
    col_regions = _encoder.pooling_regions(n_cols, n_regions)
    n_pol = _encoder.POLARITIES[encoder]
    k = centroids.shape[0]
    width = n_regions * n_regions * n_pol * k
    grid_out = width // 2 if mirror else width
    whole_out = (n_pol * k // 2 if mirror else n_pol * k) if pyramid else 0
    # on a cache line, the classifier trains on the features without a padded copy
    out = aligned_empty((images.shape[0], grid_out + whole_out), np.float32)
    report(progress, "features", 0, images.shape[0])
    # inside the limit: BLAS threads left spinning by a product here would slow the kernel
    with limit_blas_threads():
        split = _split.mirror_split(encoder, mirror, patch_size, images.shape[3],
                                      whiten_matrix, centroids)
        # the kernel writes the output itself, or it is finished from the pooled sums
        direct = split is not None or not (mirror or pyramid)
        pooled = None if direct else np.empty((min(_BATCH, len(images)), width), np.float32)
        for start in range(0, images.shape[0], _BATCH):
            stop = min(start + _BATCH, images.shape[0])
            if split is not None:  # the kernel finishes the features itself
                _split.encode_batch_mirror_split(
                    images[start:stop], patch_size, stride, True, float(norm_eps), whiten_mean,
                    *split, float(threshold), float(power), bool(pyramid), row_regions,
                    col_regions, int(n_regions), tile, out[start:stop])
                report(progress, "features", stop, images.shape[0])
                continue
            target = out[start:stop] if direct else pooled[:stop - start]
            _encoder.encode_batch(images[start:stop], patch_size, stride, float(norm_eps),
                                  whiten_mean, whiten_matrix, centroids_t, sqnorms,
                                  _encoder.ENCODERS[encoder], float(threshold), row_regions,
                                  col_regions, int(n_regions), tile, target)
            whole = None
            if pyramid:
                whole = target.reshape(len(target), n_regions * n_regions, n_pol * k).sum(
                    axis=1, dtype=np.float64).astype(np.float32)
                _raise_to_power(whole, power)
            _raise_to_power(target, power)
            if mirror:
                fold_mirror(target, n_regions, n_pol, k, out=out[start:stop, :grid_out])
                if pyramid:
                    fold_mirror(whole, 1, n_pol, k, out=out[start:stop, grid_out:])
            elif pyramid:
                out[start:stop, :grid_out] = target
                out[start:stop, grid_out:] = whole
            report(progress, "features", stop, images.shape[0])
    return out


def _raise_to_power(features, power):
    if power == 0.5:
        np.sqrt(features, out=features)  # the sums are >= 0
    elif power != 1.0:
        np.power(features, np.float32(power), out=features)
