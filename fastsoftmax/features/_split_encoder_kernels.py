"""The soft-threshold encoder for a dictionary closed under the mirror and a whitening
that commutes with it: Numba kernels computing half the dictionary products, checked
against :func:`fastsoftmax.features._encoder_kernels.encode_reference`.

With a patch split into its mirror-even and mirror-odd parts, each atom's product with
the whitened patch is ``s + a`` and its mirror atom's ``s - a``
(:func:`mirror_split_weights`): two sgemm calls of half the depth replace the
whitening and the dictionary products.  :func:`encode_batch_mirror_split` also finishes
the features (power, whole image, fold) itself; :func:`encode_batch_cells` pools over a
finer grid of cells too and writes the map a second layer encodes
(:mod:`fastsoftmax.features.second_layer`), whose mirror also negates channels (the
``signs`` of :func:`mirror_split_weights`), and :func:`reduce_maps` projects that map's
channels.  The tiling, the patch normalization and the
float32/float64 sums are those of :func:`~._encoder_kernels.encode_batch`.
"""
import numpy as np
from numba import prange

from fastsoftmax._shared.config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from fastsoftmax._shared.jit import compiled_from, jit
from fastsoftmax.features import _encoder_kernels
from fastsoftmax.features._encoder_kernels import (_CHUNK, _ZERO, DEFAULT_TILE, _flush,
                                                   _load_image, _normalized_tile)
from fastsoftmax.features._mirror import patch_mirror

compiled_from(__file__, _encoder_kernels.__file__)

__all__ = ["mirror_split_weights", "mirror_split", "encode_batch_mirror_split",
           "encode_batch_region_sums", "encode_batch_cells", "finish_copies",
           "raised_cell_maps", "quadrant_cells", "reduce_maps", "DEFAULT_TILE"]


@jit(JIT_OPTIONS)
def _pool_soft_pair(pos_base, pos_mirror, neg_base, neg_mirror, sym, anti, alpha):
    """The soft threshold of each base atom (``sym + anti``) and of its mirror atom
    (``sym - anti``), both polarities, added into one grid row's part of a region."""
    for kk in range(sym.shape[0]):
        base = sym[kk] + anti[kk]
        mirror = sym[kk] - anti[kk]
        pos_base[kk] += max(base - alpha, _ZERO)
        neg_base[kk] += max(-base - alpha, _ZERO)
        pos_mirror[kk] += max(mirror - alpha, _ZERO)
        neg_mirror[kk] += max(-mirror - alpha, _ZERO)


def mirror_split_weights(whiten_matrix, centroids, mirror, signs=None):
    """The soft threshold's dictionary products split into the mirror's even and odd
    parts, for :func:`encode_batch_mirror_split`.

    The mirror of a patch ``x`` is ``(M x)_i = signs_i x_mirror(i)`` (``signs`` all 1:
    a permutation of the pixels; a second layer's mirror also negates its mirror-odd
    channels).  For a whitening ``W`` that commutes with ``M`` and atoms ``c_b`` (the
    first K / 2 rows of ``centroids``) followed by their mirror images ``M c_b``, a
    whitened patch's products are ``x.W c_b = s + a`` and ``x.W M c_b = s - a``, where
    ``s`` pairs the patch's mirror-even coordinates (``x_i + signs_i x_mirror(i)``)
    and ``a`` its mirror-odd ones (``x_i - signs_i x_mirror(i)``) with the matching
    parts of ``W c_b``: half the multiply-adds of the products with all K atoms, and no
    separate whitening product.

    Returns
    -------
    even_first, even_second : (D_even,) int64
    even_signs : (D_even,) float32
        The even coordinates are ``x[even_first] + even_signs * x[even_second]``: one per
        pair of values the mirror swaps, then one per value it keeps (``first ==
        second``, sign 1).
    odd_first, odd_second : (D_odd,) int64
    odd_signs : (D_odd,) float32
        The odd coordinates are ``x[odd_first] - odd_signs * x[odd_second]``: the same
        pairs, then one per value the mirror negates (sign -1).
    even_weights : (D_even, K / 2) float32
    odd_weights : (D_odd, K / 2) float32
    """
    mirror = np.asarray(mirror, dtype=np.int64)
    signs = np.ones(len(mirror)) if signs is None else np.asarray(signs, dtype=np.float64)
    index = np.arange(len(mirror))
    pairs = index[index < mirror]
    kept = index[(index == mirror) & (signs > 0)]
    negated = index[(index == mirror) & (signs < 0)]
    n_base = centroids.shape[0] // 2
    products = (np.asarray(whiten_matrix, dtype=np.float64)
                @ np.asarray(centroids[:n_base], dtype=np.float64).T)  # W c_b, (D, K / 2)
    parts = []
    for fixed, sign in ((kept, 1.0), (negated, -1.0)):  # even, then odd coordinates
        first = np.concatenate([pairs, fixed])
        second = np.concatenate([mirror[pairs], fixed])
        coordinate_signs = signs[first]
        # a pair's coordinate x_i +- s_i x_j carries half of (W c_b)_i +- s_i (W c_b)_j;
        # a fixed value enters its coordinate twice (x_i + x_i): a quarter
        share = np.where(first == second, 0.25, 0.5)[:, None]
        weights = (products[first] + sign * coordinate_signs[:, None] * products[second]) * share
        parts.append((np.ascontiguousarray(first), np.ascontiguousarray(second),
                      np.ascontiguousarray(coordinate_signs, dtype=np.float32),
                      np.ascontiguousarray(weights, dtype=np.float32)))
    (even_first, even_second, even_signs, even_weights) = parts[0]
    (odd_first, odd_second, odd_signs, odd_weights) = parts[1]
    return (even_first, even_second, even_signs, odd_first, odd_second, odd_signs,
            even_weights, odd_weights)


