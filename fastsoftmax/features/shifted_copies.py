"""The learned features of an image's copies moved by one cell (test-time augmentation),
made mostly from the image's own cells.

A copy moved down by ``s`` pixels, its uncovered top rows the image reflected about its
edge (:func:`shift_images`), has at patch position ``(r, c)``, for ``r >= s``, the
image's patch at ``(r - s, c)``: with stride 1 and cells of ``s`` patch positions a
side, every cell of the copy but its first row is the image's cell one row up (the
image's last row of cells falls off).  Only that first row of cells, whose patches
cover the reflected border, is encoded; the pooling regions, the whole image and the
quadrants are sums of cells.  A second layer's neighbourhood positions step by one cell,
so its map of the copy is the image's moved by one row too: of its positions only the
first row is encoded.  Up, right and left likewise: with 9 x 9 cells a ninth of a copy's
patches and a seventh of its second-layer positions go through the encoder, and its
features equal those of the copy encoded
(:meth:`~fastsoftmax.features.KMeansFeatures.transform`) to float rounding.
"""
import numpy as np

from fastsoftmax._shared.aligned import aligned_empty
from fastsoftmax._shared.progress import report
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features._blas import limit_blas_threads
from fastsoftmax.features.second_layer import (CELLS_PER_REGION, NEIGHBOURHOOD, cell_grid,
                                               first_layer_width)

__all__ = ["SHIFT_DIRECTIONS", "shift_images", "reflect_padded", "cells_move_with_shift",
           "encode_shifted"]

#: The copies' directions ``(dy, dx)``, in units of the shift: down, up, right, left.
SHIFT_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))
#: Images whose cells are held at a time (2 * cells**2 * K float32 values each).
_BATCH = 32


