"""Summaries of a sweep's rows, and the spread, noise and grid-edge rules shared by the
plots, the sweep report and the study.

Every place that shows a standard deviation uses :func:`sample_sd` (``ddof=1``; one
run has no spread, so NaN, not 0), and every sentence that says one mean beats
another goes through :func:`clearly_differs`, so the whole report follows one rule:

**The noise rule.** Two means count as different only when their gap is larger than
twice its standard error, ``2 * sqrt(sd_a**2 / n_a + sd_b**2 / n_b)`` (``n`` the runs
that trained), *and* larger than a floor (:data:`MIN_GAP`: one accuracy point).
When either side has a single run its seed-to-seed noise is unknown, and only the
floor applies.

:func:`summarize` turns a sweep's rows into these summary entries (mean and sample
standard deviation of each measurement per configuration).
"""
import math

import numpy as np

from fastsoftmax.experiments.results import METRIC_COLUMNS, NUMERIC_METRICS, ROW_EXTRAS

#: Accuracy gaps at or below this never count, whatever the spread (one point).
MIN_GAP = 0.01
#: A gap counts when it exceeds this many standard errors of the difference.
STANDARD_ERRORS = 2.0

NOISE_RULE = (f"a difference counts only when it exceeds {STANDARD_ERRORS:g} standard errors of "
              f"the difference of the means (sqrt(sd1²/n1 + sd2²/n2) over seeds) and "
              f"{100 * MIN_GAP:g} accuracy point")


