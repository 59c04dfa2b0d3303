"""A second layer of learned features on the first layer's codes (Coates & Ng, NIPS
2011), made to commute with the horizontal mirror like the first, so that it too is
folded and needs no mirror image encoded.

The first layer's soft-threshold codes are summed over a grid of cells three times
finer than its pooling grid (9 x 9 cells for a 3 x 3 grid; the regions are sums of
cells) and raised to the first layer's power: a map whose channels are, per polarity,
each base atom's mirror-even part ``(f_b + f_b') / sqrt(2)`` and mirror-odd part
``(f_b - f_b') / sqrt(2)`` with its mirror atom ``b'``
(:func:`~fastsoftmax.features._encoder_kernels.encode_batch_cells`).  In the map of a
mirrored image the columns are reversed and the odd part negated.  PCA reduces the even
and odd parts apart (the odd part uncentred, so that its sign flip is kept) to
``channels / 2`` each.

The second layer treats the reduced map as an image of ``channels`` channels and runs
the first layer's recipe on it: each 3 x 3 neighbourhood whitened (ZCA fitted with the
neighbourhoods' mirror images, columns reversed and odd channels negated, so that it
commutes with that signed mirror), encoded against a spherical k-means dictionary closed
under it (soft threshold, both polarities), summed over the first layer's pooling grid
of the neighbourhood positions and the whole map, raised to the power and folded; the
same kernel as the first layer's, on float values and without per-patch normalization.
Its features, appended after the first layer's, carry a weight below 1 after
standardization (``feature_weights``): a stronger L2 penalty on their classifier
weights, since on their own they overfit.
"""
import numpy as np

from fastsoftmax._shared.aligned import aligned_empty
from fastsoftmax._shared.progress import report
from fastsoftmax.features import _dictionary_kernels as _dictionary
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features._blas import limit_blas_threads
from fastsoftmax.features._mirror import fold_mirror, patch_mirror
from fastsoftmax.features.whitening import zca_whitening
from fastsoftmax.io.fields import float32_arrays

__all__ = ["SecondLayer", "cell_grid", "encode_two_layers", "encode_two_layers_reference"]

#: Cells a pooling region, along each axis.
CELLS_PER_REGION = 3
#: Side of the neighbourhoods of the map the second layer encodes.
NEIGHBOURHOOD = 3
#: Images whose maps fit the channel PCA, and the whitening and dictionary.
PCA_IMAGES = 1000
SAMPLE_IMAGES = 4000
#: Neighbourhoods (before their mirror images are added) the dictionary is learned on.
SAMPLE_NEIGHBOURHOODS = 100_000
#: The whitening's regularization, relative to the largest eigenvalue.
RELATIVE_WHITEN_EPS = 0.01
#: Images per kernel call (a batch's maps take 4 * cells**2 * K floats an image).
_BATCH = 256


def cell_grid(n_positions, n_regions):
    """The cells along an axis of ``n_positions`` patch positions pooled into
    ``n_regions`` regions: ``(cells, cell_regions)``, the cell of each position
    ((n_positions,) int64) and the region of each cell ((n_cells,) int64).

    The cells nest in the regions: cell boundary ``3 r`` falls where region boundary
    ``r`` does, both rounded from ``r * n / R`` the same way
    (:func:`~._encoder_kernels.pooling_regions`).

    Raises
    ------
    ValueError
        If there are fewer positions than cells.
    """
    n_cells = n_regions * CELLS_PER_REGION
    if n_positions < n_cells:
        raise ValueError(f"a second layer needs at least {n_cells} patch positions a side "
                         f"(pooling {n_regions}), got {n_positions}")
    cells = _encoder.pooling_regions(n_positions, n_cells)
    cell_regions = np.arange(n_cells, dtype=np.int64) // CELLS_PER_REGION
    return cells, cell_regions


