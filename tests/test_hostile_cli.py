"""Hostile use of the command line: every case asserts the exit code, the message, that
no work was done when the input was bad, and that nothing was left half-written.

Groups: sweep rows (configuration apart from measurements), result folders published
whole (in process: failures, a full disk, --force, leftovers), output paths checked
before the work, options validated before the work, error classes and exit codes,
untrusted study files, and kills of real `fastsoftmax` processes (SIGKILL, SIGINT).
"""
import csv
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.io.atomic import remove_stale, staged_folder
from fastsoftmax.cli import main
from fastsoftmax.data import load_dataset
from fastsoftmax.experiments import results as results_module
from fastsoftmax.experiments.results import METRIC_COLUMNS, RESULT_FILES, check_output_folder
from fastsoftmax.experiments.stats import summarize
from fastsoftmax.experiments.study import holds_complete_study, run_study, study_plan
from fastsoftmax.experiments.sweep import SWEEPABLE, prepare_features, publish_sweep, run_sweep

BASE = {"n_iter": 40, "batch_size": 64, "momentum": 0.0, "lr_schedule": "constant"}
INTERNAL = "; please report it; run with -v for the traceback"


pytestmark = pytest.mark.usefixtures("private_data_folder")


#: What the commands' stand-ins for ``load_features`` return as the data set.
DIGITS = types.SimpleNamespace(name="digits", image_shape=(8, 8))


@pytest.fixture(scope="module")
def features():
    return prepare_features(load_dataset(None), val_fraction=0.2, seed=0)


@pytest.fixture
def quick_features(monkeypatch, features):
    """The sweep and study commands get the digits features at once (no HOG, no PCA)."""
    sizes = {"train": len(features["y_train"]), "val": len(features["y_val"]),
             "test": len(features["y_test"]), "features": features["X_train"].shape[1],
             "hog_features": features["n_image_features"]}
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        return DIGITS, features, sizes

    monkeypatch.setattr("fastsoftmax.cli.sweep.load_features", fake)
    monkeypatch.setattr("fastsoftmax.cli.study.load_features", fake)
    return calls


@pytest.fixture
def no_work(monkeypatch):
    """Any data loading fails the test: a case that should stop before the work must not get there."""
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    for target in ("fastsoftmax.cli.sweep.load_features", "fastsoftmax.cli.study.load_features",
                   "fastsoftmax.cli.train.load_data", "fastsoftmax.model.gradcheck.gradcheck_problem",
                   "fastsoftmax.cli.evaluate.load_pipeline", "fastsoftmax.cli.predict.load_pipeline",
                   "fastsoftmax.data.download.download_cifar10", "fastsoftmax.bench.run",
                   "fastsoftmax.bench.check"):
        monkeypatch.setattr(target, forbidden)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _leftovers(path):
    """Hidden siblings of ``path`` that a writer of it made (staged folders, temp files)."""
    folder, name = os.path.split(os.path.abspath(path))
    return sorted(e for e in os.listdir(folder) if e.startswith(f".{name}."))


def _snapshot(folder):
    return {os.path.relpath(os.path.join(root, f), folder): open(os.path.join(root, f), "rb").read()
            for root, _, files in os.walk(folder) for f in files}


def _one_error_line(output):
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    return lines[-1]


# ====================================================================== 1. sweep rows
def test_metric_columns_share_no_name_with_a_parameter():
    assert not set(METRIC_COLUMNS) & set(SWEEPABLE)
    assert "updates_done" in METRIC_COLUMNS and "n_iter" not in METRIC_COLUMNS


