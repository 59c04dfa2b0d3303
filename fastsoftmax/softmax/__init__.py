"""Softmax loss and gradient: a plain NumPy reference and fused Numba kernels.

``_numpy`` is the yardstick (the study's math, vectorized); ``_numba`` holds the fast
kernels.  Both backends offer the same contract, with weights ``coef`` of shape
(n_classes, n_features):

- ``training_input(X)``: ``X`` as the backend's ``sgd`` wants it (made once per fit);
- ``sgd(X, y, coef, intercept, velocity_coef, velocity_intercept, batch_indices,
  batch_starts, learning_rates, l1, l2, l1_proximal, momentum, sample_weight=None)
  -> losses``;
- ``minibatch_loss_grad(coef, intercept, X, y, l1, l2, sample_weight=None) -> loss,
  grad_coef, grad_intercept``.

With ``sample_weight`` (float64, non-negative, one per row of ``X``) the data loss of a
batch is its weighted mean ``sum_i w_i * loss_i / sum_i w_i`` (a batch of total weight
0 has data loss and gradient 0); ``None`` is the plain mean, on the unweighted kernels.

:func:`get_backend` returns the module of a backend by name.
"""
from fastsoftmax.softmax import _numpy

PENALTY_CODES = {"none": 0, "l2": 1, "l1": 2, "elasticnet": 3}
L1_METHOD_CODES = {"proximal": 0, "subgradient": 1}


def penalty_strengths(penalty, alpha, l1_ratio):
    """Split ``alpha`` into its L1 and L2 parts.

    The penalty is ``alpha * (l1_ratio * ||coef||_1 + (1 - l1_ratio) / 2 * ||coef||_2^2)``
    (scikit-learn's elastic net); ``"l1"`` is ``l1_ratio = 1`` and ``"l2"`` is
    ``l1_ratio = 0``.

    Returns
    -------
    l1_strength, l2_strength : float
    """
    if penalty == "none":
        return 0.0, 0.0
    if penalty == "l2":
        return 0.0, float(alpha)
    if penalty == "l1":
        return float(alpha), 0.0
    if penalty == "elasticnet":
        return float(alpha) * l1_ratio, float(alpha) * (1.0 - l1_ratio)
    raise ValueError(
        f"penalty must be one of {sorted(PENALTY_CODES)}, got {penalty!r}"
    )


BACKENDS = ("numba", "numpy")


def get_backend(name):
    """The module (``_numba`` or ``_numpy``) implementing backend ``name``."""
    if name == "numba":
        # importing Numba and defining the kernels takes a noticeable part of a second,
        # which the NumPy backend never needs
        from fastsoftmax.softmax import _numba

        return _numba
    if name == "numpy":
        return _numpy
    raise ValueError(f"backend must be one of {list(BACKENDS)}, got {name!r}")


def loss_and_gradient(coef, intercept, X, y, penalty="none", alpha=0.0, l1_ratio=0.15,
                      backend="numpy", sample_weight=None):
    """Mean softmax cross-entropy over the batch plus the penalty, and its gradient.

    The weights are laid out as scikit-learn's (and :class:`~fastsoftmax.SoftmaxClassifier`'s)
    ``coef_``: one row per class, and the scores are ``X @ coef.T + intercept``.

    Parameters
    ----------
    coef : ndarray of shape (n_classes, n_features)
    intercept : ndarray of shape (n_classes,)
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of int of shape (n_samples,)
        Class indices in ``0 .. n_classes - 1``.
    penalty : {"none", "l2", "l1", "elasticnet"}
    alpha : float
        Penalty strength (see :func:`penalty_strengths`); the intercept is not penalized.
    l1_ratio : float
        Elastic-net mixing, used with ``penalty="elasticnet"``.
    backend : {"numpy", "numba"}
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights: the mean over the batch is then weighted.

    Returns
    -------
    loss : float
    grad_coef : ndarray of shape (n_classes, n_features)
        The L1 part contributes its subgradient ``sign(coef)`` (0 at 0).
    grad_intercept : ndarray of shape (n_classes,)
    """
    l1, l2 = penalty_strengths(penalty, alpha, l1_ratio)
    return get_backend(backend).minibatch_loss_grad(coef, intercept, X, y, l1, l2,
                                                    sample_weight)
