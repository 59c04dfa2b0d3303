"""Load CIFAR-10 from the official python or binary layouts, folders or archives.

Archives (``cifar-10-python.tar.gz``, ``cifar-10-binary.tar.gz``) are read member by
member in memory; nothing is ever extracted to disk.  A batch or metadata file must be
a regular file: in a folder a symbolic link counts as the file it points to, in an
archive a link member is refused (its target could be anything).
"""
import os
import re
import stat
import tarfile
import zlib
from pathlib import Path

import numpy as np

from fastsoftmax.data._unpickle import (
    IMAGE_BYTES,
    CorruptDataError,
    _check_labels,
    check_batch,
    check_class_names,
    check_meta,
    restricted_load,
)

__all__ = ["DatasetNotFoundError", "load_cifar10", "is_cifar10", "HOW_TO_GET_CIFAR10"]

PY_FOLDER = "cifar-10-batches-py"
BIN_FOLDER = "cifar-10-batches-bin"
PY_ARCHIVE = "cifar-10-python.tar.gz"
BIN_ARCHIVE = "cifar-10-binary.tar.gz"
HOW_TO_GET_CIFAR10 = (
    "run `fastsoftmax data download` (or pass --download to `fastsoftmax train`) to "
    "fetch CIFAR-10 into the cache folder"
)
_TRAIN_RE = re.compile(r"data_batch_(\d+)$")
_TRAIN_BIN_RE = re.compile(r"data_batch_(\d+)\.bin$")
_RECORD = 1 + IMAGE_BYTES


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """A data set path does not exist; the message says how to get the data."""


def _to_images(data_list):
    """(n_i, 3072) planar rows of several batches -> one C-contiguous uint8 (n, 32, 32, 3)."""
    n = sum(len(data) for data in data_list)
    out = np.empty((n, 1024, 3), dtype=np.uint8)
    start = 0
    for data in data_list:
        planes = data.reshape(-1, 3, 1024)
        for channel in range(3):
            # one copy per channel: about twice as fast as numpy's 4-D transposing copy
            out[start:start + len(planes), :, channel] = planes[:, channel]
        start += len(planes)
    return out.reshape(n, 32, 32, 3)


def _batch_numbers(names, pattern):
    found = {}
    for n in names:
        m = pattern.match(n)
        if m:
            found[int(m.group(1))] = n
    return [found[k] for k in sorted(found)]