def test_n_iter_sweep_keeps_config_and_measurements_apart(features, tmp_path):
    grid = {"n_iter": [20, 40], "learning_rate": [1e6, 0.1]}
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], grid, BASE, n_jobs=2)
    by = {(r["n_iter"], r["learning_rate"]): r for r in rows}
    for n in (20, 40):
        assert by[(n, 1e6)]["diverged"] and by[(n, 1e6)]["updates_done"] is None
        ok = by[(n, 0.1)]
        clf = SoftmaxClassifier(random_state=0, **{**BASE, "n_iter": n, "learning_rate": 0.1})
        clf.fit(features["X_train"], features["y_train"])
        assert ok["updates_done"] == clf.n_iter_ == n
        assert ok["val_accuracy"] == clf.score(features["X_val"], features["y_val"])
    # grouped by the swept value: no phantom n_iter=0 group for the diverged runs
    summary = summarize(rows, ["n_iter"])
    assert [(e["n_iter"], e["runs"], e["diverged"]) for e in summary] == [(20, 2, 1), (40, 2, 1)]
    files, _ = publish_sweep(rows, tmp_path / "out", grid, plots=False)
    with open(files["csv"], newline="") as handle:
        table = list(csv.reader(handle))
    header = table[0]
    assert header == ["run", "n_iter", "learning_rate", *METRIC_COLUMNS]
    assert len(header) == len(set(header))
    n_iter_col, done_col = header.index("n_iter"), header.index("updates_done")
    assert [(r[n_iter_col], r[done_col]) for r in table[1:]] == [
        ("20", ""), ("20", "20"), ("40", ""), ("40", "40")]
    payload = json.loads(open(files["json"]).read())
    assert payload["config_columns"] == ["n_iter", "learning_rate"]
    assert payload["metric_columns"] == list(METRIC_COLUMNS)
    assert [r["n_iter"] for r in payload["rows"]] == [20, 20, 40, 40]


def test_a_fit_that_raises_is_a_failed_row_locally(features):
    one_class = np.zeros_like(features["y_train"])
    rows = run_sweep(features["X_train"], one_class, features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], {"learning_rate": [0.1, 0.01]}, BASE,
                     n_jobs=2)
    with pytest.raises(ValueError) as expected:
        SoftmaxClassifier(**BASE).fit(features["X_train"], one_class)
    first = str(expected.value).splitlines()[0]
    for row in rows:
        assert row["error"] == f"ValueError: {first}"
        assert not row["diverged"] and row["updates_done"] is None
        assert math.isnan(row["val_accuracy"])
    assert [e["failed"] for e in summarize(rows, ["learning_rate"])] == [1, 1]


