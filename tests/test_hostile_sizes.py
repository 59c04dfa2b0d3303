"""Hostile sizes and environments: what a file, a grid or a variable declares is bounded
before anything is allocated, and every file fastsoftmax writes reads back.

- a model declaring huge images, or more class names than classes, is refused at load
  (one line, exit 2) while Python has allocated little (``tracemalloc``);
- a sweep (or a study analysis) of more than ``MAX_RUNS`` runs is refused up front with
  its count; ``MAX_RUNS`` fits the readers' bounds, and ``curves.npz`` holds four
  members whatever the number of runs (2,050 and 10,000 runs read back and report);
- ``NUMBA_NUM_THREADS`` and the ``FASTSOFTMAX_*`` flags are checked at start-up, before
  Numba is imported: one line, exit 2.
"""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.io.model_file import ModelFileError, load_arrays, save_arrays

MiB = 1 << 20

pytestmark = pytest.mark.usefixtures("private_data_folder")


def _invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, files in os.walk(folder) for name in dirs + files)


# ====================================================================== model files
@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """(metadata without the format header, arrays, path) of ``train --model`` on digits."""
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    result = _invoke("train", "-q", "--n-iter", 20, "--model", path)
    assert result.exit_code == 0, result.output
    metadata, arrays = load_arrays(path)
    for key in ("format", "format_version", "kind"):
        metadata.pop(key)
    return metadata, arrays, path


def _edited(tmp_path, digits_model, **changes):
    metadata, arrays, _ = digits_model
    metadata = json.loads(json.dumps(metadata))
    for key, value in changes.items():
        *parents, last = key.split("__")
        target = metadata
        for parent in parents:
            target = target[parent]
        target[last] = value
    path = tmp_path / "edited.npz"
    save_arrays(path, "ImagePipeline", metadata, arrays)
    return path


HUGE = ("image_shape 20000x20000: 400,000,000 pixels, more than the 16,777,216 (4096x4096) a "
        "model takes")


@pytest.mark.parametrize("changes, message", [
    ({"image_shape": [20000, 20000]}, HUGE),
    ({"image_shape": [20000, 20000], "features__image_shape_": [20000, 20000]}, HUGE),
    ({"image_shape": [4097, 4096, 3]}, "image_shape 4097x4096: 16,781,312 pixels, more than the "
                                       "16,777,216 (4096x4096) a model takes"),
    ({"features__image_shape_": [20000, 20000]},
     "features: image_shape_ 20000x20000: 400,000,000 pixels, more than the 16,777,216 "
     "(4096x4096) a model takes"),
    ({"class_names": [f"c{k}" for k in range(20_010)]}, "class_names lists 20,010 names for 10 "
                                                         "classes"),
    ({"class_names": [f"c{k}" for k in range(11)]}, "class_names lists 11 names for 10 classes"),
], ids=["huge-shape", "huge-shape-and-step", "one-row-over", "huge-step", "names-20010",
        "names-11"])
def test_model_declaring_too_much_is_refused_at_load(tmp_path, digits_model, peak_memory,
                                                     changes, message):
    from fastsoftmax.model.loading import load_model

    path = _edited(tmp_path, digits_model, **changes)
    with peak_memory(16 * MiB), pytest.raises(ModelFileError) as info:
        load_model(path)
    assert str(info.value) == f"{str(path)!r}: {message}"
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    before = _listing(tmp_path)
    for args in (["evaluate", "--model", path], ["predict", "--model", path, image]):
        result = _invoke(*args)
        assert result.exit_code == 2
        assert result.output == f"Error: {str(path)!r}: {message}\n"
    assert _listing(tmp_path) == before


def test_the_largest_shape_a_model_may_declare_loads(tmp_path, digits_model):
    from fastsoftmax.io.fields import MAX_MODEL_PIXELS, image_shape

    assert image_shape([4096, 4096, 3]) == (4096, 4096, 3)
    assert image_shape([1, MAX_MODEL_PIXELS]) == (1, MAX_MODEL_PIXELS)
    with pytest.raises(ValueError, match=r"^image_shape 1x16777217: 16,777,217 pixels"):
        image_shape([1, MAX_MODEL_PIXELS + 1])


