"""A sweep's result folder: checked before the work, written and published as a whole.

A folder holds ``results.csv`` and ``results.json`` (one row per run: ``run``, the
swept parameters, then :data:`METRIC_COLUMNS`, with
the configuration and the measurements listed apart in the JSON's
``config_columns``/``metric_columns``), ``curves.npz`` (loss curves) and plots.
:func:`publishing` builds all of it beside the target and renames it into place
(:func:`fastsoftmax.io.atomic.staged_folder`): a kill or a full disk leaves the old
folder or nothing, never a mixed set.  The readers (:func:`read_sweep_results`,
:func:`load_results`) treat every file as untrusted.

This is the bottom of :mod:`fastsoftmax.experiments`: it imports no other module of it.
"""
import contextlib
import csv
import io
import json
import math
import os
import re
import stat

import numpy as np

from fastsoftmax.io import atomic  # atomic.atomic_open looked up per write: tests fill the disk
from fastsoftmax.io.paths import check_name_fits, file_kind, resolve_output
from fastsoftmax.io.untrusted import read_json_file, read_npz

#: Files every sweep folder holds (the plots are optional).
RESULT_FILES = ("results.csv", "results.json", "curves.npz")

#: Columns of ``results.csv`` after the swept parameters: the seed and the measurements.
#: ``updates_done`` is the number of minibatch updates the fit ran (``n_iter_``);
#: empty/null for a run that diverged or failed.  ``start_loss`` is the loss before the
#: first update: a run whose ``final_loss`` ends above it is unstable
#: (:func:`fastsoftmax.experiments.stats.is_unstable`).
METRIC_COLUMNS = ("seed", "diverged", "train_accuracy", "val_accuracy", "test_accuracy",
                  "final_loss", "updates_done", "seconds", "zero_fraction", "error",
                  "start_loss")
#: Row keys that are neither a parameter nor a metric column.
ROW_EXTRAS = ("run", "params", "curve")
#: The measured numbers of a row: null in ``results.json`` is read back as NaN, and
#: :func:`fastsoftmax.experiments.stats.summarize` averages them.
NUMERIC_METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "final_loss",
                   "zero_fraction", "seconds", "start_loss")
#: The study's analyses (:mod:`fastsoftmax.experiments.study`), in report order: each is
#: a sweep in the subfolder of that name of a study's folder.
ANALYSES = ("batch_size", "learning_rate", "n_iter", "l2", "l1")
#: A ``results.json`` larger than this is refused.
MAX_RESULTS_BYTES = 64 << 20


class ResultsFileError(ValueError):
    """A ``results.json`` (or ``curves.npz``, ``study.json``) is malformed or not of the
    shape a sweep writes."""


def check_output_folder(folder, force=False, option="--out", complete=None):
    """Check, before any work, that a sweep can be published at ``folder``.

    ``folder`` is resolved first as the file system will see it
    (:func:`fastsoftmax.io.paths.resolve_output`: symbolic links, ``.`` and ``..``; an
    empty path is refused), and the resolved path is checked and returned: publish
    there, nowhere else.  The folder is not created:
    :func:`~fastsoftmax.io.atomic.staged_folder` builds the results beside it and renames
    them into place as a whole.  A missing or empty folder, or one holding only an
    incomplete set of result files (what an older version left when killed), is fine.
    Leftovers of killed runs beside it are removed.

    Parameters
    ----------
    folder : str or path-like
    force : bool, default=False
        Allow replacing a folder that holds complete results.
    option : str, default="--out"
        Named in the messages.
    complete : callable, optional
        ``complete(folder) -> bool``; default :func:`holds_complete_sweep`.

    Returns
    -------
    str
        The resolved folder.

    Raises
    ------
    ValueError
        ``folder`` is empty, or its name is too long for the file system.
    FileExistsError
        ``folder`` is a file; is the current folder or holds it; holds complete results
        and not ``force``; or holds files that are not results (never removed, even
        with ``force``).
    PermissionError
        No file can be created where the folder is to be published.
    """
    folder = resolve_output(folder, option)
    check_name_fits(folder, option)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        kind = file_kind(os.lstat(folder).st_mode)
        raise FileExistsError(f"{option}: {folder!r} is "
                              f"{'a file' if kind == 'a regular file' else kind}, not a folder")
    _check_not_around_cwd(folder, option)
    parent = os.path.dirname(folder)
    base = atomic.existing_ancestor(parent)
    if not os.path.isdir(base):
        raise FileExistsError(f"{option}: {base!r} is a file, not a folder")
    atomic.check_writable_folder(base, option)
    atomic.remove_stale(folder)
    if not os.path.isdir(folder):
        return folder
    entries = sorted(os.listdir(folder))
    foreign = foreign_entries(folder)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise FileExistsError(
            f"{option}: folder {folder!r} holds files that are not results ({shown}); "
            "results replace the whole folder, so choose another folder (or empty this one)")
    if entries and (complete or holds_complete_sweep)(folder) and not force:
        raise FileExistsError(
            f"{option}: folder {folder!r} already holds results; use --force to replace them "
            "or choose another folder")
    return folder


