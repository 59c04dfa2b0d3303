"""How every kernel is compiled: one decorator, an on-disk cache kept apart by the
flags, and a notice before a compile starts.

``jit(options)`` is ``numba.njit(**options)`` with the options of
:mod:`fastsoftmax._config`, and, when ``options["cache"]`` is set, an on-disk cache in
``fastsoftmax/_kernel_cache/<CACHE_TAG>/<subpackage>/`` beside the installed modules
(or under ``$NUMBA_CACHE_DIR/<CACHE_TAG>/`` when that is set).  Numba validates an
entry by the sha256 of the kernel's source file (and of the files it declares with
:func:`compiled_from`), the Numba version and the CPU (name and features); the folder
adds the fast-math and parallel flags, which Numba's key lacks.  Anything that does not
match is a miss, and a miss compiles: never a wrong kernel.  With parallel kernels on,
an entry loads only after Numba's threading layer has started, since a kernel holds the
code of the parallel kernels it calls (``_KernelCacheImpl.rebuild``).  A package folder
that cannot be written falls back to Numba's user-wide cache folder (then nothing
shipped with the package is used).

The wheel build compiles the kernels that the commands use into that folder
(:mod:`fastsoftmax._precompile`), so a fresh install on the machine that built it
starts without compiling.  Where a compile cannot be avoided (another CPU, another
Numba, other flags, a dtype not built ahead), a warning on the ``fastsoftmax`` logger
says so before it starts.
"""
import contextlib
import hashlib
import logging
import os
import sys

import numba
from numba import types
from numba.core import caching, event

from . import _config

log = logging.getLogger("fastsoftmax")


def _caching_class(name):
    """A class of ``numba.core.caching`` (older Numba releases prefix the names with ``_``)."""
    return getattr(caching, name, None) or getattr(caching, "_" + name)


_InTree = _caching_class("InTreeCacheLocator")
_UserProvided = _caching_class("UserProvidedCacheLocator")
_UserWide = _caching_class("UserWideCacheLocator")

PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
CACHE_FOLDER = "_kernel_cache"


def cache_root():
    """The in-package cache folder for this process's flags."""
    return os.path.join(PACKAGE_ROOT, CACHE_FOLDER, _config.CACHE_TAG)


def _subpackage(py_file):
    """``py_file``'s folder relative to the package root (``softmax``, ``features``)."""
    return os.path.relpath(os.path.dirname(os.path.abspath(py_file)), PACKAGE_ROOT)


#: kernel source file -> the other source files whose code its kernels compile in
_COMPILED_FROM = {}


def compiled_from(py_file, *others):
    """Declare that the kernels of ``py_file`` compile in code defined in ``others``
    (``@intrinsic`` code generators, say), so that an edit to any of them is a cache miss.

    Numba stamps an entry with its own source file only; a callee in another file could
    change under a cached kernel unnoticed.  Call this before the first kernel of
    ``py_file`` is decorated.
    """
    _COMPILED_FROM[os.path.abspath(py_file)] = tuple(os.path.abspath(o) for o in others)


class _StampsDependencies:
    """A locator mixin: an entry is stamped with the sha256 of its source file and of the
    files declared by :func:`compiled_from`.

    Numba before 0.68 stamps it with the file's modification time and size, and
    installing a wheel gives every file a new modification time, so none of the kernels
    the wheel ships would match.
    """

    def get_source_stamp(self):
        if getattr(sys, "frozen", False):
            return super().get_source_stamp()
        digest = hashlib.sha256()
        for path in (self._py_file, *_COMPILED_FROM.get(os.path.abspath(self._py_file), ())):
            with open(path, "rb") as f:
                digest.update(f.read())
        return digest.hexdigest()


class _InPackageLocator(_StampsDependencies, _InTree):
    """``fastsoftmax/_kernel_cache/<tag>/<subpackage>``: where the wheel ships its cache."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.normpath(os.path.join(cache_root(), _subpackage(py_file)))

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.abspath(py_file).startswith(PACKAGE_ROOT + os.sep):
            return None
        return super().from_function(py_func, py_file)  # None when it cannot be written


class _UserDirLocator(_StampsDependencies, _UserProvided):
    """``$NUMBA_CACHE_DIR/<tag>/...`` when the user set ``NUMBA_CACHE_DIR``."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(numba.config.CACHE_DIR, _config.CACHE_TAG,
                                        self.get_suitable_cache_subpath(py_file))


