"""``SoftmaxClassifier``: multinomial logistic regression trained by minibatch SGD.

The estimator validates and converts its inputs, plans the minibatches, learning
rates and sample weights in Python (:mod:`fastsoftmax.model.schedule`, so both backends
see exactly the same ones), and hands the numbers to a backend's ``sgd`` (one contract,
see :mod:`fastsoftmax.softmax`): the fused Numba loop (``backend="numba"``) or the plain
NumPy reference (``backend="numpy"``).
"""
import math
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastsoftmax._shared.progress import report
from fastsoftmax.io.model_file import load_model_file, save_arrays
from fastsoftmax.model import classifier_state
from fastsoftmax.model.metrics import final_loss
from fastsoftmax.model.schedule import (MAX_UPDATES, MIN_CALL, NoImprovementStop, as_generator,
                                        learning_rates, plan_batches, total_updates,
                                        training_weights, validation_split)
from fastsoftmax.softmax import (BACKENDS, L1_METHOD_CODES, PENALTY_CODES, get_backend,
                                 penalty_strengths)
from fastsoftmax.softmax._numpy import softmax

__all__ = ["MAX_UPDATES", "PARAMETER_CONSTRAINTS", "SoftmaxClassifier", "TrainingDivergedError",
           "plan_batches"]

