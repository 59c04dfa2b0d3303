"""The study's whole pipeline on raw images: scale, grayscale, HOG, PCA, softmax.

``ImagePipeline`` takes uint8 images (N, H, W) or (N, H, W, 3) as the data loaders
return them, and keeps every fitted piece (feature parameters, PCA, classifier, class
names) so that one model file answers ``evaluate`` and ``predict``.
"""
import time

import numpy as np

from .classifier import SoftmaxClassifier

#: The study's HOG parameters.
STUDY_HOG = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2),
             "block_norm": "L2-Hys"}


def default_hog_params(image_shape):
    """HOG parameters for an image size: the study's, with 2x2-pixel cells for images
    smaller than 16 pixels (the 8x8 digits), where 4x4 cells leave a single block."""
    params = dict(STUDY_HOG)
    if min(image_shape[:2]) < 16:
        params["pixels_per_cell"] = (2, 2)
    return params


class ImagePipeline:
    """Scale to 0..1, grayscale, HOG, PCA, :class:`SoftmaxClassifier`.

    Parameters
    ----------
    classifier : SoftmaxClassifier, optional
        Unfitted classifier (default: ``SoftmaxClassifier()``).
    hog_params : dict, optional
        Keyword arguments of :func:`fastsoftmax.features.hog` (default:
        :func:`default_hog_params` of the training images' size).
    pca_variance : float or None, default=0.95
        Fraction of the variance PCA keeps; ``None`` skips PCA.
    class_names : list of str, optional

    Attributes
    ----------
    image_shape_ : tuple
        (H, W) or (H, W, 3) of the training images; other sizes are resized by ``predict``.
    pca_mean_, pca_components_ : ndarray
        Fitted PCA (``features @ components.T`` after centring).
    timings_ : dict
        Seconds per stage of the last ``fit`` (``features``, ``pca``, ``train``).
    train_accuracy_ : float
        Accuracy on the training images at the end of ``fit``.
    """

    def __init__(self, classifier=None, hog_params=None, pca_variance=0.95, class_names=None):
        self.classifier = classifier if classifier is not None else SoftmaxClassifier()
        self.hog_params = hog_params
        self.pca_variance = pca_variance
        self.class_names = class_names

    # ------------------------------------------------------------------ stages
    def _check_images(self, images, fitted):
        images = np.asarray(images)
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise ValueError(
                f"images must have shape (N, H, W) or (N, H, W, 3); got {images.shape}"
            )
        if images.shape[0] == 0:
            raise ValueError("no images given (empty array)")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (0..255); got dtype {images.dtype}")
        if fitted and images.shape[1:3] != tuple(self.image_shape_[:2]):
            raise ValueError(
                f"images are {images.shape[1]}x{images.shape[2]} but the model was trained "
                f"on {self.image_shape_[0]}x{self.image_shape_[1]}"
            )
        return images

    def extract_features(self, images):
        """HOG features of uint8 images: 0..255 -> 0..1, grayscale, HOG (float32)."""
        from .features import hog, min_max_scale, rgb2gray

        if images.ndim == 4:
            gray = rgb2gray(images, dtype=np.float32)  # uint8 read directly, scaled to 0..1
        else:
            gray = min_max_scale(images, dtype=np.float32)
        return hog(gray, dtype=np.float32, **self.hog_params_)

    def project(self, features):
        """PCA projection of HOG features (identity when PCA is off)."""
        if self.pca_components_ is None:
            return features
        # (features - mean) @ components.T without a centred copy of the feature matrix
        projected = features @ self.pca_components_.T
        projected -= self.pca_mean_ @ self.pca_components_.T
        return projected

    # ------------------------------------------------------------------ fitting
    def fit(self, images, y, callback=None, cache=True, features=None):
        """Fit PCA and the classifier on training images.

        Parameters
        ----------
        images : ndarray of uint8, shape (N, H, W) or (N, H, W, 3)
        y : ndarray of int, shape (N,)
        callback : callable, optional
            Passed to :meth:`SoftmaxClassifier.fit` for progress.
        cache : bool, default=True
            Reuse HOG features and the fitted PCA from the on-disk cache
            (:mod:`fastsoftmax.data.cache`), keyed by the images and parameters.
        features : ndarray, optional
            Precomputed HOG features of ``images`` (skips extraction).

        Returns
        -------
        self
        """
        images = self._check_images(images, fitted=False)
        self.image_shape_ = tuple(images.shape[1:])
        self.hog_params_ = dict(self.hog_params or default_hog_params(self.image_shape_))
        self.timings_ = {}
        start = time.perf_counter()
        if features is None:
            features = self.cached_features(images, cache)
        self.timings_["features"] = time.perf_counter() - start

        start = time.perf_counter()
        self._fit_pca(images, features, cache)
        projected = self.project(features)
        self.timings_["pca"] = time.perf_counter() - start

        start = time.perf_counter()
        self.classifier.fit(projected, y, callback=callback)
        self.timings_["train"] = time.perf_counter() - start
        self.classes_ = self.classifier.classes_
        self.train_accuracy_ = self.classifier.score(projected, y)
        return self

    def cached_features(self, images, cache=True):
        """HOG features of ``images``, from the disk cache when present."""
        if not cache:
            return self.extract_features(images)
        from .data.cache import cache_key, load_cached, save_cached

        key = cache_key(images, kind="hog", **_jsonable(self.hog_params_))
        hit = load_cached(key, expect={"features": (len(images), None)})
        if hit is not None:
            return hit["features"]
        features = self.extract_features(images)
        _try_save(save_cached, key, {"features": features}, kind="hog")
        return features

    def _fit_pca(self, images, features, cache):
        self.pca_mean_ = self.pca_components_ = None
        if self.pca_variance is None:
            self.n_features_ = features.shape[1]
            return
        if not 0.0 < self.pca_variance <= 1.0:
            raise ValueError(f"pca_variance must be in (0, 1] or None; got {self.pca_variance!r}")
        key = None
        if cache:
            from .data.cache import cache_key, load_cached

            key = cache_key(images, kind="pca", variance=self.pca_variance,
                            **_jsonable(self.hog_params_))
            hit = load_cached(key, expect={"mean": (features.shape[1],),
                                           "components": (None, features.shape[1])})
            if hit is not None:
                self.pca_mean_, self.pca_components_ = hit["mean"], hit["components"]
                self.n_features_ = self.pca_components_.shape[0]
                return
        from sklearn.decomposition import PCA

        # "covariance_eigh" is scikit-learn's fastest exact solver for tall data
        # (n_samples >> n_features): one Gram matrix and an eigendecomposition.
        solver = "covariance_eigh" if features.shape[0] >= features.shape[1] else "full"
        n_components = self.pca_variance if self.pca_variance < 1.0 else None
        pca = PCA(n_components=n_components, svd_solver=solver).fit(features)
        self.pca_mean_ = pca.mean_.astype(np.float32)
        self.pca_components_ = np.ascontiguousarray(pca.components_, dtype=np.float32)
        self.n_features_ = self.pca_components_.shape[0]
        if key is not None:
            from .data.cache import save_cached

            _try_save(save_cached, key, {"mean": self.pca_mean_,
                                         "components": self.pca_components_}, kind="pca")

    # ------------------------------------------------------------------ prediction
    def transform(self, images):
        """Classifier inputs (HOG + PCA) of uint8 images of the training size."""
        images = self._check_images(images, fitted=True)
        return self.project(self.extract_features(images))

    def predict_proba(self, images):
        return self.classifier.predict_proba(self.transform(images))

    def predict(self, images):
        return self.classifier.predict(self.transform(images))

    def score(self, images, y):
        return float(np.mean(self.predict(images) == np.asarray(y)))

    def resize(self, image):
        """Fit one uint8 image (H, W, 3) to the training image shape (documented in ``predict``).

        The image is resized with anti-aliasing to the training height and width
        (aspect ratio not kept) and converted to grayscale when the model was
        trained on grayscale images.
        """
        from skimage.transform import resize

        image = np.asarray(image)
        height, width = self.image_shape_[:2]
        if image.ndim == 3 and len(self.image_shape_) == 2:
            from .features import rgb2gray

            image = np.rint(rgb2gray(image[None], dtype=np.float64)[0] * 255).astype(np.uint8)
        elif image.ndim == 2 and len(self.image_shape_) == 3:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.shape[:2] != (height, width):
            resized = resize(image, (height, width) + image.shape[2:], anti_aliasing=True,
                             preserve_range=True)
            image = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
        return image

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the whole fitted pipeline to one model file (atomically, no pickle)."""
        from .persistence import save_arrays

        clf_meta, clf_arrays = self.classifier._to_arrays()
        arrays = {f"clf_{name}": value for name, value in clf_arrays.items()}
        if self.pca_components_ is not None:
            arrays["pca_mean_"] = self.pca_mean_
            arrays["pca_components_"] = self.pca_components_
        metadata = {
            "classifier": clf_meta,
            "hog_params": _jsonable(self.hog_params_),
            "image_shape": list(self.image_shape_),
            "pca_variance": self.pca_variance,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "scaling": "uint8 0..255 -> 0..1 (min_max_scale), then grayscale (rgb2gray)",
        }
        save_arrays(path, "ImagePipeline", metadata, arrays)

    @classmethod
    def load(cls, path):
        """Read a pipeline written by :meth:`save`."""
        from .persistence import ModelFileError, load_arrays

        metadata, arrays = load_arrays(path, kind="ImagePipeline")
        try:
            clf_arrays = {name[4:]: value for name, value in arrays.items()
                          if name.startswith("clf_")}
            classifier = SoftmaxClassifier._from_arrays(metadata["classifier"], clf_arrays)
            pipe = cls(classifier=classifier, pca_variance=metadata["pca_variance"],
                       class_names=metadata["class_names"])
            hog_params = dict(metadata["hog_params"])
            for key in ("pixels_per_cell", "cells_per_block"):
                hog_params[key] = tuple(hog_params[key])
            pipe.hog_params = pipe.hog_params_ = hog_params
            pipe.image_shape_ = tuple(metadata["image_shape"])
            pipe.pca_mean_ = arrays.get("pca_mean_")
            pipe.pca_components_ = arrays.get("pca_components_")
            pipe.n_features_ = (pipe.pca_components_.shape[0] if pipe.pca_components_ is not None
                                else classifier.n_features_in_)
            pipe.classes_ = classifier.classes_
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"{str(path)!r} is an incomplete fastsoftmax pipeline ({exc})") from None
        return pipe


def _jsonable(params):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _try_save(save, key, arrays, kind=None):
    """A cache write that fails (read-only or full disk) must not fail training."""
    import logging

    try:
        save(key, arrays, kind=kind)
    except OSError as exc:
        logging.getLogger(__name__).warning("could not write the feature cache: %s", exc)