def mirror_split(encoder, mirror, patch_size, channels, whiten_matrix, centroids, signs=None):
    """The split products of :func:`mirror_split_weights` when they apply: the soft
    threshold, a mirror-closed dictionary (``mirror``), and a whitening that commutes with
    the mirror exactly (as :func:`~fastsoftmax.features.whitening.zca_whitening` fits it);
    else None, and the encoder computes every atom's products.  ``signs`` (D,): the
    mirror's sign of each patch value (None: all 1)."""
    if not mirror or encoder != "soft-threshold" or patch_size < 2:
        return None
    permutation = patch_mirror(patch_size, channels)
    mirrored = whiten_matrix[np.ix_(permutation, permutation)]
    if signs is not None:
        mirrored = mirrored * np.outer(signs, signs).astype(mirrored.dtype)
    if not np.array_equal(mirrored, whiten_matrix):
        return None
    return mirror_split_weights(whiten_matrix, centroids, permutation, signs)


@jit(JIT_OPTIONS)
def _scratch(image_shape, patch_size, tile, n_even, n_odd, n_base, n_regions):
    """One thread's buffers for :func:`_pooled_split`: the image as float64 with the
    integral images of its values and squares, a tile's patches, their even and odd
    coordinates, their products, and a grid row's sums per region and polarity."""
    height, width, channels = image_shape
    dim = patch_size * patch_size * channels
    return (np.empty((height, width * channels), dtype=np.float64),
            np.zeros((height + 1, width + 1), dtype=np.float64),
            np.zeros((height + 1, width + 1), dtype=np.float64),
            np.empty((tile, dim), dtype=np.float32),
            np.empty((tile, n_even), dtype=np.float32),
            np.empty((tile, n_odd), dtype=np.float32),
            np.empty((tile, n_base), dtype=np.float32),
            np.empty((tile, n_base), dtype=np.float32),
            np.zeros((n_regions * 2, 2 * n_base), dtype=np.float32))


