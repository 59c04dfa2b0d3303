"""SVHN, cropped digits: ``train_32x32.mat`` and ``test_32x32.mat`` (``extra_32x32.mat``
optional), MATLAB 5 files read through ``scipy.io.loadmat``.

Before anything is loaded, the declared variables are listed (``scipy.io.whosmat``,
which reads their headers only) and checked: ``X`` must be uint8 of shape
(32, 32, 3, n), ``y`` integer-valued of shape (n, 1); and each variable's declared
bytes must fit in the bytes its data element holds (an uncompressed element), or in
zlib's largest expansion of them (a compressed one), and in :data:`MAX_MAT_BYTES`.
Label 10 means digit 0.
"""
import struct
from pathlib import Path

import numpy as np

from fastsoftmax.data._unpickle import CorruptDataError
from fastsoftmax.data.cifar import _FolderSource

__all__ = ["MAX_MAT_BYTES", "SVHN_FILES", "is_svhn", "load_svhn", "read_svhn_mat"]

#: The files of each split.
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
#: The most bytes a variable may declare (SVHN's extra set: 1.6 GB of images).
MAX_MAT_BYTES = 2 << 30
#: zlib never expands data by more than this factor (deflate's limit is 1032:1).
_ZLIB_MAX_RATIO = 1032
_MAT_HEADER = 128
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_ITEMSIZE = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
             "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "logical": 1}
_LABEL_CLASSES = {"uint8", "double", "single", "int8", "int16", "uint16", "int32", "uint32",
                  "int64", "uint64"}


def _data_elements(path, name):
    """``[(type, bytes on disk)]`` of the top-level data elements of a MATLAB 5 file,
    each checked to end within the file."""
    with _FolderSource(path.parent).open(path.name) as f:
        size = f.seek(0, 2)
        f.seek(0)
        header = f.read(_MAT_HEADER)
        if len(header) < _MAT_HEADER:
            raise CorruptDataError(f"{name}: truncated MAT-file ({len(header)} bytes, shorter "
                                   f"than the {_MAT_HEADER}-byte header)")
        if header.startswith(b"MATLAB 7.3"):
            raise CorruptDataError(f"{name}: a MATLAB 7.3 (HDF5) file; SVHN's files are "
                                   "MATLAB 5 files")
        if not header.startswith(b"MATLAB 5.0 MAT-file") or header[126:128] not in (b"IM",
                                                                                 b"MI"):
            raise CorruptDataError(f"{name}: not a MATLAB 5 MAT-file")
        order = "<" if header[126:128] == b"IM" else ">"
        elements, offset = [], _MAT_HEADER
        while offset < size:
            f.seek(offset)
            tag = f.read(8)
            if len(tag) < 8:
                raise CorruptDataError(f"{name}: truncated MAT-file (a data element's tag "
                                       f"at byte {offset:,} is cut)")
            kind, n_bytes = struct.unpack(order + "II", tag)
            if kind not in (_MI_MATRIX, _MI_COMPRESSED):
                raise CorruptDataError(f"{name}: data element of type {kind} at byte "
                                       f"{offset:,}, expected a matrix")
            if offset + 8 + n_bytes > size:
                raise CorruptDataError(
                    f"{name}: truncated MAT-file (a data element at byte {offset:,} declares "
                    f"{n_bytes:,} bytes, {size - offset - 8:,} remain)")
            elements.append((kind, n_bytes))
            offset += 8 + n_bytes + (-n_bytes % 8 if kind == _MI_MATRIX else 0)
    return elements


def _declared(path, name):
    """``{variable: (shape, class)}`` of a MAT-file, each variable's declared size checked
    against the bytes of its data element."""
    import scipy.io  # optional, heavy: only for SVHN

    elements = _data_elements(path, name)
    try:
        variables = scipy.io.whosmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises many kinds on a corrupt file
        raise CorruptDataError(f"{name}: unreadable MAT-file ({type(exc).__name__}: "
                               f"{exc})") from None
    if len(variables) != len(elements):
        raise CorruptDataError(f"{name}: {len(variables)} variables in "
                               f"{len(elements)} data elements")
    found = {}
    for (var, shape, cls), (kind, n_bytes) in zip(variables, elements):
        declared = int(np.prod(shape, dtype=object)) * _ITEMSIZE.get(cls, 1)
        if declared > MAX_MAT_BYTES:
            room = f"the {MAX_MAT_BYTES:,} a variable may hold"
        elif kind == _MI_MATRIX and declared > n_bytes:
            room = f"the {n_bytes:,} bytes of its data element"
        elif kind == _MI_COMPRESSED and declared > n_bytes * _ZLIB_MAX_RATIO:
            room = f"its {n_bytes:,} compressed bytes can hold"
        else:
            room = None
        if room:
            raise CorruptDataError(f"{name}: variable {var!r} declares shape {tuple(shape)} "
                                   f"of {cls} ({declared:,} bytes), more than {room}")
        found[var] = (tuple(int(n) for n in shape), cls)
    return found


