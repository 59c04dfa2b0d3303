"""The benchmark registry, the baseline comparison and the speed gate (fast: tiny sizes)."""
import json
import statistics
import time

import pytest
from click.testing import CliRunner

from fastsoftmax import bench
from fastsoftmax.cli import main


# --------------------------------------------------------------------------- comparison logic


def test_compare_flags_ratio_below_fraction_and_names_it():
    baseline = {"ratios": {"hog": 100.0, "sgd_loop": 3.0, "gradcheck": 50.0}}
    results = {"hog": {"speedup": 59.9}, "sgd_loop": {"speedup": 1.81}, "gradcheck": 29.0}
    failures = bench.compare_to_baseline(results, baseline, fraction=0.6)
    assert [f.name for f in failures] == ["hog", "gradcheck"]
    assert "hog" in failures[0].message and "60%" in failures[0].message
    assert "100.00x" in failures[0].message


def test_compare_ignores_skipped_and_unknown_kernels():
    baseline = {"ratios": {"hog": 100.0, "hog_opencv": 3.0}}
    results = {"hog": {"speedup": 100.0}, "hog_opencv": {"status": "skipped"},
               "new_kernel": {"speedup": 0.1}}
    assert bench.compare_to_baseline(results, baseline) == []
    assert bench.not_compared(results, baseline) == (["hog_opencv"], ["new_kernel"])


@pytest.mark.parametrize("bad", [{"ratios": {"hog": -1}}, {"ratios": {"hog": "fast"}},
                                 {"ratios": []}])
def test_bad_baseline_is_rejected(bad):
    with pytest.raises(ValueError, match="ratio|ratios"):
        bench.compare_to_baseline({}, bad)


def test_fraction_must_be_in_range():
    with pytest.raises(ValueError, match="fraction"):
        bench.compare_to_baseline({}, {"ratios": {}}, fraction=1.5)


def test_unknown_case_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown benchmark 'nope'.*softmax_loss_grad"):
        bench.get_case("nope")


def test_every_case_has_all_sizes():
    for case in bench.CASES:
        assert set(case.rounds) == set(bench.SIZES), case.name
        if case.shares_fast_with:
            assert bench.get_case(case.shares_fast_with).group == case.group


# --------------------------------------------------------------------------- real measurements


def test_measure_returns_medians_and_ratio():
    result = bench.measure(bench.get_case("softmax_loss_grad"), "tiny", rounds=3)
    assert result["status"] == "ok"
    assert len(result["fast_samples_s"]) == len(result["reference_samples_s"]) == 3
    expected = result["reference_median_s"] / result["fast_median_s"]
    assert result["speedup"] == pytest.approx(expected)


def _slowed(case, seconds):
    """The same case, its fast callable slowed by ``seconds`` a call."""

    def setup(size):
        pair = case.setup(size)
        fast = pair.fast

        def slow_fast():
            time.sleep(seconds)
            return fast()

        pair.fast = slow_fast
        return pair

    return bench.Case(case.name, case.group, case.description, setup, case.rounds)


def test_slowed_kernel_trips_the_gate():
    case = bench.get_case("softmax_loss_grad")
    reference = bench.measure(case, "tiny", rounds=3)
    # The slowed kernel takes >= 20x the reference's time, so its speed-up is <= 0.05,
    # far below 60% of a baseline of 1.  (This machine's own ratio is not used as the
    # baseline: one stalled thread during that measurement could make it tiny.)
    baseline = {"size": "tiny", "ratios": {case.name: 1.0}}
    slow_by = 20 * reference["reference_median_s"] + 2e-3
    results, failures = bench.check(baseline, cases=[_slowed(case, slow_by)], pause=0.0)
    assert [f.name for f in failures] == ["softmax_loss_grad"], results["softmax_loss_grad"]
    # measured GATE_ATTEMPTS (4) times before failing; the best measurement is kept
    result = results["softmax_loss_grad"]
    assert len(result["earlier_speedups"]) == 3
    assert result["speedup"] >= max(result["earlier_speedups"])