def test_fit_refuses_images_larger_than_a_model_may_declare(peak_memory):
    from fastsoftmax.model.pipeline import ImagePipeline

    images = np.broadcast_to(np.zeros((1, 1, 1), np.uint8), (2, 4097, 4096))  # no memory
    with peak_memory(4 * MiB), pytest.raises(ValueError, match=(
            r"^images 4097x4096: 16,781,312 pixels, more than the 16,777,216 \(4096x4096\) a "
            r"model takes$")):
        ImagePipeline().fit(images, np.array([0, 1]))


# ====================================================================== sweep sizes
@pytest.fixture
def no_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    for target in ("fastsoftmax.cli.sweep.load_features", "fastsoftmax.cli.study.load_features"):
        monkeypatch.setattr(target, forbidden)


def _values(n, scale):
    return ",".join(repr(scale * (k + 1)) for k in range(n))


@pytest.mark.parametrize("args, message", [
    (["alpha=" + _values(2100, 1e-6), "l1_ratio=" + _values(2100, 1 / 3000),
      "learning_rate=" + _values(2100, 1 / 3000)],
     "9,261,000,000 runs (9,261,000,000 configurations x 1 repeat), more than the 20,000 a "
     "sweep may have: sweep fewer values or repeats"),
    (["alpha=0.1", "--repeats", "1000000000"],
     "1,000,000,000 runs (1 configuration x 1,000,000,000 repeats), more than the 20,000 a "
     "sweep may have: sweep fewer values or repeats"),
    (["alpha=0.1,0.2", "--repeats", "10001"],
     "20,002 runs (2 configurations x 10,001 repeats), more than the 20,000 a sweep may have: "
     "sweep fewer values or repeats"),
], ids=["9e9-combinations", "1e9-repeats", "one-over"])
def test_sweep_with_too_many_runs_is_refused_up_front(tmp_path, no_work, peak_memory, args,
                                                      message):
    out = tmp_path / "out"
    with peak_memory(32 * MiB):
        result = _invoke("sweep", *args, "--out", out)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"
    assert _listing(tmp_path) == []