def read_svhn_mat(path):
    """Images and labels of one SVHN ``.mat`` file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    images : ndarray of uint8, shape (n, 32, 32, 3), C-contiguous
    labels : ndarray of int64, shape (n,)
        The digits 0..9 (the file's label 10 is digit 0).

    Raises
    ------
    CorruptDataError
        Not a MATLAB 5 file, truncated, ``X`` or ``y`` missing or of the wrong shape
        or class, a declared size the file cannot hold, labels not integers 1..10.
    """
    import scipy.io  # optional, heavy: only for SVHN

    path = Path(path)
    name = str(path)
    declared = _declared(path, name)
    for var in ("X", "y"):
        if var not in declared:
            raise CorruptDataError(f"{name}: no variable {var!r} (SVHN files hold X and y)")
    (x_shape, x_cls), (y_shape, y_cls) = declared["X"], declared["y"]
    if len(x_shape) != 4 or x_shape[:3] != (32, 32, 3) or x_shape[3] < 1 or x_cls != "uint8":
        raise CorruptDataError(f"{name}: X has shape {x_shape} of {x_cls}, expected "
                               "(32, 32, 3, n) of uint8")
    n = x_shape[3]
    if y_shape not in ((n, 1), (1, n)) or y_cls not in _LABEL_CLASSES:
        raise CorruptDataError(f"{name}: y has shape {y_shape} of {y_cls}, expected ({n}, 1) "
                               "of numbers (one label per image)")
    try:
        loaded = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except Exception as exc:  # noqa: BLE001 - scipy raises many kinds on a corrupt file
        raise CorruptDataError(f"{name}: unreadable MAT-file ({type(exc).__name__}: "
                               f"{exc})") from None
    X, y = loaded.get("X"), loaded.get("y")
    if not isinstance(X, np.ndarray) or X.shape != x_shape or X.dtype != np.uint8:
        raise CorruptDataError(f"{name}: X does not hold what its header declares")
    if not isinstance(y, np.ndarray) or y.size != n or y.dtype.kind not in "uif":
        raise CorruptDataError(f"{name}: y does not hold what its header declares")
    y = y.reshape(-1)
    bad = ~np.isin(y, np.arange(1, 11))
    if bad.any():
        raise CorruptDataError(f"{name}: label {y[bad][0].item()!r} out of range 1..10 "
                               f"({int(bad.sum())} bad label(s))")
    labels = y.astype(np.int64) % 10  # label 10 is the digit 0
    del loaded
    images = np.ascontiguousarray(np.moveaxis(X, 3, 0))
    return images, labels


def find_svhn_folder(path):
    """The folder holding ``train_32x32.mat`` and ``test_32x32.mat``: ``path`` or its
    ``svhn`` subfolder; None if neither."""
    path = Path(path)
    for folder in (path, path / "svhn"):
        if folder.is_dir() and all((folder / SVHN_FILES[s]).exists() for s in ("train", "test")):
            return folder
    return None


def is_svhn(path):
    """Whether ``path`` is an SVHN folder (see :func:`find_svhn_folder`)."""
    return find_svhn_folder(path) is not None


def load_svhn(path, *, extra=False, return_class_names=False):
    """Load SVHN's cropped digits.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding ``train_32x32.mat`` and ``test_32x32.mat`` (or its parent,
        when the folder is called ``svhn``).
    extra : bool, default False
        Add the 531,131 images of ``extra_32x32.mat`` to the training set.
    return_class_names : bool, default False
        Also return the class names ``"0"`` to ``"9"``.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)[, class_names]
        ``X_*``: C-contiguous uint8 (n, 32, 32, 3) RGB images; ``y_*``: int64 digits.

    Raises
    ------
    CorruptDataError
        A file is malformed (:func:`read_svhn_mat`).
    ValueError
        ``path`` holds no SVHN files, or ``extra`` without ``extra_32x32.mat``.
    """
    folder = find_svhn_folder(path)
    if folder is None:
        raise ValueError(f"{path}: no SVHN files (train_32x32.mat and test_32x32.mat)")
    X_train, y_train = read_svhn_mat(folder / SVHN_FILES["train"])
    if extra:
        if not (folder / SVHN_FILES["extra"]).exists():
            raise ValueError(f"{folder}: no {SVHN_FILES['extra']} (run `fastsoftmax data "
                             "download svhn --extra`)")
        X_extra, y_extra = read_svhn_mat(folder / SVHN_FILES["extra"])
        X_train = np.concatenate([X_train, X_extra])
        y_train = np.concatenate([y_train, y_extra])
    test = read_svhn_mat(folder / SVHN_FILES["test"])
    if return_class_names:
        return (X_train, y_train), test, [str(d) for d in range(10)]
    return (X_train, y_train), test
