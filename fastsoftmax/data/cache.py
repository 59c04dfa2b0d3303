"""An on-disk cache of arrays (HOG features, fitted PCA), keyed by a content hash.

Entries are ``<key>.npz`` files under :func:`cache_dir`, written to a temporary file
in the same folder and renamed into place, and read back with
``allow_pickle=False``.  A corrupt entry counts as a miss and is removed.
"""
import functools
import hashlib
import json
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from .._atomic import atomic_open
from .download import data_home

__all__ = ["cache_dir", "cache_key", "load_cached", "save_cached", "cache_info", "clear_cache"]

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


@functools.lru_cache(maxsize=None)
def code_version():
    """The package version and a sha256 of the feature code's sources.

    Part of every :func:`cache_key`: features (and the PCA fitted on them) cached by
    another version of the package or of its feature kernels are never loaded.
    """
    from .. import __version__

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


def _entry(key):
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache key must be a hex string from cache_key(), got {key!r}")
    return cache_dir() / f"{key}.npz"


def load_cached(key):
    """Load a cache entry.

    Parameters
    ----------
    key : str
        A key from :func:`cache_key`.

    Returns
    -------
    dict of str to ndarray or None
        The arrays, or None on a miss.  A corrupt entry is removed and is a miss.
    """
    path = _entry(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("ignoring corrupt cache entry %s (%s)", path.name, exc)
        try:
            path.unlink()
        except OSError:
            pass
        return None


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
        for p in list(folder.glob("*.npz")) + list(folder.glob(".*.npz.tmp")):
            try:
                p.unlink()
                n += p.suffix == ".npz" and not p.name.endswith(".tmp")
            except OSError:
                pass
    return int(n)
