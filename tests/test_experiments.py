"""Sweeps, their outputs, reports and the study: against direct fits and file contents."""
import csv
import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.cli import main
from fastsoftmax.data import load_dataset
from fastsoftmax.experiments import (check_output_folder, load_results, parse_grid, parse_value,
                                     prepare_features, run_sweep, summarize, write_report,
                                     write_results)
from fastsoftmax.experiments.plots import make_plots
from fastsoftmax.experiments.report import setup_bullets, sweep_findings
from fastsoftmax.experiments.stats import is_unstable
from fastsoftmax.experiments.study import _analysis_lr, run_study, study_findings, study_plan
from fastsoftmax.experiments.runner import downsample_curve, final_loss

BASE = {"n_iter": 60, "batch_size": 64, "momentum": 0.0, "lr_schedule": "constant"}


pytestmark = pytest.mark.usefixtures("private_data_folder")


@pytest.fixture(scope="module")
def features():
    return prepare_features(load_dataset(None), val_fraction=0.2, seed=0)


def _fit(features, seed, **params):
    return SoftmaxClassifier(random_state=seed, **{**BASE, **params}).fit(
        features["X_train"], features["y_train"])


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize("name, text, expected", [
    ("learning_rate", "1e-3", 0.001),
    ("learning_rate", "0.1", 0.1),
    ("batch_size", "500", 500),
    ("n_iter", "1e3", 1000),
    ("n_iter", "None", None),
    ("penalty", "elasticnet", "elasticnet"),
    ("early_stopping", "true", True),
    ("early_stopping", "False", False),
])
def test_parse_value_converts_by_parameter_rule(name, text, expected):
    value = parse_value(name, text)
    assert value == expected and type(value) is type(expected)


def test_parse_grid_keeps_order_and_accepts_dashes():
    grid = parse_grid(["learning-rate=0.1,1e-3", "penalty=l1,l2"])
    assert grid == {"learning_rate": [0.1, 0.001], "penalty": ["l1", "l2"]}
    assert list(grid) == ["learning_rate", "penalty"]


@pytest.mark.parametrize("specs, message", [
    (["learnig_rate=0.1"], "unknown parameter 'learnig_rate'; did you mean 'learning_rate'"),
    (["random_state=1,2"], "use --repeats"),
    (["batch_size=12.5"], "cannot read '12.5' as an integer"),
    (["learning_rate=fast"], "cannot read 'fast' as a number"),
    (["learning_rate=-1"], "'learning_rate' parameter of SoftmaxClassifier must be a float in the range (0.0, inf)"),
    (["penalty=l3"], "'penalty' parameter of SoftmaxClassifier must be a str among"),
    (["alpha"], "write PARAM=V1,V2"),
    (["alpha=0.1,,0.2"], "empty value"),
    (["alpha=0.1,0.1"], "repeated"),
    (["alpha=0.1", "alpha=0.2"], "given twice"),
    ([], "nothing to sweep"),
])
def test_parse_grid_rejects_bad_input(specs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_grid(specs)


# ---------------------------------------------------------------------- running
def test_rows_equal_direct_fits(features):
    grid = {"learning_rate": [0.5, 0.05], "penalty": ["l2", "l1"]}
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], grid, BASE, repeats=2, n_jobs=2, seed=3)
    assert len(rows) == 8
    assert [(r["learning_rate"], r["penalty"], r["seed"]) for r in rows] == [
        (lr, p, s) for lr in (0.5, 0.05) for p in ("l2", "l1") for s in (3, 4)]
    for row in rows:
        clf = _fit(features, row["seed"], learning_rate=row["learning_rate"], penalty=row["penalty"])
        assert row["val_accuracy"] == clf.score(features["X_val"], features["y_val"])
        assert row["test_accuracy"] == clf.score(features["X_test"], features["y_test"])
        assert row["train_accuracy"] == clf.score(features["X_train"], features["y_train"])
        assert row["zero_fraction"] == np.mean(clf.coef_ == 0)
        assert row["final_loss"] == pytest.approx(clf.loss_curve_[-3:].mean())  # last 5% of 60
        assert row["updates_done"] == 60 and not row["diverged"]


def test_diverging_learning_rate_is_a_row_not_a_crash(features):
    with pytest.raises(ValueError, match="training diverged"):
        _fit(features, 0, learning_rate=1e30)  # independent check that this rate diverges
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], {"learning_rate": [1e30, 0.1]}, BASE,
                     n_jobs=2)
    bad, good = rows
    assert bad["diverged"] and "training diverged" in bad["error"]
    assert all(math.isnan(bad[k]) for k in ("val_accuracy", "test_accuracy", "final_loss"))
    assert not good["diverged"] and good["val_accuracy"] > 0


