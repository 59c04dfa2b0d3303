"""Numba kernels for batch HOG, grayscale conversion and scaling.

The kernels only compute: they take arrays and plain numbers (block norms are
integer codes), fill arrays the caller allocated, and report bad input through a
per-image status array.  All validation lives in :mod:`fastsoftmax.features.batch_hog`.

The HOG follows scikit-image's ``skimage.feature.hog`` stage by stage
(``_hog.py`` + ``_hoghistogram.pyx``):

1. optional square root of the pixels (in the input's float type);
2. central differences along rows and columns, zero on the image border, in the
   input's float type (float64 for integer input), then float64;
3. for colour images, per pixel the channel with the largest gradient magnitude
   (the first one on ties, as ``argmax``);
4. magnitude ``hypot(g_row, g_col)``, orientation
   ``rad2deg(arctan2(g_row, g_col)) % 180``; the pixel votes its magnitude into
   bin ``i`` when ``edges[i] <= orientation < edges[i + 1]`` with
   ``edges[i] = (180 / orientations) * i``; a cell is the mean of its
   ``pixels_per_cell`` pixels (float64 here; scikit-image sums in float32);
5. block normalization (L1, L1-sqrt, L2, L2-Hys with ``eps = 1e-5``);
6. feature order ``(block_row, block_col, cell_row, cell_col, orientation)``.

Speed: the orientation bin is not found with ``atan2`` but by counting the bin
edges the gradient lies beyond (the sign of a cross product with each edge's unit
vector), which is exact arithmetic away from the edges.  A gradient within a
relative ``1e-9`` of an edge (or of the 0/180 degree wrap) is binned the slow way,
with scikit-image's own float64 formula, so the bin is the same as scikit-image's.
"""
import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from fastsoftmax._shared.config import JIT_OPTIONS, OVERLOAD_JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from fastsoftmax._shared.jit import jit

#: Integer codes of the block normalizations (strings stay in Python).
BLOCK_NORM_CODES = {"L1": 0, "L1-sqrt": 1, "L2": 2, "L2-Hys": 3}

#: Status codes written per image by the HOG kernels.
STATUS_OK = 0
STATUS_NONFINITE = 1

_EPS = 1e-5
#: Relative distance to a bin edge under which the exact (atan2) binning is used.
_EDGE_TOL = 1e-9
#: Images handled by one parallel task; scratch buffers are allocated once per task.
_CHUNK = 32


def _as_work(value):  # pragma: no cover - replaced by the overload below
    """Pixel value in the type scikit-image computes the gradient in."""
    return value


@overload(_as_work, jit_options=OVERLOAD_JIT_OPTIONS)
def _as_work_overload(value):
    if isinstance(value, types.Integer):
        return lambda value: np.float64(value)
    return lambda value: value


@jit(JIT_OPTIONS)
def _exact_bin(g_row, g_col, edges):
    """scikit-image's bin of one gradient: ``rad2deg(arctan2) % 180`` then the edges.

    Returns ``-1`` when the orientation falls in no bin (it rounded up to 180).
    """
    degrees = math.atan2(g_row, g_col) * (180.0 / np.pi)
    orientation = degrees % 180.0  # Python's and NumPy's float remainder alike
    n_bins = edges.shape[0] - 1
    for o in range(n_bins):
        if edges[o] <= orientation < edges[o + 1]:
            return o
    return -1


@jit(JIT_OPTIONS)
def _vote(g_row, g_col, edge_cos, edge_sin, edges, hist_cell):
    """Add the magnitude of one gradient to its orientation bin in ``hist_cell``.

    Returns False when the magnitude is not finite.
    """
    magnitude = math.sqrt(g_row * g_row + g_col * g_col)
    if not math.isfinite(magnitude):
        if math.isfinite(g_row) and math.isfinite(g_col):
            magnitude = math.hypot(g_row, g_col)  # overflowed squares only
        else:
            return False
    if magnitude == 0.0:
        return True
    if g_row == 0.0:  # arctan2 gives 0 or +-180 degrees: bin 0 either way
        hist_cell[0] += magnitude
        return True
    # fold into the upper half plane: orientation modulo 180 degrees
    y = g_row
    x = g_col
    if y < 0.0:
        y = -y
        x = -x
    tol = _EDGE_TOL * (y + abs(x))
    near = y <= tol
    o = 0
    for k in range(edge_cos.shape[0]):
        cross = edge_cos[k] * y - edge_sin[k] * x  # >= 0 iff angle >= edge k+1
        if cross >= 0.0:
            o += 1
        if abs(cross) <= tol:
            near = True
    if near:
        o = _exact_bin(g_row, g_col, edges)
        if o < 0:
            return True
    hist_cell[o] += magnitude
    return True