@jit(JIT_OPTIONS)
def _pooled_split(image, patch_size, stride, normalize, norm_eps, whiten_mean, even_first,
                  even_second, even_signs, odd_first, odd_second, odd_signs, even_weights,
                  odd_weights, alpha, row_regions, col_regions, n_col_regions, scratch, pooled):
    """``pooled`` (rows * ``n_col_regions`` * 2, K) float64 := one image's soft-threshold
    sums over the regions of ``row_regions`` x ``col_regions``, row-major, each per
    polarity, from the split products (``scratch``: :func:`_scratch` with
    ``n_col_regions``)."""
    pixels, sums, sq_sums, raw, even, odd, sym, anti, acc = scratch
    height, width, channels = image.shape
    n_even = even_first.shape[0]
    n_odd = odd_first.shape[0]
    n_base = even_weights.shape[1]
    tile = raw.shape[0]
    n_rows = (height - patch_size) // stride + 1
    n_cols = (width - patch_size) // stride + 1
    n_pos = n_rows * n_cols
    _load_image(image, pixels, sums, sq_sums)
    pooled[:] = 0.0
    for start in range(0, n_pos, tile):
        m = min(tile, n_pos - start)
        _normalized_tile(raw, start, m, n_cols, stride, pixels, sums, sq_sums,
                         patch_size, channels, norm_eps, whiten_mean, normalize)
        for t in range(m):
            patch = raw[t]
            for j in range(n_even):
                even[t, j] = patch[even_first[j]] + even_signs[j] * patch[even_second[j]]
            for j in range(n_odd):
                odd[t, j] = patch[odd_first[j]] - odd_signs[j] * patch[odd_second[j]]
        np.dot(even[:m], even_weights, sym[:m])
        np.dot(odd[:m], odd_weights, anti[:m])
        for t in range(m):
            r = (start + t) // n_cols
            c = start + t - r * n_cols
            q = col_regions[c] * 2
            _pool_soft_pair(acc[q, :n_base], acc[q, n_base:], acc[q + 1, :n_base],
                            acc[q + 1, n_base:], sym[t], anti[t], alpha)
            if c == n_cols - 1:
                base = row_regions[r] * n_col_regions * 2
                for q in range(n_col_regions * 2):
                    _flush(pooled[base + q], acc[q])


@jit(PARALLEL_JIT_OPTIONS, notice="the symmetric k-means encoder kernel", compile_seconds=20)
def encode_batch_mirror_split(images, patch_size, stride, normalize, norm_eps, whiten_mean,
                              even_first, even_second, even_signs, odd_first, odd_second,
                              odd_signs, even_weights, odd_weights, threshold, power, pyramid,
                              row_regions, col_regions, n_regions, tile, out):
    """The soft threshold's features with a mirror-closed dictionary and a whitening that
    commutes with the mirror, from the split products of :func:`mirror_split_weights`,
    finished as :func:`fastsoftmax.features.encoding.encode` finishes them: ``out``
    (N, (R * R + pyramid) * 2 * K / 2) float32 := the grid's sums (and with ``pyramid``
    the whole image's) raised to ``power`` and folded
    (:func:`~fastsoftmax.features._mirror.fold_mirror`).

    ``images`` (N, H, W, C): uint8 pixels, normalized patch by patch (``normalize``),
    or float32 values taken as they are (a second layer's maps)."""
    n_images = images.shape[0]
    n_base = even_weights.shape[1]
    k = 2 * n_base
    alpha = np.float32(threshold)
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        scratch = _scratch(images.shape[1:], patch_size, tile, even_first.shape[0],
                           odd_first.shape[0], n_base, n_regions)
        pooled = np.empty((n_regions * n_regions * 2, k), dtype=np.float64)
        whole = np.empty((2, k), dtype=np.float64)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_images)):
            _pooled_split(images[i], patch_size, stride, normalize, norm_eps, whiten_mean,
                          even_first, even_second, even_signs, odd_first, odd_second,
                          odd_signs, even_weights, odd_weights, alpha, row_regions,
                          col_regions, n_regions, scratch, pooled)
            _finish_folded(pooled, n_regions, n_base, power, pyramid, whole, out[i])


@jit(PARALLEL_JIT_OPTIONS, notice="the k-means region sums kernel", compile_seconds=20)
def encode_batch_region_sums(images, patch_size, stride, normalize, norm_eps, whiten_mean,
                             even_first, even_second, even_signs, odd_first, odd_second,
                             odd_signs, even_weights, odd_weights, threshold, row_regions,
                             col_regions, n_col_regions, tile, out):
    """The soft threshold's sums as :func:`encode_batch_mirror_split` pools them, left
    raw: ``out`` (N, rows * ``n_col_regions`` * 2, K) float32 := each image's sums over
    the regions of ``row_regions`` x ``col_regions`` (any number of each, not only a
    square grid: one region per position, or a strip of cells), row-major, per
    polarity, every atom (not folded, no power)."""
    n_images = images.shape[0]
    n_base = even_weights.shape[1]
    alpha = np.float32(threshold)
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        scratch = _scratch(images.shape[1:], patch_size, tile, even_first.shape[0],
                           odd_first.shape[0], n_base, n_col_regions)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_images)):
            _pooled_split(images[i], patch_size, stride, normalize, norm_eps, whiten_mean,
                          even_first, even_second, even_signs, odd_first, odd_second,
                          odd_signs, even_weights, odd_weights, alpha, row_regions,
                          col_regions, n_col_regions, scratch, out[i])


