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
    what the package expects (:mod:`fastsoftmax._shared.jit`); ``1`` takes the fallback
    everywhere: Numba's standard cache and plain loops instead of the LLVM IR loops.

Each takes ``1``/``0``, ``true``/``false``, ``yes``/``no`` or ``on``/``off`` (any case);
unset or empty means the default; anything else is refused (``ValueError``), never
read as on.  ``NUMBA_NUM_THREADS``, which is Numba's, is checked here too
(:func:`check_environment`): Numba starts that many threads at the first parallel
kernel, and reads a value it cannot parse as a warning with a traceback.

The on-disk cache is kept apart per combination of these flags (``CACHE_TAG``):
Numba's own cache key has the signature, the CPU and the source, not the flags.
Kernels are decorated with :func:`fastsoftmax._shared.jit.jit` and one of the option sets
below; nothing is hard-coded per kernel.
"""
import os

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: The flags this module reads, with their defaults.
FLAGS = {"FASTSOFTMAX_FASTMATH": True, "FASTSOFTMAX_PARALLEL": True, "FASTSOFTMAX_CACHE": True,
         "FASTSOFTMAX_NUMBA_FALLBACK": False}
#: ``NUMBA_NUM_THREADS`` may ask for at most this many threads per CPU: Numba starts all
#: of them (each with its stack and work buffers) at the first parallel kernel, so a huge
#: value crashes the process or exhausts memory, and more threads than a few per CPU
#: only wait on each other.
MAX_THREADS_PER_CPU = 4


def _flag(name, default, environ=None):
    raw = (os.environ if environ is None else environ).get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"${name}={raw!r} is not a flag: use 1 or 0 (true/false, yes/no, on/off)")


def max_threads():
    """The most threads ``NUMBA_NUM_THREADS`` may ask for: :data:`MAX_THREADS_PER_CPU`
    times the CPUs (``os.cpu_count()``)."""
    return MAX_THREADS_PER_CPU * (os.cpu_count() or 1)


def check_environment(environ=None):
    """Check the environment variables fastsoftmax reads at import, before Numba reads them.

    Parameters
    ----------
    environ : mapping, optional
        Default ``os.environ``.

    Raises
    ------
    ValueError
        A flag of :data:`FLAGS` that is not a flag, or ``NUMBA_NUM_THREADS`` that is
        not an integer from 1 to :func:`max_threads`; the message names the variable
        and its value.
    """
    environ = os.environ if environ is None else environ
    for name, default in FLAGS.items():
        _flag(name, default, environ)
    raw = environ.get("NUMBA_NUM_THREADS")
    if raw is None:
        return
    text = raw.strip()  # what Numba's int() also accepts
    limit = max_threads()
    if (not (text.isascii() and text.isdigit()) or len(text) > len(str(limit))
            or not 1 <= int(text) <= limit):
        raise ValueError(f"$NUMBA_NUM_THREADS={raw!r} is not a number of threads: use an "
                         f"integer from 1 to {limit:,} ({MAX_THREADS_PER_CPU} per CPU), or "
                         "unset it to use every CPU")


check_environment()
FASTMATH = (
    {"nsz", "arcp", "contract", "afn", "reassoc"} if _flag("FASTSOFTMAX_FASTMATH", True) else False
)
PARALLEL = _flag("FASTSOFTMAX_PARALLEL", True)
CACHE = _flag("FASTSOFTMAX_CACHE", True)
NUMBA_FALLBACK = _flag("FASTSOFTMAX_NUMBA_FALLBACK", False)

#: Names the flags a kernel was compiled with: the cache folder of this combination.
CACHE_TAG = f"fastmath{int(bool(FASTMATH))}-parallel{int(PARALLEL)}"

#: Whether every flag has its default: the one combination that Numba's standard cache
#: (the fallback of :mod:`fastsoftmax._shared.jit`, whose key has no flags) keeps.
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
