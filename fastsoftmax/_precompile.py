"""Compile the kernels that the commands use, into the package's on-disk cache.

Run by the wheel build (``setup.py``'s ``build_py``) with the built package first on
``sys.path``, so that the cache lands beside the modules that will be installed
(:mod:`fastsoftmax._shared.jit` says where and how entries are validated)::

    python -m fastsoftmax._precompile            # every group, one process each
    python -m fastsoftmax._precompile training   # one group

Each group calls the kernels through the same Python entry points as the commands,
on tiny inputs, so the compiled signatures are exactly the ones a run asks for.  Only
``numpy``, ``numba`` and ``scipy`` (whose BLAS Numba's ``np.dot`` calls) are needed (the
build requirements): nothing here imports scikit-learn.  The groups compile in parallel
processes: they share no kernel.  Where the package's kernel cache is not used
(:data:`fastsoftmax._shared.jit.CACHE_FALLBACK`: a Numba whose internals differ), nothing
is compiled ahead: the kernels then compile on first use, into Numba's standard cache.

Each group imports its kernel modules when it runs, not at the top: importing one sets
up its kernels' cache (Numba makes the cache folder as it decorates them), which the
fallback must not do, and each group's process loads only the kernels it compiles.
"""
import logging
import subprocess
import sys
import time

import numpy as np

from fastsoftmax._shared import jit as _jit


def _training():
    """The SGD loop (``train``, ``sweep``, ``study``) and one-batch loss + gradient
    (``gradcheck``), float32 and float64; the float32 loop with sample weights."""
    # imported here, not at the top: see the module docstring
    from fastsoftmax.softmax import _numba

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = rng.standard_normal((64, 20)).astype(dtype)
        y = rng.integers(0, 3, 64).astype(np.int64)
        coef, intercept = np.zeros((3, 20), dtype), np.zeros(3, dtype)
        indices = np.arange(64, dtype=np.int64)
        starts = np.array([0, 32, 64], dtype=np.int64)
        _numba.sgd(_numba.training_input(X), y, coef, intercept, np.zeros_like(coef),
                   np.zeros_like(intercept), indices, starts, np.full(2, 0.01), 0.0, 1e-3,
                   True, 0.9)
        _numba.minibatch_loss_grad(coef, intercept, X, y, 0.0, 1e-3)
    # the weighted kernel of ``train --class-weight balanced`` (float32, its dtype)
    _numba.sgd(_numba.training_input(X.astype(np.float32)), y, np.zeros((3, 20), np.float32),
               np.zeros(3, np.float32), np.zeros((3, 20), np.float32), np.zeros(3, np.float32),
               indices, starts, np.full(2, 0.01), 0.0, 1e-3, True, 0.9, np.linspace(0.5, 2, 64))


def _features():
    """Scaling, grayscale and HOG as the pipeline computes them: uint8 grayscale
    (digits, image folders) and colour (CIFAR-10) images into float32 features, and
    the float64 grayscale conversion ``predict`` uses to resize a colour image."""
    # imported here, not at the top: see the module docstring
    from fastsoftmax.features import hog, min_max_scale, rgb2gray

    gray = min_max_scale(np.zeros((2, 8, 8), np.uint8), dtype=np.float32)
    hog(gray, pixels_per_cell=(2, 2), dtype=np.float32)
    colour = np.zeros((2, 32, 32, 3), np.uint8)
    hog(rgb2gray(colour, dtype=np.float32), dtype=np.float32)
    rgb2gray(colour[:1], dtype=np.float64)


