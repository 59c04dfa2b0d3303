"""Image folders: the model records its training files, and scoring leaves them out.

``train -d FOLDER`` splits the folder at random (``--test-fraction``, ``--split-seed``)
and the model file records each training image's path and the SHA-256 of its bytes;
``evaluate -d FOLDER`` then scores only the other images and says how many it left
out.  Each case is checked against an independent computation: the split redone with
scikit-learn, the digests with hashlib, the accuracy from ``predict`` on exactly the
held-out files.  Also ``--image-size`` (mixed-size folders) and its checks.
"""
import hashlib
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.model_selection import train_test_split

from fastsoftmax.cli import main
from fastsoftmax.data import (FolderError, TrainingFiles, load_dataset, load_image_folder,
                              load_test_set)
from fastsoftmax.model.loading import load_model
from fastsoftmax.io.model_file import ModelFileError, load_arrays, save_arrays

CLASSES = ("blue", "green", "red")
PER_CLASS = 10
_ROWS, _COLS = np.mgrid[0:16, 0:16]
PATTERNS = {"blue": _ROWS, "green": _COLS, "red": _ROWS + _COLS}
#: Enough updates to learn the training images by heart (accuracy 1 on them).
FAST = ["--n-iter", "100", "--learning-rate", "0.1", "--no-cache"]


def _image(rng, name, shape=(16, 16)):
    """Faint stripes in strong noise: the model learns its training images by heart and
    scores the others far lower, as a model does on a small real folder."""
    pattern = PATTERNS[name][:shape[0], :shape[1]]
    stripes = np.where((pattern + rng.integers(0, 4)) % 4 < 2, 130, 120)
    noise = rng.integers(-60, 61, shape + (3,))
    return np.clip(stripes[:, :, None] + noise, 0, 255).astype(np.uint8)


def make_folder(root, per_class=PER_CLASS, seed=0):
    """root/<class>/<k>.png, every image different."""
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.fromarray(_image(rng, name)).save(root / name / f"{k}.png")
    return root


def all_files(root):
    """Every image of ``root/<class>/`` as the loader orders them: class, then name."""
    return [f"{c}/{p.name}" for c in CLASSES for p in sorted((root / c).glob("*.png"))]


def expected_split(root, test_fraction=0.2, seed=0):
    """The training and test files of ``root`` by scikit-learn's split, redone here."""
    files = all_files(root)
    labels = [CLASSES.index(f.split("/")[0]) for f in files]
    train, test = train_test_split(np.arange(len(files)), test_size=test_fraction,
                                   stratify=labels, random_state=seed)
    return [files[i] for i in train], [files[i] for i in test]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, private_data_folder):
    """The folder, a model trained on it by the command line, and train's JSON."""
    base = tmp_path_factory.mktemp("trained")
    root = make_folder(base / "colours")
    model = base / "model.npz"
    result = run("train", "-d", root, "-o", model, "--json", *FAST)
    assert result.exit_code == 0, result.output
    return root, model, json.loads(result.stdout)


def predicted_accuracy(model, root, files):
    """The accuracy of ``predict`` on exactly ``files`` (paths under ``root``), each
    labelled by its class folder."""
    result = run("predict", "-m", model, "--json", *[root / f for f in files])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert [p["image"] for p in predictions] == [str(root / f) for f in files]
    return np.mean([p["top"][0]["class"] == f.split("/")[0]
                    for p, f in zip(predictions, files)])


# ============================================================================ the record
def test_train_records_its_training_files_path_and_sha256(trained):
    root, model, payload = trained
    train_files, _ = expected_split(root)
    record = load_model(model).training_files_
    assert record.paths == train_files  # in the order of the training images
    assert len(record) == payload["n_training_files"] == 24
    digests = [hashlib.sha256((root / f).read_bytes()).digest() for f in train_files]
    assert [row.tobytes() for row in record.digests] == digests
    assert (record.split_seed, record.test_fraction) == (0, 0.2)
    assert (payload["split_seed"], payload["test_fraction"]) == (0, 0.2)
    # stored as plain arrays in the safe format: paths NUL-joined, digests (n, 32) uint8
    metadata, arrays = load_arrays(model)
    assert metadata["training_files"] == {"n_files": 24, "split_seed": 0, "test_fraction": 0.2}
    assert arrays["training_files__paths"].tobytes() == "\0".join(train_files).encode()
    assert arrays["training_files__digests"].shape == (24, 32)


