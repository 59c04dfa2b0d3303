"""How every kernel is compiled: one decorator, an on-disk cache kept apart by the
flags, and a notice before a compile starts.

``jit(options)`` is ``numba.njit(**options)`` with the options of
:mod:`fastsoftmax._shared.config`, and, when ``options["cache"]`` is set, an on-disk cache in
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

That cache is built on Numba's private caching classes.  At import,
:func:`cache_internals_problem` checks that each one the package reaches into is still
there with the call shape and attributes it expects; if one is not (a later Numba
renamed it), or ``FASTSOFTMAX_NUMBA_FALLBACK=1``, the kernels are plain
``numba.njit(cache=True)`` functions in Numba's standard cache (:data:`CACHE_FALLBACK`
says why, and a one-line warning says so once): the same code and results, compiled on
the first run instead of shipped with the package.
"""
import contextlib
import hashlib
import inspect
import logging
import os
import sys

import numba
from numba import types

from fastsoftmax._shared import config as _config

try:  # private modules: a later Numba may move them (then: the fallback)
    from numba.core import caching
except ImportError:
    caching = None
try:
    from numba.core import event
except ImportError:
    event = None

log = logging.getLogger("fastsoftmax")


def _caching_class(name):
    """A class of ``numba.core.caching`` (older Numba releases prefix the names with
    ``_``), or None."""
    return getattr(caching, name, None) or getattr(caching, "_" + name, None)