def _kmeans():
    """Learned features (``--features kmeans``): the k-means assignment and update of
    ``fit``, and the encoder of ``transform`` on uint8 (N, H, W, C) images, with the
    arguments :func:`fastsoftmax.features.encoding.encode` passes (BLAS threads are not
    limited here: the inputs are tiny)."""
    # imported here, not at the top: see the module docstring
    from fastsoftmax.features import _dictionary_kernels as _dictionary
    from fastsoftmax.features import _encoder_kernels as _encoder
    from fastsoftmax.features import _split_encoder_kernels as _split

    rng = np.random.default_rng(0)
    points = rng.standard_normal((40, 12)).astype(np.float32)
    centers = points[:4]
    labels, sqdist = np.empty(40, np.int64), np.empty(40, np.float64)
    _dictionary.assign(points, np.ascontiguousarray(centers.T),
                       np.einsum("kd,kd->k", centers, centers), labels, sqdist)
    _dictionary.accumulate(points, labels, np.empty(0), np.empty(0, np.int64),
                           np.empty((4, 12)), np.empty(4, np.int64))
    values = np.empty(40, np.float64)
    _dictionary.assign_spherical(points, np.ascontiguousarray(centers.T), labels, values)
    _dictionary.accumulate(points, labels, values, np.arange(12, dtype=np.int64),
                           np.empty((2, 12)), np.empty(2, np.int64))
    images = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    dim = 2 * 2 * 3
    whiten = np.eye(dim, dtype=np.float32)
    centroids = rng.standard_normal((4, dim)).astype(np.float32)
    out = np.empty((2, 72), np.float32)
    for encoder, n_regions in ((_encoder.TRIANGLE, 2), (_encoder.SOFT_THRESHOLD, 3)):
        regions = _encoder.pooling_regions(7, n_regions)
        _encoder.encode_batch(images[0:2], 2, 1, 10.0, np.zeros(dim, np.float32), whiten,
                              np.ascontiguousarray(centroids.T),
                              np.einsum("kd,kd->k", centroids, centroids), encoder, 0.25,
                              regions, regions, n_regions, _encoder.DEFAULT_TILE, out[0:2])
    # the soft threshold with a mirror-closed dictionary (the command line's default)
    mirror = np.arange(dim).reshape(2, 2, 3)[:, ::-1].ravel()
    atoms = np.concatenate([centroids, centroids[:, mirror]])
    split = _split.mirror_split_weights(whiten, atoms, mirror)
    regions = _encoder.pooling_regions(7, 3)
    _split.encode_batch_mirror_split(images[0:2], 2, 1, True, 10.0, np.zeros(dim, np.float32),
                                     *split, 0.25, 0.5, True, regions, regions, 3,
                                     _encoder.DEFAULT_TILE, np.empty((2, 40), np.float32))
    # a second layer (--second-layer): the first layer's cells and maps (7 positions in 3
    # cells of one region), then the split encoder on float32 maps, not normalized
    cells = _encoder.pooling_regions(7, 3)
    even_maps = np.empty((2, 3, 3, 2, 4), np.float32)
    _split.encode_batch_cells(images[0:2], 2, 1, 10.0, np.zeros(dim, np.float32), *split,
                              0.25, 0.5, True, True, cells, cells, 3, np.zeros(3, np.int64), 1,
                              _encoder.DEFAULT_TILE, np.empty((2, 48), np.float32), even_maps,
                              np.empty_like(even_maps))
    # the shifted copies predicted from (features.shifted_copies): raw sums over cells
    # and over a strip, moved and finished, the map of the cells
    sums = np.empty((2, 3 * 3 * 2, 8), np.float32)
    _split.encode_batch_region_sums(images[0:2], 2, 1, True, 10.0, np.zeros(dim, np.float32),
                                    *split, 0.25, cells, cells, 3, _encoder.DEFAULT_TILE, sums)
    borders = np.zeros((2, 4, 3 * 2, 8), np.float32)
    _split.finish_copies(sums, borders, np.array([1, 1, 2, 2]),
                         np.array([True, False, True, False]), 3, np.zeros(3, np.int64), 1, 0.5,
                         True, True, np.empty((5, 2, 48), np.float32), 0, 0)
    _split.raised_cell_maps(sums, 0.5, even_maps.reshape(2, 9, 2, 4),
                            np.empty_like(even_maps).reshape(2, 9, 2, 4))
    components = np.zeros((8, 8), np.float32)
    reduced = np.empty((2, 3, 3, 16), np.float32)
    _split.reduce_maps(even_maps.reshape(-1, 8), even_maps.reshape(-1, 8), components,
                       components, np.zeros(8, np.float32), reduced.reshape(-1, 16))
    signs = np.tile(np.r_[np.ones(8), -np.ones(8)], 4).astype(np.float32)
    layer_mirror = np.arange(64).reshape(2, 2, 16)[:, ::-1].ravel()
    layer_atoms = rng.standard_normal((2, 64)).astype(np.float32)
    layer_atoms = np.concatenate([layer_atoms, layer_atoms[:, layer_mirror] * signs])
    split = _split.mirror_split_weights(np.eye(64, dtype=np.float32), layer_atoms,
                                        layer_mirror, signs)
    regions = _encoder.pooling_regions(2, 1)
    _split.encode_batch_mirror_split(reduced, 2, 1, False, 0.0, np.zeros(64, np.float32),
                                     *split, 0.25, 0.5, True, regions, regions, 1,
                                     _encoder.DEFAULT_TILE, np.empty((2, 8), np.float32))
    _split.encode_batch_region_sums(reduced, 2, 1, False, 0.0, np.zeros(64, np.float32),
                                    *split, 0.25, regions, regions, 1, _encoder.DEFAULT_TILE,
                                    np.empty((2, 2, 4), np.float32))


GROUPS = {"training": _training, "features": _features, "kmeans": _kmeans}


def main(argv):
    names = argv or list(GROUPS)
    unknown = set(names) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown group(s) {sorted(unknown)}; known: {sorted(GROUPS)}")
    if _jit.CACHE_FALLBACK is not None:
        print("fastsoftmax: no kernels compiled ahead: they compile on first use "
              f"({_jit.CACHE_FALLBACK})", file=sys.stderr)
        return 0
    if len(names) == 1:
        logging.getLogger("fastsoftmax").setLevel(logging.ERROR)  # no "compiling ..." notices
        start = time.perf_counter()
        GROUPS[names[0]]()
        print(f"fastsoftmax: compiled the {names[0]} kernels in "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
        return 0
    children = [subprocess.Popen([sys.executable, "-m", "fastsoftmax._precompile", name])
                for name in names]
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
