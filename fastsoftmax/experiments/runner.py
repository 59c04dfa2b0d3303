"""The fit of one sweep run, the same locally and on a Dask worker.

:func:`run_one` fits one configuration with one seed and measures it; a run whose loss
becomes non-finite is a row with ``diverged=True`` and NaN scores, and a fit that
raises anything else is a :func:`failed_row` with its ``error``.  Both
:mod:`.sweep` (threads on this machine) and :mod:`.distributed` (a Dask cluster) run
their fits through here, so the rows are the same wherever they run.
"""
import math
import time

import numpy as np

from fastsoftmax.model.classifier import SoftmaxClassifier, TrainingDivergedError
from fastsoftmax.model.metrics import final_loss

#: Most points kept of each loss curve (evenly spaced updates).
MAX_CURVE_POINTS = 2000
#: A failed run's ``error`` keeps at most this many characters (a row's size is bounded).
MAX_ERROR_CHARS = 500


def merge_params(base_params, config):
    """Classifier parameters of one run: ``base_params`` overridden by ``config``.

    Sweeping ``epochs`` drops a base ``n_iter`` and vice versa (they are exclusive).
    """
    params = dict(base_params or {})
    params.pop("random_state", None)
    if "epochs" in config and "n_iter" not in config:
        params["n_iter"] = None
    if "n_iter" in config and "epochs" not in config:
        params["epochs"] = None
    params.update(config)
    return params


def downsample_curve(losses, max_points=MAX_CURVE_POINTS):
    """At most ``max_points`` of a loss curve: ``(updates, losses)``, updates 1-based.

    Longer curves are averaged over consecutive windows, so the noise of single
    minibatches does not alias; the update is each window's last.
    """
    losses = np.asarray(losses, dtype=np.float64)
    n = len(losses)
    if n <= max_points:
        return np.arange(1, n + 1, dtype=np.int64), losses
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    sums = np.add.reduceat(losses, edges[:-1])
    return edges[1:], sums / np.diff(edges)


def run_one(X_train, y_train, X_val, y_val, X_test, y_test, config, base_params=None, seed=0,
            max_curve_points=MAX_CURVE_POINTS):
    """Fit one configuration with one seed and measure it.

    Returns
    -------
    dict
        The ``config`` values, ``seed``, ``diverged``, ``train_accuracy``,
        ``val_accuracy``, ``test_accuracy``, ``final_loss`` (:func:`final_loss`),
        ``start_loss`` (the loss before the first update),
        ``updates_done`` (updates the fit ran), ``seconds`` (fit time),
        ``zero_fraction`` (share of exactly-zero entries of ``coef_``), ``error`` (the
        divergence message, or ``"<Type>: <message>"`` of a fit that raised, else
        ``""``), ``params`` (every classifier parameter) and ``curve``
        (``(updates, losses)`` from :func:`downsample_curve`).  A fit that raises
        anything but ``KeyboardInterrupt``/``SystemExit`` is a :func:`failed_row`.
    """
    params = merge_params(base_params, config)
    start = time.perf_counter()
    try:
        clf = SoftmaxClassifier(random_state=seed, **params)
        clf.fit(X_train, y_train)
    except TrainingDivergedError as exc:
        row = failed_row(config, seed, params, str(exc).split(". ")[0])
        row.update(diverged=True, seconds=time.perf_counter() - start)
        return row
    except Exception as exc:  # noqa: BLE001 - a failed run is a row, as on a Dask worker
        return failed_row(config, seed, params, exc)
    seconds = time.perf_counter() - start
    row = dict(config)
    row.update(
        seed=int(seed),
        diverged=False,
        train_accuracy=float(clf.score(X_train, y_train)),
        val_accuracy=float(clf.score(X_val, y_val)) if len(y_val) else math.nan,
        test_accuracy=float(clf.score(X_test, y_test)) if len(y_test) else math.nan,
        final_loss=final_loss(clf.loss_curve_),
        start_loss=float(clf.loss_curve_[0]) if len(clf.loss_curve_) else math.nan,
        updates_done=int(clf.n_iter_),
        seconds=seconds,
        zero_fraction=float(np.mean(clf.coef_ == 0)),
        error="",
    )
    row["params"] = params
    row["curve"] = downsample_curve(clf.loss_curve_, max_curve_points)
    return row


def failed_row(config, seed, params, error):
    """The row of a run that trained no model: NaN scores, ``updates_done=None``.

    Parameters
    ----------
    config : dict
    seed : int
    params : dict
        Every classifier parameter of the run.
    error : BaseException or str
        An exception becomes ``"<Type>: <first line>"``; a string is kept as it is.
        Either is cut to :data:`MAX_ERROR_CHARS` characters.

    Returns
    -------
    dict
        A row (``diverged=False``; the caller sets it for a divergence).
    """
    if isinstance(error, BaseException):
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        error = f"{type(error).__name__}: {message}" if message else type(error).__name__
    error = str(error)
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS - 3] + "..."
    row = dict(config)
    row.update(seed=int(seed), diverged=False, train_accuracy=math.nan, val_accuracy=math.nan,
               test_accuracy=math.nan, final_loss=math.nan, start_loss=math.nan, updates_done=None,
               seconds=math.nan, zero_fraction=math.nan, error=str(error))
    row["params"] = params
    row["curve"] = (np.empty(0, dtype=np.int64), np.empty(0))
    return row
