"""MNIST and Fashion-MNIST: the four ``idx`` files, gzipped or not.

An idx file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the values.  The header is
checked against what the file holds before anything is allocated: the magic, the dtype
code, the rank, every dimension, and the declared size against the bytes present (a
plain file) or against :data:`MAX_IDX_BYTES` and what the gzip stream really
decompresses to, read in chunks, so that a header claiming more than the file holds
allocates nothing near its claim.
"""
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from fastsoftmax.data._unpickle import CorruptDataError
from fastsoftmax.data.cifar import _FolderSource
from fastsoftmax.io.fields import check_pixels

__all__ = ["IDX_FILES", "MAX_IDX_BYTES", "find_idx_folder", "is_idx", "load_idx", "read_idx"]

#: idx dtype codes: the name the format gives each, and its big-endian NumPy dtype.
IDX_DTYPES = {0x08: ("unsigned byte", ">u1"), 0x09: ("signed byte", ">i1"),
              0x0B: ("short", ">i2"), 0x0C: ("int", ">i4"), 0x0D: ("float", ">f4"),
              0x0E: ("double", ">f8")}
#: The most data bytes one idx file may declare (MNIST's training images: 47 MB).
MAX_IDX_BYTES = 1 << 30
#: The files of a split: (images, labels), without the ``.gz`` they may have.
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_CHUNK = 1 << 18  # a lying header costs at most one chunk
_GZIP_MAGIC = b"\x1f\x8b"

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
#: md5 of each published ``t10k-labels-idx1-ubyte.gz``: which data set a folder holds.
_TEST_LABELS_MD5 = {"ec29112dd5afa0611ce80d1b7f02629c": "mnist",
                    "bb300cfdad3c16e7a12a480ee83cd310": "fashion-mnist"}


def _read_upto(stream, n):
    """Up to ``n`` bytes of ``stream``, read in chunks: never more memory than the bytes
    really there (a gzip stream may be far shorter than a header claims)."""
    out = bytearray()
    while len(out) < n:
        block = stream.read(min(_CHUNK, n - len(out)))
        if not block:
            break
        out += block
    return out