def _mode_kind(mode):
    """What a file of ``st_mode`` is, or None for a regular file."""
    for test, kind in ((stat.S_ISREG, None), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return kind
    return "not a file"


class _FolderSource:
    """The files of a folder; a symbolic link counts as the file it points to."""

    def __init__(self, root):
        self.root = Path(root)
        self.label = str(self.root)

    def names(self):
        return [p.name for p in self.root.iterdir()]

    def kind(self, name):
        """None for a regular file, else what ``name`` is (a folder, a FIFO...)."""
        path = self.root / name
        try:
            return _mode_kind(os.stat(path).st_mode)
        except FileNotFoundError:
            if os.path.islink(path):
                return f"a broken symbolic link to {os.readlink(path)!r}"
            return "gone"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"

    def read(self, name):
        with self.open(name) as f:
            return f.read()

    def open(self, name):
        # O_NONBLOCK: a FIFO put in place after the check must not block the open
        fd = os.open(self.root / name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_BINARY", 0))
        kind = _mode_kind(os.fstat(fd).st_mode)
        if kind is not None:
            os.close(fd)
            raise CorruptDataError(f"{self.display(name)}: {kind}, not a regular file")
        return os.fdopen(fd, "rb")

    def display(self, name):
        return os.path.join(str(self.root), name)


class _TarSource:
    def __init__(self, tar, prefix, label):
        self.tar = tar
        self.prefix = prefix
        self.label = label
        self.members = {}
        for m in tar.getmembers():
            if m.name.rstrip("/").startswith(prefix + "/"):
                self.members[m.name.rstrip("/")[len(prefix) + 1:]] = m

    def names(self):
        return list(self.members)

    def kind(self, name):
        """None for a regular file member, else what ``name`` is (a symbolic link...)."""
        m = self.members[name]
        if m.isreg():
            return None
        if m.issym():
            return f"a symbolic link to {m.linkname!r}"
        if m.islnk():
            return f"a hard link to {m.linkname!r}"
        for test, kind in ((m.isdir, "a folder"), (m.isfifo, "a FIFO"), (m.ischr, "a device"),
                           (m.isblk, "a device")):
            if test():
                return kind
        return "not a file"

    def open(self, name):
        f = self.tar.extractfile(self.members[name])
        if f is None:  # pragma: no cover - isfile() members always give a file
            raise CorruptDataError(f"{self.display(name)}: cannot read archive member")
        return f

    def read(self, name):
        with self.open(name) as f:
            return f.read()

    def display(self, name):
        return f"{self.label}:{self.prefix}/{name}"


def _train_batch_names(src, pattern, first, required, layout):
    """Names of the training batches in ``src``, in order; a clear error naming every
    missing file (``first`` stands for the training batches when there are none), or
    the first batch or metadata file that is not a regular file (a folder, a FIFO, a
    symbolic link in an archive): it is never skipped."""
    names = set(src.names())
    train = _batch_numbers(names, pattern)
    missing = [n for n in required if n not in names]
    if not train:
        missing.insert(0, first)
    if missing:
        raise CorruptDataError(
            f"{src.label}: CIFAR-10 {layout} files missing: {', '.join(missing)}"
        )
    for name in [*train, *required]:  # never skipped: a batch left out is a wrong answer
        kind = src.kind(name)
        if kind is not None:
            raise CorruptDataError(f"{src.display(name)}: {kind}, not a regular file")
    return train


def _load_python(src):
    train = _train_batch_names(src, _TRAIN_RE, "data_batch_1", ("batches.meta", "test_batch"),
                               "python")
    class_names = check_meta(
        restricted_load(src.read("batches.meta"), src.display("batches.meta")),
        src.display("batches.meta"),
    )

    def batch(name):
        with src.open(name) as f:
            obj = restricted_load(f, src.display(name))
        return check_batch(obj, src.display(name))

    return _assemble([batch(n) for n in train], batch("test_batch"), class_names)


def _read_bin_batch(raw, name):
    if len(raw) == 0 or len(raw) % _RECORD:
        raise CorruptDataError(
            f"{name}: size {len(raw)} bytes is not a positive multiple of {_RECORD} "
            "(1 label byte + 3072 pixel bytes per image): truncated or wrong format"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    _check_labels(labels, name)
    return records[:, 1:], labels


def _load_binary(src):
    train = _train_batch_names(src, _TRAIN_BIN_RE, "data_batch_1.bin",
                               ("batches.meta.txt", "test_batch.bin"), "binary")
    meta_name = src.display("batches.meta.txt")
    try:
        text = src.read("batches.meta.txt").decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptDataError(f"{meta_name}: not a text file") from None
    class_names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(class_names) != 10:
        raise CorruptDataError(f"{meta_name}: expected 10 class names, found {len(class_names)}")
    check_class_names(class_names, meta_name)
    batches = [_read_bin_batch(src.read(n), src.display(n)) for n in train]
    test = _read_bin_batch(src.read("test_batch.bin"), src.display("test_batch.bin"))
    return _assemble(batches, test, class_names)


def _assemble(train_batches, test_batch, class_names):
    X_train = _to_images([d for d, _ in train_batches])
    y_train = np.concatenate([lab for _, lab in train_batches]).astype(np.int64)
    X_test = _to_images([test_batch[0]])
    y_test = np.ascontiguousarray(test_batch[1], dtype=np.int64)
    return (X_train, y_train), (X_test, y_test), class_names


def _find_layout(path):
    """Return ("py"|"bin", folder) or ("tar", archive) for ``path``, or None."""
    path = Path(path)
    if path.is_file():
        return ("tar", path) if path.name.endswith((".tar.gz", ".tgz", ".tar")) else None
    if not path.is_dir():
        return None
    if (path / "data_batch_1").is_file() or (path / "batches.meta").is_file():
        return ("py", path)
    if (path / "data_batch_1.bin").is_file() or (path / "batches.meta.txt").is_file():
        return ("bin", path)
    for sub, kind in ((PY_FOLDER, "py"), (BIN_FOLDER, "bin")):
        if (path / sub).is_dir():
            return (kind, path / sub)
    for archive in (PY_ARCHIVE, BIN_ARCHIVE):
        if (path / archive).is_file():
            return ("tar", path / archive)
    return None


def is_cifar10(path):
    """Whether ``path`` looks like a CIFAR-10 folder, parent folder or archive.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool
    """
    return _find_layout(path) is not None


def load_cifar10(path, *, return_class_names=False):
    """Load CIFAR-10 from the official python or binary layout.

    Parameters
    ----------
    path : str or os.PathLike
        The ``cifar-10-batches-py`` (or ``cifar-10-batches-bin``) folder, a folder
        holding one of those or one of the official archives, or the archive itself
        (``cifar-10-python.tar.gz`` / ``cifar-10-binary.tar.gz``), which is read in
        memory without unpacking to disk.  All ``data_batch_<k>`` files present form
        the training set; ``test_batch`` is the test set.
    return_class_names : bool, default False
        Also return the class names from ``batches.meta`` (``batches.meta.txt``).

    Returns
    -------
    (X_train, y_train), (X_test, y_test)[, class_names]
        ``X_*`` are C-contiguous uint8 arrays of shape (n, 32, 32, 3) (RGB),
        ``y_*`` are int64 arrays of labels in ``0 .. 9``; ``class_names`` is a
        list of 10 str when asked for.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist (the message says how to get the data).
    CorruptDataError
        A file is missing, truncated, corrupted, unsafe, holds images of the wrong
        size or labels out of range; the message names the file.
    ValueError
        ``path`` is not a CIFAR-10 folder or archive.
    """
    if path is None or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file or folder; {HOW_TO_GET_CIFAR10}")
    layout = _find_layout(path)
    if layout is None:
        raise ValueError(
            f"{path}: not a CIFAR-10 folder or archive (expected {PY_FOLDER}, "
            f"{BIN_FOLDER}, {PY_ARCHIVE} or {BIN_ARCHIVE})"
        )
    kind, where = layout
    if kind == "py":
        result = _load_python(_FolderSource(where))
    elif kind == "bin":
        result = _load_binary(_FolderSource(where))
    else:
        result = _load_archive(where)
    if return_class_names:
        return result
    return result[0], result[1]


def open_archive(archive):
    """``archive`` opened as a tar file (any compression), or :class:`CorruptDataError`."""
    try:
        return tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptDataError(f"{archive}: not a readable tar archive ({exc})") from None


def _load_archive(archive):
    tar = open_archive(archive)
    try:
        with tar:
            prefixes = {m.name.split("/", 1)[0] for m in tar.getmembers() if "/" in m.name}
            if PY_FOLDER in prefixes:
                return _load_python(_TarSource(tar, PY_FOLDER, str(archive)))
            if BIN_FOLDER in prefixes:
                return _load_binary(_TarSource(tar, BIN_FOLDER, str(archive)))
            raise CorruptDataError(
                f"{archive}: archive holds neither {PY_FOLDER}/ nor {BIN_FOLDER}/"
            )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        # e.g. a gzip stream cut short: "Compressed file ended before the end-of-stream marker"
        raise CorruptDataError(f"{archive}: truncated or corrupted archive ({exc})") from None
