"""Numba settings shared by every kernel of the package (one place, as STUMPY's ``config``).

Environment variables, read once at import:

``FASTSOFTMAX_FASTMATH``
    ``1`` (default) lets LLVM reassociate and contract floating-point sums so loops
    vectorize.  NaN/inf semantics are kept (no ``nnan``/``ninf`` flags), so the
    non-finite guards keep working.  ``0`` turns it off.
``FASTSOFTMAX_PARALLEL``
    ``1`` (default) compiles kernels with ``parallel=True``; ``0`` compiles them serially.
``FASTSOFTMAX_CACHE``
    ``1`` (default) caches compiled kernels on disk so they compile once per install.
``FASTSOFTMAX_NUMBA_FALLBACK``
    ``0`` (default) uses the fast paths that reach into Numba's internals where they are
    what the package expects (:mod:`fastsoftmax._jit`); ``1`` takes the fallback
    everywhere: Numba's standard cache and plain loops instead of the LLVM IR loops.

The on-disk cache is kept apart per combination of these flags (``CACHE_TAG``):
Numba's own cache key has the signature, the CPU and the source, not the flags.
Kernels are decorated with :func:`fastsoftmax._jit.jit` and one of the option sets
below; nothing is hard-coded per kernel.
"""
import os


def _flag(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


FASTMATH = (
    {"nsz", "arcp", "contract", "afn", "reassoc"} if _flag("FASTSOFTMAX_FASTMATH", True) else False
)
PARALLEL = _flag("FASTSOFTMAX_PARALLEL", True)
CACHE = _flag("FASTSOFTMAX_CACHE", True)
NUMBA_FALLBACK = _flag("FASTSOFTMAX_NUMBA_FALLBACK", False)

#: Names the flags a kernel was compiled with: the cache folder of this combination.
CACHE_TAG = f"fastmath{int(bool(FASTMATH))}-parallel{int(PARALLEL)}"

#: Whether every flag has its default: the one combination that Numba's standard cache
#: (the fallback of :mod:`fastsoftmax._jit`, whose key has no flags) keeps.
DEFAULT_FLAGS = bool(FASTMATH) and PARALLEL

#: Options for serial kernels.
JIT_OPTIONS = {"nogil": True, "cache": CACHE, "fastmath": FASTMATH}
#: Options for helpers that must keep IEEE semantics inside fast-math kernels (NaN tests).
EXACT_JIT_OPTIONS = {**JIT_OPTIONS, "fastmath": False}
#: Options for ``@overload`` implementations: they are compiled into each calling
#: kernel, whose cache entry is kept apart by the flags; a cache of their own would not be.
OVERLOAD_JIT_OPTIONS = {**JIT_OPTIONS, "cache": False}
#: Options for kernels that use ``prange``.
PARALLEL_JIT_OPTIONS = {**JIT_OPTIONS, "parallel": PARALLEL}
