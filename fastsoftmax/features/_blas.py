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
    from threadpoolctl import ThreadpoolController, threadpool_limits

    global _CONTROLLER
    if not PARALLEL:
        return threadpool_limits(limits=None)
    if _CONTROLLER is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that Numba's np.dot calls)

        # found once: looking the libraries up takes milliseconds, and the encoders
        # enter this context once per batch of images
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


#: The BLAS libraries loaded, found on first use.
_CONTROLLER = None
