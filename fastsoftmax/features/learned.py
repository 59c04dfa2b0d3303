"""Learned single-layer features (Coates, Lee & Ng, AISTATS 2011; Coates & Ng, ICML 2011)
as a scikit-learn transformer.

``KMeansFeatures().fit(images)`` samples random patches, normalizes and ZCA-whitens
them and learns a dictionary (:mod:`fastsoftmax.features._dictionary_kernels`);
``transform`` encodes every patch and sum-pools over a grid of regions
(:mod:`fastsoftmax.features._encoder_kernels`).  The defaults are the 2011 paper's
recipe (k-means, triangle activation, four quadrants); ``encoder="soft-threshold"``,
``pooling=3`` and ``mirror=True`` give the features ``fastsoftmax train --features
kmeans`` uses, which are the same for an image and its mirror image
(:mod:`fastsoftmax.features._mirror`).  Standardize the features afterwards (for
example with scikit-learn's ``StandardScaler``) before a linear classifier.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from fastsoftmax._shared.progress import relabel, shifted
from fastsoftmax.features import _dictionary_kernels as _dictionary
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features.batch_hog import _positive_int
from fastsoftmax.features._mirror import patch_mirror
from fastsoftmax.features.encoding import encode
from fastsoftmax.features.second_layer import (SecondLayer, cell_grid, encode_two_layers,
                                               fit_second_layer)
from fastsoftmax.features.shifted_copies import (SHIFT_DIRECTIONS, cells_move_with_shift,
                                                 encode_shifted, shift_images)
from fastsoftmax.features.whitening import zca_whitening
from fastsoftmax.io.fields import float32_arrays

__all__ = ["KMeansFeatures"]

#: Patches normalized at a time during ``fit`` (bounds the float64 scratch memory).
_SAMPLE_CHUNK = 50_000
#: Version of the arrays written by :meth:`KMeansFeatures.to_arrays`.
_ARRAYS_VERSION = 1

_INT_PARAMS = ("patch_size", "n_centroids", "stride", "n_patches", "max_iter", "pooling")
_FLOAT_PARAMS = ("whiten_eps", "norm_eps", "power")


def _check_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_images(images, patch_size=None):
    """``images`` as a C-contiguous (N, H, W, C) uint8 array."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must be uint8 (pixel values 0..255), got dtype {images.dtype}; "
            "convert with np.clip(images, 0, 255).astype(np.uint8)"
        )
    if images.ndim == 3:
        images = images[..., None]
    elif images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    if images.shape[3] < 1:
        raise ValueError("images must have at least one channel")
    if patch_size is not None and min(images.shape[1:3]) < patch_size:
        raise ValueError(
            f"images of {images.shape[1]}x{images.shape[2]} pixels are smaller than "
            f"patch_size={patch_size}"
        )
    return np.ascontiguousarray(images)


def sample_patches(images, n_patches, patch_size, random_state):
    """``n_patches`` patches at uniform random images and positions: (n, D) uint8."""
    rng = check_random_state(random_state)
    n, height, width, _ = images.shape
    which = rng.randint(n, size=n_patches)
    rows = rng.randint(height - patch_size + 1, size=n_patches)
    cols = rng.randint(width - patch_size + 1, size=n_patches)
    offsets = np.arange(patch_size)
    out = np.empty((n_patches, patch_size * patch_size * images.shape[3]), dtype=np.uint8)
    for start in range(0, n_patches, _SAMPLE_CHUNK):
        s = slice(start, start + _SAMPLE_CHUNK)
        r = rows[s, None, None] + offsets[None, :, None]
        c = cols[s, None, None] + offsets[None, None, :]
        out[s] = images[which[s, None, None], r, c].reshape(r.shape[0], -1)
    return out


