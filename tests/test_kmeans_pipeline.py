"""Learned features in the pipeline and on the command line (issue 17): standardization,
model files, ``train/evaluate/predict/sweep --features kmeans`` on the digits."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.preprocessing import StandardScaler

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.cli import main
from fastsoftmax.data import load_digits_images
from fastsoftmax.features import KMeansFeatures
from fastsoftmax.io.model_file import ModelFileError, load_arrays, save_arrays
from fastsoftmax.model.pipeline import ImagePipeline
from fastsoftmax.model.scaling import FeatureScaler
from fastsoftmax._shared.presets import (FEATURE_SETUPS, KMEANS_CLASSIFIER, KMEANS_FEATURES,
                                         LARGE_IMAGE_MIN_SIDE, LARGE_SETUPS)
from model_file_edits import set_array, set_metadata
from small_kmeans import CLI_WIDTH, SMALL, SMALL_ARGS



@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "fsdata"))


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


#: The feature step ``train`` builds with :data:`SMALL_ARGS`: the command line's
#: defaults (power, whitening) with the small sizes.
CLI_SMALL = {**KMEANS_FEATURES, **SMALL}


def _pipeline(digits, seed=0):
    """What ``train --features kmeans`` with :data:`SMALL_ARGS` builds, in process."""
    setup = FEATURE_SETUPS["kmeans"]
    return ImagePipeline(SoftmaxClassifier(**KMEANS_CLASSIFIER, random_state=seed),
                         features=KMeansFeatures(**CLI_SMALL, random_state=seed),
                         pca_variance=None, standardize=True, class_names=digits.class_names,
                         flip_train=setup["flip_train"], flip_predict=setup["flip_predict"],
                         # the CLI shifts no image smaller than LARGE_IMAGE_MIN_SIDE
                         shift_predict=(setup["shift_predict"]
                                        if min(digits.X_train.shape[1:3]) >= LARGE_IMAGE_MIN_SIDE
                                        else 0))


@pytest.fixture(scope="module")
def fitted(digits):
    return _pipeline(digits).fit(digits.X_train, digits.y_train)


# ---------------------------------------------------------------- the pipeline
def test_standardized_features_equal_scikit_learns_scaler(digits, fitted):
    raw_train = KMeansFeatures(**CLI_SMALL, random_state=0).fit_transform(digits.X_train)
    raw_test = fitted.features_.transform(digits.X_test)
    scaler = StandardScaler().fit(raw_train.astype(np.float64))
    np.testing.assert_allclose(fitted.transform(digits.X_test), scaler.transform(raw_test),
                               rtol=1e-4, atol=1e-4)
    assert fitted.n_image_features_ == fitted.n_features_ == CLI_WIDTH
    assert fitted.pca_ is None and set(fitted.timings_) >= {"features", "standardize", "train"}


@pytest.mark.parametrize("block_rows", [None, 7])  # one block; 715 of 7 rows, the last 2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_scaler_equals_scikit_learns(monkeypatch, dtype, block_rows):
    if block_rows is not None:
        import fastsoftmax.model.scaling as scaling

        monkeypatch.setattr(scaling, "_BLOCK_BYTES", 8 * 40 * block_rows)
    rng = np.random.default_rng(3)
    X = (rng.random((5000, 40)) * rng.uniform(0.1, 100, 40) + rng.uniform(-50, 500, 40))
    X[:, 7] = 3.5  # constant: scale 1
    X = X.astype(dtype)
    ours, reference = FeatureScaler().fit(X), StandardScaler().fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.mean_, reference.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.scale_, reference.scale_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(X), reference.transform(X), rtol=1e-4, atol=1e-4)
    assert ours.scale_[7] == 1.0 and ours.transform(X).dtype == np.float32


def test_feature_scaler_keeps_constant_features_and_works_in_place():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    scaler = FeatureScaler().fit(X)
    np.testing.assert_allclose(scaler.scale_, [np.sqrt(8 / 3), 1.0], rtol=1e-6)
    out = scaler.transform(X, copy=False)
    assert out is X
    np.testing.assert_allclose(X[:, 0], np.array([-2, 0, 2]) / np.sqrt(8 / 3), rtol=1e-6)
    np.testing.assert_array_equal(X[:, 1], 0.0)


def test_kmeans_pipeline_round_trip(tmp_path, digits, fitted):
    path = tmp_path / "kmeans.npz"
    fitted.save(path)
    loaded = ImagePipeline.load(path)
    for name in ("whiten_mean_", "whiten_matrix_", "cluster_centers_"):
        np.testing.assert_array_equal(getattr(loaded.features_, name),
                                      getattr(fitted.features_, name))
    np.testing.assert_array_equal(loaded.scaler_.mean_, fitted.scaler_.mean_)
    np.testing.assert_array_equal(loaded.scaler_.scale_, fitted.scaler_.scale_)
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  fitted.predict_proba(digits.X_test))
    assert loaded.standardize and loaded.pca_ is None
    assert loaded.features_.get_params() == fitted.features_.get_params()


# ---------------------------------------------------------------- model-file checks
@pytest.fixture(scope="module")
def kmeans_parts(tmp_path_factory, fitted):
    path = tmp_path_factory.mktemp("model") / "good.npz"
    fitted.save(path)
    metadata, arrays = load_arrays(path)
    for key in ("format_version", "format", "kind"):
        metadata.pop(key, None)
    return metadata, arrays


def _load_changed(tmp_path, parts, change):
    metadata, arrays = json.loads(json.dumps(parts[0])), dict(parts[1])
    change(metadata, arrays)
    path = tmp_path / "m.npz"
    save_arrays(path, "ImagePipeline", metadata, arrays)
    return path




KMEANS_CASES = {
    "dictionary-shape": (
        set_array("features__cluster_centers", lambda a: a["features__cluster_centers"][:, :5]),
        r"features: KMeansFeatures arrays: 'cluster_centers' must be float32 of shape "
        r"\(8, 9\), got float32 \(8, 5\)"),
    "dictionary-rows": (
        set_array("features__cluster_centers", lambda a: a["features__cluster_centers"][:6]),
        r"features: KMeansFeatures arrays: 'cluster_centers' must be float32 of shape "
        r"\(8, 9\), got float32 \(6, 9\)"),
    "n-centroids-vs-classifier": (
        # 3 of the 4 atoms and their mirror images: (3 x 3 + 1) regions x 2 x 3 = 60 features
        lambda m, a: (m["features"]["params"].update(n_centroids=6),
                      a.update(features__cluster_centers=a["features__cluster_centers"][
                          [0, 1, 2, 4, 5, 6]])),
        r"the scaler takes 80 features but the feature step gives 60 for 8x8 images"),
    "image-shape": (set_metadata("image_shape", [16, 16]),
                    r"image_shape \[16, 16\] is not the feature step's image_shape_ \[8, 8, 1\]"),
    "n-iter-str": (set_metadata("features.n_iter", "5"),
                   r"features: KMeansFeatures arrays: n_iter is '5', expected an integer >= 0"),
    "inertia-negative": (set_metadata("features.inertia", -1.0),
                         r"features: KMeansFeatures arrays: inertia is -1.0, expected a finite "
                         r"number >= 0"),
    "params-list": (set_metadata("features.params", [["n_centroids", 8]]),
                    r"features: KMeansFeatures arrays: params is not a mapping"),
    "scaler-missing": (set_metadata("scaler", None),
                       r"standardize is True but the file has no scaler step"),
    "standardize-false": (set_metadata("standardize", False),
                          r"standardize is False but the file has a scaler step"),
    "standardize-str": (set_metadata("standardize", "yes"), r"'standardize' is a str, expected bool"),
    "scaler-shape": (set_array("scaler__scale_", lambda a: a["scaler__scale_"][:5]),
                     r"scaler: scale_ has shape \(5,\), expected \(80,\)"),
    "scaler-zero": (set_array("scaler__scale_", lambda a: np.zeros_like(a["scaler__scale_"])),
                    r"scaler: scale_ holds values <= 0"),
    "scaler-nan": (set_array("scaler__mean_", lambda a: np.full_like(a["scaler__mean_"], np.nan)),
                   r"scaler: mean_ holds non-finite values"),
    "scaler-mean-missing": (set_array("scaler__mean_", None),
                            r"scaler: array 'mean_' is missing"),
    "scaler-n-features": (set_metadata("scaler.n_features_in_", "32"),
                          r"scaler: 'n_features_in_' is a str, expected int"),
    "flip-predict-str": (set_metadata("flip_predict", "yes"),
                         r"'flip_predict' is a str, expected bool"),
    "flip-train-int": (set_metadata("flip_train", 1), r"'flip_train' is a int, expected bool"),
    "power-zero": (set_metadata("features.params.power", 0.0),
                   r"features: KMeansFeatures arrays: bad parameter \(power must be a positive "
                   r"finite number, got 0.0\)"),
    "power-str": (set_metadata("features.params.power", "0.5"),
                  r"features: KMeansFeatures arrays: bad parameter \(power must be a positive "
                  r"number, got '0.5'\)"),
}


@pytest.mark.parametrize("change, match", KMEANS_CASES.values(), ids=KMEANS_CASES.keys())
def test_kmeans_model_contents_are_checked(tmp_path, kmeans_parts, change, match):
    path = _load_changed(tmp_path, kmeans_parts, change)
    with pytest.raises(ModelFileError, match=rf"^'{re.escape(str(path))}': {match}$"):
        ImagePipeline.load(path)


def test_model_without_scaler_entries_loads_as_unstandardized(tmp_path, digits):
    """A model file written before the scaling step (no ``standardize``/``scaler``)."""
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, random_state=0)).fit(
        digits.X_train, digits.y_train)
    path = tmp_path / "old.npz"
    pipe.save(path)
    metadata, arrays = load_arrays(path)
    for key in ("format", "kind", "standardize", "scaler"):
        metadata.pop(key)
    save_arrays(path, "ImagePipeline", metadata, arrays)
    loaded = ImagePipeline.load(path)
    assert loaded.scaler_ is None and not loaded.standardize
    np.testing.assert_array_equal(loaded.predict(digits.X_test), pipe.predict(digits.X_test))


# ---------------------------------------------------------------- command line
def test_train_kmeans_then_evaluate_and_predict_match_the_pipeline(tmp_path, digits, fitted):
    import skimage.io

    model = tmp_path / "kmeans.npz"
    result = _run("train", *SMALL_ARGS, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["features"] == "kmeans"
    assert report["n_image_features"] == report["n_features"] == CLI_WIDTH
    assert "n_hog_features" not in report
    assert {k: report["params"][k] for k in KMEANS_CLASSIFIER} == KMEANS_CLASSIFIER
    assert report["feature_params"]["n_centroids"] == 8
    assert set(report["seconds"]) >= {"features", "standardize", "train", "evaluate"}
    # the CLI's model is the in-process pipeline: same seed, same steps, same answers
    loaded = ImagePipeline.load(model)
    np.testing.assert_array_equal(loaded.features_.cluster_centers_,
                                  fitted.features_.cluster_centers_)
    np.testing.assert_array_equal(loaded.predict(digits.X_test), fitted.predict(digits.X_test))
    assert report["test_accuracy"] == pytest.approx(fitted.score(digits.X_test, digits.y_test))
    evaluated = json.loads(_run("evaluate", "--model", model, "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(report["test_accuracy"])
    images = []
    for i in range(3):
        images.append(tmp_path / f"digit{i}.png")
        skimage.io.imsave(images[-1], digits.X_test[i], check_contrast=False)
    predicted = _run("predict", "--model", model, "--json", *images)
    assert predicted.exit_code == 0, predicted.output
    answers = [p["top"][0]["class"] for p in json.loads(predicted.stdout)["predictions"]]
    expected = fitted.predict(digits.X_test[:3])
    assert answers == [digits.class_names[k] for k in expected]


def test_train_kmeans_text_output_and_user_settings_win():
    result = _run("train", *SMALL_ARGS, "--learning-rate", "0.05", "--epochs", "3",
                  "--pca-variance", "0.9", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["params"]["learning_rate"] == 0.05 and report["params"]["epochs"] == 3
    assert report["params"]["alpha"] == KMEANS_CLASSIFIER["alpha"]
    assert report["n_features"] < report["n_image_features"] == CLI_WIDTH  # PCA when asked
    text = _run("train", *SMALL_ARGS).stdout
    assert f"features: {CLI_WIDTH} kmeans, standardized; " in text


def test_kmeans_features_are_cached_under_their_kind(digits, monkeypatch):
    first = json.loads(_run("train", *SMALL_ARGS, "--json").stdout)
    info = json.loads(_run("data", "info", "--json").stdout)
    kinds = sorted(entry["kind"] for entry in info["cache_entry_list"])
    # the training images' features (the same as their mirror images'); no PCA entry
    assert kinds == ["kmeans"]
    # a second fit reads the dictionary and the training features from the cache
    def refuse(*args, **kwargs):
        raise AssertionError("the features were computed again")

    monkeypatch.setattr(KMeansFeatures, "fit_transform", refuse)
    second = _run("-v", "train", *SMALL_ARGS, "--json")
    assert "features: cache hit" in second.stderr
    second = json.loads(second.stdout)
    assert second["test_accuracy"] == first["test_accuracy"]
    assert second["train_accuracy"] == first["train_accuracy"]


@pytest.mark.parametrize("args, message", [
    (["--n-centroids", "4"], "Error: --n-centroids is for --features kmeans"),
    (["--features", "kmeans", "--pixels-per-cell", "2"],
     "Error: --pixels-per-cell is for --features hog"),
    (["--features", "kmeans", "--n-centroids", "50", "--n-patches", "10"],
     "Error: --n-patches (10) must be at least --n-centroids (50)"),
    (["--features", "kmeans", "--n-centroids", "7"],
     "Error: with --flip, --n-centroids is even (atoms and their mirror images), got 7"),
    (["--features", "kmeans", "--encoder", "triangle", "--n-centroids", "7", "--no-flip",
      "--patch-size", "3", "--n-patches", "100", "--dictionary-iter", "2", "--epochs", "1",
      "--flip-predict"], None),
    (["--features", "kmeans", "--pooling", "2", "--patch-size", "2"],
     "Error: with --flip, the --pooling grid must divide the 7 patch positions a side "
     "symmetrically; --pooling 2 does not (it can be 1, 3, 5, 7)"),
    (["--features", "kmeans", "--flip-predict"],
     "Error: --flip-predict adds nothing to --features kmeans with --flip: its features are "
     "the same for an image and its mirror image"),
    (["--preset", "large"], "Error: --preset large is for --features kmeans"),
    (["--features", "kmeans", "--quadrants"],
     "Error: --quadrants needs a second layer: they are sums of its cells"),
    (["--features", "kmeans", "--patch-size", "9"],
     "Error: --patch-size 9 is larger than the 8x8 images"),
])
def test_train_refuses_bad_feature_options(args, message):
    result = _run("train", *args)
    if message is None:  # the control: without --flip, these are fine
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == message


def test_sweep_with_kmeans_features(tmp_path):
    out = tmp_path / "sweep"
    result = _run("sweep", "learning_rate=0.01,0.03", *SMALL_ARGS, "--out", out, "--no-plots",
                  "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["runs"] == 2 and payload["failed_runs"] == payload["diverged_runs"] == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["sizes"]["feature_step"] == "kmeans"
    assert saved["sizes"]["features"] == saved["sizes"]["image_features"] == CLI_WIDTH
    assert saved["base_params"]["alpha"] == KMEANS_CLASSIFIER["alpha"]
    assert saved["base_params"]["epochs"] == KMEANS_CLASSIFIER["epochs"]
    assert {row["config"]["learning_rate"] if "config" in row else row["learning_rate"]
            for row in payload["rows"]} == {0.01, 0.03}
    assert all(row["val_accuracy"] > 0.8 for row in payload["rows"])
    report = _run("report", out)
    assert report.exit_code == 0, report.output
    assert f"{CLI_WIDTH} standardized kmeans features" in (out / "report.md").read_text()


def test_study_with_kmeans_features(tmp_path):
    out = tmp_path / "study"
    result = _run("study", *SMALL_ARGS, "--n-iter", "40", "--repeats", "1", "--out", out,
                  "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["sizes"]["feature_step"] == "kmeans"
    assert payload["sizes"]["features"] == CLI_WIDTH and not payload["sizes"]["pca"]
    assert set(payload["findings"]) == {"batch_size", "learning_rate", "n_iter", "l2", "l1"}
    assert f"{CLI_WIDTH} standardized kmeans features" in (out / "report.md").read_text()


def test_the_large_preset_adds_a_second_layer_on_images_of_32_pixels_only(tmp_path):
    from dataset_files import write_svhn

    write_svhn(tmp_path / "svhn", n_train=100, n_test=20)
    small = ["--features", "kmeans", "--preset", "large", "--n-centroids", "8",
             "--n-patches", "2000", "--second-layer-channels", "8", "--epochs", "2", "--json"]
    model = tmp_path / "large.npz"
    on_32 = _run("train", "-d", tmp_path / "svhn", *small, "--model", model)
    assert on_32.exit_code == 0, on_32.output
    report = json.loads(on_32.stdout)
    second = LARGE_SETUPS["kmeans"]["image_params"]["second_layer"]
    assert report["feature_params"]["second_layer"] == second
    assert report["shift_train"] == LARGE_SETUPS["kmeans"]["setup"]["shift_train"]
    assert report["feature_params"]["quadrants"] is True
    # (9 regions + the whole image + 4 quadrants) x 8 atoms, folded, then 10 x the second
    # layer's atoms
    assert report["n_features"] == 112 + 10 * second
    features = ImagePipeline.load(model).features_
    assert features.second_layer_.atoms_.shape == (second, 3 * 3 * 8)
    assert features.quadrants is True
    # a --second-layer or --no-quadrants given wins; without a second layer the preset's
    # quadrants go too; images smaller than 32 pixels get none
    given = json.loads(_run("train", "-d", tmp_path / "svhn", *small, "--second-layer",
                            "20").stdout)
    assert given["n_features"] == 112 + 200
    given = json.loads(_run("train", "-d", tmp_path / "svhn", *small, "--second-layer", "20",
                            "--no-quadrants").stdout)
    assert given["n_features"] == 80 + 200
    none = json.loads(_run("train", "-d", tmp_path / "svhn", *small, "--second-layer",
                           "0").stdout)
    assert none["n_features"] == 80 and none["feature_params"]["quadrants"] is False
    on_8 = json.loads(_run("train", *small).stdout)
    assert on_8["feature_params"]["second_layer"] == KMEANS_FEATURES["second_layer"] == 0
    assert on_8["feature_params"]["quadrants"] is KMEANS_FEATURES["quadrants"] is False
    assert on_8["shift_train"] == 0
    swept = _run("sweep", "alpha=1e-3", "-d", tmp_path / "svhn", *small[:-1], "--out",
                 tmp_path / "sweep", "--no-plots")
    assert swept.exit_code == 0, swept.output
    saved = json.loads((tmp_path / "sweep" / "results.json").read_text())
    assert saved["feature_params"]["second_layer"] == second