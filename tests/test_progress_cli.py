"""Progress callbacks of the library, their display on stderr, -q/-v, the overwrite
rule, short flags, per-class precision/recall/F1 (issue 15)."""
import io
import json
import re

import click
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_digits
from sklearn.metrics import classification_report, precision_recall_fscore_support

from fastsoftmax import SoftmaxClassifier
from fastsoftmax._shared.progress import relabel, takes_progress
from fastsoftmax.cli import main
from fastsoftmax.cli import progress as display
from fastsoftmax.model.metrics import evaluate_predictions
from fastsoftmax.features import hog
from fastsoftmax.features.hog_step import HOGTransformer, _chunk_size
from fastsoftmax.model.pipeline import ImagePipeline


@pytest.fixture(autouse=True)
def private_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "fsdata"))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _digit_images():
    digits = load_digits()
    return (digits.images * 255 / 16).round().astype(np.uint8), digits.target


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, stage, done, total, **info):
        self.calls.append((stage, done, total, info))

    def of(self, stage):
        return [c for c in self.calls if c[0] == stage]


# ---------------------------------------------------------------- library callbacks
def test_hog_transform_reports_chunks_and_equals_one_call():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2500, 8, 8), dtype=np.uint8)
    step = HOGTransformer(pixels_per_cell=(2, 2), data_range=(0, 255)).fit(images)
    calls = Recorder()
    features = step.transform(images, progress=calls)
    # reference: the batch kernel on the whole scaled set at once, no chunks
    expected = hog(images.astype(np.float32) / np.float32(255), pixels_per_cell=(2, 2))
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-7)
    chunk = _chunk_size(2500)
    assert chunk == 1024
    assert calls.calls == [("features", done, 2500, {}) for done in (0, 1024, 2048, 2500)]
    np.testing.assert_array_equal(step.fit_transform(images, progress=Recorder()), features)


def test_chunk_size_gives_about_fifty_chunks_of_a_large_set():
    assert _chunk_size(50_000) == 1024  # ceil(50,000 / 50) = 1,000, raised to 1,024
    assert _chunk_size(200_000) == 4000
    assert _chunk_size(10) == 1024


def test_pipeline_fit_reports_every_stage_in_order(tmp_path):
    images, y = _digit_images()
    calls = Recorder()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=600, batch_size=64, random_state=0),
                         cache=True).fit(images, y, progress=calls)
    stages = [c[0] for c in calls.calls]
    # each stage is one contiguous run, in the pipeline's order
    assert [s for k, s in enumerate(stages) if k == 0 or stages[k - 1] != s] == [
        "features", "pca", "train"]
    features = calls.of("features")
    assert features[0][1:3] == (0, len(y)) and features[-1][1:3] == (len(y), len(y))
    assert calls.of("pca") == [("pca", 0, 1, {}), ("pca", 1, 1, {})]
    train = calls.of("train")
    assert train[0] == ("train", 0, 1, {})
    done = [c[1] for c in train[1:]]
    assert done == sorted(done) and done[-1] == pipe.classifier_.n_iter_ == 600
    assert all(c[2] == 600 for c in train[1:])
    # the loss shown is the mean minibatch loss of the kernel call just made
    curve = pipe.classifier_.loss_curve_
    last_chunk = curve[done[-2]:] if len(done) > 1 else curve
    assert train[-1][3]["loss"] == pytest.approx(float(np.mean(last_chunk)), rel=1e-5)

    again = Recorder()
    ImagePipeline(SoftmaxClassifier(n_iter=600, batch_size=64, random_state=0),
                  cache=True).fit(images, y, progress=again)
    assert again.of("features") == [("features", 0, len(y), {}),
                                    ("features", len(y), len(y), {"cached": True})]
    assert again.of("pca")[-1] == ("pca", 1, 1, {"cached": True})


