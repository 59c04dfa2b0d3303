"""Hyperparameter sweeps of :class:`~fastsoftmax.SoftmaxClassifier` on fixed features.

The features (HOG + PCA) are computed once (:func:`prepare_features`); every
configuration of the grid is then fitted on them, ``repeats`` times with different
seeds, in parallel threads (the Numba kernels release the GIL).  A run whose loss
becomes non-finite is a row with ``diverged=True`` and NaN scores, not an error; a fit
that raises anything else is a row with its ``error`` (locally as on a Dask cluster):
each run is :func:`fastsoftmax.experiments.runner.run_one`.

A row keeps the configuration and the measurements apart: its keys are ``run``, the
swept parameters (:data:`SWEEPABLE` names), then :data:`METRIC_COLUMNS`, which share
no name with a parameter (the updates a run did are ``updates_done``, not ``n_iter``,
which is the parameter).  :func:`publish_sweep` writes a sweep's folder as a whole.
"""
import difflib
import itertools
import math
import os
import warnings
from numbers import Integral, Real

import numba
import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split

from fastsoftmax._shared.progress import report, relabel
from fastsoftmax.experiments.distributed import run_on_cluster
from fastsoftmax.experiments.plots import make_plots
from fastsoftmax.experiments.results import (METRIC_COLUMNS, ROW_EXTRAS, moved, publishing,
                                             write_results)
from fastsoftmax.experiments.runner import MAX_CURVE_POINTS, merge_params, run_one
from fastsoftmax.model.classifier import PARAMETER_CONSTRAINTS, SoftmaxClassifier
from fastsoftmax.model.pipeline import ImagePipeline

#: Hyperparameters a sweep may vary (every classifier parameter but the seed, which
#: ``repeats`` varies).
SWEEPABLE = tuple(name for name in PARAMETER_CONSTRAINTS if name != "random_state")

if set(METRIC_COLUMNS + ROW_EXTRAS) & set(SWEEPABLE):  # pragma: no cover - a coding error
    raise ImportError("a sweep metric column has the name of a classifier parameter")

#: Most runs (configurations x repeats) of one sweep, refused up front with its count
#: before any configuration is built.  What a sweep writes must read back within the
#: readers' bounds: a run's curve takes at most ``MAX_CURVE_POINTS`` x 16 bytes (32 KB)
#: of ``curves.npz`` (1 GiB: ``results.MAX_CURVES_BYTES``), its row about 1 KB and at
#: most 3 KB of ``results.json`` (64 MiB: ``results.MAX_RESULTS_BYTES``); 20,000 runs
#: fill at most 640 MB and 60 MB of them.
MAX_RUNS = 20_000


# ---------------------------------------------------------------------- parsing
def parse_value(name, text):
    """Convert one command-line value to the type the classifier's rule for ``name`` needs.

    Parameters
    ----------
    name : str
        A name from :data:`SWEEPABLE`.
    text : str
        ``"0.01"``, ``"1e-3"``, ``"500"``, ``"l2"``, ``"None"``, ``"true"`` ...

    Returns
    -------
    int, float, str, bool or None

    Raises
    ------
    ValueError
        When ``text`` cannot be converted or breaks the parameter's rule.
    """
    constraints = PARAMETER_CONSTRAINTS[name]
    number_types = {getattr(c, "type", None) for c in constraints} & {Integral, Real}
    raw = text.strip()
    if raw.lower() in ("none", "null") and number_types and None in constraints:
        return None
    if Integral in number_types:
        try:
            value = int(raw)
        except ValueError:
            try:
                number = float(raw)  # "1e3" is a fine way to write 1000
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number == int(number)):
                raise ValueError(f"{name}: cannot read {text!r} as an integer") from None
            value = int(number)
    elif Real in number_types:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}: cannot read {text!r} as a number") from None
    elif "boolean" in constraints:
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name}: cannot read {text!r} as true or false")
        value = lowered in ("true", "1", "yes")
    else:
        value = raw
    SoftmaxClassifier(**{name: value}).check_params()  # the classifier's own rule for it
    return value


