"""Learned-feature encoder (Coates, Lee & Ng 2011; Coates & Ng 2011): Numba kernel and
its NumPy reference.

Every ``patch_size`` x ``patch_size`` patch of an image, taken at ``stride``, is

1. normalized: its mean subtracted, divided by ``sqrt(var + norm_eps)`` (``var`` with
   ``n - 1`` in the denominator, as MATLAB's ``var`` in the paper's code);
2. whitened: ``w = (x - whiten_mean) @ whiten_matrix`` (ZCA);
3. encoded over the K dictionary atoms ``c_k``, by one of

   - the "triangle" activation ``f_k = max(0, mean_j z_j - z_k)`` with
     ``z_k = ||w - c_k||`` (one value per atom);
   - the "soft threshold" with a polarity split, ``max(0, w.c_k - alpha)`` and
     ``max(0, -w.c_k - alpha)`` (two values per atom, for unit-norm atoms);

and the activations are summed over an R x R grid of regions of the patch positions.
Along each axis the regions split the positions as evenly as they can, symmetrically
about the middle (:func:`pooling_regions`; R = 2 gives the paper's quadrants).  Feature ``((i * R + j) * P + p) * K + k`` is the sum of atom
``k``'s activation of polarity ``p`` (P = 1 for the triangle, 2 for the soft threshold)
over region row ``i``, region column ``j``.

A patch's values are ordered (row, column, channel), row-major.

The kernel (:func:`encode_batch`) never forms the (positions x K) array of an image: it
works on tiles of ``tile`` positions, whitens the tile and computes its dot products
with all atoms with two BLAS sgemm calls into per-thread buffers, then encodes and
adds into the pooled sums row by row of the tile.  Patch means and variances come from
integral images of the pixels and their squares (exact sums).  Triangle distances use
``||w||^2 - 2 w.c + ||c||^2`` clamped at 0 in float32 (the dot products are float32
GEMM); a patch's sum of distances is float32 in the vector lanes; each grid row's
activations are summed in float32 and added into the pooled sums in float64.  The
images of a batch are shared among the threads (``prange``), each image done by one
thread, so the result does not depend on the thread count; each thread must call a
single-threaded BLAS (the caller limits it, see
:func:`fastsoftmax.features.encoding.encode`).

For the soft threshold with a dictionary closed under the mirror and a whitening that
commutes with it, :mod:`fastsoftmax.features._split_encoder_kernels` computes half the
products.

:func:`encode_reference` is the plain NumPy version that materializes each image's
(positions x K) array (float64 by default: an accurate oracle for the tests).
"""
import numpy as np
from numba import prange

from fastsoftmax._shared.config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from fastsoftmax._shared.jit import jit
from fastsoftmax.features._mirror import fold_mirror

#: Patch positions per tile: a whole 27 x 27 grid of a CIFAR image, one dictionary
#: sgemm per image; smaller tiles make more, smaller sgemm calls, which run slower.
DEFAULT_TILE = 729
#: Squared distances under ``NEAR * (||w||^2 + ||c||^2)`` are recomputed as
#: ``sum((w - c)**2)``: in the expansion, float32 rounding of ~1e-7 relative would
#: leave them (and their square root, the activation) with few correct digits.
NEAR = 1e-2
#: Images per parallel task (scratch buffers are allocated once per task).
_CHUNK = 4
#: The encoders, as the kernel's integer codes, and their values per atom (polarities).
TRIANGLE = 0
SOFT_THRESHOLD = 1
ENCODERS = {"triangle": TRIANGLE, "soft-threshold": SOFT_THRESHOLD}
POLARITIES = {"triangle": 1, "soft-threshold": 2}


def grid_shape(height, width, patch_size, stride):
    """Rows and columns of patch positions in an image."""
    return (height - patch_size) // stride + 1, (width - patch_size) // stride + 1


