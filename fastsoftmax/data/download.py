"""Fetch published data files into the data folder with pooch, checked by their hash.

:data:`REMOTE_FILES` declares what can be fetched (URL, file name, published checksum);
:func:`fetch` fetches one by name, :func:`download_cifar10` the CIFAR-10 archive.
The data folder (:func:`data_home`) is ``$FASTSOFTMAX_DATA`` when set, else
``fastsoftmax`` in the platform's user cache folder, found by ``platformdirs``.
"""
import contextlib
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pooch

from fastsoftmax.data.sources import SOURCES
from fastsoftmax.io.atomic import untouched_files
from fastsoftmax.io.home import DATA_ENV, data_home, data_home_source  # noqa: F401 (this module's names)

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "REMOTE_FILES",
    "DownloadError",
    "RemoteFile",
    "data_home",
    "data_home_source",
    "cifar10_archive_path",
    "fetch",
    "download_file",
    "download_cifar10",
    "file_md5",
    "stray_partial_downloads",
]

_CIFAR10 = SOURCES["cifar10"].files[0]
CIFAR10_URL = _CIFAR10.url
CIFAR10_MD5 = _CIFAR10.md5
ARCHIVE_NAME = _CIFAR10.name
# small reads, so that progress moves on a slow link too
_READ_CHUNK = 1 << 16
#: A partial download untouched this long was left by a killed run.
STALE_SECONDS = 600
_HEX_DIGITS = {"md5": 32, "sha256": 64}
# pooch's temporary file beside the target (tempfile's default name: "tmp" + 8 characters)
_POOCH_TEMP = "tmp????????"
# the temporary names of the downloader that pooch replaced
_OLD_PARTS = (f".{ARCHIVE_NAME}.*.part", f"{ARCHIVE_NAME}.part")


@dataclass(frozen=True)
class RemoteFile:
    """A published file that :func:`fetch` can download.

    Attributes
    ----------
    url : str
        The official URL.
    fname : str
        The file name in the download folder.
    known_hash : str
        The published checksum, ``"md5:<hex>"`` or ``"sha256:<hex>"``.
    """

    url: str
    fname: str
    known_hash: str


#: The files :func:`fetch` knows, by name.
REMOTE_FILES = {
    "cifar10": RemoteFile(CIFAR10_URL, ARCHIVE_NAME, f"md5:{CIFAR10_MD5}"),
}


class DownloadError(OSError):
    """A download failed or its checksum did not match; no partial file is left.

    The message ends by saying how to put the file in place by hand.

    Attributes
    ----------
    url : str or None
        The URL that was tried.
    path : pathlib.Path or None
        Where the file belongs: save it there by hand and it is used (its hash checked).
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


def file_md5(path):
    """The hex md5 of a file (read in chunks).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    return pooch.file_hash(os.fspath(path), alg="md5")


def fetch(name, dest=None, *, url=None, known_hash=None, progress=None, timeout=60):
    """Download the file ``name`` of :data:`REMOTE_FILES` into ``dest`` and check its hash.

    ``pooch.retrieve`` fetches it into a temporary file of its own in ``dest``, so
    two downloads never share one; only a complete file whose hash matches is renamed
    (atomically) to the final name, so no unverified file ever stands there.  On any
    failure, an interrupt included, the temporary file is removed; one left by a
    killed download (in the data folder) is removed by the next download once
    untouched for :data:`STALE_SECONDS` (``fastsoftmax data info`` lists them).  A
    valid file already in place is not downloaded again.

    Parameters
    ----------
    name : str
        A key of :data:`REMOTE_FILES`, e.g. ``"cifar10"``.
    dest : str or os.PathLike, optional
        Folder for the file (created when missing); default :func:`data_home`.
    url : str, optional
        Fetch it from here (``http://``, ``https://`` or ``file://``, a mirror)
        instead of the official URL; the file name stays the registered one.
    known_hash : str, optional
        Expected ``"md5:<hex>"`` or ``"sha256:<hex>"``; default the published one.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` once with 0 before the first
        byte and then after each chunk of at most 64 KiB (``bytes_total`` is None when
        the server sends no length).  The library never draws anything itself.
    timeout : float, default 60
        Seconds to wait on the connection before giving up.

    Returns
    -------
    pathlib.Path
        The path of the checked file.

    Raises
    ------
    ValueError
        Invalid arguments.
    DownloadError
        The connection failed or was cut, or the hash did not match.  The message
        names the URL and where to save the file by hand (the error's ``url`` and
        ``path``).
    """
    if name not in REMOTE_FILES:
        raise ValueError(f"name must be one of {sorted(REMOTE_FILES)}, got {name!r}")
    remote = REMOTE_FILES[name]
    return download_file((Path(dest) if dest is not None else data_home()) / remote.fname,
                         url=remote.url if url is None else url,
                         known_hash=remote.known_hash if known_hash is None else known_hash,
                         progress=progress, timeout=timeout, official_url=remote.url)


