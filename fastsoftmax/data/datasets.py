"""One entry point for every data set: digits, CIFAR-10, or an image folder."""
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cifar import HOW_TO_GET_CIFAR10, DatasetNotFoundError, is_cifar10, load_cifar10
from . import download as _download
from .folder import labels_by_name, load_image_folder, load_test_images

__all__ = ["Dataset", "load_dataset", "load_digits_images", "load_test_set"]

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """A data set split into training and test images.

    Attributes
    ----------
    X_train, X_test : ndarray of uint8, shape (n, H, W, 3) or (n, H, W)
        RGB images (CIFAR-10, image folders) or grayscale ones (digits).
    y_train, y_test : ndarray of int64, shape (n,)
        Labels in ``0 .. len(class_names) - 1``.
    class_names : list of str
    name : str
        ``"digits"``, ``"cifar10"`` or ``"folder:<name>"``.
    """

    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    class_names: list
    name: str

    @property
    def n_classes(self):
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self):
        """Shape of one image, ``(H, W, 3)`` or ``(H, W)``."""
        return tuple(self.X_train.shape[1:])

    def __repr__(self):
        return (f"Dataset(name={self.name!r}, train={len(self.y_train)}, "
                f"test={len(self.y_test)}, image_shape={self.image_shape}, "
                f"n_classes={self.n_classes})")


def load_digits_images():
    """scikit-learn's bundled digits as uint8 images with a fixed held-out split.

    The 8x8 images (values 0..16) are mapped to 0..255 with
    ``round(v * 255 / 16)`` and kept grayscale; the split is stratified,
    ``test_size=0.25``, ``random_state=0``.

    Returns
    -------
    Dataset
        1347 training and 450 test grayscale images of shape (8, 8); class names "0".."9".
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = np.rint(digits.images * 255.0 / 16.0).astype(np.uint8)
    y = digits.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    return Dataset(np.ascontiguousarray(X_tr), y_tr, np.ascontiguousarray(X_te), y_te,
                   [str(i) for i in range(10)], "digits")


def _looks_like_cifar(path):
    return "cifar" in Path(path).name.lower()


def load_dataset(path=None, *, download=False, progress=None):
    """Load a data set by path.

    Parameters
    ----------
    path : str or os.PathLike, optional
        ``None``: scikit-learn's bundled digits (no download), see
        :func:`load_digits_images`.  A CIFAR-10 folder, parent folder or archive:
        :func:`~fastsoftmax.data.load_cifar10`.  Any other folder: an image folder,
        :func:`~fastsoftmax.data.load_image_folder`.
    download : bool, default False
        Download CIFAR-10 into the cache folder (if not there yet) and load it, when
        ``path`` is None or a missing path whose name mentions CIFAR.
    progress : callable, optional
        Passed to :func:`~fastsoftmax.data.download_cifar10`: called as
        ``progress(bytes_done, bytes_total)`` while downloading.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist; the message says how to get CIFAR-10.
    ValueError
        The data are malformed (see the loaders).
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, os.PathLike or None, got {type(path).__name__}")
    if path is None and not download:
        return load_digits_images()
    if path is not None:
        path = Path(path)
    if path is None or (not path.exists() and download and _looks_like_cifar(path)):
        archive = _download.cifar10_archive_path()
        if path is not None:
            log.warning("%s does not exist; using CIFAR-10 from %s", path, archive)
        if not archive.is_file():
            log.warning("downloading CIFAR-10 into %s", archive.parent)
        path = _download.download_cifar10(
            url=_download.CIFAR10_URL, md5=_download.CIFAR10_MD5, progress=progress
        )
    if not path.exists():
        hint = (HOW_TO_GET_CIFAR10 if _looks_like_cifar(path) or not download
                else "check the path")
        raise DatasetNotFoundError(f"{path}: no such file or folder; {hint}")
    if is_cifar10(path):
        (X_tr, y_tr), (X_te, y_te), names = load_cifar10(path, return_class_names=True)
        return Dataset(X_tr, y_tr, X_te, y_te, names, "cifar10")
    if path.is_file():
        raise ValueError(
            f"{path}: not a CIFAR-10 archive (cifar-10-python.tar.gz or "
            "cifar-10-binary.tar.gz) or an image folder"
        )
    (X_tr, y_tr), (X_te, y_te), names = load_image_folder(path, return_class_names=True)
    return Dataset(X_tr, y_tr, X_te, y_te, names, f"folder:{path.name}")


def load_test_set(path, class_names):
    """The images to score a model on, labelled by class name onto the model's classes.

    Parameters
    ----------
    path : str or os.PathLike or None
        ``None``: the digits' held-out split.  CIFAR-10: its ``test_batch``.  An image
        folder: every image of ``root/<class>/`` (a folder given to score a model is a
        test set, not split), or of ``root/test/<class>/`` when ``root/train`` exists.
    class_names : list of str
        The model's class names (label ``k`` is ``class_names[k]``).  The data may
        hold any subset of them; labels are matched by name, never by position.

    Returns
    -------
    Dataset
        The images in ``X_test``/``y_test`` (labels into ``class_names``), an empty
        training part, and ``class_names`` as given.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    ValueError
        The data hold a class the model does not know (named), or are malformed.
    """
    class_names = [str(n) for n in class_names]
    if path is None:
        digits = load_digits_images()
        X, y, found, name = digits.X_test, digits.y_test, digits.class_names, "digits"
        y = labels_by_name(found, class_names, name)[y]
    else:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str, os.PathLike or None, got {type(path).__name__}")
        path = Path(path)
        if not path.exists():
            raise DatasetNotFoundError(f"{path}: no such file or folder; check the path")
        if is_cifar10(path):
            _, (X, y), found = load_cifar10(path, return_class_names=True)
            y = labels_by_name(found, class_names, str(path))[y]
            name = "cifar10"
        elif path.is_file():
            raise ValueError(f"{path}: not a CIFAR-10 archive or an image folder")
        else:
            X, y = load_test_images(path, class_names)
            name = f"folder:{path.name}"
    return Dataset(X[:0], y[:0], X, y, class_names, name)