def pooling_regions(n_positions, n_regions):
    """Region (0 .. ``n_regions - 1``) of each of ``n_positions`` positions along an axis;
    (n_positions,) int64.

    Region ``r`` starts at ``round(r * n / R)`` (halves rounded up) for ``r <= R / 2``
    and the later regions mirror the earlier ones (region ``R - r`` starts where region
    ``r - 1`` ends, counted from the other side), so the grid is mirror-symmetric
    whenever it can be: always for odd R, for even R when ``n`` is even.  R = 2 gives the
    paper's quadrants, whose first half of an odd count is the larger (MATLAB's
    ``round(n / 2)``).  With more regions than positions some regions are empty (their
    features are 0).
    """
    half = np.arange(n_regions // 2 + 1)
    first = np.floor(half * n_positions / n_regions + 0.5).astype(np.int64)
    starts = np.empty(n_regions + 1, dtype=np.int64)
    starts[:len(first)] = first
    for r in range(len(first), n_regions + 1):
        starts[r] = n_positions - starts[n_regions - r]
    return np.searchsorted(starts, np.arange(n_positions), side="right").astype(np.int64) - 1


def is_mirror_symmetric(regions, n_regions):
    """Whether mirroring the positions (``c -> n - 1 - c``) mirrors the regions
    (``r -> R - 1 - r``), the condition for features that commute with a flip."""
    regions = np.asarray(regions)
    return bool(np.array_equal(regions[::-1], n_regions - 1 - regions))


# The row helpers take 1-D rows and float32 constants and keep float32 accumulators,
# so that LLVM vectorizes them 8 lanes wide: a float64 literal or accumulator, an int64
# counter, a running min() or a 2-D index narrowed them to 4 lanes or kept them scalar.
_TWO = np.float32(2.0)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_NEAR = np.float32(NEAR)


@jit(JIT_OPTIONS)
def _distances(row, centroid_sqnorms, sqnorm):
    """``row``: dot products in, distances out; returns (sum of distances, any too close).

    The sum is float32 in the vector lanes (each lane adds K / 32 of the distances, all
    positive): far below the 1e-5 the encoder promises."""
    total = _ZERO
    n_close = _ZERO
    for kk in range(row.shape[0]):
        cs = centroid_sqnorms[kk]
        d2 = sqnorm + cs - _TWO * row[kk]
        z = np.sqrt(max(d2, _ZERO))
        row[kk] = z
        total += z
        n_close += _ONE if d2 < _NEAR * (sqnorm + cs) else _ZERO
    return total, n_close > _ZERO


@jit(JIT_OPTIONS)
def _recompute_close(row, white, centroids_t, centroid_sqnorms, sqnorm, total):
    """Distances too close for the expansion, recomputed as ``sqrt(sum((w - c)**2))``."""
    for kk in range(row.shape[0]):
        if row[kk] * row[kk] < _NEAR * (sqnorm + centroid_sqnorms[kk]):
            exact = 0.0
            for j in range(white.shape[0]):
                diff = np.float64(white[j]) - centroids_t[j, kk]
                exact += diff * diff
            exact = np.sqrt(exact)
            total += exact - row[kk]
            row[kk] = np.float32(exact)
    return total


@jit(JIT_OPTIONS)
def _pool(acc, row, mean_z):
    """``acc += max(mean_z - row, 0)`` (float32: ``acc`` holds one grid row's part of a
    quadrant, at most a few dozen positions)."""
    for kk in range(row.shape[0]):
        acc[kk] += max(mean_z - row[kk], _ZERO)


@jit(JIT_OPTIONS)
def _pool_soft(acc_pos, acc_neg, row, alpha):
    """``acc_pos += max(row - alpha, 0)``, ``acc_neg += max(-row - alpha, 0)`` (float32,
    one grid row's part of a region)."""
    for kk in range(row.shape[0]):
        v = row[kk]
        acc_pos[kk] += max(v - alpha, _ZERO)
        acc_neg[kk] += max(-v - alpha, _ZERO)


@jit(JIT_OPTIONS)
def _flush(pooled_row, acc):
    """``pooled_row += acc`` (float64), then ``acc = 0``."""
    for kk in range(acc.shape[0]):
        pooled_row[kk] += acc[kk]
        acc[kk] = _ZERO


@jit(JIT_OPTIONS)
def _load_image(image, pixels, sums, sq_sums):
    """``pixels`` (H, W * C) float64 := the (H, W, C) ``image``; ``sums`` and
    ``sq_sums`` (H + 1, W + 1) := integral images of the pixel values and their squares
    (over the channels too; exact for uint8 images: integers far below 2**53)."""
    height, width, channels = image.shape
    for y in range(height):
        row_sum = 0.0
        row_sq_sum = 0.0
        for x in range(width):
            for ch in range(channels):
                v = np.float64(image[y, x, ch])
                pixels[y, x * channels + ch] = v
                row_sum += v
                row_sq_sum += v * v
            sums[y + 1, x + 1] = sums[y, x + 1] + row_sum
            sq_sums[y + 1, x + 1] = sq_sums[y, x + 1] + row_sq_sum


@jit(JIT_OPTIONS)
def _box(table, y0, x0, size):
    """Sum of the ``size`` x ``size`` box at (y0, x0) from an integral image."""
    return (table[y0 + size, x0 + size] - table[y0, x0 + size]
            - table[y0 + size, x0] + table[y0, x0])


@jit(JIT_OPTIONS)
def _normalized_patch(out, pixels, sums, sq_sums, y0, x0, patch_size, channels, norm_eps,
                      whiten_mean, normalize=True):
    """``out := (patch - mean) / sqrt(var + norm_eps) - whiten_mean`` for the patch at
    (y0, x0), its mean and variance from the integral images ``sums`` and ``sq_sums``;
    its rows are contiguous runs of ``patch_size * channels`` values in ``pixels``.
    Without ``normalize``: ``out := patch - whiten_mean``."""
    dim = patch_size * patch_size * channels
    mean = 0.0
    scale = 1.0
    if normalize:
        total = _box(sums, y0, x0, patch_size)
        mean = total / dim
        var = (_box(sq_sums, y0, x0, patch_size) - total * mean) / (dim - 1)
        scale = 1.0 / np.sqrt(var + norm_eps)
    span = patch_size * channels
    first = x0 * channels
    for dy in range(patch_size):
        src = pixels[y0 + dy]
        offset = dy * span
        for j in range(span):
            out[offset + j] = np.float32((src[first + j] - mean) * scale
                                         - whiten_mean[offset + j])


@jit(JIT_OPTIONS)
def _normalized_tile(raw, start, m, n_cols, stride, pixels, sums, sq_sums, patch_size,
                     channels, norm_eps, whiten_mean, normalize=True):
    """``raw[:m]`` := the normalized patches (whitening mean subtracted) of the ``m``
    patch positions from ``start`` (row-major over ``n_cols`` columns)."""
    for t in range(m):
        r = (start + t) // n_cols
        c = start + t - r * n_cols
        _normalized_patch(raw[t], pixels, sums, sq_sums, r * stride, c * stride, patch_size,
                          channels, norm_eps, whiten_mean, normalize)


@jit(PARALLEL_JIT_OPTIONS, notice="the k-means encoder kernel", compile_seconds=25)
def encode_batch(images, patch_size, stride, norm_eps, whiten_mean, whiten_matrix,
                 centroids_t, centroid_sqnorms, encoder, threshold, row_regions,
                 col_regions, n_regions, tile, out):
    """Fill ``out`` (N, R * R * P * K) float32 with the pooled features of ``images``.

    ``images`` (N, H, W, C) uint8; ``whiten_mean`` (D,), ``whiten_matrix`` (D, D),
    ``centroids_t`` (D, K) (the atoms as columns), ``centroid_sqnorms`` (K,), all
    float32 C-contiguous, ``D = patch_size**2 * C``; ``encoder`` :data:`TRIANGLE` or
    :data:`SOFT_THRESHOLD` (``threshold`` is its alpha); ``row_regions`` and
    ``col_regions`` (int64) the region of each grid row and column
    (:func:`pooling_regions`), ``n_regions`` = R.
    """
    n_images, height, width, channels = images.shape
    dim = patch_size * patch_size * channels
    k = centroids_t.shape[1]
    n_rows = (height - patch_size) // stride + 1
    n_cols = (width - patch_size) // stride + 1
    n_pos = n_rows * n_cols
    soft = encoder == SOFT_THRESHOLD
    n_pol = 2 if soft else 1
    n_out = n_regions * n_regions * n_pol
    alpha = np.float32(threshold)
    inv_k = 1.0 / k
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        pixels = np.empty((height, width * channels), dtype=np.float64)
        sums = np.zeros((height + 1, width + 1), dtype=np.float64)
        sq_sums = np.zeros((height + 1, width + 1), dtype=np.float64)
        raw = np.empty((tile, dim), dtype=np.float32)
        white = np.empty((tile, dim), dtype=np.float32)
        dots = np.empty((tile, k), dtype=np.float32)
        sqnorm = np.empty(tile, dtype=np.float32)
        # the current grid row, per region column and polarity
        acc = np.zeros((n_regions * n_pol, k), dtype=np.float32)
        pooled = np.empty((n_out, k), dtype=np.float64)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_images)):
            _load_image(images[i], pixels, sums, sq_sums)
            pooled[:] = 0.0
            for start in range(0, n_pos, tile):
                m = min(tile, n_pos - start)
                _normalized_tile(raw, start, m, n_cols, stride, pixels, sums, sq_sums,
                                 patch_size, channels, norm_eps, whiten_mean)
                # -- whiten, then dot products with every atom (BLAS)
                np.dot(raw[:m], whiten_matrix, white[:m])
                if not soft:
                    for t in range(m):
                        acc_sq = _ZERO
                        for j in range(dim):
                            acc_sq += white[t, j] * white[t, j]
                        sqnorm[t] = acc_sq
                np.dot(white[:m], centroids_t, dots[:m])
                # -- activations, added into the row's regions; a finished grid row goes
                #    into its regions' sums in float64
                for t in range(m):
                    r = (start + t) // n_cols
                    c = start + t - r * n_cols
                    row = dots[t]
                    first = col_regions[c] * n_pol
                    if soft:
                        _pool_soft(acc[first], acc[first + 1], row, alpha)
                    else:
                        total_z, close = _distances(row, centroid_sqnorms, sqnorm[t])
                        total_z = np.float64(total_z)
                        if close:
                            total_z = _recompute_close(row, white[t], centroids_t,
                                                       centroid_sqnorms, sqnorm[t], total_z)
                        _pool(acc[first], row, np.float32(total_z * inv_k))
                    if c == n_cols - 1:
                        base = row_regions[r] * n_regions * n_pol
                        for q in range(n_regions * n_pol):
                            _flush(pooled[base + q], acc[q])
            for q in range(n_out):
                for kk in range(k):
                    out[i, q * k + kk] = pooled[q, kk]


