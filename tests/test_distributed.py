"""Sweeps and studies on a real Dask cluster (``dask.distributed.LocalCluster``): the same
rows as the local run, a killed worker costs nothing, a bad scheduler is a one-line error.

The cluster tests skip when the optional extra (``pip install ".[distributed]"``) is
not installed; the tests of the lean install run either way.
"""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import load_dataset
from fastsoftmax.experiments import load_results, prepare_features, run_sweep, summarize, write_results

BASE = {"n_iter": 150, "batch_size": 64, "momentum": 0.0, "lr_schedule": "constant"}
SWEEP_ARGS = ["learning_rate=0.5,0.05", "penalty=l2,l1", "--repeats", "2", "--n-iter", "60",
              "--batch-size", "64", "--no-plots", "--json"]


pytestmark = pytest.mark.usefixtures("private_data_folder")


def _local_cluster(**kwargs):
    distributed = pytest.importorskip("distributed")
    # the scheduler's HTTP endpoints on a free port: no dashboard on the shared :8787
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0", **kwargs)


@pytest.fixture(scope="module")
def cluster():
    with _local_cluster() as local:
        yield local


@pytest.fixture(scope="module")
def features():
    return prepare_features(load_dataset(None), val_fraction=0.2, seed=0)


def _arrays(features):
    return [features[k] for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")]


def _invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _same_rows(cluster_rows, local_rows):
    """Every column but the fit time is equal (NaN equal to NaN), and so are the curves."""
    assert len(cluster_rows) == len(local_rows)
    for a, b in zip(cluster_rows, local_rows):
        assert a.keys() == b.keys()
        for key in a:
            if key in ("seconds",):
                continue
            if key == "curve":
                np.testing.assert_array_equal(a[key][0], b[key][0])
                np.testing.assert_array_equal(a[key][1], b[key][1])
            elif isinstance(a[key], float) and math.isnan(a[key]):
                assert math.isnan(b[key]), key
            else:
                assert a[key] == b[key], (key, a[key], b[key])


def _kill_busy_worker(client):
    """SIGKILL the process of a worker that is running a fit now; its keys and address."""
    pids = client.run(os.getpid)
    for _ in range(200):
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if busy:
            break
        time.sleep(0.01)
    worker, keys = next(iter(busy.items()))
    os.kill(pids[worker], signal.SIGKILL)
    return worker, list(keys)


# ---------------------------------------------------------------------- on the cluster
def test_cli_sweep_on_cluster_equals_local_run(cluster, tmp_path):
    on_cluster = _invoke("sweep", *SWEEP_ARGS, "--out", str(tmp_path / "cluster"),
                         "--scheduler", cluster.scheduler_address)
    local = _invoke("sweep", *SWEEP_ARGS, "--out", str(tmp_path / "local"), "--jobs", "2")
    assert on_cluster.exit_code == 0, on_cluster.output
    assert local.exit_code == 0, local.output
    cluster_rows = json.loads(on_cluster.stdout)["rows"]
    local_rows = json.loads(local.stdout)["rows"]
    assert len(cluster_rows) == 8  # 2 x 2 configurations x 2 seeds
    assert [r["run"] for r in cluster_rows] == list(range(8))
    assert _without_seconds(cluster_rows) == _without_seconds(local_rows)
    assert all(r["error"] == "" and 0.5 < r["val_accuracy"] <= 1 for r in cluster_rows)
    # the published files agree too: results.csv less the seconds column, the loss curves
    payload_c, curves_c = load_results(tmp_path / "cluster")
    payload_l, curves_l = load_results(tmp_path / "local")
    assert payload_c["scheduler"] == cluster.scheduler_address
    assert _without_seconds(payload_c["rows"]) == _without_seconds(payload_l["rows"])
    assert curves_c.keys() == curves_l.keys()
    for run in curves_c:
        np.testing.assert_array_equal(curves_c[run][1], curves_l[run][1])


def test_env_variable_names_the_scheduler(cluster, tmp_path):
    result = _invoke("sweep", "learning_rate=0.1", "--n-iter", "30", "--no-plots", "--json",
                     "--out", str(tmp_path / "out"),
                     env={"FASTSOFTMAX_SCHEDULER": cluster.scheduler_address})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == 1
    payload, _ = load_results(tmp_path / "out")
    assert payload["scheduler"] == cluster.scheduler_address


def test_progress_comes_as_fits_finish_and_features_go_once(cluster, features):
    from fastsoftmax.experiments.distributed import connect

    calls = []
    with connect(cluster.scheduler_address) as dask_cluster:
        rows = run_sweep(*_arrays(features), {"learning_rate": [0.3, 0.03, 0.003]}, BASE,
                         repeats=2, scheduler=dask_cluster,
                         progress=lambda stage, done, total, row: calls.append((done, total, row["run"])))
        first = dask_cluster.scatter_features(_arrays(features))
        again = dask_cluster.scatter_features(_arrays(features))
        held = dask_cluster.client.who_has([f.key for f in first])
    local = run_sweep(*_arrays(features), {"learning_rate": [0.3, 0.03, 0.003]}, BASE, repeats=2)
    _same_rows(rows, local)
    assert [c[0] for c in calls] == list(range(1, 7)) and {c[1] for c in calls} == {6}
    assert sorted(c[2] for c in calls) == list(range(6))  # each run reported once
    assert [f.key for f in again] == [f.key for f in first]  # the same arrays: no new copy
    assert all(len(workers) == 2 for workers in held.values())  # on every worker


def test_worker_killed_mid_sweep_costs_only_its_fits(cluster, features):
    from fastsoftmax.experiments.distributed import connect

    grid = {"learning_rate": [0.5, 0.2, 0.05, 0.02], "alpha": [1e-4, 1e-2]}
    params = {**BASE, "n_iter": 6000}  # long enough that a fit is running at the first row
    killed = {}
    with connect(cluster.scheduler_address) as dask_cluster:
        def progress(stage, done, total, row):
            if not killed:
                killed["worker"], killed["keys"] = _kill_busy_worker(dask_cluster.client)

        rows = run_sweep(*_arrays(features), grid, params, scheduler=dask_cluster,
                         progress=progress)
    assert killed["keys"], "no fit was running on the killed worker"
    local = run_sweep(*_arrays(features), grid, params, n_jobs=2)
    assert all(row["error"] == "" for row in rows)
    _same_rows(rows, local)


def test_fit_whose_worker_keeps_dying_is_a_failed_row(features, tmp_path):
    from fastsoftmax.experiments.distributed import connect

    grid = {"learning_rate": [0.5, 0.2, 0.05, 0.02]}
    params = {**BASE, "n_iter": 6000}
    killed = {}
    # allowed_failures=0: the scheduler gives up on a fit the first time its worker dies
    with _local_cluster(scheduler_kwargs={"allowed_failures": 0}) as local_cluster, \
            connect(local_cluster.scheduler_address) as dask_cluster:
        def progress(stage, done, total, row):
            if not killed:
                killed["worker"], killed["keys"] = _kill_busy_worker(dask_cluster.client)

        rows = run_sweep(*_arrays(features), grid, params, scheduler=dask_cluster,
                         progress=progress)
    lost = {int(key.rsplit("-", 1)[1]) for key in killed["keys"]}
    failed = {row["run"] for row in rows if row["error"]}
    assert failed == lost
    for run in failed:
        assert rows[run]["error"].startswith("KilledWorker")
        assert math.isnan(rows[run]["val_accuracy"]) and not rows[run]["diverged"]
    local = run_sweep(*_arrays(features), grid, params)
    _same_rows([r for r in rows if r["run"] not in failed],
               [r for r in local if r["run"] not in failed])
    # a failed row is published and counted, not averaged
    write_results(rows, tmp_path, grid)
    payload, _ = load_results(tmp_path)
    summary = summarize(payload["rows"], ["learning_rate"])
    assert sum(e["failed"] for e in summary) == len(failed)
    for entry in summary:
        assert math.isnan(entry["val_accuracy_mean"]) == (entry["failed"] == entry["runs"])


def test_cli_study_on_cluster_equals_local_run(cluster, tmp_path):
    args = ["study", "--n-iter", "40", "--repeats", "1", "--json"]
    on_cluster = _invoke(*args, "--out", str(tmp_path / "cluster"),
                         "--scheduler", cluster.scheduler_address)
    local = _invoke(*args, "--out", str(tmp_path / "local"))
    assert on_cluster.exit_code == 0, on_cluster.output
    assert local.exit_code == 0, local.output
    assert json.loads(on_cluster.stdout)["findings"] == json.loads(local.stdout)["findings"]
    for name in ("learning_rate", "batch_size", "n_iter", "l2", "l1"):
        rows_c = load_results(tmp_path / "cluster" / name)[0]["rows"]
        rows_l = load_results(tmp_path / "local" / name)[0]["rows"]
        assert _without_seconds(rows_c) == _without_seconds(rows_l)


def test_worker_address_is_not_a_scheduler(cluster, tmp_path):
    worker = next(iter(cluster.scheduler_info["workers"]))
    result = _invoke("sweep", "learning_rate=0.1", "--scheduler", worker,
                     "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {worker} is a Dask worker, not a scheduler (give the address `dask scheduler` prints)"]
    assert not (tmp_path / "out").exists()


def test_cluster_without_workers_is_refused_before_any_work(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0") as empty:
        address = empty.scheduler_address
        result = _invoke("sweep", "learning_rate=0.1", "--scheduler", address,
                         "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: the Dask scheduler at {address} has no workers; start some with "
        f"`dask worker {address}`"]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- errors
def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.perf_counter()
    result = _invoke("sweep", "learning_rate=0.1", "--scheduler", address, "--out", str(tmp_path / "out"))
    seconds = time.perf_counter() - start
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach the Dask scheduler at {address}")
    assert "dask scheduler" in lines[0]
    assert seconds < 10  # the connection is refused: no waiting for the 5 s timeout and more
    assert not (tmp_path / "out").exists()  # nothing done before the check
    study = _invoke("study", "--out", str(tmp_path / "study"), env={"FASTSOFTMAX_SCHEDULER": address})
    assert study.exit_code == 2 and "cannot reach the Dask scheduler" in study.stderr
    assert not (tmp_path / "study").exists()


@pytest.mark.parametrize("address, message", [
    ("localhost", "write tcp://HOST:PORT"),
    ("tcp://127.0.0.1:port", "write tcp://HOST:PORT"),
    ("http://127.0.0.1:8786", "unknown protocol 'http'"),
])
def test_malformed_scheduler_address(address, message, tmp_path):
    result = _invoke("sweep", "learning_rate=0.1", "--scheduler", address, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def _run_python(code, tmp_path):
    env = {**os.environ, "FASTSOFTMAX_DATA": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_scheduler_without_distributed_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from fastsoftmax.cli import main\n"
            "main(['sweep', 'learning_rate=0.1', '--scheduler', 'tcp://127.0.0.1:8786'])")
    result = _run_python(code, tmp_path)
    # a package missing or broken is not bad input (exit 2) but the installation's (exit 1)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: --scheduler needs Dask's distributed package, which "
                               "cannot be imported (import of distributed halted; None in "
                               "sys.modules); install it with: pip install "
                               '"fastsoftmax[distributed]"; fastsoftmax needs '
                               "distributed>=2024.1 (")


def test_local_sweep_imports_no_dask(tmp_path):
    code = ("import sys\n"
            "from fastsoftmax.cli import main\n"
            "try:\n"
            "    main(['-q', 'sweep', 'learning_rate=0.1', '--n-iter', '20', '--no-plots', '--out', 'o'])\n"
            "except SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "o" / "results.csv").exists()  # the sweep did run
