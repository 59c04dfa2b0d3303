"""The image pipeline and the train / evaluate / predict commands."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from skimage.color import rgb2gray
from skimage.feature import hog
from sklearn.decomposition import PCA

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.cli import main
from fastsoftmax.model.pipeline import ImagePipeline

CIFAR_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-dev" / "cifar-10-batches-py"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "fsdata"))


def _run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def _tiny_cifar(folder, n_per_batch=40, seed=0):
    """A CIFAR-10-layout folder of random images, in the official pickle format."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 3)] + ["test_batch"]
    for name in names:
        labels = rng.integers(0, 10, n_per_batch)
        # class-dependent brightness, so the data are learnable
        data = np.clip(rng.normal(20 + 20 * labels[:, None], 30, (n_per_batch, 3072)), 0, 255)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(),
                 b"data": data.astype(np.uint8), b"filenames": [b"x.png"] * n_per_batch}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    meta = {b"label_names": [n.encode() for n in ["airplane", "automobile", "bird", "cat", "deer",
                                                   "dog", "frog", "horse", "ship", "truck"]],
            b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


# ---------------------------------------------------------------- pipeline
def test_pipeline_features_equal_the_studys_scikit_image_chain():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    y = np.arange(30) % 3
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=5), pca_variance=0.9).fit(images, y)
    expected = np.array([hog(rgb2gray(im / 255.0), orientations=9, pixels_per_cell=(4, 4),
                             cells_per_block=(2, 2)) for im in images])
    np.testing.assert_allclose(pipe.features_.transform(images), expected, atol=1e-5)
    pca = PCA(0.9).fit(expected)
    assert pipe.n_features_ == pca.n_components_
    # same subspace as scikit-learn's PCA (components agree up to sign)
    overlap = np.abs(pipe.pca_.components_ @ pca.components_.T)
    np.testing.assert_allclose(np.diag(overlap), 1.0, atol=1e-3)
    # the projection (computed without a centred copy) equals scikit-learn's transform
    signs = np.sign(np.diag(pipe.pca_.components_ @ pca.components_.T))
    np.testing.assert_allclose(pipe.transform(images) * signs, pca.transform(expected),
                               atol=1e-4)


def test_pipeline_cache_skips_features_the_second_time(monkeypatch):
    from fastsoftmax.features import HOGTransformer

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8)
    y = np.arange(20) % 2
    first = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0), cache=True).fit(images, y)

    def fail(*args, **kwargs):
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(HOGTransformer, "transform", fail)
    second = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0), cache=True).fit(images, y)
    np.testing.assert_array_equal(first.pca_.components_, second.pca_.components_)
    np.testing.assert_array_equal(first.classifier_.coef_, second.classifier_.coef_)
    assert second.features_.get_params() == first.features_.get_params()
    with pytest.raises(AssertionError, match="recomputed"):
        ImagePipeline(SoftmaxClassifier(n_iter=5), cache=False).fit(images, y)
    with pytest.raises(AssertionError, match="recomputed"):  # opt-in: off by default
        ImagePipeline(SoftmaxClassifier(n_iter=5)).fit(images, y)


def test_pipeline_save_load_predicts_the_same(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    y = np.arange(40) % 4
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, random_state=0),
                         class_names=["a", "b", "c", "d"]).fit(images, y)
    pipe.save(tmp_path / "p.npz")
    again = ImagePipeline.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(again.predict_proba(images), pipe.predict_proba(images))
    assert again.class_names == ["a", "b", "c", "d"]
    assert again.features_.get_params() == pipe.features_.get_params()
    with pytest.raises(ValueError, match="trained on 16x16"):
        again.predict(images[:, :8, :8])


