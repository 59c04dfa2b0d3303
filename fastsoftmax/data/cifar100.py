"""CIFAR-100, python version: ``train``, ``test`` and ``meta`` in ``cifar-100-python``,
a folder or the official archive (read in memory, never unpacked).

Each file goes through the restricted unpickler and the checks of CIFAR-10's batches
(:mod:`fastsoftmax.data._unpickle`): no code runs, array sizes must match their bytes,
labels must be integers in range.
"""
import os
import tarfile
import zlib
from pathlib import Path

from fastsoftmax.data._unpickle import CorruptDataError, check_batch, check_meta, restricted_load
from fastsoftmax.data.cifar import _FolderSource, _TarSource, _to_images, open_archive

__all__ = ["LABEL_SETS", "cifar100_label_set", "is_cifar100", "load_cifar100"]

FOLDER = "cifar-100-python"
ARCHIVE = "cifar-100-python.tar.gz"
_FILES = ("train", "test", "meta")
#: ``labels`` -> (key of the labels in a batch, key of the names in meta, classes)
LABEL_SETS = {"fine": (b"fine_labels", b"fine_label_names", 100),
              "coarse": (b"coarse_labels", b"coarse_label_names", 20)}


def _archive_prefix(path):
    """Whether the tar archive ``path`` holds ``cifar-100-python/`` (its first member
    only is read)."""
    try:
        with tarfile.open(path, mode="r:*") as tar:
            first = tar.next()
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        return False
    return first is not None and first.name.split("/", 1)[0] == FOLDER


def _find_layout(path):
    """("folder", folder) or ("tar", archive) for ``path``, or None."""
    path = Path(path)
    if path.is_file():
        if path.name.endswith((".tar.gz", ".tgz", ".tar")) and (
                path.name.startswith("cifar-100") or _archive_prefix(path)):
            return ("tar", path)
        return None
    if not path.is_dir():
        return None
    if all((path / name).exists() for name in _FILES):
        return ("folder", path)
    if (path / FOLDER).is_dir():
        return ("folder", path / FOLDER)
    if (path / ARCHIVE).is_file():
        return ("tar", path / ARCHIVE)
    return None


def is_cifar100(path):
    """Whether ``path`` is a CIFAR-100 folder (``train``, ``test``, ``meta``), a folder
    holding ``cifar-100-python/`` or its archive, or the archive itself."""
    return _find_layout(path) is not None


def _check_labels_name(labels):
    if labels not in LABEL_SETS:
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    return LABEL_SETS[labels]


def _load(src, labels):
    labels_key, names_key, n_classes = _check_labels_name(labels)
    names = set(src.names())
    missing = [n for n in _FILES if n not in names]
    if missing:
        raise CorruptDataError(f"{src.label}: CIFAR-100 python files missing: "
                               f"{', '.join(missing)}")
    for name in _FILES:
        kind = src.kind(name)
        if kind is not None:
            raise CorruptDataError(f"{src.display(name)}: {kind}, not a regular file")
    class_names = check_meta(restricted_load(src.read("meta"), src.display("meta")),
                             src.display("meta"), names_key, n_classes)

    def batch(name):
        with src.open(name) as f:
            obj = restricted_load(f, src.display(name))
        data, y = check_batch(obj, src.display(name), labels_key, n_classes)
        return _to_images([data]), y

    return batch("train"), batch("test"), class_names


def load_cifar100(path, labels="fine", *, return_class_names=False):
    """Load CIFAR-100 (python version).

    Parameters
    ----------
    path : str or os.PathLike
        The ``cifar-100-python`` folder, a folder holding it or
        ``cifar-100-python.tar.gz``, or that archive (read in memory).
    labels : {"fine", "coarse"}, default "fine"
        The 100 classes (``fine_labels``) or the 20 superclasses (``coarse_labels``);
        the class names come from ``meta`` (``fine_label_names`` or
        ``coarse_label_names``).
    return_class_names : bool, default False

    Returns
    -------
    (X_train, y_train), (X_test, y_test)[, class_names]
        ``X_*``: C-contiguous uint8 (n, 32, 32, 3) RGB images; ``y_*``: int64 labels.

    Raises
    ------
    CorruptDataError
        A file is missing, not a regular file, truncated, unsafe, holds images of the
        wrong size, or labels out of range (the message names the file).
    ValueError
        ``path`` is not a CIFAR-100 folder or archive, or ``labels`` is not
        ``"fine"`` or ``"coarse"``.
    """
    _check_labels_name(labels)
    layout = _find_layout(path) if isinstance(path, (str, os.PathLike)) else None
    if layout is None:
        raise ValueError(f"{path}: not a CIFAR-100 folder or archive (expected {FOLDER} "
                         f"or {ARCHIVE})")
    kind, where = layout
    if kind == "folder":
        result = _load(_FolderSource(where), labels)
    else:
        result = _load_archive(where, labels)
    return result if return_class_names else result[:2]


def _load_archive(archive, labels):
    tar = open_archive(archive)
    try:
        with tar:
            return _load(_TarSource(tar, FOLDER, str(archive)), labels)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise CorruptDataError(f"{archive}: truncated or corrupted archive ({exc})") from None


def _read_meta(src):
    if "meta" not in src.names() or src.kind("meta") is not None:
        return None  # loading the data set says what is wrong
    return restricted_load(src.read("meta"), src.display("meta"))


def cifar100_label_set(path, class_names):
    """``"coarse"`` when every name of ``class_names`` (a model's) is one of the
    data set's 20 superclasses, else ``"fine"``: the labels to score that model on."""
    layout = _find_layout(path)
    if layout is None:
        return "fine"
    kind, where = layout
    try:
        if kind == "folder":
            meta = _read_meta(_FolderSource(where))
        else:
            with tarfile.open(where, mode="r:*") as tar:
                meta = _read_meta(_TarSource(tar, FOLDER, str(where)))
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        return "fine"  # loading the data set says what is wrong
    coarse = meta.get(LABEL_SETS["coarse"][1]) if isinstance(meta, dict) else None
    if not isinstance(coarse, list):
        return "fine"
    coarse = {c.decode("utf-8", "replace") if isinstance(c, bytes) else c for c in coarse}
    return "coarse" if set(class_names) <= coarse else "fine"
