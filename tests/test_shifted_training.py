"""Training on randomly shifted copies of the training images (``shift_train``): the
classifier's ``refresh`` hook, the random shifts, the rounds, the pipeline, the model
file and the command line."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.cli import main
from fastsoftmax.data import load_digits_images
from fastsoftmax.features import KMeansFeatures
from fastsoftmax.io.model_file import load_arrays, save_arrays
from fastsoftmax.model.pipeline import ImagePipeline
from fastsoftmax.model.shifted_training import ShiftedRounds, offsets_generator, round_epochs
from fastsoftmax.model.views import random_shifts
from small_kmeans import SMALL, SMALL_ARGS


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "fsdata"))


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


def _blobs(seed, n=96, d=20):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = (rng.normal(size=(n, d)) + 2.0 * np.eye(3, d)[y]).astype(np.float32)
    return X, y


# ---------------------------------------------------------------- the classifier's hook
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_refresh_trains_on_the_new_rows_from_the_next_epoch(backend):
    """Full batches, no momentum, constant rate: one epoch on X, then rows replaced by
    X2, one more epoch, is one epoch on X then a warm-started epoch on X2."""
    X, y = _blobs(0)
    X2, _ = _blobs(1)
    params = dict(batch_size=len(y), epochs=2, learning_rate=0.3, momentum=0.0,
                  lr_schedule="constant", alpha=1e-3, backend=backend, random_state=0)
    calls = []

    def refresh(rows, done, epochs):
        calls.append((done, epochs, rows.shape[0], rows.dtype))
        rows[:, :X2.shape[1]] = X2
        assert not rows[:, X2.shape[1]:].any()

    refreshed = SoftmaxClassifier(**params).fit(X.copy(), y, refresh=refresh)
    assert calls == [(1, 2, len(y), np.float32)]
    by_hand = SoftmaxClassifier(**{**params, "epochs": 1}).fit(X, y)
    by_hand.set_params(warm_start=True).fit(X2, y)
    np.testing.assert_allclose(refreshed.coef_, by_hand.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(refreshed.intercept_, by_hand.intercept_, rtol=1e-5, atol=1e-6)
    plain = SoftmaxClassifier(**params).fit(X, y)
    assert not np.allclose(plain.coef_, refreshed.coef_, atol=1e-3)


def test_a_refresh_that_changes_nothing_changes_no_weight():
    """The hook is called after every epoch but the last, and training with it is the
    training without it, bit for bit, when it leaves the rows alone."""
    X, y = _blobs(2, n=300)
    params = dict(batch_size=32, epochs=5, momentum=0.9, random_state=4)
    seen = []
    with_hook = SoftmaxClassifier(**params).fit(
        X, y, refresh=lambda rows, done, epochs: seen.append((done, epochs)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5)]
    without = SoftmaxClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(with_hook.coef_, without.coef_)
    np.testing.assert_array_equal(with_hook.loss_curve_, without.loss_curve_)


def test_refresh_is_refused_with_early_stopping():
    X, y = _blobs(3)
    with pytest.raises(ValueError, match="refresh cannot be combined with early_stopping"):
        SoftmaxClassifier(early_stopping=True, epochs=3).fit(
            X, y, refresh=lambda rows, done, epochs: None)


# ---------------------------------------------------------------- shifts and rounds
def _moved_by_hand(image, dy, dx):
    """Pixel (y, x) is the image's (y - dy, x - dx), reflected about the edge."""
    height, width = image.shape[:2]
    rows = np.abs(np.arange(height) - dy)
    rows = np.where(rows > height - 1, 2 * (height - 1) - rows, rows)
    cols = np.abs(np.arange(width) - dx)
    cols = np.where(cols > width - 1, 2 * (width - 1) - cols, cols)
    return image[rows][:, cols]


@pytest.mark.parametrize("channels", [(), (3,)])
def test_random_shifts_moves_each_image_by_its_own_offset(channels):
    images = np.arange(40 * 6 * 7 * int(np.prod(channels))).reshape(
        (40, 6, 7) + channels).astype(np.uint8)
    moved = random_shifts(images, 2, np.random.default_rng(5))
    offsets = np.random.default_rng(5).integers(-2, 3, (2, 40))  # dy for all, then dx
    for image, out, dy, dx in zip(images, moved, *offsets):
        np.testing.assert_array_equal(out, _moved_by_hand(image, dy, dx))
    assert moved.flags.c_contiguous and moved.dtype == np.uint8
    assert len({(dy, dx) for dy, dx in zip(*offsets)}) > 10  # offsets differ per image
    with pytest.raises(ValueError, match=r"max_shift 6 needs images larger than 6x7"):
        random_shifts(images, 6, np.random.default_rng(0))


