"""An on-disk cache of arrays (HOG features, fitted PCA), keyed by a content hash.

Entries are ``<kind>-<key>.npz`` files (``<key>.npz`` when saved without a kind) under
:func:`cache_dir`, written to a temporary file in the same folder and renamed into
place, and read back with ``allow_pickle=False``.  A corrupt entry counts as a miss and
is removed.

The cache is bounded: ``$FASTSOFTMAX_CACHE_LIMIT`` (default :data:`DEFAULT_CACHE_LIMIT`,
4 GB) caps the total size of the entries.  After each write the least recently used
entries are removed until the total fits; an entry larger than the whole limit is not
stored.  "Used" is the last read or write: a read touches the entry's modification
time, so the order does not depend on the file system recording access times.
Several processes may share the folder: an entry that another one removed first is
simply gone.  Listing, bounding and clearing the entries live in
:mod:`fastsoftmax.io.cache_folder`; their names are importable from here too.

:func:`cached` is a cached step in one call, as ``joblib.Memory(...).cache(f)(x)``
reads: load and check a hit, or compute, store and trim.
"""
import functools
import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from fastsoftmax._shared.sizes import format_size, parse_size
from fastsoftmax._shared.version import __version__
from fastsoftmax.io.atomic import atomic_open
from fastsoftmax.io.cache_folder import (CACHE_LIMIT_ENV, DEFAULT_CACHE_LIMIT, STALE_SECONDS,
                                         CacheEntry, ClearResult, _FILE_RE,
                                         _remove_stale_temp_files, cache_dir, cache_entries,
                                         cache_info, cache_limit, clear_cache,
                                         clear_cache_entries, stray_temp_files, trim_cache)
from fastsoftmax.io.untrusted import read_npz

__all__ = [
    "CACHE_LIMIT_ENV",
    "DEFAULT_CACHE_LIMIT",
    "STALE_SECONDS",
    "CacheEntry",
    "ClearResult",
    "cache_dir",
    "cache_entries",
    "cache_info",
    "cache_key",
    "cache_limit",
    "cached",
    "clear_cache",
    "clear_cache_entries",
    "format_size",
    "load_cached",
    "parse_size",
    "save_cached",
    "stray_temp_files",
    "trim_cache",
    "try_save_cached",
]

log = logging.getLogger(__name__)
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cache_key parameter of type {type(value).__name__} is not JSON-serializable")


