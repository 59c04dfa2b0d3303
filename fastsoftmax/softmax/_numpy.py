"""Plain NumPy reference for the softmax classifier: the study's math, vectorized.

Obviously correct rather than fast; every Numba kernel in ``_numba`` is tested
against these functions.  Weights ``coef`` are (n_classes, n_features), scikit-learn's
``coef_`` (the layout of the backend contract shared with ``_numba``), and
``intercept`` (n_classes,); the scores are ``X @ coef.T + intercept``.
"""
import numpy as np


def softmax(scores):
    """Row-wise softmax, stable (the row max is subtracted first)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _shifted_scores(coef, intercept, X):
    """Scores minus their row max, and the log of each row's normaliser."""
    scores = X @ coef.T + intercept
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted, np.log(np.exp(shifted).sum(axis=1))


def loss(coef, intercept, X, y, l1=0.0, l2=0.0):
    """Mean cross-entropy plus penalty, without the gradient."""
    shifted, log_norm = _shifted_scores(coef, intercept, X)
    data = np.mean(log_norm - shifted[np.arange(X.shape[0]), y], dtype=np.float64)
    return float(data) + penalty_value(coef, l1, l2)


def data_loss_and_gradient(coef, intercept, X, y, sample_weight=None):
    """Mean cross-entropy ``-log softmax(X @ coef.T + intercept)[y]`` and its gradient
    ``(loss, grad_coef, grad_intercept)``.

    With ``sample_weight`` (non-negative, one per row) the mean is weighted:
    ``sum_i w_i * loss_i / sum_i w_i``; rows of weight 0 then count for nothing, and
    when all weights are 0 the loss and gradient are 0.
    """
    n_samples = X.shape[0]
    shifted, log_norm = _shifted_scores(coef, intercept, X)
    rows = np.arange(n_samples)
    losses = log_norm - shifted[rows, y]
    dscores = np.exp(shifted - log_norm[:, None])  # probabilities
    dscores[rows, y] -= 1.0
    if sample_weight is None:
        loss = np.mean(losses, dtype=np.float64)
        dscores /= n_samples
    else:
        weights = np.asarray(sample_weight, dtype=np.float64)
        total = weights.sum()
        shares = weights / total if total > 0 else np.zeros_like(weights)
        loss = np.dot(shares, losses.astype(np.float64))
        dscores *= shares[:, None].astype(dscores.dtype)
    return float(loss), dscores.T @ X, dscores.sum(axis=0)


def penalty_value(coef, l1, l2):
    """``l1 * ||coef||_1 + l2 / 2 * ||coef||_2^2``."""
    value = 0.0
    if l1:
        value += l1 * float(np.abs(coef).sum(dtype=np.float64))
    if l2:
        value += 0.5 * l2 * float(np.square(coef, dtype=np.float64).sum())
    return value


def minibatch_loss_grad(coef, intercept, X, y, l1=0.0, l2=0.0, sample_weight=None):
    """Mean loss + penalty over all rows of ``X``, and its gradient.

    Parameters
    ----------
    coef : ndarray of shape (n_classes, n_features)
    intercept : ndarray of shape (n_classes,)
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of int of shape (n_samples,)
    l1, l2 : float
        Penalty ``l1 * ||coef||_1 + l2 / 2 * ||coef||_2^2`` (the intercept is not penalized).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights: the data loss is their weighted mean
        (:func:`data_loss_and_gradient`).

    Returns
    -------
    loss : float
    grad_coef : ndarray of shape (n_classes, n_features)
        The L1 part contributes its subgradient ``l1 * sign(coef)`` (0 at 0).
    grad_intercept : ndarray of shape (n_classes,)
    """
    loss, grad_coef, grad_intercept = data_loss_and_gradient(coef, intercept, X, y,
                                                             sample_weight)
    loss += penalty_value(coef, l1, l2)
    if l2:
        grad_coef = grad_coef + l2 * coef
    if l1:
        grad_coef = grad_coef + l1 * np.sign(coef)
    return loss, grad_coef, grad_intercept


def soft_threshold(coef, threshold):
    """Proximal operator of ``threshold * ||coef||_1``: shrink towards 0, exact zeros."""
    return np.sign(coef) * np.maximum(np.abs(coef) - threshold, 0.0)


def training_input(X):
    """``X`` as :func:`sgd` trains on it: as it is (the Numba backend pads it)."""
    return X


def sgd(X, y, coef, intercept, velocity_coef, velocity_intercept, batch_indices, batch_starts,
        learning_rates, l1=0.0, l2=0.0, l1_proximal=True, momentum=0.0, sample_weight=None):
    """Minibatch SGD, one update per batch; updates ``coef``, ``intercept`` and the
    velocities in place.

    Batch ``t`` is ``X[batch_indices[batch_starts[t]:batch_starts[t + 1]]]``, taken with
    learning rate ``learning_rates[t]``.  An update is ``v = momentum * v - lr * grad``,
    ``coef += v``; the L1 part of the penalty is either in ``grad`` (subgradient) or
    applied after the step as soft-thresholding by ``lr * l1`` (proximal gradient).
    ``coef`` and ``velocity_coef`` are (n_classes, n_features), as in ``_numba.sgd``.
    With ``sample_weight`` (non-negative, one per row of ``X``) each batch's data loss
    is its weighted mean, ``sum_i w_i * loss_i / sum_i w_i`` over the batch's rows (a
    batch of zero total weight: loss and gradient 0, the penalty still acts).

    Returns
    -------
    losses : ndarray of shape (n_done,)
        Minibatch loss (data + penalty) before each update; stops early at the first
        non-finite one, which is included.
    """
    n_batches = len(batch_starts) - 1
    losses = np.empty(n_batches)
    for t in range(n_batches):
        rows = batch_indices[batch_starts[t]:batch_starts[t + 1]]
        weights = None if sample_weight is None else sample_weight[rows]
        loss, grad_coef, grad_intercept = data_loss_and_gradient(coef, intercept, X[rows],
                                                                 y[rows], weights)
        loss += penalty_value(coef, l1, l2)
        losses[t] = loss
        if not np.isfinite(loss):
            return losses[: t + 1]
        if l2:
            grad_coef += l2 * coef
        if l1 and not l1_proximal:
            grad_coef += l1 * np.sign(coef)
        lr = learning_rates[t]
        velocity_coef *= momentum
        velocity_coef -= lr * grad_coef
        velocity_intercept *= momentum
        velocity_intercept -= lr * grad_intercept
        coef += velocity_coef
        intercept += velocity_intercept
        if l1 and l1_proximal:
            coef[...] = soft_threshold(coef, lr * l1)
    return losses