@jit(JIT_OPTIONS)
def _normalize_blocks(hist, b_row, b_col, norm_code, block, out_row):
    """Normalize every block of ``hist`` (cells, cells, bins) into ``out_row``."""
    n_cells_row, n_cells_col, n_bins = hist.shape
    k = 0
    size = b_row * b_col * n_bins
    for br in range(n_cells_row - b_row + 1):
        for bc in range(n_cells_col - b_col + 1):
            j = 0
            for r in range(br, br + b_row):
                for c in range(bc, bc + b_col):
                    for o in range(n_bins):
                        block[j] = hist[r, c, o]
                        j += 1
            if norm_code == 0 or norm_code == 1:  # L1, L1-sqrt
                total = 0.0
                for j in range(size):
                    total += abs(block[j])
                inv = 1.0 / (total + _EPS)
                if norm_code == 0:
                    for j in range(size):
                        out_row[k + j] = block[j] * inv
                else:
                    for j in range(size):
                        out_row[k + j] = math.sqrt(block[j] * inv)
            else:  # L2, L2-Hys
                total = 0.0
                for j in range(size):
                    total += block[j] * block[j]
                inv = 1.0 / math.sqrt(total + _EPS * _EPS)
                if norm_code == 2:
                    for j in range(size):
                        out_row[k + j] = block[j] * inv
                else:
                    total = 0.0
                    for j in range(size):
                        v = min(block[j] * inv, 0.2)
                        block[j] = v
                        total += v * v
                    inv = 1.0 / math.sqrt(total + _EPS * _EPS)
                    for j in range(size):
                        out_row[k + j] = block[j] * inv
            k += size


@jit(JIT_OPTIONS)
def _load(image, r, c, transform_sqrt):
    value = _as_work(image[r, c])
    if transform_sqrt:
        value = np.sqrt(value)
    return value


@jit(JIT_OPTIONS)
def _load3(image, r, c, ch, transform_sqrt):
    value = _as_work(image[r, c, ch])
    if transform_sqrt:
        value = np.sqrt(value)
    return value