class _UserWideLocator(_StampsDependencies, _UserWide):
    """Numba's user-wide cache folder, per tag: for a read-only installation."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(os.path.dirname(self._cache_path), _config.CACHE_TAG,
                                        os.path.basename(self._cache_path))


def _launch_parallel_runtime():
    """Start Numba's threading layer, which registers the symbols parallel code calls
    (``numba_parallel_for``, ``get_num_threads``, ...) with the JIT linker."""
    from numba.np.ufunc.parallel import _launch_threads

    _launch_threads()


class _KernelCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [_UserDirLocator, _InPackageLocator, _UserWideLocator]

    def rebuild(self, target_context, payload):
        # A cached kernel's machine code holds the code of every kernel it calls.  When one
        # of them is parallel, the JIT linker must know the threading layer's symbols
        # before the entry is loaded: one missing symbol leaves *every* external call of
        # the entry unlinked (address 0), and the first call kills the interpreter.
        # Numba starts the layer from the entry's ``reload_init``, but a library loaded
        # from the cache starts with an empty list, so a serial kernel compiled over a
        # cached parallel one was saved without it (numba#8578, numba#9950).  Hence the
        # layer is started before any entry loads, whatever its list says (entries saved
        # without it stay safe), and a loaded library gets its entry's list back, so that
        # a kernel compiled over it inherits the list and saves it, as over a fresh one.
        if _config.PARALLEL:
            _launch_parallel_runtime()
        result = super().rebuild(target_context, payload)
        reload_init = getattr(result.library, "_reload_init", None)
        if reload_init is not None:
            reload_init.update(result.reload_init)
        return result


class KernelCache(caching.FunctionCache):
    """Numba's function cache, in the folder of the flags the kernel is compiled with;
    saves are serialized between processes (:func:`save_lock`)."""

    _impl_class = _KernelCacheImpl

    def save_overload(self, sig, data):
        # Numba numbers a new data file from the index it has just read: two processes
        # saving two signatures of one kernel at once could both take number 1, leaving
        # an index entry that points at the other signature's machine code.
        with save_lock(self._cache_path, self._cache_file._index_name):
            super().save_overload(sig, data)


@contextlib.contextmanager
def save_lock(folder, name):
    """Hold an exclusive lock on ``folder/name.lock`` (POSIX ``flock``) for the block.

    Where locks are not available (no ``fcntl``, a folder that cannot be written) the
    block runs unlocked: the save then fails or succeeds as Numba's own would.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None
    handle = None
    if fcntl is not None:
        try:
            os.makedirs(folder, exist_ok=True)
            handle = open(os.path.join(folder, name + ".lock"), "a")
        except OSError:
            handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: kernel's Python function -> (what it is, e.g. "the {dtype} training kernel", seconds)
_NOTICES = {}


def jit(options, notice=None, compile_seconds=None):
    """Decorator: ``numba.njit(**options)`` with the package's on-disk cache.

    Parameters
    ----------
    options : dict
        One of the option sets of :mod:`fastsoftmax._config`.
    notice : str, optional
        For kernels called from Python: what the kernel is, for the warning logged
        before it compiles (``{dtype}`` becomes the dtype of its first array argument).
    compile_seconds : int, optional
        About how long its compile takes on a 2-core machine (said in the warning).
    """
    options = dict(options)
    cache = options.pop("cache", False)

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache:
            # what Dispatcher.enable_caching does, with the package's cache folder
            dispatcher._cache = KernelCache(dispatcher.py_func)
        if notice is not None:
            _NOTICES[dispatcher.py_func] = (notice, compile_seconds)
        return dispatcher

    return decorate


class _CompileNotices(event.Listener):
    """Logs a warning when a kernel called from Python starts compiling.

    Numba fires ``numba:compile`` only after the in-memory and on-disk caches have
    missed, so a loaded kernel says nothing.  Nested compiles (the kernel's callees)
    are part of the announced one.
    """

    def __init__(self):
        self._depth = 0

    def on_start(self, ev):
        self._depth += 1
        if self._depth != 1:
            return
        dispatcher = ev.data.get("dispatcher")
        notice = _NOTICES.get(getattr(dispatcher, "py_func", None))
        if notice is None:
            return
        what, seconds = notice
        dtype = next((str(a.dtype) for a in ev.data.get("args", ()) if isinstance(a, types.Array)),
                     "")
        about = f", about {seconds} s" if seconds else ""
        later = ("later runs load it from the cache" if _config.CACHE
                 else "FASTSOFTMAX_CACHE=0: every run compiles it")
        log.warning("compiling %s once for this machine and settings%s (%s)",
                    what.format(dtype=dtype), about, later)

    def on_end(self, ev):
        self._depth -= 1


event.register("numba:compile", _CompileNotices())
