"""One entry point for every data set: digits, CIFAR-10, CIFAR-100, MNIST, Fashion-MNIST,
SVHN, or an image folder."""
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastsoftmax.data.cifar import HOW_TO_GET_CIFAR10, DatasetNotFoundError, is_cifar10, load_cifar10
from fastsoftmax.data import download as _download
from fastsoftmax.data.folder import FolderError, labels_by_name, load_folder_split, load_test_files
from fastsoftmax.data.formats import find_format
from fastsoftmax.data.sources import SOURCES

__all__ = ["Dataset", "load_dataset", "load_digits_images", "load_test_set"]

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """A data set split into training and test images.

    Attributes
    ----------
    X_train, X_test : ndarray of uint8, shape (n, H, W, 3) or (n, H, W)
        RGB images (CIFAR-10, CIFAR-100, SVHN, image folders) or grayscale ones
        (digits, MNIST, Fashion-MNIST).
    y_train, y_test : ndarray of int64, shape (n,)
        Labels in ``0 .. len(class_names) - 1``.
    class_names : list of str
    name : str
        ``"digits"``, ``"cifar10"``, ``"cifar100"`` (``"cifar100-coarse"`` with its 20
        superclasses), ``"mnist"``, ``"fashion-mnist"``, ``"svhn"`` or
        ``"folder:<name>"``.
    train_files : TrainingFiles or None
        For an image folder: the files of the training images, in their order (give
        them to :meth:`fastsoftmax.model.pipeline.ImagePipeline.fit` so that the model
        records them); ``None`` for digits and CIFAR-10.
    n_trained_on : int or None
        For a test set of an image folder (:func:`load_test_set`): how many of the
        folder's images the model was trained on (same bytes as one of its training
        files), left out of ``X_test`` unless they were included on request; ``None``
        when the model records no training files; 0 for digits and CIFAR-10.
    split : dict or None
        How the test images were chosen: ``test_split`` is ``"published"`` (the data
        set's own test files), ``"folders"`` (an image folder's ``test/``) or
        ``"random"`` (stratified, ``test_fraction`` of each class drawn with
        ``split_seed``); None for a test set given to score a model.
    """

    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    class_names: list
    name: str
    train_files: object = field(default=None, repr=False)
    n_trained_on: object = 0
    split: object = None

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
    # scikit-learn takes most of a second to import: ``import fastsoftmax.data`` (the
    # data commands) stays light without it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = np.rint(digits.images * 255.0 / 16.0).astype(np.uint8)
    y = digits.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    return Dataset(np.ascontiguousarray(X_tr), y_tr, np.ascontiguousarray(X_te), y_te,
                   [str(i) for i in range(10)], "digits", split=dict(DIGITS_SPLIT))


#: The digits' fixed split (``load_digits_images``).
DIGITS_SPLIT = {"test_split": "random", "test_fraction": 0.25, "split_seed": 0}
#: The split of a data set that publishes its test files.
PUBLISHED_SPLIT = {"test_split": "published", "test_fraction": None, "split_seed": None}


def _folder_split(files):
    """The split of an image folder whose training files are ``files``."""
    if files is None or files.split_seed is None:
        return {"test_split": "folders", "test_fraction": None, "split_seed": None}
    return {"test_split": "random", "test_fraction": files.test_fraction,
            "split_seed": files.split_seed}


def refuse_labels(what, labels):
    """A :class:`FolderError` when a label set is asked of a data set that has one."""
    if labels is not None:
        raise FolderError(f"{what} has one set of labels", "labels is for CIFAR-100 only",
                          "--labels is for CIFAR-100 only")


def downloaded_data_set(path):
    """``path``, or where ``data download NAME`` put the data set ``NAME`` when ``path``
    is such a name and no such file or folder exists (``--data mnist``).

    Raises
    ------
    DatasetNotFoundError
        ``path`` names a data set that is not downloaded.
    """
    if path.exists() or str(path) not in SOURCES:
        return path
    src = SOURCES[str(path)]
    location = src.data_location()
    if not location.exists():
        raise DatasetNotFoundError(f"{path}: no such file or folder, and {src.title} is not "
                                   f"downloaded; run `fastsoftmax data download {src.name}`")
    log.info("%s: the downloaded %s at %s", path, src.title, location)
    return location