def test_sweeping_epochs_drops_base_n_iter(features):
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], {"epochs": [1, 2]}, BASE, n_jobs=1)
    per_epoch = math.ceil(len(features["y_train"]) / 64)
    assert [r["updates_done"] for r in rows] == [per_epoch, 2 * per_epoch]


def test_proximal_l1_gives_zeros_the_subgradient_does_not(features):
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"],
                     {"l1_method": ["proximal", "subgradient"]},
                     {**BASE, "penalty": "l1", "alpha": 0.01, "learning_rate": 0.5}, n_jobs=2)
    clf = _fit(features, 0, penalty="l1", alpha=0.01, learning_rate=0.5, l1_method="proximal")
    assert rows[0]["zero_fraction"] == np.mean(clf.coef_ == 0) > 0.1
    assert rows[1]["zero_fraction"] == 0.0


def test_downsample_curve_averages_windows():
    losses = np.arange(10_000, dtype=float)
    updates, means = downsample_curve(losses, 100)
    assert len(updates) == 100 and updates[-1] == 10_000
    assert means[0] == losses[:100].mean()
    assert np.array_equal(downsample_curve(losses[:50])[1], losses[:50])
    assert final_loss(np.arange(19.0)) == 18.0 and final_loss(np.arange(100.0)) == 97.0


# ---------------------------------------------------------------------- files, plots, report
@pytest.fixture(scope="module")
def sweep_folder(features, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    grid = {"learning_rate": [1.0, 0.1], "alpha": [1e-4, 1e-2]}
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                     features["X_test"], features["y_test"], grid, BASE, repeats=2, n_jobs=2)
    write_results(rows, folder, grid, {"data": "digits"})
    return folder, rows


def test_results_files_hold_one_row_per_run(sweep_folder):
    folder, rows = sweep_folder
    with open(folder / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows) == 8
    assert list(table[0])[:4] == ["run", "learning_rate", "alpha", "seed"]
    for line, row in zip(table, rows):
        assert float(line["val_accuracy"]) == row["val_accuracy"]
        assert float(line["learning_rate"]) == row["learning_rate"]
        assert line["diverged"] == "False"
    payload, curves = load_results(folder)
    assert payload["grid"] == {"learning_rate": [1.0, 0.1], "alpha": [1e-4, 1e-2]}
    assert [r["test_accuracy"] for r in payload["rows"]] == [r["test_accuracy"] for r in rows]
    assert np.array_equal(curves[0][1], rows[0]["curve"][1]) and len(curves[0][1]) == 60
    assert not [n for n in os.listdir(folder) if n.startswith(".")]  # no temporary files left


def test_summarize_means_over_seeds(sweep_folder):
    _, rows = sweep_folder
    summary = summarize(rows, ["learning_rate", "alpha"])
    first = [r["val_accuracy"] for r in rows if r["learning_rate"] == 1.0 and r["alpha"] == 1e-4]
    assert summary[0]["runs"] == 2
    assert summary[0]["val_accuracy_mean"] == pytest.approx(np.mean(first))
    assert summary[0]["val_accuracy_std"] == pytest.approx(np.std(first, ddof=1))


def test_plots_and_report(sweep_folder):
    folder, rows = sweep_folder
    paths = make_plots(folder)
    assert set(paths) == {"loss_curves", "accuracy", "heatmap"}
    for path in paths.values():
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    report = write_report(folder)
    markdown = open(report["markdown"], encoding="utf-8").read()
    page = open(report["html"], encoding="utf-8").read()
    assert "![" in markdown and "(heatmap.png)" in markdown
    assert page.count("data:image/png;base64,") == 3 and "heatmap.png" not in page
    best = max(summarize(rows, ["learning_rate", "alpha"]), key=lambda e: e["val_accuracy_mean"])
    assert f"{best['val_accuracy_mean']:.4f}" in markdown


def test_output_folder_with_results_is_refused(sweep_folder, tmp_path):
    folder, _ = sweep_folder
    with pytest.raises(FileExistsError, match="already holds results"):
        check_output_folder(folder)
    check_output_folder(folder, force=True)
    check_output_folder(tmp_path / "new")
    assert not (tmp_path / "new").exists()  # checked, not created: results are published whole


