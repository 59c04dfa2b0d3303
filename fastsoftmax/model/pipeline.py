"""The study's whole model on raw images: a feature step, PCA, the softmax classifier.

``ImagePipeline`` takes uint8 images (N, H, W) or (N, H, W, 3) as the data loaders
return them, and is built from public scikit-learn-style steps:

1. a **feature step** (default: :func:`fastsoftmax.features.study_hog` of the image
   size: 0..255 -> 0..1, grayscale, HOG; or
   :class:`~fastsoftmax.features.KMeansFeatures`, learned features),
2. :class:`~fastsoftmax.model.scaling.FeatureScaler` (``standardize=True``; off by
   default): the training features' mean and standard deviation,
3. :class:`~fastsoftmax.model.pca.VariancePCA` (``pca_variance``; ``None`` skips it),
4. :class:`~fastsoftmax.SoftmaxClassifier`.

``fit`` clones each step and keeps the fitted ones as ``features_``, ``scaler_``,
``pca_`` and ``classifier_``; one model file holds them all, so that it answers
``evaluate`` and ``predict``.  Sweeps and benchmarks use the same public methods: :meth:`fit_features`
(fit the feature step and PCA, return the classifier inputs) and :meth:`transform`.

The feature-step contract
-------------------------
Any object with these methods can be the ``features`` step (a scikit-learn
transformer, ``TransformerMixin`` + ``BaseEstimator``, has the first four):

``fit(images, y=None) -> self``
    Learn from uint8 training images (N, H, W) or (N, H, W, 3); ``y`` may be ignored.
``transform(images) -> ndarray of float32, shape (N, D)``
    Features of uint8 images of the fitted size (D fixed by the fitted step).
``fit_transform(images, y=None)``
    As ``fit(images, y).transform(images)`` (``TransformerMixin`` gives it).
``transform(images, progress=None)``, ``fit_transform(images, y=None, progress=None)`` (optional)
    A step whose methods take a ``progress`` keyword reports its work through it
    (``progress(stage, done, total, **info)``, see :mod:`fastsoftmax._shared.progress`);
    the pipeline passes it only to steps that take it.
``get_params(deep=False) -> dict``
    JSON-serializable parameters (tuples allowed); they key the disk cache.  A step
    whose ``fit`` is random must take ``random_state``; with an integer seed its
    results are cached, otherwise the step is never cached.
``to_arrays() -> (metadata, arrays)``
    The fitted step as plain data: ``metadata`` a JSON-serializable dict (its
    parameters and fitted scalars), ``arrays`` a dict of name -> ndarray of a plain
    dtype (no ``object``).
``from_arrays(metadata, arrays)`` (classmethod)
    Rebuild the fitted step from :meth:`to_arrays`' output, checking it (the arrays
    come from a file that may be hostile): raise ``ValueError``, ``KeyError`` or
    ``TypeError`` on anything inconsistent.

Adding a feature extractor is writing one such class and registering its name in
:data:`fastsoftmax.features.FEATURE_STEPS` (model files name the step's class; only
registered classes are built from a file).

Disk cache
----------
Off by default, as scikit-learn's ``Pipeline(memory=None)``: ``ImagePipeline(cache=True)``
reuses the fitted feature step with its training features, and the fitted PCA, from
:mod:`fastsoftmax.io.cache`, keyed by the training images and the steps' parameters.
The command line turns it on (``--no-cache`` turns it off).
"""
import logging
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from fastsoftmax._shared.aligned import aligned_empty
from fastsoftmax.data.splits import SplitRecord
from fastsoftmax._shared.progress import relabel, report, shifted
from fastsoftmax.data.training_files import TrainingFiles
from fastsoftmax.features import feature_step_class, study_hog
from fastsoftmax.features.shifted_copies import SHIFT_DIRECTIONS
from fastsoftmax.io.fields import check_pixels, entry, image_shape, positive_int, prefixed
from fastsoftmax.io.model_file import load_model_file, save_arrays
from fastsoftmax.model.cached_steps import (fit_pca_cached, fit_transform_cached,
                                            mirrored_features_cached, step_call)
