"""Paths as the file system sees them: one resolved output path, regular files only, names that fit.

- :func:`resolve_output`: an output's path, refused when empty, resolved (symbolic links,
  ``.`` and ``..``) to the one absolute path that is then checked and written.
- :func:`check_replaceable`: an existing output that is not a regular file (a folder, a
  FIFO, a device, a socket) is refused, ``--force`` or not.
- :func:`open_regular`: open one of our own files to read, refusing anything but a
  regular file without blocking on it (opening a FIFO waits for a writer).
- :func:`check_name_fits` and :func:`temp_stem`: an output's name fits the file system's
  limit, and so do the temporary names written beside it.
"""
import hashlib
import os
import stat

#: The usual limit of one name's length in bytes (``NAME_MAX``), when the file
#: system does not say.
DEFAULT_NAME_MAX = 255
#: Bytes a temporary name adds to its stem at most: a dot before it, then
#: ``.replaced-<pid>-<8 hex>`` or ``.<pid>-<random>.tmp`` after it (pids have up to
#: 7 digits), with room to spare.
TEMP_EXTRA = 40

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link"))


def file_kind(mode):
    """What a ``st_mode`` is, in words: ``"a regular file"``, ``"a FIFO (named pipe)"``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def resolve_output(path, what):
    """The absolute path an output ``path`` names once the file system resolves it.

    Symbolic links, ``.`` and ``..`` are resolved (``missing/..`` is the current folder),
    so that what is checked and what is written are the same path.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        The option or output named in the message (e.g. ``"--out"``).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        ``path`` is empty (it would name no file, or the current folder).
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text == "":
        raise ValueError(f"{what}: the path is empty; name a file or folder")
    return os.path.realpath(text)


def check_replaceable(path, what=None):
    """Refuse an existing ``path`` that is not a regular file (a folder, a FIFO, a device,
    a socket): only regular files are replaced.

    Parameters
    ----------
    path : str
        A resolved path (:func:`resolve_output`).
    what : str, optional
        The option named at the start of the message (e.g. ``"--plot"``).

    Raises
    ------
    FileExistsError
        ``path`` exists and is not a regular file.
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        raise FileExistsError(f"{what + ': ' if what else ''}{path!r} is {file_kind(mode)}, "
                              "not a regular file; only regular files are replaced")


def open_regular(path, error=OSError):
    """Open ``path`` to read in binary mode, only if it is a regular file.

    The kind is checked before opening and again on the open file (``fstat``), and the
    file is opened non-blocking, so a FIFO or a device is refused at once instead of
    waiting for a writer or reading forever.

    Parameters
    ----------
    path : str or os.PathLike
    error : type of Exception, default OSError
        Raised (with a message starting with the path) for anything but a regular file.

    Returns
    -------
    file object
        Opened ``"rb"``, blocking again.

    Raises
    ------
    FileNotFoundError
        No such file.
    error
        A folder, FIFO, device or socket.
    """
    path = os.fspath(path)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise error(f"{path}: {file_kind(mode)}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped since the stat above
            raise error(f"{path}: {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def name_max(folder):
    """The longest name (in bytes) the file system of ``folder`` takes."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX
    return limit if limit and limit > 0 else DEFAULT_NAME_MAX


def check_name_fits(path, what):
    """Refuse a ``path`` whose last name is longer than its file system takes.

    Raises
    ------
    ValueError
        The name is too long (it could never be written).
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    size, limit = len(os.fsencode(name)), name_max(folder)
    if size > limit:
        raise ValueError(f"{what}: the name {name[:40]!r}... is {size} bytes long; the file "
                         f"system takes at most {limit}")


def temp_stem(name, folder):
    """The part of ``name`` that temporary names beside it (in ``folder``) carry.

    ``name`` itself when ``.<name>`` and the longest temporary suffix fit the file
    system's name limit; else its first characters, ``~`` and a hash of the whole
    name, so the temporary names of two long names still differ and stay
    recognisable (:func:`fastsoftmax.io.atomic.remove_stale` derives the same stem).
    """
    raw = os.fsencode(name)
    room = name_max(folder) - TEMP_EXTRA
    if len(raw) <= room:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    room -= len(digest) + 1
    kept = []
    for char in name:  # whole characters only: a cut UTF-8 sequence is no valid name
        room -= len(os.fsencode(char))
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + "~" + digest
