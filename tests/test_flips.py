"""Mirror images (``flip_train``, ``flip_predict``), shifted copies (``shift_predict``) and
power-normalized learned features."""
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
from small_kmeans import SMALL, SMALL_ARGS



@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "fsdata"))


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


@pytest.fixture(scope="module")
def dictionary(digits):
    return KMeansFeatures(**SMALL, random_state=0).fit(digits.X_train)


def _classifier():
    return SoftmaxClassifier(n_iter=150, batch_size=64, learning_rate=0.05, random_state=3)


# ---------------------------------------------------------------- power
@pytest.mark.parametrize("power", [0.5, 0.25, 2.0])
def test_power_raises_the_pooled_sums(digits, dictionary, power):
    sums = dictionary.set_params(power=1.0).transform(digits.X_test)
    powered = dictionary.set_params(power=power).transform(digits.X_test)
    assert sums.min() >= 0
    np.testing.assert_allclose(powered, sums.astype(np.float64) ** power, rtol=2e-6, atol=1e-6)


def test_kmeans_arrays_without_power_load_as_plain_sums(digits, dictionary):
    """Files written before ``power`` existed hold the paper's sums."""
    metadata, arrays = dictionary.set_params(power=0.5).to_arrays()
    assert metadata["params"]["power"] == 0.5
    del metadata["params"]["power"]
    loaded = KMeansFeatures.from_arrays(metadata, arrays)
    assert loaded.power == 1.0
    np.testing.assert_array_equal(loaded.transform(digits.X_test[:20]),
                                  dictionary.set_params(power=1.0).transform(digits.X_test[:20]))


# ---------------------------------------------------------------- flip_train
@pytest.mark.parametrize("chunk", [100, 2048])  # mirror images encoded in chunks into place
def test_flip_train_fits_the_classifier_on_images_then_mirror_images(digits, chunk,
                                                                      monkeypatch):
    from fastsoftmax.model import cached_steps as _pipeline_cache

    monkeypatch.setattr(_pipeline_cache, "MIRROR_CHUNK", chunk)
    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, flip_train=True)
    pipe.fit(digits.X_train, digits.y_train)
    # by hand: the dictionary and scaler of the originals, the rows of both
    step = KMeansFeatures(**SMALL, random_state=0).fit(digits.X_train)
    np.testing.assert_array_equal(step.cluster_centers_, pipe.features_.cluster_centers_)
    mirrored = np.ascontiguousarray(np.flip(digits.X_train, axis=2))
    rows = np.concatenate([step.transform(digits.X_train), step.transform(mirrored)])
    rows = pipe.scaler_.transform(rows)
    expected = _classifier().fit(rows, np.concatenate([digits.y_train, digits.y_train]))
    np.testing.assert_array_equal(pipe.classifier_.coef_, expected.coef_)
    assert expected.n_iter_ == pipe.classifier_.n_iter_
    # the scaler is the originals' (not the mirror images')
    raw = step.transform(digits.X_train).astype(np.float64)
    np.testing.assert_allclose(pipe.scaler_.mean_, raw.mean(axis=0), rtol=1e-5, atol=1e-5)
    assert pipe.train_accuracy_ == pytest.approx(
        np.mean(expected.predict(rows[:len(digits.y_train)]) == digits.y_train))


def test_flip_train_with_hog_and_pca(digits):
    pipe = ImagePipeline(_classifier(), flip_train=True).fit(digits.X_train, digits.y_train)
    plain = ImagePipeline(_classifier()).fit(digits.X_train, digits.y_train)
    np.testing.assert_array_equal(pipe.pca_.components_, plain.pca_.components_)
    mirrored = np.ascontiguousarray(digits.X_train[:, :, ::-1])
    rows = np.concatenate([plain.transform(digits.X_train), plain.transform(mirrored)])
    expected = _classifier().fit(rows, np.concatenate([digits.y_train, digits.y_train]))
    np.testing.assert_array_equal(pipe.classifier_.coef_, expected.coef_)


