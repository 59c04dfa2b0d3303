"""The images a pipeline predicts from: each image fitted to the model's shape, and the
copies of it the prediction averages over, its mirror image and copies shifted by a
few pixels along each axis (test-time augmentation); and the randomly shifted copies
of the training images that training may go through (data augmentation).

A shifted copy moves the image by ``shift`` pixels and fills the uncovered border with
the image reflected about its edge (NumPy's ``"reflect"`` padding), so that no copy
holds pixels that are not the image's.
"""
import numpy as np

from fastsoftmax.features import rgb2gray
from fastsoftmax.features.shifted_copies import SHIFT_DIRECTIONS, reflect_padded, shift_images

__all__ = ["mirror_images", "shift_images", "random_shifts", "prediction_views", "check_shift",
           "fit_to_shape"]


def mirror_images(images):
    """``images`` (N, H, W[, C]) flipped left to right, C-contiguous."""
    return np.ascontiguousarray(np.asarray(images)[:, :, ::-1])


def random_shifts(images, max_shift, rng):
    """``images`` (N, H, W[, C]) each moved by its own offset ``(dy, dx)``, both drawn
    uniformly from ``-max_shift..max_shift`` with ``rng`` (a NumPy ``Generator``), the
    uncovered border reflected as in :func:`shift_images`; C-contiguous.

    The offsets are drawn for all images first (``dy``, then ``dx``), so the result
    depends on the generator's state and ``N`` only.
    """
    images = np.asarray(images)
    height, width = images.shape[1:3]
    check_shift(max_shift, images.shape[1:], "max_shift")
    dy = rng.integers(-max_shift, max_shift + 1, len(images))
    dx = rng.integers(-max_shift, max_shift + 1, len(images))
    padded = reflect_padded(images, (max_shift, max_shift), (max_shift, max_shift))
    out = np.empty_like(images)
    for i, (top, left) in enumerate(zip(max_shift - dy, max_shift - dx)):
        out[i] = padded[i, top:top + height, left:left + width]
    return out


def prediction_views(flip, shift):
    """The copies predicted from, as functions of a batch of images: the images, with
    ``flip`` their mirror images, with ``shift`` > 0 the four copies moved ``shift``
    pixels down, up, right and left."""
    views = [np.asarray]
    if flip:
        views.append(mirror_images)
    if shift:
        for dy, dx in SHIFT_DIRECTIONS:
            views.append(lambda images, dy=dy, dx=dx: shift_images(images, dy * shift,
                                                                   dx * shift))
    return views


def check_shift(shift, image_shape, name="shift_predict"):
    """Raise ``ValueError`` unless copies shifted by ``shift`` pixels fit images of
    ``image_shape`` (H, W[, C]); the message calls the setting ``name``."""
    if shift >= min(image_shape[:2]):
        raise ValueError(f"{name} {shift} needs images larger than "
                         f"{image_shape[0]}x{image_shape[1]}")


def fit_to_shape(image, image_shape):
    """One uint8 image (H, W[, 3]) fitted to a model's ``image_shape``.

    The image is resized with anti-aliasing to that height and width (aspect ratio not
    kept), converted to grayscale when the shape is grayscale, and repeated over three
    channels when it is RGB.
    """
    from skimage.transform import resize  # scikit-image: heavy, needed only here

    image = np.asarray(image)
    height, width = image_shape[:2]
    if image.ndim == 3 and len(image_shape) == 2:
        image = np.rint(rgb2gray(image[None], dtype=np.float64)[0] * 255).astype(np.uint8)
    elif image.ndim == 2 and len(image_shape) == 3:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[:2] != (height, width):
        resized = resize(image, (height, width) + image.shape[2:], anti_aliasing=True,
                         preserve_range=True)
        image = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return image