@jit(JIT_OPTIONS)
def _histograms_gray_exact(image, c_row, c_col, transform_sqrt, edge_cos, edge_sin, edges, hist):
    """Cell sums of one grayscale image, pixel by pixel; False on a non-finite magnitude.

    The slow, careful path: used when the fast path meets a non-finite value.
    """
    n_rows, n_cols = image.shape
    n_cells_row, n_cells_col, n_bins = hist.shape
    hist[:] = 0.0
    ok = True
    for r in range(n_cells_row * c_row):
        cr = r // c_row
        for c in range(n_cells_col * c_col):
            if r == 0 or r == n_rows - 1:
                g_row = 0.0
            else:
                g_row = np.float64(_load(image, r + 1, c, transform_sqrt)
                                   - _load(image, r - 1, c, transform_sqrt))
            if c == 0 or c == n_cols - 1:
                g_col = 0.0
            else:
                g_col = np.float64(_load(image, r, c + 1, transform_sqrt)
                                   - _load(image, r, c - 1, transform_sqrt))
            ok &= _vote(g_row, g_col, edge_cos, edge_sin, edges, hist[cr, c // c_col])
    return ok


@jit(JIT_OPTIONS)
def _histograms_gray(image, c_row, c_col, transform_sqrt, edge_cos, edge_sin, edges, hist,
                     scratch, cell_of_pixel):
    """Cell sums of one grayscale image, in long vectorizable loops over its pixels.

    ``scratch`` is (7, n_cells_row * c_row * n_cells_col * c_col) float64;
    ``cell_of_pixel[p]`` is the flat cell index of used pixel ``p``.  Returns False
    when a magnitude is not finite (the caller then redoes the image with
    :func:`_histograms_gray_exact`).
    """
    n_rows, n_cols = image.shape
    n_cells_row, n_cells_col, n_bins = hist.shape
    height = n_cells_row * c_row
    width = n_cells_col * c_col
    n_pixels = height * width
    n_inner = edge_cos.shape[0]
    g_row = scratch[0]
    g_col = scratch[1]
    magnitude = scratch[2]
    x = scratch[3]
    y = scratch[4]
    bins = scratch[5]
    near = scratch[6]
    # 1. gradients (zero on the image border), in the input's float type
    for r in range(height):
        base = r * width
        if r == 0 or r == n_rows - 1:
            for c in range(width):
                g_row[base + c] = 0.0
        else:
            for c in range(width):
                g_row[base + c] = np.float64(_load(image, r + 1, c, transform_sqrt)
                                             - _load(image, r - 1, c, transform_sqrt))
        g_col[base] = 0.0
        for c in range(1, min(width, n_cols - 1)):
            g_col[base + c] = np.float64(_load(image, r, c + 1, transform_sqrt)
                                         - _load(image, r, c - 1, transform_sqrt))
        if width == n_cols:
            g_col[base + width - 1] = 0.0
    # 2. magnitude, and the gradient folded into the upper half plane; a
    #    horizontal gradient (g_row == 0) is bin 0 whichever its sign.
    #    ``near`` tracks the smallest distance to an edge (or to 0 degrees).
    for p in range(n_pixels):
        gr = g_row[p]
        gc = g_col[p]
        magnitude[p] = math.sqrt(gr * gr + gc * gc)
        yy = abs(gr)
        xx = -gc if gr < 0.0 else (abs(gc) if gr == 0.0 else gc)
        y[p] = yy
        x[p] = xx
        near[p] = yy if yy > 0.0 else np.inf
        bins[p] = 0.0
    # 3. bin = number of inner edges the gradient lies beyond
    for k in range(n_inner):
        ck = edge_cos[k]
        sk = edge_sin[k]
        for p in range(n_pixels):
            cross = ck * y[p] - sk * x[p]
            bins[p] += 1.0 if cross >= 0.0 else 0.0
            near[p] = min(near[p], abs(cross))
    # 4. vote
    flat = hist.reshape(n_cells_row * n_cells_col, n_bins)
    flat[:] = 0.0
    total = 0.0
    for p in range(n_pixels):
        m = magnitude[p]
        total += m
        o = np.int64(bins[p])
        if near[p] <= _EDGE_TOL * (y[p] + abs(x[p])) and m > 0.0:
            o = _exact_bin(g_row[p], g_col[p], edges)
            if o < 0:
                continue
        flat[cell_of_pixel[p], o] += m
    return math.isfinite(total)


@jit(JIT_OPTIONS)
def _histograms_color(image, c_row, c_col, transform_sqrt, edge_cos, edge_sin, edges, hist):
    """Cell histograms of one (rows, cols, channels) image, strongest channel per pixel."""
    n_rows, n_cols, n_channels = image.shape
    n_cells_row, n_cells_col, n_bins = hist.shape
    hist[:] = 0.0
    ok = True
    for r in range(n_cells_row * c_row):
        cr = r // c_row
        for c in range(n_cells_col * c_col):
            best = -1.0
            g_row = 0.0
            g_col = 0.0
            for ch in range(n_channels):
                if r == 0 or r == n_rows - 1:
                    gr = 0.0
                else:
                    gr = np.float64(_load3(image, r + 1, c, ch, transform_sqrt)
                                    - _load3(image, r - 1, c, ch, transform_sqrt))
                if c == 0 or c == n_cols - 1:
                    gc = 0.0
                else:
                    gc = np.float64(_load3(image, r, c + 1, ch, transform_sqrt)
                                    - _load3(image, r, c - 1, ch, transform_sqrt))
                magnitude = math.hypot(gr, gc)
                if magnitude != magnitude:  # NaN: report it
                    g_row = gr
                    g_col = gc
                    break
                if magnitude > best:  # first maximum, as argmax
                    best = magnitude
                    g_row = gr
                    g_col = gc
            ok &= _vote(g_row, g_col, edge_cos, edge_sin, edges, hist[cr, c // c_col])
    return ok


@jit(JIT_OPTIONS)
def _finish_image(hist, scale, b_row, b_col, norm_code, block, out_row):
    """Cell means from cell sums, then block normalization into ``out_row``."""
    n_cells_row, n_cells_col, n_bins = hist.shape
    for r in range(n_cells_row):
        for c in range(n_cells_col):
            for o in range(n_bins):
                hist[r, c, o] *= scale
    _normalize_blocks(hist, b_row, b_col, norm_code, block, out_row)


@jit(PARALLEL_JIT_OPTIONS, notice="the HOG kernel for {dtype} images", compile_seconds=6)
def hog_gray_batch(images, c_row, c_col, b_row, b_col, norm_code, transform_sqrt,
                   edge_cos, edge_sin, edges, out, status):
    """HOG of every image of ``images`` (N, H, W) into ``out`` (N, F).

    ``edges`` holds the ``orientations + 1`` bin edges in degrees, ``edge_cos`` and
    ``edge_sin`` the unit vectors of the inner edges.  ``status[i]`` becomes
    ``STATUS_NONFINITE`` when image ``i`` gives a non-finite gradient magnitude.
    """
    n_images = images.shape[0]
    n_cells_row = images.shape[1] // c_row
    n_cells_col = images.shape[2] // c_col
    n_bins = edges.shape[0] - 1
    scale = 1.0 / (c_row * c_col)
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    width = n_cells_col * c_col
    for chunk in prange(n_chunks):
        hist = np.empty((n_cells_row, n_cells_col, n_bins), dtype=np.float64)
        block = np.empty(b_row * b_col * n_bins, dtype=np.float64)
        scratch = np.empty((7, n_cells_row * c_row * width), dtype=np.float64)
        cell_of_pixel = np.empty(n_cells_row * c_row * width, dtype=np.int64)
        for r in range(n_cells_row * c_row):
            for c in range(width):
                cell_of_pixel[r * width + c] = (r // c_row) * n_cells_col + c // c_col
        for i in range(chunk * _CHUNK, min(n_images, (chunk + 1) * _CHUNK)):
            ok = _histograms_gray(images[i], c_row, c_col, transform_sqrt,
                                  edge_cos, edge_sin, edges, hist,
                                  scratch, cell_of_pixel)
            if not ok:
                ok = _histograms_gray_exact(images[i], c_row, c_col, transform_sqrt,
                                            edge_cos, edge_sin, edges, hist)
            status[i] = STATUS_OK if ok else STATUS_NONFINITE
            _finish_image(hist, scale, b_row, b_col, norm_code, block, out[i])


@jit(PARALLEL_JIT_OPTIONS, notice="the colour HOG kernel for {dtype} images", compile_seconds=6)
def hog_color_batch(images, c_row, c_col, b_row, b_col, norm_code, transform_sqrt,
                    edge_cos, edge_sin, edges, out, status):
    """As :func:`hog_gray_batch` for ``images`` (N, H, W, C), strongest channel per pixel."""
    n_images = images.shape[0]
    n_cells_row = images.shape[1] // c_row
    n_cells_col = images.shape[2] // c_col
    n_bins = edges.shape[0] - 1
    scale = 1.0 / (c_row * c_col)
    n_chunks = (n_images + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        hist = np.empty((n_cells_row, n_cells_col, n_bins), dtype=np.float64)
        block = np.empty(b_row * b_col * n_bins, dtype=np.float64)
        for i in range(chunk * _CHUNK, min(n_images, (chunk + 1) * _CHUNK)):
            ok = _histograms_color(images[i], c_row, c_col, transform_sqrt,
                                   edge_cos, edge_sin, edges, hist)
            status[i] = STATUS_OK if ok else STATUS_NONFINITE
            _finish_image(hist, scale, b_row, b_col, norm_code, block, out[i])


@jit(PARALLEL_JIT_OPTIONS, notice="the grayscale kernel for {dtype} images", compile_seconds=1)
def rgb2gray_batch(rgb, coeffs, pixel_scale, out):
    """``out[k] = sum_j (rgb[k, j] * pixel_scale) * coeffs[j]`` for (M, 3) ``rgb``."""
    n = rgb.shape[0]
    n_chunks = (n + 4095) // 4096
    for chunk in prange(n_chunks):
        for k in range(chunk * 4096, min(n, (chunk + 1) * 4096)):
            r = np.float64(rgb[k, 0]) * pixel_scale
            g = np.float64(rgb[k, 1]) * pixel_scale
            b = np.float64(rgb[k, 2]) * pixel_scale
            out[k] = r * coeffs[0] + g * coeffs[1] + b * coeffs[2]


@jit(PARALLEL_JIT_OPTIONS, notice="the scaling kernel for {dtype} images", compile_seconds=1)
def affine_batch(values, offset, scale, out):
    """``out[k] = (values[k] - offset) * scale`` for flat arrays, in float64."""
    n = values.shape[0]
    n_chunks = (n + 16383) // 16384
    for chunk in prange(n_chunks):
        for k in range(chunk * 16384, min(n, (chunk + 1) * 16384)):
            out[k] = (np.float64(values[k]) - offset) * scale