def _header(stream, name, rank):
    """The dtype and the dimensions of an idx header, checked."""
    magic = bytes(_read_upto(stream, 4))
    if len(magic) < 4:
        raise CorruptDataError(f"{name}: truncated idx file ({len(magic)} bytes, shorter than "
                               "the 4-byte magic number)")
    if magic[:2] != b"\0\0":
        raise CorruptDataError(f"{name}: not an idx file (magic number {magic.hex()}, "
                               "expected 0000 then a dtype code and a rank)")
    if magic[2] != 0x08:
        known = IDX_DTYPES.get(magic[2], ("unknown",))[0]
        raise CorruptDataError(f"{name}: idx dtype code {magic[2]:#04x} ({known}), expected "
                               "0x08 (unsigned byte)")
    if magic[3] != rank:
        raise CorruptDataError(f"{name}: idx file of {magic[3]} dimensions, expected {rank}")
    raw = bytes(_read_upto(stream, 4 * rank))
    if len(raw) < 4 * rank:
        raise CorruptDataError(f"{name}: truncated idx header ({4 + len(raw)} bytes, expected "
                               f"{4 + 4 * rank})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    if 0 in dims:
        raise CorruptDataError(f"{name}: idx header declares dimensions "
                               f"{'x'.join(map(str, dims))}: no data")
    return dims


def read_idx(path, rank, max_bytes=MAX_IDX_BYTES):
    """The uint8 array of an idx file of ``rank`` dimensions, gzipped or not.

    Parameters
    ----------
    path : str or os.PathLike
        The file (a gzip stream is recognised by its first bytes, not its name).
    rank : int
        The number of dimensions it must have (3 for images, 1 for labels).
    max_bytes : int, default :data:`MAX_IDX_BYTES`
        The most data bytes the header may declare.

    Returns
    -------
    ndarray of uint8, C-contiguous, of the declared shape

    Raises
    ------
    CorruptDataError
        Not an idx file, a dtype other than unsigned bytes, another rank, a zero
        dimension, more than ``max_bytes`` declared, a file (or its decompressed
        stream) shorter or longer than its header declares, corrupted gzip data.
    """
    path = Path(path)
    name = str(path)
    with _FolderSource(path.parent).open(path.name) as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        try:
            if gzipped:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _read_body(stream, name, rank, max_bytes, None)
            return _read_body(raw, name, rank, max_bytes, os.fstat(raw.fileno()).st_size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise CorruptDataError(f"{name}: truncated or corrupted gzip data "
                                   f"({exc or type(exc).__name__})") from None


def _read_body(stream, name, rank, max_bytes, file_size):
    dims = _header(stream, name, rank)
    n_bytes = int(np.prod(dims, dtype=object))
    shape = "x".join(map(str, dims))
    if n_bytes > max_bytes:
        raise CorruptDataError(f"{name}: idx header declares {shape} values ({n_bytes:,} "
                               f"bytes), more than the {max_bytes:,} an idx file may hold")
    header_bytes = 4 + 4 * rank
    if file_size is not None and file_size - header_bytes != n_bytes:
        raise CorruptDataError(
            f"{name}: idx header declares {shape} values ({n_bytes:,} bytes) but the file "
            f"holds {file_size - header_bytes:,} after its header: "
            + ("truncated or a wrong header" if file_size - header_bytes < n_bytes
               else "more data than declared"))
    data = _read_upto(stream, n_bytes)
    if len(data) < n_bytes:
        raise CorruptDataError(f"{name}: idx header declares {shape} values ({n_bytes:,} "
                               f"bytes) but the decompressed file holds {len(data):,} after "
                               "its header: truncated or a wrong header")
    if stream.read(1):  # also reads to the end of the gzip stream: its CRC is checked
        raise CorruptDataError(f"{name}: more data than the idx header declares "
                               f"({shape} values)")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _split_files(folder):
    """``{"train": (images, labels), "test": ...}`` paths in ``folder``, the ``.gz`` or
    the plain file, or None when a file is missing."""
    found = {}
    for split, names in IDX_FILES.items():
        paths = []
        for stem in names:
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.exists():
                    paths.append(candidate)
                    break
            else:
                return None
        found[split] = tuple(paths)
    return found


def find_idx_folder(path):
    """The folder of the four idx files: ``path`` itself or its ``raw`` subfolder
    (torchvision's ``MNIST/raw``), or None."""
    path = Path(path)
    if not path.is_dir():
        return None
    for folder in (path, path / "raw"):
        if folder.is_dir() and _split_files(folder) is not None:
            return folder
    return None


def is_idx(path):
    """Whether ``path`` is a folder holding MNIST-style idx files (or its ``raw`` does)."""
    return find_idx_folder(path) is not None


def which_idx_dataset(folder):
    """``"mnist"`` or ``"fashion-mnist"``: by the md5 of the published test-labels file
    when it is that file, else by the folder's path (a name holding "fashion")."""
    labels = _split_files(Path(folder))["test"][1]
    if labels.suffix == ".gz" and labels.is_file() and labels.stat().st_size < _CHUNK:
        kind = _TEST_LABELS_MD5.get(hashlib.md5(labels.read_bytes(),
                                                usedforsecurity=False).hexdigest())
        if kind:
            return kind
    parts = Path(os.path.abspath(folder)).parts
    return "fashion-mnist" if any("fashion" in p.lower() for p in parts) else "mnist"


def load_idx(path, *, return_class_names=False):
    """Load MNIST or Fashion-MNIST from its four idx files.

    Parameters
    ----------
    path : str or os.PathLike
        A folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped
        (``.gz``, as published) or not, or the folder above a ``raw`` folder holding them.
    return_class_names : bool, default False
        Also return the class names and the data set's name: ``"0"`` to ``"9"`` for
        MNIST; Fashion-MNIST's ten names when the test-labels file is the published
        Fashion-MNIST one, or the folder's path names "fashion".

    Returns
    -------
    (X_train, y_train), (X_test, y_test)[, class_names, name]
        ``X_*``: uint8 (n, rows, cols) grayscale images; ``y_*``: int64 labels 0..9.

    Raises
    ------
    CorruptDataError
        A file is not a valid idx file (:func:`read_idx`), images and labels differ in
        number, images are larger than a model takes, or a label is out of range 0..9.
    ValueError
        ``path`` holds no idx files.
    """
    folder = find_idx_folder(path)
    if folder is None:
        raise ValueError(f"{path}: no MNIST idx files (train-images-idx3-ubyte[.gz], "
                         "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                         "t10k-labels-idx1-ubyte[.gz])")
    splits = []
    for images_path, labels_path in _split_files(folder).values():
        images = read_idx(images_path, 3)
        try:
            check_pixels(images.shape[1], images.shape[2], f"{images_path}: images")
        except ValueError as exc:
            raise CorruptDataError(str(exc)) from None
        labels = read_idx(labels_path, 1).astype(np.int64)
        if len(labels) != len(images):
            raise CorruptDataError(f"{labels_path}: {len(labels)} labels for the "
                                   f"{len(images)} images of {images_path.name}")
        if labels.max() > 9:
            bad = labels[labels > 9]
            raise CorruptDataError(f"{labels_path}: label {int(bad[0])} out of range 0..9 "
                                   f"({bad.size} bad label(s))")
        splits.append((np.ascontiguousarray(images), labels))
    if splits[0][0].shape[1:] != splits[1][0].shape[1:]:
        raise CorruptDataError(f"{folder}: training images are "
                               f"{'x'.join(map(str, splits[0][0].shape[1:]))}, test images "
                               f"{'x'.join(map(str, splits[1][0].shape[1:]))}")
    if not return_class_names:
        return splits[0], splits[1]
    kind = which_idx_dataset(folder)
    return (splits[0], splits[1],
            list(FASHION_CLASSES if kind == "fashion-mnist" else MNIST_CLASSES), kind)
