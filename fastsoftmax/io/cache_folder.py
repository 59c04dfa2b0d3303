"""The cache folder: its entries, their size limit, least-recently-used eviction, clearing.

:mod:`fastsoftmax.io.cache` reads and writes the entries; this module lists, bounds
and removes them.  ``$FASTSOFTMAX_CACHE_LIMIT`` (default :data:`DEFAULT_CACHE_LIMIT`,
4 GB) caps the entries' total size; "used" is an entry's modification time, which a
read touches.  Several processes may share the folder: a file that another one removed
first is simply gone.
"""
import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from fastsoftmax._shared.sizes import format_size, parse_size
from fastsoftmax.io.atomic import untouched_files
from fastsoftmax.io.home import data_home

__all__ = [
    "CACHE_LIMIT_ENV",
    "DEFAULT_CACHE_LIMIT",
    "CacheEntry",
    "ClearResult",
    "cache_dir",
    "cache_entries",
    "cache_info",
    "cache_limit",
    "clear_cache",
    "clear_cache_entries",
    "stray_temp_files",
    "trim_cache",
]

log = logging.getLogger(__name__)
_FILE_RE = re.compile(r"^(?:([a-z][a-z0-9_]{0,31})-)?([0-9a-f]{16,128})\.npz$")
#: The environment variable that sets the cache's size limit.
CACHE_LIMIT_ENV = "FASTSOFTMAX_CACHE_LIMIT"
#: The cache's size limit when ``$FASTSOFTMAX_CACHE_LIMIT`` is unset: 4 GB.
DEFAULT_CACHE_LIMIT = 4_000_000_000
#: A temporary file untouched this long was left by a killed run.
STALE_SECONDS = 600


def cache_dir():
    """The cache folder: ``cache`` under :func:`~fastsoftmax.io.home.data_home`.

    Returns
    -------
    pathlib.Path
        Not created here; :func:`~fastsoftmax.io.cache.save_cached` creates it.
    """
    return data_home() / "cache"


def cache_limit():
    """The cache's size limit, from ``$FASTSOFTMAX_CACHE_LIMIT``.

    Unset or empty: :data:`DEFAULT_CACHE_LIMIT` (4 GB).  A size as :func:`parse_size`
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


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry on disk.

    Attributes
    ----------
    path : pathlib.Path
    kind : str or None
        What it holds, as given to :func:`~fastsoftmax.io.cache.save_cached`
        (``"hog"``, ``"pca"``, ...); None for an entry saved without a kind.
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
        """A JSON-ready dict of the entry.

        Keys: file, path, kind, key, size_bytes, last_used (ISO 8601, UTC), age_seconds.
        """
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


def cache_entries():
    """Every entry in the cache folder, least recently used first.

    Files of other names (temporary files, anything a user put there) are not entries.

    Returns
    -------
    list of CacheEntry
    """
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
    return untouched_files(cache_dir(), [".*.npz.*.tmp"], older_than)


def _remove_stale_temp_files():
    for p in stray_temp_files(older_than=STALE_SECONDS):
        try:
            p.unlink()
            log.info("removed %s, left by an interrupted cache write", p.name)
        except OSError:
            pass


def trim_cache(limit=None, *, keep=()):
    """Remove the least recently used entries until the cache's total fits ``limit``.

    :func:`~fastsoftmax.io.cache.save_cached` calls this after each write.  An entry
    that another process removes or uses meanwhile is passed over.

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
    failed : list of (pathlib.Path, str)
        Entries and temporary files still there because removing them failed (a
        read-only cache folder), with the reason.
    """

    entries: list
    temp_files: list
    dry_run: bool
    failed: list = field(default_factory=list)

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
        What was removed, and what could not be (``failed``): an entry that another
        process removed first is in neither list.
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
    gone_entries, gone_temps, failed = [], [], []
    for entry in entries:
        if _remove(entry.path, failed):
            gone_entries.append(entry)
    for p, size in temps:
        if _remove(p, failed):
            gone_temps.append((p, size))
    return ClearResult(gone_entries, gone_temps, False, failed)


def _remove(path, failed):
    """Remove ``path``: True when done, False when it was gone already or removing it
    failed (then ``(path, reason)`` is appended to ``failed``)."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        failed.append((path, exc.strerror or str(exc)))
        return False


def clear_cache():
    """Remove every cache entry (and temporary file); :func:`clear_cache_entries` says which.

    Returns
    -------
    int
        The number of entries removed.
    """
    return len(clear_cache_entries().entries)