from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.model.pca import VariancePCA
from fastsoftmax.model.pipeline_checks import check_steps_fit
from fastsoftmax.model.pipeline_format1 import upgrade_format_1
from fastsoftmax.model.scaling import FeatureScaler
from fastsoftmax.model.shifted_training import ShiftedRounds, offsets_generator
from fastsoftmax.model.views import check_shift, fit_to_shape, mirror_images, prediction_views

log = logging.getLogger(__name__)

#: Images whose features are made at a time when predicting (their features, up to tens
#: of thousands of floats an image with learned features, are made and dropped by chunk).
PREDICT_CHUNK = 2048
#: The same when the step makes five copies' features at once (``transform_shifted``).
SHIFTED_PREDICT_CHUNK = 512
#: The step methods :class:`ImagePipeline` relies on (see the module docstring).
FEATURE_STEP_METHODS = ("fit", "transform", "fit_transform", "get_params", "to_arrays",
                        "from_arrays")


class ImagePipeline(ClassifierMixin, BaseEstimator):
    """Feature step, standardization, PCA, :class:`SoftmaxClassifier`, on uint8 images.

    Parameters
    ----------
    classifier : SoftmaxClassifier, optional
        Unfitted classifier (default: ``SoftmaxClassifier()``); cloned by ``fit``.
    features : feature step, optional
        Default: :func:`fastsoftmax.features.study_hog` of the training images' size.
        Cloned by ``fit``.  See the module docstring for what a step must offer.
    pca_variance : float or None, default=0.95
        Fraction of the features' variance PCA keeps, in (0, 1]; ``None`` skips PCA.
    class_names : list of str, optional
    cache : bool, default=False
        Reuse the fitted feature step, its training features and the fitted PCA from
        the on-disk cache (:mod:`fastsoftmax.io.cache`), keyed by the training images
        and the steps' parameters.
    standardize : bool, default=False
        Standardize the features (before PCA) with the training features' mean and
        standard deviation (:class:`~fastsoftmax.model.scaling.FeatureScaler`), as
        learned features need before a linear classifier.
    flip_train : bool, default=False
        Also train the classifier on the mirror images of the training images
        (flipped left to right; the feature step, scaler and PCA are fitted on the
        originals): twice the training rows, for higher CIFAR-10 accuracy with
        learned features.
    flip_predict : bool, default=False
        Predict from the mean of the class probabilities of each image and its
        mirror image (twice the feature work at prediction).
    shift_predict : int, default=0
        With ``shift_predict`` > 0, the mean also takes in four copies of each image
        moved that many pixels down, up, right and left, borders reflected
        (:mod:`fastsoftmax.model.views`): up to five times the prediction's feature work.
    shift_train : int, default=0
        With ``shift_train`` > 0, ``shift_rounds`` times over the epochs the classifier's
        training rows are replaced by those of the training images each moved by a
        random offset of up to that many pixels along each axis, borders reflected
        (:mod:`fastsoftmax.model.shifted_training`): data augmentation for the memory
        of one copy of the features, at one pass of the feature step a round.
    shift_rounds : int, default=3
        The rounds of ``shift_train``.

    Attributes
    ----------
    image_shape_ : tuple
        (H, W) or (H, W, 3) of the training images; ``predict`` needs images of this
        height and width (:meth:`resize` fits one image to it).
    features_ : feature step
        The fitted feature step.
    scaler_ : FeatureScaler or None
    pca_ : VariancePCA or None
    classifier_ : SoftmaxClassifier
    classes_ : ndarray
    n_image_features_ : int
        Features per image from the feature step (before PCA).
    n_features_ : int
        Classifier inputs per image (after PCA).
    timings_ : dict
        Seconds per stage of the last ``fit`` (``features``, ``standardize`` when
        standardizing, ``pca``, ``mirrored features`` and ``shifted features`` when
        made, ``train``).
    train_accuracy_ : float
        Accuracy at the end of ``fit`` on the training rows of the images (not of
        their mirror images; with ``shift_train``, of the last round's shifted
        images), from those rows alone even with ``flip_predict``.
    training_files_ : TrainingFiles or None
        The files of the training images (``fit(..., training_files=...)``), saved
        with the model so that scoring it on a folder leaves them out; ``None`` when
        not given.
    split_ : SplitRecord or None
        The images of each split and how they were drawn (``fit(..., split=...)``).

    Notes
    -----
    ``fit``, ``fit_features`` and ``transform`` take ``progress``, a callable
    ``progress(stage, done, total, **info)`` (:mod:`fastsoftmax._shared.progress`), called
    through the stages ``"features"`` (images; ``cached=True`` on a cache hit),
    ``"pca"`` (one step) and ``"train"`` (updates, with ``loss``).  The library never
    draws; the command line turns the calls into progress bars.
    """

    _parameter_constraints = {
        "classifier": [HasMethods(["fit", "predict_proba", "to_arrays"]), None],
        "features": [HasMethods(list(FEATURE_STEP_METHODS)), None],
        "pca_variance": [Interval(Real, 0.0, 1.0, closed="right"), None],
        "class_names": ["array-like", None],
        "cache": ["boolean"],
        "standardize": ["boolean"],
        "flip_train": ["boolean"],
        "flip_predict": ["boolean"],
        "shift_predict": [Interval(Integral, 0, None, closed="left")],
        "shift_train": [Interval(Integral, 0, None, closed="left")],
        "shift_rounds": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, classifier=None, features=None, pca_variance=0.95, class_names=None,
                 cache=False, standardize=False, flip_train=False, flip_predict=False,
                 shift_predict=0, shift_train=0, shift_rounds=3):
        self.classifier = classifier
        self.features = features
        self.pca_variance = pca_variance
        self.class_names = class_names
        self.cache = cache
        self.standardize = standardize
        self.flip_train = flip_train
        self.flip_predict = flip_predict
        self.shift_predict = shift_predict
        self.shift_train = shift_train
        self.shift_rounds = shift_rounds

    # ------------------------------------------------------------------ checks
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
        if not fitted:  # what the model file will declare: refused at load if too large
            check_pixels(images.shape[1], images.shape[2], "images")
        if fitted and images.shape[1:3] != tuple(self.image_shape_[:2]):
            raise ValueError(
                f"images are {images.shape[1]}x{images.shape[2]} but the model was trained "
                f"on {self.image_shape_[0]}x{self.image_shape_[1]}"
            )
        return images

    def _unfitted_features(self):
        """A clone of the ``features`` step, or the default HOG of the training size."""
        if self.features is not None:
            return clone(self.features)
        return study_hog(self.image_shape_)

    def _new_classifier(self):
        self._validate_params()
        classifier = clone(self.classifier) if self.classifier is not None else SoftmaxClassifier()
        if hasattr(classifier, "check_params"):
            classifier.check_params()  # bad hyperparameters fail before the features
        return classifier

    # ------------------------------------------------------------------ fitting
    def fit(self, images, y, progress=None, training_files=None, split=None):
        """Fit the feature step, PCA and the classifier on training images.

        Parameters
        ----------
        images : ndarray of uint8, shape (N, H, W) or (N, H, W, 3)
        y : ndarray of int, shape (N,)
        progress : callable, optional
            ``progress(stage, done, total, **info)`` through the stages
            ``"features"``, ``"pca"``, ``"mirrored features"`` (with ``flip_train``)
            and ``"train"`` (see the class docstring).
        training_files : TrainingFiles, optional
            The files ``images`` were read from (``Dataset.train_files``), kept as
            ``training_files_``.
        split : SplitRecord, optional
            The splits ``images`` came from, kept as ``split_``.

        Returns
        -------
        self
        """
        if training_files is not None and len(training_files) != len(images):
            raise ValueError(f"training_files records {len(training_files)} files for "
                             f"{len(images)} images")
        classifier = self._new_classifier()
        if self.shift_train and classifier.get_params().get("early_stopping"):
            raise ValueError("shift_train cannot be combined with the classifier's "
                             "early_stopping")
        X = self.fit_features(images, y, progress=progress)
        n_images = len(X)
        if self.flip_train:
            start = time.perf_counter()
            rows = aligned_empty((2 * n_images, X.shape[1]), X.dtype)  # trained on as is
            rows[:n_images] = X
            del X  # the mirror images' features go into ``rows``: no third copy
            self._mirrored_inputs(images, y, progress, out=rows[n_images:])
            X, y = rows, np.concatenate([np.asarray(y), np.asarray(y)])
            self.timings_["mirrored features"] = time.perf_counter() - start
        rounds = None
        if self.shift_train:
            views = [np.asarray] + ([mirror_images] if self.flip_train else [])
            rounds = ShiftedRounds(self.transform, images, views, self.shift_train,
                                   self.shift_rounds,
                                   offsets_generator(classifier.get_params().get("random_state")),
                                   relabel(progress, "shifted features"))
        # the stage starts now: the classifier reports only after its first kernel call
        report(progress, "train", 0, 1)
        start = time.perf_counter()
        # refresh only when asked: another classifier's fit may not take it
        extra = {} if rounds is None else {"refresh": rounds}
        self.classifier_ = classifier.fit(X, y, progress=progress, **extra)
        self.timings_["train"] = time.perf_counter() - start
        if rounds is not None and rounds.rounds_done:
            self.timings_["shifted features"] = rounds.seconds
            self.timings_["train"] -= rounds.seconds
            X = rounds.rows[:, :X.shape[1]]  # the training accuracy: the rows last seen
        log.info("classifier: %d updates in %.2f s", self.classifier_.n_iter_,
                 self.timings_["train"])
        self.classes_ = self.classifier_.classes_
        self.train_accuracy_ = float(self.classifier_.score(X[:n_images], y[:n_images]))
        self.training_files_, self.split_ = training_files, split
        return self

    def _mirrored_inputs(self, images, y, progress, out):
        """Write the classifier inputs of the mirror images of the training ``images``
        into ``out`` (C-contiguous, writable)."""
        step = self._unfitted_features()
        progress = relabel(progress, "mirrored features")
        if self.pca_ is not None:  # PCA changes the width: the features are made apart
            features = mirrored_features_cached(self.features_, step, images, y,
                                                self.n_image_features_, self.cache, progress)
            if self.scaler_ is not None:
                features = self.scaler_.transform(features, copy=False)
            out[...] = self.pca_.transform(features)
            return
        mirrored_features_cached(self.features_, step, images, y, self.n_image_features_,
                                 self.cache, progress, out=out)
        if self.scaler_ is not None:
            scaled = self.scaler_.transform(out, copy=False)
            if scaled is not out:
                out[...] = scaled

    def fit_features(self, images, y=None, progress=None):
        """Fit the feature step and PCA on training images; return the classifier inputs.

        Sets ``image_shape_``, ``features_``, ``scaler_``, ``pca_``,
        ``n_image_features_``, ``n_features_`` and the ``features``/``standardize``/``pca``
        entries of ``timings_``; the classifier is not touched (:meth:`save` refuses a
        classifier that no longer fits these steps), ``training_files_`` is forgotten.

        Parameters
        ----------
        images : ndarray of uint8, shape (N, H, W) or (N, H, W, 3)
        y : ndarray, optional
            Passed to the feature step's ``fit``.
        progress : callable, optional
            ``progress(stage, done, total, **info)`` through ``"features"`` and
            ``"pca"`` (see the class docstring).

        Returns
        -------
        ndarray of shape (N, ``n_features_``)
            :meth:`transform` of ``images`` with the steps just fitted.
        """
        self._validate_params()
        images = self._check_images(images, fitted=False)
        self.image_shape_ = tuple(images.shape[1:])
        check_shift(self.shift_predict, self.image_shape_)
        check_shift(self.shift_train, self.image_shape_, "shift_train")
        self.timings_ = {}
        self.training_files_ = self.split_ = None
        step = self._unfitted_features()
        start = time.perf_counter()
        self.features_, features = fit_transform_cached(step, images, y, self.cache, "features",
                                                         progress)
        self.timings_["features"] = time.perf_counter() - start
        self.n_image_features_ = int(features.shape[1])
        self.scaler_ = None
        if self.standardize:
            start = time.perf_counter()
            # in place: the features are ours (just computed, or read from the cache)
            self.scaler_ = FeatureScaler().fit(
                features, feature_weights=getattr(self.features_, "feature_weights_", None))
            features = self.scaler_.transform(features, copy=False)
            self.timings_["standardize"] = time.perf_counter() - start
        start = time.perf_counter()
        self.pca_ = None
        if self.pca_variance is not None:
            report(progress, "pca", 0, 1)
            self.pca_, cached = fit_pca_cached(VariancePCA(self.pca_variance), features, images,
                                                y, step, self.cache, self.standardize)
            features = self.pca_.transform(features)
            report(progress, "pca", 1, 1, **({"cached": True} if cached else {}))
        self.timings_["pca"] = time.perf_counter() - start
        self.n_features_ = int(features.shape[1])
        log.info("features: %d per image%s%s (%s)", self.n_image_features_,
                 ", standardized" if self.standardize else "",
                 "" if self.pca_ is None else f", {self.n_features_} after PCA",
                 ", ".join(f"{seconds:.2f} s {stage}" for stage, seconds in self.timings_.items()))
        return features

    # ------------------------------------------------------------------ prediction
    def transform(self, images, progress=None):
        """Classifier inputs (features, then PCA) of uint8 images of the training size.

        ``progress``, optional: ``progress("features", done, total)`` over the images,
        when the feature step reports progress (see the class docstring).
        """
        check_is_fitted(self, "features_")
        images = self._check_images(images, fitted=True)
        return self._classifier_inputs(step_call(self.features_.transform, progress, images))

    def _classifier_inputs(self, features):
        """The classifier inputs of the feature step's ``features``: standardized (in
        place), then projected by the PCA."""
        if getattr(self, "scaler_", None) is not None:
            features = self.scaler_.transform(features, copy=False)
        return features if self.pca_ is None else self.pca_.transform(features)

    def predict_proba(self, images, progress=None):
        """Class probabilities, shape (N, n_classes).

        With ``flip_predict`` or ``shift_predict``, the mean of those of the images'
        copies (:func:`~fastsoftmax.model.views.prediction_views`).  ``progress``,
        optional: ``progress("features", done, total)`` over the images and their copies.
        """
        return np.concatenate(list(self._by_chunk(images, progress, "predict_proba")))

    def predict(self, images, progress=None):
        """Most probable class of each image (see :meth:`predict_proba` for ``progress``)."""
        if self.flip_predict or self.shift_predict:
            return self.classes_[np.argmax(self.predict_proba(images, progress=progress), axis=1)]
        return np.concatenate(list(self._by_chunk(images, progress, "predict")))

    def _by_chunk(self, images, progress, method_name):
        """The classifier's ``method_name`` of the classifier inputs of
        :data:`PREDICT_CHUNK` (:data:`SHIFTED_PREDICT_CHUNK`) images at a time (the mean
        over the images' copies with ``flip_predict`` or ``shift_predict``): a chunk's
        features are made, used and dropped, never all the images' at once."""
        check_is_fitted(self, "classifier_")
        images = self._check_images(images, fitted=True)
        method = getattr(self.classifier_, method_name)
        # a step with transform_shifted makes the shifted copies' features with the images'
        together = bool(self.shift_predict) and hasattr(self.features_, "transform_shifted")
        views = prediction_views(self.flip_predict, 0 if together else self.shift_predict)
        n, passes = len(images), len(views) + (len(SHIFT_DIRECTIONS) if together else 0)
        chunk = SHIFTED_PREDICT_CHUNK if together else PREDICT_CHUNK
        for start in range(0, n, chunk):
            part = images[start:start + chunk]
            out, report_to = None, shifted(progress, passes * start, passes * n)
            for answer in map(method, self._copies_inputs(part, views, together, report_to)):
                out = answer if out is None else np.add(out, answer, out=out)
            if passes > 1:
                out /= passes
            yield out

    def _copies_inputs(self, part, views, together, progress):
        """The classifier inputs of each copy of ``part`` predicted from, one at a time:
        with ``together`` the step's ``transform_shifted``'s, then the other ``views``'."""
        done = 0
        if together:
            for features in self.features_.transform_shifted(part, self.shift_predict,
                                                             progress=progress):
                yield self._classifier_inputs(features)
            done, views = (1 + len(SHIFT_DIRECTIONS)) * len(part), views[1:]
        for view in views:
            yield self.transform(view(part), progress=shifted(progress, done, None))
            done += len(part)

    def score(self, images, y, sample_weight=None):
        """Accuracy on ``images`` (weighted with ``sample_weight``)."""
        return float(super().score(images, y, sample_weight=sample_weight))

    def resize(self, image):
        """Fit one uint8 image (H, W[, 3]) to the training image shape
        (:func:`~fastsoftmax.model.views.fit_to_shape`)."""
        check_is_fitted(self, "image_shape_")
        return fit_to_shape(image, self.image_shape_)

    # ------------------------------------------------------------------ persistence
    def to_arrays(self):
        """The fitted pipeline as plain data: ``(metadata, arrays)``.

        Each step's ``to_arrays`` goes under its name: metadata ``features``,
        ``scaler``, ``pca``, ``classifier`` and ``training_files``, arrays
        ``features__*``, ``scaler__*``, ``pca__*``, ``classifier__*`` and
        ``training_files__*`` (a step left out: metadata ``None``, no arrays);
        ``feature_step`` names the feature step's class.
        """
        check_is_fitted(self, "classifier_")
        metadata = {"feature_step": type(self.features_).__name__,
                    "image_shape": list(self.image_shape_),
                    "n_image_features": self.n_image_features_,
                    "pca_variance": self.pca_variance,
                    "standardize": bool(self.standardize),
                    "flip_train": bool(self.flip_train),
                    "flip_predict": bool(self.flip_predict),
                    "shift_predict": int(self.shift_predict),
                    "shift_train": int(self.shift_train),
                    "shift_rounds": int(self.shift_rounds),
                    "class_names": (list(self.class_names) if self.class_names is not None
                                    else None)}
        arrays = {}
        for name, step in (("features", self.features_),
                           ("scaler", getattr(self, "scaler_", None)), ("pca", self.pca_),
                           ("classifier", self.classifier_),
                           ("training_files", getattr(self, "training_files_", None)),
                           ("split", getattr(self, "split_", None))):
            if step is None:
                metadata[name] = None
                continue
            metadata[name], step_arrays = step.to_arrays()
            arrays.update({f"{name}__{key}": value for key, value in step_arrays.items()})
        return metadata, arrays

    @classmethod
    def from_arrays(cls, metadata, arrays, *, feature_step=None):
        """Rebuild a fitted pipeline from :meth:`to_arrays`' output, checking it first.

        A format-1 file's content is first converted to the format-2 layout, so both
        pass the same checks (a file without ``standardize`` and ``scaler``, written
        before the scaling step existed, has none; one without ``training_files`` has
        no record of them): each step's ``from_arrays`` checks the step (its errors
        say which step), then this checks that the steps fit together.
        ``feature_step``, a class, rebuilds the feature step instead of the class
        registered under ``metadata["feature_step"]`` (:meth:`save` checks an
        unregistered step so).

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, an unknown feature step, a step
            that does not fit the next one or the image shape, class names that do not
            name the classifier's classes.
        """
        if metadata.get("format_version") == 1:
            metadata, arrays = upgrade_format_1(metadata, arrays)
        shape = image_shape(entry(metadata, "image_shape", list))
        # files written before these entries existed: no scaler, no flips
        metadata = {"standardize": False, "scaler": None, "flip_train": False,
                    "flip_predict": False, "shift_predict": 0, "shift_train": 0,
                    "shift_rounds": 3, "training_files": None, "split": None, **metadata}
        pipe = cls(pca_variance=entry(metadata, "pca_variance", (int, float, type(None))),
                   class_names=entry(metadata, "class_names", (list, type(None))),
                   standardize=entry(metadata, "standardize", bool),
                   flip_train=entry(metadata, "flip_train", bool),
                   flip_predict=entry(metadata, "flip_predict", bool),
                   shift_predict=entry(metadata, "shift_predict", int),
                   shift_train=entry(metadata, "shift_train", int),
                   shift_rounds=entry(metadata, "shift_rounds", int))
        pipe._validate_params()  # scikit-learn's check of _parameter_constraints
        check_shift(pipe.shift_predict, shape)
        check_shift(pipe.shift_train, shape, "shift_train")
        step_name = entry(metadata, "feature_step", str)
        step_class = feature_step or feature_step_class(step_name)
        steps = {}
        for name, build in (("features", step_class.from_arrays),
                            ("scaler", FeatureScaler.from_arrays),
                            ("pca", VariancePCA.from_arrays),
                            ("classifier", SoftmaxClassifier.from_arrays),
                            ("training_files", TrainingFiles.from_arrays),
                            ("split", SplitRecord.from_arrays)):
            optional = name in ("scaler", "pca", "training_files", "split")
            step_meta = entry(metadata, name, (dict, type(None)) if optional else dict)
            if step_meta is None:
                steps[name] = None
                continue
            prefix = name + "__"
            step_arrays = {key[len(prefix):]: value for key, value in arrays.items()
                           if key.startswith(prefix)}
            try:
                steps[name] = build(step_meta, step_arrays)
            except (KeyError, TypeError, ValueError) as exc:
                raise prefixed(exc, f"{name}: ") from None
        n_image_features = positive_int(entry(metadata, "n_image_features", int),
                                        "n_image_features")
        pipe.training_files_ = steps.pop("training_files")
        pipe.split_ = steps.pop("split")
        check_steps_fit(shape, n_image_features, pipe.pca_variance, pipe.standardize,
                         pipe.class_names, **steps)
        pipe.classifier, pipe.features = clone(steps["classifier"]), clone(steps["features"])
        pipe.image_shape_, pipe.n_image_features_ = shape, n_image_features
        pipe.features_, pipe.scaler_, pipe.pca_, pipe.classifier_ = (
            steps["features"], steps["scaler"], steps["pca"], steps["classifier"])
        pipe.n_features_ = int(pipe.classifier_.n_features_in_)
        pipe.classes_ = pipe.classifier_.classes_
        return pipe

    def save(self, path, *, overwrite=False):
        """Write the whole fitted pipeline to one model file (atomically, no pickle).

        The file's content is first checked as :meth:`load` checks it (the steps must
        fit together: after :meth:`fit_features` the classifier must be fitted again);
        nothing is written when it would not load back.

        Parameters
        ----------
        path : str or os.PathLike
        overwrite : bool, default False
            Replace a file already at ``path``.

        Raises
        ------
        ValueError
            The fitted steps do not fit together (the message says how).
        FileExistsError
            ``path`` exists and not ``overwrite``.
        """
        metadata, arrays = self.to_arrays()
        step = type(self.features_)  # registered or not: which classes load is the reader's

        def check(metadata, arrays):
            return type(self).from_arrays(metadata, arrays, feature_step=step)

        save_arrays(path, "ImagePipeline", metadata, arrays, overwrite=overwrite, check=check)

    @classmethod
    def load(cls, path):
        """Read a pipeline written by :meth:`save`."""
        return load_model_file(path, "ImagePipeline", cls.from_arrays)
