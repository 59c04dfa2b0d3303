"""Arrays whose data starts on a cache line: the layout the training kernels read
without a padded copy, made by the feature steps and the pipeline as well as the
softmax layer (plain NumPy)."""
import numpy as np

ALIGNMENT = 64  # bytes: one cache line


def aligned_zeros(shape, dtype):
    """Zero-filled C-contiguous array whose data starts on a cache line."""
    return _aligned(np.zeros, shape, dtype)


def aligned_empty(shape, dtype):
    """Uninitialized C-contiguous array whose data starts on a cache line: features
    made in one (rows of a whole number of cache lines) train without the padded copy
    of :func:`fastsoftmax.softmax._layout.padded_rows`."""
    return _aligned(np.empty, shape, dtype)


def _aligned(allocate, shape, dtype):
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    buffer = allocate(n_bytes + ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGNMENT
    return buffer[offset:offset + n_bytes].view(dtype).reshape(shape)