@pytest.mark.parametrize("epochs, rounds, expected", [
    (100, 3, [25, 50, 75]), (200, 1, [100]), (10, 4, [2, 4, 6, 8]), (3, 5, [1, 2]),
    (1, 3, []), (7, 2, [2, 5]),
])
def test_rounds_are_evenly_spaced_over_the_epochs(epochs, rounds, expected):
    assert round_epochs(epochs, rounds) == expected


def test_a_round_writes_the_inputs_of_the_shifted_images(digits):
    """Each round writes, for each block of rows, the inputs of the shifted images (their
    mirror images in the second block), drawn in order from the generator."""
    images = digits.X_train[:300]

    def inputs(batch):
        return batch.reshape(len(batch), -1).astype(np.float32) / 255

    def mirror(batch):
        return np.ascontiguousarray(batch[:, :, ::-1])

    rows = np.zeros((600, 72), np.float32)
    calls = []
    rounds = ShiftedRounds(inputs, images, [np.asarray, mirror], 1, 2,
                           np.random.default_rng(7),
                           lambda stage, done, total: calls.append((stage, done, total)))
    rounds(rows, 1, 6)  # not a round's epoch: nothing
    assert not rows.any() and rounds.rounds_done == 0
    rounds(rows, 2, 6)
    rng = np.random.default_rng(7)
    expected = np.concatenate([inputs(random_shifts(images, 1, rng)),
                               inputs(mirror(random_shifts(images, 1, rng)))])
    np.testing.assert_array_equal(rows[:, :64], expected)
    assert not rows[:, 64:].any()
    assert not np.array_equal(expected[:300], inputs(images))
    rounds(rows, 4, 6)
    assert rounds.rounds_done == 2
    assert calls[0] == ("shifted features", 0, 1200) and calls[-1] == (
        "shifted features", 1200, 1200)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


def test_offsets_follow_the_classifier_seed():
    a = offsets_generator(3).integers(0, 1000, 5)
    np.testing.assert_array_equal(a, offsets_generator(3).integers(0, 1000, 5))
    assert not np.array_equal(a, offsets_generator(4).integers(0, 1000, 5))


# ---------------------------------------------------------------- pipeline and model file
def _pipeline(**params):
    classifier = SoftmaxClassifier(epochs=6, batch_size=64, learning_rate=0.05, random_state=3)
    return ImagePipeline(classifier, features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, **params)


def test_pipeline_trains_on_the_rounds_and_keeps_them_in_the_model_file(tmp_path, digits):
    calls = []
    pipe = _pipeline(shift_train=1, shift_rounds=2).fit(
        digits.X_train, digits.y_train,
        progress=lambda stage, done, total, **info: calls.append((stage, done, total)))
    n = len(digits.y_train)
    shifted = [(done, total) for stage, done, total in calls if stage == "shifted features"]
    assert shifted[0] == (0, 2 * n) and shifted[-1] == (2 * n, 2 * n)
    assert set(pipe.timings_) >= {"features", "shifted features", "train"}
    # the training accuracy is that of the rows the last epochs saw: the second round's
    rng = offsets_generator(3)  # the classifier's random_state
    random_shifts(digits.X_train, 1, rng)
    last = random_shifts(digits.X_train, 1, rng)
    assert pipe.train_accuracy_ == pipe.classifier_.score(pipe.transform(last), digits.y_train)
    plain = _pipeline().fit(digits.X_train, digits.y_train)
    assert "shifted features" not in plain.timings_
    assert not np.allclose(pipe.classifier_.coef_, plain.classifier_.coef_, atol=1e-3)
    # the same seed, the same rounds
    again = _pipeline(shift_train=1, shift_rounds=2).fit(digits.X_train, digits.y_train)
    np.testing.assert_array_equal(again.classifier_.coef_, pipe.classifier_.coef_)
    path = tmp_path / "model.npz"
    pipe.save(path)
    loaded = ImagePipeline.load(path)
    assert (loaded.shift_train, loaded.shift_rounds) == (1, 2)
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  pipe.predict_proba(digits.X_test))
    metadata, arrays = load_arrays(path)
    for key in ("format", "kind", "shift_train", "shift_rounds"):
        metadata.pop(key)
    save_arrays(tmp_path / "old.npz", "ImagePipeline", metadata, arrays)
    old = ImagePipeline.load(tmp_path / "old.npz")  # written before the rounds existed
    assert (old.shift_train, old.shift_rounds) == (0, 3)
    metadata, arrays = load_arrays(path)
    for key, value, message in (
            ("shift_train", 8, "shift_train 8 needs images larger than 8x8"),
            ("shift_train", -1, "The 'shift_train' parameter of ImagePipeline must be an int "
                                "in the range [0, inf)"),
            ("shift_rounds", 0, "The 'shift_rounds' parameter of ImagePipeline must be an "
                                "int in the range [1, inf)")):
        edited = {k: v for k, v in metadata.items() if k not in ("format", "kind")}
        edited[key] = value
        save_arrays(tmp_path / "bad.npz", "ImagePipeline", edited, arrays, overwrite=True)
        with pytest.raises(ValueError, match=re.escape(message)):
            ImagePipeline.load(tmp_path / "bad.npz")