def _looks_like_cifar(path):
    return "cifar" in Path(path).name.lower()


#: What the command line calls each image-folder parameter.
_FOLDER_OPTIONS = {"image_size": "--image-size", "test_fraction": "--test-fraction",
                   "split_seed": "--split-seed"}


def refuse_folder_params(what, **params):
    """A :class:`FolderError` when image-folder parameters are given for ``what``."""
    given = [name for name, value in params.items() if value is not None]
    if given:
        verb = "is" if len(given) == 1 else "are"
        raise FolderError(f"{what} is not an image folder",
                          f"{' and '.join(given)} {verb} for image folders only",
                          f"{' and '.join(_FOLDER_OPTIONS[n] for n in given)} {verb} for "
                          "image folders only")


def load_dataset(path=None, *, download=False, progress=None, image_size=None,
                 test_fraction=None, split_seed=None, labels=None):
    """Load a data set by path.

    Parameters
    ----------
    path : str or os.PathLike, optional
        ``None``: scikit-learn's bundled digits (no download), see
        :func:`load_digits_images`.  A CIFAR-10 folder, parent folder or archive:
        :func:`~fastsoftmax.data.load_cifar10`.  CIFAR-100 (folder or archive),
        MNIST or Fashion-MNIST (a folder of the four idx files, gzipped or not),
        SVHN (a folder of its ``.mat`` files): :mod:`fastsoftmax.data.formats`.  Any
        other folder: an image folder, :func:`~fastsoftmax.data.load_image_folder`.
        A data set's name (``"mnist"``, ``"cifar100"``..., a key of
        :data:`~fastsoftmax.data.sources.SOURCES`) that is no file or folder here:
        where ``fastsoftmax data download`` put it.
    download : bool, default False
        Download CIFAR-10 into the cache folder (if not there yet) and load it, when
        ``path`` is None or a missing path whose name mentions CIFAR.
    progress : callable, optional
        Passed to :func:`~fastsoftmax.data.download_cifar10`: called as
        ``progress(bytes_done, bytes_total)`` while downloading.
    image_size, test_fraction, split_seed : optional
        For an image folder: see :func:`~fastsoftmax.data.load_image_folder`.  An
        error for the other data sets (one image size, a fixed split).
    labels : {"fine", "coarse"}, optional
        CIFAR-100's label set (default ``"fine"``: 100 classes; ``"coarse"``: 20);
        an error for the other data sets.

    Returns
    -------
    Dataset
        For an image folder, ``train_files`` records the training images' files.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist; the message says how to get CIFAR-10.
    ValueError
        The data are malformed (see the loaders), or image-folder parameters are
        given for digits or CIFAR-10.
    """
    folder_params = {"image_size": image_size, "test_fraction": test_fraction,
                     "split_seed": split_seed}
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, os.PathLike or None, got {type(path).__name__}")
    if path is None or (download and _looks_like_cifar(path) and not Path(path).exists()):
        refuse_folder_params("CIFAR-10" if download else "the digits data set",
                              **folder_params)
        refuse_labels("CIFAR-10" if download else "the digits data set", labels)
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
    path = downloaded_data_set(path)
    if not path.exists():
        hint = (HOW_TO_GET_CIFAR10 if _looks_like_cifar(path) or not download
                else "check the path")
        raise DatasetNotFoundError(f"{path}: no such file or folder; {hint}")
    fmt = find_format(path)
    if fmt is not None:
        refuse_folder_params(f"{path} ({fmt.title})", **folder_params)
        if not fmt.label_sets:
            refuse_labels(f"{path} ({fmt.title})", labels)
        (X_tr, y_tr), (X_te, y_te), names, name = fmt.load(path, labels)
        return Dataset(X_tr, y_tr, X_te, y_te, names, name, split=dict(PUBLISHED_SPLIT))
    if is_cifar10(path):
        refuse_folder_params(f"{path} (CIFAR-10)", **folder_params)
        refuse_labels(f"{path} (CIFAR-10)", labels)
        (X_tr, y_tr), (X_te, y_te), names = load_cifar10(path, return_class_names=True)
        return Dataset(X_tr, y_tr, X_te, y_te, names, "cifar10", split=dict(PUBLISHED_SPLIT))
    refuse_labels(f"{path}", labels)
    if path.is_file():
        raise ValueError(
            f"{path}: not a CIFAR-10 archive (cifar-10-python.tar.gz or "
            "cifar-10-binary.tar.gz) or an image folder"
        )
    (X_tr, y_tr), (X_te, y_te), names, files = load_folder_split(path, **folder_params)
    return Dataset(X_tr, y_tr, X_te, y_te, names, f"folder:{path.name}", train_files=files,
                   split=_folder_split(files))


