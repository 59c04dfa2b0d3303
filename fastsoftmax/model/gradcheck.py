"""Gradient check: finite-difference gradients of the softmax loss and their comparison.

The loss is the classifier's: the mean cross-entropy ``-log softmax(X @ W.T + b)[y]``
over the batch plus ``l1 ||W||_1 + l2 / 2 ||W||_2^2`` (bias not penalized), with
``(l1, l2) = penalty_strengths(penalty, alpha, l1_ratio)``.  ``W`` has shape
``(n_classes, n_features)``, the layout of scikit-learn's (and
:class:`~fastsoftmax.SoftmaxClassifier`'s) ``coef_`` and of
:func:`fastsoftmax.softmax.loss_and_gradient`; its gradient comes in the same layout.

:func:`numerical_gradient` runs the Cython kernel ``fastsoftmax._gradcheck``: with the
unperturbed probabilities cached, perturbing ``W[c, d]`` changes only column ``c`` of
the scores, so each entry costs O(n_samples) and each sample's change of loss is one
``log1p`` term, computed as a difference directly (accurate to rounding, not to the
cancellation of two large totals).  :func:`numerical_gradient_reference` is the plain
NumPy yardstick that perturbs one entry at a time and recomputes the whole loss.

:func:`check_gradient` compares an analytic gradient with the numerical one (maximum
relative error and the summed absolute difference), :func:`check_gradient_sparse` does
so on ``k`` random coordinates, as CS231n's ``grad_check_sparse``.

With an L1 part in the penalty the loss has a kink at ``W[c, d] = 0``; entries with
``|W[c, d]| < h`` straddle it, their difference quotient is not the subgradient, and
they are left out of both error figures (counted as ``n_kink``).
"""
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits

from fastsoftmax._gradcheck import difference_quotients, sparse_difference_quotients
from fastsoftmax.data import load_dataset
from fastsoftmax.data.datasets import refuse_folder_params
from fastsoftmax.softmax import PENALTY_CODES, _numpy, loss_and_gradient, penalty_strengths

__all__ = [
    "numerical_gradient",
    "numerical_gradient_sparse",
    "numerical_gradient_reference",
    "check_gradient",
    "check_gradient_sparse",
    "relative_error",
    "GradientCheck",
    "SparseGradientCheck",
    "GradcheckProblem",
    "gradcheck_problem",
]

METHODS = ("central", "forward")
BACKENDS = ("numpy", "numba")
#: Floor of the relative error's denominator, ``max(|a| + |n|, TINY)``.
TINY = np.finfo(np.float64).tiny


# --------------------------------------------------------------------------- validation


def _as_float_array(name, value, ndim):
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf; check the input (scaling, initialization)")
    return array


