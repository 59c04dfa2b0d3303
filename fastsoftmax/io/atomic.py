"""Atomic writes: readers see the old file or folder or the complete new one, never a part.

- :func:`atomic_open`: one file, written beside its target and renamed onto it.
- :func:`staged_folder`: a whole folder (a sweep's results and plots, a study's five
  analyses), built in a hidden sibling folder and renamed into place as a whole.

Temporary names carry the writer's process id (``.<name>.<pid>-<random>.tmp`` and
``.<name>.partial-<pid>-<random>``), so what a killed run left is recognised and
removed by the next run that writes the same target (:func:`remove_stale`), while a
run still working is left alone.  For a name too long to take those suffixes within
the file system's name limit, ``<name>`` is shortened (:func:`fastsoftmax.io.paths.temp_stem`).

Targets are resolved first (:func:`fastsoftmax.io.paths.resolve_output`), and only a
regular file is ever replaced by a file.  An error while writing (a full disk) names
the file being written.
"""
import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastsoftmax.io.paths import check_replaceable, resolve_output, temp_stem

_STAGE_RE = r"\.(?:partial|replaced)-(\d+)-[0-9a-f]+"
_TEMP_RE = r"\.(\d+)-[^.]*\.tmp"


@contextlib.contextmanager
def atomic_open(path, mode="wb", replace=True):
    """Open a temporary file beside ``path``; rename it onto ``path`` when the block ends.

    If the block raises, the temporary file is removed and ``path`` is left untouched.
    The new file gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s
    ``0o600``.

    Parameters
    ----------
    path : str or os.PathLike
        Resolved first (symbolic links, ``..``); the folder must exist.
    mode : {"wb", "w"}
    replace : bool, default True
        Replace a file at ``path``.  Without it the new file is published only where
        nothing is (a hard link, which fails on an existing name, where the file system
        has them), and ``FileExistsError`` is raised otherwise.

    Yields
    ------
    file object

    Raises
    ------
    ValueError
        ``path`` is empty.
    FileExistsError
        ``path`` exists and is not a regular file (a folder, a FIFO, a device...);
        checked before writing and again before the rename.
    OSError
        Writing failed (e.g. a full disk); the message names ``path``.
    """
    path = resolve_output(path, "output")
    check_replaceable(path)
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(name, folder)}.{os.getpid()}-",
                               suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if replace:
            check_replaceable(path)
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.strerror is not None:
            exc.filename = path  # "[Errno 28] No space left on device" alone names nothing
        raise


