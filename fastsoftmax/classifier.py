"""``SoftmaxClassifier``: multinomial logistic regression trained by minibatch SGD.

The estimator validates and converts its inputs, plans the minibatches and learning
rates in Python (so both backends see exactly the same ones), and hands the numbers to
a backend's ``sgd`` (one contract, see :mod:`fastsoftmax.softmax`): the fused Numba loop
(``backend="numba"``) or the plain NumPy reference (``backend="numpy"``).
"""
import math
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .softmax import BACKENDS, L1_METHOD_CODES, PENALTY_CODES, get_backend, penalty_strengths

LR_SCHEDULES = ("constant", "step", "invscaling")
SAMPLING = ("shuffle", "replacement")
DTYPES = ("float32", "float64")


#: Most minibatch updates of one fit: its loss curve (8 bytes an update) is then at most
#: 32 GiB; more is refused before any work rather than run until memory runs out.
MAX_UPDATES = 2**32

#: Every hyperparameter's rule, in scikit-learn's declarative form; checked by
#: :meth:`SoftmaxClassifier.check_params` before any work.  Real-valued bounds end at
#: ``inf`` (open), so an infinite value is refused too.
PARAMETER_CONSTRAINTS = {
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0.0, np.inf, closed="neither")],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "lr_decay_steps": [Interval(Integral, 1, None, closed="left"), None],
    "n_iter": [Interval(Integral, 1, MAX_UPDATES, closed="both"), None],
    "epochs": [Interval(Integral, 1, MAX_UPDATES, closed="both"), None],
    "sampling": [StrOptions(set(SAMPLING))],
    "penalty": [StrOptions(set(PENALTY_CODES))],
    "alpha": [Interval(Real, 0.0, np.inf, closed="left")],
    "l1_ratio": [Interval(Real, 0.0, 1.0, closed="both")],
    "l1_method": [StrOptions(set(L1_METHOD_CODES))],
    "momentum": [Interval(Real, 0.0, 1.0, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0.0, np.inf, closed="left")],
    "warm_start": ["boolean"],
    "backend": [StrOptions(set(BACKENDS))],
    "dtype": [StrOptions(set(DTYPES))],
    "random_state": ["random_state", np.random.Generator],
}


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite (the learning rate is too large for
    the features' scale)."""


#: Fewest minibatch updates per kernel call when epochs are tiny.
_MIN_CALL = 256
_SCORE_CHUNK = 4096  # rows widened to float64 at a time when scoring float32 input

#: Default training length when neither ``n_iter`` nor ``epochs`` is set: 10 passes
#: over the data, but at least 1,000 updates (small data sets need more passes).
DEFAULT_EPOCHS = 10
DEFAULT_MIN_UPDATES = 1000


class SoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Softmax (multinomial logistic) regression trained with minibatch SGD.

    Minimizes the mean cross-entropy of ``softmax(X @ coef_.T + intercept_)`` plus
    ``alpha * (l1_ratio * ||coef_||_1 + (1 - l1_ratio) / 2 * ||coef_||_2^2)`` (``"l2"``
    is ``l1_ratio=0``, ``"l1"`` is ``l1_ratio=1``; the intercept is not penalized).

    Parameters
    ----------
    batch_size : int, default=256
        Samples per minibatch (capped at the number of training samples).
    learning_rate : float, default=0.1
        Initial step size; must be > 0.
    lr_schedule : {"constant", "step", "invscaling"}, default="step"
        ``"step"`` halves the rate every ``lr_decay_steps`` updates (the study's proposal);
        ``"invscaling"`` uses ``learning_rate / (1 + t / lr_decay_steps)``.
    lr_decay_steps : int or None, default=None
        Updates per decay period; ``None`` means a fifth of the planned updates.
    n_iter : int or None, default=None
        Number of minibatch updates (the study's "iterations"). Exclusive with ``epochs``.
    epochs : int or None, default=None
        Passes over the data.  With ``n_iter=None`` too: 10 epochs, but at least 1,000
        updates.
    sampling : {"shuffle", "replacement"}, default="shuffle"
        ``"shuffle"``: each epoch visits a fresh permutation in consecutive batches;
        ``"replacement"``: every batch is drawn uniformly with replacement (the study's).
    penalty : {"none", "l2", "l1", "elasticnet"}, default="l2"
    alpha : float, default=1e-4
        Penalty strength.
    l1_ratio : float, default=0.15
        Elastic-net mixing (0 is L2, 1 is L1); used with ``penalty="elasticnet"``.
    l1_method : {"proximal", "subgradient"}, default="proximal"
        How the L1 part is applied: soft-thresholding after each step (exact zeros), or
        the sign subgradient inside the step (the study's method, kept for comparison).
    momentum : float, default=0.9
        Heavy-ball momentum in ``[0, 1)``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop when its accuracy
        has not improved by ``tol`` for ``n_iter_no_change`` epochs (best weights kept).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    backend : {"numba", "numpy"}, default="numba"
        The fused Numba kernels, or the plain NumPy reference. With the same
        ``random_state`` both draw the same minibatches and agree to rounding.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of the copy of ``X`` used for training.
    random_state : int, RandomState, Generator or None, default=None
        Seeds minibatch sampling and the early-stopping split.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Minibatch updates made by the last ``fit`` (cumulative over ``partial_fit`` calls).
    loss_curve_ : ndarray of shape (n_iter_,)
        Minibatch loss (data + penalty) before each update.
    validation_scores_ : list of float
        Validation accuracy after each epoch, with ``early_stopping=True``.
    fit_time_ : float
        Seconds spent in the training loop of the last ``fit``.
    n_features_in_ : int
    """

    _parameter_constraints = PARAMETER_CONSTRAINTS

    def __init__(
        self,
        batch_size=256,
        learning_rate=0.1,
        lr_schedule="step",
        lr_decay_steps=None,
        n_iter=None,
        epochs=None,
        sampling="shuffle",
        penalty="l2",
        alpha=1e-4,
        l1_ratio=0.15,
        l1_method="proximal",
        momentum=0.9,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        warm_start=False,
        backend="numba",
        dtype="float32",
        random_state=None,
    ):
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.lr_decay_steps = lr_decay_steps
        self.n_iter = n_iter
        self.epochs = epochs
        self.sampling = sampling
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.l1_method = l1_method
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def check_params(self):
        """Check every hyperparameter against :data:`PARAMETER_CONSTRAINTS` (and that
        ``n_iter`` and ``epochs`` are not both set), before any work.

        Raises
        ------
        ValueError
            Naming the parameter, the rule and the value
            (scikit-learn's ``InvalidParameterError``, a ``ValueError``).
        """
        self._validate_params()  # scikit-learn's check of _parameter_constraints
        if self.n_iter is not None and self.epochs is not None:
            raise ValueError("give n_iter (number of updates) or epochs (passes), not both")

    def _validate_training_data(self, X, y, reset):
        X, y = validate_data(
            self, X, y, reset=reset, dtype=np.dtype(self.dtype), order="C",
            ensure_min_samples=1, y_numeric=False,
        )
        check_classification_targets(y)
        return X, y

    # ------------------------------------------------------------------ training
    def fit(self, X, y, callback=None):
        """Train on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (integers or strings); at least two classes.
        callback : callable, optional
            Called as ``callback(n_done, n_total, loss)`` after each kernel call, for
            progress display: every epoch with ``early_stopping``, otherwise every
            whole number of epochs that makes at least 256 updates (``loss`` is the
            chunk's mean minibatch loss).

        Returns
        -------
        self
        """
        self.check_params()
        X, y = self._validate_training_data(X, y, reset=True)
        warm = self.warm_start and hasattr(self, "coef_")
        previous_classes = self.classes_ if warm else None
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"need samples of at least two classes to train; got 1 class "
                f"({encoder.classes_[0]!r})"
            )
        if warm and not np.array_equal(previous_classes, encoder.classes_):
            raise ValueError("warm_start: y has other classes than the previous fit")
        self.classes_ = encoder.classes_
        y_enc = encoder.transform(y).astype(np.int64)
        rng = _as_generator(self.random_state)
        X_val = y_val = None
        if self.early_stopping:
            X, X_val, y_enc, y_val = _validation_split(X, y_enc, self.validation_fraction, rng)
        if not warm:
            self._init_weights(X.shape[1], len(self.classes_))
        n_samples = X.shape[0]
        batch_size = min(self.batch_size, n_samples)
        per_epoch = math.ceil(n_samples / batch_size)
        if self.n_iter is not None:
            total = self.n_iter
        elif self.epochs is not None:
            total = self.epochs * per_epoch
        else:
            total = max(DEFAULT_EPOCHS * per_epoch, DEFAULT_MIN_UPDATES)
        if total > MAX_UPDATES:
            raise ValueError(f"{self.epochs} epochs of {per_epoch} updates are {total:,} updates, "
                             f"more than the {MAX_UPDATES:,} one fit may run; give fewer epochs")
        self.n_iter_ = 0
        losses = []
        self.validation_scores_ = []
        best = (-np.inf, None)
        no_change = 0
        start = time.perf_counter()
        # Updates per kernel call: one epoch, or several small epochs at once so that
        # the per-call Python overhead stays small (early stopping checks every epoch).
        per_call = per_epoch if self.early_stopping else per_epoch * math.ceil(_MIN_CALL / per_epoch)
        X_kernel = self._kernel_input(X)
        while self.n_iter_ < total:
            count = min(per_call, total - self.n_iter_)
            chunk_losses = self._run_updates(X_kernel, y_enc, rng, count, batch_size, total)
            losses.append(chunk_losses)
            if callback is not None:
                callback(self.n_iter_, total, float(chunk_losses.mean()))
            if self.early_stopping:
                score = float(np.mean(np.argmax(self._scores(X_val), axis=1) == y_val))
                self.validation_scores_.append(score)
                if score > best[0] + self.tol:
                    best = (score, (self.coef_.copy(), self.intercept_.copy()))
                    no_change = 0
                else:
                    no_change += 1
                    if no_change >= self.n_iter_no_change:
                        break
        if self.early_stopping and best[1] is not None:
            self.coef_, self.intercept_ = best[1]
        self.fit_time_ = time.perf_counter() - start
        self.loss_curve_ = np.concatenate(losses) if losses else np.empty(0)
        self._rng = rng  # partial_fit continues this stream instead of replaying it
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch of updates over ``X``, ``y``, continuing from the current weights.

        After :meth:`fit` (or a model loaded from a file) it continues from the fitted
        weights and momentum; its minibatches continue fit's random stream (a loaded
        model starts a fresh one from ``random_state``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), optional
            All classes that will ever appear; required on the first call.

        Returns
        -------
        self
        """
        first = not hasattr(self, "classes_")
        if first:
            self.check_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError("classes must hold at least two classes")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError("classes differ from those of the first partial_fit call")
        X, y = self._validate_training_data(X, y, reset=first)
        if first:
            self.classes_ = classes
            self._init_weights(X.shape[1], len(classes))
            self.n_iter_ = 0
            self.loss_curve_ = np.empty(0)
        if first or not hasattr(self, "_rng"):
            self._rng = _as_generator(self.random_state)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"labels {unknown.tolist()} are not in classes {self.classes_.tolist()}")
        y_enc = np.searchsorted(self.classes_, y).astype(np.int64)
        batch_size = min(self.batch_size, X.shape[0])
        count = math.ceil(X.shape[0] / batch_size)
        total = self.n_iter_ + count
        chunk_losses = self._run_updates(self._kernel_input(X), y_enc, self._rng, count,
                                         batch_size, total)
        self.loss_curve_ = np.concatenate([self.loss_curve_, chunk_losses])
        return self

    def _init_weights(self, n_features, n_classes):
        dtype = np.dtype(self.dtype)
        self.coef_ = np.zeros((n_classes, n_features), dtype=dtype)
        self.intercept_ = np.zeros(n_classes, dtype=dtype)
        self._velocity = (np.zeros_like(self.coef_), np.zeros_like(self.intercept_))

    def _kernel_input(self, X):
        """Training rows as the backend's ``sgd`` wants them (made once per fit, not
        per chunk)."""
        return get_backend(self.backend).training_input(X)

    def _run_updates(self, X, y, rng, count, batch_size, total):
        """Make ``count`` updates on ``X`` from :meth:`_kernel_input`; returns their
        losses; raises on divergence."""
        indices, starts = plan_batches(rng, X.shape[0], batch_size, count, self.sampling)
        rates = self._learning_rates(self.n_iter_, count, total)
        l1, l2 = penalty_strengths(self.penalty, self.alpha, self.l1_ratio)
        losses = get_backend(self.backend).sgd(
            X, y, self.coef_, self.intercept_, *self._current_velocity(), indices, starts, rates,
            l1, l2, self.l1_method == "proximal", float(self.momentum))
        if not np.isfinite(losses[-1]):
            raise TrainingDivergedError(
                f"training diverged: the loss became {losses[-1]} at update "
                f"{self.n_iter_ + len(losses)} with learning_rate={self.learning_rate:g}. "
                f"Try a smaller learning_rate (e.g. {self.learning_rate / 10:g}) or scale "
                "the features (e.g. to 0..1 or to unit variance)."
            )
        self.n_iter_ += len(losses)
        return losses

    def _current_velocity(self):
        """The momentum buffers ``(coef, intercept)``, zero when there are none yet."""
        if not hasattr(self, "_velocity") or self._velocity[0].shape != self.coef_.shape:
            self._velocity = (np.zeros_like(self.coef_), np.zeros_like(self.intercept_))
        return self._velocity

    def _learning_rates(self, start, count, total):
        t = np.arange(start, start + count, dtype=np.float64)
        decay = self.lr_decay_steps or max(1, total // 5)
        if self.lr_schedule == "constant":
            return np.full(count, float(self.learning_rate))
        if self.lr_schedule == "step":
            return self.learning_rate * 0.5 ** np.floor(t / decay)
        return self.learning_rate / (1.0 + t / decay)

    # ------------------------------------------------------------------ prediction
    def _scores(self, X):
        # float64 scores: a float32 GEMM may round a row differently depending on how
        # many rows come with it, and predictions must not depend on the batch.
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        coef = self.coef_.T.astype(np.float64)
        scores = np.empty((X.shape[0], coef.shape[1]))
        # float32 input is widened a chunk at a time: a float64 copy of a whole training
        # set costs more than the product itself
        for start in range(0, X.shape[0], _SCORE_CHUNK):
            chunk = X[start:start + _SCORE_CHUNK]
            np.matmul(chunk.astype(np.float64, copy=False), coef,
                      out=scores[start:start + _SCORE_CHUNK])
        scores += self.intercept_.astype(np.float64)
        return scores

    def decision_function(self, X):
        """Class scores ``X @ coef_.T + intercept_``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            With two classes, scikit-learn's convention: the score of ``classes_[1]``
            minus that of ``classes_[0]``.
        """
        scores = self._scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_proba(self, X):
        """Class probabilities (softmax of the scores), shape (n_samples, n_classes)."""
        from .softmax._numpy import softmax

        return softmax(self._scores(X))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably."""
        scores = self._scores(X)
        shifted = scores - scores.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Most probable class of each sample."""
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    # ------------------------------------------------------------------ persistence
    def to_arrays(self):
        """The fitted model as plain data: ``(metadata, arrays)``.

        ``metadata`` (JSON-serializable) holds the parameters and fitted scalars,
        ``arrays`` the weights, their momentum, the classes and the loss curve (no
        ``object`` dtype), so that :meth:`from_arrays` rebuilds the model without pickle.
        """
        check_is_fitted(self)
        classes = self.classes_
        if classes.dtype == object:
            classes = classes.astype(str)
        velocity_coef, velocity_intercept = self._current_velocity()
        arrays = {"coef_": self.coef_, "intercept_": self.intercept_, "classes_": classes,
                  "loss_curve_": self.loss_curve_, "velocity_coef": velocity_coef,
                  "velocity_intercept": velocity_intercept}
        metadata = {"params": self.get_params(), "n_iter_": int(self.n_iter_),
                    "n_features_in_": int(self.n_features_in_)}
        if hasattr(self, "feature_names_in_"):
            metadata["feature_names_in_"] = [str(n) for n in self.feature_names_in_]
        return metadata, arrays

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a fitted model from :meth:`to_arrays`' output, checking it first.

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, unknown or invalid parameters, fewer
            than two or repeated classes, shapes that disagree (the message says which).
        """
        from ._contents import entry, positive_int, stored_array

        params = entry(metadata, "params", dict)
        unknown = set(params) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        model = cls(**params)
        model.check_params()
        n_features = positive_int(entry(metadata, "n_features_in_", int), "n_features_in_")
        n_iter = entry(metadata, "n_iter_", int)
        if n_iter < 0:
            raise ValueError(f"n_iter_ is {n_iter}, expected >= 0")
        if "feature_names_in_" in metadata:
            names = entry(metadata, "feature_names_in_", list)
            if len(names) != n_features or not all(isinstance(n, str) for n in names):
                raise ValueError(f"feature_names_in_ is not {n_features} strings")
            model.feature_names_in_ = np.asarray(names, dtype=object)
        coef = stored_array(arrays, "coef_", 2, "f")
        intercept = stored_array(arrays, "intercept_", 1, "f")
        classes = stored_array(arrays, "classes_", 1, "biuU")
        loss_curve = stored_array(arrays, "loss_curve_", 1, "f")
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(f"classes_ holds {n_classes} class(es), expected at least 2")
        if len(np.unique(classes)) != n_classes:
            raise ValueError("classes_ repeats a class")
        if coef.shape != (n_classes, n_features):
            raise ValueError(f"coef_ has shape {coef.shape} but {n_classes} classes and "
                             f"{n_features} features need ({n_classes}, {n_features})")
        if intercept.shape != (n_classes,):
            raise ValueError(f"intercept_ has shape {intercept.shape}, expected ({n_classes},)")
        if "velocity_coef" in arrays or "velocity_intercept" in arrays:
            velocity = (stored_array(arrays, "velocity_coef", 2, "f"),
                        stored_array(arrays, "velocity_intercept", 1, "f"))
            if velocity[0].shape != coef.shape or velocity[1].shape != intercept.shape:
                raise ValueError(f"the momentum arrays velocity_coef {velocity[0].shape} and "
                                 f"velocity_intercept {velocity[1].shape} do not have the "
                                 "weights' shapes")
            model._velocity = velocity  # format 1 had none: it starts at zero
        model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
        model.loss_curve_, model.n_iter_, model.n_features_in_ = loss_curve, n_iter, n_features
        return model

    def save(self, path):
        """Write the fitted model to ``path`` (``.npz`` + JSON metadata, atomically)."""
        from .persistence import save_arrays

        metadata, arrays = self.to_arrays()
        save_arrays(path, "SoftmaxClassifier", metadata, arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        from .persistence import load_model_file

        return load_model_file(path, "SoftmaxClassifier", cls.from_arrays)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# ---------------------------------------------------------------------- helpers
def _as_generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def _validation_split(X, y, fraction, rng):
    seed = int(rng.integers(np.iinfo(np.int32).max))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:
        return train_test_split(X, y, test_size=fraction, random_state=seed)


def plan_batches(rng, n_samples, batch_size, count, sampling):
    """Row indices of ``count`` minibatches: flat ``indices`` and ``starts`` offsets.

    Batch ``t`` is ``indices[starts[t]:starts[t + 1]]``.  ``"shuffle"`` walks fresh
    permutations in consecutive batches (the last batch of an epoch may be smaller);
    ``"replacement"`` draws every batch uniformly with replacement.
    """
    if sampling == "replacement":
        indices = rng.integers(0, n_samples, size=count * batch_size, dtype=np.int64)
        starts = np.arange(count + 1, dtype=np.int64) * batch_size
        return indices, starts
    sizes = []
    perms = []
    needed = count
    while needed > 0:
        perm = rng.permutation(n_samples).astype(np.int64)
        n_batches = min(needed, math.ceil(n_samples / batch_size))
        perms.append(perm[: min(n_samples, n_batches * batch_size)])
        full, rest = divmod(len(perms[-1]), batch_size)
        sizes.extend([batch_size] * full + ([rest] if rest else []))
        needed -= n_batches
    starts = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    return np.concatenate(perms), starts