def test_library_dataset_gives_the_same_record(trained):
    root, model, _ = trained
    dataset = load_dataset(root)
    assert dataset.train_files.paths == load_model(model).training_files_.paths
    assert len(dataset.train_files) == len(dataset.y_train)


# ============================================================================ evaluate
def test_evaluate_scores_only_the_held_out_images(trained):
    root, model, payload = trained
    _, test_files = expected_split(root)
    result = run("evaluate", "-m", model, "-d", root, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["n_images"] == 6 and sum(map(sum, scores["confusion_matrix"])) == 6
    assert scores["n_left_out"] == 24 and scores["n_training_images_scored"] == 0
    assert scores["training_files_recorded"] is True
    expected = predicted_accuracy(model, root, test_files)
    assert scores["accuracy"] == pytest.approx(expected)
    assert scores["accuracy"] == pytest.approx(payload["test_accuracy"])  # train's own split
    everything = predicted_accuracy(model, root, all_files(root))
    assert payload["train_accuracy"] == 1.0 and expected < 0.5 < everything  # all would flatter


def test_evaluate_text_says_how_many_it_left_out(trained):
    root, model, payload = trained
    result = run("evaluate", "-q", "-m", model, "-d", root)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == (
        f"folder:colours: 6 test images (24 the model was trained on left out), "
        f"accuracy {payload['test_accuracy']:.4f}")


def test_include_training_images_scores_them_and_says_so_loudly(trained):
    root, model, _ = trained
    result = run("evaluate", "-q", "-m", model, "-d", root, "--include-training-images", "--json")
    assert result.exit_code == 0
    scores = json.loads(result.stdout)
    assert scores["n_images"] == 30
    assert scores["n_left_out"] == 0 and scores["n_training_images_scored"] == 24
    assert scores["accuracy"] == pytest.approx(predicted_accuracy(model, root, all_files(root)))
    assert result.stderr == (  # even with -q: it changes what the number means
        "Warning: --include-training-images: 24 of the 30 images scored are images the model "
        "was trained on; the accuracy is not a held-out score\n")
    text = run("evaluate", "-q", "-m", model, "-d", root, "--include-training-images")
    assert text.stdout.startswith("folder:colours: 30 test images (24 of them the model was "
                                  "trained on), accuracy ")


def test_training_images_are_known_by_content_not_name(trained, tmp_path):
    root, model, _ = trained
    train_files, test_files = expected_split(root)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    renamed = train_files[0]
    (copy / renamed).rename(copy / renamed.replace(".png", "-renamed.png"))
    changed = train_files[1]  # same name, other bytes: another image, scored
    pixels = np.array(Image.open(copy / changed))
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(copy / changed)
    scores = json.loads(run("evaluate", "-m", model, "-d", copy, "--json").stdout)
    assert scores["n_left_out"] == 23 and scores["n_images"] == 7
    assert scores["accuracy"] == pytest.approx(
        predicted_accuracy(model, copy, test_files + [changed]))


def test_a_folder_of_training_images_only_is_refused(trained, tmp_path):
    root, model, _ = trained
    train_files, _ = expected_split(root)
    only = tmp_path / "only"
    for f in train_files:
        (only / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / f, only / f)
    before = listing(tmp_path)
    result = run("evaluate", "-m", model, "-d", only, "--plot", tmp_path / "cm.png")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {only}: all 24 images are images the model was trained on, so none is left "
        "to score; score another folder, or add --include-training-images to score them "
        "anyway\n")
    assert listing(tmp_path) == before
    with pytest.raises(FolderError, match=r"none is left to score; score another folder, or "
                                          r"include the training images \(include_training"
                                          r"=True\)$"):
        load_test_set(only, list(CLASSES), training_files=load_model(model).training_files_)
    again = run("evaluate", "-q", "-m", model, "-d", only, "--include-training-images", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["n_images"] == 24


def test_old_model_without_a_record_loads_and_scores_all_with_a_warning(trained, tmp_path):
    root, model, _ = trained
    metadata, arrays = load_arrays(model)
    for key in ("format", "format_version", "kind"):
        metadata.pop(key)
    metadata.pop("training_files")  # as written before the record existed
    arrays = {k: v for k, v in arrays.items() if not k.startswith("training_files__")}
    old = tmp_path / "old.npz"
    save_arrays(old, "ImagePipeline", metadata, arrays)
    assert load_model(old).training_files_ is None
    result = run("evaluate", "-q", "-m", old, "-d", root, "--json")
    assert result.exit_code == 0
    scores = json.loads(result.stdout)
    assert scores["n_images"] == 30 and scores["training_files_recorded"] is False
    assert scores["accuracy"] == pytest.approx(predicted_accuracy(model, root, all_files(root)))
    assert result.stderr == (
        f"Warning: {str(old)!r} does not record which image files the model was trained on "
        "(trained on digits, CIFAR-10 or arrays, or by an older fastsoftmax): all 30 images "
        "are scored, and any it was trained on make the accuracy too high\n")


def test_digits_evaluation_has_no_warning_and_nothing_left_out(tmp_path, private_data_folder):
    model = tmp_path / "digits.npz"
    assert run("train", "-q", "-o", model, "--n-iter", "20").exit_code == 0
    result = run("evaluate", "-q", "-m", model, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    scores = json.loads(result.stdout)
    assert (scores["n_images"], scores["n_left_out"]) == (450, 0)
    assert load_model(model).training_files_ is None


# ============================================================================ the split
def test_split_seed_moves_the_split_and_is_recorded(trained, tmp_path):
    root, model, _ = trained
    moved = tmp_path / "seed7.npz"
    result = run("train", "-d", root, "-o", moved, "--split-seed", "7", "--json", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["split_seed"] == 7
    record = load_model(moved).training_files_
    assert record.split_seed == 7
    assert record.paths == expected_split(root, seed=7)[0]
    assert set(record.paths) != set(load_model(model).training_files_.paths)
    scores = json.loads(run("evaluate", "-m", moved, "-d", root, "--json").stdout)
    assert scores["accuracy"] == pytest.approx(
        predicted_accuracy(moved, root, expected_split(root, seed=7)[1]))


def test_seed_alone_does_not_move_the_split(trained, tmp_path):
    root, model, _ = trained
    other = tmp_path / "seed5.npz"
    assert run("train", "-q", "-d", root, "-o", other, "--seed", "5", *FAST).exit_code == 0
    assert load_model(other).training_files_.paths == load_model(model).training_files_.paths


def test_test_fraction_is_respected(trained, tmp_path):
    root, _, _ = trained
    half = tmp_path / "half.npz"
    result = run("train", "-d", root, "-o", half, "--test-fraction", "0.5", *FAST)
    assert result.exit_code == 0, result.output
    assert "folder:colours: 15 training and 15 test images of 16x16x3" in result.stderr
    record = load_model(half).training_files_
    assert record.paths == expected_split(root, test_fraction=0.5)[0]
    assert (record.split_seed, record.test_fraction) == (0, 0.5)
    scores = json.loads(run("evaluate", "-m", half, "-d", root, "--json").stdout)
    assert (scores["n_images"], scores["n_left_out"]) == (15, 15)
    (X_train, _), (X_test, _) = load_image_folder(root, test_fraction=0.5, split_seed=3)
    assert (len(X_train), len(X_test)) == (15, 15)


@pytest.mark.parametrize("args, message", [
    (["--split-seed", "1"], "the digits data set is not an image folder; --split-seed is for "
                            "image folders only"),
    (["--test-fraction", "0.3", "--split-seed", "1"],
     "the digits data set is not an image folder; --test-fraction and --split-seed are for "
     "image folders only"),
    (["--image-size", "8x8"], "the digits data set is not an image folder; --image-size is for "
                              "image folders only"),
])
def test_folder_options_refused_for_digits_before_any_work(tmp_path, args, message):
    result = run("train", "-o", tmp_path / "m.npz", *args)
    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"
    assert listing(tmp_path) == []


def test_split_options_refused_for_a_folder_that_gives_its_split(tmp_path):
    root = tmp_path / "split"
    make_folder(root / "train", per_class=2)
    make_folder(root / "test", per_class=1, seed=1)
    result = run("train", "-d", root, "--test-fraction", "0.3", "-o", tmp_path / "m.npz")
    assert result.exit_code == 2
    assert result.output == (f"Error: {root} holds train/ and test/ folders, which give the "
                             "split; drop --test-fraction\n")
    assert not (tmp_path / "m.npz").exists()
    with pytest.raises(FolderError, match=r"which give the split; drop test_fraction and "
                                          r"split_seed$"):
        load_image_folder(root, test_fraction=0.3, split_seed=2)
    # without them the folders' split is recorded, with no seed
    (X, _), _ = load_image_folder(root)
    record = load_dataset(root).train_files
    assert len(record) == len(X) == 6 and record.split_seed is None
    assert record.paths[0] == "train/blue/0.png"


@pytest.mark.parametrize("option, value", [("--test-fraction", "0"), ("--test-fraction", "1"),
                                           ("--test-fraction", "nan"), ("--split-seed", "-1"),
                                           ("--split-seed", str(2**32))])
def test_bad_split_values_are_usage_errors(option, value):
    result = run("train", option, value)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '{option}'" in result.output


@pytest.mark.parametrize("kwargs, match", [
    ({"test_fraction": 1.0}, r"test_fraction must be a number between 0 and 1, got 1.0"),
    ({"test_fraction": True}, r"test_fraction must be a number between 0 and 1, got True"),
    ({"split_seed": -1}, r"split_seed must be an integer from 0 to 2\*\*32 - 1, got -1"),
    ({"split_seed": 1.5}, r"split_seed must be an integer from 0 to 2\*\*32 - 1, got 1.5"),
])
def test_library_split_values_checked(trained, kwargs, match):
    with pytest.raises(ValueError, match=f"^{match}$"):
        load_image_folder(trained[0], **kwargs)


# ============================================================================ hostile records
def _parts(model):
    metadata, arrays = load_arrays(model)
    for key in ("format", "format_version", "kind"):
        metadata.pop(key)
    return metadata, arrays


HOSTILE_RECORDS = {
    "n-zero": (lambda m, a: m["training_files"].update(n_files=0),
               r"training_files: n_files is 0, expected a positive integer"),
    "n-str": (lambda m, a: m["training_files"].update(n_files="24"),
              r"training_files: 'n_files' is a str, expected int"),
    "n-more": (lambda m, a: m["training_files"].update(n_files=25),
               r"training_files: array 'digests' has shape \(24, 32\) and dtype uint8, "
               r"expected \(25, 32\) uint8"),
    "seed-negative": (lambda m, a: m["training_files"].update(split_seed=-1),
                      r"training_files: split_seed is -1, expected 0 .. 2\*\*32 - 1"),
    "fraction-one": (lambda m, a: m["training_files"].update(test_fraction=1.5),
                     r"training_files: test_fraction is 1.5, expected between 0 and 1"),
    "seed-alone": (lambda m, a: m["training_files"].update(test_fraction=None),
                   r"training_files: split_seed and test_fraction are given together or not "
                   r"at all"),
    "record-list": (lambda m, a: m.update(training_files=[1]),
                    r"'training_files' is a list, expected dict or NoneType"),
    "digests-float": (lambda m, a: a.update(training_files__digests=np.zeros((24, 32))),
                      r"training_files: array 'digests' has shape \(24, 32\) and dtype "
                      r"float64, expected 2 dimension\(s\) of kind 'u'"),
    "digests-short": (lambda m, a: a.update(training_files__digests=np.zeros((24, 16), np.uint8)),
                      r"training_files: array 'digests' has shape \(24, 16\) and dtype uint8, "
                      r"expected \(24, 32\) uint8"),
    "digests-missing": (lambda m, a: a.pop("training_files__digests"),
                        r"training_files: array 'digests' is missing"),
    "paths-missing": (lambda m, a: a.pop("training_files__paths"),
                      r"training_files: array 'paths' is missing"),
    "paths-fewer": (lambda m, a: a.update(training_files__paths=np.frombuffer(b"a\0b", np.uint8)),
                    r"training_files: array 'paths' holds 2 paths, expected 24 non-empty ones"),
    "paths-empty": (lambda m, a: a.update(training_files__paths=np.zeros(23, np.uint8)),
                    r"training_files: array 'paths' holds 24 paths, some empty, expected 24 "
                    r"non-empty ones"),
    "paths-uint16": (lambda m, a: a.update(training_files__paths=np.zeros(3, np.uint16)),
                     r"training_files: array 'paths' has dtype uint16, expected uint8"),
    "paths-int64": (lambda m, a: a.update(training_files__paths=np.zeros(3, np.int64)),
                    r"training_files: array 'paths' has shape \(3,\) and dtype int64, expected "
                    r"1 dimension\(s\) of kind 'u'"),
}


@pytest.mark.parametrize("change, match", HOSTILE_RECORDS.values(), ids=HOSTILE_RECORDS.keys())
def test_hostile_training_files_record_is_refused(trained, tmp_path, change, match):
    metadata, arrays = _parts(trained[1])
    change(metadata, arrays)
    path = tmp_path / "m.npz"
    save_arrays(path, "ImagePipeline", json.loads(json.dumps(metadata)), arrays)
    with pytest.raises(ModelFileError, match=rf"^'{re.escape(str(path))}': {match}$"):
        load_model(path)
    result = run("evaluate", "-m", path, "-d", trained[0])
    assert result.exit_code == 2 and result.output.count("\n") == 1


def test_record_roundtrip_keeps_odd_file_names(tmp_path):
    names = ["a b/ü.png", "c/\udcff.png", "d/new\nline.png"]  # a non-UTF-8 byte, a newline
    record = TrainingFiles(names, np.arange(96, dtype=np.uint8).reshape(3, 32),
                           split_seed=4, test_fraction=0.25)
    again = TrainingFiles.from_arrays(*record.to_arrays())
    assert again.paths == names and (again.split_seed, again.test_fraction) == (4, 0.25)
    np.testing.assert_array_equal(again.digests, record.digests)
    assert again.contains([record.digests[1], bytes(32)]).tolist() == [True, False]


# ============================================================================ --image-size
@pytest.fixture
def mixed(tmp_path):
    root = make_folder(tmp_path / "mixed", per_class=5)
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "red" / "big.png")
    return root


def test_mixed_sizes_name_the_option_on_the_command_line(mixed, tmp_path):
    result = run("train", "-d", mixed, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {mixed / 'red' / 'big.png'}: image is 10x12 but {mixed / 'blue' / '0.png'} is "
        "16x16; add --image-size WxH to resize them all, e.g. --image-size 16x16 for the first "
        "one's width 16 and height 16\n")
    with pytest.raises(ValueError, match=r"is 16x16; pass image_size to resize them all$"):
        load_image_folder(mixed)


def test_image_size_is_width_by_height(mixed, tmp_path):
    model = tmp_path / "m.npz"
    result = run("train", "-q", "-d", mixed, "-o", model, "--image-size", "12x10", *FAST)
    assert result.exit_code == 0, result.output
    assert load_model(model).image_shape_ == (10, 12, 3)  # height 10, width 12
    result = run("evaluate", "-q", "-m", model, "-d", make_folder(tmp_path / "other", 2, seed=5))
    assert result.exit_code == 2
    assert result.output == ("Error: the data's images are 16x16 but the model was trained on "
                             "10x12 (height x width); add --image-size 12x10 to resize them\n")
    result = run("evaluate", "-q", "-m", model, "-d", tmp_path / "other", "--image-size", "12x10",
                 "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["n_images"] == 6


@pytest.mark.parametrize("value, reason", [
    ("0x5", "'0x5': width and height must be at least 1."),
    ("5x0", "'5x0': width and height must be at least 1."),
    ("abc", "'abc' is not WIDTHxHEIGHT in pixels, e.g. 32x32."),
    ("5", "'5' is not WIDTHxHEIGHT in pixels, e.g. 32x32."),
    ("-5x5", "'-5x5' is not WIDTHxHEIGHT in pixels, e.g. 32x32."),
    ("1.5x2", "'1.5x2' is not WIDTHxHEIGHT in pixels, e.g. 32x32."),
    ("20000x5001", "'20000x5001' is 100,020,000 pixels, more than the limit of 100,000,000."),
    ("9" * 5000 + "x1", f"'{'9' * 5000}x1' is 1,000,000,000,000 pixels, more than the limit "
                        "of 100,000,000."),
    ("\x1b[2Jx1", "'\\x1b[2Jx1' is not WIDTHxHEIGHT in pixels, e.g. 32x32."),
])
@pytest.mark.parametrize("command", ["train", "evaluate", "sweep", "study", "gradcheck"])
def test_bad_image_size_is_refused_by_every_command_reading_folders(command, value, reason,
                                                                    tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sweep and study write their folders here by default
    args = {"evaluate": ["-m", "x.npz"], "sweep": ["alpha=1"]}.get(command, [])
    result = run(command, *args, "--image-size", value)
    assert result.exit_code == 2
    assert result.output.endswith(f"Error: Invalid value for '--image-size': {reason}\n")
    assert listing(tmp_path) == []