@functools.lru_cache(maxsize=None)
def code_version():
    """The package version and a sha256 of the feature code's sources.

    Part of every :func:`cache_key`: features (and the PCA fitted on them) cached by
    another version of the package or of its feature kernels are never loaded.
    """
    h = hashlib.sha256(__version__.encode())
    for source in sorted((Path(__file__).resolve().parents[1] / "features").glob("*.py")):
        h.update(source.name.encode() + b"\0" + source.read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


def cache_key(*arrays, **params):
    """A sha256 hex key over arrays (bytes, shape, dtype) and parameters.

    The key also covers :func:`code_version`.

    Parameters
    ----------
    *arrays : array_like
        The data the cached result depends on.  Equal content in a different memory
        layout gives the same key.
    **params
        JSON-serializable parameters (numbers, strings, lists, tuples, dicts, None,
        NumPy scalars); their order does not matter.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    TypeError
        A parameter is not JSON-serializable.
    """
    h = hashlib.sha256()
    h.update(b"fastsoftmax-cache-v2\0")
    h.update(code_version().encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.hasobject:
            raise TypeError("cache_key cannot hash object arrays")
        h.update(f"{a.dtype.str}|{a.shape}\0".encode())
        h.update(memoryview(a).cast("B"))
    h.update(json.dumps(params, sort_keys=True, default=_json_default).encode())
    return h.hexdigest()


def _entry(key, kind=None):
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache key must be a hex string from cache_key(), got {key!r}")
    if kind is None:
        return cache_dir() / f"{key}.npz"
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(f"cache entry kind must be lowercase letters, digits or _, starting "
                         f"with a letter (at most 32), got {kind!r}")
    return cache_dir() / f"{kind}-{key}.npz"


def _paths_of(key):
    """Every file holding ``key`` (any kind), in a fixed order."""
    folder = cache_dir()
    if not folder.is_dir():
        return []
    found = [folder / f"{key}.npz"] + sorted(folder.glob(f"*-{key}.npz"))
    return [p for p in found if _FILE_RE.match(p.name) and p.is_file()]


def _touch(path):
    # the entry's mtime is its "last used" time: reliable where access times are not
    try:
        os.utime(path, None)
    except OSError:  # read-only folder, or removed by another process meanwhile
        pass


#: A cache entry whose arrays declare more bytes than this is a miss.
MAX_ENTRY_BYTES = 16 << 30


class _BadEntry(ValueError):
    pass


def load_cached(key, expect=None):
    """Load a cache entry, and mark it as used.

    Parameters
    ----------
    key : str
        A key from :func:`cache_key`; the entry is found whatever kind it was saved as.
    expect : dict of str to tuple, optional
        The arrays the caller needs and their shapes: each size an int, ``None`` (any)
        or a name shared between arrays that must agree, e.g.
        ``{"mean": ("f",), "components": (None, "f")}``.

    Returns
    -------
    dict of str to ndarray or None
        The arrays, or None on a miss (and always when the cache is off,
        ``$FASTSOFTMAX_CACHE_LIMIT=0``).  A corrupt entry (unreadable, sizes that
        disagree with its bytes, over :data:`MAX_ENTRY_BYTES`, or arrays not as
        ``expect`` says) is removed with a warning and is a miss.

    Raises
    ------
    ValueError
        A bad key, or a bad ``$FASTSOFTMAX_CACHE_LIMIT``.
    """
    _entry(key)
    if cache_limit() == 0:
        log.debug("cache off ($%s=0): not reading %s", CACHE_LIMIT_ENV, key[:16])
        return None
    paths = _paths_of(key)
    if not paths:
        log.debug("cache miss: %s", key[:16])
        return None
    path = paths[0]
    try:
        arrays = read_npz(path, max_bytes=MAX_ENTRY_BYTES, error=_BadEntry, compressed=False)
        if expect is not None:
            _check_expected(arrays, expect)
    except (OSError, _BadEntry) as exc:
        log.warning("ignoring corrupt cache entry %s (%s); removed", path.name,
                    str(exc).replace(str(path) + ": ", ""))
        try:
            path.unlink()
        except OSError:
            pass
        return None
    _touch(path)
    log.debug("cache hit: %s", path)
    return arrays


def discard_cached(key, reason):
    """Remove a cache entry its reader could not use, with a warning naming ``reason``."""
    for path in _paths_of(key):
        log.warning("ignoring corrupt cache entry %s (%s); removed", path.name, reason)
        try:
            path.unlink()
        except OSError:
            pass


def _check_expected(arrays, expect):
    sizes = {}
    for name, shape in expect.items():
        if name not in arrays:
            raise _BadEntry(f"no array {name!r}")
        got = arrays[name].shape
        if len(got) != len(shape):
            raise _BadEntry(f"array {name!r} has shape {got}, expected {len(shape)} dimensions")
        for size, want in zip(got, shape):
            if isinstance(want, str):
                want = sizes.setdefault(want, size)
            if want is not None and size != want:
                raise _BadEntry(f"array {name!r} has shape {got}, expected {shape}")


def save_cached(key, arrays, *, kind=None):
    """Store arrays under ``key``, atomically, then keep the cache within its limit.

    An entry larger than the limit (``$FASTSOFTMAX_CACHE_LIMIT``, see
    :func:`cache_limit`) is not stored; otherwise the least recently used other
    entries are removed until the total fits (:func:`trim_cache`).

    Parameters
    ----------
    key : str
        A key from :func:`cache_key`.
    arrays : dict of str to array_like
        Names must be Python identifiers; object arrays are refused.
    kind : str, optional
        What the entry holds (``"hog"``, ``"pca"``, ...), shown by ``fastsoftmax data
        info``: lowercase letters, digits and ``_``, at most 32.

    Returns
    -------
    pathlib.Path or None
        The entry's path, or None when it was not stored (over the limit, or the cache
        is off).

    Raises
    ------
    ValueError
        A bad key, kind, name or array, or a bad ``$FASTSOFTMAX_CACHE_LIMIT``.
    """
    path = _entry(key, kind)
    if not isinstance(arrays, dict) or not arrays:
        raise ValueError("arrays must be a non-empty dict of name -> array")
    clean = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"array name must be an identifier, got {name!r}")
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise ValueError(f"array {name!r} has object dtype; only numeric arrays are cached")
        clean[name] = value
    limit = cache_limit()
    if limit == 0:
        log.debug("cache off ($%s=0): not storing %s", CACHE_LIMIT_ENV, path.name)
        return None
    # .npy header and zip records: well under 512 bytes an array
    if limit is not None and sum(v.nbytes + 512 for v in clean.values()) > limit:
        _log_too_large(path, sum(v.nbytes for v in clean.values()), limit)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files()
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **clean)
    for other in _paths_of(key):  # the same key saved before under another kind
        if other != path:
            try:
                other.unlink()
            except OSError:
                pass
    if limit is not None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # another process cleared the cache meanwhile
            return None
        if size > limit:
            path.unlink(missing_ok=True)
            _log_too_large(path, size, limit)
            return None
        trim_cache(limit, keep=(path,))
    return path


