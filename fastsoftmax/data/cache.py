"""An on-disk cache of arrays (HOG features, fitted PCA), keyed by a content hash.

Entries are ``<key>.npz`` files under :func:`cache_dir`, written to a temporary file
in the same folder and renamed into place, and read back with
``allow_pickle=False``.  A corrupt entry counts as a miss and is removed.
"""
import hashlib
import json
import logging
import os
import re
import numpy as np

from .._atomic import atomic_open
from .download import data_home

__all__ = ["cache_dir", "cache_key", "load_cached", "save_cached", "cache_info", "clear_cache",
           "stray_temp_files"]

log = logging.getLogger(__name__)
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def cache_dir():
    """The cache folder: ``cache`` under :func:`~fastsoftmax.data.data_home`.

    Returns
    -------
    pathlib.Path
        Not created here; :func:`save_cached` creates it.
    """
    return data_home() / "cache"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cache_key parameter of type {type(value).__name__} is not JSON-serializable")


def cache_key(*arrays, **params):
    """A sha256 hex key over arrays (bytes, shape, dtype) and parameters.

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
    h.update(b"fastsoftmax-cache-v1\0")
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.hasobject:
            raise TypeError("cache_key cannot hash object arrays")
        h.update(f"{a.dtype.str}|{a.shape}\0".encode())
        h.update(memoryview(a).cast("B"))
    h.update(json.dumps(params, sort_keys=True, default=_json_default).encode())
    return h.hexdigest()


def _entry(key):
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache key must be a hex string from cache_key(), got {key!r}")
    return cache_dir() / f"{key}.npz"


#: A cache entry whose arrays declare more bytes than this is a miss.
MAX_ENTRY_BYTES = 16 << 30
#: A temporary file untouched this long was left by a killed run.
STALE_SECONDS = 600


class _BadEntry(ValueError):
    pass


def load_cached(key, expect=None):
    """Load a cache entry.

    Parameters
    ----------
    key : str
        A key from :func:`cache_key`.
    expect : dict of str to tuple, optional
        The arrays the caller needs and their shapes: each size an int, ``None`` (any)
        or a name shared between arrays that must agree, e.g.
        ``{"mean": ("f",), "components": (None, "f")}``.

    Returns
    -------
    dict of str to ndarray or None
        The arrays, or None on a miss.  A corrupt entry (unreadable, sizes that
        disagree with its bytes, over :data:`MAX_ENTRY_BYTES`, or arrays not as
        ``expect`` says) is removed with a warning and is a miss.
    """
    from .._untrusted import read_npz

    path = _entry(key)
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path, max_bytes=MAX_ENTRY_BYTES, error=_BadEntry, compressed=False)
        if expect is not None:
            _check_expected(arrays, expect)
        return arrays
    except (OSError, _BadEntry) as exc:
        log.warning("ignoring corrupt cache entry %s (%s); removed", path.name,
                    str(exc).replace(str(path) + ": ", ""))
        try:
            path.unlink()
        except OSError:
            pass
        return None


def discard_cached(key, reason):
    """Remove a cache entry its reader could not use, with a warning naming ``reason``."""
    path = _entry(key)
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


def stray_temp_files(older_than=0):
    """Temporary files of unfinished cache writes (a killed run leaves them).

    Parameters
    ----------
    older_than : float, default 0
        Only files not modified for this many seconds.

    Returns
    -------
    list of pathlib.Path
    """
    import time

    folder = cache_dir()
    if not folder.is_dir():
        return []
    now = time.time()
    out = []
    for p in folder.glob(".*.npz.*.tmp"):
        try:
            if now - p.stat().st_mtime >= older_than:
                out.append(p)
        except OSError:
            pass
    return sorted(out)


def _remove_stale_temp_files():
    for p in stray_temp_files(older_than=STALE_SECONDS):
        try:
            p.unlink()
            log.info("removed %s, left by an interrupted cache write", p.name)
        except OSError:
            pass


def save_cached(key, arrays):
    """Store arrays under ``key``, atomically.

    Parameters
    ----------
    key : str
        A key from :func:`cache_key`.
    arrays : dict of str to array_like
        Names must be Python identifiers; object arrays are refused.

    Returns
    -------
    pathlib.Path
        The entry's path.

    Raises
    ------
    ValueError
        A bad key, name or array.
    """
    path = _entry(key)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files()
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **clean)
    return path


def cache_info():
    """Where the cache is and how much it holds.

    Returns
    -------
    dict
        ``{"path": str, "entries": int, "size_bytes": int}``.
    """
    folder = cache_dir()
    entries = list(folder.glob("*.npz")) if folder.is_dir() else []
    size = 0
    for p in entries:
        try:
            size += p.stat().st_size
        except OSError:
            pass
    return {"path": str(folder), "entries": len(entries), "size_bytes": size}


def clear_cache():
    """Remove every cache entry.

    Returns
    -------
    int
        The number of entries removed.
    """
    folder = cache_dir()
    n = 0
    if folder.is_dir():
        for p in list(folder.glob("*.npz")) + list(folder.glob(".*.npz.*.tmp")):
            try:
                p.unlink()
                n += p.suffix == ".npz" and not p.name.endswith(".tmp")
            except OSError:
                pass
    return int(n)
