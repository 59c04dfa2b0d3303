"""What a ``SoftmaxClassifier`` fit runs, decided in Python before any kernel call.

How many updates, which rows each minibatch takes, each update's learning rate, the
per-sample weights, and when to stop: plain NumPy, the same for both backends, so
that with one ``random_state`` they see exactly the same numbers.
"""
import math

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight

#: Most minibatch updates of one fit: its loss curve (8 bytes an update) is then at most
#: 32 GiB; more is refused before any work rather than run until memory runs out.
MAX_UPDATES = 2**32

#: Default training length when neither ``n_iter`` nor ``epochs`` is set: 10 passes
#: over the data, but at least 1,000 updates (small data sets need more passes).
DEFAULT_EPOCHS = 10
DEFAULT_MIN_UPDATES = 1000

#: Fewest minibatch updates per kernel call when epochs are tiny.
MIN_CALL = 256


def total_updates(n_iter, epochs, per_epoch):
    """The planned number of updates of a fit (``n_iter``, or ``epochs`` passes of
    ``per_epoch`` updates, or the default); refuses more than :data:`MAX_UPDATES`."""
    if n_iter is not None:
        return n_iter
    total = epochs * per_epoch if epochs is not None else max(DEFAULT_EPOCHS * per_epoch,
                                                              DEFAULT_MIN_UPDATES)
    if total > MAX_UPDATES:
        raise ValueError(f"{epochs} epochs of {per_epoch} updates are {total:,} updates, "
                         f"more than the {MAX_UPDATES:,} one fit may run; give fewer epochs")
    return total


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


def learning_rates(schedule, rate, decay_steps, start, count, total):
    """Learning rates of updates ``start .. start + count - 1`` of ``total``.

    ``"step"`` halves ``rate`` every ``decay_steps`` updates, ``"invscaling"`` is
    ``rate / (1 + t / decay_steps)``; ``decay_steps=None`` is a fifth of ``total``.
    """
    t = np.arange(start, start + count, dtype=np.float64)
    decay = decay_steps or max(1, total // 5)
    if schedule == "constant":
        return np.full(count, float(rate))
    if schedule == "step":
        return rate * 0.5 ** np.floor(t / decay)
    return rate / (1.0 + t / decay)


def training_weights(sample_weight, class_weight, X, y_encoded, classes):
    """Per-sample weights of a fit: ``sample_weight`` times the weight of each sample's
    class, as float64; ``None`` when every sample weighs the same.

    Equal weights take the unweighted kernels: a weighted mean with equal weights is
    the plain mean.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative, finite, not all zero.
    class_weight : dict, "balanced" or None
        As in scikit-learn: ``{label: weight}`` (labels not named weigh 1), or
        ``n_samples / (n_classes * count of the class)`` from ``y``.
    X : ndarray of shape (n_samples, n_features)
    y_encoded : ndarray of int of shape (n_samples,)
        Class indices into ``classes``.
    classes : ndarray of shape (n_classes,)

    Raises
    ------
    ValueError
        A weight negative or not finite, the wrong number of weights, all weights zero,
        a ``class_weight`` label not in ``classes``.
    """
    if sample_weight is None and class_weight is None:
        return None
    weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if isinstance(class_weight, dict):
        unknown = [label for label in class_weight if label not in set(classes.tolist())]
        if unknown:
            raise ValueError(f"class_weight names {unknown}, which are not classes of y "
                             f"({classes.tolist()[:20]})")
    if class_weight is not None:
        y_labels = classes[y_encoded]
        per_class = compute_class_weight(class_weight, classes=classes, y=y_labels)
        weights = weights * per_class[y_encoded]
    if not weights.any():
        raise ValueError("sample weights (times class weights) are all zero: nothing to fit")
    if np.all(weights == weights[0]):
        return None
    return weights


def as_generator(random_state):
    """``random_state`` (int, None, RandomState or Generator) as a NumPy Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def validation_split(X, y, weights, fraction, rng):
    """Hold out ``fraction`` of the samples (stratified when every class has two);
    the weights follow their samples."""
    seed = int(rng.integers(np.iinfo(np.int32).max))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    rows = np.arange(len(y))
    try:
        train, val = train_test_split(rows, test_size=fraction, random_state=seed,
                                      stratify=stratify)
    except ValueError:
        train, val = train_test_split(rows, test_size=fraction, random_state=seed)
    if weights is None:
        return X[train], X[val], y[train], y[val], None, None
    return X[train], X[val], y[train], y[val], weights[train], weights[val]


class NoImprovementStop:
    """scikit-learn SGD's stopping rule: stop after ``n_iter_no_change`` epochs in a row
    in which the value did not beat the best one so far by more than ``tol`` (scikit-learn
    lets a tie at exactly ``tol`` count as an improvement; here a tie never does).

    Parameters
    ----------
    tol : float
    n_iter_no_change : int
    larger_is_better : bool
        True for a validation score, False for a training loss.
    """

    def __init__(self, tol, n_iter_no_change, larger_is_better):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.sign = 1.0 if larger_is_better else -1.0
        self.best = -np.inf
        self.no_change = 0

    def update(self, value):
        """Record one epoch's value; returns True when it is the best so far."""
        signed = self.sign * value
        # an improvement must beat the best by more than tol: with tol 0 a flat
        # (validation accuracy) plateau counts as no change and stops
        if signed > self.best + self.tol:
            self.no_change = 0
        else:
            self.no_change += 1
        if signed > self.best:
            self.best = signed
            return True
        return False

    @property
    def stopped(self):
        """Whether the rule says to stop now."""
        return self.no_change >= self.n_iter_no_change

    @property
    def epochs_before_stop(self):
        """Fewest epochs that can run before the rule can fire: a chunk of this many
        epochs in one kernel call stops where one call per epoch would."""
        return self.n_iter_no_change - self.no_change