def _check_not_around_cwd(folder, option):
    """Refuse the current folder or one above it: replacing it would pull the ground
    from under the shell that runs us (and ``-o .`` never means "here, replaced")."""
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        return
    if cwd == folder or cwd.startswith(folder.rstrip(os.sep) + os.sep):
        where = "the current folder" if cwd == folder else "a folder above the current one"
        raise FileExistsError(f"{option}: {folder!r} is {where}; results replace the whole "
                              f"folder, so name a folder inside it (e.g. {option} results)")


#: Names a result folder may hold (besides the plots): what a sweep, a study and
#: ``fastsoftmax report`` write.
RESULT_NAMES = (*RESULT_FILES, "report.md", "report.html", "study.json")
#: The plots :func:`fastsoftmax.experiments.plots.make_plots` draws.
PLOT_NAME_RE = re.compile(r"(?:loss_curves|accuracy|heatmap|zero_fraction|accuracy_\w+)\.png")


def is_result_name(name):
    """Whether ``name`` is something a sweep, a study or a report writes into a folder."""
    return name in RESULT_NAMES or name in ANALYSES or bool(PLOT_NAME_RE.fullmatch(name))


def foreign_entries(folder):
    """What in ``folder`` no sweep, study or report writes, sorted (``sub/name`` inside
    an analysis folder): the files :func:`check_output_folder` never lets be replaced.

    Our files are regular files with our names; an analysis's folder holds our files.
    """
    def ours(path, name, sub_ok):
        mode = os.lstat(path).st_mode
        if sub_ok and name in ANALYSES:
            return stat.S_ISDIR(mode)
        return stat.S_ISREG(mode) and is_result_name(name) and name not in ANALYSES

    foreign = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if not ours(path, entry, True):
            foreign.append(entry)
        elif entry in ANALYSES:
            foreign += [f"{entry}/{e}" for e in sorted(os.listdir(path))
                        if not ours(os.path.join(path, e), e, False)]
    return foreign