def shift_images(images, dy, dx):
    """``images`` (N, H, W[, C]) moved down by ``dy`` and right by ``dx`` pixels (negative:
    up, left), the uncovered border reflected about the edge; C-contiguous.

    ``abs(dy) < H`` and ``abs(dx) < W``: a reflection needs that many pixels.
    """
    images = np.asarray(images)
    height, width = images.shape[1:3]
    if abs(dy) >= height or abs(dx) >= width:
        raise ValueError(f"a shift of ({dy}, {dx}) pixels needs images larger than "
                         f"{height}x{width}")
    padded = reflect_padded(images, (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return np.ascontiguousarray(padded[:, top:top + height, left:left + width])


def reflect_padded(images, rows, cols):
    """``images`` (N, H, W[, C]) padded by ``rows`` (top, bottom) and ``cols`` (left,
    right) pixels, each border the image reflected about its edge (NumPy's
    ``"reflect"``)."""
    pad = [(0, 0), rows, cols] + [(0, 0)] * (images.ndim - 3)
    return np.pad(images, pad, mode="reflect")


def _first_layer_geometry(first):
    """``(split, cell_rows, cell_cols)`` of a fitted first layer, or None where its
    encoder has no split products (:func:`~._split_encoder_kernels.mirror_split`) or its
    positions make no :func:`~.second_layer.cell_grid`."""
    height, width, channels = first.image_shape_
    split = _split.mirror_split(first.encoder, first.mirror, first.patch_size, channels,
                                first.whiten_matrix_, first.cluster_centers_)
    n_rows, n_cols = _encoder.grid_shape(height, width, first.patch_size, first.stride)
    try:
        cell_rows, _ = cell_grid(n_rows, first.pooling)
        cell_cols, _ = cell_grid(n_cols, first.pooling)
    except ValueError:
        return None
    return None if split is None else (split, cell_rows, cell_cols)


def cells_move_with_shift(first, shift):
    """Whether copies moved by ``shift`` pixels move a fitted first layer's cells by
    exactly one: the soft threshold with a mirror-closed dictionary (the split
    encoder), stride 1, and cells of ``shift`` patch positions along each axis."""
    if shift < 1 or first.stride != 1:
        return False
    geometry = _first_layer_geometry(first)
    return geometry is not None and all(
        np.all(np.bincount(cells) == shift) for cells in geometry[1:])


class _Workspace:
    """Arrays reused from batch to batch, by name: fresh memory for each batch would be
    paged in again each time, at a cost next to the kernels' own."""

    def __init__(self):
        self.arrays = {}

    def __call__(self, name, shape):
        """A float32 array of ``shape``, the one called ``name`` (grown when too small)."""
        size = int(np.prod(shape))
        array = self.arrays.get(name)
        if array is None or array.size < size:
            array = self.arrays[name] = np.empty(size, np.float32)
        return array[:size].reshape(shape)


#: The axis (1: rows, 2: columns) and the direction (forward: down, right) of each of
#: the :data:`SHIFT_DIRECTIONS`.
_AXES = np.array([1 if dy else 2 for dy, _ in SHIFT_DIRECTIONS], np.int64)
_FORWARDS = np.array([dy > 0 if dy else dx > 0 for dy, dx in SHIFT_DIRECTIONS])


class _Layer:
    """One layer's sums over regions of images (or maps) and how its sums over a
    ``side`` x ``side`` grid of cells (or positions) become its features: the regions of
    each cell, the pyramid's levels, the power."""

    def __init__(self, name, encoding, side, cell_regions, n_regions, pyramid, quadrants,
                 workspace):
        self.name, self.workspace = name, workspace
        (self.patch_size, self.normalize, norm_eps, self.whiten_mean, self.split, threshold,
         power) = encoding
        self.norm_eps, self.threshold, self.power = float(norm_eps), float(threshold), float(power)
        self.k = 2 * self.split[6].shape[1]  # the split's base-atom weights: K / 2 columns
        self.side, self.cell_regions, self.n_regions = int(side), cell_regions, int(n_regions)
        self.pyramid, self.quadrants = bool(pyramid), bool(quadrants)

    def sums(self, images, row_regions, col_regions, name):
        """Raw soft-threshold sums (n, rows * columns * 2, K) float32 of ``images`` (or
        maps) over the regions of ``row_regions`` x ``col_regions``, in the workspace's
        array ``name`` (:func:`~._split_encoder_kernels.encode_batch_region_sums`; call
        it within :func:`~fastsoftmax.features._blas.limit_blas_threads`)."""
        n_cols = int(col_regions.max()) + 1
        out = self.workspace(f"{self.name} {name}",
                             (len(images), (int(row_regions.max()) + 1) * n_cols * 2, self.k))
        _split.encode_batch_region_sums(
            np.ascontiguousarray(images), self.patch_size, 1, self.normalize, self.norm_eps,
            self.whiten_mean, *self.split, self.threshold, np.ascontiguousarray(row_regions),
            np.ascontiguousarray(col_regions), n_cols, _encoder.DEFAULT_TILE, out)
        return out

    def borders(self, copy_of, width, count, regions):
        """The sums over each copy's new border row or column of cells ``(N, 4, count *
        2, K)``: over the ``width`` rows or columns at the new edge of ``copy_of(c)``,
        the array of the copy in direction ``SHIFT_DIRECTIONS[c]``, ``count`` positions
        across the border, ``regions`` along it; the two copies along an axis in one
        call."""
        out = None
        for axis in (1, 2):
            along = [c for c in range(len(SHIFT_DIRECTIONS)) if _AXES[c] == axis]
            strips = np.concatenate([_border(copy_of(c), width, axis, _FORWARDS[c])
                                     for c in along])
            across = np.zeros(count, np.int64)
            rows, cols = (across, regions) if axis == 1 else (regions, across)
            found = self.sums(strips, rows, cols, f"axis {axis}")
            if out is None:
                n = len(strips) // len(along)
                out = self.workspace(f"{self.name} borders",
                                     (n, len(SHIFT_DIRECTIONS)) + found.shape[1:])
            for c, part in zip(along, np.split(found, len(along))):
                out[:, c] = part
        return out

    def finish(self, sums, borders, out, row, at):
        """``out[:, row:row + N, at:]`` := the folded features of the images' ``sums``
        and of their copies (:func:`~._split_encoder_kernels.finish_copies`)."""
        _split.finish_copies(sums, borders, _AXES, _FORWARDS, self.side, self.cell_regions,
                             self.n_regions, self.power, self.pyramid, self.quadrants, out,
                             row, at)

    def maps(self, sums, shape):
        """The even and odd parts of the map (``shape`` + (2, K / 2)) float32 of raw sums
        over cells (:func:`~._split_encoder_kernels.raised_cell_maps`)."""
        n, rows, k = sums.shape
        even, odd = (self.workspace(f"{self.name} {part} {shape}", (n, rows // 2, 2, k // 2))
                     for part in ("even", "odd"))
        _split.raised_cell_maps(sums, self.power, even, odd)
        return even.reshape(shape + (2, k // 2)), odd.reshape(shape + (2, k // 2))


def _border(array, width, axis, forward):
    """The first (``forward``) or last ``width`` rows (``axis`` 1) or columns (2)."""
    index = [slice(None)] * array.ndim
    index[axis] = slice(None, width) if forward else slice(-width, None)
    return array[tuple(index)]


def _moved(whole, border, axis, forward):
    """The copy's array from the image's ``whole`` (axis 1 or 2: rows or columns of
    cells) and the copy's new ``border`` row or column: first when the copy moves
    ``forward`` (down, right), the image's last one dropped; else last."""
    kept = [slice(None)] * whole.ndim
    kept[axis] = slice(None, -1) if forward else slice(1, None)
    parts = [border, whole[tuple(kept)]]
    return np.concatenate(parts if forward else parts[::-1], axis=axis)


def _second_layer(layer, first_layer, workspace):
    """The second layer's features of a batch of images and of their copies, from the
    images' reduced map and codes at every position (see the module docstring): a
    function of the first layer's sums and the copies' borders that writes them."""
    n_cells = first_layer.side
    side = n_cells - NEIGHBOURHOOD + 1
    positions = np.arange(side)
    second = _Layer("second", (NEIGHBOURHOOD, False, 0.0, layer.whiten_mean_,
                               layer.split_weights(), layer.threshold, layer.power),
                    side, _encoder.pooling_regions(side, layer.n_regions), layer.n_regions,
                    True, False, workspace)
    copies = len(SHIFT_DIRECTIONS)

    def encode(sums, borders, out, row, at):
        n, channels = len(sums), layer.n_channels
        reduced = layer.reduce(*first_layer.maps(sums, (n, n_cells, n_cells)),
                               workspace("reduced", (n, n_cells, n_cells, channels)))
        border_maps = workspace("border maps", (n, copies, n_cells, channels))
        layer.reduce(*first_layer.maps(borders.reshape(n * copies, n_cells * 2, -1),
                                       (n, copies, n_cells)), border_maps)

        def copy_of(c):  # the copy's reduced map
            border = np.expand_dims(border_maps[:, c], _AXES[c])
            return _moved(reduced, border, _AXES[c], _FORWARDS[c])

        codes = second.sums(reduced, positions, positions, "codes")
        second.finish(codes, second.borders(copy_of, NEIGHBOURHOOD, 1, positions), out, row,
                      at)

    return encode


def encode_shifted(first, images, shift, progress=None):
    """The features of uint8 ``images`` and of their copies moved by ``shift`` pixels
    in each of the :data:`SHIFT_DIRECTIONS`, borders reflected, by a fitted
    ``KMeansFeatures`` whose cells move with the shift (:func:`cells_move_with_shift`).

    Returns
    -------
    list of 5 ndarrays (N, ``first.n_features_out_``) float32
        The images' features, then the copies' in the order of the directions.
    progress : callable, optional
        ``progress("features", done, 5 * N)`` over the images and their copies.
    """
    split, cell_rows, cell_cols = _first_layer_geometry(first)
    n_cells = int(cell_rows.max()) + 1
    workspace = _Workspace()
    first_layer = _Layer("first", (first.patch_size, True, first.norm_eps, first.whiten_mean_,
                                   split, first.threshold, first.power),
                         n_cells, np.arange(n_cells) // CELLS_PER_REGION, first.pooling,
                         first.pyramid, first.quadrants, workspace)
    layer = getattr(first, "second_layer_", None)
    second = None if layer is None else _second_layer(layer, first_layer, workspace)
    n, copies, n1 = len(images), 1 + len(SHIFT_DIRECTIONS), first_layer_width(first)
    out = aligned_empty((copies, n, first.n_features_out_), np.float32)
    report(progress, "features", 0, copies * n)
    # inside the limit: BLAS threads left spinning by a product here would slow the kernels
    with limit_blas_threads():
        for start in range(0, n, _BATCH):
            part = images[start:start + _BATCH]
            sums = first_layer.sums(part, cell_rows, cell_cols, "cells")
            # a row of cells' patches lie in shift + patch_size - 1 rows of pixels (cells
            # are square: the same regions along rows and columns)
            borders = first_layer.borders(
                lambda c: shift_images(part, *(shift * d for d in SHIFT_DIRECTIONS[c])),
                shift + first.patch_size - 1, shift, cell_cols)
            first_layer.finish(sums, borders, out, start, 0)
            if second is not None:
                second(sums, borders, out, start, n1)
            report(progress, "features", copies * (start + len(part)), copies * n)
    return list(out)
