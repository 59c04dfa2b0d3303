"""Batch HOG, grayscale and scaling: the public functions, which validate and call
the kernels of :mod:`fastsoftmax.features._hog_kernels`.

:func:`hog` takes a whole stack of images and returns one feature row per image, equal
image by image to :func:`skimage.feature.hog` with the same arguments, computed by a
parallel Numba kernel.  :func:`rgb2gray` equals :func:`skimage.color.rgb2gray` on a
stack; :func:`min_max_scale` maps a known value range (0..255 by default) to 0..1.

Every function validates all its parameters before any work and hands the kernels one
layout (C-contiguous) and a few dtypes (uint8, float32, float64), so Numba compiles few
specializations; other dtypes are converted first.
"""
import numbers

import numpy as np

from fastsoftmax.features import _hog_kernels as _hog

__all__ = ["BLOCK_NORMS", "hog", "hog_n_features", "min_max_scale", "rgb2gray"]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
_KERNEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
_OUT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_pair(value, name):
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a pair of positive integers, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be a pair of positive integers, got {value!r}")
    return tuple(_positive_int(v, name) for v in items)


def _float_dtype(dtype, name):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dtype not in _OUT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def _numeric_array(images, name="images"):
    images = np.asarray(images)
    if images.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or float), got dtype {images.dtype}"
        )
    return images


def _kernel_array(images):
    """One C-contiguous array of a dtype the kernels are compiled for."""
    if images.dtype not in _KERNEL_DTYPES:
        # scikit-image computes HOG of every other dtype in float64 (float16 in float32)
        target = np.float32 if images.dtype == np.float16 else np.float64
        images = images.astype(target)
    return np.ascontiguousarray(images)


def hog_n_features(image_shape, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2)):
    """Number of HOG features of one image of shape ``image_shape`` (rows, cols[, ...]).

    Parameters
    ----------
    image_shape : tuple of int
        ``(rows, cols)`` or ``(rows, cols, channels)``.
    orientations, pixels_per_cell, cells_per_block
        As in :func:`hog`.

    Returns
    -------
    int
        ``n_blocks_row * n_blocks_col * b_row * b_col * orientations``.

    Raises
    ------
    ValueError
        If the image is smaller than one block.
    """
    orientations = _positive_int(orientations, "orientations")
    c_row, c_col = _positive_pair(pixels_per_cell, "pixels_per_cell")
    b_row, b_col = _positive_pair(cells_per_block, "cells_per_block")
    rows, cols = (int(v) for v in tuple(image_shape)[:2])
    n_blocks_row = rows // c_row - b_row + 1
    n_blocks_col = cols // c_col - b_col + 1
    if n_blocks_row <= 0 or n_blocks_col <= 0:
        raise ValueError(
            "The input image is too small given the values of pixels_per_cell and "
            f"cells_per_block: images of {rows}x{cols} pixels; it should have at least: "
            f"{b_row * c_row} rows and {b_col * c_col} cols."
        )
    return n_blocks_row * n_blocks_col * b_row * b_col * orientations