LR_SCHEDULES = ("constant", "step", "invscaling")
SAMPLING = ("shuffle", "replacement")
DTYPES = ("float32", "float64")

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
    "tol": [Interval(Real, 0.0, np.inf, closed="left"), None],
    "class_weight": [dict, StrOptions({"balanced"}), None],
    "warm_start": ["boolean"],
    "backend": [StrOptions(set(BACKENDS))],
    "dtype": [StrOptions(set(DTYPES))],
    "random_state": ["random_state", np.random.Generator],
    "verbose": ["verbose"],
}


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite (the learning rate is too large for
    the features' scale)."""


#: Bytes of the float64 copy of the rows widened at a time when scoring float32 input.
_SCORE_CHUNK_BYTES = 64 * 2**20


class SoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Softmax (multinomial logistic) regression trained with minibatch SGD.

    Minimizes the mean cross-entropy of ``softmax(X @ coef_.T + intercept_)`` plus
    ``alpha * (l1_ratio * ||coef_||_1 + (1 - l1_ratio) / 2 * ||coef_||_2^2)`` (``"l2"``
    is ``l1_ratio=0``, ``"l1"`` is ``l1_ratio=1``; the intercept is not penalized).
    With sample or class weights the mean is weighted: each minibatch's loss is
    ``sum_i w_i * loss_i / sum_i w_i`` over its samples (only the weights' ratios
    matter; a sample of weight 0 counts for nothing).  Over the whole training set that
    is the objective of ``LogisticRegression(C=1 / (alpha * sum(w)))`` for ``"l2"``.

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
        Hold out ``validation_fraction`` of the training data (with its samples'
        weights) and stop on its (weighted) accuracy instead of the training loss; the
        weights of the epoch with the best accuracy are kept.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
        Epochs in a row without improvement that stop training.
    tol : float or None, default=None
        Stop when for ``n_iter_no_change`` epochs in a row the epoch's mean minibatch
        loss has not fallen below the best one by ``tol`` (with ``early_stopping``: the
        validation accuracy has not risen above the best by ``tol``; ``None`` there
        means 0), as scikit-learn's ``SGDClassifier``; ``n_iter``/``epochs`` are then
        the most updates.  An epoch is ``ceil(n_samples / batch_size)`` updates for
        both samplings.  ``None`` (unlike ``SGDClassifier``'s ``1e-3``): every
        planned update is made, as the study's fixed budgets need (an epoch's mean
        minibatch loss is noisy and stops short of the optimum).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label: weight}``
        (classes not named weigh 1), or ``"balanced"``:
        ``n_samples / (n_classes * np.bincount(y))`` (not with ``partial_fit``).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    backend : {"numba", "numpy"}, default="numba"
        The fused Numba kernels, or the plain NumPy reference. With the same
        ``random_state`` both draw the same minibatches and agree to rounding.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of the copy of ``X`` used for training.
    random_state : int, RandomState, Generator or None, default=None
        Seeds minibatch sampling and the early-stopping split.
    verbose : int, default=0
        Above 0, print each epoch's mean loss (and validation accuracy) to stdout.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Minibatch updates made by the last ``fit``, fewer than planned when it stopped
        early (cumulative over ``partial_fit`` calls).
    loss_curve_ : ndarray of shape (``n_iter_``,)
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
        tol=None,
        warm_start=False,
        backend="numba",
        dtype="float32",
        random_state=None,
        class_weight=None,
        verbose=0,
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
        self.class_weight = class_weight
        self.verbose = verbose

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
    def fit(self, X, y, sample_weight=None, progress=None, refresh=None):
        """Train on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense; a sparse matrix is refused (``X.toarray()`` densifies it).
        y : array-like of shape (n_samples,)
            Class labels (integers or strings); at least two classes.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights (times ``class_weight``); each minibatch's loss is
            their weighted mean.  Weights of one value all train as no weights.
        progress : callable, optional
            Called as ``progress("train", n_done, n_total, loss=loss)`` after each
            kernel call (:mod:`fastsoftmax._shared.progress`): every epoch with
            ``early_stopping``, otherwise after one or more whole epochs (``loss`` is
            the chunk's mean minibatch loss, ``final_loss`` the
            :func:`~fastsoftmax.model.metrics.final_loss` of the updates so far,
            ``n_done`` and ``n_total`` count updates).
        refresh : callable, optional
            Called as ``refresh(rows, epochs_done, epochs)`` after each epoch but the
            last (``epochs`` in all); ``rows`` is the array the updates read, of shape
            (n_samples, width >= n_features), C-contiguous, of the classifier's
            ``dtype``, a row per sample of ``X`` in order.  It may overwrite
            ``rows[:, :n_features]`` in place with other features of the same samples
            (data augmentation: new variants of the samples for the memory of one
            copy); the columns past ``n_features`` are zeros and must stay so.  Not
            with ``early_stopping`` (whose rows are a subset of ``X``'s).

        Returns
        -------
        self
        """
        self.check_params()
        if refresh is not None and self.early_stopping:
            raise ValueError("refresh cannot be combined with early_stopping: the rows "
                             "trained on are then a subset of X")
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
        weights = training_weights(sample_weight, self.class_weight, X, y_enc, self.classes_)
        rng = as_generator(self.random_state)
        X_val = y_val = weights_val = None
        if self.early_stopping:
            X, X_val, y_enc, y_val, weights, weights_val = validation_split(
                X, y_enc, weights, self.validation_fraction, rng)
        if not warm:
            self._init_weights(X.shape[1], len(self.classes_))
        n_samples = X.shape[0]
        batch_size = min(self.batch_size, n_samples)
        per_epoch = math.ceil(n_samples / batch_size)
        total = total_updates(self.n_iter, self.epochs, per_epoch)
        self.n_iter_ = 0
        losses = []
        self.validation_scores_ = []
        stop = None
        if self.early_stopping or self.tol is not None:
            stop = NoImprovementStop(self.tol or 0.0, self.n_iter_no_change, self.early_stopping)
        best_weights = None
        start = time.perf_counter()
        X_kernel = self._kernel_input(X)
        while self.n_iter_ < total:
            # Updates per kernel call: whole epochs, enough that the per-call Python
            # overhead stays small, but never past the first epoch at which the
            # stopping rule could fire (early stopping checks every epoch).
            epochs = (1 if self.early_stopping or refresh is not None
                      else math.ceil(MIN_CALL / per_epoch))
            if stop is not None:
                epochs = min(epochs, stop.epochs_before_stop)
            count = min(epochs * per_epoch, total - self.n_iter_)
            epoch, done = self.n_iter_ // per_epoch, self.n_iter_
            chunk_losses = self._run_updates(X_kernel, y_enc, rng, count, batch_size, total,
                                             weights)
            losses.append(chunk_losses)
            report(progress, "train", self.n_iter_, total, loss=float(chunk_losses.mean()),
                   final_loss=_final_loss_so_far(losses, self.n_iter_))
            for first in range(0, len(chunk_losses), per_epoch):
                epoch += 1
                mean_loss = float(chunk_losses[first:first + per_epoch].mean())
                if stop is not None and not self.early_stopping:
                    stop.update(mean_loss)
                self._report_epoch(epoch, done + min(first + per_epoch, len(chunk_losses)),
                                   mean_loss, start)
            if self.early_stopping:
                score = _accuracy(self._scores(X_val), y_val, weights_val)
                self.validation_scores_.append(score)
                if self.verbose:
                    print(f"Validation score: {score:.6f}", flush=True)
                if score > max(self.validation_scores_[:-1], default=-np.inf):
                    best_weights = (self.coef_.copy(), self.intercept_.copy())
                if stop is not None:
                    stop.update(score)
            if stop is not None and stop.stopped:
                if self.verbose:
                    print(f"Convergence after {epoch} epochs took "
                          f"{time.perf_counter() - start:.2f} seconds", flush=True)
                break
            if refresh is not None and self.n_iter_ < total:
                refresh(X_kernel, self.n_iter_ // per_epoch, math.ceil(total / per_epoch))
        if best_weights is not None:
            self.coef_, self.intercept_ = best_weights
        self.fit_time_ = time.perf_counter() - start
        self.loss_curve_ = np.concatenate(losses) if losses else np.empty(0)
        self._rng = rng  # partial_fit continues this stream instead of replaying it
        return self

    def _report_epoch(self, epoch, updates, mean_loss, start):
        """With ``verbose``, the epoch's lines, as scikit-learn's SGD prints them."""
        if self.verbose:
            print(f"-- Epoch {epoch}\nT: {updates}, Avg. loss: {mean_loss:.6f}\n"
                  f"Total training time: {time.perf_counter() - start:.2f} seconds.", flush=True)

    def partial_fit(self, X, y, classes=None, sample_weight=None, progress=None):
        """One epoch of updates over ``X``, ``y``, continuing from the current weights.

        After :meth:`fit` (or a model loaded from a file) it continues from the fitted
        weights and momentum; its minibatches continue fit's random stream (a loaded
        model starts a fresh one from ``random_state``).  ``tol`` does not apply: every
        call makes its epoch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), optional
            All classes that will ever appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), optional
            As in :meth:`fit`; ``class_weight="balanced"`` needs the whole ``y`` and is
            refused here (pass ``compute_class_weight``'s dict instead).
        progress : callable, optional
            Called once, after the epoch, as ``progress("train", n_iter_, total,
            loss=loss)`` (``total``: the updates made so far, this epoch's included).

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
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' needs all of y and is not supported by partial_fit; "
                "pass sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) as a dict {class: weight} instead")
        X, y = self._validate_training_data(X, y, reset=first)
        known = self.classes_ if not first else classes
        unknown = np.setdiff1d(y, known)
        if unknown.size:
            raise ValueError(f"labels {unknown.tolist()} are not in classes {known.tolist()}")
        y_enc = np.searchsorted(known, y).astype(np.int64)
        weights = training_weights(sample_weight, self.class_weight, X, y_enc, known)
        if first:
            self.classes_ = classes
            self._init_weights(X.shape[1], len(classes))
            self.n_iter_ = 0
            self.loss_curve_ = np.empty(0)
        if first or not hasattr(self, "_rng"):
            self._rng = as_generator(self.random_state)
        batch_size = min(self.batch_size, X.shape[0])
        count = math.ceil(X.shape[0] / batch_size)
        total = self.n_iter_ + count
        start = time.perf_counter()
        chunk_losses = self._run_updates(self._kernel_input(X), y_enc, self._rng, count,
                                         batch_size, total, weights)
        self.loss_curve_ = np.concatenate([self.loss_curve_, chunk_losses])
        report(progress, "train", self.n_iter_, total, loss=float(chunk_losses.mean()),
               final_loss=final_loss(self.loss_curve_))
        self._report_epoch(math.ceil(self.n_iter_ / count), self.n_iter_,
                           float(chunk_losses.mean()), start)
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

    def _run_updates(self, X, y, rng, count, batch_size, total, weights=None):
        """Make ``count`` updates on ``X`` from :meth:`_kernel_input` (``weights``: per
        sample, or None); returns their losses; raises on divergence."""
        indices, starts = plan_batches(rng, X.shape[0], batch_size, count, self.sampling)
        rates = self._learning_rates(self.n_iter_, count, total)
        l1, l2 = penalty_strengths(self.penalty, self.alpha, self.l1_ratio)
        losses = get_backend(self.backend).sgd(
            X, y, self.coef_, self.intercept_, *self._current_velocity(), indices, starts, rates,
            l1, l2, self.l1_method == "proximal", float(self.momentum), weights)
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
        return learning_rates(self.lr_schedule, self.learning_rate, self.lr_decay_steps, start,
                              count, total)

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
        rows = max(1, _SCORE_CHUNK_BYTES // (8 * max(1, X.shape[1])))
        for start in range(0, X.shape[0], rows):
            np.matmul(X[start:start + rows].astype(np.float64, copy=False), coef,
                      out=scores[start:start + rows])
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
        """The fitted model as plain data: ``(metadata, arrays)``
        (:func:`fastsoftmax.model.classifier_state.to_arrays`), for :meth:`from_arrays`."""
        return classifier_state.to_arrays(self)

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a fitted model from :meth:`to_arrays`' output, checking it first
        (:func:`fastsoftmax.model.classifier_state.from_arrays`).

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, unknown or invalid parameters, fewer
            than two or repeated classes, shapes that disagree (the message says which).
        """
        return classifier_state.from_arrays(cls, metadata, arrays)

    def save(self, path, *, overwrite=False):
        """Write the fitted model to ``path`` (``.npz`` + JSON metadata, atomically).

        The content is checked as :meth:`load` checks it before anything is written.
        An existing file is replaced only with ``overwrite=True`` (else
        ``FileExistsError``).
        """
        metadata, arrays = self.to_arrays()
        save_arrays(path, "SoftmaxClassifier", metadata, arrays, overwrite=overwrite,
                    check=type(self).from_arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        return load_model_file(path, "SoftmaxClassifier", cls.from_arrays)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# ---------------------------------------------------------------------- helpers
def _accuracy(scores, y, weights):
    """(Weighted) share of rows whose top score is the label's."""
    correct = np.argmax(scores, axis=1) == y
    if weights is None or not weights.any():
        return float(np.mean(correct))
    return float(np.average(correct, weights=weights))


def _final_loss_so_far(chunks, n_done):
    """:func:`~fastsoftmax.model.metrics.final_loss` of the concatenated ``chunks`` (``n_done``
    losses), reading only the chunks its tail needs."""
    tail, parts = max(1, n_done // 20), []
    for chunk in reversed(chunks):
        parts.append(chunk)
        tail -= len(chunk)
        if tail <= 0:
            break
    if not parts:
        return final_loss(parts)
    return float(np.concatenate(parts[::-1])[-max(1, n_done // 20):].mean())