def load_test_set(path, class_names, *, image_size=None, training_files=None,
                  include_training=False):
    """The images to score a model on, labelled by class name onto the model's classes.

    Parameters
    ----------
    path : str or os.PathLike or None
        ``None``: the digits' held-out split.  CIFAR-10: its ``test_batch``; the other
        published data sets: their test files (CIFAR-100 with its 20 superclasses when
        every name of ``class_names`` is one of them, else its 100 classes).  An image
        folder: every image of ``root/<class>/`` (a folder given to score a model is a
        test set, not split), or of ``root/test/<class>/`` when ``root/train`` exists,
        less the images the model was trained on (``training_files``).
    class_names : list of str
        The model's class names (label ``k`` is ``class_names[k]``).  The data may
        hold any subset of them; labels are matched by name, never by position.
    image_size : int or (int, int), optional
        For an image folder: see :func:`~fastsoftmax.data.load_image_folder`.
    training_files : TrainingFiles, optional
        The model's training files (``ImagePipeline.training_files_``): a folder's
        images with the same bytes as one of them are left out.
    include_training : bool, default False
        Keep them (they are still counted in ``n_trained_on``).

    Returns
    -------
    Dataset
        The images in ``X_test``/``y_test`` (labels into ``class_names``), an empty
        training part, ``class_names`` as given, and ``n_trained_on``.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    ValueError
        The data hold a class the model does not know (named), are malformed, or
        every image of the folder is a training image (and not ``include_training``).
    """
    class_names = [str(n) for n in class_names]
    n_trained_on = 0
    if path is None:
        refuse_folder_params("the digits data set", image_size=image_size)
        digits = load_digits_images()
        X, y, found, name = digits.X_test, digits.y_test, digits.class_names, "digits"
        y = labels_by_name(found, class_names, name)[y]
    else:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str, os.PathLike or None, got {type(path).__name__}")
        path = downloaded_data_set(Path(path))
        if not path.exists():
            raise DatasetNotFoundError(f"{path}: no such file or folder; check the path")
        fmt = find_format(path)
        if fmt is not None:
            refuse_folder_params(f"{path} ({fmt.title})", image_size=image_size)
            labels = fmt.label_set_for(path, class_names)
            _, (X, y), found, name = fmt.load(path, labels)
            y = labels_by_name(found, class_names, str(path))[y]
        elif is_cifar10(path):
            refuse_folder_params(f"{path} (CIFAR-10)", image_size=image_size)
            _, (X, y), found = load_cifar10(path, return_class_names=True)
            y = labels_by_name(found, class_names, str(path))[y]
            name = "cifar10"
        elif path.is_file():
            raise ValueError(f"{path}: not a CIFAR-10 archive or an image folder")
        else:
            X, y, n_trained_on = load_test_files(path, class_names, image_size, training_files,
                                                 keep_excluded=include_training)
            name = f"folder:{path.name}"
    return Dataset(X[:0], y[:0], X, y, class_names, name, n_trained_on=n_trained_on)