def test_a_kernel_that_recovers_passes_the_gate(monkeypatch):
    """Two measurements below the gate, then one above: the gate passes on the third."""
    from fastsoftmax.bench import gate

    speedups = iter([0.5, 0.55, 0.9])
    measured = []

    def fake_measure(case, size, progress=None):
        measured.append(case.name)
        return {"name": case.name, "status": "ok", "speedup": next(speedups)}

    def fake_run(size, cases, progress=None):
        return {case.name: fake_measure(case, size) for case in cases}

    monkeypatch.setattr(gate, "run", fake_run)
    monkeypatch.setattr(gate, "measure", fake_measure)
    case = bench.get_case("softmax_loss_grad")
    baseline = {"size": "tiny", "ratios": {case.name: 1.0}}
    results, failures = bench.check(baseline, cases=[case], pause=0.0)
    assert failures == [] and measured == [case.name] * 3
    assert results[case.name]["speedup"] == 0.9
    assert results[case.name]["earlier_speedups"] == [0.5, 0.55]
    # with a single attempt, the first measurement decides
    speedups, measured[:] = iter([0.5, 0.9]), []
    results, failures = bench.check(baseline, cases=[case], attempts=1)
    assert [f.name for f in failures] == [case.name] and measured == [case.name]


def test_the_gate_waits_longer_before_each_further_measurement(monkeypatch):
    """A kernel below the gate every time: measured GATE_ATTEMPTS times, after waits of
    pause, 2 * pause, 4 * pause seconds, then it fails."""
    from fastsoftmax.bench import gate

    waits = []
    monkeypatch.setattr(gate.time, "sleep", waits.append)
    monkeypatch.setattr(gate, "measure", lambda case, size, progress=None:
                        {"name": case.name, "status": "ok", "speedup": 0.5})
    monkeypatch.setattr(gate, "run", lambda size, cases, progress=None:
                        {case.name: {"name": case.name, "status": "ok", "speedup": 0.4}
                         for case in cases})
    case = bench.get_case("softmax_loss_grad")
    baseline = {"size": "tiny", "ratios": {case.name: 1.0}}
    results, failures = bench.check(baseline, cases=[case], pause=10.0)
    assert waits == [10.0, 20.0, 40.0] and gate.GATE_ATTEMPTS == 4
    assert [f.name for f in failures] == [case.name]
    assert results[case.name]["speedup"] == 0.5
    assert results[case.name]["earlier_speedups"] == [0.4, 0.5, 0.5]


def test_unslowed_kernel_passes_the_gate():
    case = bench.get_case("gradcheck")  # a wide margin (about 40x at tiny sizes)
    reference = bench.measure(case, "tiny", rounds=3)
    baseline = {"size": "tiny", "ratios": {case.name: reference["speedup"]}}
    results, failures = bench.check(baseline, cases=[case], fraction=0.3)
    assert failures == [], [str(f) for f in failures]


def test_skipped_case_is_reported_not_failed():
    def setup(size):
        raise bench.BenchSkip("optional package absent")

    case = bench.Case("absent", "absent", "", setup, {s: 1 for s in bench.SIZES})
    result = bench.measure(case, "tiny")
    assert result["status"] == "skipped" and "absent" in result["reason"]


# --------------------------------------------------------------------------- baseline file