@pytest.mark.parametrize("flip_predict", [False, True])
def test_prediction_by_chunks_is_the_prediction_of_all_the_features(monkeypatch, flip_predict):
    """Predicting takes the images a chunk at a time; the answers are those of the
    classifier on all the images' features, and the progress counts up to the total."""
    import fastsoftmax.model.pipeline as pipeline

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (23, 16, 16, 3), dtype=np.uint8)
    y = np.arange(23) % 3
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=30, random_state=0),
                         flip_predict=flip_predict).fit(images, y)
    features = pipe.transform(images)
    expected = pipe.classifier_.predict_proba(features)
    if flip_predict:
        expected = 0.5 * (expected + pipe.classifier_.predict_proba(
            pipe.transform(images[:, :, ::-1])))
    monkeypatch.setattr(pipeline, "PREDICT_CHUNK", 5)
    seen = []
    proba = pipe.predict_proba(images, progress=lambda *args, **info: seen.append(args))
    # the PCA's float32 product over 5 rows may round unlike the one over 23
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(pipe.predict(images), np.argmax(expected, axis=1))
    passes = 2 if flip_predict else 1
    done = [d for stage, d, total in seen if stage == "features" and total == passes * 23]
    assert done == sorted(done) and done[-1] == passes * 23 and len(seen) == len(done)


def _digit_images():
    from fastsoftmax.data import load_digits_images

    digits = load_digits_images()
    return digits.X_train[:300], digits.y_train[:300]


def test_pipeline_is_a_scikit_learn_estimator():
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    images, y = _digit_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=50, random_state=0), pca_variance=0.9)
    params = pipe.get_params()
    assert params["classifier__n_iter"] == 50 and params["pca_variance"] == 0.9
    twin = clone(pipe).set_params(classifier__n_iter=60)
    assert twin.classifier.n_iter == 60 and pipe.classifier.n_iter == 50
    scores = cross_val_score(pipe, images, y, cv=3)
    # each fold equals fitting a clone by hand on the same split
    expected = [clone(pipe).fit(images[train], y[train]).score(images[test], y[test])
                for train, test in StratifiedKFold(3).split(images, y)]
    np.testing.assert_allclose(scores, expected)
    assert scores.min() > 0.8
    assert not hasattr(pipe, "classifier_")  # cross_val_score fitted clones, not pipe
    with pytest.raises(ValueError, match="'pca_variance' parameter of ImagePipeline"):
        ImagePipeline(pca_variance=1.5).fit(images, y)


