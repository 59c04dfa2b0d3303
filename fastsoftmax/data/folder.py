"""Load an image-folder data set: ``root/<class name>/*.png|*.jpg|*.jpeg``."""
import warnings
from pathlib import Path

import numpy as np

from fastsoftmax.data.training_files import TrainingFiles, file_sha256

__all__ = ["IMAGE_EXTENSIONS", "FolderError", "read_image", "load_image_folder",
           "load_test_images", "labels_by_name", "check_split"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: The share of each class of a folder that is held out for testing by default.
TEST_FRACTION = 0.2


class FolderError(ValueError):
    """Data that cannot be used as asked, and what to do about it.

    ``str()`` gives the advice in the library's terms (its parameters);
    :meth:`cli_message` in the command line's (its options).
    """

    def __init__(self, problem, advice, cli_advice):
        super().__init__(f"{problem}; {advice}")
        self.problem, self.cli_advice = problem, cli_advice

    def cli_message(self):
        """The message with the command line's advice."""
        return f"{self.problem}; {self.cli_advice}"


#: Images with more pixels than this are refused (a 236 KB PNG can declare 9000x9000);
#: ``read_image(..., max_pixels=...)`` (``predict --max-pixels``) raises it, up to
#: Pillow's own decompression-bomb limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``).
MAX_IMAGE_PIXELS = 100_000_000


def read_image(path, *, max_pixels=MAX_IMAGE_PIXELS, shrink_to=None):
    """Read one image as RGB uint8.

    Grayscale images become three equal channels; an alpha channel is dropped;
    16-bit and float images are rescaled to 0..255.  The size is read from the
    header and checked against ``max_pixels`` before any pixel is decoded.

    Parameters
    ----------
    path : str or os.PathLike
    max_pixels : int, default :data:`MAX_IMAGE_PIXELS`
        Refuse larger images (a possible decompression bomb) before decoding them.
    shrink_to : (int, int), optional
        The (height, width) the caller will resize to: an image more than twice as
        large is decoded at reduced size (JPEG DCT scaling through Pillow's ``draft``)
        and box-reduced (``Image.reduce``) to no less than twice that size, so the
        caller's anti-aliased resize works on a small image.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)

    Raises
    ------
    ValueError
        The file cannot be read as an image, is truncated, or has more than
        ``max_pixels`` pixels (the message names it).
    """
    # Pillow and scikit-image load slowly; only reading image folders needs them
    from PIL import Image, UnidentifiedImageError
    from skimage.util import img_as_ubyte

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such image file")
    if not isinstance(max_pixels, (int, np.integer)) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise _TooLarge(width, height)
                image = _decode(image, shrink_to)
                img = np.asarray(image)
    except _TooLarge as exc:
        raise ValueError(
            f"{path}: refusing a possible decompression bomb: {exc.width}x{exc.height} = "
            f"{exc.width * exc.height:,} pixels, more than the limit of {max_pixels:,} "
            "(raise it with --max-pixels)") from None
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{path}: refusing a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: cannot read image (not a PNG, JPEG or other image "
                         "Pillow knows)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated or corrupted data
        raise ValueError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    except MemoryError:
        raise ValueError(f"{path}: cannot read image (out of memory)") from None
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) or 0 in img.shape:
        raise ValueError(f"{path}: unsupported image shape {img.shape}")
    if img.shape[2] in (2, 4):  # gray+alpha or RGBA: drop alpha
        img = img[:, :, :-1]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.dtype != np.uint8:
        try:
            img = img_as_ubyte(img)
        except ValueError as exc:
            raise ValueError(f"{path}: unsupported pixel values ({exc})") from None
    return np.ascontiguousarray(img)


class _TooLarge(Exception):
    def __init__(self, width, height):
        super().__init__()
        self.width, self.height = width, height


_TO_RGB = {"CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "1": "L", "RGBa": "RGBA",
           "La": "LA", "PA": "RGBA"}


def _decode(image, shrink_to):
    """Decode a Pillow image to a mode numpy reads, smaller when ``shrink_to`` allows."""
    if shrink_to is not None:
        height, width = (int(v) for v in shrink_to)
        if image.format == "JPEG":
            image.draft(image.mode, (2 * width, 2 * height))  # DCT scaling: 1/2 .. 1/8
        image.load()
        factor = min(image.size[0] // (2 * width), image.size[1] // (2 * height))
        if factor >= 2:
            try:
                image = image.reduce(factor)
            except ValueError:  # a mode reduce does not handle: resized later anyway
                pass
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in _TO_RGB:
        return image.convert(_TO_RGB[image.mode])
    image.load()
    return image


def _is_image(p):
    """Whether ``p`` is an image of the folder; an image name that is not a regular file
    (a folder, a FIFO, a broken link) is an error, never an image silently left out."""
    if p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.startswith("."):
        return False
    if not p.is_file():
        raise ValueError(f"{p}: not a regular file, so not an image (remove it or rename it)")
    return True


def _class_dirs(root):
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(root):
    """{class name: [image paths]} for ``root/<class>/*``."""
    out = {}
    for d in _class_dirs(root):
        files = sorted(p for p in d.iterdir() if _is_image(p))
        if files:
            out[d.name] = files
    return out


def _parse_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (isinstance(image_size, (tuple, list)) and len(image_size) == 2
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size)):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return size


def _read_all(files, size, expected_shape):
    from skimage.transform import resize  # scikit-image: slow to import, see read_image

    images = []
    for f in files:
        img = read_image(f, shrink_to=size)
        if size is not None:
            if img.shape[:2] != size:
                img = resize(img, size + (3,), anti_aliasing=True, preserve_range=True)
                img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        elif expected_shape[0] is None:
            expected_shape[0] = (img.shape, f)
        elif img.shape != expected_shape[0][0]:
            (height, width, _), first = expected_shape[0]
            raise FolderError(
                f"{f}: image is {img.shape[0]}x{img.shape[1]} but {first} is {height}x{width}",
                "pass image_size to resize them all",
                f"add --image-size WxH to resize them all, e.g. --image-size {width}x{height} "
                f"for the first one's width {width} and height {height}")
        images.append(img)
    return images


def _stack(images, labels):
    X = np.ascontiguousarray(np.stack(images)).astype(np.uint8, copy=False)
    return X, np.asarray(labels, dtype=np.int64)


def _check_root(root):
    """``root`` as a Path; an error unless it is an existing folder."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of class folders (root/<class name>/*.png)")
    return root


def load_image_folder(root, *, image_size=None, return_class_names=False, test_fraction=None,
                      split_seed=None):
    """Load images arranged as ``root/<class name>/<image>``.

    Parameters
    ----------
    root : str or os.PathLike
        Either ``root/<class>/*.png|*.jpg|*.jpeg`` (split at random, stratified, by
        ``train_test_split(test_size=test_fraction, random_state=split_seed)``), or
        ``root/train/<class>/...`` and ``root/test/<class>/...`` giving the split.
        Class names are the folder names, sorted; label ``k`` is the ``k``-th name.
    image_size : int or (int, int), optional
        Resize every image to this (height, width) with anti-aliasing.  Without it all
        images must share one size.
    return_class_names : bool, default False
        Also return the list of class names.
    test_fraction : float, optional
        The share of each class held out for testing, in (0, 1).  Default: 0.2.
    split_seed : int, optional
        The seed of that split, 0 .. 2**32 - 1.  Default: 0.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)[, class_names]
        ``X_*`` are C-contiguous uint8 arrays of shape (n, H, W, 3), ``y_*`` int64.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.
    ValueError
        ``root`` is not a folder, holds no class folders with images, an image is
        unreadable or of a different size, a test class is unknown, a class has too
        few images to split, or ``test_fraction``/``split_seed`` are given for a folder
        that gives its split or are out of range.
    """
    train, test, class_names, _ = load_folder_split(root, image_size, test_fraction,
                                                    split_seed)
    if return_class_names:
        return train, test, class_names
    return train, test


def check_split(test_fraction, split_seed):
    """``(test_fraction, split_seed)`` checked, defaults (0.2 and 0) for ``None``."""
    fraction = TEST_FRACTION if test_fraction is None else test_fraction
    seed = 0 if split_seed is None else split_seed
    if (not isinstance(fraction, (float, int, np.floating, np.integer))
            or isinstance(fraction, bool) or not 0 < fraction < 1):
        raise ValueError(f"test_fraction must be a number between 0 and 1, got {fraction!r}")
    if (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
            or not 0 <= seed < 2**32):
        raise ValueError(f"split_seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    return float(fraction), int(seed)


def _percent(fraction):
    return f"{round(100 * fraction, 2):g}"


def load_folder_split(root, image_size=None, test_fraction=None, split_seed=None):
    """:func:`load_image_folder`'s split with the record of its training files.

    Returns
    -------
    (X_train, y_train), (X_test, y_test), class_names, TrainingFiles
    """
    # scikit-learn takes most of a second to import: ``import fastsoftmax.data`` (the
    # data commands) stays light without it
    from sklearn.model_selection import train_test_split

    root = _check_root(root)
    size = _parse_size(image_size)
    shape = [None]
    if (root / "train").is_dir() and (root / "test").is_dir():
        given = [name for name, value in (("test_fraction", test_fraction),
                                          ("split_seed", split_seed)) if value is not None]
        if given:
            raise FolderError(f"{root} holds train/ and test/ folders, which give the split",
                              f"drop {' and '.join(given)}",
                              f"drop {' and '.join('--' + n.replace('_', '-') for n in given)}")
        return _load_split_dirs(root, size, shape)
    fraction, seed = check_split(test_fraction, split_seed)
    split = f"{_percent(1 - fraction)}/{_percent(fraction)}"
    scanned = _scan(root)
    if not scanned:
        raise ValueError(
            f"{root}: no class folders with .png/.jpg images "
            "(expected root/<class name>/*.png)"
        )
    class_names = sorted(scanned)
    if len(class_names) < 2:
        raise ValueError(f"{root}: found one class ({class_names[0]}); need at least two")
    files = [f for c in class_names for f in scanned[c]]
    labels = np.array([i for i, c in enumerate(class_names) for _ in scanned[c]], np.int64)
    few = [c for c in class_names if len(scanned[c]) < 2]
    if few:
        raise ValueError(
            f"{root}: classes {few} have fewer than 2 images; cannot split {split} "
            "(use root/train/<class> and root/test/<class> folders)"
        )
    try:  # the file indices are split before any image is read
        train, test = train_test_split(np.arange(len(files)), test_size=fraction,
                                       stratify=labels, random_state=seed)
    except ValueError as exc:
        raise ValueError(f"{root}: cannot split {split} stratified ({exc})") from None
    X, y = _stack(_read_all(files, size, shape), labels)
    record = TrainingFiles.from_files(root, [files[i] for i in train], split_seed=seed,
                                      test_fraction=fraction)
    return ((np.ascontiguousarray(X[train]), y[train]),
            (np.ascontiguousarray(X[test]), y[test]), class_names, record)


def _load_split_dirs(root, size, shape):
    """:func:`load_folder_split` of ``root/train`` and ``root/test``."""
    train, test = _scan(root / "train"), _scan(root / "test")
    if not train:
        raise ValueError(f"{root / 'train'}: no class folders with .png/.jpg images")
    if not test:
        raise ValueError(f"{root / 'test'}: no class folders with .png/.jpg images")
    class_names = sorted(train)
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise ValueError(f"{root / 'test'}: classes {unknown} have no training images")
    index = {c: i for i, c in enumerate(class_names)}
    parts = []
    for scanned in (train, test):
        files = [f for c in sorted(scanned) for f in scanned[c]]
        labels = [index[c] for c in sorted(scanned) for _ in scanned[c]]
        parts.append((files, _stack(_read_all(files, size, shape), labels)))
    return parts[0][1], parts[1][1], class_names, TrainingFiles.from_files(root, parts[0][0])


def labels_by_name(found, known, where):
    """Map class names found in data onto a model's class names, by name.

    As torchvision's ``class_to_idx``: a class is its name, never its position, so a
    folder holding a subset of the model's classes, or the same classes in another
    order, gets each image the model's label for its class name.

    Parameters
    ----------
    found : list of str
        Class names in the data, in the data's label order.
    known : list of str
        The model's class names; label ``k`` is ``known[k]``.
    where : str
        The data's location, named in error messages.

    Returns
    -------
    ndarray of int64, shape (len(found),)
        ``out[i]`` is the model's label of ``found[i]``.

    Raises
    ------
    ValueError
        A class in the data that the model does not know (the message names it).
    """
    index = {name: k for k, name in enumerate(known)}
    unknown = [name for name in found if name not in index]
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"{where}: class {shown} is not a class the model knows "
            f"({', '.join(known[:12])}{' ...' if len(known) > 12 else ''})"
        )
    return np.array([index[name] for name in found], dtype=np.int64)


def load_test_images(root, class_names, *, image_size=None, exclude=None):
    """Every test image of a folder, labelled by class name onto ``class_names``.

    A folder given to score a model is a test set: with ``root/train`` and
    ``root/test`` the images of ``root/test/<class>/``, otherwise every image of
    ``root/<class>/`` (no split), less those of ``exclude``.  It may hold any subset of
    ``class_names``.

    Parameters
    ----------
    root : str or os.PathLike
    class_names : list of str
        The model's class names; label ``k`` is ``class_names[k]``.
    image_size : int or (int, int), optional
        As in :func:`load_image_folder`.
    exclude : TrainingFiles, optional
        Leave out the images whose bytes are those of these files (the images a
        model was trained on, its ``training_files_``).

    Returns
    -------
    X : ndarray of uint8, shape (n, H, W, 3)
    y : ndarray of int64, shape (n,)
        Labels into ``class_names``.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.
    ValueError
        No class folders with images, a class the model does not know, an unreadable
        image, images of different sizes, or no image left after ``exclude``.
    """
    X, y, _ = load_test_files(root, class_names, image_size, exclude, keep_excluded=False)
    return X, y


def load_test_files(root, class_names, image_size, training_files, keep_excluded):
    """:func:`load_test_images`, also counting the images of ``training_files``.

    Returns
    -------
    X, y
        As :func:`load_test_images`; with ``keep_excluded`` the images of
        ``training_files`` are kept.
    n_trained_on : int or None
        How many of the folder's images are images of ``training_files`` (``None``
        without ``training_files``).
    """
    root = _check_root(root)
    size = _parse_size(image_size)
    folder = root / "test" if (root / "train").is_dir() and (root / "test").is_dir() else root
    scanned = _scan(folder)
    if not scanned:
        raise ValueError(f"{folder}: no class folders with .png/.jpg images "
                         "(expected root/<class name>/*.png)")
    found = sorted(scanned)
    lut = labels_by_name(found, list(class_names), str(folder))
    files = [f for c in found for f in scanned[c]]
    labels = [int(lut[i]) for i, c in enumerate(found) for _ in scanned[c]]
    n_trained_on = None
    if training_files is not None:
        trained_on = training_files.contains([file_sha256(f) for f in files])
        n_trained_on = int(trained_on.sum())
        if n_trained_on == len(files) and not keep_excluded:
            raise FolderError(
                f"{folder}: all {len(files)} images are images the model was trained on, "
                "so none is left to score",
                "score another folder, or include the training images (include_training=True)",
                "score another folder, or add --include-training-images to score them anyway")
        if not keep_excluded:
            files = [f for f, t in zip(files, trained_on) if not t]
            labels = [label for label, t in zip(labels, trained_on) if not t]
    X, y = _stack(_read_all(files, size, [None]), labels)
    return X, y, n_trained_on
