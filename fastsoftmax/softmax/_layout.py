"""Memory layout for the Numba kernels: cache-line-aligned, zero-padded rows and the
per-call buffers (plain NumPy, nothing compiled here)."""
import numpy as np

# in _shared, below the feature steps that allocate training input too; re-exported
from fastsoftmax._shared.aligned import ALIGNMENT, aligned_empty, aligned_zeros  # noqa: F401

PARALLEL_MIN_WORK = 2_000_000  # multiply-adds per update below which one thread does it


def padded_width(n_features, dtype):
    """``n_features`` rounded up to a whole number of cache lines of ``dtype``."""
    per_line = ALIGNMENT // np.dtype(dtype).itemsize
    return -(-n_features // per_line) * per_line


def padded_rows(array, width=None):
    """``array`` (2-D) with each row zero-padded to ``width`` and starting on a cache line.

    The kernels' vector loads are faster on rows that start on a cache line
    (an unaligned 64-byte load touches two lines), and rows whose length is a whole
    number of lines need no scalar tail.  Zero columns change no score, get a zero
    gradient, and so stay zero under every update and penalty.  ``array`` itself is
    returned when it already has that layout.
    """
    width = padded_width(array.shape[1], array.dtype) if width is None else width
    if (array.shape[1] == width and array.flags.c_contiguous
            and array.ctypes.data % ALIGNMENT == 0):
        return array
    out = aligned_zeros((array.shape[0], width), array.dtype)
    out[:, :array.shape[1]] = array
    return out


def make_workspace(n_classes, n_features, dtype, n_parts):
    """Buffers for ``n_parts`` parts of a minibatch: one gradient slice (rows on cache
    lines when ``n_features`` is a :func:`padded_width`), intercept gradient and loss
    per part."""
    return (
        aligned_zeros((n_parts, n_classes, n_features), dtype),
        np.zeros((n_parts, n_classes), dtype=dtype),
        np.zeros(n_parts, dtype=np.float64),
    )


def runs_parallel(batch_size, n_features, n_classes):
    """Whether a minibatch is worth waking the thread pool for (``PARALLEL_MIN_WORK``).

    Decided by the work alone, so that a run takes the same path with any thread count.
    """
    return 2 * batch_size * n_features * n_classes >= PARALLEL_MIN_WORK