# ---------------------------------------------------------------- flip_predict
def test_flip_predict_averages_image_and_mirror_probabilities(digits):
    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, flip_predict=True)
    pipe.fit(digits.X_train, digits.y_train)
    clf = pipe.classifier_
    images = digits.X_test
    expected = 0.5 * (clf.predict_proba(pipe.transform(images))
                      + clf.predict_proba(pipe.transform(np.ascontiguousarray(images[:, :, ::-1]))))
    np.testing.assert_allclose(pipe.predict_proba(images), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(pipe.predict(images), clf.classes_[expected.argmax(axis=1)])
    assert pipe.score(images, digits.y_test) == pytest.approx(
        np.mean(clf.classes_[expected.argmax(axis=1)] == digits.y_test))
    # without it: the originals only
    pipe.set_params(flip_predict=False)
    np.testing.assert_allclose(pipe.predict_proba(images), clf.predict_proba(pipe.transform(images)))


def test_flip_predict_reports_both_passes_as_one(digits):
    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, flip_predict=True)
    pipe.fit(digits.X_train, digits.y_train)
    calls = []
    pipe.predict(digits.X_test, progress=lambda stage, done, total, **info: calls.append(
        (done, total)))
    n = len(digits.X_test)
    assert calls[0] == (0, 2 * n) and calls[-1] == (2 * n, 2 * n)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


# ---------------------------------------------------------------- shift_predict
def _shifted_by_hand(images, dy, dx):
    """Each pixel (y, x) of the copy is the image's (y - dy, x - dx), reflected about the
    edge (index -1 is 1, index H is H - 2)."""
    height, width = images.shape[1:3]
    rows = np.abs(np.arange(height) - dy)
    rows = np.where(rows > height - 1, 2 * (height - 1) - rows, rows)
    cols = np.abs(np.arange(width) - dx)
    cols = np.where(cols > width - 1, 2 * (width - 1) - cols, cols)
    return np.ascontiguousarray(images[:, rows][:, :, cols])


@pytest.mark.parametrize("dy, dx", [(2, 0), (-2, 0), (0, 3), (0, -1), (1, -2)])
def test_shift_images_moves_and_reflects(dy, dx):
    from fastsoftmax.model.views import shift_images

    images = np.arange(2 * 6 * 7 * 3).reshape(2, 6, 7, 3).astype(np.uint8)
    np.testing.assert_array_equal(shift_images(images, dy, dx),
                                  _shifted_by_hand(images, dy, dx))
    np.testing.assert_array_equal(shift_images(images[..., 0], dy, dx),
                                  _shifted_by_hand(images[..., 0], dy, dx))
    with pytest.raises(ValueError, match=r"a shift of \(6, 0\) pixels needs images larger "
                                         r"than 6x7"):
        shift_images(images, 6, 0)


def test_shift_predict_averages_the_image_and_four_shifted_copies(monkeypatch, digits):
    import fastsoftmax.model.pipeline as pipeline

    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, shift_predict=2)
    pipe.fit(digits.X_train, digits.y_train)
    clf, images = pipe.classifier_, digits.X_test
    copies = [images] + [_shifted_by_hand(images, dy, dx)
                         for dy, dx in ((2, 0), (-2, 0), (0, 2), (0, -2))]
    expected = np.mean([clf.predict_proba(pipe.transform(c)) for c in copies], axis=0)
    monkeypatch.setattr(pipeline, "PREDICT_CHUNK", 100)  # 5 chunks of the 450 images
    monkeypatch.setattr(pipeline, "SHIFTED_PREDICT_CHUNK", 100)
    calls = []
    proba = pipe.predict_proba(images, progress=lambda stage, done, total, **info: calls.append(
        (done, total)))
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(pipe.predict(images), clf.classes_[expected.argmax(axis=1)])
    n = len(images)
    assert calls[-1] == (5 * n, 5 * n) and all(total == 5 * n for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    # the shifts change the answer: the copies are not the image
    assert not np.allclose(proba, clf.predict_proba(pipe.transform(images)), atol=1e-3)


def test_model_file_keeps_shift_predict_and_refuses_a_bad_one(tmp_path, digits):
    from model_file_edits import set_metadata

    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, shift_predict=1)
    pipe.fit(digits.X_train, digits.y_train)
    path = tmp_path / "model.npz"
    pipe.save(path)
    loaded = ImagePipeline.load(path)
    assert loaded.shift_predict == 1
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  pipe.predict_proba(digits.X_test))
    metadata, arrays = load_arrays(path)
    for value, message in ((8, "shift_predict 8 needs images larger than 8x8"),
                           (10 ** 30, "shift_predict 1000000000000000000000000000000 needs "
                                      "images larger than 8x8"),
                           (-1, "The 'shift_predict' parameter of ImagePipeline must be an "
                                "int in the range [0, inf)")):
        edited = {k: v for k, v in metadata.items() if k not in ("format", "kind")}
        set_metadata("shift_predict", value)(edited, arrays)
        save_arrays(tmp_path / "bad.npz", "ImagePipeline", edited, arrays, overwrite=True)
        with pytest.raises(ValueError, match=re.escape(message)):
            ImagePipeline.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"shift_predict 8 needs images larger than 8x8"):
        pipe.set_params(shift_predict=8).fit(digits.X_train, digits.y_train)


