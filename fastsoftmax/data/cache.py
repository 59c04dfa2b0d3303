"""An on-disk cache of arrays (HOG features, fitted PCA), keyed by a content hash.

Entries are ``<kind>-<key>.npz`` files (``<key>.npz`` when saved without a kind) under
:func:`cache_dir`, written to a temporary file in the same folder and renamed into
place, and read back with ``allow_pickle=False``.  A corrupt entry counts as a miss and
is removed.

The cache is bounded: ``$FASTSOFTMAX_CACHE_LIMIT`` (default :data:`DEFAULT_CACHE_LIMIT`,
2 GB) caps the total size of the entries.  After each write the least recently used
entries are removed until the total fits; an entry larger than the whole limit is not
stored.  "Used" is the last read or write: a read touches the entry's modification
time, so the order does not depend on the file system recording access times.
Several processes may share the folder: an entry that another one removed first is
simply gone.
"""
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._atomic import atomic_open
from ._sizes import format_size, parse_size
from .download import data_home

__all__ = [
    "CACHE_LIMIT_ENV",
    "DEFAULT_CACHE_LIMIT",
    "CacheEntry",
    "ClearResult",
    "cache_dir",
    "cache_entries",
    "cache_info",
    "cache_key",
    "cache_limit",
    "clear_cache",
    "clear_cache_entries",
    "format_size",
    "load_cached",
    "parse_size",
    "save_cached",
    "stray_temp_files",
    "trim_cache",
]

log = logging.getLogger(__name__)
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FILE_RE = re.compile(r"^(?:([a-z][a-z0-9_]{0,31})-)?([0-9a-f]{16,128})\.npz$")

#: The environment variable that sets the cache's size limit.
CACHE_LIMIT_ENV = "FASTSOFTMAX_CACHE_LIMIT"
#: The cache's size limit when ``$FASTSOFTMAX_CACHE_LIMIT`` is unset: 2 GB.
DEFAULT_CACHE_LIMIT = 2_000_000_000


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


# --------------------------------------------------------------------------- the size limit

def cache_limit():
    """The cache's size limit, from ``$FASTSOFTMAX_CACHE_LIMIT``.

    Unset or empty: :data:`DEFAULT_CACHE_LIMIT` (2 GB).  A size as :func:`parse_size`
    reads it; ``0`` turns the cache off (nothing is read or stored; entries already
    there stay until ``fastsoftmax data clear``); ``unlimited`` removes the bound.

    Returns
    -------
    int or None
        Bytes, or None for no limit.

    Raises
    ------
    ValueError
        The variable holds something else; the message names it.
    """
    raw = os.environ.get(CACHE_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_LIMIT
    if raw.lower() in ("unlimited", "none"):
        return None
    try:
        return parse_size(raw)
    except ValueError:
        raise ValueError(
            f"${CACHE_LIMIT_ENV}={raw!r} is not a cache size: use e.g. 2GB, 500MB or 1.5GiB, "
            "a number of bytes, 0 to turn the cache off, or 'unlimited'"
        ) from None


# --------------------------------------------------------------------------- entries

@dataclass(frozen=True)
class CacheEntry:
    """One cache entry on disk.

    Attributes
    ----------
    path : pathlib.Path
    kind : str or None
        What it holds, as given to :func:`save_cached` (``"hog"``, ``"pca"``, ...);
        None for an entry saved without a kind.
    key : str
    size_bytes : int
    last_used : float
        Seconds since the epoch of its last read or write.
    """

    path: Path
    kind: object
    key: str
    size_bytes: int
    last_used: float

    def age_seconds(self, now=None):
        """Seconds since the entry was last read or written."""
        return max(0.0, (time.time() if now is None else now) - self.last_used)

    def to_dict(self, now=None):
        """A JSON-ready dict: file, path, kind, key, size_bytes, last_used (ISO 8601, UTC), age_seconds."""
        return {
            "file": self.path.name,
            "path": str(self.path),
            "kind": self.kind,
            "key": self.key,
            "size_bytes": self.size_bytes,
            "last_used": datetime.fromtimestamp(self.last_used, timezone.utc).isoformat(
                timespec="seconds"),
            "age_seconds": round(self.age_seconds(now), 1),
        }


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


def cache_entries():
    """Every entry in the cache folder, least recently used first.

    Files of other names (temporary files, anything a user put there) are not entries.

    Returns
    -------
    list of CacheEntry
    """
    import stat

    folder = cache_dir()
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for item in it:
            match = _FILE_RE.match(item.name)
            if not match:
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:  # removed by another process meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                out.append(CacheEntry(Path(item.path), match.group(1), match.group(2),
                                      int(st.st_size), float(st.st_mtime)))
    out.sort(key=lambda e: (e.last_used, e.path.name))
    return out