def _log_too_large(path, size, limit):
    log.info("not caching %s: %s is more than the cache limit of %s (raise $%s to keep it)",
             path.name, format_size(size), format_size(limit), CACHE_LIMIT_ENV)




def try_save_cached(key, arrays, kind):
    """:func:`save_cached`, for a cache that is only an aid: a write that fails (a
    read-only or full disk, a FIFO in the way) is logged as a warning, never raised."""
    try:
        path = save_cached(key, arrays, kind=kind)
        if path is not None:
            log.info("%s: stored in the cache as %s", kind, path)
    except OSError as exc:
        log.warning("could not write the feature cache: %s", exc)


def _identity(value):
    return value


def cached(key, compute, *, kind, label, expect=None, to_arrays=_identity,
           from_arrays=_identity):
    """``compute()``, or the result an earlier call stored under ``key``.

    A hit is loaded (:func:`load_cached`: checked against ``expect``) and rebuilt by
    ``from_arrays``; an entry that fails either is removed with a warning naming
    ``label`` and counts as a miss.  On a miss ``compute()`` runs and its result is
    stored (:func:`try_save_cached`: the cache is then trimmed to its limit, and a
    failed write does not fail the step).

    Parameters
    ----------
    key : str or None
        From :func:`cache_key`; ``None`` (a step that must not be cached) just
        returns ``compute()``.
    compute : callable
        ``compute()`` -> the result.
    kind : str
        What the entry holds on disk (see :func:`save_cached`).
    label : str
        The step's name in the log messages (``"features"``, ``"pca"``).
    expect : dict of str to tuple, optional
        The arrays a usable entry holds and their shapes, as in :func:`load_cached`.
    to_arrays : callable, optional
        result -> dict of name -> array to store; default: the result is that dict.
    from_arrays : callable, optional
        dict of name -> array -> result, raising ``KeyError``, ``TypeError`` or
        ``ValueError`` on an entry it cannot use; default: the dict itself.

    Returns
    -------
    result : object
    hit : bool
        Whether ``result`` came from the cache.
    """
    if key is None:
        return compute(), False
    arrays = load_cached(key, expect=expect)
    if arrays is not None:
        try:
            result = from_arrays(arrays)
        except (KeyError, TypeError, ValueError) as exc:
            discard_cached(key, f"{label}: {exc}")
        else:
            log.info("%s: cache hit (%s)", label, key[:12])
            return result, True
    log.info("%s: cache miss (%s), computing", label, key[:12])
    result = compute()
    try_save_cached(key, to_arrays(result), kind)
    return result, False
