"""Compile the kernels that the commands use, into the package's on-disk cache.

Run by the wheel build (``setup.py``'s ``build_py``) with the built package first on
``sys.path``, so that the cache lands beside the modules that will be installed
(:mod:`fastsoftmax._jit` says where and how entries are validated)::

    python -m fastsoftmax._precompile            # every group, one process each
    python -m fastsoftmax._precompile training   # one group

Each group calls the kernels through the same Python entry points as the commands,
on tiny inputs, so the compiled signatures are exactly the ones a run asks for.  Only
``numpy`` and ``numba`` are needed (the build requirements).  The groups compile in
parallel processes: they share no kernel.
"""
import logging
import subprocess
import sys
import time

import numpy as np


def _training():
    """The SGD loop (``train``, ``sweep``, ``study``) and one-batch loss + gradient
    (``gradcheck``), float32 and float64; the float32 loop with sample weights."""
    from .softmax import _numba

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
    from .features import hog, min_max_scale, rgb2gray

    gray = min_max_scale(np.zeros((2, 8, 8), np.uint8), dtype=np.float32)
    hog(gray, pixels_per_cell=(2, 2), dtype=np.float32)
    colour = np.zeros((2, 32, 32, 3), np.uint8)
    hog(rgb2gray(colour, dtype=np.float32), dtype=np.float32)
    rgb2gray(colour[:1], dtype=np.float64)


GROUPS = {"training": _training, "features": _features}


def main(argv):
    names = argv or list(GROUPS)
    unknown = set(names) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown group(s) {sorted(unknown)}; known: {sorted(GROUPS)}")
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