@jit(PARALLEL_JIT_OPTIONS, notice="the two-layer k-means encoder kernel", compile_seconds=20)
def encode_batch_cells(images, patch_size, stride, norm_eps, whiten_mean, even_first,
                       even_second, even_signs, odd_first, odd_second, odd_signs,
                       even_weights, odd_weights, threshold, power, pyramid, quadrants,
                       cell_rows, cell_cols, n_cells, cell_regions, n_regions, tile, out,
                       even_maps, odd_maps):
    """:func:`encode_batch_mirror_split`'s features, pooled over cells too: ``out`` as
    there, the grid of ``n_regions`` made of the ``n_cells`` x ``n_cells`` cells of
    ``cell_rows`` and ``cell_cols`` (cell ``c`` lies in region ``cell_regions[c]``),
    with ``quadrants`` followed by the folded sums over the :func:`quadrant_cells`;
    ``even_maps`` and ``odd_maps`` (N, n_cells, n_cells, 2, K / 2) float32 := each cell's
    sums raised to ``power``, as the mirror-even part ``(f_b + f_b') / sqrt(2)`` and the
    mirror-odd part ``(f_b - f_b') / sqrt(2)`` of each base atom ``b`` and its mirror atom
    ``b'``, per polarity: the map a second layer encodes.  In the map of a mirrored image
    the cell columns are reversed and the odd part negated."""
    n_images = images.shape[0]
    n_base = even_weights.shape[1]
    k = 2 * n_base
    alpha = np.float32(threshold)
    scale = np.float32(1.0 / np.sqrt(2.0))
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        scratch = _scratch(images.shape[1:], patch_size, tile, even_first.shape[0],
                           odd_first.shape[0], n_base, n_cells)
        cells = np.empty((n_cells * n_cells * 2, k), dtype=np.float64)
        raised = np.empty(k, dtype=np.float32)
        finish = _finish_scratch(n_regions, k)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_images)):
            _pooled_split(images[i], patch_size, stride, True, norm_eps, whiten_mean,
                          even_first, even_second, even_signs, odd_first, odd_second,
                          odd_signs, even_weights, odd_weights, alpha, cell_rows, cell_cols,
                          n_cells, scratch, cells)
            for a in range(n_cells):
                for b in range(n_cells):
                    for p in range(2):
                        _raise_row(cells[(a * n_cells + b) * 2 + p], power, raised)
                        _even_odd(raised, n_base, scale, even_maps[i, a, b, p],
                                  odd_maps[i, a, b, p])
            _finish_cells(cells, cells, 0, True, n_cells, cell_regions, n_regions, power,
                          pyramid, quadrants, finish, out[i])


@jit(JIT_OPTIONS)
def _finish_scratch(n_regions, k):
    """One thread's buffers for :func:`_finish_cells`."""
    return (np.empty((n_regions * n_regions * 2, k), dtype=np.float64),
            np.empty((2, k), dtype=np.float64), np.empty((4 * 2, k), dtype=np.float64))