class CellMeans:
    """A second feature step, for the contract: mean pixel (0..1) of each 2x2 cell."""

    def __init__(self, cell=2):
        self.cell = cell

    def get_params(self, deep=True):
        return {"cell": self.cell}

    def set_params(self, **params):
        self.__dict__.update(params)
        return self

    def fit(self, images, y=None):
        self.shape_ = images.shape[1:]
        return self

    def transform(self, images):
        n, h, w = images.shape[:3]
        c = self.cell
        cells = images[:, : h // c * c, : w // c * c].reshape(n, h // c, c, w // c, c, -1)
        return (cells.mean(axis=(2, 4)) / 255.0).reshape(n, -1).astype(np.float32)

    def fit_transform(self, images, y=None):
        return self.fit(images, y).transform(images)

    def to_arrays(self):
        return {"params": self.get_params()}, {"shape_": np.asarray(self.shape_)}

    @classmethod
    def from_arrays(cls, metadata, arrays):
        step = cls(**metadata["params"])
        step.shape_ = tuple(int(v) for v in arrays["shape_"])
        return step


def test_a_second_feature_step_plugs_in(tmp_path, monkeypatch):
    import fastsoftmax.features
    from fastsoftmax import load_model
    from fastsoftmax.io.model_file import ModelFileError

    images, y = _digit_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=100, random_state=0), features=CellMeans(),
                         pca_variance=None).fit(images, y)
    means = images.reshape(300, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(300, 16) / 255.0
    np.testing.assert_allclose(pipe.transform(images), means, rtol=1e-6)
    assert pipe.n_image_features_ == pipe.n_features_ == 16 and pipe.pca_ is None
    path = tmp_path / "cells.npz"
    pipe.save(path)
    with pytest.raises(ModelFileError, match="unknown feature step 'CellMeans'"):
        load_model(path)  # only registered classes are built from a file
    monkeypatch.setitem(fastsoftmax.features.FEATURE_STEPS, "CellMeans", __name__)
    again = load_model(path)
    assert isinstance(again.features_, CellMeans) and again.features_.shape_ == (8, 8)
    np.testing.assert_array_equal(again.predict_proba(images), pipe.predict_proba(images))


def test_format_1_pipeline_files_still_load(tmp_path):
    from fastsoftmax import load_model

    images, y = _digit_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=50, random_state=0),
                         class_names=[str(i) for i in range(10)]).fit(images, y)
    clf_meta, clf_arrays = pipe.classifier_.to_arrays()
    del clf_arrays["velocity_coef"], clf_arrays["velocity_intercept"]  # format 1 had none
    header = {"format": "fastsoftmax", "format_version": 1, "kind": "ImagePipeline",
              "classifier": clf_meta,
              "hog_params": {"orientations": 9, "pixels_per_cell": [2, 2],
                             "cells_per_block": [2, 2], "block_norm": "L2-Hys"},
              "image_shape": [8, 8], "pca_variance": 0.95, "class_names": pipe.class_names,
              "scaling": "uint8 0..255 -> 0..1 (min_max_scale), then grayscale (rgb2gray)"}
    path = tmp_path / "old.npz"
    np.savez(path, __fastsoftmax__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
             pca_mean_=pipe.pca_.mean_, pca_components_=pipe.pca_.components_,
             **{f"clf_{k}": v for k, v in clf_arrays.items()})
    old = load_model(path)
    np.testing.assert_array_equal(old.predict_proba(images), pipe.predict_proba(images))
    assert old.features_.get_params() == pipe.features_.get_params()


def test_pipeline_rejects_non_uint8_and_bad_shapes():
    pipe = ImagePipeline()
    with pytest.raises(ValueError, match="uint8"):
        pipe.fit(np.zeros((3, 8, 8)), [0, 1, 0])
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, 3\)"):
        pipe.fit(np.zeros((3, 8), np.uint8), [0, 1, 0])
    with pytest.raises(ValueError, match="empty"):
        pipe.fit(np.zeros((0, 8, 8), np.uint8), [])


# ---------------------------------------------------------------- CLI
def test_help_lists_every_command_and_version():
    result = _run("--help")
    for command in ("train", "evaluate", "predict", "gradcheck", "data"):
        assert command in result.output
    assert _run("--version").output.strip().endswith("0.1.0")


def test_train_on_digits_json_and_model(tmp_path):
    model = tmp_path / "digits.npz"
    result = _run("train", "--json", "--model", str(model), "--seed", "0")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["data"] == "digits"
    assert report["test_accuracy"] >= 0.90
    assert report["train_accuracy"] >= report["test_accuracy"] - 0.05
    assert report["n_iter"] == 1000
    assert set(report["seconds"]) >= {"load", "features", "pca", "train", "evaluate", "total"}
    assert model.is_file()
    # the saved pipeline reproduces the reported test accuracy
    evaluated = json.loads(_run("evaluate", "--model", str(model), "--json").output)
    assert evaluated["accuracy"] == pytest.approx(report["test_accuracy"])
    matrix = np.array(evaluated["confusion_matrix"])
    assert matrix.sum() == evaluated["n_images"] == 450
    assert np.trace(matrix) / matrix.sum() == pytest.approx(evaluated["accuracy"])


def test_train_hyperparameters_reach_the_classifier():
    result = _run("train", "--json", "--n-iter", "7", "--batch-size", "64", "--penalty", "l1",
                  "--alpha", "0.001", "--lr-schedule", "constant")
    report = json.loads(result.output)
    assert report["n_iter"] == 7
    assert report["params"]["batch_size"] == 64
    assert report["params"]["penalty"] == "l1"
    assert report["params"]["lr_schedule"] == "constant"