def sample_sd(values):
    """Sample standard deviation (``ddof=1``) of ``values``; NaN for fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def summarize(rows, names):
    """Mean and standard deviation of ``metric`` per configuration of ``names``.

    Returns
    -------
    list of dict
        One per configuration, in first-seen order: the ``names`` values, ``runs``,
        ``diverged``, ``failed`` (a failed run raised on a Dask worker) and ``unstable``
        (:func:`is_unstable`) counts, and
        for each metric (``train_accuracy``, ``val_accuracy``, ``test_accuracy``,
        ``final_loss``, ``zero_fraction``, ``seconds``) its ``<metric>_mean`` and
        ``<metric>_std`` over the runs that neither diverged nor failed (NaN when none).
        The standard deviation is the sample one (``ddof=1``): NaN for a single run,
        which has no spread.
    """
    groups = {}
    for row in rows:
        key = tuple(repr(row[n]) for n in names)
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        entry = {n: members[0][n] for n in names}
        entry["runs"] = len(members)
        entry["diverged"] = sum(bool(m["diverged"]) for m in members)
        entry["failed"] = sum(bool(m.get("error")) and not m["diverged"] for m in members)
        entry["unstable"] = sum(is_unstable(m) for m in members)
        ok = [m for m in members if not m["diverged"] and not m.get("error")]
        for key in NUMERIC_METRICS:
            # start_loss: NaN in rows made before it was recorded
            values = np.array([m[key] if key != "start_loss" else m.get(key, math.nan)
                               for m in ok], dtype=np.float64)
            entry[f"{key}_mean"] = float(values.mean()) if len(values) else math.nan
            entry[f"{key}_std"] = sample_sd(values)
        out.append(entry)
    return out


def is_unstable(row):
    """Whether a run that trained ended with its final loss above its loss before the
    first update (False when either is unknown, e.g. results written before
    ``start_loss`` was recorded)."""
    final, start = row.get("final_loss"), row.get("start_loss")
    if row.get("diverged") or final is None or start is None:
        return False
    return bool(final > start)  # NaN compares False


def trained_runs(entry):
    """Runs of a :func:`summarize` entry that did not diverge."""
    return int(entry["runs"]) - int(entry["diverged"])


def gap_standard_error(a, b, metric="val_accuracy"):
    """Standard error of ``mean(a) - mean(b)`` of two summary entries; NaN when unknown."""
    terms = []
    for entry in (a, b):
        n, sd = trained_runs(entry), entry[f"{metric}_std"]
        if n < 2 or not math.isfinite(sd):
            return math.nan
        terms.append(sd ** 2 / n)
    return math.sqrt(sum(terms))


def clearly_differs(a, b, metric="val_accuracy", min_gap=MIN_GAP):
    """Whether the means of ``metric`` of summary entries ``a`` and ``b`` differ beyond noise.

    See the module's noise rule.  ``False`` when either mean is NaN (all runs diverged).

    Parameters
    ----------
    a, b : dict
        Entries of :func:`summarize` (``runs``,
        ``diverged``, ``<metric>_mean``, ``<metric>_std``).
    metric : str, default="val_accuracy"
    min_gap : float, default=MIN_GAP
        The floor; pass 0 for metrics that are not accuracies.
    """
    gap = a[f"{metric}_mean"] - b[f"{metric}_mean"]
    if not math.isfinite(gap):
        return False
    se = gap_standard_error(a, b, metric)
    bound = max(min_gap, STANDARD_ERRORS * se) if math.isfinite(se) else min_gap
    return abs(gap) > bound


def clearly_better(a, b, metric="val_accuracy", min_gap=MIN_GAP):
    """``a``'s mean is above ``b``'s beyond noise (:func:`clearly_differs`)."""
    return (clearly_differs(a, b, metric, min_gap)
            and a[f"{metric}_mean"] > b[f"{metric}_mean"])


def spread_label(rows, names, swept=None):
    """What the error bars of a :func:`summarize` over ``names`` are a spread over.

    Rows that share the ``names`` values differ by seed and by every other swept
    parameter; the label says so, e.g. ``"mean ± sd over 2 seeds"`` or
    ``"mean ± sd over 8 runs: 1 seed × 8 settings of alpha, lr_schedule"``.  ``""``
    when each point is a single run.

    Parameters
    ----------
    rows : list of dict
        Sweep rows (``seed`` and the parameter values).
    names : list of str
        The parameters the summary groups by.
    swept : list of str, optional
        Every swept parameter (default: the row keys that are not results).
    """
    if not rows:
        return ""
    group = {}
    for row in rows:
        group.setdefault(tuple(repr(row[n]) for n in names), []).append(row)
    size = max(len(g) for g in group.values())
    if size < 2:
        return ""
    seeds = len({row.get("seed") for row in rows})
    if swept is None:
        swept = [k for k in rows[0] if k not in METRIC_COLUMNS + ROW_EXTRAS]
    others = [k for k in swept if k not in names and len({repr(r.get(k)) for r in rows}) > 1]
    if not others:
        return f"mean ± sd over {seeds} seeds"
    settings = max(1, size // max(1, seeds))
    return (f"mean ± sd over {size} runs: {seeds} seed{'s' if seeds > 1 else ''} × "
            f"{settings} settings of {', '.join(others)}")


def seeds_vary(resplit=False):
    """What a sweep's seeds change: with ``resplit`` each seed draws its own validation
    split too; otherwise the seed changes only the minibatch order (the weights start at
    zero), so a spread over seeds is not the spread over data splits."""
    if resplit:
        return "each seed: its own validation split and minibatch order"
    return "seeds vary only the minibatch order, on one validation split"


def grid_edges(best, grid, min_values=3):
    """Numeric parameters whose best value is the lowest or highest of the grid.

    The optimum may then lie outside the grid.  Parameters with fewer than
    ``min_values`` values are skipped (with two values the best is always at an edge).

    Parameters
    ----------
    best : dict
        The best configuration (a summary entry, or any mapping holding the values).
    grid : dict
        Parameter name -> list of values tried.
    min_values : int, default=3

    Returns
    -------
    list of dict
        ``{"param", "value", "side"}`` (``"lowest"`` or ``"highest"``) and
        ``"suggest"``: a value one grid step further out (the grid's ratio on a
        log-spaced grid, its step on an even one).
    """
    edges = []
    for name, values in grid.items():
        if name not in best or len(values) < min_values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue
        ordered = sorted(values)
        value = best[name]
        if value == ordered[0]:
            side, inner, outer = "lowest", ordered[1], ordered[0]
        elif value == ordered[-1]:
            side, inner, outer = "highest", ordered[-2], ordered[-1]
        else:
            continue
        if ordered[0] > 0 and ordered[-1] / ordered[0] >= 20:
            suggest = outer * outer / inner  # one step of the grid's ratio further
        else:
            suggest = outer + (outer - inner)
        if isinstance(value, int):
            suggest = int(round(suggest))
        if side == "lowest" and suggest <= 0:
            suggest = outer / 10 if isinstance(outer, float) else None
        edges.append({"param": name, "value": value, "side": side, "suggest": suggest})
    return edges