def parse_grid(specs):
    """Parse ``["learning_rate=0.1,0.01", "penalty=l1,l2"]`` into an ordered grid.

    Parameters
    ----------
    specs : iterable of str
        ``NAME=V1,V2,...``; names are classifier parameters (dashes allowed for
        underscores); values are converted by :func:`parse_value`.

    Returns
    -------
    dict
        Parameter name -> list of values, in the order given.

    Raises
    ------
    ValueError
        An empty grid, a missing ``=``, an unknown or repeated name, an empty or
        repeated value, or a value that cannot be converted.
    """
    grid = {}
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"{spec!r}: write PARAM=V1,V2,... (e.g. learning_rate=0.1,0.01)")
        name, _, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if name not in SWEEPABLE:
            hint = difflib.get_close_matches(name, SWEEPABLE, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; choose from {', '.join(SWEEPABLE)}"
            if name == "random_state":
                extra = "; use --repeats (and --seed) to vary the seed"
            raise ValueError(f"unknown parameter {name!r}{extra}")
        if name in grid:
            raise ValueError(f"parameter {name!r} is given twice")
        texts = [v for v in values.split(",")]
        if not values.strip() or any(not v.strip() for v in texts):
            raise ValueError(f"{name}: empty value in {values!r}")
        parsed = [parse_value(name, v) for v in texts]
        if len(set(map(repr, parsed))) != len(parsed):
            raise ValueError(f"{name}: a value is repeated in {values!r}")
        grid[name] = parsed
    if not grid:
        raise ValueError("nothing to sweep: give at least one PARAM=V1,V2,...")
    return grid


def expand_grid(grid):
    """Every combination of the grid's values, as a list of dicts (last name varies fastest)."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*grid.values())]


def count_runs(grid, repeats=1):
    """Runs of a sweep: the product of the grid's value counts times ``repeats``
    (computed, not expanded)."""
    return math.prod(len(values) for values in grid.values()) * int(repeats)


def check_run_count(grid, repeats=1):
    """Raise ``ValueError`` when the sweep has more than :data:`MAX_RUNS` runs, before
    anything is built (the message gives the count)."""
    configurations = count_runs(grid)
    runs = configurations * int(repeats)
    if runs > MAX_RUNS:
        raise ValueError(f"{runs:,} runs ({_count(configurations, 'configuration')} x "
                         f"{_count(int(repeats), 'repeat')}), more than the {MAX_RUNS:,} a sweep "
                         "may have: sweep fewer values or repeats")


def _count(n, noun):
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def check_grid(grid, base_params):
    """Validate every configuration before any work (e.g. ``n_iter`` and ``epochs`` both
    set); a grid of more than :data:`MAX_RUNS` configurations is refused unexpanded."""
    check_run_count(grid)
    for config in expand_grid(grid):
        try:
            SoftmaxClassifier(**merge_params(base_params, config)).check_params()
        except TypeError as exc:
            raise ValueError(str(exc)) from None


#: Largest seed a run may get (NumPy's legacy generators take 0..2**32-1).
MAX_SEED = 2**32 - 1


def check_seeds(seed, repeats):
    """Raise ``ValueError`` unless ``seed, ..., seed + repeats - 1`` are all valid seeds."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1; got {repeats!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}; got {seed!r}")
    if seed + repeats - 1 > MAX_SEED:
        raise ValueError(f"seeds {seed}..{seed + repeats - 1} go past {MAX_SEED}; "
                         "give a smaller --seed or fewer --repeats")