def test_pipeline_transform_progress_and_steps_without_progress():
    images, y = _digit_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=50, random_state=0)).fit(images, y)
    calls = Recorder()
    np.testing.assert_array_equal(pipe.transform(images[:300], progress=calls),
                                  pipe.transform(images[:300]))
    assert calls.calls[0][1:3] == (0, 300) and calls.calls[-1][1:3] == (300, 300)

    class QuietStep(HOGTransformer):  # a feature step whose transform takes no progress
        def transform(self, X):
            return super().transform(X)

        def fit_transform(self, X, y=None):
            return self.fit(X, y).transform(X)

    calls = Recorder()
    quiet = ImagePipeline(SoftmaxClassifier(n_iter=50, random_state=0),
                          features=QuietStep(pixels_per_cell=(2, 2), data_range=(0, 255)))
    quiet.fit(images, y, progress=calls)
    assert not calls.of("features") and calls.of("pca") and calls.of("train")
    assert not takes_progress(quiet.features_.transform)
    assert takes_progress(HOGTransformer().transform) and not takes_progress(len)


def test_relabel_forwards_under_another_name():
    calls = Recorder()
    relabel(calls, "test features")("features", 3, 9, cached=True)
    assert calls.calls == [("test features", 3, 9, {"cached": True})]
    assert relabel(None, "x") is None