def test_pipeline_rounds_redraw_the_mirror_images_too(digits):
    """With flip_train (HOG), each round re-draws both blocks of rows: the shifted images
    and the mirror images of shifted images."""
    calls = []
    classifier = SoftmaxClassifier(epochs=4, batch_size=64, random_state=1)
    pipe = ImagePipeline(classifier, flip_train=True, shift_train=1, shift_rounds=1).fit(
        digits.X_train, digits.y_train,
        progress=lambda stage, done, total, **info: calls.append((stage, done, total)))
    n = len(digits.y_train)
    assert [c[1:] for c in calls if c[0] == "shifted features"][-1] == (2 * n, 2 * n)
    rng = offsets_generator(1)
    shifted = random_shifts(digits.X_train, 1, rng)
    assert pipe.train_accuracy_ == pipe.classifier_.score(pipe.transform(shifted),
                                                          digits.y_train)


def test_pipeline_refuses_a_shift_too_large_and_early_stopping(digits):
    with pytest.raises(ValueError, match=r"shift_train 8 needs images larger than 8x8"):
        _pipeline(shift_train=8).fit(digits.X_train, digits.y_train)
    pipe = _pipeline(shift_train=1)
    pipe.classifier.set_params(early_stopping=True)
    with pytest.raises(ValueError, match=r"shift_train cannot be combined with the "
                                         r"classifier's early_stopping"):
        pipe.fit(digits.X_train, digits.y_train)


# ---------------------------------------------------------------- command line
def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_command_line_shift_train(tmp_path):
    model = tmp_path / "m.npz"
    args = (*SMALL_ARGS, "--epochs", "6")
    report = json.loads(_run("train", *args, "--shift-train", "1", "--shift-rounds", "2",
                             "--model", model, "--json").stdout)
    assert (report["shift_train"], report["shift_rounds"]) == (1, 2)
    assert "shifted features" in report["seconds"]
    loaded = ImagePipeline.load(model)
    assert (loaded.shift_train, loaded.shift_rounds) == (1, 2)
    off = json.loads(_run("train", *args, "--json").stdout)  # the digits: off by default
    assert off["shift_train"] == 0 and "shifted features" not in off["seconds"]
    text = _run("train", *args, "--shift-train", "1").stdout
    assert "3 rounds of training images shifted up to 1 px" in text
    for extra, message in (
            (["--shift-train", "8"], "Error: --shift-train 8 needs images larger than 8x8"),
            (["--shift-rounds", "2"],
             "Error: --shift-rounds needs --shift-train (shifted training images)"),
            (["--shift-train", "1", "--early-stopping"],
             "Error: --shift-train cannot be combined with --early-stopping"),
            (["--shift-rounds", "0", "--shift-train", "1"],
             "Error: Invalid value for '--shift-rounds': 0 is not in the range x>=1.")):
        result = _run("train", *args, *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines()[-1] == message