# ---------------------------------------------------------------------- features
def prepare_features(dataset, val_fraction=0.15, seed=0, pca_variance=0.95, features=None,
                     cache=False, standardize=False, progress=None):
    """Classifier inputs (feature step, standardization, PCA) of a data set, with a
    stratified validation split.

    ``val_fraction`` of the training images (stratified, ``random_state=seed``) are held
    out for validation; the feature step, scaler and PCA are fitted on the remaining training
    part only (:meth:`ImagePipeline.fit_features`); the test set is the data set's test
    split.

    Parameters
    ----------
    dataset : fastsoftmax.data.Dataset
    val_fraction : float, default=0.15
        In (0, 1).
    seed : int, default=0
    pca_variance : float or None, default=0.95
    features : feature step, optional
        Default: :func:`fastsoftmax.features.study_hog` of the image size.
    cache : bool, default=False
        Reuse the training features and PCA from the on-disk cache.
    standardize : bool, default=False
        Standardize the features with the training part's mean and standard deviation.
    progress : callable, optional
        ``progress(stage, done, total, **info)`` (:mod:`fastsoftmax._shared.progress`)
        through ``"features"`` and ``"pca"`` of the training part, then
        ``"validation features"`` and ``"test features"``.

    Returns
    -------
    dict
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (float32 features, int64
        labels), and ``n_image_features`` (features per image before PCA).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction!r}")
    index = np.arange(len(dataset.y_train))
    train_idx, val_idx = train_test_split(index, test_size=val_fraction, random_state=seed,
                                          stratify=dataset.y_train)
    train_idx.sort()
    val_idx.sort()
    pipe = ImagePipeline(features=features, pca_variance=pca_variance, cache=cache,
                         standardize=standardize)
    X_train = pipe.fit_features(np.ascontiguousarray(dataset.X_train[train_idx]),
                                dataset.y_train[train_idx], progress=progress)
    X_val = pipe.transform(dataset.X_train[val_idx],
                           progress=relabel(progress, "validation features"))
    X_test = pipe.transform(dataset.X_test, progress=relabel(progress, "test features"))
    return {
        "X_train": np.ascontiguousarray(X_train, dtype=np.float32),
        "y_train": dataset.y_train[train_idx],
        "X_val": np.ascontiguousarray(X_val, dtype=np.float32),
        "y_val": dataset.y_train[val_idx],
        "X_test": np.ascontiguousarray(X_test, dtype=np.float32),
        "y_test": dataset.y_test,
        "n_image_features": pipe.n_image_features_,
    }


# ---------------------------------------------------------------------- running
def run_sweep(X_train, y_train, X_val, y_val, X_test, y_test, grid, base_params=None,
              repeats=1, n_jobs=2, progress=None, seed=0, max_curve_points=MAX_CURVE_POINTS,
              scheduler=None):
    """Fit every configuration of ``grid`` ``repeats`` times, in parallel.

    Parameters
    ----------
    X_train, y_train, X_val, y_val, X_test, y_test : ndarray
        Features and labels (validation/test may be empty).
    grid : dict
        Parameter name -> list of values (:func:`parse_grid`).
    base_params : dict, optional
        Classifier parameters shared by every run (``random_state`` is ignored).
    repeats : int, default=1
        Seeds per configuration: ``seed, seed + 1, ...``.
    n_jobs : int, default=2
        Runs at once (joblib threads; each run's Numba kernels then use
        ``numba.get_num_threads() // n_jobs`` threads, at least one).
    progress : callable, optional
        ``progress("sweep", done, total, row=row)`` (:mod:`fastsoftmax._shared.progress`)
        after each run, in order (on a cluster: as each run finishes), ``row`` the run's
        row.
    seed : int, default=0
    max_curve_points : int, default=2000
    scheduler : str or fastsoftmax.experiments.distributed.Cluster, optional
        Run the fits on this Dask cluster instead (``n_jobs`` is then ignored); same
        rows as the local run, except that a fit that raises there is a row with its
        ``error`` (see :mod:`fastsoftmax.experiments.distributed`).

    Returns
    -------
    list of dict
        One row per run (see :func:`~fastsoftmax.experiments.runner.run_one`),
        configurations in grid order, seeds within each configuration.
    """
    check_seeds(seed, repeats)
    check_run_count(grid, repeats)
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1; got {n_jobs!r}")
    check_grid(grid, base_params)
    tasks = [(config, seed + k) for config in expand_grid(grid) for k in range(repeats)]
    if scheduler is not None:
        return run_on_cluster(scheduler, (X_train, y_train, X_val, y_val, X_test, y_test), tasks,
                              base_params, max_curve_points, progress)
    threads = max(1, numba.get_num_threads() // n_jobs)

    def task(config, run_seed):
        if n_jobs > 1:
            numba.set_num_threads(threads)  # thread-local: this worker's kernels only
        return run_one(X_train, y_train, X_val, y_val, X_test, y_test, config, base_params,
                       run_seed, max_curve_points)

    rows = []
    results = Parallel(n_jobs=n_jobs, backend="threading", return_as="generator")(
        delayed(task)(config, run_seed) for config, run_seed in tasks)
    try:
        for row in results:
            row["run"] = len(rows)
            rows.append(row)
            report(progress, "sweep", len(rows), len(tasks), row=row)
    finally:
        _stop(results)
    return rows


def _stop(results):
    """Stop a joblib generator's workers now (a no-op once it is consumed).

    On Ctrl-C (SIGTERM, SIGHUP) the generator is left half consumed; closed only by the
    garbage collector at interpreter exit, after its pool's pipes are closed, its
    teardown prints "Exception ignored" errors under the one-line message.  Closing it
    here returns at once (the thread pool does not wait for running tasks) and without
    joblib's warning about the tasks it cancels.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results.close()


def merge_seed_sweeps(per_seed):
    """One sweep's rows from sweeps of one seed each (``--resplit``: a validation split
    per seed): configurations in grid order, seeds within each, ``run`` renumbered.

    Parameters
    ----------
    per_seed : list of list of dict
        The rows of :func:`run_sweep` with ``repeats=1``, one list per seed, each over
        the same grid.
    """
    rows = [dict(row) for config_rows in zip(*per_seed) for row in config_rows]
    for run, row in enumerate(rows):
        row["run"] = run
    return rows


def publish_sweep(rows, folder, grid=None, meta=None, plots=True, force=False):
    """Write a sweep's results (and plots) and publish them at ``folder`` as a whole.

    Everything is written into a hidden sibling folder, which is then renamed onto
    ``folder`` (:func:`fastsoftmax.experiments.results.publishing`): readers,
    ``fastsoftmax report`` and a rerun see the complete set or none of it.  ``folder``
    is checked again (:func:`~fastsoftmax.experiments.results.check_output_folder`)
    just before publishing.

    Parameters
    ----------
    rows : list of dict
        From :func:`run_sweep`.
    folder : str or path-like
    grid, meta : dict, optional
        As in :func:`~fastsoftmax.experiments.results.write_results`.
    plots : bool, default=True
        Draw the plots (:func:`fastsoftmax.experiments.plots.make_plots`).
    force : bool, default=False
        Replace complete results already at ``folder``.

    Returns
    -------
    files : dict
        File kind -> path under ``folder``.
    plot_paths : dict
        Plot name -> path under ``folder``.
    """
    folder = os.fspath(folder)
    with publishing(folder, force) as stage:
        files = write_results(rows, stage, grid, meta)
        plot_paths = make_plots(stage) if plots else {}
    return moved(files, stage, folder), moved(plot_paths, stage, folder)