def download_file(final, *, url, known_hash=None, md5=None, progress=None, timeout=60,
                  official_url=None):
    """Download ``url`` to the file ``final`` and check its hash, as :func:`fetch` does.

    Parameters
    ----------
    final : str or os.PathLike
        Where the file goes (its folder is created when missing).
    url : str
    known_hash : str, optional
        ``"md5:<hex>"`` or ``"sha256:<hex>"``; or give ``md5`` as hex digits.
    md5 : str, optional
    progress, timeout
        As :func:`fetch`'s.
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
        The connection failed or was cut, or the hash did not match (the message says
        where to save the file by hand).
    """
    if known_hash is None and isinstance(md5, str):
        known_hash = f"md5:{md5}"
    official_url = official_url or url
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be a non-empty str, got {url!r}")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"url must start with http://, https:// or file://, got {url!r}")
    alg, _, digest = known_hash.lower().partition(":") if isinstance(known_hash, str) else ("",) * 3
    if (alg not in _HEX_DIGITS or len(digest) != _HEX_DIGITS[alg]
            or any(c not in "0123456789abcdef" for c in digest)):
        raise ValueError(f"known_hash must be 'md5:' or 'sha256:' and its hex digits, "
                         f"got {known_hash!r}")
    if progress is not None and not callable(progress):
        raise ValueError("progress must be a callable (bytes_done, bytes_total) or None")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(final.parent)
    downloader = _CheckedDownload(scheme, alg, digest, _ProgressBar(progress), timeout,
                                  "archive" if ".tar" in final.name else "file")
    try:
        with _pooch_quiet():
            pooch.retrieve(url, known_hash=f"{alg}:{digest}", fname=final.name, path=final.parent,
                           downloader=downloader)
    except DownloadError as exc:
        source = url if url == official_url else f"{url} (or the official {official_url})"
        raise DownloadError(
            f"{exc}; try again, or download {source} yourself "
            f"and save it as {final.name} in {final.parent}",
            url=url, path=final,
        ) from None
    return final


def download_cifar10(dest=None, *, url=CIFAR10_URL, md5=CIFAR10_MD5, progress=None, timeout=60):
    """Download the CIFAR-10 python archive into ``dest`` and check its md5.

    :func:`fetch` of ``"cifar10"``, with the md5 as hex digits.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Folder for the archive (created when missing); default :func:`data_home`.
    url : str, optional
        Where to fetch it from; the file name is always ``cifar-10-python.tar.gz``.
    md5 : str, optional
        Expected hex md5 of the archive (the published one by default).
    progress, timeout
        As for :func:`fetch`.

    Returns
    -------
    pathlib.Path
        The path of the checked archive.

    Raises
    ------
    ValueError, DownloadError
        As :func:`fetch` raises them.
    """
    if not isinstance(md5, str) or len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5.lower()):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    return fetch("cifar10", dest, url=url, known_hash=f"md5:{md5}", progress=progress,
                    timeout=timeout)