def test_study_with_too_many_runs_is_refused_up_front(tmp_path, no_work):
    result = _invoke("study", "--repeats", 1_000_000_000, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output == ("Error: the batch_size analysis: 9,000,000,000 runs (9 "
                             "configurations x 1,000,000,000 repeats), more than the 20,000 a "
                             "sweep may have: sweep fewer values or repeats\n")
    assert _listing(tmp_path) == []


def test_run_sweep_refuses_too_many_runs_before_allocating(peak_memory):
    from fastsoftmax.experiments.sweep import run_sweep

    X, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    with peak_memory(4 * MiB), pytest.raises(ValueError, match=r"^1,000,000,000 runs \("):
        run_sweep(X, y, X, y, X, y, {"alpha": [0.1]}, repeats=10**9)
    grid = {name: [0.1 * (k + 1) for k in range(2000)] for name in ("alpha", "l1_ratio")}
    with peak_memory(4 * MiB), pytest.raises(ValueError, match=r"^4,000,000 runs \("):
        run_sweep(X, y, X, y, X, y, grid)


def _rows(n, points, error=""):
    """Rows of ``n`` runs as run_sweep gives them, one alpha each, ``points``-point curves."""
    alphas = [1e-6 * (k + 1) for k in range(n)]
    rows = []
    for k, alpha in enumerate(alphas):
        rows.append({"alpha": alpha, "seed": 0, "diverged": False, "train_accuracy": 0.5,
                     "val_accuracy": 0.4 + 0.5 * k / n, "test_accuracy": 0.4, "final_loss": 1.0,
                     "updates_done": points, "seconds": 0.01, "zero_fraction": 0.0,
                     "error": error, "params": {"alpha": alpha}, "run": k,
                     "curve": (np.arange(1, points + 1), np.linspace(2.0, 1.0, points) + k)})
    return rows, {"alpha": alphas}


def test_max_runs_fits_the_readers_bounds(tmp_path):
    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.experiments import results, runner
    from fastsoftmax.experiments.runner import MAX_CURVE_POINTS, MAX_ERROR_CHARS
    from fastsoftmax.experiments.sweep import MAX_RUNS

    # curves.npz: every run's curve at its longest
    assert MAX_RUNS * MAX_CURVE_POINTS * (8 + 8) + MAX_RUNS * 16 < results.MAX_CURVES_BYTES
    # results.json: the largest row (every parameter, the longest error) times MAX_RUNS
    error = runner.failed_row({}, 0, {}, RuntimeError("x" * 10_000))["error"]
    assert len(error) == MAX_ERROR_CHARS and error.endswith("...")
    params = SoftmaxClassifier().get_params()
    rows, grid = _rows(1, 1, error=error)
    rows[0]["params"] = {k: (1.2345678901234567e-300 if isinstance(v, float) else v)
                         for k, v in params.items()}
    results.write_results(rows, tmp_path, grid)
    one = os.path.getsize(tmp_path / "results.json")
    assert one * MAX_RUNS < results.MAX_RESULTS_BYTES


def test_curves_of_2050_runs_read_back_and_plot(tmp_path):
    from fastsoftmax.experiments.results import load_results
    from fastsoftmax.experiments.sweep import publish_sweep

    rows, grid = _rows(2050, 30)
    files, plots = publish_sweep(rows, tmp_path / "out", grid, plots=True)
    with zipfile.ZipFile(files["curves"]) as archive:
        assert sorted(archive.namelist()) == ["length.npy", "loss.npy", "run.npy", "updates.npy"]
    _, curves = load_results(tmp_path / "out")
    assert sorted(curves) == list(range(2050))
    for row in (rows[0], rows[1234], rows[-1]):
        np.testing.assert_array_equal(curves[row["run"]][0], row["curve"][0])
        np.testing.assert_array_equal(curves[row["run"]][1], row["curve"][1])
    assert sorted(plots) == ["accuracy", "loss_curves"]


def test_a_10000_run_sweep_is_reported(tmp_path):
    from fastsoftmax.experiments.sweep import publish_sweep

    rows, grid = _rows(10_000, 5)
    publish_sweep(rows, tmp_path / "out", grid, plots=False)
    result = _invoke("report", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.output == (f"report written to {tmp_path / 'out' / 'report.md'} and "
                             f"{tmp_path / 'out' / 'report.html'}\n")


def test_curves_written_one_pair_per_run_still_read(tmp_path):
    from fastsoftmax.experiments.results import load_results, write_results

    rows, grid = _rows(3, 4)
    write_results(rows, tmp_path, grid)
    np.savez(tmp_path / "curves.npz", **{f"run{r['run']}_{kind}": r["curve"][i]
                                         for r in rows for i, kind in enumerate(("updates", "loss"))})
    _, curves = load_results(tmp_path)
    np.testing.assert_array_equal(curves[2][1], rows[2]["curve"][1])


@pytest.mark.parametrize("arrays, message", [
    ({"run": [0, 1], "length": [2, 5], "updates": [1, 2, 3], "loss": [1.0, 1.0, 1.0]},
     "the curve lengths do not add up to the 3 points stored"),
    ({"run": [0, 1, 2, 3], "length": [2**62, 2**62, 2**62, 2**62 + 3], "updates": [1, 2, 3],
      "loss": [1.0, 1.0, 1.0]},  # an int64 sum wraps around to 3
     "the curve lengths do not add up to the 3 points stored"),
    ({"run": [0, 1], "length": [-1, 4], "updates": [1, 2, 3], "loss": [1.0, 1.0, 1.0]},
     "the curve lengths do not add up to the 3 points stored"),
    ({"run": [0, 1], "length": [1, 2], "updates": [1, 2, 3], "loss": [1.0, 1.0]},
     "the curve arrays do not have the shapes and types of one curve per run"),
], ids=["short", "wrapping-sum", "negative", "loss-shorter"])
def test_hostile_stacked_curves_are_refused_by_name(tmp_path, arrays, message):
    from fastsoftmax.experiments.results import ResultsFileError, load_results, write_results

    rows, grid = _rows(2, 2)
    write_results(rows, tmp_path, grid)
    np.savez(tmp_path / "curves.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    with pytest.raises(ResultsFileError) as info:
        load_results(tmp_path)
    assert str(info.value) == f"{tmp_path / 'curves.npz'}: {message}"


# ====================================================================== environment
def _threads_message(value):
    from fastsoftmax._shared.config import MAX_THREADS_PER_CPU, max_threads

    return (f"Error: $NUMBA_NUM_THREADS={value!r} is not a number of threads: use an integer "
            f"from 1 to {max_threads():,} ({MAX_THREADS_PER_CPU} per CPU), or unset it to use "
            "every CPU\n")


@pytest.mark.parametrize("value", ["junk", "", " ", "0", "-1", "4_0", "1.5", "100000",
                                   "99999999999", "9" * 5000, "１"])
@pytest.mark.parametrize("command", [["train"], ["data", "info"], ["gradcheck"]])
def test_bad_numba_num_threads_is_one_line_exit_2(value, command):
    result = _invoke(*command, env={"NUMBA_NUM_THREADS": value})
    assert result.exit_code == 2
    assert result.output == _threads_message(value)


def test_numba_num_threads_bound_is_four_per_cpu():
    from fastsoftmax._shared.config import check_environment, max_threads

    assert max_threads() == 4 * os.cpu_count()
    check_environment({"NUMBA_NUM_THREADS": str(max_threads())})
    check_environment({"NUMBA_NUM_THREADS": " 1 "})
    with pytest.raises(ValueError, match=r"^\$NUMBA_NUM_THREADS='\d+' is not a number"):
        check_environment({"NUMBA_NUM_THREADS": str(max_threads() + 1)})


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_numba_num_threads_is_checked_before_numba_is_imported():
    code = ("import sys\nfrom fastsoftmax.cli import main\n"
            "try:\n    main(['train', '--n-iter', '5'])\n"
            "except SystemExit as exc:\n    print(exc.code, 'numba' in sys.modules)\n")
    result = _python(code, NUMBA_NUM_THREADS="100000")
    assert result.stdout == "2 False\n"
    assert result.stderr == _threads_message("100000")


def test_the_library_refuses_a_bad_numba_num_threads_at_import():
    result = _python("import fastsoftmax.softmax._kernels", NUMBA_NUM_THREADS="100000")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: " + _threads_message("100000")[len("Error: "):].strip())


@pytest.mark.parametrize("name", ["FASTSOFTMAX_FASTMATH", "FASTSOFTMAX_PARALLEL",
                                  "FASTSOFTMAX_CACHE"])
@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_bad_fastsoftmax_flag_is_one_line_exit_2(name, value):
    result = _invoke("train", env={name: value})
    assert result.exit_code == 2
    assert result.output == (f"Error: ${name}={value!r} is not a flag: use 1 or 0 "
                             "(true/false, yes/no, on/off)\n")


def test_fastsoftmax_flags_read_as_documented():
    from fastsoftmax._shared.config import _flag

    for value, expected in (("1", True), (" Yes ", True), ("ON", True), ("true", True),
                            ("0", False), ("no", False), ("Off", False), ("FALSE", False)):
        assert _flag("F", None, {"F": value}) is expected
    assert _flag("F", "default", {}) == "default" and _flag("F", "default", {"F": " "}) == "default"


def test_bad_cache_limit_is_refused_before_any_work(tmp_path, no_work):
    for command in (["sweep", "alpha=0.1", "--out", tmp_path / "o"],
                    ["study", "--out", tmp_path / "s"]):
        result = _invoke(*command, env={"FASTSOFTMAX_CACHE_LIMIT": "lots"})
        assert result.exit_code == 2
        assert result.output == ("Error: $FASTSOFTMAX_CACHE_LIMIT='lots' is not a cache size: "
                                 "use e.g. 2GB, 500MB or 1.5GiB, a number of bytes, 0 to turn "
                                 "the cache off, or 'unlimited'\n")
    assert _listing(tmp_path) == []


def test_bad_bench_cifar_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    from fastsoftmax import bench

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(bench, "run", forbidden)
    result = _invoke("bench", "--full", env={"FASTSOFTMAX_BENCH_CIFAR": str(tmp_path)})
    assert result.exit_code == 2
    assert result.output == (f"Error: $FASTSOFTMAX_BENCH_CIFAR={str(tmp_path)!r} is not a "
                             "cifar-10-batches-py folder (no test_batch file in it)\n")