@jit(JIT_OPTIONS)
def _finish_cells(sums, border, axis, forward, n_cells, cell_regions, n_regions, power,
                  pyramid, quadrants, scratch, out_row):
    """``out_row`` := the folded features of one image's sums over ``n_cells`` x
    ``n_cells`` cells (``sums``: (n_cells * n_cells * 2, K), row-major, per polarity)
    moved by :func:`_moved_cell` (``axis`` 0: as they are): the sums over the regions
    (cell ``c`` in region ``cell_regions[c]``), with ``pyramid`` over the whole image,
    with ``quadrants`` over the :func:`quadrant_cells`, each raised to ``power`` and
    folded (``scratch``: :func:`_finish_scratch`)."""
    pooled, whole, quadrant_sums = scratch
    n_base = sums.shape[1] // 2
    pooled[:] = 0.0
    for a in range(n_cells):
        for b in range(n_cells):
            for p in range(2):
                _add(pooled[(cell_regions[a] * n_regions + cell_regions[b]) * 2 + p],
                     _moved_cell(sums, border, axis, forward, n_cells, a, b, p))
    _finish_folded(pooled, n_regions, n_base, power, pyramid, whole, out_row)
    if quadrants:
        half = (n_cells + 1) // 2
        quadrant_sums[:] = 0.0
        for qa in range(2):
            for qb in range(2):
                for a in range(qa * (n_cells - half), qa * (n_cells - half) + half):
                    for b in range(qb * (n_cells - half), qb * (n_cells - half) + half):
                        for p in range(2):
                            _add(quadrant_sums[(qa * 2 + qb) * 2 + p],
                                 _moved_cell(sums, border, axis, forward, n_cells, a, b, p))
        at = (n_regions * n_regions + (1 if pyramid else 0)) * 2 * n_base
        _finish_folded(quadrant_sums, 2, n_base, power, False, whole, out_row[at:])


@jit(JIT_OPTIONS)
def _moved_cell(sums, border, axis, forward, n_cells, a, b, p):
    """Cell (a, b)'s sums of polarity ``p`` after the image's cells (``sums``) moved by
    one along ``axis`` (1: rows, 2: columns; 0: not moved), ``border`` ((n_cells * 2, K))
    the new row or column of cells: the first when moving ``forward`` (down, right),
    the image's last one dropped; else the last."""
    if axis == 0:
        return sums[(a * n_cells + b) * 2 + p]
    along, across = (a, b) if axis == 1 else (b, a)
    if along == (0 if forward else n_cells - 1):
        return border[across * 2 + p]
    step = -1 if forward else 1
    if axis == 1:
        return sums[((a + step) * n_cells + b) * 2 + p]
    return sums[(a * n_cells + b + step) * 2 + p]


@jit(PARALLEL_JIT_OPTIONS, notice="the k-means shifted copies kernel", compile_seconds=10)
def finish_copies(sums, borders, axes, forwards, n_cells, cell_regions, n_regions, power,
                  pyramid, quadrants, out, row, at):
    """The folded features of images and of their copies whose cells are the images'
    moved by one: ``out[0, row + i, at:]`` := :func:`_finish_cells` of image ``i``'s
    ``sums`` (N, n_cells * n_cells * 2, K) float32; ``out[1 + c, row + i, at:]`` := the
    same of them moved along ``axes[c]`` (1: rows, 2: columns) by one cell,
    ``forwards[c]`` (down, right) or not, ``borders[i, c]`` ((N, copies, n_cells * 2,
    K) float32) the copy's new row or column of cells.  An image's copies are made
    together, while its sums are in cache."""
    n_images, _, k = sums.shape
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        finish = _finish_scratch(n_regions, k)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_images)):
            _finish_cells(sums[i], sums[i], 0, True, n_cells, cell_regions, n_regions,
                          power, pyramid, quadrants, finish, out[0, row + i, at:])
            for c in range(axes.shape[0]):
                _finish_cells(sums[i], borders[i, c], axes[c], forwards[c], n_cells,
                              cell_regions, n_regions, power, pyramid, quadrants, finish,
                              out[1 + c, row + i, at:])


@jit(PARALLEL_JIT_OPTIONS, notice="the k-means cell maps kernel", compile_seconds=5)
def raised_cell_maps(sums, power, even_maps, odd_maps):
    """``even_maps``, ``odd_maps`` (N, cells, 2, K / 2) float32 := the map's even and odd
    parts of sums over cells (N, cells * 2, K) float32, as :func:`encode_batch_cells`
    writes them."""
    n_images, rows, k = sums.shape
    n_base = k // 2
    scale = np.float32(1.0 / np.sqrt(2.0))
    for i in prange(n_images):
        raised = np.empty(k, dtype=np.float32)
        for q in range(rows):
            cell, p = q // 2, q % 2
            _raise_row(sums[i, q], power, raised)
            _even_odd(raised, n_base, scale, even_maps[i, cell, p], odd_maps[i, cell, p])