def test_cli_sweep_reports_failed_runs(monkeypatch, quick_features, features, tmp_path):
    bad = dict(features, y_train=np.zeros_like(features["y_train"]))
    monkeypatch.setattr("fastsoftmax.cli.sweep.load_features",
                        lambda *a, **k: (DIGITS, bad, {"train": 1, "val": 1, "test": 1,
                                                       "features": 1, "hog_features": 1}))
    out = tmp_path / "out"
    result = _invoke("sweep", "learning_rate=0.1", "--n-iter", "20", "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert "failed: 1 of 1 runs (run 0: ValueError:" in result.output
    assert sorted(os.listdir(out)) == sorted(RESULT_FILES)


# ====================================================================== 2. published whole
class DiskFull:
    """Let ``n_ok`` atomic writes through, then fail like a full disk."""

    def __init__(self, n_ok):
        from fastsoftmax.io import atomic as _atomic

        self.n_ok, self.real, self.count = n_ok, _atomic.atomic_open, 0

    def __call__(self, path, mode="wb"):
        self.count += 1
        if self.count > self.n_ok:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return self.real(path, mode)


@pytest.mark.parametrize("n_ok", [0, 1, 2, 3])
def test_full_disk_mid_set_publishes_nothing(monkeypatch, quick_features, tmp_path, n_ok):
    monkeypatch.setattr("fastsoftmax.io.atomic.atomic_open", DiskFull(n_ok))
    out = tmp_path / "out"
    result = _invoke("sweep", "learning_rate=0.5,0.05", "--n-iter", "20", "--out", out)
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert line.startswith("Error: [Errno 28] No space left on device")
    assert not out.exists() and _leftovers(out) == []


def test_full_disk_during_force_keeps_the_old_results(monkeypatch, quick_features, tmp_path):
    out = tmp_path / "out"
    first = _invoke("sweep", "learning_rate=0.5", "--n-iter", "20", "--out", out)
    assert first.exit_code == 0, first.output
    before = _snapshot(out)
    monkeypatch.setattr("fastsoftmax.io.atomic.atomic_open", DiskFull(2))
    again = _invoke("sweep", "learning_rate=0.05", "--n-iter", "20", "--out", out, "--force")
    assert again.exit_code == 2 and "No space left on device" in again.output
    assert _snapshot(out) == before and _leftovers(out) == []


def test_force_replaces_the_folder_as_a_whole(quick_features, tmp_path):
    out = tmp_path / "out"
    assert _invoke("sweep", "learning_rate=0.5,0.05", "--n-iter", "20", "--out", out).exit_code == 0
    assert "accuracy.png" in os.listdir(out)
    again = _invoke("sweep", "alpha=0.001", "--n-iter", "20", "--out", out, "--force", "--no-plots")
    assert again.exit_code == 0, again.output
    assert sorted(os.listdir(out)) == sorted(RESULT_FILES)  # the old plots went with the old set
    assert json.loads((out / "results.json").read_text())["grid"] == {"alpha": [0.001]}
    assert _leftovers(out) == []


def test_a_refused_rerun_leaves_the_results_alone(quick_features, tmp_path):
    out = tmp_path / "out"
    assert _invoke("sweep", "learning_rate=0.5", "--n-iter", "20", "--out", out).exit_code == 0
    before = _snapshot(out)
    quick_features.clear()
    again = _invoke("sweep", "learning_rate=0.05", "--n-iter", "20", "--out", out)
    assert again.exit_code == 2
    assert _one_error_line(again.output) == (
        f"Error: --out: folder {str(out)!r} already holds results; use --force to replace them "
        "or choose another folder")
    assert quick_features == [] and _snapshot(out) == before


def test_a_part_of_a_result_set_is_not_results(quick_features, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("run\n")  # what an older version left when killed
    (out / "loss_curves.png").write_bytes(b"")
    result = _invoke("sweep", "learning_rate=0.5", "--n-iter", "20", "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == sorted(RESULT_FILES)
    assert (out / "results.csv").read_text().startswith("run,learning_rate,seed,")


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_with_other_files_is_never_replaced(quick_features, tmp_path, force):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["--force"] if force else []
    result = _invoke("sweep", "learning_rate=0.5", "--out", out, *args)
    assert result.exit_code == 2
    assert _one_error_line(result.output) == (
        f"Error: --out: folder {str(out)!r} holds files that are not results (notes.txt); "
        "results replace the whole folder, so choose another folder (or empty this one)")
    assert os.listdir(out) == ["notes.txt"] and quick_features == []


def test_leftovers_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f".out.partial-{dead_pid}-0123abcd").mkdir()
        (tmp_path / f".out.partial-{dead_pid}-0123abcd" / "results.csv").write_text("x")
        (tmp_path / f".out.replaced-{dead_pid}-0123abcd").mkdir()
        (tmp_path / f".out.{dead_pid}-k2j3.tmp").write_text("x")
        (tmp_path / f".out.partial-{live.pid}-89abcdef").mkdir()
        (tmp_path / ".other.partial-1-0123abcd").mkdir()
        removed = remove_stale(out)
        assert sorted(removed) == sorted([f".out.partial-{dead_pid}-0123abcd",
                                          f".out.replaced-{dead_pid}-0123abcd",
                                          f".out.{dead_pid}-k2j3.tmp"])
        assert sorted(os.listdir(tmp_path)) == sorted([f".out.partial-{live.pid}-89abcdef",
                                                       ".other.partial-1-0123abcd"])
    finally:
        live.kill()
        live.wait()


def test_staged_folder_removes_its_stage_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with staged_folder(out) as stage:
            open(os.path.join(stage, "results.csv"), "w").close()
            raise RuntimeError("boom")
    assert not out.exists() and _leftovers(out) == []


def test_report_refuses_an_incomplete_sweep_folder(features, tmp_path):
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], {"learning_rate": [0.1]}, BASE, n_jobs=1)
    out = tmp_path / "out"
    publish_sweep(rows, out, {"learning_rate": [0.1]}, plots=False)
    (out / "curves.npz").unlink()
    result = _invoke("report", out)
    assert result.exit_code == 2
    assert _one_error_line(result.output) == (
        f"Error: {str(out)!r} is not a complete sweep folder (no curves.npz); rerun the sweep")
    assert not (out / "report.md").exists() and not (out / "report.html").exists()


def _tiny_plan(features):
    plan = study_plan(len(features["y_train"]), n_iter=20)
    plan["analyses"]["learning_rate"]["grid"] = {"learning_rate": [0.1], "lr_schedule": ["constant"]}
    plan["analyses"]["l2"]["grid"]["alpha"] = [1e-4]
    plan["analyses"]["batch_size"]["grid"]["batch_size"] = [64]
    plan["analyses"]["n_iter"]["grid"]["n_iter"] = [20]
    plan["analyses"]["l1"]["grid"] = {"alpha": [0.01], "l1_method": ["proximal"]}
    return plan


def test_a_study_failing_in_its_third_analysis_publishes_nothing(monkeypatch, features, tmp_path):
    from fastsoftmax.experiments import study as study_module

    calls = []
    real = study_module.run_sweep

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(study_module, "run_sweep", third_fails)
    out = tmp_path / "study"
    with pytest.raises(OSError, match="No space left"):
        run_study(features, out, _tiny_plan(features), repeats=1, n_jobs=1, plots=False)
    assert len(calls) == 3 and not out.exists() and _leftovers(out) == []
    monkeypatch.setattr(study_module, "run_sweep", real)
    result = run_study(features, out, _tiny_plan(features), repeats=1, n_jobs=1, plots=False)
    assert holds_complete_study(out) and _leftovers(out) == []
    assert result["report"]["markdown"] == os.path.join(str(out), "report.md")
    assert os.path.isfile(result["report"]["markdown"])


# ====================================================================== 3. output paths
def _deny_writes(monkeypatch):
    """A folder nobody may write in (root ignores mode bits, so it is simulated)."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)


@pytest.mark.parametrize("args, option", [
    (["sweep", "learning_rate=0.1", "--out", "{d}/out"], "--out"),
    (["study", "--out", "{d}/out"], "--out"),
    (["train", "--model", "{d}/m.npz"], "--model"),
    (["train", "--plot", "{d}/p.png"], "--plot"),
    (["evaluate", "--model", "m.npz", "--plot", "{d}/c.png"], "--plot"),
    (["bench", "--update-baseline", "{d}/b.json"], "--update-baseline"),
    (["data", "download", "--dest", "{d}/cifar"], "--dest"),
])
def test_unwritable_output_is_refused_before_work(monkeypatch, no_work, tmp_path, args, option):
    _deny_writes(monkeypatch)
    result = _invoke(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: {option}: cannot write in folder {str(tmp_path)!r} (Permission denied)")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root may write in a read-only folder")
def test_read_only_folder_is_refused_for_real(no_work, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = _invoke("sweep", "learning_rate=0.1", "--out", locked / "out")
        assert result.exit_code == 2
        assert "cannot write in folder" in _one_error_line(result.output)
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("args, message", [
    (["sweep", "learning_rate=0.1", "--out", "{d}/file"],
     "Error: Invalid value for '-o' / '--out': Directory '{d}/file' is a file."),
    (["study", "--out", "{d}/file"], "Error: Invalid value for '-o' / '--out': Directory '{d}/file' is a file."),
    (["sweep", "learning_rate=0.1", "--out", "{d}/file/sub"], "Error: --out: '{d}/file' is a file, not a folder"),
    (["train", "--model", "{d}/folder"], "Error: Invalid value for '-o' / '--model': File '{d}/folder' is a directory."),
    (["train", "--model", "{d}/missing/m.npz"], "Error: --model: folder '{d}/missing' does not exist"),
    (["train", "--plot", "{d}/p.gif"],
     "Error: cannot write a figure as '.gif' ('{d}/p.gif'); use one of .png, .pdf, .svg"),
])
def test_bad_output_paths_are_refused_before_work(no_work, tmp_path, args, message):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "folder").mkdir()
    result = _invoke(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2
    assert _one_error_line(result.output).startswith(message.format(d=tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"]
    assert (tmp_path / "file").read_text() == "keep"


def test_stale_temp_files_of_a_model_path_are_removed(tmp_path):
    from fastsoftmax.cli.paths import output_file

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    stray = tmp_path / f".m.npz.{dead}-abc123.tmp"
    stray.write_bytes(b"half a model")
    output_file(str(tmp_path / "m.npz"), "--model", force=False)
    assert os.listdir(tmp_path) == []


# ====================================================================== 4. validation before work
@pytest.mark.parametrize("args, message", [
    (["study", "--learning-rate", "nan"], "Invalid value for '--learning-rate' / '--lr': 'nan' is not a finite number."),
    (["study", "--learning-rate", "inf"], "Invalid value for '--learning-rate' / '--lr': 'inf' is not a finite number."),
    (["study", "--learning-rate", "0"], "Invalid value for '--learning-rate' / '--lr': 0.0 is not in the range x>0."),
    (["study", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295."),
    (["study", "--seed", "4294967296"], "Invalid value for '--seed': 4294967296 is not in the range 0<=x<=4294967295."),
    (["study", "--seed", "4294967295", "--repeats", "2"],
     "seeds 4294967295..4294967296 go past 4294967295; give a smaller --seed or fewer --repeats"),
    (["study", "--val-fraction", "nan"], "Invalid value for '--val-fraction': 'nan' is not a finite number."),
    (["study", "--pca-variance", "nan"], "Invalid value for '--pca-variance': 'nan' is not a finite number."),
    (["study", "--n-iter", "10000000000000"], "The 'n_iter' parameter of SoftmaxClassifier must be an int in the range [1, 4294967296]"),
    (["train", "--epochs", "4294967297"], "The 'epochs' parameter of SoftmaxClassifier must be an int in the range [1, 4294967296]"),
    (["study", "--jobs", "0"], "Invalid value for '-j' / '--jobs': 0 is not in the range 1<=x<=256."),
    (["sweep", "learning_rate=0.1", "--jobs", "100000"], "Invalid value for '-j' / '--jobs': 100000 is not in the range 1<=x<=256."),
    (["sweep", "learning_rate=nan"], "The 'learning_rate' parameter of SoftmaxClassifier must be"),
    (["sweep", "learning_rate=0.1", "--seed", "-1"], "Invalid value for '--seed'"),
    (["sweep", "learning_rate=0.1", "--repeats", "3", "--seed", "4294967294"],
     "seeds 4294967294..4294967296 go past 4294967295"),
    (["sweep", "learning_rate=0.1", "--alpha", "inf"], "The 'alpha' parameter of SoftmaxClassifier must be"),
    (["train", "--learning-rate", "nan"], "The 'learning_rate' parameter of SoftmaxClassifier must be"),
    (["train", "--momentum", "nan"], "The 'momentum' parameter of SoftmaxClassifier must be"),
    (["train", "--l1-ratio", "inf"], "The 'l1_ratio' parameter of SoftmaxClassifier must be"),
    (["train", "--dpi", "nan"], "Invalid value for '--dpi': 'nan' is not a finite number."),
    (["train", "--pca-variance", "inf"], "Invalid value for '--pca-variance': inf is not in the range 0<x<=1."),
    (["train", "--seed", "-5"], "Invalid value for '--seed'"),
    (["gradcheck", "--sparse", "1000000000"],
     "--sparse 1000000000 is more than 100,000 coordinates; the full check already covers every entry"),
    (["gradcheck", "--h", "nan"], "Invalid value for '--h': 'nan' is not a finite number."),
    (["gradcheck", "--alpha", "inf"], "Invalid value for '--alpha': 'inf' is not a finite number."),
    (["gradcheck", "--l1-ratio", "2"], "Invalid value for '--l1-ratio': 2.0 is not in the range 0<=x<=1."),
    (["gradcheck", "--threshold", "nan"], "Invalid value for '--threshold': 'nan' is not a finite number."),
    (["evaluate", "--model", "m.npz", "--dpi", "inf"], "Invalid value for '--dpi': inf is not in the range 1<=x<=2400."),
    (["evaluate", "--model", "m.npz", "--dpi", "nan"], "Invalid value for '--dpi': 'nan' is not a finite number."),
    (["predict", "--model", "m.npz", "--top-k", "0", "x.png"], "Invalid value for '--top-k': 0 is not in the range x>=1."),
    (["bench", "--fraction", "nan"], "Invalid value for '--fraction': 'nan' is not a finite number."),
])
def test_options_are_checked_before_any_work(no_work, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in _one_error_line(result.output)
    assert os.listdir(tmp_path) == []  # no half folder, no results


def test_gradcheck_sparse_library_check_is_before_allocation():
    from fastsoftmax.model.gradcheck import check_gradient_sparse

    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
    X, y = rng.standard_normal((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"k = 1000000000 coordinates is more than 100,000"):
        check_gradient_sparse(W.T, b, X, y, k=10**9)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        check_gradient_sparse(W.T, b, X, y, k=2.5)


def test_too_many_updates_are_refused_before_training(features):
    from fastsoftmax.model.classifier import MAX_UPDATES

    clf = SoftmaxClassifier(epochs=MAX_UPDATES, batch_size=64)
    with pytest.raises(ValueError, match="updates, more than the 4,294,967,296 one fit may run; give fewer epochs"):
        clf.fit(features["X_train"], features["y_train"])
    assert not hasattr(clf, "n_iter_")


# ====================================================================== 5. errors and exit codes
@pytest.mark.parametrize("exc", [KeyError("rows"), TypeError("unsupported operand"),
                                 AttributeError("'NoneType' object has no attribute 'x'"),
                                 IndexError("list index out of range"), AssertionError("bad state"),
                                 RuntimeError("odd"), ZeroDivisionError("division by zero")])
def test_a_bug_is_an_internal_error_exit_1(monkeypatch, tmp_path, exc):
    def buggy(*args, **kwargs):
        raise exc

    monkeypatch.setattr("fastsoftmax.experiments.report.write_report", buggy)
    result = _invoke("report", tmp_path)
    assert result.exit_code == 1
    assert _one_error_line(result.output) == (
        f"Error: internal error: {type(exc).__name__}: {str(exc)}{INTERNAL}")


def test_verbose_shows_the_traceback_of_a_bug(monkeypatch, tmp_path):
    def buggy(*args, **kwargs):
        return {}["rows"]

    monkeypatch.setattr("fastsoftmax.experiments.report.write_report", buggy)
    result = _invoke("-v", "report", tmp_path)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output and "in buggy" in result.output
    assert result.output.rstrip().splitlines()[-1] == f"Error: internal error: KeyError: 'rows'{INTERNAL}"


@pytest.mark.parametrize("exc, line", [
    (ValueError("bad value"), "Error: bad value"),
    (FileNotFoundError("no such file: x"), "Error: no such file: x"),
    (FileExistsError("already there"), "Error: already there"),
    (PermissionError(errno.EACCES, "Permission denied", "x"), "Error: [Errno 13] Permission denied: 'x'"),
    (ConnectionError("cannot reach the Dask scheduler"), "Error: cannot reach the Dask scheduler"),
    (MemoryError(), "Error: out of memory: the input is too large for this machine"),
    (ValueError("first line\nsecond line"), "Error: first line"),
])
def test_user_errors_are_one_line_exit_2(monkeypatch, tmp_path, exc, line):
    def failing(*args, **kwargs):
        raise exc

    monkeypatch.setattr("fastsoftmax.experiments.report.write_report", failing)
    result = _invoke("report", tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == line


def test_model_file_error_is_a_user_error(tmp_path):
    from fastsoftmax.io.model_file import ModelFileError

    assert issubclass(ModelFileError, ValueError)
    bad = tmp_path / "m.npz"
    bad.write_bytes(b"not a zip")
    result = _invoke("predict", "--model", bad, bad)
    assert result.exit_code == 2 and str(bad) in _one_error_line(result.output)


def test_ctrl_c_in_process_is_exit_130_and_nothing_published(monkeypatch, quick_features, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("fastsoftmax.experiments.sweep.run_sweep", interrupted)
    out = tmp_path / "out"
    result = _invoke("-q", "sweep", "learning_rate=0.1", "--out", out)
    assert result.exit_code == 130
    assert result.output.strip() == "Aborted."
    assert not out.exists() and _leftovers(out) == []


# ====================================================================== 6. untrusted study files
def _study_folder(tmp_path, study):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.json").write_text(study if isinstance(study, str) else json.dumps(study))
    return folder


@pytest.mark.parametrize("study, message", [
    ("[1, 2]", "a JSON list, expected an object with 'plan' and 'repeats'"),
    ("{", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ({"plan": {"base": {}}, "repeats": 1}, "'plan' has no 'analyses' object"),
    ({"plan": {"base": {}, "analyses": {}}, "repeats": 1}, "analysis 'batch_size' is missing or has no title"),
    ({"plan": "x", "repeats": 1}, "'plan' is not an object with a 'base' object"),
])
def test_report_on_a_malformed_study_json(tmp_path, study, message):
    folder = _study_folder(tmp_path, study)
    result = _invoke("report", folder)
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert line.startswith(f"Error: {folder / 'study.json'}: ") and message in line


def test_report_on_a_study_with_a_corrupt_curves_file(features, tmp_path):
    out = tmp_path / "study"
    run_study(features, out, _tiny_plan(features), repeats=1, n_jobs=1, plots=False)
    (out / "l2" / "curves.npz").write_bytes(b"PK\x03\x04 not really a zip")
    result = _invoke("report", out, "--force")
    assert result.exit_code == 2
    assert _one_error_line(result.output).startswith(
        f"Error: {out / 'l2' / 'curves.npz'}: not a readable .npz archive")


def test_report_on_a_study_analysis_of_the_wrong_shape(features, tmp_path):
    out = tmp_path / "study"
    run_study(features, out, _tiny_plan(features), repeats=1, n_jobs=1, plots=False)
    path = out / "n_iter" / "results.json"
    payload = json.loads(path.read_text())
    payload["grid"] = {"alpha": [1.0]}
    for row in payload["rows"]:
        row["alpha"] = 1.0
        del row["n_iter"]
    path.write_text(json.dumps(payload))
    result = _invoke("report", out, "--force")
    assert result.exit_code == 2
    assert _one_error_line(result.output).startswith(
        f"Error: {path}: not the results of the study's 'n_iter' analysis (KeyError: 'n_iter')")


# ====================================================================== 7. kills
def _default_signals():
    """The child starts with the default INT and HUP handlers, as from a terminal, even
    when the tests run in the background (INT ignored) or under nohup (HUP ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-c", "from fastsoftmax.cli import main; main()", *args], cwd=cwd,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_signals)


def _wait_for(predicate, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before the moment: "
                                 f"{proc.communicate()}")
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("timed out waiting for the moment to kill")


def _stage(tmp_path, name="out"):
    def find():
        found = [e for e in os.listdir(tmp_path) if e.startswith(f".{name}.partial-")]
        return os.path.join(tmp_path, found[0]) if found else None
    return find


KILL_SWEEP = ["-q", "sweep", "learning_rate=0.1,0.05,0.02", "--n-iter", "1500", "--jobs", "1",
              "--no-cache", "--out", "out"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigkill_mid_write_then_rerun_completes_without_force(tmp_path):
    proc = _start(KILL_SWEEP, tmp_path)
    stage = _wait_for(_stage(tmp_path), proc)
    # the moment between the result files and the plots: a mixed set exists, in the stage
    _wait_for(lambda: os.path.exists(os.path.join(stage, "results.json")), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "out").exists()
    assert os.path.isdir(stage)  # a SIGKILL cannot be cleaned up after ...
    rerun = subprocess.run([sys.executable, "-c", "from fastsoftmax.cli import main; main()",
                            *KILL_SWEEP], cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert not os.path.exists(stage)  # ... the next run removes it
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == sorted([*RESULT_FILES, "accuracy.png", "loss_curves.png"])
    assert len(json.loads((out / "results.json").read_text())["rows"]) == 3
    assert _leftovers(out) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigkill_during_a_forced_rerun_keeps_the_old_results(tmp_path, features):
    out = tmp_path / "out"
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], {"learning_rate": [0.3]}, BASE, n_jobs=1)
    publish_sweep(rows, out, {"learning_rate": [0.3]}, plots=False)
    before = _snapshot(out)
    proc = _start([*KILL_SWEEP, "--force"], tmp_path)
    _wait_for(_stage(tmp_path), proc)
    time.sleep(0.5)  # into the work
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert _snapshot(out) == before
    assert check_output_folder(out, force=True) == str(out)  # and a forced rerun is not blocked
    assert _leftovers(out) == []  # the check removed the dead run's stage


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("delay", [0.02, 0.6])
def test_sigint_is_exit_130_and_leaves_nothing(tmp_path, delay):
    proc = _start(KILL_SWEEP, tmp_path)
    _wait_for(_stage(tmp_path), proc)
    time.sleep(delay)  # in the features, in Numba's compiler (a ctypes callback), in a fit
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    seen = f"rc {proc.returncode}; stderr: {stderr!r}; folder: {os.listdir(tmp_path)}"
    assert proc.returncode == 130, seen
    assert stderr.strip().splitlines()[-1] == "Aborted." and "Traceback" not in stderr, seen
    assert os.listdir(tmp_path) == [], seen  # no results, no stage


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigkill_during_a_study_publishes_nothing(tmp_path):
    args = ["-q", "study", "--repeats", "1", "--n-iter", "40", "--no-cache", "--out", "study"]
    proc = _start(args, tmp_path)
    stage = _wait_for(_stage(tmp_path, "study"), proc)
    # two analyses written into the stage, three to go
    _wait_for(lambda: os.path.exists(os.path.join(stage, "batch_size", "results.json")), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (tmp_path / "study").exists()
    assert os.path.exists(os.path.join(stage, "learning_rate", "results.json"))
    from fastsoftmax.experiments.study import check_study_folder

    check_study_folder(tmp_path / "study")  # a rerun is not blocked, and the stage is gone
    assert _leftovers(tmp_path / "study") == []
