"""Load an image-folder data set: ``root/<class name>/*.png|*.jpg|*.jpeg``."""
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "read_image", "load_image_folder", "load_test_images",
           "labels_by_name"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


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
    import warnings

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
    from skimage.transform import resize

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
            first_shape, first = expected_shape[0]
            raise ValueError(
                f"{f}: image is {img.shape[0]}x{img.shape[1]} but {first} is "
                f"{first_shape[0]}x{first_shape[1]}; pass image_size to resize them all"
            )
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


def load_image_folder(root, *, image_size=None, return_class_names=False):
    """Load images arranged as ``root/<class name>/<image>``.

    Parameters
    ----------
    root : str or os.PathLike
        Either ``root/<class>/*.png|*.jpg|*.jpeg`` (split 80/20, stratified, with
        ``train_test_split(random_state=0)``), or ``root/train/<class>/...`` and
        ``root/test/<class>/...`` giving the split.  Class names are the folder names,
        sorted; label ``k`` is the ``k``-th name.
    image_size : int or (int, int), optional
        Resize every image to this (height, width) with anti-aliasing.  Without it all
        images must share one size.
    return_class_names : bool, default False
        Also return the list of class names.

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
        unreadable or of a different size, a test class is unknown, or a class has too
        few images to split.
    """
    from sklearn.model_selection import train_test_split

    root = _check_root(root)
    size = _parse_size(image_size)
    shape = [None]
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    if split_dirs:
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
            parts.append(_stack(_read_all(files, size, shape), labels))
        result = parts[0], parts[1], class_names
    else:
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
                f"{root}: classes {few} have fewer than 2 images; cannot split 80/20 "
                "(use root/train/<class> and root/test/<class> folders)"
            )
        X, y = _stack(_read_all(files, size, shape), labels)
        try:
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.2, stratify=y, random_state=0
            )
        except ValueError as exc:
            raise ValueError(f"{root}: cannot split 80/20 stratified ({exc})") from None
        result = ((np.ascontiguousarray(X_tr), y_tr), (np.ascontiguousarray(X_te), y_te),
                  class_names)
    if return_class_names:
        return result
    return result[0], result[1]


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


def load_test_images(root, class_names, *, image_size=None):
    """Every test image of a folder, labelled by class name onto ``class_names``.

    A folder given to score a model is a test set: with ``root/train`` and
    ``root/test`` the images of ``root/test/<class>/``, otherwise every image of
    ``root/<class>/`` (no split).  It may hold any subset of ``class_names``.

    Parameters
    ----------
    root : str or os.PathLike
    class_names : list of str
        The model's class names; label ``k`` is ``class_names[k]``.
    image_size : int or (int, int), optional
        As in :func:`load_image_folder`.

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
        image or images of different sizes.
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
    return _stack(_read_all(files, size, [None]), labels)