def normalize_patches(patches, norm_eps, dtype=np.float64):
    """Per-patch normalization: ``(x - mean) / sqrt(var + norm_eps)`` (``var`` with n - 1).

    Parameters
    ----------
    patches : (n, D) array_like
        Raw pixel values (0..255).
    norm_eps : float
    dtype : float32 or float64
        Output dtype; the statistics are computed in float64.

    Returns
    -------
    (n, D) ndarray of ``dtype``
    """
    patches = np.asarray(patches, dtype=np.float64)
    mean = patches.mean(axis=1, keepdims=True)
    var = patches.var(axis=1, ddof=1, keepdims=True)
    return ((patches - mean) / np.sqrt(var + norm_eps)).astype(dtype, copy=False)


def image_patches(image, patch_size, stride):
    """All patches of one (H, W, C) image at ``stride``: (n_rows * n_cols, D), row-major."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (patch_size, patch_size), axis=(0, 1))
    windows = windows[::stride, ::stride]  # (n_rows, n_cols, C, p, p)
    n_rows, n_cols = windows.shape[:2]
    return windows.transpose(0, 1, 3, 4, 2).reshape(n_rows * n_cols, -1)


def encode_reference(images, patch_size, stride, norm_eps, whiten_mean, whiten_matrix,
                     centroids, dtype=np.float64, encoder="triangle", threshold=0.25,
                     n_regions=2, pyramid=False, power=1.0, mirror=False, normalize=True):
    """Plain NumPy encoder: image by image, the whole (positions x K) array; then, as
    :func:`fastsoftmax.features.encoding.encode` does, the whole image's sums, the power
    and the mirror fold.

    Parameters
    ----------
    images : (N, H, W, C) uint8 ndarray, or float32 with ``normalize=False``
    patch_size, stride : int
    norm_eps : float
    whiten_mean : (D,) ndarray
    whiten_matrix : (D, D) ndarray
    centroids : (K, D) ndarray
    dtype : float32 or float64
        Arithmetic precision (float64: the tests' oracle; float32: the fair speed
        comparison).
    encoder : {"triangle", "soft-threshold"}
    threshold : float
        The soft threshold's alpha.
    n_regions : int
        R, the pooling grid's regions a side.
    pyramid : bool
        Append the sums over the whole image.
    power : float
        The sums are raised to it.
    mirror : bool
        Fold each mirror pair of features into one
        (:func:`~fastsoftmax.features._mirror.fold_mirror`).
    normalize : bool
        Normalize each patch (else its values are taken as they are).

    Returns
    -------
    (N, (R * R + pyramid) * P * K) float32 ndarray, half as wide with ``mirror``
    """
    n_images, height, width, _ = images.shape
    n_rows, n_cols = grid_shape(height, width, patch_size, stride)
    row_regions = pooling_regions(n_rows, n_regions)
    col_regions = pooling_regions(n_cols, n_regions)
    whiten_mean = np.asarray(whiten_mean, dtype=dtype)
    whiten_matrix = np.asarray(whiten_matrix, dtype=dtype)
    centroids = np.asarray(centroids, dtype=dtype)
    centroid_sqnorms = np.einsum("kd,kd->k", centroids, centroids)
    k = centroids.shape[0]
    n_pol = POLARITIES[encoder]
    out = np.empty((n_images, n_regions, n_regions, n_pol, k), dtype=np.float32)
    for i in range(n_images):
        patches = image_patches(images[i], patch_size, stride)
        patches = (normalize_patches(patches, norm_eps, dtype) if normalize
                   else patches.astype(dtype))
        white = (patches - whiten_mean) @ whiten_matrix
        dots = white @ centroids.T
        if encoder == "triangle":
            d2 = np.einsum("pd,pd->p", white, white)[:, None] - 2.0 * dots + centroid_sqnorms
            z = np.sqrt(np.maximum(d2, 0.0))
            f = np.maximum(z.mean(axis=1, keepdims=True) - z, 0.0)[:, None, :]
        else:
            f = np.stack([np.maximum(dots - threshold, 0.0),
                          np.maximum(-dots - threshold, 0.0)], axis=1)
        f = f.reshape(n_rows, n_cols, n_pol, k)
        for a in range(n_regions):
            for b in range(n_regions):
                out[i, a, b] = f[row_regions == a][:, col_regions == b].sum(axis=(0, 1))
    levels = [(n_regions, out.reshape(n_images, -1))]
    if pyramid:
        whole = out.reshape(n_images, n_regions * n_regions, -1).sum(axis=1, dtype=np.float64)
        levels.append((1, whole.astype(np.float32)))
    parts = []
    for side, level in levels:
        level = level ** np.float32(power)
        parts.append(fold_mirror(level, side, n_pol, k) if mirror else level)
    return np.hstack(parts)
