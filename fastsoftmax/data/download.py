"""Fetch the official CIFAR-10 archive (or any file of :mod:`fastsoftmax.data.sources`)
into the data folder, checked by its md5.

The data folder (:func:`data_home`) is ``$FASTSOFTMAX_DATA`` when set, else
``fastsoftmax`` in the platform's user cache folder, found by ``platformdirs``.
"""
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from fastsoftmax.data.sources import SOURCES
from fastsoftmax.io.atomic import untouched_files
from fastsoftmax.io.home import DATA_ENV, data_home, data_home_source  # noqa: F401 (this module's names)

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "DownloadError",
    "data_home",
    "data_home_source",
    "cifar10_archive_path",
    "download_cifar10",
    "download_file",
    "file_md5",
    "stray_partial_downloads",
]

_CIFAR10 = SOURCES["cifar10"].files[0]
CIFAR10_URL = _CIFAR10.url
CIFAR10_MD5 = _CIFAR10.md5
ARCHIVE_NAME = _CIFAR10.name
_CHUNK = 1 << 20
# small reads, so that progress moves on a slow link too
_READ_CHUNK = 1 << 16
#: A partial download untouched this long was left by a killed run.
STALE_SECONDS = 600


class DownloadError(OSError):
    """A download failed or its checksum did not match; no partial file is left.

    The message ends by saying how to put the archive in place by hand.

    Attributes
    ----------
    url : str or None
        The URL that was tried.
    path : pathlib.Path or None
        Where the archive belongs: save it there by hand and it is used (md5 checked).
    """

    def __init__(self, message, *, url=None, path=None):
        super().__init__(message)
        self.url = url
        self.path = path

    def __str__(self):
        return self.args[0] if self.args else ""


def cifar10_archive_path(dest=None):
    """Where :func:`download_cifar10` puts the archive.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        The folder; default :func:`data_home`.

    Returns
    -------
    pathlib.Path
    """
    folder = Path(dest) if dest is not None else data_home()
    return folder / ARCHIVE_NAME


def file_md5(path, chunk_size=_CHUNK):
    """The hex md5 of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
    chunk_size : int, default 1 MiB

    Returns
    -------
    str
    """
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def download_cifar10(dest=None, *, url=CIFAR10_URL, md5=CIFAR10_MD5, progress=None, timeout=60):
    """Download the CIFAR-10 python archive into ``dest`` and check its md5.

    The bytes stream into a temporary file of its own in the same folder
    (``.cifar-10-python.tar.gz.<random>.part``, so two downloads never share one)
    while the md5 of exactly those bytes is computed; only a complete file whose md5
    matches is renamed (atomically) to the final name, so no unverified archive ever
    stands there.  On any failure the partial file is removed; one left by a killed
    download is removed by the next download once untouched for
    :data:`STALE_SECONDS` (``fastsoftmax data info`` lists them).  A valid archive
    already in place is not downloaded again.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Folder for the archive (created when missing); default :func:`data_home`.
    url : str, optional
        Where to fetch it from; the file name is always ``cifar-10-python.tar.gz``.
    md5 : str, optional
        Expected hex md5 of the archive (the published one by default).
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` once with 0 before the first
        byte and then after each chunk of at most 64 KiB (``bytes_total`` is None when
        the server sends no length).  The library never draws anything itself.
    timeout : float, default 60
        Seconds to wait on the connection before giving up.

    Returns
    -------
    pathlib.Path
        The path of the checked archive.

    Raises
    ------
    ValueError
        Invalid arguments.
    DownloadError
        The connection failed or was cut, or the md5 did not match.  The message
        names the URL and where to save the archive by hand (the error's ``url``
        and ``path``).
    """
    return download_file(cifar10_archive_path(dest), url=url, md5=md5, progress=progress,
                         timeout=timeout, official_url=CIFAR10_URL)


def download_file(final, *, url, md5, progress=None, timeout=60, official_url=None):
    """Download ``url`` to the file ``final``, checked by its md5 (see :func:`download_cifar10`).

    Parameters
    ----------
    final : str or os.PathLike
        Where the file goes (its folder is created when missing).
    url, md5, progress, timeout
        As :func:`download_cifar10`'s.
    official_url : str, optional
        The published URL, named by the by-hand hint when ``url`` is a mirror.

    Returns
    -------
    pathlib.Path
        ``final``, holding the checked file.

    Raises
    ------
    ValueError
        Invalid arguments.
    DownloadError
        The connection failed or was cut, or the md5 did not match (the message says
        where to save the file by hand).
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be a non-empty str, got {url!r}")
    if not isinstance(md5, str) or len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5.lower()):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    if progress is not None and not callable(progress):
        raise ValueError("progress must be a callable (bytes_done, bytes_total) or None")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    md5 = md5.lower()
    final = Path(final)
    official_url = official_url or url
    if final.is_file() and file_md5(final) == md5:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(final)
    fd, part = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    part = Path(part)
    try:
        try:
            done, total, digest = _stream(url, fd, progress, timeout)
        except DownloadError as exc:
            raise _by_hand(exc, url, final, official_url) from None
        if total is not None and done != total:
            raise _by_hand(DownloadError(
                f"download of {url} stopped after {done} of {total} bytes"
            ), url, final, official_url)
        if digest != md5:
            raise _by_hand(DownloadError(
                f"download of {url} has md5 {digest}, expected {md5}: the file is "
                f"corrupted or not the official {'archive' if '.tar' in final.name else 'file'}"
            ), url, final, official_url)
        os.chmod(part, 0o644)
        os.replace(part, final)
    except BaseException:
        try:
            part.unlink()
        except FileNotFoundError:
            pass
        raise
    return final


def _by_hand(exc, url, final, official_url):
    """The same error, saying where the file goes when fetched by hand (one line)."""
    source = url if url == official_url else f"{url} (or the official {official_url})"
    return DownloadError(
        f"{str(exc).removesuffix('; try again')}; try again, or download {source} yourself "
        f"and save it as {final.name} in {final.parent}",
        url=url, path=final,
    )


def stray_partial_downloads(dest=None, older_than=0):
    """Partial downloads (``.part`` files) left in the download folder, e.g. by a kill.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        The download folder; default :func:`data_home`.
    older_than : float, default 0
        Only files not modified for this many seconds.

    Returns
    -------
    list of pathlib.Path
    """
    home = Path(dest) if dest is not None else data_home()
    found = []
    for src in SOURCES.values():
        folder = home / src.folder
        for f in src.files:
            found += untouched_files(folder, [f".{f.name}.*.part", f"{f.name}.part"], older_than)
    return sorted(set(found))


def _remove_stale_parts(final):
    # a download in progress writes at least every `timeout` seconds; older ones are dead
    for p in untouched_files(final.parent, [f".{final.name}.*.part", f"{final.name}.part"],
                             STALE_SECONDS):
        try:
            p.unlink()
        except OSError:
            pass


def _stream(url, fd, progress, timeout):
    h = hashlib.md5(usedforsecurity=False)
    done = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress is not None:
                progress(0, total)
            while True:
                block = response.read(_READ_CHUNK)
                if not block:
                    break
                out.write(block)
                h.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
    except http.client.IncompleteRead as exc:
        raise DownloadError(
            f"download of {url} was cut after {done + len(exc.partial)} bytes; try again"
        ) from None
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {url} failed: {exc.reason}") from None
    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise DownloadError(f"download of {url} failed: {exc or type(exc).__name__}") from None
    return done, total, h.hexdigest()