def hog(images, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
        block_norm="L2-Hys", transform_sqrt=False, channel_axis=None, dtype=np.float32):
    """Histogram of Oriented Gradients of a stack of images, as scikit-image computes it.

    Image by image the result equals
    ``skimage.feature.hog(image, orientations, pixels_per_cell, cells_per_block,
    block_norm, transform_sqrt=transform_sqrt, channel_axis=...)`` (``feature_vector=True``),
    within float rounding: scikit-image sums each cell in float32, this sums in float64.

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, C) array_like
        Images; uint8, float32 and float64 are read as they are (uint8 is *not*
        rescaled, as in scikit-image), other real dtypes are converted first.
    orientations : int, optional
        Number of orientation bins over 0..180 degrees.
    pixels_per_cell : (int, int), optional
        Cell size in pixels (rows, cols).  Pixels beyond the last whole cell are
        ignored, as in scikit-image.
    cells_per_block : (int, int), optional
        Block size in cells (rows, cols).
    block_norm : {'L1', 'L1-sqrt', 'L2', 'L2-Hys'}, optional
        Block normalization, with scikit-image's ``eps = 1e-5`` (and the 0.2 clip of
        L2-Hys).
    transform_sqrt : bool, optional
        Take the square root of every pixel first (power-law compression); the
        images must then be non-negative.
    channel_axis : int or None, optional
        None for grayscale stacks (N, H, W).  Otherwise the axis of ``images`` that
        holds the channels (1, 2, 3 or -1..-3; not 0, the image axis); at each
        pixel the channel with the largest gradient magnitude is used.
    dtype : {float32, float64}, optional
        Output dtype.  Computation is in float64 either way.

    Returns
    -------
    features : (N, F) ndarray of ``dtype``
        ``F = n_blocks_row * n_blocks_col * cells_per_block[0] * cells_per_block[1] *
        orientations``, in scikit-image's order.

    Raises
    ------
    TypeError
        If ``images`` is not real-valued, or a parameter has the wrong type.
    ValueError
        If a parameter is out of range, the images are smaller than one block, or
        an image gives a non-finite gradient (NaN or inf pixels, or negative pixels
        with ``transform_sqrt``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax.features import hog
    >>> hog(np.zeros((5, 32, 32))).shape
    (5, 1764)
    """
    # ---- validate everything first ----
    images = _numeric_array(images)
    orientations = _positive_int(orientations, "orientations")
    c_row, c_col = _positive_pair(pixels_per_cell, "pixels_per_cell")
    b_row, b_col = _positive_pair(cells_per_block, "cells_per_block")
    if not isinstance(block_norm, str) or block_norm not in BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {', '.join(BLOCK_NORMS)}; got {block_norm!r}")
    if not isinstance(transform_sqrt, (bool, np.bool_)):
        raise TypeError(f"transform_sqrt must be True or False, got {transform_sqrt!r}")
    out_dtype = _float_dtype(dtype, "dtype")
    if channel_axis is None:
        if images.ndim != 3:
            raise ValueError(
                "images must be a stack of grayscale images of shape (N, H, W); got shape "
                f"{images.shape}.  For colour stacks (N, H, W, C) pass channel_axis=-1."
            )
    else:
        if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
            raise TypeError(f"channel_axis must be None or an integer, got {channel_axis!r}")
        if images.ndim != 4:
            raise ValueError(
                "with channel_axis, images must have shape (N, H, W, C) (channels on "
                f"channel_axis); got shape {images.shape}"
            )
        if not -3 <= channel_axis <= 3 or channel_axis == 0:
            raise ValueError(
                "channel_axis must be 1, 2, 3 or -1, -2, -3 (axis 0 indexes the images); "
                f"got {channel_axis}"
            )
        if images.shape[channel_axis] < 1:
            raise ValueError("images must have at least one channel")
        images = np.moveaxis(images, channel_axis, -1)
    n_features = hog_n_features(images.shape[1:3], orientations, (c_row, c_col), (b_row, b_col))

    # ---- compute ----
    out = np.empty((images.shape[0], n_features), dtype=out_dtype)
    if images.shape[0] == 0:
        return out
    images = _kernel_array(images)
    step = 180.0 / orientations  # scikit-image's bin edges, computed as it does
    edges = step * np.arange(orientations + 1, dtype=np.float64)
    inner = np.pi / orientations * np.arange(1, orientations, dtype=np.float64)
    edge_cos = np.ascontiguousarray(np.cos(inner))
    edge_sin = np.ascontiguousarray(np.sin(inner))
    status = np.zeros(images.shape[0], dtype=np.uint8)
    kernel = _hog.hog_gray_batch if images.ndim == 3 else _hog.hog_color_batch
    kernel(images, c_row, c_col, b_row, b_col, _hog.BLOCK_NORM_CODES[block_norm],
           bool(transform_sqrt), edge_cos, edge_sin, edges, out, status)
    bad = np.flatnonzero(status != _hog.STATUS_OK)
    if bad.size:
        hint = " or negative pixels with transform_sqrt=True" if transform_sqrt else ""
        raise ValueError(
            f"{bad.size} image(s) give a non-finite gradient (first: image {bad[0]}); "
            f"they contain NaN or inf pixels{hint}.  Clean or drop them first."
        )
    return out