def holds_complete_sweep(folder):
    """Whether ``folder`` holds every file of :data:`RESULT_FILES`."""
    return all(os.path.isfile(os.path.join(folder, name)) for name in RESULT_FILES)


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` through a temporary file and a rename."""
    with atomic.atomic_open(path, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def config_columns(rows, grid=None):
    """The swept parameters of a sweep's rows: ``grid``'s names, else the row keys that
    are not :data:`METRIC_COLUMNS` or :data:`ROW_EXTRAS`."""
    if grid:
        names = list(grid)
    else:
        names = [k for k in (rows[0] if rows else {}) if k not in METRIC_COLUMNS + ROW_EXTRAS]
    clash = [n for n in names if n in METRIC_COLUMNS + ROW_EXTRAS]
    if clash:
        raise ValueError(f"parameter {clash[0]!r} has the name of a result column")
    return names


def result_columns(rows, grid=None):
    """CSV columns: ``run``, the swept parameters, then :data:`METRIC_COLUMNS`; each once."""
    return ["run", *config_columns(rows, grid), *METRIC_COLUMNS]


def write_results(rows, folder, grid=None, meta=None):
    """Write ``results.csv``, ``results.json`` and ``curves.npz`` into ``folder``, atomically.

    Each file is rendered in memory and renamed into place, so a reader never sees
    a half-written file (and an interrupted sweep leaves none).

    Parameters
    ----------
    rows : list of dict
        From :func:`~fastsoftmax.experiments.sweep.run_sweep`.
    folder : str or path-like
        Must exist.
    grid : dict, optional
        The swept grid (column order; stored in the JSON).
    meta : dict, optional
        More to store in the JSON (data set, base parameters, repeats, ...).

    Returns
    -------
    dict
        File kind (``csv``, ``json``, ``curves``) -> path.
    """
    columns = result_columns(rows, grid)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_value(row.get(c)) for c in columns])
    paths = {"csv": os.path.join(folder, "results.csv"), "json": os.path.join(folder, "results.json"),
             "curves": os.path.join(folder, "curves.npz")}
    npz = io.BytesIO()
    np.savez_compressed(npz, **stack_curves(rows))
    payload = dict(meta or {})
    payload["grid"] = {k: [_plain(v) for v in vals] for k, vals in (grid or {}).items()}
    payload["columns"] = columns
    payload["config_columns"] = config_columns(rows, grid)
    payload["metric_columns"] = list(METRIC_COLUMNS)
    payload["rows"] = [{k: _plain(v) for k, v in row.items() if k != "curve"}
                       | {"params": {k: _plain(v) for k, v in row.get("params", {}).items()}}
                       for row in rows]
    atomic_write(paths["curves"], npz.getvalue())
    atomic_write(paths["json"], json.dumps(payload, indent=2, default=_plain, allow_nan=False))
    atomic_write(paths["csv"], buffer.getvalue())
    return paths


#: The members of ``curves.npz``: every run's curve in four arrays, however many runs.
CURVE_MEMBERS = ("run", "length", "updates", "loss")


def stack_curves(rows):
    """The loss curves of ``rows`` as the four arrays of ``curves.npz``.

    ``run`` and ``length`` (int64, one per row) give each run's number and the length of
    its curve; ``updates`` (int64) and ``loss`` (float64) hold the curves one after the
    other, in row order.  Four members whatever the number of runs, so the file stays
    within the member bound of the reader (:func:`load_results`).
    """
    pairs = [tuple(row.get("curve", (np.empty(0), np.empty(0)))) for row in rows]
    lengths = np.array([len(updates) for updates, _ in pairs], dtype=np.int64)
    return {
        "run": np.array([row["run"] for row in rows], dtype=np.int64),
        "length": lengths,
        "updates": np.concatenate([np.asarray(u, dtype=np.int64) for u, _ in pairs]
                                  or [np.empty(0, np.int64)]),
        "loss": np.concatenate([np.asarray(v, dtype=np.float64) for _, v in pairs]
                               or [np.empty(0)]),
    }


def _split_curves(data, path):
    """``{run: (updates, losses)}`` of :func:`stack_curves`' arrays, checked."""
    runs, lengths, updates, losses = (data[name] for name in CURVE_MEMBERS)
    if (runs.ndim != 1 or lengths.shape != runs.shape or updates.ndim != 1
            or losses.shape != updates.shape or runs.dtype.kind not in "iu"
            or lengths.dtype.kind not in "iu" or updates.dtype.kind not in "iu"
            or losses.dtype.kind != "f"):
        raise ResultsFileError(f"{path}: the curve arrays do not have the shapes and types "
                               "of one curve per run")
    counts = lengths.tolist()  # Python integers: a hostile sum cannot wrap around
    if any(n < 0 for n in counts) or sum(counts) != len(updates):
        raise ResultsFileError(f"{path}: the curve lengths do not add up to the "
                               f"{len(updates):,} points stored")
    curves, start = {}, 0
    for run, n in zip(runs.tolist(), counts):
        curves[int(run)] = (updates[start:start + n], losses[start:start + n])
        start += n
    return curves


def _csv_value(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return value


#: A ``curves.npz`` whose arrays declare more bytes than this is refused.
MAX_CURVES_BYTES = 1 << 30


def read_sweep_results(folder):
    """Read and check a sweep folder's ``results.json`` for a report.

    The file is bounded in size and nesting depth, and must be an object with a
    ``grid`` (parameter name -> non-empty list of values) and ``rows`` (one object per
    run with each grid parameter, ``diverged`` and numeric or null metrics); the
    optional setup fields must have the types the report prints.  Null metrics become
    NaN.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no ``results.json``.
    ResultsFileError
        The file is too large, not JSON, nested too deep, or of the wrong shape; the
        message names the file and what is wrong.
    """
    path = os.path.join(folder, "results.json")
    if not os.path.exists(path):  # anything but a regular file is refused by the reader
        raise FileNotFoundError(f"{str(folder)!r} holds no sweep results (results.json)")
    payload = read_json_file(path, max_bytes=MAX_RESULTS_BYTES, error=ResultsFileError)
    _check_results(payload, path)
    for row in payload["rows"]:
        for key in NUMERIC_METRICS:
            if row.get(key) is None:
                row[key] = math.nan
    return payload


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_results(payload, path):
    def fail(message):
        raise ResultsFileError(f"{path}: {message}")

    if not isinstance(payload, dict):
        fail(f"a JSON {type(payload).__name__}, expected an object with 'grid' and 'rows'")
    grid, rows = payload.get("grid"), payload.get("rows")
    if not isinstance(grid, dict) or not grid:
        fail("'grid' is not an object of parameter name -> list of values")
    for name, values in grid.items():
        if (not isinstance(values, list) or not values
                or not all(v is None or isinstance(v, (str, int, float)) for v in values)):
            fail(f"grid {name!r} is not a non-empty list of numbers or strings")
    if not isinstance(rows, list) or not rows:
        fail("'rows' is not a non-empty list of runs")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            fail(f"row {i} is a {type(row).__name__}, not an object")
        missing = [key for key in (*grid, "diverged") if key not in row]
        if missing:
            fail(f"row {i} lacks {', '.join(map(repr, missing))}")
        for name in grid:
            if not (row[name] is None or isinstance(row[name], (str, int, float))):
                fail(f"row {i} {name!r} is a {type(row[name]).__name__}")
        if not isinstance(row["diverged"], (bool, int)):
            fail(f"row {i} 'diverged' is not true/false")
        for key in NUMERIC_METRICS:
            value = row.get(key)
            if value is not None and not _is_number(value):
                fail(f"row {i} {key!r} is {type(value).__name__}, expected a number or null")
    for key, types in (("sizes", dict), ("base_params", dict), ("title", str), ("data", str),
                       ("seconds", (int, float)), ("repeats", int)):
        value = payload.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            fail(f"{key!r} is a {type(value).__name__}")


def load_results(folder):
    """Read a sweep folder: ``(payload, curves)``, both checked as untrusted.

    ``payload`` is ``results.json`` as :func:`read_sweep_results`
    checks and returns it (``None`` scores turned back into NaN); ``curves`` maps run
    number -> ``(updates, losses)`` (empty when ``curves.npz`` is absent).  ``curves.npz``
    holds the arrays of :func:`stack_curves`, or (written by fastsoftmax 0.1.0) a pair of
    members ``run<k>_updates``/``run<k>_loss`` per run.

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no ``results.json``.
    ResultsFileError
        ``results.json`` or ``curves.npz`` is malformed (the message names the file).
    """
    payload = read_sweep_results(folder)
    curves = {}
    curve_path = os.path.join(folder, "curves.npz")
    if os.path.exists(curve_path):
        data = read_npz(curve_path, max_bytes=MAX_CURVES_BYTES, error=ResultsFileError)
        # stacked (four members), or one pair of members per run as written before
        stacked = _split_curves(data, curve_path) if set(data) == set(CURVE_MEMBERS) else {}
        for row in payload["rows"]:
            run = row.get("run")
            if not isinstance(run, int) or isinstance(run, bool):
                continue
            updates, losses = stacked.get(run) or (data.get(f"run{run}_updates"),
                                                   data.get(f"run{run}_loss"))
            if updates is None or losses is None:
                continue
            if updates.ndim != 1 or losses.shape != updates.shape:
                raise ResultsFileError(f"{curve_path}: the curve of run {run} has updates of "
                                       f"shape {updates.shape} and losses of shape {losses.shape}")
            curves[run] = (updates, losses)
    return payload, curves


@contextlib.contextmanager
def publishing(folder, force=False, complete=None, option="--out"):
    """Check ``folder`` (:func:`check_output_folder`), yield a hidden sibling folder to
    write into, check again and rename it onto ``folder`` when the block ends.

    ``folder`` is resolved once, by the first check; the same resolved path is checked
    again and published (a symbolic link or ``..`` that changes meanwhile cannot move
    the results onto a folder that was never checked).  If the block raises (a failed
    fit, a full disk, Ctrl-C), the sibling is removed and ``folder`` is untouched; if
    the process is killed, the next run removes it.
    """
    resolved = check_output_folder(folder, force, option, complete)
    with atomic.staged_folder(resolved, replace=True) as stage:
        yield stage
        if check_output_folder(resolved, force, option, complete) != resolved:
            raise FileExistsError(f"{option}: {resolved!r} became a link meanwhile; "
                                  "nothing was replaced")


def moved(paths, old, new):
    """``paths`` (under folder ``old``) as they are once ``old`` is renamed to ``new``."""
    return {k: os.path.join(new, os.path.relpath(p, old)) for k, p in paths.items()}
