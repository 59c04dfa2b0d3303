"""The published data sets: CIFAR-100, MNIST / Fashion-MNIST (idx), SVHN (.mat).

- small well-formed files of each format (made from the digits, ``dataset_files``) load
  to exactly the arrays written, and train, evaluate, predict, sweep and ``features``
  run on them through the command line;
- CIFAR-100 gives 100 class names, ``--labels coarse`` 20, and evaluate scores a
  coarse model on the coarse labels;
- hostile files (truncated, lying headers, wrong shapes, labels out of range) are each
  a one-line error with exit 2, refused while Python has allocated little (the file's
  size, not its header's claim), and nothing is written;
- ``data download NAME`` checks each file's md5 (a wrong one: one line, exit 2, no file
  left), and ``data info`` lists every data set with its state.
"""
import dataclasses
import gzip
import hashlib
import http.server
import json
import struct
import threading

import numpy as np
import pytest

from dataset_files import (COARSE, FINE, cifar100_batch, digits_28, idx_bytes, write_cifar100,
                           write_idx, write_svhn)
from cli_helpers import invoke as _invoke, listing as _listing
from fastsoftmax.data import CorruptDataError, load_dataset, load_test_set
from fastsoftmax.data.cifar100 import load_cifar100
from fastsoftmax.data.idx import MAX_IDX_BYTES, load_idx, read_idx
from fastsoftmax.data.svhn import load_svhn, read_svhn_mat

MiB = 1 << 20
pytestmark = pytest.mark.usefixtures("private_data_folder")




def _one_line_error(result, message):
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {message}\n"