# ---------------------------------------------------------------- the display
class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_stage_lines_when_stderr_is_not_a_terminal(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(display.time, "perf_counter", clock)
    monkeypatch.setattr(display, "LOG_INTERVAL", 12.0)
    compiles = [0]
    monkeypatch.setattr(display, "compile_count", lambda: compiles[0])
    out = io.StringIO()
    progress = display.StageProgress(stream=out)
    progress("features", 1347, 1347, cached=True)
    clock.now += 0.25
    progress("pca", 0, 1)
    clock.now += 2.0
    progress("pca", 1, 1)
    progress("train", 0, 1)
    clock.now += 10.0  # the first kernel call compiles: 10 s for 100 updates
    compiles[0] += 1
    progress("train", 100, 1000, loss=2.0)
    for _ in range(3):  # then 1 s per 100 updates
        clock.now += 1.0
        progress("train", progress._stage.done + 100, 1000, loss=1.5)
    clock.now += 7.0
    progress("train", 1000, 1000, loss=0.5)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "features: 1,347 images in 0.25 s (from the cache)"
    assert lines[1] == "PCA: 2.00 s"
    # one progress line after 12 s: the time left comes from the rate after the
    # first (compiling) call, 200 updates in 2 s -> 700 left take 7 s
    assert lines[2] == "training: 300/1,000 updates, 12 s, about 7 s left"
    # the first call took 9 s more than 100 updates at the later rate
    assert lines[3] == ("training: 1,000 updates in 20.00 s (final loss 0.5000; about 9 s of "
                        "it compiling)")
    assert len(lines) == 4
    assert progress.seconds == pytest.approx({"features": 0.25, "pca": 2.0, "train": 20.0})


def test_stage_block_relabels_and_leaves_no_line_on_error():
    out = io.StringIO()
    progress = display.StageProgress(stream=out)
    with progress.stage("evaluate", 10) as forward:
        forward("features", 0, 10)
        forward("features", 10, 10)
    with pytest.raises(RuntimeError), progress.stage("load"):
        raise RuntimeError("boom")
    quiet = display.StageProgress(quiet=True, stream=out)
    quiet("features", 5, 10)
    quiet.close()
    assert re.fullmatch(r"evaluation: 10 images in \d\.\d\d s\n", out.getvalue())


@pytest.mark.parametrize("compiled", [False, True])
def test_a_slow_first_chunk_is_called_compiling_only_when_a_kernel_compiled(monkeypatch,
                                                                            compiled):
    """A first chunk 9 s slower than the rest says "compiling" only when the compile
    signal counted a compile during the stage (a kernel loaded from the cache does not)."""
    clock = FakeClock()
    monkeypatch.setattr(display.time, "perf_counter", clock)
    compiles = [5]  # compiles before the stage do not count
    monkeypatch.setattr(display, "compile_count", lambda: compiles[0])
    out = io.StringIO()
    progress = display.StageProgress(stream=out)
    progress("train", 0, 1000)
    clock.now += 10.0
    compiles[0] += compiled
    progress("train", 100, 1000, loss=2.0)
    for done in range(200, 1001, 100):
        clock.now += 1.0
        progress("train", done, 1000, loss=0.5)
    progress.close()
    note = "; about 9 s of it compiling" if compiled else ""
    assert out.getvalue() == f"training: 1,000 updates in 19.00 s (final loss 0.5000{note})\n"


def test_the_compile_signal_counts_real_compiles_only():
    """jit.compile_count counts a kernel compiled in this process, not one loaded again."""
    import numba

    from fastsoftmax._shared import jit

    @numba.njit
    def twice(x):
        return 2 * x

    before = display.compile_count()
    assert before == jit.compile_count()
    twice(1)
    assert display.compile_count() == before + 1
    twice(2)  # already compiled for int64: nothing compiles
    assert display.compile_count() == before + 1


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_bars_are_replaced_by_the_stage_line():
    out = Terminal()
    progress = display.StageProgress(stream=out)
    for done in (0, 300, 600, 1000):
        progress("train", done, 1000, loss=0.25)
    progress.close()
    text = out.getvalue()
    assert re.search(r"training: +\d+%\|.*\| \d+/1000 updates", text)  # a tqdm bar
    # the bar is cleared (leave=False) and the stage's line is the last thing written
    assert re.search(r"\rtraining: 1,000 updates in \d\.\d\d s \(final loss 0\.2500\)\n$", text)


# ---------------------------------------------------------------- the commands
STAGE_LINES = [r"load: \d+\.\d\d s", r"features: 1,347 images in \d+\.\d\d s",
               r"PCA: \d+\.\d\d s", r"training: 300 updates in \d+\.\d\d s \(final loss ",
               r"evaluation: 450 images in \d+\.\d\d s"]


def test_train_shows_each_stage_once_and_q_v_after_the_command():
    result = _invoke("train", "--n-iter", 300)
    assert result.exit_code == 0, result.output
    for pattern in STAGE_LINES:
        assert len(re.findall(pattern, result.stderr)) == 1, (pattern, result.stderr)
    assert "load:" not in result.stdout and "test accuracy:" in result.stdout

    quiet = _invoke("train", "--n-iter", 300, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout.splitlines()[:3] == result.stdout.splitlines()[:3]  # all but seconds
    as_json = _invoke("train", "--n-iter", 300, "--json")
    assert as_json.stderr == "" and json.loads(as_json.stdout)["n_iter"] == 300

    verbose = _invoke("train", "--n-iter", 300, "-v")
    for fact in ("fastsoftmax: data: digits from scikit-learn's bundled digits",
                 "fastsoftmax: threads: ", "fastsoftmax: cache: ", "features: cache hit",
                 "pca: cache hit", "fastsoftmax: seconds: load "):
        assert fact in verbose.stderr, (fact, verbose.stderr)
    assert "features: 1,347 images in" in verbose.stderr
    both = _invoke("-q", "train", "--n-iter", 300, "-v")  # -q wins
    assert both.exit_code == 0 and both.stderr == ""


def test_v_after_a_subcommand_of_a_group_and_on_a_fresh_cache():
    first = _invoke("train", "--n-iter", 30, "--no-cache", "-v")
    assert "cache: off (--no-cache)" in first.stderr
    stored = _invoke("train", "--n-iter", 30, "-v")
    assert re.search(r"hog: stored in the cache as .*hog-[0-9a-f]{64}\.npz", stored.stderr)
    info = _invoke("data", "info", "-q", "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["cache_entries"] == 2


def test_sweep_shows_feature_stages_and_runs(tmp_path):
    out = tmp_path / "sweep"
    result = _invoke("sweep", "learning_rate=0.5,0.05", "--n-iter", 40, "-o", out, "-j", 1)
    assert result.exit_code == 0, result.output
    for pattern in (r"features: 1,144 images in", r"validation features: 203 images in",
                    r"test features: 450 images in", r"sweep learning_rate: 2 runs in"):
        assert re.search(pattern, result.stderr), (pattern, result.stderr)
    assert (out / "results.csv").is_file()


def test_every_output_file_is_refused_when_it_exists_unless_force(tmp_path):
    model, plot = tmp_path / "m.npz", tmp_path / "loss.png"
    assert _invoke("train", "--n-iter", 20, "-o", model, "--plot", plot, "-q").exit_code == 0
    before = model.read_bytes()
    for args, option, path in ((("-o", model), "--model", model),
                               (("--plot", plot), "--plot", plot)):
        again = _invoke("train", "--n-iter", 20, "--seed", 1, *args, "-q")
        assert again.exit_code == 2
        assert again.stderr == f"Error: {option}: {str(path)!r} already exists; add --force to " \
                               "overwrite it\n"
        assert "training" not in again.stderr  # refused before any work
    assert model.read_bytes() == before
    forced = _invoke("train", "--n-iter", 20, "--seed", 1, "-o", model, "--force", "-q")
    assert forced.exit_code == 0 and model.read_bytes() != before

    confusion = tmp_path / "confusion.png"
    confusion.write_bytes(b"mine")
    refused = _invoke("evaluate", "--model", model, "--plot", confusion)
    assert refused.exit_code == 2 and "--plot" in refused.stderr
    assert confusion.read_bytes() == b"mine"
    assert _invoke("evaluate", "--model", model, "--plot", confusion, "--force").exit_code == 0
    assert confusion.read_bytes()[:4] == b"\x89PNG"

    baseline = tmp_path / "baseline.json"
    baseline.write_text("{}")
    refused = _invoke("bench", "--update-baseline", baseline, "--only", "gradcheck")
    assert refused.exit_code == 2 and "--update-baseline" in refused.stderr
    assert "--force" in refused.stderr and baseline.read_text() == "{}"


def test_report_refuses_to_replace_a_report_unless_force(tmp_path):
    out = tmp_path / "sweep"
    assert _invoke("-q", "sweep", "learning_rate=0.5", "--n-iter", 20, "-o", out,
                   "--no-plots").exit_code == 0
    assert _invoke("report", out).exit_code == 0
    again = _invoke("report", out)
    assert again.exit_code == 2 and "report.md" in again.stderr and "--force" in again.stderr
    assert _invoke("report", out, "--force").exit_code == 0


def test_short_flags_and_force_are_in_the_help():
    train = _invoke("train", "--help").output
    assert "-o, --model FILE" in train and "-d, --data PATH" in train and "--force" in train
    for command in ("sweep", "study"):
        text = _invoke(command, "--help").output
        assert "-o, --out DIRECTORY" in text and "-j, --jobs" in text
    missing = _invoke("gradcheck", "-d", "no/such/folder")
    assert missing.exit_code == 2 and "no/such/folder" in missing.stderr


def _all_commands():
    from fastsoftmax.cli import COMMANDS

    ctx_group = main
    for name in COMMANDS:
        command = ctx_group.get_command(None, name)
        yield name, command
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield f"{name} {sub_name}", sub


def test_every_option_has_help_in_plain_words_and_q_v():
    for name, command in _all_commands():
        opts = {opt for p in command.params for opt in getattr(p, "opts", ())}
        assert {"-q", "-v", "--quiet", "--verbose"} <= opts, name
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            assert param.help, (name, param.name)
            assert "issues'" not in param.help and "GIL" not in param.help, (name, param.name)


# ---------------------------------------------------------------- precision, recall, F1
def test_evaluate_reports_precision_recall_f1_per_class(tmp_path):
    model = tmp_path / "m.npz"
    assert _invoke("-q", "train", "--n-iter", 200, "-o", model).exit_code == 0
    result = _invoke("evaluate", "--model", model, "--json")
    payload = json.loads(result.stdout)
    # the reference: the model's own predictions on the digits test split, scored by
    # scikit-learn
    from fastsoftmax.data import load_dataset

    data = load_dataset(None)
    predicted = ImagePipeline.load(model).predict(data.X_test)
    precision, recall, f1, support = precision_recall_fscore_support(data.y_test, predicted)
    for k, name in enumerate(payload["class_names"]):
        row = payload["per_class"][name]
        assert row["precision"] == pytest.approx(precision[k])
        assert row["recall"] == pytest.approx(recall[k])
        assert row["f1"] == pytest.approx(f1[k])
        assert row["support"] == support[k]
    report = classification_report(data.y_test, predicted, output_dict=True)
    assert payload["macro_avg"]["f1"] == pytest.approx(report["macro avg"]["f1-score"])
    assert payload["weighted_avg"]["precision"] == pytest.approx(
        report["weighted avg"]["precision"])

    text = _invoke("evaluate", "--model", model).stdout
    assert re.search(r"class\s+precision\s+recall\s+f1\s+images", text)
    row = re.search(r"^  3\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)$", text, re.M)
    assert [float(v) for v in row.groups()[:3]] == pytest.approx(
        [precision[3], recall[3], f1[3]], abs=5e-5)
    assert int(row.group(4)) == support[3]
    assert re.search(rf"macro avg\s+{report['macro avg']['precision']:.4f}", text)


def test_undefined_precision_and_recall_are_nan_and_left_out_of_averages():
    scores = evaluate_predictions([0, 0, 1, 1, 2, 2, 0], [0, 1, 1, 1, 0, 0, 3], 4)
    # by hand: class 2 is never predicted (precision undefined), class 3 has no images
    # (recall undefined); class 3 predicted once, wrongly: precision 0
    np.testing.assert_allclose(scores.precision, [1 / 3, 2 / 3, np.nan, 0.0])
    np.testing.assert_allclose(scores.recall, [1 / 3, 1.0, 0.0, np.nan])
    np.testing.assert_allclose(scores.f1, [1 / 3, 0.8, 0.0, 0.0])
    assert scores.macro_avg["precision"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert scores.macro_avg["recall"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert scores.weighted_avg["recall"] == pytest.approx(3 / 7)
    as_dict = scores.to_dict(list("abcd"))
    assert as_dict["per_class"]["c"] == {"precision": None, "recall": 0.0, "f1": 0.0,
                                         "support": 2}
    assert as_dict["per_class"]["d"]["recall"] is None


def test_train_final_loss_is_one_number_in_the_text_and_the_json(tmp_path):
    """The training line and --json report one final loss: the mean minibatch loss over
    the last 5% of updates (not the last chunk's mean, nor the last update's loss)."""
    text = _invoke("train", "--n-iter", 300, "-o", tmp_path / "m.npz")
    as_json = _invoke("train", "--n-iter", 300, "--json")
    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    shown = re.search(r"training: 300 updates in \S+ s \(final loss (\d\.\d{4})", text.stderr)
    value = json.loads(as_json.stdout)["final_loss"]
    assert shown.group(1) == f"{value:.4f}"
    curve = ImagePipeline.load(tmp_path / "m.npz").classifier_.loss_curve_
    assert value == pytest.approx(curve[-15:].mean(), rel=1e-6)  # 5% of 300 updates
    assert abs(curve[-1] - value) > 1e-4 and abs(curve.mean() - value) > 1e-4


def test_classifier_reports_the_final_loss_of_the_updates_so_far():
    images, y = _digit_images()
    calls = Recorder()
    # full batches: 256 updates per kernel call, and the last 5% of 6000 spans two calls
    clf = SoftmaxClassifier(n_iter=6000, batch_size=len(y), random_state=0)
    clf.fit(images.reshape(len(y), -1) / 255.0, y, progress=calls)
    train = [c for c in calls.of("train") if c[1] > 0]
    assert len(train) > 1  # several kernel calls, so the tail crosses chunk boundaries
    for _, done, _, info in train:
        assert info["final_loss"] == pytest.approx(
            clf.loss_curve_[done - max(1, done // 20):done].mean(), rel=1e-6)