# ---------------------------------------------------------------------- study
def test_study_plan_scales_to_the_data():
    small = study_plan(1000)
    assert small["base"]["batch_size"] == 250
    assert small["base"]["n_iter"] == round(50_000 * 500 / 45_000 * 1000 / 250)
    assert max(small["analyses"]["batch_size"]["grid"]["batch_size"]) <= 500
    big = study_plan(45_000)
    assert big["base"]["batch_size"] == 500 and big["base"]["n_iter"] == 50_000


def test_study_text_comes_from_the_measurements(features, tmp_path):
    plan = study_plan(len(features["y_train"]), n_iter=40)
    plan["analyses"]["learning_rate"]["grid"]["learning_rate"] = [1.0, 0.01]
    plan["analyses"]["l2"]["grid"]["alpha"] = [1e-4, 1.0]
    plan["analyses"]["batch_size"]["grid"]["batch_size"] = [16, 128]
    plan["analyses"]["n_iter"]["grid"]["n_iter"] = [20, 40]
    plan["analyses"]["l1"]["grid"]["alpha"] = [0.01]
    result = run_study(features, str(tmp_path), plan, repeats=1, n_jobs=2, plots=False)
    findings = result["findings"]
    lr_rows = load_results(tmp_path / "learning_rate")[0]["rows"]
    best_const = max((r for r in lr_rows if r["lr_schedule"] == "constant"),
                     key=lambda r: r["val_accuracy"])
    l2_rows = load_results(tmp_path / "l2")[0]["rows"]
    assert all(r["params"]["learning_rate"] == best_const["learning_rate"] for r in l2_rows)
    best_l2 = max(l2_rows, key=lambda r: r["val_accuracy"])
    assert findings["l2"]["numbers"]["best_alpha"] == best_l2["alpha"]
    l1_rows = {r["l1_method"]: r for r in load_results(tmp_path / "l1")[0]["rows"]}
    prox = l1_rows["proximal"]["zero_fraction"]
    assert f"{100 * prox:.1f}% of W exactly zero" in " ".join(findings["l1"]["text"])
    markdown = open(result["report"]["markdown"], encoding="utf-8").read()
    assert "No learning rate up to 1 diverged" in markdown
    assert f"alpha = {best_l2['alpha']:g}" in markdown
    assert study_findings(str(tmp_path)) == findings