def _publish_new(tmp, path):
    """Put the file ``tmp`` at ``path`` unless something is there already."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path!r} already exists (written meanwhile?); nothing was "
                              "replaced") from None
    except OSError as exc:  # no hard links here (e.g. FAT, some network file systems)
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.lexists(path):
            raise FileExistsError(f"{path!r} already exists; nothing was replaced") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def process_alive(pid):
    """Whether a process ``pid`` runs on this machine (one we may not signal counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path):
    """Remove what killed writers of ``path`` left beside it; returns the names removed.

    That is ``atomic_open``'s ``.<name>.<pid>-*.tmp`` files and ``staged_folder``'s
    ``.<name>.partial-<pid>-*`` / ``.<name>.replaced-<pid>-*`` folders whose process no
    longer runs.  Files of live processes (another run at work) are kept.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    pattern = re.compile(re.escape(f".{temp_stem(name, folder)}") + f"(?:{_STAGE_RE}|{_TEMP_RE})$")
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry)
        if not match:
            continue
        pid = int(match.group(1) or match.group(2))
        if pid == os.getpid() or process_alive(pid):
            continue
        stray = os.path.join(folder, entry)
        try:
            if os.path.isdir(stray) and not os.path.islink(stray):
                shutil.rmtree(stray)
            else:
                os.unlink(stray)
            removed.append(entry)
        except OSError:
            pass
    return removed


def untouched_files(folder, patterns, older_than=0):
    """Files in ``folder`` matching any glob of ``patterns`` and not modified for
    ``older_than`` seconds, sorted (a file that vanishes meanwhile is left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    found = set()
    for pattern in patterns:
        for path in folder.glob(pattern):
            try:
                if now - path.stat().st_mtime >= older_than:
                    found.add(path)
            except OSError:
                pass
    return sorted(found)


def check_writable_folder(folder, what):
    """Raise ``PermissionError`` unless a file can be created in ``folder`` (tried for real:
    permissions, read-only mounts and ACLs all count).

    Parameters
    ----------
    folder : str
        An existing folder.
    what : str
        What the folder is for, named in the message (e.g. ``"--out"``).
    """
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".fastsoftmax-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PermissionError(f"{what}: cannot write in folder {folder!r} ({reason})") from None


def existing_ancestor(path):
    """The nearest folder at or above ``path`` that exists (``path``'s own when it does)."""
    current = os.path.abspath(os.fspath(path))
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


@contextlib.contextmanager
def staged_folder(path, replace=False):
    """Build a folder beside ``path`` and publish it at ``path`` as a whole.

    The block writes into the yielded hidden sibling folder
    (``.<name>.partial-<pid>-<random>``); when it ends, the folder is renamed onto
    ``path``.  If the block raises (or the process is killed), ``path`` is untouched:
    it holds the old contents or nothing, never a part of the new ones.  Leftovers of
    killed runs are removed first (:func:`remove_stale`).

    Parameters
    ----------
    path : str or os.PathLike
        Missing parent folders are created.
    replace : bool, default=False
        Replace an existing non-empty ``path`` (atomically with Linux's
        ``renameat2(RENAME_EXCHANGE)``; elsewhere by two renames, between which
        ``path`` is briefly absent).  An empty folder is always replaced.

    Yields
    ------
    str
        The folder to write into.

    Raises
    ------
    FileExistsError
        ``path`` is not empty (or is a file) and not ``replace``; checked again when
        publishing, in case another run published there meanwhile.
    """
    path = resolve_output(path, "output")
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale(path)
    stage = os.path.join(parent, f".{temp_stem(name, parent)}.partial-{os.getpid()}-"
                                 f"{uuid.uuid4().hex[:8]}")
    os.mkdir(stage)
    try:
        yield stage
        _publish(stage, path, replace)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            _name_published(exc, stage, path)
        raise


def _name_published(exc, stage, path):
    """Name the file an error was about by its published path, not the hidden stage's."""
    for attr in ("filename", "filename2"):
        value = getattr(exc, attr)
        if isinstance(value, str) and (value == stage or value.startswith(stage + os.sep)):
            setattr(exc, attr, path + value[len(stage):])


def _publish(stage, path, replace):
    if os.path.lexists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path!r} is a file, not a folder")
    try:
        os.rename(stage, path)  # atomic; replaces only a missing path or an empty folder
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        if not replace:
            raise FileExistsError(f"output folder {path!r} is not empty (another run wrote "
                                  "there meanwhile?); nothing was replaced") from None
        _replace_folder(stage, path)
    _fsync_folder(os.path.dirname(path))


def _replace_folder(stage, path):
    """Put ``stage`` at ``path`` and remove the folder that was there."""
    parent, name = os.path.split(path)
    if _exchange(stage, path):
        shutil.rmtree(stage, ignore_errors=True)  # now holds the old contents
        return
    aside = os.path.join(parent, f".{temp_stem(name, parent)}.replaced-{os.getpid()}-"
                                 f"{uuid.uuid4().hex[:8]}")
    os.rename(path, aside)
    try:
        os.rename(stage, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a, b):
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the file system cannot
        return False
    raise OSError(code, os.strerror(code), b)


def _fsync_folder(folder):
    """Make a rename in ``folder`` durable (where the OS lets a folder be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
