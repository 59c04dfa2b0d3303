"""BLAS threads around the Numba kernels that call sgemm from every thread."""
from fastsoftmax._shared.config import PARALLEL


def limit_blas_threads():
    """A context in which BLAS runs single-threaded (when the kernels run in parallel).

    Each ``prange`` thread calls sgemm on its own tile; a multi-threaded BLAS inside
    them would oversubscribe the cores.  Numba calls SciPy's BLAS, which is loaded
    here first so that the limit reaches it.
    """
    # Imported here, not at the top: the wheel build imports the kernel modules to
    # compile them, with only numpy, numba and scipy installed (no threadpoolctl).
    from threadpoolctl import threadpool_limits

    if not PARALLEL:
        return threadpool_limits(limits=None)
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that Numba's np.dot calls)

    return threadpool_limits(limits=1, user_api="blas")