class KMeansFeatures(TransformerMixin, BaseEstimator):
    """Learned single-layer features: a dictionary of whitened image patches, every patch
    encoded against it, the codes sum-pooled over a grid of regions.

    Parameters
    ----------
    patch_size : int, default=6
        Side of the square patches, in pixels.
    n_centroids : int, default=1600
        Dictionary size K (with ``mirror``, K / 2 learned atoms and their mirror
        images; K even).
    stride : int, default=1
        Step between the encoded patch positions.
    n_patches : int, default=400_000
        Random patches sampled from the training images for the whitening and the
        dictionary (at least ``n_centroids``).
    whiten_eps : float, default=0.1
        ZCA regularization, added to the covariance eigenvalues (the paper's 0.1).
        Larger values amplify the directions of small variance (the finest detail)
        less, which helps on images whose finest detail is mostly noise (e.g.
        decoded from JPEG); the command line's default is 1.
    norm_eps : float, default=10.0
        Added to each patch's variance before dividing (pixel scale 0..255).
    max_iter : int, default=50
        Dictionary (k-means) iterations; fewer when the assignments stop changing.
    init : {"normal", "points"}, default="normal"
        How k-means starts: small random normal vectors (the paper's code; better
        features on CIFAR-10) or distinct random patches.
    encoder : {"triangle", "soft-threshold"}, default="triangle"
        ``"triangle"``: Lloyd's k-means dictionary and the activation
        ``max(0, mean_j z_j - z_k)`` of the distances ``z`` to the centroids (Coates,
        Lee & Ng 2011), one feature per atom and region.  ``"soft-threshold"``: a
        spherical k-means dictionary of unit atoms ``d`` and the two activations
        ``max(0, d.x - threshold)``, ``max(0, -d.x - threshold)`` (Coates & Ng 2011's
        polarity split), two features per atom and region.
    threshold : float, default=0.25
        The soft threshold's alpha (``encoder="soft-threshold"`` only).
    pooling : int, default=2
        The activations are summed over a ``pooling x pooling`` grid of regions of the
        patch positions (2: the paper's quadrants).  With ``mirror``, the grid must
        divide the positions symmetrically (e.g. 27 positions a side: 1 or 3).
    mirror : bool, default=False
        Features that are the same for an image and its mirror image: the whitening
        is fitted on the patches and their mirror images, the dictionary holds each
        atom and its mirror image, and each pair of features the flip swaps is kept
        as one, ``(f + f_mirrored) / sqrt(2)``.  A linear classifier on them is the
        one trained on every image and its mirror image and averaging both at
        prediction (:mod:`fastsoftmax.features._mirror`), at half the features and
        without encoding mirror images.
    pyramid : bool, default=False
        Also the sums over the whole image (a two-level spatial pyramid: the grid's
        regions and the whole image), raised to ``power`` and folded like the grid's.
    quadrants : bool, default=False
        With a second layer: also the sums over the four quadrants of its cell grid
        (:func:`~fastsoftmax.features._split_encoder_kernels.quadrant_cells`: the two
        halves of an odd number of cells share the middle one), a third level of the
        pyramid between the grid and the whole image, raised and folded like them.
    power : float, default=1.0
        The pooled sums are raised to this power (power normalization, as for
        bag-of-words and Fisher vectors).  1 keeps the paper's sums; 0.5 (square
        roots) damps the features of frequent patterns and raises CIFAR-10 accuracy
        (the command line's default).
    second_layer : int, default=0
        Atoms of a second layer (atoms and their mirror images; even; 0: none), which
        needs ``encoder="soft-threshold"`` and ``mirror``
        (:mod:`fastsoftmax.features.second_layer`): it encodes every 3 x 3
        neighbourhood of a map of this layer's codes summed over cells three times finer
        than ``pooling``, and its features, pooled and folded like the first layer's,
        follow them.
    second_layer_channels : int, default=128
        Channels of that map after PCA (even: half mirror-even, half mirror-odd).
    second_layer_weight : float, default=0.3
        The second layer's entry in :attr:`feature_weights_`.
    random_state : int, RandomState or None, default=None
        Seeds the patch sample, the k-means initialization and the second layer's
        samples.

    Attributes
    ----------
    whiten_mean_ : ndarray of shape (D,), float32
        Mean of the normalized patches, ``D = patch_size**2 * channels``.
    whiten_matrix_ : ndarray of shape (D, D), float32
        ZCA whitening matrix (symmetric).
    cluster_centers_ : ndarray of shape (n_centroids, D), float32
        The dictionary, in whitened patch space.
    n_iter_ : int
        k-means iterations run.
    inertia_ : float
        Mean squared distance of the sampled patches to their centroid.
    image_shape_ : tuple of int
        ``(H, W, C)`` of the training images.
    n_features_in_ : int
        ``H * W * C``.
    n_features_out_ : int
        ``(pooling**2 + pyramid + 4 * quadrants) * P * n_centroids`` (P = 1 for the
        triangle, 2 for the soft threshold), half that with ``mirror``; plus
        ``(pooling**2 + 1) * second_layer`` with a second layer.
    second_layer_ : SecondLayer or None
        The fitted second layer (its channel PCA, whitening and dictionary).
    feature_weights_ : ndarray of float32, or None
        With a second layer, the weights a scaler gives the standardized features: 1 for
        the first layer's, ``second_layer_weight`` for the second's (a stronger L2
        penalty on their classifier weights: on their own they overfit).

    Notes
    -----
    Feature ``((i * R + j) * P + p) * K' + k`` is atom ``k``'s activation of polarity
    ``p`` summed over region row ``i``, column ``j`` (R = ``pooling``; K' =
    ``n_centroids``, or with ``mirror`` the base atoms, each folded with its mirror
    atom in region (i, R - 1 - j)).  With the defaults: ``q * K + k`` for quadrant
    ``q`` (top-left, top-right, bottom-left, bottom-right).
    """

    #: Label of this step's feature-cache entries (``data info`` lists it).
    cache_kind = "kmeans"

    def __init__(self, patch_size=6, n_centroids=1600, stride=1, n_patches=400_000,
                 whiten_eps=0.1, norm_eps=10.0, max_iter=50, init="normal", power=1.0,
                 encoder="triangle", threshold=0.25, pooling=2, mirror=False,
                 pyramid=False, quadrants=False, second_layer=0, second_layer_channels=128,
                 second_layer_weight=0.3, random_state=None):
        self.patch_size = patch_size
        self.n_centroids = n_centroids
        self.stride = stride
        self.n_patches = n_patches
        self.whiten_eps = whiten_eps
        self.norm_eps = norm_eps
        self.max_iter = max_iter
        self.init = init
        self.power = power
        self.encoder = encoder
        self.threshold = threshold
        self.pooling = pooling
        self.mirror = mirror
        self.pyramid = pyramid
        self.quadrants = quadrants
        self.second_layer = second_layer
        self.second_layer_channels = second_layer_channels
        self.second_layer_weight = second_layer_weight
        self.random_state = random_state

    # ---- validation -------------------------------------------------------------
    def _validated_params(self):
        params = {name: _positive_int(getattr(self, name), name) for name in _INT_PARAMS}
        params.update({name: _check_float(getattr(self, name), name) for name in _FLOAT_PARAMS})
        if params["n_patches"] < params["n_centroids"]:
            raise ValueError(
                f"n_patches ({params['n_patches']}) must be at least n_centroids "
                f"({params['n_centroids']})"
            )
        params["init"] = _dictionary.check_init(self.init)
        if not isinstance(self.encoder, str) or self.encoder not in _encoder.ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(_encoder.ENCODERS)}; "
                             f"got {self.encoder!r}")
        params["encoder"] = self.encoder
        threshold = self.threshold
        if (isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real)
                or not np.isfinite(threshold) or threshold < 0):
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
        params["threshold"] = float(threshold)
        if not isinstance(self.mirror, (bool, np.bool_)):
            raise TypeError(f"mirror must be True or False, got {self.mirror!r}")
        params["mirror"] = bool(self.mirror)
        if not isinstance(self.pyramid, (bool, np.bool_)):
            raise TypeError(f"pyramid must be True or False, got {self.pyramid!r}")
        params["pyramid"] = bool(self.pyramid)
        if not isinstance(self.quadrants, (bool, np.bool_)):
            raise TypeError(f"quadrants must be True or False, got {self.quadrants!r}")
        params["quadrants"] = bool(self.quadrants)
        if params["mirror"] and params["n_centroids"] % 2:
            raise ValueError(f"with mirror, n_centroids is even (atoms and their mirror "
                             f"images), got {params['n_centroids']}")
        params.update(self._validated_second_layer(params))
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or (
                isinstance(rs, numbers.Integral) and not isinstance(rs, (bool, np.bool_)))):
            raise TypeError(f"random_state must be None, an int or a RandomState, got {rs!r}")
        return params

    def _validated_second_layer(self, params):
        atoms, channels = self.second_layer, self.second_layer_channels
        if (isinstance(atoms, (bool, np.bool_)) or not isinstance(atoms, numbers.Integral)
                or atoms < 0 or atoms % 2):
            raise ValueError(f"second_layer must be 0 (none) or an even number of atoms, got "
                             f"{atoms!r}")
        channels = _positive_int(channels, "second_layer_channels")
        if channels % 2:
            raise ValueError(f"second_layer_channels must be even, got {channels}")
        weight = _check_float(self.second_layer_weight, "second_layer_weight")
        if atoms and not (params["mirror"] and params["encoder"] == "soft-threshold"):
            raise ValueError("a second layer needs encoder='soft-threshold' and mirror=True")
        if params["quadrants"] and not atoms:
            raise ValueError("quadrants needs a second layer: they are sums of its cells")
        if atoms and channels > 2 * params["n_centroids"]:
            raise ValueError(f"second_layer_channels ({channels}) must be at most twice "
                             f"n_centroids ({params['n_centroids']}): half come from the "
                             "mirror-even values of a cell, half from the mirror-odd ones")
        return {"second_layer": int(atoms), "second_layer_channels": channels,
                "second_layer_weight": weight}

    def _check_grid(self, params, image_shape):
        """With ``mirror``, refuse a geometry the flip does not map onto itself: patch
        positions that do not mirror onto positions, or an asymmetric pooling grid."""
        p, stride, n_regions = params["patch_size"], params["stride"], params["pooling"]
        if params["second_layer"]:
            for n in _encoder.grid_shape(image_shape[0], image_shape[1], p, stride):
                cell_grid(n, n_regions)
        if not params["mirror"]:
            return
        if (image_shape[1] - p) % stride:
            raise ValueError(
                f"with mirror, stride {stride} must divide the image width minus the patch "
                f"size ({image_shape[1]} - {p}), so that the flip maps patch positions "
                "onto patch positions")
        n_cols = _encoder.grid_shape(image_shape[0], image_shape[1], p, stride)[1]
        if not _encoder.is_mirror_symmetric(_encoder.pooling_regions(n_cols, n_regions),
                                            n_regions):
            fitting = [r for r in range(1, n_cols + 1)
                       if _encoder.is_mirror_symmetric(_encoder.pooling_regions(n_cols, r), r)]
            raise ValueError(
                f"with mirror, the pooling grid must divide the {n_cols} patch positions a "
                f"side symmetrically; pooling={n_regions} does not (it can be "
                f"{', '.join(map(str, fitting[:8]))}{' ...' if len(fitting) > 8 else ''})")

    def _n_polarities(self):
        return _encoder.POLARITIES[self.encoder]

    # ---- scikit-learn API -------------------------------------------------------
    def fit(self, X, y=None, progress=None):
        """Learn the whitening and the k-means dictionary from random patches of ``X``.

        Parameters
        ----------
        X : array_like of shape (N, H, W) or (N, H, W, C), uint8
            Training images (pixel values 0..255).
        y : ignored
        progress : callable, optional
            ``progress("dictionary", done, max_iter)`` after each k-means iteration, and
            with a second layer ``progress("second layer", done, max_iter)`` from the
            start of its fit and after each of its k-means iterations (see
            :mod:`fastsoftmax._shared.progress`).

        Returns
        -------
        self
        """
        params = self._validated_params()
        images = _check_images(X, params["patch_size"])
        if images.shape[0] == 0:
            raise ValueError("fit needs at least one image")
        self._check_grid(params, images.shape[1:])
        mirror = patch_mirror(params["patch_size"], images.shape[3]) if params["mirror"] else None
        rng = check_random_state(self.random_state)
        raw = sample_patches(images, params["n_patches"], params["patch_size"], rng)
        patches = np.empty(raw.shape, dtype=np.float64)
        for start in range(0, raw.shape[0], _SAMPLE_CHUNK):
            s = slice(start, start + _SAMPLE_CHUNK)
            patches[s] = _encoder.normalize_patches(raw[s], params["norm_eps"])
        del raw
        mean, matrix = zca_whitening(patches, params["whiten_eps"], mirror)
        white = np.empty(patches.shape, dtype=np.float32)
        for start in range(0, patches.shape[0], _SAMPLE_CHUNK):
            s = slice(start, start + _SAMPLE_CHUNK)
            white[s] = (patches[s] - mean) @ matrix
        del patches
        learn = (_dictionary.spherical_kmeans if params["encoder"] == "soft-threshold"
                 else _dictionary.kmeans)
        centers, n_iter, inertia = learn(white, params["n_centroids"], params["max_iter"], rng,
                                         progress=progress, init=params["init"], mirror=mirror)
        self.whiten_mean_ = mean.astype(np.float32)
        self.whiten_matrix_ = matrix.astype(np.float32)
        self.cluster_centers_ = centers
        self.n_iter_ = int(n_iter)
        self.inertia_ = float(inertia)
        self.second_layer_ = None
        self._set_shape(images.shape[1:])
        if params["second_layer"]:
            self.second_layer_ = fit_second_layer(
                self, images, params["second_layer"], params["second_layer_channels"],
                params["max_iter"], rng, progress=relabel(progress, "second layer"))
            self._set_shape(images.shape[1:])
        return self

    def pyramid_levels(self):
        """The first layer's pooling levels in feature order, as ``(side, regions)``:
        the ``pooling`` grid, then the whole image with ``pyramid``, then the four
        quadrants with ``quadrants``."""
        return ([(self.pooling, self.pooling ** 2)] + [(1, 1)] * bool(self.pyramid)
                + [(2, 4)] * bool(self.quadrants))

    def _set_shape(self, image_shape):
        self.image_shape_ = tuple(int(v) for v in image_shape)
        self.n_features_in_ = int(np.prod(self.image_shape_))
        regions = sum(count for _, count in self.pyramid_levels())
        width = regions * self._n_polarities() * int(self.cluster_centers_.shape[0])
        self.n_features_out_ = width // 2 if self.mirror else width
        if getattr(self, "second_layer_", None) is not None:
            self.n_features_out_ += self.second_layer_.n_features

    @property
    def feature_weights_(self):
        """Weights of the standardized features, one per output feature (float32), or
        None when all are 1: ``second_layer_weight`` on the second layer's, a stronger L2
        penalty on their classifier weights (the pipeline's scaler applies them)."""
        check_is_fitted(self, "n_features_out_")
        if getattr(self, "second_layer_", None) is None:
            return None
        weights = np.ones(self.n_features_out_, dtype=np.float32)
        weights[-self.second_layer_.n_features:] = self.second_layer_weight
        return weights

    def transform(self, X, progress=None):
        """Pooled features of every image of ``X``.

        Parameters
        ----------
        X : array_like of shape (N, H, W) or (N, H, W, C), uint8
            Images of the fitted shape.
        progress : callable, optional
            ``progress("features", done, N)`` after each batch of images.

        Returns
        -------
        features : ndarray of shape (N, ``n_features_out_``), float32
        """
        check_is_fitted(self, "cluster_centers_")
        params, images = self._checked_input(X)
        if getattr(self, "second_layer_", None) is not None:
            return encode_two_layers(self, self.second_layer_, images, progress)
        return encode(images, params["patch_size"], params["stride"], params["norm_eps"],
                      self.whiten_mean_, self.whiten_matrix_, self.cluster_centers_,
                      encoder=params["encoder"], threshold=params["threshold"],
                      n_regions=params["pooling"], power=params["power"],
                      mirror=params["mirror"], pyramid=params["pyramid"], progress=progress)

    def _checked_input(self, X):
        """The validated parameters and ``X`` as images of the fitted shape, or
        ValueError."""
        params = self._validated_params()
        images = _check_images(X, params["patch_size"])
        if images.shape[1:] != self.image_shape_:
            raise ValueError(
                f"X has images of shape {images.shape[1:]}; this transformer was fitted on "
                f"{self.image_shape_}"
            )
        self._check_grid(params, images.shape[1:])
        return params, images

    def transform_shifted(self, X, shift, progress=None):
        """The features of the images of ``X`` and of their copies moved by ``shift``
        pixels down, up, right and left, borders reflected
        (:mod:`~fastsoftmax.features.shifted_copies`): a list of five arrays as
        :meth:`transform` returns, the images' first.  Where the cells move with the
        shift (the soft threshold with ``mirror``, stride 1, cells of ``shift``
        positions) the copies' features come from the images' own cells; else each copy
        is encoded.  ``progress("features", done, 5 * N)``, optional."""
        check_is_fitted(self, "cluster_centers_")
        _, images = self._checked_input(X)
        if cells_move_with_shift(self, shift):
            return encode_shifted(self, images, shift, progress)
        copies = [images] + [shift_images(images, dy * shift, dx * shift)
                             for dy, dx in SHIFT_DIRECTIONS]
        return [self.transform(copy, shifted(progress, index * len(images), 5 * len(images)))
                for index, copy in enumerate(copies)]

    def fit_transform(self, X, y=None, progress=None):
        """``fit(X).transform(X)``, reporting both through ``progress``."""
        return self.fit(X, y, progress=progress).transform(X, progress=progress)

    def get_feature_names_out(self, input_features=None):
        """Names in feature order: ``kmeans_r{row}_c{column}_{polarity}{atom}``, then with
        ``pyramid`` ``kmeans_whole_{polarity}{atom}``, with ``quadrants``
        ``kmeans_quadrant{row}{column}_{polarity}{atom}``; polarity ``pos``/``neg`` for the
        soft threshold, nothing for the triangle (the paper's recipe:
        ``kmeans_q{quadrant}_c{centroid}``)."""
        check_is_fitted(self, "n_features_out_")
        n_regions = self.pooling
        polarities = ("pos", "neg") if self.encoder == "soft-threshold" else ("",)
        k = self.cluster_centers_.shape[0] // (2 if self.mirror else 1)
        if n_regions == 2 and len(polarities) == 1 and not (self.mirror or self.pyramid):
            return np.asarray([f"kmeans_q{q}_c{c}" for q in range(4) for c in range(k)],
                              dtype=object)
        names = [f"kmeans_r{i}_c{j}_{p}{a}" for i in range(n_regions) for j in range(n_regions)
                 for p in polarities for a in range(k)]
        if self.pyramid:
            names += [f"kmeans_whole_{p}{a}" for p in polarities for a in range(k)]
        if self.quadrants:
            names += [f"kmeans_quadrant{i}{j}_{p}{a}" for i in range(2) for j in range(2)
                      for p in polarities for a in range(k)]
        if getattr(self, "second_layer_", None) is not None:
            n_base = self.second_layer_.n_atoms // 2
            names += [f"kmeans2_r{i}_c{j}_{p}{a}" for i in range(n_regions)
                      for j in range(n_regions) for p in polarities for a in range(n_base)]
            names += [f"kmeans2_whole_{p}{a}" for p in polarities for a in range(n_base)]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    # ---- model files ------------------------------------------------------------
    def to_arrays(self):
        """The fitted state as JSON-able metadata and plain arrays (no pickle).

        Returns
        -------
        metadata : dict
            ``{"version", "params", "image_shape", "n_iter", "inertia"}``; ``params``
            are :meth:`get_params` with ``random_state`` kept only when it is an int
            or None.
        arrays : dict of str to ndarray
            ``whiten_mean`` (D,), ``whiten_matrix`` (D, D) and ``cluster_centers``
            (K, D), float32.
        """
        check_is_fitted(self, "cluster_centers_")
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], numbers.Integral)):
            params["random_state"] = None
        params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
        metadata = {"version": _ARRAYS_VERSION, "params": params,
                    "image_shape": list(self.image_shape_), "n_iter": self.n_iter_,
                    "inertia": self.inertia_}
        arrays = {"whiten_mean": self.whiten_mean_, "whiten_matrix": self.whiten_matrix_,
                  "cluster_centers": self.cluster_centers_}
        if getattr(self, "second_layer_", None) is not None:
            arrays.update({f"second_layer_{name}": value
                           for name, value in self.second_layer_.to_arrays().items()})
        return metadata, arrays

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """A fitted transformer from :meth:`to_arrays` output, checked before use.

        Raises
        ------
        ValueError
            If the metadata or an array is missing, of the wrong shape or dtype, or
            not finite.
        """
        if not isinstance(metadata, dict) or metadata.get("version") != _ARRAYS_VERSION:
            raise ValueError(f"KMeansFeatures arrays: unsupported metadata {metadata!r:.200}")
        try:
            params = dict(metadata["params"])
            image_shape = tuple(metadata["image_shape"])
            n_iter, inertia = metadata["n_iter"], metadata["inertia"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"KMeansFeatures arrays: malformed metadata ({exc})") from None
        if not isinstance(metadata["params"], dict):
            raise ValueError("KMeansFeatures arrays: params is not a mapping")
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 0:
            raise ValueError(f"KMeansFeatures arrays: n_iter is {n_iter!r}, expected an "
                             "integer >= 0")
        if (isinstance(inertia, bool) or not isinstance(inertia, numbers.Real)
                or not np.isfinite(inertia) or inertia < 0):
            raise ValueError(f"KMeansFeatures arrays: inertia is {inertia!r}, expected a "
                             "finite number >= 0")
        unknown = set(params) - set(cls().get_params())
        if unknown:
            raise ValueError(f"KMeansFeatures arrays: unknown parameters {sorted(unknown)}")
        model = cls(**params)
        try:
            checked = model._validated_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"KMeansFeatures arrays: bad parameter ({exc})") from None
        if len(image_shape) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= checked["patch_size"]
                for v in image_shape[:2]) or not (isinstance(image_shape[2], int) and image_shape[2] >= 1):
            raise ValueError(f"KMeansFeatures arrays: bad image_shape {image_shape!r}")
        try:
            model._check_grid(checked, image_shape)
        except ValueError as exc:
            raise ValueError(f"KMeansFeatures arrays: {exc}") from None
        dim = checked["patch_size"] ** 2 * image_shape[2]
        expected = {"whiten_mean": (dim,), "whiten_matrix": (dim, dim),
                    "cluster_centers": (checked["n_centroids"], dim)}
        state = float32_arrays(arrays, expected, "KMeansFeatures arrays: ")
        if checked["mirror"]:
            base = checked["n_centroids"] // 2
            mirrored = state["cluster_centers"][:base][:, patch_mirror(checked["patch_size"],
                                                                       image_shape[2])]
            if not np.array_equal(state["cluster_centers"][base:], mirrored):
                raise ValueError("KMeansFeatures arrays: with mirror, the second half of "
                                 "'cluster_centers' must be the mirror images of the first")
        model.whiten_mean_ = state["whiten_mean"]
        model.whiten_matrix_ = state["whiten_matrix"]
        model.cluster_centers_ = state["cluster_centers"]
        model.n_iter_ = int(n_iter)
        model.inertia_ = float(inertia)
        model.second_layer_ = None
        if checked["second_layer"]:
            layer = SecondLayer(checked["second_layer"], checked["second_layer_channels"],
                                checked["threshold"], checked["power"], checked["pooling"])
            prefix = "second_layer_"
            stored = {name[len(prefix):]: value for name, value in arrays.items()
                      if name.startswith(prefix)}
            try:
                model.second_layer_ = layer.set_arrays(stored, checked["n_centroids"])
            except ValueError as exc:
                raise ValueError(f"KMeansFeatures arrays: {exc}") from None
        model._set_shape(image_shape)
        return model