def map_mirror(n_channels, side=NEIGHBOURHOOD):
    """The signed mirror of a reduced map's ``side`` x ``side`` neighbourhood (row,
    column, channel): ``(permutation, signs)``, ``mirrored = x[permutation] * signs``
    (columns reversed, the odd half of the channels negated)."""
    signs = np.tile(np.r_[np.ones(n_channels // 2), -np.ones(n_channels // 2)], side * side)
    return patch_mirror(side, n_channels), signs.astype(np.float32)


class SecondLayer:
    """The fitted second layer: channel PCA, neighbourhood whitening and dictionary.

    Parameters
    ----------
    n_atoms : int
        Dictionary size (base atoms and their mirror images; even).
    n_channels : int
        Channels of the reduced map (even: half mirror-even, half mirror-odd).
    threshold, power : float
        The soft threshold and the power of the pooled sums.
    n_regions : int
        Pooling grid of the neighbourhood positions (with the whole map's sums).
    """

    def __init__(self, n_atoms, n_channels, threshold, power, n_regions):
        self.n_atoms = n_atoms
        self.n_channels = n_channels
        self.threshold = threshold
        self.power = power
        self.n_regions = n_regions

    @property
    def n_features(self):
        return (self.n_regions ** 2 + 1) * self.n_atoms

    # ---- fit ------------------------------------------------------------------------
    def fit_channels(self, even_maps, odd_maps):
        """The channel PCA from first-layer maps, their even and odd parts
        (n, cells, cells, 2, K / 2) each."""
        half = self.n_channels // 2
        width = even_maps.shape[-1] * 2
        even = even_maps.reshape(-1, width)
        # the products in float32: the components span the leading directions, which
        # float32 sums of the centred cells find as well as float64 ones
        self.even_mean_ = even.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.even_components_ = _top_components(even - self.even_mean_, half)
        self.odd_components_ = _top_components(odd_maps.reshape(-1, width), half)
        return self

    def reduce(self, even_maps, odd_maps, out=None):
        """Reduced maps (n, cells, cells, channels) float32 of first-layer maps' even and
        odd parts (into ``out`` of that shape when given), by
        :func:`~._split_encoder_kernels.reduce_maps`."""
        n, side = even_maps.shape[:2]
        width = even_maps.shape[-1] * 2
        if out is None:
            out = np.empty((n, side, side, self.n_channels), dtype=np.float32)
        with limit_blas_threads():
            _split.reduce_maps(even_maps.reshape(-1, width), odd_maps.reshape(-1, width),
                               self.even_components_, self.odd_components_,
                               self.even_mean_ @ self.even_components_,
                               out.reshape(-1, self.n_channels))
        return out

    def reduce_reference(self, even_maps, odd_maps):
        """Plain NumPy :meth:`reduce`."""
        n, side = even_maps.shape[:2]
        width = even_maps.shape[-1] * 2
        even = (even_maps.reshape(-1, width) - self.even_mean_) @ self.even_components_
        odd = odd_maps.reshape(-1, width) @ self.odd_components_
        return np.hstack([even, odd]).astype(np.float32).reshape(n, side, side, -1)

    def fit_dictionary(self, reduced, max_iter, rng, progress=None):
        """The whitening and the dictionary from reduced maps (n, cells, cells, C)."""
        permutation, signs = map_mirror(self.n_channels)
        positions = reduced.shape[1] - NEIGHBOURHOOD + 1
        count = len(reduced) * positions * positions
        chosen = np.arange(count)
        if count > SAMPLE_NEIGHBOURHOODS:
            chosen = rng.choice(count, SAMPLE_NEIGHBOURHOODS, replace=False)
        # only the chosen neighbourhoods are copied, as (row, column, channel) vectors
        image, row, col = np.unravel_index(chosen, (len(reduced), positions, positions))
        offsets = np.arange(NEIGHBOURHOOD)
        patches = reduced[image[:, None, None], row[:, None, None] + offsets[:, None],
                          col[:, None, None] + offsets]  # (m, 3, 3, C)
        patches = patches.reshape(len(chosen), -1)
        # commutes with the signed mirror exactly (also in float32), as the split
        # encoder requires
        mean, matrix = zca_whitening(patches, RELATIVE_WHITEN_EPS, permutation, signs,
                                     relative_eps=True)
        matrix = matrix.astype(np.float32)
        white = np.empty((2 * len(patches), patches.shape[1]), np.float32)
        np.matmul(patches - mean.astype(np.float32), matrix, out=white[:len(patches)])
        # and their mirror images: columns reversed, odd channels negated (map_mirror)
        side = (NEIGHBOURHOOD, NEIGHBOURHOOD, self.n_channels)
        np.multiply(white[:len(patches)].reshape(-1, *side)[:, :, ::-1], signs.reshape(side),
                    out=white[len(patches):].reshape(-1, *side))
        base, self.n_iter_, _ = _dictionary.spherical_kmeans(
            white, self.n_atoms // 2, max_iter, rng, progress=progress, init="points")
        self.whiten_mean_ = mean.astype(np.float32)
        self.whiten_matrix_ = np.ascontiguousarray(matrix)
        self.atoms_ = np.ascontiguousarray(
            np.concatenate([base, base[:, permutation] * signs]), dtype=np.float32)
        return self

    # ---- transform ------------------------------------------------------------------
    def split_weights(self):
        """The encoder's split products (:func:`~._split_encoder_kernels.mirror_split`)."""
        _, signs = map_mirror(self.n_channels)
        split = _split.mirror_split("soft-threshold", True, NEIGHBOURHOOD, self.n_channels,
                                      self.whiten_matrix_, self.atoms_, signs)
        if split is None:
            raise ValueError("the second layer's whitening does not commute with its mirror")
        return split

    def encode(self, reduced, split, out):
        """``out`` (n, n_features) := the folded features of reduced maps."""
        positions = reduced.shape[1] - NEIGHBOURHOOD + 1
        regions = _encoder.pooling_regions(positions, self.n_regions)
        _split.encode_batch_mirror_split(
            reduced, NEIGHBOURHOOD, 1, False, 0.0, self.whiten_mean_, *split,
            float(self.threshold), float(self.power), True, regions, regions,
            int(self.n_regions), _encoder.DEFAULT_TILE, out)

    # ---- model files ----------------------------------------------------------------
    ARRAYS = ("even_mean_", "even_components_", "odd_components_", "whiten_mean_",
              "whiten_matrix_", "atoms_")

    def to_arrays(self):
        return {name.rstrip("_"): getattr(self, name) for name in self.ARRAYS}

    def set_arrays(self, arrays, first_width):
        """Set the fitted arrays from a model file's, checking their shapes, dtype,
        values and the mirror symmetry first; ``first_width``: the first layer's
        features per cell and part (2 * K / 2).

        Raises
        ------
        ValueError
        """
        half = self.n_channels // 2
        dim = NEIGHBOURHOOD * NEIGHBOURHOOD * self.n_channels
        shapes = {"even_mean": (first_width,), "even_components": (first_width, half),
                  "odd_components": (first_width, half), "whiten_mean": (dim,),
                  "whiten_matrix": (dim, dim), "atoms": (self.n_atoms, dim)}
        for name, value in float32_arrays(arrays, shapes, "second layer: ").items():
            setattr(self, name + "_", value)
        permutation, signs = map_mirror(self.n_channels)
        base = self.n_atoms // 2
        if not np.array_equal(self.atoms_[base:], self.atoms_[:base][:, permutation] * signs):
            raise ValueError("second layer: the second half of 'atoms' must be the mirror "
                             "images of the first")
        self.split_weights()  # refuses a whitening that does not commute with the mirror
        return self


def _top_components(values, n):
    """The ``n`` leading eigenvectors of ``values.T @ values`` (d, n) float32."""
    eigvals, eigvecs = np.linalg.eigh((values.T @ values).astype(np.float64))
    return np.ascontiguousarray(eigvecs[:, ::-1][:, :n], dtype=np.float32)


def first_layer_split(first):
    """A fitted first layer's split products and cell grids for :func:`encode_two_layers`
    (``first``: a fitted ``KMeansFeatures`` with the soft threshold and ``mirror``)."""
    height, width, channels = first.image_shape_
    split = _split.mirror_split("soft-threshold", True, first.patch_size, channels,
                                  first.whiten_matrix_, first.cluster_centers_)
    if split is None:
        raise ValueError("a second layer needs a first-layer whitening that commutes with "
                         "the mirror")
    n_rows, n_cols = _encoder.grid_shape(height, width, first.patch_size, first.stride)
    cell_rows, cell_regions = cell_grid(n_rows, first.pooling)
    cell_cols, _ = cell_grid(n_cols, first.pooling)
    return split, cell_rows, cell_cols, cell_regions


def first_layer_width(first):
    """Features of the first layer alone: its pooled regions (R * R + pyramid + 4
    quadrants) * 2 polarities * K / 2."""
    regions = sum(count for _, count in first.pyramid_levels())
    return regions * first.cluster_centers_.shape[0]


def first_layer_maps(first, images, geometry, features=None, maps=None):
    """The first layer's folded features (into ``features`` when given) and its maps'
    even and odd parts (n, cells, cells, 2, K / 2) float32 (into the pair ``maps`` when
    given) of a batch of uint8 images."""
    split, cell_rows, cell_cols, cell_regions = geometry
    if features is None:
        features = np.empty((len(images), first_layer_width(first)), np.float32)
    if maps is None:
        maps = map_buffers(first, len(images), len(cell_regions))
    even_maps, odd_maps = (part[:len(images)] for part in maps)
    # inside the limit: BLAS threads left spinning by a product here would slow the kernel
    with limit_blas_threads():
        _split.encode_batch_cells(
            np.ascontiguousarray(images), first.patch_size, first.stride,
            float(first.norm_eps), first.whiten_mean_, *split, float(first.threshold),
            float(first.power), bool(first.pyramid), bool(first.quadrants), cell_rows, cell_cols,
            len(cell_regions), cell_regions, int(first.pooling), _encoder.DEFAULT_TILE,
            features, even_maps, odd_maps)
    return features, even_maps, odd_maps


def map_buffers(first, n_images, n_cells):
    """Buffers for the even and odd parts of ``n_images`` first-layer maps."""
    shape = (n_images, n_cells, n_cells, 2, first.cluster_centers_.shape[0] // 2)
    return np.empty(shape, np.float32), np.empty(shape, np.float32)


def fit_second_layer(first, images, n_atoms, n_channels, max_iter, rng, progress=None):
    """A :class:`SecondLayer` fitted on the maps of a sample of ``images`` (uint8) by the
    fitted first layer ``first``."""
    report(progress, "dictionary", 0, max_iter)  # the maps of the sample come first
    layer = SecondLayer(n_atoms, n_channels, first.threshold, first.power, first.pooling)
    sample = rng.choice(len(images), min(SAMPLE_IMAGES, len(images)), replace=False)
    geometry = first_layer_split(first)
    n_cells = len(geometry[3])
    # the channel PCA's images: the first whole batches of the sample, their maps kept
    n_pca = min(len(sample), -(-min(PCA_IMAGES, len(sample)) // _BATCH) * _BATCH)
    pca_maps = map_buffers(first, n_pca, n_cells)
    for start in range(0, n_pca, _BATCH):
        first_layer_maps(first, images[sample[start:start + _BATCH]], geometry,
                         maps=[part[start:start + _BATCH] for part in pca_maps])
    layer.fit_channels(*pca_maps)
    reduced = np.empty((len(sample), n_cells, n_cells, n_channels), np.float32)
    layer.reduce(*pca_maps, reduced[:n_pca])  # reduced as they are, not encoded again
    del pca_maps
    maps = map_buffers(first, _BATCH, n_cells)
    for start in range(n_pca, len(sample), _BATCH):
        stop = min(start + _BATCH, len(sample))
        _, even_maps, odd_maps = first_layer_maps(first, images[sample[start:stop]], geometry,
                                                  maps=maps)
        layer.reduce(even_maps, odd_maps, reduced[start:stop])
    return layer.fit_dictionary(reduced, max_iter, rng, progress)


def encode_two_layers(first, layer, images, progress=None):
    """Both layers' features of uint8 images: (N, first + second layer's) float32,
    the first layer's features first."""
    n1 = first_layer_width(first)
    out = aligned_empty((len(images), n1 + layer.n_features), np.float32)
    report(progress, "features", 0, len(images))
    geometry = first_layer_split(first)
    split = layer.split_weights()
    # the batches share their buffers: fresh memory for every batch's maps would be
    # paged in again each time
    batch = min(_BATCH, len(images))
    n_cells = len(geometry[3])
    first_part = np.empty((batch, n1), np.float32)
    maps = map_buffers(first, batch, n_cells)
    reduced = np.empty((batch, n_cells, n_cells, layer.n_channels), np.float32)
    second_part = np.empty((batch, layer.n_features), np.float32)
    for start in range(0, len(images), _BATCH):
        stop = min(start + _BATCH, len(images))
        m = stop - start
        _, even_maps, odd_maps = first_layer_maps(first, images[start:stop], geometry,
                                                  first_part[:m], maps)
        out[start:stop, :n1] = first_part[:m]
        layer.reduce(even_maps, odd_maps, reduced[:m])
        with limit_blas_threads():
            layer.encode(reduced[:m], split, second_part[:m])
        out[start:stop, n1:] = second_part[:m]
        report(progress, "features", stop, len(images))
    return out


def encode_two_layers_reference(first, layer, images, dtype=np.float64):
    """Plain NumPy :func:`encode_two_layers`, for the tests and the benchmark: the first
    layer's cells by :func:`~._encoder_kernels.encode_reference`, added into regions,
    raised and folded; the map's even and odd parts reduced by
    :meth:`SecondLayer.reduce_reference`;
    the second layer by ``encode_reference`` on the reduced maps."""
    height, width, _ = first.image_shape_
    n_rows, n_cols = _encoder.grid_shape(height, width, first.patch_size, first.stride)
    if n_rows != n_cols:
        raise ValueError("the reference takes square grids of patch positions")
    n_cells = first.pooling * CELLS_PER_REGION
    k = first.cluster_centers_.shape[0]
    cells = _encoder.encode_reference(
        images, first.patch_size, first.stride, first.norm_eps, first.whiten_mean_,
        first.whiten_matrix_, first.cluster_centers_, dtype=dtype, encoder="soft-threshold",
        threshold=first.threshold, n_regions=n_cells).astype(np.float64)
    cells = cells.reshape(len(images), n_cells, n_cells, 2, k)
    reduced = layer.reduce_reference(*cell_maps(first, cells))
    second = _encoder.encode_reference(
        reduced, NEIGHBOURHOOD, 1, 0.0, layer.whiten_mean_, layer.whiten_matrix_, layer.atoms_,
        dtype=dtype, encoder="soft-threshold", threshold=layer.threshold,
        n_regions=layer.n_regions, pyramid=True, power=layer.power, mirror=True,
        normalize=False)
    return np.hstack([first_layer_from_cells(first, cells), second])


def first_layer_from_cells(first, cells):
    """The first layer's folded features (n, :func:`first_layer_width`) float32 from its
    sums over the cells of :func:`cell_grid` (n, cells, cells, 2, K) float64 (raw: no
    power): the regions' sums (each the sum of its 3 x 3 cells), with ``pyramid`` the
    whole image's, with ``quadrants`` the quadrants' (:func:`~._split_encoder_kernels.
    quadrant_cells`), each raised to the power and folded."""
    n, n_cells = cells.shape[:2]
    k = cells.shape[-1]
    n_regions = n_cells // CELLS_PER_REGION
    regions = cells.reshape(n, n_regions, CELLS_PER_REGION, n_regions, CELLS_PER_REGION,
                            2, k).sum(axis=(2, 4))
    levels = [(n_regions, regions)] + ([(1, regions.sum(axis=(1, 2)))] if first.pyramid else [])
    if first.quadrants:
        halves = _split.quadrant_cells(n_cells)
        levels.append((2, np.stack([
            np.stack([cells[:, rows][:, :, cols].sum(axis=(1, 2)) for cols in halves], axis=1)
            for rows in halves], axis=1)))
    return np.hstack([fold_mirror((level ** first.power).reshape(n, -1).astype(np.float32),
                                  side, 2, k) for side, level in levels])


def cell_maps(first, cells):
    """The even and odd parts (n, cells, cells, 2, K / 2) float32 of the map a second
    layer encodes, from the first layer's raw sums over cells (any number of rows and
    columns of cells)."""
    raised = cells ** first.power
    n_base = cells.shape[-1] // 2
    scale = 1.0 / np.sqrt(2.0)
    even = ((raised[..., :n_base] + raised[..., n_base:]) * scale).astype(np.float32)
    odd = ((raised[..., :n_base] - raised[..., n_base:]) * scale).astype(np.float32)
    return even, odd