def _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method="central"):
    """Check and convert every input before any work; returns float64 C arrays and intp y."""
    W = _as_float_array("W", W, 2)
    b = _as_float_array("b", b, 1)
    X = _as_float_array("X", X, 2)
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    n_classes, n_features = W.shape
    if n_classes < 1:
        raise ValueError("W must have at least one row (class)")
    if b.shape != (n_classes,):
        raise ValueError(f"b has shape {b.shape} but W has {n_classes} classes (rows)")
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features (columns) but W has {n_features} columns; "
            "W must have shape (n_classes, n_features)"
        )
    if X.shape[0] < 1:
        raise ValueError("X must hold at least one sample")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but X has {X.shape[0]} samples")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"labels y must be in 0..{n_classes - 1} (W has {n_classes} classes), "
            f"found {int(y.min()) if y.min() < 0 else int(y.max())}"
        )
    y = np.ascontiguousarray(y, dtype=np.intp)
    if penalty not in PENALTY_CODES:
        raise ValueError(f"penalty must be one of {sorted(PENALTY_CODES)}, got {penalty!r}")
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not (0.0 <= l1_ratio <= 1.0):
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite step, got {h!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    l1, l2 = penalty_strengths(penalty, alpha, l1_ratio)
    return W, b, X, y, float(l1), float(l2), float(h)


def numerical_gradient(W, b, X, y, penalty="none", alpha=0.0, l1_ratio=0.15, h=1e-5,
                       method="central"):
    """Finite-difference gradient of the softmax loss for every entry of W and b.

    Parameters
    ----------
    W : array_like of shape (n_classes, n_features)
        The weights, laid out as scikit-learn's ``coef_``.
    b : array_like of shape (n_classes,)
    X : array_like of shape (n_samples, n_features)
    y : array_like of int of shape (n_samples,)
        Class indices in ``0 .. n_classes - 1``.
    penalty : {"none", "l2", "l1", "elasticnet"}
    alpha : float
        Penalty strength, split by :func:`fastsoftmax.softmax.penalty_strengths`.
    l1_ratio : float
        Elastic-net mixing, used with ``penalty="elasticnet"``.
    h : float
        Step, > 0.
    method : {"central", "forward"}
        ``(L(w + h) - L(w - h)) / 2h`` (error O(h^2)) or the study's forward
        difference ``(L(w + h) - L(w)) / h`` (error O(h)).

    Returns
    -------
    dW : ndarray of shape (n_classes, n_features), float64
    db : ndarray of shape (n_classes,), float64

    Raises
    ------
    ValueError
        Mismatched shapes, labels out of range, non-finite input, a bad penalty,
        ``alpha < 0``, ``l1_ratio`` outside [0, 1], ``h <= 0`` or an unknown method.
    TypeError
        Non-numeric arrays or non-integer labels.

    Notes
    -----
    Costs O(n_samples * n_features * n_classes) in all, about one loss evaluation,
    instead of one loss evaluation per entry.
    """
    W, b, X, y, l1, l2, h = _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    P = _numpy.softmax(X @ W.T + b)
    dW = np.empty_like(W)
    db = np.empty_like(b)
    difference_quotients(X, y, P, W, l1, l2, h, method == "forward", dW, db)
    return dW, db


def numerical_gradient_sparse(W, b, X, y, rows, cols, penalty="none", alpha=0.0,
                              l1_ratio=0.15, h=1e-5, method="central"):
    """Finite-difference gradient at chosen coordinates only.

    Parameters
    ----------
    W, b, X, y, penalty, alpha, l1_ratio, h, method
        As in :func:`numerical_gradient`.
    rows, cols : array_like of int of shape (k,)
        Coordinates ``(rows[j], cols[j])`` (class, feature) of the stacked parameters
        ``[W | b]`` of shape ``(n_classes, n_features + 1)``: column ``n_features`` is
        the bias.

    Returns
    -------
    values : ndarray of shape (k,), float64
    """
    W, b, X, y, l1, l2, h = _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    rows = np.ascontiguousarray(rows, dtype=np.intp).reshape(-1)
    cols = np.ascontiguousarray(cols, dtype=np.intp).reshape(-1)
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols must have the same length, got {rows.size} and {cols.size}")
    if rows.size and (rows.min() < 0 or rows.max() >= W.shape[0]):
        raise ValueError(f"rows must be in 0..{W.shape[0] - 1}")
    if cols.size and (cols.min() < 0 or cols.max() > W.shape[1]):
        raise ValueError(f"cols must be in 0..{W.shape[1]} (the last column is the bias)")
    P = _numpy.softmax(X @ W.T + b)
    out = np.empty(rows.size)
    sparse_difference_quotients(X, y, P, W, rows, cols, l1, l2, h, method == "forward", out)
    return out


def numerical_gradient_reference(W, b, X, y, penalty="none", alpha=0.0, l1_ratio=0.15,
                                 h=1e-5, method="central"):
    """Plain NumPy finite differences: perturb one entry, recompute the whole loss.

    Obviously correct and slow (two loss evaluations per entry for ``"central"``); the
    yardstick for :func:`numerical_gradient`.  Same parameters and returns.
    """
    W, b, X, y, l1, l2, h = _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    W = W.copy()
    b = b.copy()
    base = _numpy.loss(W, b, X, y, l1, l2) if method == "forward" else None
    grads = []
    for param in (W, b):
        grad = np.empty_like(param)
        for index in np.ndindex(*param.shape):
            old = param[index]
            param[index] = old + h
            plus = _numpy.loss(W, b, X, y, l1, l2)
            if method == "central":
                param[index] = old - h
                minus = _numpy.loss(W, b, X, y, l1, l2)
                grad[index] = (plus - minus) / (2.0 * h)
            else:
                grad[index] = (plus - base) / h
            param[index] = old
        grads.append(grad)
    return grads[0], grads[1]


# --------------------------------------------------------------------------- comparison


def relative_error(analytic, numerical, tiny=TINY):
    """Elementwise ``|a - n| / max(|a| + |n|, tiny)``: 0 when both are 0, at most 1."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    return np.abs(analytic - numerical) / np.maximum(np.abs(analytic) + np.abs(numerical), tiny)


@dataclass(frozen=True)
class GradientCheck:
    """Result of :func:`check_gradient`.

    Attributes
    ----------
    analytic_W, numerical_W : ndarray of shape (n_classes, n_features)
    analytic_b, numerical_b : ndarray of shape (n_classes,)
    relative_error_W, relative_error_b : ndarray
        Elementwise relative errors (see :func:`relative_error`), kink entries included.
    kink : ndarray of bool of shape (n_classes, n_features)
        Entries left out of the error figures (``|W| < h`` with an L1 part).
    max_relative_error : float
        Maximum relative error over the checked entries of W and b.
    sum_abs_difference : float
        Sum of ``|a - n|`` over the checked entries (the study's figure).
    n_checked, n_kink : int
    h : float
    method : str
    """

    analytic_W: np.ndarray
    analytic_b: np.ndarray
    numerical_W: np.ndarray
    numerical_b: np.ndarray
    relative_error_W: np.ndarray
    relative_error_b: np.ndarray
    kink: np.ndarray
    max_relative_error: float
    sum_abs_difference: float
    n_checked: int
    n_kink: int
    h: float
    method: str

    def passed(self, threshold=1e-6):
        """True when ``max_relative_error <= threshold``."""
        return bool(self.max_relative_error <= threshold)

    def worst_entry(self):
        """The checked entry with the largest relative error: ``("W", (class, feature))``
        or ``("b", (class,))`` (W wins a tie; kink entries are not candidates)."""
        rel = np.where(self.kink, -1.0, self.relative_error_W)
        worst = ("b", (int(np.argmax(self.relative_error_b)),))
        if rel.size:
            index = np.unravel_index(int(np.argmax(rel)), rel.shape)
            if rel[index] >= self.relative_error_b.max():
                worst = ("W", tuple(int(i) for i in index))
        return worst


@dataclass(frozen=True)
class SparseGradientCheck:
    """Result of :func:`check_gradient_sparse`.

    Attributes
    ----------
    rows, cols : ndarray of int of shape (k,)
        Coordinates (class, feature) in the stacked ``[W | b]`` (column
        ``n_features`` is the bias).
    analytic, numerical, relative_error : ndarray of shape (k,)
    kink : ndarray of bool of shape (k,)
        Coordinates left out of ``max_relative_error`` (``|W| < h`` with an L1 part).
    max_relative_error, sum_abs_difference : float
        Over the coordinates not at the kink.
    n_kink : int
    """

    rows: np.ndarray
    cols: np.ndarray
    analytic: np.ndarray
    numerical: np.ndarray
    relative_error: np.ndarray
    kink: np.ndarray
    max_relative_error: float
    sum_abs_difference: float
    n_kink: int

    def passed(self, threshold=1e-6):
        """True when ``max_relative_error <= threshold``."""
        return bool(self.max_relative_error <= threshold)


def _analytic(W, b, X, y, penalty, alpha, l1_ratio, backend, analytic):
    if analytic is not None:
        dW, db = analytic
        dW = np.asarray(dW, dtype=np.float64)
        db = np.asarray(db, dtype=np.float64)
        if dW.shape != W.shape or db.shape != b.shape:
            raise ValueError(
                f"analytic gradient shapes {dW.shape}, {db.shape} do not match "
                f"W {W.shape} and b {b.shape}"
            )
        return dW, db
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    _, dW, db = loss_and_gradient(W, b, X, y, penalty, alpha, l1_ratio, backend=backend)
    return np.asarray(dW, dtype=np.float64), np.asarray(db, dtype=np.float64)


def _kink_mask(W, l1, h):
    if l1 > 0:
        return np.abs(W) < h
    return np.zeros(W.shape, dtype=bool)


def check_gradient(W, b, X, y, penalty="none", alpha=0.0, l1_ratio=0.15, h=1e-5,
                   backend="numpy", method="central", analytic=None):
    """Compare the analytic gradient with the numerical one on every entry of W and b.

    Parameters
    ----------
    W, b, X, y, penalty, alpha, l1_ratio, h, method
        As in :func:`numerical_gradient`.
    backend : {"numpy", "numba"}
        Which :func:`fastsoftmax.softmax.loss_and_gradient` supplies the analytic gradient.
    analytic : tuple (dW, db), optional
        An analytic gradient to check instead (``backend`` is then ignored).

    Returns
    -------
    GradientCheck
        Both gradients, the maximum relative error ``|a - n| / max(|a| + |n|, tiny)``
        and the summed absolute difference, over the entries not at the L1 kink.
    """
    W, b, X, y, l1, l2, h = _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    aW, ab = _analytic(W, b, X, y, penalty, alpha, l1_ratio, backend, analytic)
    nW, nb = numerical_gradient(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    kink = _kink_mask(W, l1, h)
    rel_W = relative_error(aW, nW)
    rel_b = relative_error(ab, nb)
    keep = ~kink
    checked = np.concatenate([rel_W[keep], rel_b])
    abs_diff = np.abs(aW - nW)[keep].sum() + np.abs(ab - nb).sum()
    return GradientCheck(
        analytic_W=aW, analytic_b=ab, numerical_W=nW, numerical_b=nb,
        relative_error_W=rel_W, relative_error_b=rel_b, kink=kink,
        max_relative_error=float(checked.max()) if checked.size else 0.0,
        sum_abs_difference=float(abs_diff),
        n_checked=int(checked.size), n_kink=int(kink.sum()), h=h, method=method,
    )


#: Most coordinates :func:`check_gradient_sparse` draws (each costs two loss evaluations).
MAX_SPARSE = 100_000


def check_gradient_sparse(W, b, X, y, k=10, penalty="none", alpha=0.0, l1_ratio=0.15,
                          h=1e-5, backend="numpy", method="central", analytic=None, seed=0):
    """Compare analytic and numerical gradients on ``k`` random coordinates.

    As CS231n's ``grad_check_sparse``: the coordinates are drawn uniformly (with
    replacement) from the stacked parameters ``[W | b]``; only those are differenced.

    Parameters
    ----------
    W, b, X, y, penalty, alpha, l1_ratio, h, backend, method, analytic
        As in :func:`check_gradient`.
    k : int
        Number of coordinates, in 1..:data:`MAX_SPARSE` (checked before anything is
        allocated).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    SparseGradientCheck

    Raises
    ------
    ValueError
        ``k`` out of range (before anything is allocated), or a bad input as in
        :func:`check_gradient`.
    """
    W, b, X, y, l1, l2, h = _validate(W, b, X, y, penalty, alpha, l1_ratio, h, method)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > MAX_SPARSE:
        raise ValueError(f"k = {k} coordinates is more than {MAX_SPARSE:,}; the full check "
                         "(check_gradient) already covers every entry")
    aW, ab = _analytic(W, b, X, y, penalty, alpha, l1_ratio, backend, analytic)
    rng = np.random.default_rng(seed)
    n_classes, n_features = W.shape
    # features drawn first: a seed keeps the coordinates it always chose
    cols = rng.integers(0, n_features + 1, size=int(k))
    rows = rng.integers(0, n_classes, size=int(k))
    num = numerical_gradient_sparse(W, b, X, y, rows, cols, penalty, alpha, l1_ratio, h, method)
    stacked_a = np.hstack([aW, ab[:, None]])
    stacked_W = np.hstack([W, np.full((n_classes, 1), np.inf)])  # the bias has no kink
    ana = stacked_a[rows, cols]
    kink = _kink_mask(stacked_W[rows, cols], l1, h)
    rel = relative_error(ana, num)
    keep = ~kink
    return SparseGradientCheck(
        rows=rows, cols=cols, analytic=ana, numerical=num, relative_error=rel, kink=kink,
        max_relative_error=float(rel[keep].max()) if keep.any() else 0.0,
        sum_abs_difference=float(np.abs(ana - num)[keep].sum()),
        n_kink=int(kink.sum()),
    )


# --------------------------------------------------------------------------- problem set-up


@dataclass(frozen=True)
class GradcheckProblem:
    """A batch and a random starting point for a gradient check.

    Attributes
    ----------
    X : ndarray of float64 of shape (batch_size, n_features)
        Pixels in 0..1.
    y : ndarray of int64 of shape (batch_size,)
    W : ndarray of shape (n_classes, n_features)
        ``0.01 * N(0, 1)``.
    b : ndarray of shape (n_classes,)
        ``0.1 * N(0, 1)``.
    n_classes : int
    name : str
        The data's name (``"digits"`` or the ``data`` path).
    rng : numpy.random.Generator
        The generator after drawing the batch, W and b (for a sparse check).
    """

    X: np.ndarray
    y: np.ndarray
    W: np.ndarray
    b: np.ndarray
    n_classes: int
    name: str
    rng: np.random.Generator


def gradcheck_problem(data=None, batch_size=50, n_features=None, seed=0, image_size=None):
    """A random batch of ``batch_size`` images, their first ``n_features`` pixel columns
    in 0..1, and random weights, drawn with ``seed``.

    Parameters
    ----------
    data : str, optional
        A data set for :func:`fastsoftmax.data.load_dataset` (its training images are
        flattened and divided by 255); default: scikit-learn's digits (pixels / 16).
    batch_size : int, default=50
    n_features : int, optional
        Default: every pixel column.
    seed : int, default=0
    image_size : int or (int, int), optional
        For an image folder: resize its images (see
        :func:`fastsoftmax.data.load_image_folder`).

    Returns
    -------
    GradcheckProblem

    Raises
    ------
    ValueError
        ``batch_size`` or ``n_features`` larger than the data has.
    """
    if data is None:
        refuse_folder_params("the digits data set", image_size=image_size)
        digits = load_digits()
        X_all, y_all, n_classes, name, scale = digits.data, digits.target, 10, "digits", 16.0
    else:
        dataset = load_dataset(data, image_size=image_size)
        X_all = np.asarray(dataset.X_train)
        X_all = X_all.reshape(X_all.shape[0], -1)
        y_all = np.asarray(dataset.y_train)
        n_classes, name, scale = len(dataset.class_names), str(data), 255.0
    n_available, d_available = X_all.shape
    if batch_size > n_available:
        raise ValueError(f"batch size {batch_size} is larger than the {n_available} images")
    n_features = d_available if n_features is None else n_features
    if n_features > d_available:
        raise ValueError(f"{n_features} features is more than the {d_available} pixel columns")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_available, size=batch_size, replace=False))
    X = X_all[rows, :n_features].astype(np.float64) / scale
    # drawn as (n_features, n_classes): a seed keeps the weights it always gave
    W = np.ascontiguousarray(0.01 * rng.standard_normal((n_features, n_classes)).T)
    b = 0.1 * rng.standard_normal(n_classes)
    return GradcheckProblem(X, np.asarray(y_all[rows], dtype=np.int64), W, b, n_classes, name, rng)