def _positional_parameters(func):
    return [p.name for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def signature_problem(owner, name, parameters):
    """Why ``owner.<name>`` is not a function taking the positional ``parameters``
    (then optional ones only); None when it is.

    Parameters
    ----------
    owner : module or class
    name : str
    parameters : tuple of str
        The names of its positional parameters, ``self`` or ``cls`` included where
        ``owner.<name>`` is looked up on a class as a plain function.
    """
    where = f"{getattr(owner, '__name__', owner)}.{name}"
    func = getattr(owner, name, None)
    if not callable(func):
        return f"{where} is missing"
    try:
        found = _positional_parameters(func)
        required = [p.name for p in inspect.signature(func).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return f"{where} has no signature to check"
    if found[:len(parameters)] != list(parameters) or len(required) > len(parameters):
        return f"{where} takes ({', '.join(found)}), not ({', '.join(parameters)})"
    return None


def attributes_problem(owner, name, attributes):
    """Why ``owner.<name>`` (a function) does not set or read all of ``attributes``
    (the names its code uses); None when it does."""
    where = f"{getattr(owner, '__name__', owner)}.{name}"
    code = getattr(getattr(owner, name, None), "__code__", None)
    if code is None:
        return f"{where} is missing"
    missing = [a for a in attributes if a not in code.co_names]
    return f"{where} no longer uses {', '.join(missing)}" if missing else None


_LOCATORS = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")


def cache_internals_problem():
    """What differs in this Numba from the private internals the package's kernel cache
    relies on, in a few words; None when everything is as expected.

    The checks are the class and function names, the positional parameters of the
    methods overridden or called, and the attributes read or set on Numba's objects.
    """
    if caching is None:
        return "numba.core.caching cannot be imported"
    for name in (*_LOCATORS, "CompileResultCacheImpl", "FunctionCache", "IndexDataCacheFile"):
        if _caching_class(name) is None:
            return f"numba.core.caching has no {name}"
    try:
        from numba.core import codegen, compiler
        from numba.core.dispatcher import Dispatcher
        from numba.np.ufunc import parallel
    except ImportError as error:
        return f"{error.name} cannot be imported"
    impl, function_cache = _caching_class("CompileResultCacheImpl"), _caching_class("FunctionCache")
    locators = [_caching_class(name) for name in _LOCATORS]
    signatures = [
        (impl, "rebuild", ("self", "target_context", "payload")),
        (function_cache, "__init__", ("self", "py_func")),
        (function_cache, "save_overload", ("self", "sig", "data")),
        (_caching_class("UserProvidedCacheLocator"), "get_suitable_cache_subpath", ("py_file",)),
        (parallel, "_launch_threads", ()),
        *((locator, "__init__", ("self", "py_func", "py_file")) for locator in locators),
        *((locator, "from_function", ("py_func", "py_file")) for locator in locators),
        *((locator, "get_source_stamp", ("self",)) for locator in locators),
    ]
    attributes = [
        (function_cache, "__init__", ("_impl_class", "_cache_path", "_cache_file")),
        (_caching_class("IndexDataCacheFile"), "__init__", ("_index_name",)),
        (Dispatcher, "enable_caching", ("_cache",)),
        *((locator, "__init__", ("_py_file", "_cache_path")) for locator in locators),
    ]
    problems = [*(signature_problem(*check) for check in signatures),
                *(attributes_problem(*check) for check in attributes)]
    # the library's initializer list: set by CodeLibrary (newer releases) or by its CPU
    # subclass (older ones)
    if all(attributes_problem(owner, "__init__", ("_reload_init",))
           for owner in (codegen.CodeLibrary, getattr(codegen, "CPUCodeLibrary", None))):
        problems.append("CodeLibrary.__init__ no longer uses _reload_init")
    if not hasattr(impl, "_locator_classes"):
        problems.append("CompileResultCacheImpl has no _locator_classes")
    if not {"library", "reload_init"} <= set(getattr(compiler.CompileResult, "_fields", ())):
        problems.append("CompileResult has no library or reload_init")
    return next((problem for problem in problems if problem), None)


_SAID = set()


def fallback_notice(what, reason):
    """Warn once per process that ``what`` is used because of ``reason``."""
    if (what, reason) in _SAID:
        return
    _SAID.add((what, reason))
    if _config.NUMBA_FALLBACK:
        log.warning("FASTSOFTMAX_NUMBA_FALLBACK=1: %s", what)
    else:
        log.warning("Numba %s is not what fastsoftmax's fast path expects (%s): %s",
                    numba.__version__, reason, what)


#: Why the kernels are in Numba's standard cache instead of the package's; None: they
#: are in the package's.
CACHE_FALLBACK = ("FASTSOFTMAX_NUMBA_FALLBACK is set" if _config.NUMBA_FALLBACK
                  else cache_internals_problem())
if CACHE_FALLBACK is not None:
    fallback_notice(
        "kernels are cached by Numba's standard cache and the training kernel uses plain "
        "loops (slower; the same results to float rounding; the first run compiles)"
        if _config.NUMBA_FALLBACK else
        "kernels are cached by Numba's standard cache (the same results; the first run "
        "compiles)", CACHE_FALLBACK)


def _base(name):
    """The caching class to derive from: ``object`` in the fallback, where the classes
    below are never used."""
    return (CACHE_FALLBACK is None and _caching_class(name)) or object


_InTree = _base("InTreeCacheLocator")
_UserProvided = _base("UserProvidedCacheLocator")
_UserWide = _base("UserWideCacheLocator")

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # fastsoftmax/
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
    # a private name of Numba's, looked up when needed: the check at import vouched for it
    from numba.np.ufunc.parallel import _launch_threads

    _launch_threads()


class _KernelCacheImpl(_base("CompileResultCacheImpl")):
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


class KernelCache(_base("FunctionCache")):
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


def _in_standard_cache(options, notice):
    """Whether a kernel is kept in Numba's standard cache (the fallback).

    Numba's key has no flags: only the default flags are cached, so that an entry is
    never loaded under other flags (those compile on every run).  And only the parallel
    kernels called from Python (those with a ``notice``): a kernel compiled over a
    parallel kernel that Numba loaded from its cache is saved without the start of the
    threading layer, and crashes the process that loads it (``_KernelCacheImpl.rebuild``
    repairs that in the package's cache).
    """
    return _config.DEFAULT_FLAGS and (not options.get("parallel") or notice is not None)


def jit(options, notice=None, compile_seconds=None):
    """Decorator: ``numba.njit(**options)`` with the package's on-disk cache.

    In the fallback (:data:`CACHE_FALLBACK`), ``numba.njit(cache=True, **options)``,
    as far as Numba's standard cache can keep the kernel safely
    (:func:`_in_standard_cache`).

    Parameters
    ----------
    options : dict
        One of the option sets of :mod:`fastsoftmax._shared.config`.
    notice : str, optional
        For kernels called from Python: what the kernel is, for the warning logged
        before it compiles (``{dtype}`` becomes the dtype of its first array argument).
    compile_seconds : int, optional
        Rough compile time in seconds, said in the warning.
    """
    options = dict(options)
    cache = options.pop("cache", False)
    if cache and CACHE_FALLBACK is not None:
        standard = _in_standard_cache(options, notice)
        options["cache"], cache = standard, False
    else:
        standard = False

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache:
            # what Dispatcher.enable_caching does, with the package's cache folder
            dispatcher._cache = KernelCache(dispatcher.py_func)
        if notice is not None:
            _NOTICES[dispatcher.py_func] = (notice, compile_seconds, cache or standard)
        return dispatcher

    return decorate


class _CompileNotices(getattr(event, "Listener", object)):
    """Logs a warning when a kernel called from Python starts compiling.

    Numba fires ``numba:compile`` only after the in-memory and on-disk caches have
    missed, so a loaded kernel says nothing.  Nested compiles (the kernel's callees)
    are part of the announced one.
    """

    def __init__(self):
        self._depth = 0
        self.count = 0

    def on_start(self, ev):
        self._depth += 1
        if self._depth != 1:
            return
        self.count += 1
        dispatcher = ev.data.get("dispatcher")
        notice = _NOTICES.get(getattr(dispatcher, "py_func", None))
        if notice is None:
            return
        what, seconds, cached = notice
        dtype = next((str(a.dtype) for a in ev.data.get("args", ()) if isinstance(a, types.Array)),
                     "")
        about = f", about {seconds} s" if seconds else ""
        if cached:
            later = "later runs load it from the cache"
        elif not _config.CACHE:
            later = "FASTSOFTMAX_CACHE=0: every run compiles it"
        else:
            later = "Numba's standard cache cannot keep it: every run compiles it"
        log.warning("compiling %s once for this machine and settings%s (%s)",
                    what.format(dtype=dtype), about, later)

    def on_end(self, ev):
        self._depth -= 1


_COMPILES = _CompileNotices()
if hasattr(event, "register") and hasattr(event, "Listener"):  # else: compiles say nothing
    event.register("numba:compile", _COMPILES)


def compile_count():
    """Kernel compiles started in this process (a kernel's callees count with it).

    A kernel loaded from the in-memory or on-disk cache does not count; with a Numba
    that has no compile events, nothing does.
    """
    return _COMPILES.count