# ====================================================================== well-formed files
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One folder of each format, and the arrays written into them."""
    root = tmp_path_factory.mktemp("sets")
    return root, {"mnist": write_idx(root / "mnist"),
                  "plain": write_idx(root / "plain", gz=False),
                  "fashion": write_idx(root / "fashion-mnist" / "raw"),
                  "svhn": write_svhn(root / "svhn"),
                  "cifar100": write_cifar100(root / "c100")}


def test_each_format_loads_exactly_what_was_written(files):
    root, written = files
    for folder, key in (("mnist", "mnist"), ("plain", "plain"), ("fashion-mnist", "fashion")):
        (X_tr, y_tr), (X_te, y_te), names, kind = load_idx(root / folder,
                                                           return_class_names=True)
        (eX_tr, ey_tr), (eX_te, ey_te) = written[key]
        np.testing.assert_array_equal(X_tr, eX_tr)
        np.testing.assert_array_equal(X_te, eX_te)
        np.testing.assert_array_equal(y_tr, ey_tr)
        np.testing.assert_array_equal(y_te, ey_te)
        assert X_tr.dtype == np.uint8 and X_tr.shape[1:] == (28, 28) and y_tr.dtype == np.int64
        assert kind == ("fashion-mnist" if key == "fashion" else "mnist")
        assert names[0] == ("T-shirt/top" if key == "fashion" else "0") and len(names) == 10
    (X_tr, y_tr), (X_te, y_te), names = load_svhn(root / "svhn", return_class_names=True)
    (eX_tr, ey_tr), (eX_te, ey_te) = written["svhn"]
    np.testing.assert_array_equal(X_tr, eX_tr)
    np.testing.assert_array_equal(y_tr, ey_tr)  # label 10 read back as digit 0
    np.testing.assert_array_equal(X_te, eX_te)
    assert X_tr.shape[1:] == (32, 32, 3) and X_tr.flags.c_contiguous and 0 in y_tr
    for labels, column, expected_names in (("fine", 1, FINE), ("coarse", 2, COARSE)):
        (X_tr, y_tr), (X_te, y_te), names = load_cifar100(root / "c100", labels,
                                                          return_class_names=True)
        np.testing.assert_array_equal(X_tr, written["cifar100"][0][0])
        np.testing.assert_array_equal(y_tr, written["cifar100"][0][column])
        np.testing.assert_array_equal(y_te, written["cifar100"][1][column])
        assert names == expected_names


def test_the_datasets_say_where_their_test_split_came_from(files):
    root, _ = files
    for folder, name in (("mnist", "mnist"), ("fashion-mnist", "fashion-mnist"),
                         ("svhn", "svhn"), ("c100", "cifar100")):
        dataset = load_dataset(root / folder)
        assert dataset.name == name
        assert dataset.split == {"test_split": "published", "test_fraction": None,
                                 "split_seed": None}
    assert load_dataset().split == {"test_split": "random", "test_fraction": 0.25,
                                    "split_seed": 0}
    assert load_dataset(root / "c100", labels="coarse").name == "cifar100-coarse"


def test_mnist_trains_evaluates_and_predicts_end_to_end(files, tmp_path):
    root, _ = files
    model = tmp_path / "mnist.npz"
    result = _invoke("train", "-d", root / "mnist", "--n-iter", 60, "-o", model, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["data"] == "mnist" and out["n_image_features"] == 1296  # 4x4 cells on 28x28
    assert out["split"] == {"n_train": 300, "n_validation": 0, "n_test": 100,
                            "test_split": "published", "test_fraction": None,
                            "split_seed": None, "validation_fraction": None,
                            "validation_seed": None}
    assert out["test_accuracy"] > 0.6
    from fastsoftmax.model.loading import load_model

    assert load_model(model).split_.to_dict() == out["split"]
    scored = _invoke("evaluate", "--model", model, "-d", root / "mnist", "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["accuracy"] == pytest.approx(out["test_accuracy"])
    from PIL import Image

    image = tmp_path / "seven.png"
    Image.fromarray(digits_28(files[1]["mnist"][1][0][:1])[0]).save(image)
    predicted = _invoke("predict", "--model", model, image, "--json")
    assert predicted.exit_code == 0, predicted.output


@pytest.mark.parametrize("folder, name", [("plain", "mnist"), ("fashion-mnist", "fashion-mnist"),
                                          ("svhn", "svhn")])
def test_each_format_trains_through_the_cli(files, folder, name):
    root, _ = files
    result = _invoke("train", "-d", root / folder, "--n-iter", 30, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["data"] == name and len(out["class_names"]) == 10
    assert out["split"]["n_train"] == 300 and out["split"]["n_test"] == 100


def test_cifar100_reports_100_classes_or_20_coarse_ones(files, tmp_path):
    root, _ = files
    fine = _invoke("train", "-d", root / "c100", "--n-iter", 20)
    assert fine.exit_code == 0, fine.output
    assert "cifar100: 100 classes; 200 training images, 100 test images (the data set's test " \
           "files)" in fine.stdout
    model = tmp_path / "coarse.npz"
    coarse = _invoke("train", "-d", root / "c100", "--labels", "coarse", "--n-iter", 20,
                     "-o", model, "--json")
    assert coarse.exit_code == 0, coarse.output
    out = json.loads(coarse.stdout)
    assert out["class_names"] == COARSE and out["data"] == "cifar100-coarse"
    # evaluate picks the coarse labels for a model of the coarse classes
    scored = _invoke("evaluate", "--model", model, "-d", root / "c100", "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["class_names"] == COARSE
    test = load_test_set(root / "c100", COARSE)
    np.testing.assert_array_equal(test.y_test, files[1]["cifar100"][1][2])


def test_sweep_and_study_take_the_cifar100_label_set(files, tmp_path):
    root, written = files
    for labels, name in ((None, "cifar100"), ("coarse", "cifar100-coarse")):
        args = ["--labels", labels] if labels else []
        out = tmp_path / f"sweep-{name}"
        swept = _invoke("sweep", "learning_rate=0.1", "-d", root / "c100", *args, "--n-iter", 5,
                        "--val-fraction", 0.5, "--no-plots", "-o", out, "--json")
        assert swept.exit_code == 0, swept.output
        assert json.loads(swept.stdout)["data"] == name
    refused = _invoke("study", "-d", root / "c100", "--labels", "medium", "-o", tmp_path / "s")
    assert refused.exit_code == 2 and "'medium' is not one of 'fine', 'coarse'" in refused.output
    assert not (tmp_path / "s").exists()


def test_cifar100_archive_loads_as_the_folder(files, tmp_path):
    import tarfile

    root, written = files
    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "c100" / "cifar-100-python", arcname="cifar-100-python")
    dataset = load_dataset(archive)
    assert dataset.name == "cifar100" and dataset.class_names == FINE
    np.testing.assert_array_equal(dataset.X_test, written["cifar100"][1][0])


def test_learned_features_on_28x28_grayscale_and_a_sweep(files, tmp_path):
    root, _ = files
    result = _invoke("train", "-d", root / "mnist", "--features", "kmeans", "--n-centroids", 16,
                     "--n-patches", 2000, "--epochs", 2, "--json")
    assert result.exit_code == 0, result.output
    # 28x28: 23 patch positions a side, split 8/7/8; (3 x 3 regions + the whole image)
    # x 2 polarities x 8 atoms
    assert json.loads(result.stdout)["n_image_features"] == 160
    swept = _invoke("sweep", "learning_rate=0.1,0.01", "-d", root / "svhn", "--n-iter", 20,
                    "--no-plots", "-o", tmp_path / "sweep", "--json")
    assert swept.exit_code == 0, swept.output


def test_val_fraction_is_recorded_and_needs_early_stopping(files):
    root, _ = files
    result = _invoke("train", "-d", root / "mnist", "--early-stopping", "--val-fraction", 0.2,
                     "--epochs", 3, "--seed", 5, "--json")
    assert result.exit_code == 0, result.output
    split = json.loads(result.stdout)["split"]
    assert (split["n_validation"], split["validation_fraction"], split["validation_seed"]) == (
        60, 0.2, 5)
    digits = _invoke("train", "--early-stopping", "--val-fraction", 0.2, "--json", "-q")
    assert json.loads(digits.stdout)["split"] == {  # as docs/data.md shows it
        "n_train": 1347, "n_validation": 270, "n_test": 450, "test_split": "random",
        "test_fraction": 0.25, "split_seed": 0, "validation_fraction": 0.2,
        "validation_seed": 0}
    _one_line_error(_invoke("train", "--val-fraction", 0.2),
                    "--val-fraction is for --early-stopping (without it no validation split "
                    "is held out)")
    _one_line_error(_invoke("train", "-d", root / "mnist", "--labels", "coarse"),
                    f"{root / 'mnist'} (MNIST idx files) has one set of labels; --labels is "
                    "for CIFAR-100 only")


def test_features_writes_train_and_test_features_with_the_fitted_step(files, tmp_path):
    root, written = files
    out = tmp_path / "feats.npz"
    result = _invoke("features", "-d", root / "svhn", "--features", "kmeans", "--n-centroids",
                     8, "--n-patches", 500, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    with np.load(out, allow_pickle=False) as z:
        # (3 x 3 regions + the whole image) x 2 polarities x 4 atoms (and their mirrors)
        assert z["X_train"].shape == (300, 80) and z["X_test"].shape == (100, 80)
        np.testing.assert_array_equal(z["y_train"], written["svhn"][0][1])
        np.testing.assert_array_equal(z["y_test"], written["svhn"][1][1])
        assert list(z["class_names"]) == [str(d) for d in range(10)]
        assert z["features__cluster_centers"].shape == (8, 6 * 6 * 3)
        metadata = json.loads(str(z["metadata"]))
        arrays = {name[len("features__"):]: z[name] for name in z.files
                  if name.startswith("features__")}
        X_test = z["X_test"]
    assert metadata["feature_step"] == "KMeansFeatures" and metadata["data"] == "svhn"
    assert metadata["split"] == {"n_train": 300, "n_test": 100, "test_split": "published",
                                 "test_fraction": None, "split_seed": None}
    # the step the file holds gives the features it holds
    from fastsoftmax.features.learned import KMeansFeatures

    step = KMeansFeatures.from_arrays(metadata["feature_step_state"], arrays)
    np.testing.assert_allclose(step.transform(written["svhn"][1][0]), X_test, rtol=1e-5)
    hog = tmp_path / "hog.npz"
    assert _invoke("features", "-d", root / "mnist", "-o", hog).exit_code == 0
    with np.load(hog) as z:
        from fastsoftmax.features import study_hog

        expected = study_hog((28, 28)).fit(written["mnist"][0][0]).transform(
            written["mnist"][1][0])
        np.testing.assert_allclose(z["X_test"], expected, rtol=1e-6)
    before = _listing(tmp_path)
    _one_line_error(_invoke("features", "-d", root / "mnist", "-o", hog),
                    f"--out: {str(hog)!r} already exists; add --force to overwrite it")
    assert _listing(tmp_path) == before


# ====================================================================== hostile idx files
def _write(path, raw):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def _idx_folder(tmp_path, images_raw, gz=False):
    """A folder of valid idx files whose training images file holds ``images_raw``."""
    folder = tmp_path / "mnist"
    write_idx(folder, gz=gz, n_train=30, n_test=10)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    target = folder / name
    target.write_bytes(gzip.compress(images_raw, mtime=0) if gz else images_raw)
    return folder, target


HEADER_300 = bytes([0, 0, 8, 3]) + struct.pack(">3I", 300, 28, 28)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_header_larger_than_the_bytes_is_refused_before_allocating(tmp_path, peak_memory,
                                                                       gz):
    lying = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28) + bytes(1000)
    folder, target = _idx_folder(tmp_path, lying, gz=gz)
    after = "file" if not gz else "decompressed file"
    message = (f"{target}: idx header declares 60000x28x28 values (47,040,000 bytes) but the "
               f"{after} holds 1,000 after its header: truncated or a wrong header")
    with peak_memory(1 * MiB), pytest.raises(CorruptDataError) as info:
        read_idx(target, 3)
    assert str(info.value) == message
    before = _listing(tmp_path)
    _one_line_error(_invoke("train", "-d", folder), message)
    assert _listing(tmp_path) == before


def test_idx_declaring_more_than_the_maximum_is_refused_unread(tmp_path, peak_memory):
    huge = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 4096, 4096)
    folder, target = _idx_folder(tmp_path, huge, gz=True)
    with peak_memory(1 * MiB), pytest.raises(CorruptDataError) as info:
        read_idx(target, 3)
    assert str(info.value) == (
        f"{target}: idx header declares 4294967295x4096x4096 values (72,057,594,021,150,720 "
        f"bytes), more than the {MAX_IDX_BYTES:,} an idx file may hold")
    _one_line_error(_invoke("train", "-d", folder), str(info.value))


@pytest.mark.parametrize("raw, message", [
    (b"\0\0", "truncated idx file (2 bytes, shorter than the 4-byte magic number)"),
    (b"\x89PNG\r\n\x1a\n", "not an idx file (magic number 89504e47, expected 0000 then a dtype "
                           "code and a rank)"),
    (bytes([0, 0, 0x0D, 3]) + struct.pack(">3I", 1, 28, 28) + bytes(4 * 784),
     "idx dtype code 0x0d (float), expected 0x08 (unsigned byte)"),
    (bytes([0, 0, 8, 2]) + struct.pack(">2I", 28, 28) + bytes(784),
     "idx file of 2 dimensions, expected 3"),
    (bytes([0, 0, 8, 3]) + struct.pack(">2I", 28, 28), "truncated idx header (12 bytes, "
                                                       "expected 16)"),
    (bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 28, 28),
     "idx header declares dimensions 0x28x28: no data"),
    (HEADER_300 + bytes(300 * 784 + 5), "idx header declares 300x28x28 values (235,200 bytes) "
                                        "but the file holds 235,205 after its header: more "
                                        "data than declared"),
], ids=["short", "magic", "dtype", "rank", "header-cut", "zero", "trailing"])
def test_malformed_idx_files_are_one_line_errors(tmp_path, raw, message):
    folder, target = _idx_folder(tmp_path, raw)
    with pytest.raises(CorruptDataError) as info:
        read_idx(target, 3)
    assert str(info.value) == f"{target}: {message}"
    _one_line_error(_invoke("train", "-d", folder), f"{target}: {message}")


def test_corrupted_and_truncated_gzip_streams_are_refused(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((30, 28, 28), np.uint8)), mtime=0)
    folder, target = _idx_folder(tmp_path, b"", gz=True)
    target.write_bytes(good[: len(good) // 2])
    _one_line_error(_invoke("train", "-d", folder),
                    f"{target}: truncated or corrupted gzip data (Compressed file ended before "
                    "the end-of-stream marker was reached)")
    bad_crc = bytearray(good)
    bad_crc[-8] ^= 0xFF  # the CRC-32 of the trailer
    target.write_bytes(bytes(bad_crc))
    result = _invoke("train", "-d", folder)
    assert result.exit_code == 2 and result.output.startswith(
        f"Error: {target}: truncated or corrupted gzip data (CRC check failed")
    assert len(result.output.splitlines()) == 1


def test_idx_labels_out_of_range_or_miscounted(tmp_path):
    folder = tmp_path / "mnist"
    write_idx(folder, gz=False, n_train=30, n_test=10)
    labels = folder / "train-labels-idx1-ubyte"
    y = np.arange(30, dtype=np.uint8) % 10
    y[7] = 10
    labels.write_bytes(idx_bytes(y))
    _one_line_error(_invoke("train", "-d", folder),
                    f"{labels}: label 10 out of range 0..9 (1 bad label(s))")
    labels.write_bytes(idx_bytes(np.zeros(29, np.uint8)))
    _one_line_error(_invoke("train", "-d", folder),
                    f"{labels}: 29 labels for the 30 images of train-images-idx3-ubyte")


# ====================================================================== hostile .mat files
def _svhn_folder(tmp_path, **arrays):
    import scipy.io

    folder = tmp_path / "svhn"
    write_svhn(folder, n_train=20, n_test=10)
    target = folder / "train_32x32.mat"
    if arrays:
        scipy.io.savemat(target, arrays)
    return folder, target


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.zeros((28, 28, 3, 5), np.uint8), "y": np.ones((5, 1), np.uint8)},
     "X has shape (28, 28, 3, 5) of uint8, expected (32, 32, 3, n) of uint8"),
    ({"X": np.zeros((32, 32, 3, 5), np.float32), "y": np.ones((5, 1), np.uint8)},
     "X has shape (32, 32, 3, 5) of single, expected (32, 32, 3, n) of uint8"),
    ({"X": np.zeros((32, 32, 3, 5), np.uint8), "y": np.ones((4, 1), np.uint8)},
     "y has shape (4, 1) of uint8, expected (5, 1) of numbers (one label per image)"),
    ({"X": np.zeros((32, 32, 3, 5), np.uint8)}, "no variable 'y' (SVHN files hold X and y)"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[3], [11]], np.uint8)},
     "label 11 out of range 1..10 (1 bad label(s))"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[3.5], [1]])},
     "label 3.5 out of range 1..10 (1 bad label(s))"),
], ids=["shape", "dtype", "labels-count", "no-y", "label-11", "label-3.5"])
def test_mat_files_with_the_wrong_content_are_one_line_errors(tmp_path, arrays, message):
    folder, target = _svhn_folder(tmp_path, **arrays)
    with pytest.raises(CorruptDataError) as info:
        read_svhn_mat(target)
    assert str(info.value) == f"{target}: {message}"
    before = _listing(tmp_path)
    _one_line_error(_invoke("train", "-d", folder), f"{target}: {message}")
    assert _listing(tmp_path) == before


def test_mat_header_declaring_more_than_its_bytes_is_refused_before_loading(tmp_path,
                                                                            peak_memory):
    import scipy.io  # noqa: F401 - imported before the memory is measured

    folder, target = _svhn_folder(tmp_path)
    raw = target.read_bytes()
    dims = struct.pack("<4i", 32, 32, 3, 20)
    assert raw.count(dims) == 1
    target.write_bytes(raw.replace(dims, struct.pack("<4i", 32, 32, 3, 2_000_000)))
    message = (f"{target}: variable 'X' declares shape (32, 32, 3, 2000000) of uint8 "
               "(6,144,000,000 bytes), more than the 2,147,483,648 a variable may hold")
    with peak_memory(2 * MiB), pytest.raises(CorruptDataError) as info:
        read_svhn_mat(target)
    assert str(info.value) == message
    target.write_bytes(raw.replace(dims, struct.pack("<4i", 32, 32, 3, 2_000)))
    with peak_memory(2 * MiB), pytest.raises(CorruptDataError) as info:
        read_svhn_mat(target)
    assert str(info.value) == (f"{target}: variable 'X' declares shape (32, 32, 3, 2000) of "
                               "uint8 (6,144,000 bytes), more than the 61,496 bytes of its "
                               "data element")
    _one_line_error(_invoke("train", "-d", folder), str(info.value))


def test_truncated_and_foreign_mat_files(tmp_path):
    folder, target = _svhn_folder(tmp_path)
    raw = target.read_bytes()
    target.write_bytes(raw[:1000])
    _one_line_error(_invoke("train", "-d", folder),
                    f"{target}: truncated MAT-file (a data element at byte 128 declares "
                    f"61,496 bytes, 864 remain)")
    target.write_bytes(b"MATLAB 7.3 MAT-file" + bytes(200))
    _one_line_error(_invoke("train", "-d", folder),
                    f"{target}: a MATLAB 7.3 (HDF5) file; SVHN's files are MATLAB 5 files")
    target.write_bytes(b"hello")
    _one_line_error(_invoke("train", "-d", folder),
                    f"{target}: truncated MAT-file (5 bytes, shorter than the 128-byte header)")


# ====================================================================== hostile CIFAR-100
def _cifar100_with_train(tmp_path, fine, coarse, n=10):
    from test_data import official_pickle

    write_cifar100(tmp_path, n_train=100, n_test=10)
    target = tmp_path / "cifar-100-python" / "train"
    X = np.zeros((n, 32, 32, 3), np.uint8)
    target.write_bytes(cifar100_batch(X, fine, coarse, official_pickle))
    return tmp_path / "cifar-100-python", target


@pytest.mark.parametrize("labels, fine, coarse, message", [
    ("fine", [100] + [0] * 9, [0] * 10, "b'fine_labels' label 100 out of range 0..99"),
    ("fine", [-1] + [0] * 9, [0] * 10, "b'fine_labels' label -1 out of range 0..99"),
    ("coarse", [0] * 10, [20] + [0] * 9, "b'coarse_labels' label 20 out of range 0..19"),
], ids=["fine-100", "fine-negative", "coarse-20"])
def test_cifar100_labels_out_of_range_are_refused(tmp_path, labels, fine, coarse, message):
    folder, target = _cifar100_with_train(tmp_path, fine, coarse)
    text = f"{target}: label {message.split('label ')[1]} (1 bad label(s))"
    with pytest.raises(CorruptDataError) as info:
        load_cifar100(folder, labels)
    assert str(info.value) == text
    _one_line_error(_invoke("train", "-d", folder, "--labels", labels), text)


def test_cifar100_truncated_batch_is_refused_within_its_size(tmp_path, peak_memory):
    folder, target = _cifar100_with_train(tmp_path, [0] * 10, [0] * 10)
    raw = target.read_bytes()
    target.write_bytes(raw[: len(raw) // 2])
    with peak_memory(4 * MiB), pytest.raises(CorruptDataError, match=(
            rf"^{target}: truncated pickle \(BINSTRING declares 30720 bytes where \d+ "
            r"remain\)$")):
        load_cifar100(folder)
    result = _invoke("train", "-d", folder)
    assert result.exit_code == 2 and result.output.startswith(f"Error: {target}: truncated")
    assert len(result.output.splitlines()) == 1


def test_cifar100_meta_with_the_wrong_number_of_names(tmp_path):
    from test_data import official_pickle

    write_cifar100(tmp_path, n_train=100, n_test=10)
    meta = tmp_path / "cifar-100-python" / "meta"
    meta.write_bytes(official_pickle({b"fine_label_names": [b"a"] * 99,
                                      b"coarse_label_names": [n.encode() for n in COARSE]}))
    _one_line_error(_invoke("train", "-d", tmp_path),
                    f"{meta}: b'fine_label_names' must list 100 class names")


# ====================================================================== downloads
@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving the files of ``tmp_path / "served"``."""
    served = tmp_path / "served"
    served.mkdir()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            path = served / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404, "Not Found")
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_with_a_wrong_checksum_is_one_line_and_leaves_nothing(tmp_path, file_server):
    base, served, _ = file_server
    write_idx(served, n_train=30, n_test=10)  # not the published files: their md5 differs
    dest = tmp_path / "dest"
    result = _invoke("-q", "data", "download", "mnist", "--dest", dest, "--url", base)
    md5 = hashlib.md5((served / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    _one_line_error(result, (
        f"download of {base}train-images-idx3-ubyte.gz has md5 {md5}, expected "
        "f68b3c2dcbeaaa9fbdd348bbdeb94873: the file is corrupted or not the official file; "
        f"try again, or download {base}train-images-idx3-ubyte.gz (or the official "
        "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz) yourself "
        f"and save it as train-images-idx3-ubyte.gz in {dest / 'mnist'}"))
    assert _listing(dest) == ["mnist"]


def test_download_checks_each_file_then_the_data_set_trains(tmp_path, file_server, monkeypatch,
                                                            private_data_folder):
    from fastsoftmax.data import sources

    base, served, hits = file_server
    write_idx(served, n_train=30, n_test=10)
    mnist = sources.SOURCES["mnist"]
    local = dataclasses.replace(mnist, files=tuple(
        dataclasses.replace(f, md5=hashlib.md5((served / f.name).read_bytes()).hexdigest())
        for f in mnist.files))
    monkeypatch.setitem(sources.SOURCES, "mnist", local)
    result = _invoke("data", "download", "mnist", "--url", base, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["data"] == str(private_data_folder / "mnist")
    assert [f["downloaded"] for f in out["files"]] == [True] * 4
    again = _invoke("data", "download", "mnist", "--url", base, "--json")
    assert [f["downloaded"] for f in json.loads(again.stdout)["files"]] == [False] * 4
    assert len(hits) == 4
    info = json.loads(_invoke("data", "info", "--json").stdout)
    state = {entry["name"]: entry["state"] for entry in info["data_sets"]}
    assert state == {"cifar10": "not downloaded", "cifar100": "not downloaded",
                     "mnist": "downloaded", "fashion-mnist": "not downloaded",
                     "svhn": "not downloaded"}
    text = _invoke("data", "info").stdout
    assert f"  mnist          downloaded, " in text and str(private_data_folder / "mnist") in text
    monkeypatch.chdir(tmp_path)  # no file or folder "mnist" here: the name is the data set
    trained = _invoke("train", "-d", "mnist", "--n-iter", 10, "--json")
    assert trained.exit_code == 0 and json.loads(trained.stdout)["data"] == "mnist"
    _one_line_error(_invoke("train", "-d", "svhn"), "svhn: no such file or folder, and SVHN "
                    "is not downloaded; run `fastsoftmax data download svhn`")


def test_download_names_and_options_are_checked():
    result = _invoke("data", "download", "imagenet")
    assert result.exit_code == 2 and "'imagenet' is not one of" in result.output
    _one_line_error(_invoke("data", "download", "mnist", "--extra"), "--extra is for svhn")