def test_study_preset_settings():
    result = _run("train", "--json", "--preset", "study", "--n-iter", "20")
    report = json.loads(result.output)
    params = report["params"]
    assert (params["batch_size"], params["learning_rate"], params["sampling"]) == (500, 0.01, "replacement")
    assert params["alpha"] == pytest.approx(1.2 / 500)
    assert report["n_iter"] == 20
    assert report["study_test_accuracy"] == 0.4419


@pytest.mark.parametrize("args,match", [
    (["--lr", "-1"], "'learning_rate' parameter of SoftmaxClassifier must be"),
    (["--lr", "0"], "'learning_rate' parameter of SoftmaxClassifier must be"),
    (["--momentum", "1.5"], "'momentum' parameter of SoftmaxClassifier must be"),
    (["--epochs", "2", "--n-iter", "3"], "not both"),
    (["--data", "no/such/folder"], "no such file or folder"),
    (["--model", "no/such/folder/m.npz"], "does not exist"),
])
def test_train_bad_input_is_one_line_and_exit_2(args, match):
    result = CliRunner().invoke(main, ["train", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert match in result.output


def test_train_divergence_is_one_line():
    result = CliRunner().invoke(main, ["train", "--lr", "1e9", "--n-iter", "300"])
    assert result.exit_code == 2
    assert "diverged" in result.output and "smaller learning_rate" in result.output


def test_evaluate_and_predict_errors(tmp_path):
    bare = tmp_path / "bare.npz"
    SoftmaxClassifier(n_iter=3).fit(np.eye(4), [0, 1, 0, 1]).save(bare)
    result = CliRunner().invoke(main, ["evaluate", "--model", str(bare)])
    assert result.exit_code == 2 and "not an image pipeline" in result.output
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    result = CliRunner().invoke(main, ["predict", "--model", str(junk), "x.png"])
    assert result.exit_code == 2 and "not a fastsoftmax model" in result.output


def test_predict_answers_good_images_and_names_bad_ones(tmp_path):
    import skimage.io

    from fastsoftmax.data import load_digits_images

    model = tmp_path / "digits.npz"
    assert _run("train", "--json", "--model", str(model)).exit_code == 0
    digits = load_digits_images()
    good = tmp_path / "digit.png"
    skimage.io.imsave(good, digits.X_test[0], check_contrast=False)
    big = tmp_path / "big.png"  # 4x larger and RGB: resized and turned to gray
    skimage.io.imsave(big, np.repeat(np.kron(digits.X_test[0], np.ones((4, 4), np.uint8))[:, :, None], 3, axis=2),
                      check_contrast=False)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    result = CliRunner().invoke(main, ["predict", "--model", str(model), "--json", "--top-k", "3",
                                       str(good), str(bad), str(big)])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert [p["image"] for p in payload["predictions"]] == [str(good), str(big)]
    assert payload["errors"][0]["image"] == str(bad)
    assert "bad.png" in result.stderr
    from fastsoftmax.cli.building import load_pipeline

    pipe = load_pipeline(str(model))
    expected = pipe.predict_proba(digits.X_test[:1])[0]
    top = payload["predictions"][0]["top"]
    assert len(top) == 3
    assert top[0]["class"] == pipe.class_names[int(np.argmax(expected))]
    assert top[0]["probability"] == pytest.approx(expected.max(), rel=1e-6)


def test_train_and_evaluate_on_a_cifar_layout_folder(tmp_path):
    data = _tiny_cifar(tmp_path / "cifar-10-batches-py")
    model = tmp_path / "m.npz"
    result = _run("train", "--data", str(data), "--json", "--model", str(model), "--n-iter", "200")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["data"] == "cifar10" and report["n_hog_features"] == 1764
    plot = tmp_path / "cm.png"
    evaluated = json.loads(_run("evaluate", "--model", str(model), "--data", str(data), "--json",
                                "--plot", str(plot)).output)
    assert evaluated["accuracy"] == pytest.approx(report["test_accuracy"])
    assert list(evaluated["per_class_accuracy"]) [:2] == ["airplane", "automobile"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # digits (classes "0".."9") against a CIFAR model: refused by class name
    result = CliRunner().invoke(main, ["evaluate", "--model", str(model)])
    assert result.exit_code == 2 and "class '0', '1'" in result.output
    assert "is not a class the model knows" in result.output


@pytest.mark.cifar
@pytest.mark.skipif(not CIFAR_DEV.is_dir(), reason="development CIFAR-10 copy not present")
def test_real_cifar_subset_beats_chance_by_far(tmp_path):
    from fastsoftmax.data import load_cifar10

    (X_train, y_train), (X_test, y_test) = load_cifar10(CIFAR_DEV)
    pipe = ImagePipeline(SoftmaxClassifier(random_state=0)).fit(X_train[:5000], y_train[:5000])
    # HOG + PCA + softmax on 5,000 images: far above chance (0.1), near 0.45
    assert pipe.score(X_test[:2000], y_test[:2000]) > 0.40


def test_evaluate_predictions_hand_computed():
    from fastsoftmax.model.metrics import evaluate_predictions

    scores = evaluate_predictions([0, 0, 1, 2], [0, 1, 1, 1], n_classes=4)
    np.testing.assert_array_equal(scores.confusion_matrix,
                                  [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(scores.support, [2, 1, 1, 0])
    np.testing.assert_array_equal(scores.per_class_accuracy, [0.5, 1.0, 0.0, np.nan])
    assert scores.accuracy == 0.5
    assert scores.to_dict(list("abcd"))["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.0,
                                                                  "d": None}


def test_kmeans_shifts_images_of_32_pixels_by_default(tmp_path):
    """The learned-feature default predicts from copies shifted 3 pixels on CIFAR-sized
    images (the 8x8 digits are not shifted, see tests/test_flips.py)."""
    folder = tmp_path / "cifar-10-batches-py"
    _tiny_cifar(folder)
    args = ["train", "-d", str(folder), "--features", "kmeans", "--n-centroids", "8",
            "--n-patches", "2000", "--epochs", "1", "--json"]
    report = json.loads(_run(*args).stdout)
    assert report["shift_predict"] == 3
    assert json.loads(_run(*args, "--shift-predict", "0").stdout)["shift_predict"] == 0


def test_kmeans_with_a_second_layer_trains_saves_and_evaluates(tmp_path):
    """``--second-layer`` through the command line: the report counts both layers'
    features, and the model file predicts as the model that was trained."""
    folder = tmp_path / "cifar-10-batches-py"
    _tiny_cifar(folder)
    model = tmp_path / "two.npz"
    args = ["train", "-d", str(folder), "--features", "kmeans", "--n-centroids", "8",
            "--n-patches", "2000", "--second-layer", "6", "--second-layer-channels", "4",
            "--epochs", "2", "--shift-predict", "0", "--model", str(model), "--json"]
    report = json.loads(_run(*args).stdout)
    # first layer: (9 regions + whole) x 2 polarities x 4 base atoms; second: 10 x 6
    assert report["n_features"] == 80 + 60
    assert report["feature_params"]["second_layer"] == 6
    evaluated = json.loads(_run("evaluate", "--model", str(model), "-d", str(folder),
                                "--json").stdout)
    assert evaluated["accuracy"] == report["test_accuracy"]


def test_a_second_layer_on_images_too_small_for_its_cells_is_refused(tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _run("train", "--features", "kmeans", "--second-layer", "10",
                  "--model", str(tmp_path / "m.npz"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: a second layer needs at least 9 patch positions a side (--pooling 3), got 3")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