def _touch(path):
    # the entry's mtime is its "last used" time: reliable where access times are not
    try:
        os.utime(path, None)
    except OSError:  # read-only folder, or removed by another process meanwhile
        pass


#: A cache entry whose arrays declare more bytes than this is a miss.
MAX_ENTRY_BYTES = 16 << 30
#: A temporary file untouched this long was left by a killed run.
STALE_SECONDS = 600


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
    from .._untrusted import read_npz

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


def trim_cache(limit=None, *, keep=()):
    """Remove the least recently used entries until the cache's total fits ``limit``.

    :func:`save_cached` calls this after each write.  An entry that another process
    removes or uses meanwhile is passed over.

    Parameters
    ----------
    limit : int, optional
        Bytes; default :func:`cache_limit`, with which nothing is removed when the
        limit is off (``unlimited``) or the cache is off (``0``).
    keep : iterable of path-like, default ()
        Entries never removed (the one just written).

    Returns
    -------
    list of CacheEntry
        The entries removed, least recently used first.
    """
    if limit is None:
        limit = cache_limit()
        if not limit:
            return []
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be a non-negative int of bytes, got {limit!r}")
    keep = {Path(p) for p in keep}
    entries = cache_entries()
    total = sum(e.size_bytes for e in entries)
    removed = []
    for entry in entries:
        if total <= limit:
            break
        if entry.path in keep:
            continue
        try:
            if entry.path.stat().st_mtime != entry.last_used:
                continue  # read by another process since we listed it
            entry.path.unlink()
        except FileNotFoundError:  # removed by another process: gone all the same
            total -= entry.size_bytes
            continue
        except OSError as exc:  # e.g. open in another process on Windows
            log.debug("could not remove cache entry %s: %s", entry.path.name, exc)
            continue
        total -= entry.size_bytes
        removed.append(entry)
        log.info("removed cache entry %s (%s, last used %.0f s ago) to stay within the "
                 "%s cache limit", entry.path.name, format_size(entry.size_bytes),
                 entry.age_seconds(), format_size(limit))
    return removed


def _limit_source():
    return f"${CACHE_LIMIT_ENV}" if os.environ.get(CACHE_LIMIT_ENV, "").strip() else "default"


def cache_info():
    """Where the cache is, how much it holds, and its limit.

    Returns
    -------
    dict
        ``path`` (str), ``entries`` (int), ``size_bytes`` (int), ``limit_bytes`` (int,
        0 when the cache is off, None when unlimited), ``limit_source``
        (``"default"`` or ``"$FASTSOFTMAX_CACHE_LIMIT"``) and ``entry_list`` (each
        entry as :meth:`CacheEntry.to_dict`, least recently used first).

    Raises
    ------
    ValueError
        A bad ``$FASTSOFTMAX_CACHE_LIMIT``.
    """
    limit = cache_limit()
    entries = cache_entries()
    now = time.time()
    return {
        "path": str(cache_dir()),
        "entries": len(entries),
        "size_bytes": sum(e.size_bytes for e in entries),
        "limit_bytes": limit,
        "limit_source": _limit_source(),
        "entry_list": [e.to_dict(now) for e in entries],
    }


@dataclass
class ClearResult:
    """What :func:`clear_cache_entries` removed (or would remove, with ``dry_run``).

    Attributes
    ----------
    entries : list of CacheEntry
    temp_files : list of (pathlib.Path, int)
        Temporary files of unfinished writes, with their sizes.
    dry_run : bool
    """

    entries: list
    temp_files: list
    dry_run: bool

    @property
    def size_bytes(self):
        """Bytes of the entries and temporary files together."""
        return sum(e.size_bytes for e in self.entries) + sum(n for _, n in self.temp_files)


def clear_cache_entries(*, dry_run=False):
    """Remove every cache entry and temporary file of the cache folder.

    A run writing to the cache at the same moment loses that one write (it warns and
    goes on).  Files of other names in the folder are left alone.

    Parameters
    ----------
    dry_run : bool, default False
        Only list what would be removed.

    Returns
    -------
    ClearResult
        What was removed: an entry that another process removed first is not listed.
    """
    entries = cache_entries()
    temps = []
    for p in stray_temp_files():
        try:
            temps.append((p, int(p.stat().st_size)))
        except OSError:
            pass
    if dry_run:
        return ClearResult(entries, temps, True)
    gone_entries, gone_temps = [], []
    for entry in entries:
        if _remove(entry.path):
            gone_entries.append(entry)
    for p, size in temps:
        if _remove(p):
            gone_temps.append((p, size))
    return ClearResult(gone_entries, gone_temps, False)


def _remove(path):
    try:
        path.unlink()
        return True
    except OSError:
        return False


def clear_cache():
    """Remove every cache entry (and temporary file); :func:`clear_cache_entries` says which.

    Returns
    -------
    int
        The number of entries removed.
    """
    return len(clear_cache_entries().entries)