def stray_partial_downloads(dest=None, older_than=0):
    """Partial downloads left in the download folder, e.g. by a kill.

    pooch's temporary files (``tmp`` and 8 characters) count only in the data folder,
    which is fastsoftmax's own; the ``.part`` files of earlier releases anywhere.

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
    folder = Path(dest) if dest is not None else data_home()
    ours = folder.resolve() == data_home().resolve()
    return untouched_files(folder, [*_OLD_PARTS, *([_POOCH_TEMP] if ours else [])], older_than)


def _remove_stale_parts(folder):
    # a download in progress writes at least every `timeout` seconds; older ones are dead
    for p in stray_partial_downloads(folder, older_than=STALE_SECONDS):
        with contextlib.suppress(OSError):
            p.unlink()


@contextlib.contextmanager
def _pooch_quiet():
    """pooch's own log lines ("Downloading data from ...") off: progress is ours to show."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


class _ProgressBar:
    """pooch's progress-bar protocol as calls of ``callback(bytes_done, bytes_total)``."""

    def __init__(self, callback):
        self._callback = callback or (lambda done, total: None)
        self._total, self.n, self.started = None, 0, False

    @property
    def total(self):
        return self._total

    @total.setter
    def total(self, total):  # set by pooch once the answer begins; 0 when no length is sent
        self._total, self.n, self.started = int(total) or None, 0, True
        self._callback(0, self._total)

    def update(self, n):
        # pooch counts whole chunks, so its last one may overshoot the length
        done = self.n + int(n) if self.total is None else min(self.n + int(n), self.total)
        if done != self.n:
            self.n = done
            self._callback(done, self.total)

    def reset(self):  # pooch's reset and update(total) at the end fill a bar: `n` is right already
        pass

    def close(self):
        pass


class _CheckedDownload:
    """A pooch downloader: fetch into pooch's temporary file, then check its length and
    hash, so that a failure is a :class:`DownloadError` that says what went wrong (pooch
    checks the hash again before it renames the file)."""

    def __init__(self, scheme, alg, digest, bar, timeout, what="archive"):
        self.alg, self.digest, self.bar, self.what = alg, digest, bar, what
        # identity: the length the server announces is then the length of the file
        self.fetch = (self._copy_file if scheme == "file" else pooch.HTTPDownloader(
            progressbar=bar, chunk_size=_READ_CHUNK, timeout=timeout,
            headers={"Accept-Encoding": "identity"}))

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        try:
            self.fetch(url, output_file, pooch_obj)
        except OSError as exc:  # requests' errors are OSErrors too
            response = getattr(exc, "response", None)
            if response is not None:
                reason = f"HTTP {response.status_code} {response.reason}"
            elif self.bar.started:
                reason = f"cut after {os.path.getsize(output_file)} bytes ({_root_cause(exc)})"
            else:
                reason = _root_cause(exc)
            raise DownloadError(f"download of {url} failed: {reason}") from None
        size = os.path.getsize(output_file)
        if self.bar.total is not None and size != self.bar.total:
            raise DownloadError(f"download of {url} stopped after {size} of {self.bar.total} bytes")
        digest = pooch.file_hash(output_file, alg=self.alg)
        if digest != self.digest:
            raise DownloadError(f"download of {url} has {self.alg} {digest}, expected "
                                f"{self.digest}: the file is corrupted or not the official {self.what}")
        with open(output_file, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(output_file, 0o666 & ~umask)  # not the temporary file's 0o600

    def _copy_file(self, url, output_file, pooch_obj):
        """Fetch a ``file://`` URL (a mirror on a local or shared disk), which pooch cannot."""
        with open(urllib.request.url2pathname(urllib.parse.urlsplit(url).path), "rb") as src, \
                open(output_file, "wb") as out:
            self.bar.total = os.fstat(src.fileno()).st_size
            for block in iter(lambda: src.read(_READ_CHUNK), b""):
                out.write(block)
                self.bar.update(len(block))


def _root_cause(exc):
    """The innermost exception under ``exc``: requests wraps urllib3's, which wraps the
    socket's, whose message is the one that says what happened."""
    for _ in range(10):
        inner = next((e for e in (getattr(exc, "reason", None), *exc.args[:1], exc.__cause__,
                                  exc.__context__) if isinstance(e, BaseException)), None)
        if inner is None:
            break
        exc = inner
    return str(exc) or type(exc).__name__