def quadrant_cells(n_cells):
    """The cells, along each axis, of the two halves that make the four quadrants of an
    ``n_cells`` x ``n_cells`` grid: the first and the last ``ceil(n_cells / 2)``, which
    share the middle cell when ``n_cells`` is odd, so that the mirror maps each quadrant
    onto another."""
    half = (n_cells + 1) // 2
    return np.arange(half), np.arange(n_cells - half, n_cells)


@jit(JIT_OPTIONS)
def _add(target, source):
    for kk in range(source.shape[0]):
        target[kk] += source[kk]


@jit(JIT_OPTIONS)
def _raise_row(source, power, out):
    """``out`` (float32) := ``source`` raised to ``power``; square roots, the usual
    power, in a loop of their own that vectorizes."""
    if power == 0.5:
        for kk in range(source.shape[0]):
            out[kk] = np.float32(np.sqrt(source[kk]))
    else:
        for kk in range(source.shape[0]):
            out[kk] = np.float32(_raised(source[kk], power))


@jit(JIT_OPTIONS)
def _even_odd(values, n_base, scale, even_row, odd_row):
    """The mirror-even and -odd parts of base atoms and their mirror atoms' values."""
    for kk in range(n_base):
        even_row[kk] = (values[kk] + values[n_base + kk]) * scale
        odd_row[kk] = (values[kk] - values[n_base + kk]) * scale


@jit(JIT_OPTIONS)
def _raised(value, power):
    if power == 0.5:
        return np.sqrt(value)
    if power == 1.0:
        return value
    return value ** power


@jit(JIT_OPTIONS)
def _finish_folded(pooled, n_regions, n_base, power, pyramid, whole, out_row):
    """``out_row`` := the folded features of one image's pooled sums ``pooled``
    (R * R * 2, K) float64: each base atom's sum in region (a, b) raised to ``power``
    plus its mirror atom's in region (a, R - 1 - b), over sqrt(2); then, with
    ``pyramid``, the same for the sums over all regions (``whole``, (2, K) scratch)."""
    scale = 1.0 / np.sqrt(2.0)
    for a in range(n_regions):
        for b in range(n_regions):
            for p in range(2):
                q = (a * n_regions + b) * 2 + p
                q_mirror = (a * n_regions + n_regions - 1 - b) * 2 + p
                offset = q * n_base
                for kk in range(n_base):
                    out_row[offset + kk] = (_raised(pooled[q, kk], power)
                                            + _raised(pooled[q_mirror, n_base + kk], power)) * scale
    if pyramid:
        whole[:] = 0.0
        for q in range(n_regions * n_regions):
            for p in range(2):
                for kk in range(2 * n_base):
                    whole[p, kk] += pooled[q * 2 + p, kk]
        offset = n_regions * n_regions * 2 * n_base
        for p in range(2):
            for kk in range(n_base):
                out_row[offset + p * n_base + kk] = (
                    _raised(whole[p, kk], power) + _raised(whole[p, n_base + kk], power)) * scale


#: Map rows (cells) a thread reduces at a time in :func:`reduce_maps`.
_REDUCE_ROWS = 324


@jit(PARALLEL_JIT_OPTIONS, notice="the second layer's map reduction kernel", compile_seconds=5)
def reduce_maps(even_rows, odd_rows, even_components, odd_components, even_offset, out):
    """``out`` (n, C) float32 := ``even_rows @ even_components - even_offset`` beside
    ``odd_rows @ odd_components`` (``even_rows``, ``odd_rows``: (n, width) the maps'
    cells; the components (width, C / 2)).

    Blocks of rows go to the threads, each product single-threaded (call it within
    :func:`~fastsoftmax.features._blas.limit_blas_threads`): a multi-threaded product
    leaves its BLAS threads spinning into the encoder kernel that follows."""
    n = even_rows.shape[0]
    half = even_components.shape[1]
    n_blocks = (n + _REDUCE_ROWS - 1) // _REDUCE_ROWS
    for block in prange(n_blocks):
        lo = block * _REDUCE_ROWS
        hi = min(lo + _REDUCE_ROWS, n)
        even = np.dot(even_rows[lo:hi], even_components)
        odd = np.dot(odd_rows[lo:hi], odd_components)
        for r in range(hi - lo):
            for c in range(half):
                out[lo + r, c] = even[r, c] - even_offset[c]
                out[lo + r, half + c] = odd[r, c]