# ---------------------------------------------------------------------- CLI
def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_sweep_json_and_refusal(tmp_path, features):
    out = str(tmp_path / "out")
    result = _invoke("-q", "sweep", "learning_rate=0.5,0.05", "--n-iter", "60", "--batch-size", "64",
                     "--momentum", "0", "--lr-schedule", "constant", "--val-fraction", "0.2",
                     "--out", out, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["runs"] == 2 and set(payload["plots"]) == {"loss_curves", "accuracy"}
    clf = _fit(features, 0, learning_rate=0.05)
    assert payload["rows"][1]["val_accuracy"] == clf.score(features["X_val"], features["y_val"])
    assert sorted(os.listdir(out)) == ["accuracy.png", "curves.npz", "loss_curves.png",
                                       "results.csv", "results.json"]
    before = open(os.path.join(out, "results.csv")).read()
    again = _invoke("sweep", "learning_rate=0.5", "--n-iter", "10", "--out", out)
    assert again.exit_code == 2 and "already holds results" in again.output
    assert open(os.path.join(out, "results.csv")).read() == before
    forced = _invoke("-q", "sweep", "learning_rate=0.5", "--n-iter", "10", "--out", out, "--force",
                     "--no-plots", "--json")
    assert forced.exit_code == 0 and json.loads(forced.output)["runs"] == 1
    report = _invoke("report", out, "--json")
    assert report.exit_code == 0
    assert os.path.exists(json.loads(report.output)["html"])


@pytest.mark.parametrize("args, message", [
    (["learnig_rate=0.1"], "unknown parameter 'learnig_rate'"),
    (["batch_size=abc"], "cannot read 'abc' as an integer"),
    (["learning_rate=0.1", "--learning-rate", "0.2"], "learning_rate is both swept and set"),
    (["epochs=2", "n_iter=10"], "not both"),
])
def test_cli_sweep_bad_input(args, message, tmp_path):
    result = _invoke("sweep", *args, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_cli_report_on_a_folder_without_results(tmp_path):
    result = _invoke("report", str(tmp_path))
    assert result.exit_code == 2 and "holds no sweep results" in result.output


def test_cli_study_refuses_a_used_folder(tmp_path):
    (tmp_path / "study.json").write_text("{}")
    for name in ("batch_size", "learning_rate", "n_iter", "l2", "l1"):
        (tmp_path / name).mkdir()
        for file in ("results.csv", "results.json", "curves.npz"):
            (tmp_path / name / file).write_text("x")
    result = _invoke("study", "--out", str(tmp_path))
    assert result.exit_code == 2 and "already holds results" in result.output
    assert (tmp_path / "l2" / "results.csv").read_text() == "x"


def test_help_lists_the_commands():
    result = _invoke("--help")
    assert all(name in result.output for name in ("sweep", "report", "study"))
    for name in ("sweep", "report", "study"):
        assert _invoke(name, "--help").exit_code == 0


def test_sweep_report_says_what_was_held_out_and_the_updates(tmp_path):
    """The setup lists the sweep's validation split (--val-fraction, not the classifier's
    unused early-stopping validation_fraction) and the updates each run made."""
    out = tmp_path / "sw"
    result = CliRunner().invoke(main, ["sweep", "learning_rate=1,0.1", "--n-iter", "120",
                                       "--val-fraction", "0.15", "-o", str(out), "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["report", str(out), "-q"]).exit_code == 0
    setup = (out / "report.md").read_text().split("## Setup")[1].split("##")[0]
    n_val = json.loads((out / "results.json").read_text())["sizes"]["val"]
    assert ("- held out for validation: 15% of the training images, stratified "
            f"(`--val-fraction 0.15`, {n_val} images)\n") in setup
    assert "validation_fraction" not in setup
    assert "- updates per run: 120\n" in setup

    rows = [{"updates_done": 40}, {"updates_done": 1000}, {"updates_done": None}]
    bullets = setup_bullets({"base_params": {"early_stopping": True, "validation_fraction": 0.1},
                             "rows": rows})
    assert "`validation_fraction=0.1`" in bullets[0]  # used by early stopping: listed
    assert bullets[1] == "updates per run: 40 to 1,000"


def _lr_rows(final_at_100):
    rows = []
    for rate in (1.0, 100.0):
        for schedule in ("constant", "step"):
            for seed in (0, 1):
                rows.append({"learning_rate": rate, "lr_schedule": schedule, "seed": seed,
                             "diverged": False, "error": "", "train_accuracy": 0.9,
                             "val_accuracy": 0.9 if rate == 1 else 0.5, "test_accuracy": 0.9,
                             "final_loss": 0.2 if rate == 1 else final_at_100,
                             "start_loss": 2.30, "zero_fraction": 0.0, "seconds": 1.0})
    return rows


def test_a_run_that_ends_above_its_start_is_called_unstable():
    """lr 100 ends at loss 5.71, above its start (2.30): unstable, in the study's text,
    its numbers, the sweep findings and the summary counts; never "did not diverge"."""
    rows = _lr_rows(5.71)
    assert is_unstable(rows[-1]) and not is_unstable(rows[0])
    assert not is_unstable({**rows[-1], "start_loss": math.nan})  # not recorded: unknown
    summary = summarize(rows, ["learning_rate", "lr_schedule"])
    assert [e["unstable"] for e in summary] == [0, 0, 2, 2]
    text, numbers = _analysis_lr(rows, {}, summary, {"n_iter": 100})
    joined = " ".join(text)
    assert numbers["unstable"] == [100.0] and numbers["diverged"] == []
    assert ("Unstable (the final loss ends above the loss before the first update) at learning "
            "rate 100 (100 constant: final loss 5.71 against 2.30 at the start; 100 step: final "
            "loss 5.71 against 2.30 at the start).") in joined
    assert "No learning rate up to" not in joined
    findings = " ".join(sweep_findings(summary, ["learning_rate", "lr_schedule"]))
    assert "Unstable (the final loss ended above the loss before the first update) for " \
           "`learning_rate=100`, `lr_schedule=constant` (2 of 2 runs; final loss 5.710 " \
           "against 2.300 at the start)" in findings
    assert "No run diverged (non-finite loss)." in findings

    stable = summarize(_lr_rows(1.5), ["learning_rate", "lr_schedule"])
    text, numbers = _analysis_lr(_lr_rows(1.5), {}, stable, {"n_iter": 100})
    assert numbers["unstable"] == [] and "No learning rate up to 100 diverged or ended above " \
        "its starting loss on these features." in " ".join(text)
    assert sweep_findings(stable, ["learning_rate"])[-1] == "No run diverged."


def test_sweep_rows_record_the_loss_before_the_first_update(features):
    row = run_sweep(features["X_train"], features["y_train"], features["X_val"], features["y_val"],
                    features["X_test"], features["y_test"], {"learning_rate": [0.1]},
                    base_params=BASE, n_jobs=1)[0]
    clf = _fit(features, 0, learning_rate=0.1)
    assert row["start_loss"] == pytest.approx(clf.loss_curve_[0], rel=1e-6)


def test_resplit_gives_each_seed_its_own_validation_split(tmp_path):
    """--resplit: the run of seed s is the run of a one-seed sweep with --seed s (its
    split drawn with s); without it every seed shares the split of --seed.  Recorded in
    results.json and said in the report."""
    def sweep(out, *extra):
        result = CliRunner().invoke(main, ["sweep", "learning_rate=1,0.1", "--n-iter", "80",
                                           "-o", str(tmp_path / out), "-q", "--no-plots", *extra],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "results.json").read_text())

    def key(row):
        return (row["learning_rate"], row["val_accuracy"], row["final_loss"])

    resplit = sweep("r", "--repeats", "2", "--resplit")
    shared = sweep("s", "--repeats", "2")
    alone = {s: sweep(f"a{s}", "--seed", str(s)) for s in (0, 1)}
    assert resplit["resplit"] is True and shared["resplit"] is False
    assert [(r["run"], r["learning_rate"], r["seed"]) for r in resplit["rows"]] == [
        (0, 1.0, 0), (1, 1.0, 1), (2, 0.1, 0), (3, 0.1, 1)]
    for row in resplit["rows"]:
        assert key(row) == key(next(a for a in alone[row["seed"]]["rows"]
                                    if a["learning_rate"] == row["learning_rate"]))
    seed1 = [key(r) for r in resplit["rows"] if r["seed"] == 1]
    assert seed1 != [key(r) for r in shared["rows"] if r["seed"] == 1]  # another split
    assert CliRunner().invoke(main, ["report", str(tmp_path / "r"), "-q"]).exit_code == 0
    assert "each seed: its own validation split" in (tmp_path / "r" / "report.md").read_text()


def test_study_resplit_runs_each_seed_on_its_own_split(tmp_path):
    """run_study with one feature set per seed: the runs of seed 1 are those of a
    one-seed study on the split drawn with seed 1; resplit is recorded everywhere."""
    dataset = load_dataset(None)
    splits = [prepare_features(dataset, val_fraction=0.2, seed=s) for s in (0, 1)]
    plan = study_plan(len(splits[0]["y_train"]), n_iter=40, learning_rate=0.1)
    both = run_study(splits, str(tmp_path / "both"), plan, repeats=2, n_jobs=1, plots=False)
    alone = run_study(splits[1], str(tmp_path / "one"), plan, repeats=1, n_jobs=1, seed=1,
                      plots=False)
    assert both["findings"] and alone["findings"]
    for name in ("learning_rate", "l2"):
        payload = load_results(tmp_path / "both" / name)[0]
        assert payload["resplit"] is True
        seed1 = [(r["val_accuracy"], r["final_loss"]) for r in payload["rows"] if r["seed"] == 1]
        assert seed1 == [(r["val_accuracy"], r["final_loss"])
                         for r in load_results(tmp_path / "one" / name)[0]["rows"]]
        assert [r["run"] for r in payload["rows"]] == list(range(len(payload["rows"])))
    assert json.loads((tmp_path / "both" / "study.json").read_text())["resplit"] is True
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="2 splits for 3 seeds"):
        run_study(splits, str(tmp_path / "bad"), plan, repeats=3)
    assert sorted(os.listdir(tmp_path)) == before


INTERRUPTED_SWEEP = """
import logging
import sys
import numpy as np
from fastsoftmax.experiments.sweep import run_sweep
logging.disable(logging.CRITICAL)  # a fresh install's notice that a kernel compiles
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 5)).astype(np.float32)
y = rng.integers(0, 3, 200)
def progress(stage, done, total, **info):
    if stage == "sweep" and done == 1:
        raise KeyboardInterrupt
try:
    run_sweep(X, y, X, y, X, y, {"learning_rate": [0.1, 0.01, 0.001, 0.3]},
              {"n_iter": 3000}, repeats=2, n_jobs=2, progress=progress)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
"""


def test_an_interrupted_sweep_stops_its_workers_quietly():
    """Ctrl-C during a sweep stops the worker pool on the way out: nothing of it is left
    for the garbage collector at exit, whose teardown of a half-consumed joblib generator
    prints a warning (or, once the pool's pipes are closed, "Exception ignored" errors)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", INTERRUPTED_SWEEP], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "interrupted\n"
