"""HOG as a scikit-learn transformer: raw image arrays in, HOG feature rows out.

:class:`HOGTransformer` (around :func:`fastsoftmax.features.batch_hog.hog`) is the
feature step of :class:`fastsoftmax.model.pipeline.ImagePipeline` (see that module for
the feature-step contract); :func:`study_hog` makes the study's.
"""
import numbers
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from fastsoftmax._shared.presets import default_hog_params
from fastsoftmax._shared.progress import report
from fastsoftmax.features.batch_hog import BLOCK_NORMS, hog, hog_n_features, min_max_scale, rgb2gray
from fastsoftmax.io import fields

#: The study's pixel range: uint8 0..255, mapped to 0..1 before HOG.
UINT8_RANGE = (0, 255)


def study_hog(image_shape, **overrides):
    """The study's feature step for images of ``image_shape``: 0..255 -> 0..1,
    grayscale, HOG with :func:`fastsoftmax._shared.presets.default_hog_params`.

    ``overrides`` replace any :class:`HOGTransformer` parameter (e.g.
    ``pixels_per_cell=(2, 2)``).
    """
    return HOGTransformer(**{**default_hog_params(image_shape), "data_range": UINT8_RANGE,
                             **overrides})


def _chunk_size(n_images):
    """Images per chunk of :meth:`HOGTransformer.transform`: about 50 chunks for a large
    set, never under 1,024 images (CIFAR-10's 40,000 training images: 40 chunks), so
    that each chunk keeps every thread busy and progress costs nothing measurable."""
    return max(1024, -(-n_images // 50))


def _positive_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


class HOGTransformer(TransformerMixin, BaseEstimator):
    """Batch HOG (:func:`fastsoftmax.features.hog`) as a scikit-learn transformer.

    So that ``make_pipeline(HOGTransformer(), PCA(0.95), SoftmaxClassifier())`` works
    on raw image arrays; also the feature step of
    :class:`~fastsoftmax.model.pipeline.ImagePipeline`.  Stateless: ``fit`` only validates
    and records the image shape.

    Parameters
    ----------
    orientations, pixels_per_cell, cells_per_block, block_norm, transform_sqrt
        As in :func:`fastsoftmax.features.hog`.
    image_shape : tuple of int or None, default None
        ``(H, W)`` or ``(H, W, C)``: the shape of one image when ``X`` comes
        flattened as ``(N, H*W[*C])`` (e.g. after another scikit-learn step).  None
        needs ``X`` of shape (N, H, W) or (N, H, W, C).
    data_range : (float, float) or None, default None
        When set, pixels are first mapped from this range to 0..1 with
        :func:`~fastsoftmax.features.min_max_scale` (the study uses ``(0, 255)``).
    color : {'gray', 'max-gradient'}, default 'gray'
        For colour images (C == 3 for 'gray'): ``'gray'`` converts them with
        :func:`~fastsoftmax.features.rgb2gray` (after the scaling), ``'max-gradient'``
        keeps the channels and takes the strongest gradient per pixel.
    dtype : {'float32', 'float64'}, default 'float32'
        Dtype of the features.

    Attributes
    ----------
    n_features_in_ : int
        Values per image (``prod(image_shape_)``).
    image_shape_ : tuple of int
        Shape of one image as seen by ``fit``.
    n_features_out_ : int
        HOG features per image.
    """

    #: Label of this step's feature-cache entries.
    cache_kind = "hog"

    _parameter_constraints = {
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "pixels_per_cell": ["array-like"],
        "cells_per_block": ["array-like"],
        "block_norm": [StrOptions(set(BLOCK_NORMS))],
        "transform_sqrt": ["boolean"],
        "image_shape": ["array-like", None],
        "data_range": ["array-like", None],
        "color": [StrOptions({"gray", "max-gradient"})],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    def __init__(self, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                 block_norm="L2-Hys", transform_sqrt=False, image_shape=None,
                 data_range=None, color="gray", dtype="float32"):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.image_shape = image_shape
        self.data_range = data_range
        self.color = color
        self.dtype = dtype

    # ---- validation -------------------------------------------------------------
    def _check_params(self):
        self._validate_params()  # scikit-learn's check of _parameter_constraints
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if len(shape) not in (2, 3) or not all(_positive_integer(v) for v in shape):
                raise ValueError(
                    f"image_shape must be (H, W) or (H, W, C) of positive integers, got {self.image_shape!r}"
                )
        for name in ("pixels_per_cell", "cells_per_block"):
            pair = getattr(self, name)
            if np.ndim(pair) != 1 or len(pair) != 2 or not all(map(_positive_integer, pair)):
                raise ValueError(f"{name} must be two positive integers, got {pair!r}")
        if self.data_range is not None:
            low_high = self.data_range
            if (np.ndim(low_high) != 1 or len(low_high) != 2
                    or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                               for v in low_high)
                    or not np.isfinite(low_high).all() or low_high[0] >= low_high[1]):
                raise ValueError(f"data_range must be two finite numbers low < high, got "
                                 f"{self.data_range!r}")

    def _images(self, X, image_shape=None):
        """``X`` as (N, H, W[, C]), checked against ``image_shape`` when given."""
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
        if self.image_shape is not None:
            shape = tuple(int(v) for v in self.image_shape)
            if X.ndim == 2:
                if X.shape[1] != int(np.prod(shape)):
                    raise ValueError(
                        f"X has {X.shape[1]} values per row; image_shape {shape} needs "
                        f"{int(np.prod(shape))}"
                    )
                X = X.reshape((X.shape[0],) + shape)
            elif X.shape[1:] != shape:
                raise ValueError(f"X has images of shape {X.shape[1:]}, image_shape says {shape}")
        elif X.ndim not in (3, 4):
            raise ValueError(
                "X must be images (N, H, W) or (N, H, W, C); for flattened rows "
                f"(N, H*W) set image_shape.  Got shape {X.shape}"
            )
        if image_shape is not None and X.shape[1:] != image_shape:
            raise ValueError(
                f"X has images of shape {X.shape[1:]}; this transformer was fitted on {image_shape}"
            )
        if X.ndim == 4 and self.color == "gray" and X.shape[-1] != 3:
            raise ValueError(
                f"color='gray' needs RGB images (3 channels), got {X.shape[-1]}; "
                "use color='max-gradient' for other channel counts"
            )
        return X

    # ---- scikit-learn API -------------------------------------------------------
    def fit(self, X, y=None):
        """Validate the parameters and ``X``; record the image shape.

        Parameters
        ----------
        X : array_like of shape (N, H, W), (N, H, W, C) or ``(N, H*W[*C])``
            Images (flattened rows need ``image_shape``).
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        return self._set_image_shape(self._images(X).shape[1:])

    def _set_image_shape(self, image_shape):
        self.image_shape_ = tuple(int(v) for v in image_shape)
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.n_features_out_ = hog_n_features(
            self.image_shape_, self.orientations, self.pixels_per_cell, self.cells_per_block
        )
        return self

    def transform(self, X, progress=None):
        """HOG features of every image of ``X``.

        Parameters
        ----------
        X : array_like of shape (N, H, W), (N, H, W, C) or ``(N, H*W[*C])``
            Images of the fitted shape.
        progress : callable, optional
            ``progress("features", done, N)`` before the first chunk of images and
            after each (see :mod:`fastsoftmax._shared.progress`).

        Returns
        -------
        features : ndarray of shape (N, ``n_features_out_``)
        """
        check_is_fitted(self, "image_shape_")
        images = self._images(X, self.image_shape_)
        n = images.shape[0]
        out = np.empty((n, self.n_features_out_), dtype=np.dtype(self.dtype))
        chunk = _chunk_size(n)
        report(progress, "features", 0, n)
        # Chunks of images, each through the parallel kernels: the same features as one
        # call (every image is independent), progress between chunks, and the scaled
        # or grayscale copy is one chunk's, not the whole set's.
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            out[start:stop] = self._hog_of(images[start:stop])
            report(progress, "features", stop, n)
        return out

    def fit_transform(self, X, y=None, progress=None):
        """``fit(X, y).transform(X, progress=progress)``."""
        return self.fit(X, y).transform(X, progress=progress)

    def _hog_of(self, images):
        gray = images.ndim == 4 and self.color == "gray"
        channel_axis = -1 if images.ndim == 4 and not gray else None
        if (gray and images.dtype == np.uint8 and self.data_range is not None
                and tuple(self.data_range) == UINT8_RANGE):
            # rgb2gray maps uint8 0..255 to 0..1 itself, in one rounding to float32
            images = rgb2gray(images, dtype=np.float32)
        else:
            if self.data_range is not None:
                images = min_max_scale(images, self.data_range, dtype=np.float32)
            if gray:
                images = rgb2gray(images, dtype=np.float32 if self.data_range is not None else None)
        return hog(images, self.orientations, self.pixels_per_cell, self.cells_per_block,
                   self.block_norm, self.transform_sqrt, channel_axis=channel_axis,
                   dtype=np.dtype(self.dtype))

    # ---- the pipeline's save/load hook -------------------------------------------
    def to_arrays(self):
        """The fitted transformer as plain data: ``(metadata, arrays)``.

        ``metadata`` holds the parameters and the fitted image shape (JSON); HOG has
        no learned arrays, so ``arrays`` is empty.
        """
        check_is_fitted(self, "image_shape_")
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        return {"params": params, "image_shape_": list(self.image_shape_)}, {}

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a fitted transformer from :meth:`to_arrays`' output, checking it first.

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, unknown or invalid parameters, an
            ``image_shape_`` that is not ``[H, W]`` or ``[H, W, C]`` of positive
            integers or is smaller than one HOG block.
        """
        params = dict(fields.entry(metadata, "params", dict))
        unknown = set(params) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        for key in ("pixels_per_cell", "cells_per_block", "image_shape", "data_range"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        step = cls(**params)
        step._check_params()
        shape = fields.entry(metadata, "image_shape_", list)
        fields.image_shape(shape, "image_shape_", any_channels=step.color == "max-gradient")
        try:
            return step._set_image_shape(shape)
        except ValueError as exc:
            raise ValueError(f"image_shape_ {shape} does not fit the HOG parameters "
                             f"({exc})") from None

    def get_feature_names_out(self, input_features=None):
        """Names ``hog0`` .. ``hog{n_features_out_ - 1}``."""
        check_is_fitted(self, "n_features_out_")
        return np.asarray([f"hog{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = self.image_shape is not None
        tags.input_tags.three_d_array = True
        return tags