# ---------------------------------------------------------------- model files
def test_model_file_keeps_the_flips(tmp_path, digits):
    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(**SMALL, random_state=0),
                         pca_variance=None, standardize=True, flip_train=True,
                         flip_predict=True).fit(digits.X_train, digits.y_train)
    path = tmp_path / "model.npz"
    pipe.save(path)
    loaded = ImagePipeline.load(path)
    assert loaded.flip_train and loaded.flip_predict
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  pipe.predict_proba(digits.X_test))
    # a file written before the flips existed predicts from the images alone
    metadata, arrays = load_arrays(path)
    for key in ("format", "kind", "flip_train", "flip_predict"):
        metadata.pop(key)
    save_arrays(path, "ImagePipeline", metadata, arrays)
    old = ImagePipeline.load(path)
    assert not old.flip_train and not old.flip_predict
    np.testing.assert_array_equal(
        old.predict_proba(digits.X_test),
        pipe.classifier_.predict_proba(pipe.transform(digits.X_test)))


# ---------------------------------------------------------------- command line
def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_kmeans_command_line_flips_by_default_and_evaluate_agrees(tmp_path, digits):
    """With kmeans, --flip (the default) is the features' own mirror symmetry: no mirror
    images are encoded, trained on or predicted from."""
    model = tmp_path / "m.npz"
    report = json.loads(_run("train", *SMALL_ARGS, "--model", model, "--json").stdout)
    assert report["feature_params"]["mirror"] is True
    assert report["flip_train"] is False and report["flip_predict"] is False
    assert report["feature_params"]["power"] == 0.5
    assert report["feature_params"]["whiten_eps"] == 1.0
    pipe = ImagePipeline.load(model)
    assert report["test_accuracy"] == pytest.approx(pipe.score(digits.X_test, digits.y_test))
    mirrored = np.ascontiguousarray(np.flip(digits.X_test, axis=2))
    np.testing.assert_allclose(pipe.predict_proba(mirrored), pipe.predict_proba(digits.X_test),
                               atol=1e-5)
    evaluated = json.loads(_run("evaluate", "--model", model, "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(report["test_accuracy"])
    off = json.loads(_run("train", *SMALL_ARGS, "--no-flip", "--flip-predict", "--power", "1",
                          "--whiten-eps", "0.1", "--json").stdout)
    assert off["feature_params"]["mirror"] is False
    assert off["flip_train"] is False and off["flip_predict"] is True
    assert off["n_image_features"] == 2 * report["n_image_features"]
    assert off["feature_params"]["power"] == 1.0
    assert off["feature_params"]["whiten_eps"] == 0.1
    text = _run("train", *SMALL_ARGS).stdout
    assert "trained on the mirror images too" not in text


def test_command_line_shift_predict(tmp_path, digits):
    """--shift-predict is kept in the model file for evaluate; the 8x8 digits are not
    shifted unless told (kmeans shifts images of 32x32 pixels or more by default); a
    shift as large as the images is refused."""
    model = tmp_path / "m.npz"
    report = json.loads(_run("train", *SMALL_ARGS, "--shift-predict", "3", "--model", model,
                             "--json").stdout)
    assert report["shift_predict"] == 3
    off = json.loads(_run("train", *SMALL_ARGS, "--json").stdout)
    assert off["shift_predict"] == 0 and off["train_accuracy"] == report["train_accuracy"]
    loaded = ImagePipeline.load(model)
    assert loaded.shift_predict == 3
    assert report["test_accuracy"] == pytest.approx(loaded.score(digits.X_test, digits.y_test))
    evaluated = json.loads(_run("evaluate", "--model", model, "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(report["test_accuracy"])
    assert json.loads(_run("train", "--json").stdout)["shift_predict"] == 0
    assert "4 copies shifted 3 px" in _run("train", *SMALL_ARGS, "--shift-predict", "3").stdout
    result = _run("train", *SMALL_ARGS, "--shift-predict", "8")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --shift-predict 8 needs images larger than 8x8")


def test_hog_command_line_takes_flip(digits):
    report = json.loads(_run("train", "--flip", "--json").stdout)
    assert report["flip_train"] is True and report["flip_predict"] is False
    plain = json.loads(_run("train", "--json").stdout)
    assert plain["flip_train"] is False
    assert report["test_accuracy"] != plain["test_accuracy"] or (
        report["train_accuracy"] != plain["train_accuracy"])


@pytest.mark.parametrize("features, args, message", [
    (SMALL_ARGS, ["--power", "0"],
     "Error: Invalid value for '--power': 0.0 is not in the range 0<x<=1."),
    (SMALL_ARGS, ["--power", "nan"],
     "Error: Invalid value for '--power': 'nan' is not a finite number."),
    ([], ["--power", "0.5"], "Error: --power is for --features kmeans"),
    (SMALL_ARGS, ["--whiten-eps", "0"],
     "Error: Invalid value for '--whiten-eps': 0.0 is not in the range x>0."),
    (SMALL_ARGS, ["--whiten-eps", "inf"],
     "Error: Invalid value for '--whiten-eps': 'inf' is not a finite number."),
    ([], ["--whiten-eps", "1"], "Error: --whiten-eps is for --features kmeans"),
])
def test_power_and_whitening_options_are_checked(features, args, message):
    result = _run("train", *features, *args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == message


def test_a_bad_mirrored_cache_entry_is_a_miss(tmp_path, digits):
    """The mirror images' features (hog --flip) come from the cache like the others: an
    entry of the wrong width is removed with a warning and computed again, with the same
    answers."""
    first = json.loads(_run("train", "--flip", "--json").stdout)
    cache_dir = tmp_path / "fsdata" / "cache"
    mirrored = []
    for path in cache_dir.glob("hog-*.npz"):
        with np.load(path) as entry:
            if set(entry.files) == {"features"}:
                mirrored.append((path, entry["features"]))
    assert len(mirrored) == 1
    path, features = mirrored[0]
    width = first["n_image_features"]
    assert features.shape == (len(digits.y_train), width)
    np.savez(path, features=features[:, :5])
    again = _run("-v", "train", "--flip", "--json")
    assert again.exit_code == 0, again.output
    assert (f"ignoring corrupt cache entry {path.name} (array 'features' has shape "
            f"({len(digits.y_train)}, 5), expected ({len(digits.y_train)}, {width})); removed"
            in again.stderr)
    assert not path.exists() or np.load(path)["features"].shape[1] == width
    assert "mirrored features: cache miss" in again.stderr
    assert json.loads(again.stdout)["test_accuracy"] == first["test_accuracy"]


def test_learned_features_train_without_a_padded_copy(digits, monkeypatch):
    """Features and the mirror-image rows start on a cache line, so the classifier
    trains on them as they are (a 2 GB copy on CIFAR-10 otherwise)."""
    from fastsoftmax.softmax import _layout, _numba

    features = KMeansFeatures(patch_size=3, n_centroids=16, n_patches=3000,
                              random_state=0).fit(digits.X_train)
    out = features.transform(digits.X_test)
    assert out.ctypes.data % _layout.ALIGNMENT == 0 and _numba.training_input(out) is out
    seen = []
    original = _numba.training_input
    monkeypatch.setattr(_numba, "training_input",
                        lambda X: seen.append((X, original(X))) or seen[-1][1])
    pipe = ImagePipeline(_classifier(), features=KMeansFeatures(
        patch_size=3, n_centroids=16, n_patches=3000, random_state=0), pca_variance=None,
        standardize=True, flip_train=True)
    pipe.fit(digits.X_train, digits.y_train)
    given, used = seen[-1]
    assert given.shape == (2 * len(digits.y_train), 64) and used is given