def rgb2gray(images, dtype=None):
    """Luminance of a stack of RGB images, equal to :func:`skimage.color.rgb2gray`.

    ``Y = 0.2125 R + 0.7154 G + 0.0721 B`` after scikit-image's conversion to float
    (uint8 divided by 255, other integer types scaled by their range, floats kept).

    Parameters
    ----------
    images : (..., 3) array_like
        RGB images, channels on the last axis (e.g. (N, H, W, 3)).  uint8, float32
        and float64 are read without a float copy of the whole set.
    dtype : {None, float32, float64}, optional
        Output dtype; None gives scikit-image's (float32 for float32 and float16
        input, float64 otherwise).

    Returns
    -------
    gray : (...) ndarray
        ``images.shape[:-1]``.

    Raises
    ------
    ValueError
        If the last axis does not have 3 channels.
    """
    images = _numeric_array(images)
    if images.ndim < 1 or images.shape[-1] != 3:
        raise ValueError(
            f"rgb2gray needs RGB images with 3 channels on the last axis; got shape {images.shape}"
        )
    default = np.float32 if images.dtype in (np.float16, np.float32) else np.float64
    out_dtype = _float_dtype(default if dtype is None else dtype, "dtype")

    pixel_scale = 1.0
    if images.dtype == np.uint8:
        pixel_scale = 1.0 / 255.0  # skimage.img_as_float multiplies by 1 / 255
    elif images.dtype not in _KERNEL_DTYPES:
        # scikit-image (slow to import) only for the rare dtypes its own scaling defines
        from skimage.util import img_as_float

        images = img_as_float(images)
    flat = np.ascontiguousarray(images).reshape(-1, 3)
    out = np.empty(flat.shape[0], dtype=out_dtype)
    if flat.shape[0]:
        coeffs = np.array([0.2125, 0.7154, 0.0721])
        _hog.rgb2gray_batch(flat, coeffs, pixel_scale, out)
    return out.reshape(images.shape[:-1])


def min_max_scale(images, data_range=(0, 255), dtype=np.float32):
    """Map ``data_range`` linearly onto 0..1: ``(images - low) / (high - low)``.

    The study scales 0..255 pixels to 0..1 this way.

    Parameters
    ----------
    images : array_like
        Any shape; uint8, float32 and float64 are read without a float copy.
    data_range : (float, float) or None, optional
        ``(low, high)`` mapped to 0 and 1; None takes the minimum and maximum of
        ``images``.  Values outside the range map outside 0..1 (no clipping).
    dtype : {float32, float64}, optional
        Output dtype; computation is in float64.

    Returns
    -------
    scaled : ndarray of ``dtype``, the shape of ``images``

    Raises
    ------
    ValueError
        If ``high <= low`` (with None: if ``images`` is empty or constant) or the
        range is not finite.
    """
    images = _numeric_array(images)
    out_dtype = _float_dtype(dtype, "dtype")
    if data_range is None:
        if images.size == 0:
            raise ValueError("data_range=None needs a non-empty array to take its min and max")
        low, high = float(images.min()), float(images.max())
    else:
        try:
            low, high = (float(v) for v in data_range)
        except (TypeError, ValueError):
            raise TypeError(f"data_range must be a pair of numbers or None, got {data_range!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise ValueError(f"data_range needs finite low < high; got ({low}, {high})")
    if images.dtype not in _KERNEL_DTYPES:
        images = images.astype(np.float64)
    flat = np.ascontiguousarray(images).reshape(-1)
    out = np.empty(flat.shape[0], dtype=out_dtype)
    if flat.shape[0]:
        _hog.affine_batch(flat, low, 1.0 / (high - low), out)
    return out.reshape(images.shape)
