"""Atomic file writes: readers see the old file or the complete new one, never a part."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside ``path``; rename it onto ``path`` when the block ends.

    If the block raises, the temporary file is removed and ``path`` is left untouched.
    The new file gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s
    ``0o600``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder must exist.
    mode : {"wb", "w"}

    Yields
    ------
    file object
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
