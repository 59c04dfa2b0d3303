"""The Numba backend: the contract of :mod:`fastsoftmax.softmax` over the fused kernels.

``training_input``, ``sgd`` and ``minibatch_loss_grad`` check nothing the classifier
has checked; they bring the inputs to the kernels' layout (padded, aligned rows, one
dtype, float64 weights) and call the compiled kernels of :mod:`._kernels`.
"""
import numpy as np

from fastsoftmax.softmax._kernels import _PART, _minibatch_kernel, _sgd_kernel
from fastsoftmax.softmax._layout import make_workspace, padded_rows, runs_parallel

__all__ = ["MAX_PADDED_COPY_BYTES", "minibatch_loss_grad", "padded_rows", "sgd",
           "training_input"]


def _as_weights(sample_weight):
    """``sample_weight`` as the kernels take it: ``None``, or contiguous float64."""
    if sample_weight is None:
        return None
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


MAX_PADDED_COPY_BYTES = 2 << 30  # larger training sets are trained on as they are


def training_input(X):
    """``X`` as :func:`sgd` trains on it: rows padded to whole cache lines.

    The kernels run faster on such a copy (made once per fit); a
    training set too large to copy lightly (over ``MAX_PADDED_COPY_BYTES``) is used
    as it is.
    """
    if X.nbytes <= MAX_PADDED_COPY_BYTES:
        return padded_rows(X)
    return X


def sgd(X, y, coef, intercept, velocity_coef, velocity_intercept, batch_indices, batch_starts,
        learning_rates, l1=0.0, l2=0.0, l1_proximal=True, momentum=0.0, sample_weight=None):
    """Minibatch SGD through the fused kernels; the same contract as ``_numpy.sgd``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, width)
        Training rows, best as :func:`training_input` returns them: ``width`` may
        exceed ``n_features`` by zero columns.  Of ``coef``'s dtype (float32 or
        float64): the inner loops take one.
    y : ndarray of int64 of shape (n_samples,)
    coef : ndarray of shape (n_classes, n_features)
        Updated in place, as are ``intercept`` and both velocities.
    intercept, velocity_coef, velocity_intercept : ndarray
    batch_indices, batch_starts : ndarray of int64
        Batch ``t`` is ``X[batch_indices[batch_starts[t]:batch_starts[t + 1]]]``.
    learning_rates : ndarray of float64 of shape (n_batches,)
    l1, l2 : float
    l1_proximal : bool
    momentum : float
    sample_weight : ndarray of float64 of shape (n_samples,), optional
        Non-negative; each batch's loss is then its weighted mean (``_numpy.sgd``).
        ``None`` runs the unweighted kernel.

    Returns
    -------
    losses : ndarray of shape (n_done,)
        Minibatch loss (data + penalty) before each update; stops at the first
        non-finite one, which is included.
    """
    n_classes, n_features = coef.shape
    width = X.shape[1]
    count = batch_starts.shape[0] - 1
    batch_size = int(np.diff(batch_starts).max()) if count > 0 else 1
    # the weights get the rows' padding for the kernel: zero columns that stay zero
    padded_coef = padded_rows(coef, width)
    padded_velocity = padded_rows(velocity_coef, width)
    # One slice per part of the largest batch: the parts are fixed by the batch, never
    # by the thread count, so the weights are the same bit for bit with any
    # NUMBA_NUM_THREADS.
    workspace = make_workspace(n_classes, width, coef.dtype, max(1, -(-batch_size // _PART)))
    losses = np.empty(count)
    done = _sgd_kernel(X, y, padded_coef, intercept, padded_velocity, velocity_intercept,
                       batch_indices, batch_starts, learning_rates, float(l1), float(l2),
                       bool(l1_proximal), float(momentum), *workspace, losses,
                       runs_parallel(batch_size, width, n_classes), _as_weights(sample_weight))
    if padded_coef is not coef:
        coef[...] = padded_coef[:, :n_features]
    if padded_velocity is not velocity_coef:
        velocity_coef[...] = padded_velocity[:, :n_features]
    return losses[: min(done + 1, count)]


def minibatch_loss_grad(coef, intercept, X, y, l1=0.0, l2=0.0, sample_weight=None):
    """Mean loss + penalty over all rows of ``X`` and its gradient, via the fused kernel.

    The same contract as ``_numpy.minibatch_loss_grad``: ``coef`` is
    (n_classes, n_features); returns ``loss, grad_coef (n_classes, n_features),
    grad_intercept``, the L1 part contributing ``l1 * sign(coef)``.  The inputs are
    brought to one dtype (the wider of ``coef``'s and ``X``'s), C order and int64
    labels first, so the kernel compiles one specialization per float type (and one
    more per type with ``sample_weight``: the weighted mean, as ``_numpy``'s).
    """
    dtype = np.result_type(coef.dtype, X.dtype)
    coef = np.ascontiguousarray(coef, dtype=dtype)
    intercept = np.ascontiguousarray(intercept, dtype=dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.ascontiguousarray(y, dtype=np.int64)
    n_samples, n_features = X.shape
    loss, grad, grad_intercept = _minibatch_kernel(
        X, y, coef, intercept, float(l1), float(l2),
        runs_parallel(n_samples, n_features, coef.shape[0]), _as_weights(sample_weight))
    return loss, grad, grad_intercept