def test_baseline_round_trip(tmp_path):
    results = {"hog": {"status": "ok", "speedup": 81.23456, "fast_median_s": 1e-3,
                       "reference_median_s": 8e-2},
               "hog_opencv": {"status": "skipped", "reason": "cv2 absent"}}
    path = tmp_path / "baseline.json"
    bench.write_json_atomic(path, bench.make_baseline(results, "quick"))
    loaded = bench.load_baseline(path)
    assert loaded["ratios"] == {"hog": 81.235}
    assert loaded["size"] == "quick" and loaded["date"] and loaded["cpus"]
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]  # no temporary left


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text('{"ratios": {"hog": 1.0}}')
    with pytest.raises(TypeError):
        bench.write_json_atomic(path, {"ratios": {"hog": object()}})
    assert json.loads(path.read_text()) == {"ratios": {"hog": 1.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]


def test_committed_baseline_names_known_cases():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline.json"
    if not path.exists():
        pytest.skip("no committed baseline in this checkout")
    baseline = bench.load_baseline(path)
    assert set(bench.baseline_ratios(baseline)) <= set(bench.case_names())
    assert baseline["size"] in bench.SIZES


# --------------------------------------------------------------------------- CLI


def _invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_bench_json():
    result = _invoke("bench", "--size", "tiny", "--only", "softmax_loss_grad", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    entry = payload["results"]["softmax_loss_grad"]
    assert entry["status"] == "ok"
    # the reported figures are the medians of the reported samples and their ratio
    assert entry["fast_median_s"] == statistics.median(entry["fast_samples_s"])
    assert entry["reference_median_s"] == statistics.median(entry["reference_samples_s"])
    assert entry["speedup"] == pytest.approx(entry["reference_median_s"] / entry["fast_median_s"])
    assert payload["size"] == "tiny"


def test_cli_bench_table_and_update_baseline(tmp_path):
    path = tmp_path / "base.json"
    result = _invoke("-q", "bench", "--size", "tiny", "--only", "gradcheck",
                     "--update-baseline", str(path))
    assert result.exit_code == 0, result.output
    assert "gradcheck" in result.stdout and "speed-up" in result.stdout
    assert "gradcheck" in bench.load_baseline(path)["ratios"]


def test_cli_check_fails_naming_the_kernel(tmp_path, monkeypatch):
    from fastsoftmax.bench import gate

    # the gate's pauses between measurements are recorded instead of slept; the timing's
    # short cool-downs still sleep
    waits, sleep = [], time.sleep
    monkeypatch.setattr(gate.time, "sleep", lambda seconds: waits.append(seconds)
                        if seconds >= gate.GATE_PAUSE_SECONDS else sleep(seconds))
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"size": "tiny", "ratios": {"softmax_loss_grad": 1e6}}))
    result = _invoke("-q", "bench", "--check", str(path))
    assert result.exit_code == 1
    assert "speed gate: softmax_loss_grad" in result.stderr
    assert waits == [gate.GATE_PAUSE_SECONDS * 2 ** k for k in range(gate.GATE_ATTEMPTS - 1)]


def test_cli_check_passes(tmp_path):
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"size": "tiny", "ratios": {"softmax_loss_grad": 1e-6}}))
    result = _invoke("-q", "bench", "--check", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["check"]["passed"] is True


@pytest.mark.parametrize("args, message", [
    (["--only", "nope"], "unknown benchmark 'nope'"),
    (["--check", "/no/such/baseline.json"], "baseline.json"),
    (["--full", "--size", "tiny"], "not both"),
])
def test_cli_bad_input_exit_2(args, message):
    result = _invoke("bench", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_list():
    result = _invoke("bench", "--list")
    assert result.exit_code == 0
    assert all(name in result.stdout for name in bench.case_names())


def test_baseline_of_several_runs_is_the_slowest():
    runs = [{"hog": {"status": "ok", "speedup": s, "fast_median_s": 1e-3,
                     "reference_median_s": s * 1e-3}} for s in (90.0, 50.0, 120.0)]
    baseline = bench.make_baseline(runs, "quick")
    assert baseline["ratios"] == {"hog": 50.0}
    assert baseline["medians_us"]["hog"]["reference"] == 50_000.0  # that run's own times (us)
    assert baseline["ratios_of_each_run"] == {"hog": [90.0, 50.0, 120.0]}  # run order


def test_targets_are_judged_at_full_size_only():
    def result(size, speedup):
        return {"status": "ok", "unit": "call", "fast_per_unit_us": 1e5,
                "reference_per_unit_us": 1e5 * speedup, "reference_label": "ref",
                "speedup": speedup, "target": 6.0, "size": size}

    quick = bench.format_table({"pipeline": result("quick", 3.0)})
    assert "(>= 6x at --full)" in quick and "MISSED" not in quick
    assert ">= 6x MISSED" in bench.format_table({"pipeline": result("full", 3.0)})
    assert ">= 6x met" in bench.format_table({"pipeline": result("full", 6.5)})


def test_cifar_for_full_sizes_comes_only_from_the_variable(tmp_path, monkeypatch):
    # the package assumes no location: the caller (CI, benchmarks/) names the folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(bench.CIFAR_ENV, raising=False)
    assert bench.find_cifar_dev() is None
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    monkeypatch.setenv(bench.CIFAR_ENV, str(folder))
    with pytest.raises(ValueError, match="no test_batch"):  # never passed over silently
        bench.find_cifar_dev()
    (folder / "test_batch").write_bytes(b"")
    assert bench.find_cifar_dev() == folder
    monkeypatch.setenv(bench.CIFAR_ENV, "")
    assert bench.find_cifar_dev() is None
