"""Tests for fastsoftmax.data and the ``fastsoftmax data`` commands.

Every fixture is built here in tmp_path (tiny CIFAR-10 batches in the official pickle
and binary formats, archives, PNG folders); the only network use is a local HTTP
server on 127.0.0.1 started and stopped by the tests themselves.
"""
import hashlib
import http.server
import io
import json
import os
import pickle
import struct
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import (
    CorruptDataError,
    Dataset,
    DatasetNotFoundError,
    DownloadError,
    UnsafePickleError,
    cache_dir,
    cache_key,
    data_home,
    download_cifar10,
    load_cached,
    load_cifar10,
    load_dataset,
    load_image_folder,
    read_image,
    restricted_load,
    save_cached,
)
from fastsoftmax.data import download as download_module

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
REAL_CIFAR = (Path(__file__).resolve().parent.parent / ".." / "shared" / "data"
              / "cifar10-dev" / "cifar-10-batches-py")


# --------------------------------------------------------------------------- helpers

class _Py2StylePickler(pickle._Pickler):
    """Writes byte strings as Python 2 did (BINSTRING), as in the official files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def official_pickle(obj):
    """Protocol-2 pickle in the official files' form: Python-2 byte strings and
    the array through ``numpy.core.multiarray._reconstruct``."""
    buf = io.BytesIO()
    _Py2StylePickler(buf, protocol=2).dump(obj)
    raw = buf.getvalue()
    return raw.replace(b"cnumpy._core.multiarray\n_reconstruct\n",
                       b"cnumpy.core.multiarray\n_reconstruct\n")


def planar(X):
    """(n, 32, 32, 3) images -> (n, 3072) rows: all red, then green, then blue."""
    return np.ascontiguousarray(X.transpose(0, 3, 1, 2).reshape(len(X), 3072))


def make_images(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n) % 10
    rng.shuffle(y)
    return X, y.astype(np.int64)


def write_py_cifar(folder, n_train=(6, 5, 7), n_test=4, dump=official_pickle):
    """Write a tiny cifar-10-batches-py folder; return the expected arrays."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "batches.meta").write_bytes(dump({
        b"num_cases_per_batch": n_train[0],
        b"label_names": [c.encode() for c in CLASS_NAMES],
        b"num_vis": 3072,
    }))
    Xs, ys = [], []
    for i, n in enumerate(n_train, start=1):
        X, y = make_images(n, seed=i)
        Xs.append(X)
        ys.append(y)
        (folder / f"data_batch_{i}").write_bytes(dump({
            b"batch_label": f"training batch {i} of {len(n_train)}".encode(),
            b"labels": [int(v) for v in y],
            b"data": planar(X),
            b"filenames": [f"img_{i}_{k}.png".encode() for k in range(n)],
        }))
    X_te, y_te = make_images(n_test, seed=99)
    (folder / "test_batch").write_bytes(dump({
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in y_te],
        b"data": planar(X_te),
        b"filenames": [f"test_{k}.png".encode() for k in range(n_test)],
    }))
    return np.concatenate(Xs), np.concatenate(ys), X_te, y_te


def write_bin_cifar(folder, n_train=(5, 6), n_test=3):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "batches.meta.txt").write_text("\n".join(CLASS_NAMES) + "\n\n")
    Xs, ys = [], []

    def records(X, y):
        return b"".join(bytes([int(lab)]) + planar(x[None]).tobytes() for x, lab in zip(X, y))

    for i, n in enumerate(n_train, start=1):
        X, y = make_images(n, seed=10 + i)
        Xs.append(X)
        ys.append(y)
        (folder / f"data_batch_{i}.bin").write_bytes(records(X, y))
    X_te, y_te = make_images(n_test, seed=77)
    (folder / "test_batch.bin").write_bytes(records(X_te, y_te))
    return np.concatenate(Xs), np.concatenate(ys), X_te, y_te


def make_tar_gz(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=Path(folder).name)
    return archive


def assert_loaded(result, expected):
    (X_tr, y_tr), (X_te, y_te) = result
    exp_X_tr, exp_y_tr, exp_X_te, exp_y_te = expected
    for got, exp in ((X_tr, exp_X_tr), (X_te, exp_X_te)):
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        assert got.shape == exp.shape
        np.testing.assert_array_equal(got, exp)
    for got, exp in ((y_tr, exp_y_tr), (y_te, exp_y_te)):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, exp)


@pytest.fixture
def py_cifar(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    return folder, write_py_cifar(folder)


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(home))
    return home


# --------------------------------------------------------------------------- CIFAR python

def test_official_pickle_helper_uses_the_official_globals():
    raw = official_pickle({b"data": np.zeros((1, 3072), np.uint8)})
    assert b"numpy.core.multiarray\n_reconstruct" in raw
    assert b"_codecs" not in raw  # byte strings written the Python 2 way


def test_pixel_layout_known_answer(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_py_cifar(folder, n_train=(1,), n_test=1)
    data = np.zeros((1, 3072), np.uint8)
    data[0, 1024 + 1 * 32 + 2] = 200  # green plane, row 1, column 2
    data[0, 2048 + 31 * 32 + 0] = 7  # blue plane, row 31, column 0
    (folder / "data_batch_1").write_bytes(official_pickle({b"data": data, b"labels": [3]}))
    (X, y), _ = load_cifar10(folder)
    assert X[0, 1, 2, 1] == 200 and X[0, 31, 0, 2] == 7
    assert X.sum() == 207 and y.tolist() == [3]


@pytest.mark.parametrize("where", ["folder", "parent", "archive", "archive_in_parent"])
def test_load_python_layouts(tmp_path, where):
    folder = tmp_path / "src" / "cifar-10-batches-py"
    expected = write_py_cifar(folder)
    if where == "folder":
        path = folder
    elif where == "parent":
        path = folder.parent
    else:
        dest = tmp_path / "dl"
        dest.mkdir()
        make_tar_gz(folder, dest / "cifar-10-python.tar.gz")
        path = dest / "cifar-10-python.tar.gz" if where == "archive" else dest
    before = sorted(p.name for p in path.parent.iterdir())
    result = load_cifar10(path, return_class_names=True)
    assert_loaded(result[:2], expected)
    assert result[2] == CLASS_NAMES
    assert sorted(p.name for p in path.parent.iterdir()) == before  # nothing unpacked


def test_python3_protocol2_pickles_load_too(tmp_path):
    # Python 3 writes byte strings at protocol 2 through _codecs.encode(str, "latin1").
    folder = tmp_path / "cifar-10-batches-py"
    expected = write_py_cifar(folder, dump=lambda obj: pickle.dumps(obj, protocol=2))
    assert b"_codecs" in (folder / "test_batch").read_bytes()
    assert_loaded(load_cifar10(folder), expected)


def test_missing_path_says_how_to_get_data(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="fastsoftmax data download"):
        load_cifar10(tmp_path / "nope")


def test_not_cifar_folder(tmp_path):
    with pytest.raises(ValueError, match="not a CIFAR-10 folder or archive"):
        load_cifar10(tmp_path)


def test_missing_test_batch_named(py_cifar):
    folder, _ = py_cifar
    (folder / "test_batch").unlink()
    with pytest.raises(CorruptDataError, match="missing: test_batch"):
        load_cifar10(folder)


# --------------------------------------------------------------------------- restricted unpickler

class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalCall:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _SystemCall(f"touch {marker}"), b"labels": []}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"evil_batch: unsafe pickle: refusing .*system"):
        restricted_load(payload, "evil_batch")
    assert not marker.exists()


def test_malicious_batch_in_folder_names_file(py_cifar, tmp_path):
    folder, _ = py_cifar
    marker = tmp_path / "pwned2"
    (folder / "data_batch_2").write_bytes(
        pickle.dumps({b"data": _SystemCall(f"touch {marker}")}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"data_batch_2: unsafe pickle"):
        load_cifar10(folder)
    assert not marker.exists()


@pytest.mark.parametrize("payload, match", [
    (lambda: pickle.dumps(_EvalCall(), protocol=2), r"(__builtin__|builtins)\.eval"),
    (lambda: pickle.dumps(np.array([1, None], dtype=object), protocol=2), "object arrays"),
    (lambda: pickle.dumps(np.float64(1.0), protocol=2), r"numpy.*scalar"),
    # _codecs.encode("x", "rot13"): only latin-1 is admitted
    (lambda: b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.",
     r"_codecs.encode is allowed only"),
    # numpy.load("x"): a numpy global outside the allow-list
    (lambda: b"\x80\x02cnumpy\nload\nX\x01\x00\x00\x00x\x85R.", r"numpy\.load"),
], ids=["eval", "object-array", "numpy-scalar", "codecs-rot13", "numpy-load"])
def test_restricted_unpickler_refuses(payload, match):
    with pytest.raises(UnsafePickleError, match=match):
        restricted_load(payload(), "f")


def test_restricted_unpickler_admits_plain_data():
    obj = {b"a": [1, 2, b"x"], b"arr": np.arange(6, dtype=np.uint8).reshape(2, 3)}
    out = restricted_load(official_pickle(obj), "ok")
    assert out[b"a"] == [1, 2, b"x"]
    np.testing.assert_array_equal(out[b"arr"], obj[b"arr"])


def test_truncated_batch_reported_by_name(py_cifar):
    folder, _ = py_cifar
    path = folder / "data_batch_2"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDataError, match=r"data_batch_2: truncated pickle"):
        load_cifar10(folder)


def test_garbage_batch_reported_by_name(py_cifar):
    folder, _ = py_cifar
    (folder / "test_batch").write_bytes(b"this is not a pickle at all")
    with pytest.raises(CorruptDataError, match=r"test_batch: (corrupted|truncated) pickle"):
        load_cifar10(folder)


@pytest.mark.parametrize("batch, match", [
    ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, r"b'data' has shape \(2, 3000\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "b'data' has dtype float32, expected uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"label 10 out of range 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, r"label -1 out of range"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"1 labels for 2 images"),
    ({b"labels": [0]}, r"missing key b'data'"),
    ([1, 2], "expected a dict"),
])
def test_bad_batch_contents(py_cifar, batch, match):
    folder, _ = py_cifar
    (folder / "data_batch_3").write_bytes(official_pickle(batch))
    with pytest.raises(CorruptDataError, match=r"data_batch_3: " + match):
        load_cifar10(folder)


def test_bad_meta(py_cifar):
    folder, _ = py_cifar
    (folder / "batches.meta").write_bytes(official_pickle({b"label_names": [b"a", b"b"]}))
    with pytest.raises(CorruptDataError, match="batches.meta: b'label_names' must list 10"):
        load_cifar10(folder)


def test_truncated_archive(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_py_cifar(folder)
    archive = make_tar_gz(folder, tmp_path / "cifar-10-python.tar.gz")
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDataError, match=r"cifar-10-python\.tar\.gz: "):
        load_cifar10(archive)


def test_archive_without_cifar_folder(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("hi")
    archive = make_tar_gz(other, tmp_path / "other.tar.gz")
    with pytest.raises(CorruptDataError, match="holds neither cifar-10-batches-py"):
        load_cifar10(archive)


# --------------------------------------------------------------------------- CIFAR binary

@pytest.mark.parametrize("where", ["folder", "parent", "archive"])
def test_load_binary_layouts(tmp_path, where):
    folder = tmp_path / "cifar-10-batches-bin"
    expected = write_bin_cifar(folder)
    path = {"folder": folder, "parent": tmp_path}.get(where)
    if path is None:
        path = make_tar_gz(folder, tmp_path / "cifar-10-binary.tar.gz")
    result = load_cifar10(path, return_class_names=True)
    assert_loaded(result[:2], expected)
    assert result[2] == CLASS_NAMES


def test_binary_truncated_and_bad_label(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_bin_cifar(folder)
    path = folder / "data_batch_2.bin"
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(CorruptDataError, match=r"data_batch_2\.bin: size .* truncated or wrong format"):
        load_cifar10(folder)
    path.write_bytes(bytes([12]) + raw[1:])
    with pytest.raises(CorruptDataError, match=r"data_batch_2\.bin: label 12 out of range"):
        load_cifar10(folder)


# --------------------------------------------------------------------------- image folders

def _save(path, img):
    import skimage.io

    path.parent.mkdir(parents=True, exist_ok=True)
    skimage.io.imsave(path, img, check_contrast=False)


def _colour(rgb, shape=(6, 5)):
    return np.broadcast_to(np.array(rgb, np.uint8), shape + (3,)).copy()


def make_image_folder(root, per_class=5):
    """Two classes of solid-colour PNGs; returns {image bytes: label}."""
    expected = {}
    for label, cls in enumerate(["cat", "dog"]):
        for k in range(per_class):
            img = _colour((10 * k + label, 100 + label, 200 - k))
            _save(root / cls / f"{k}.png", img)
            expected[img.tobytes()] = label
    return expected


def test_image_folder_split_and_pixels(tmp_path):
    expected = make_image_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("ignored")
    (X_tr, y_tr), (X_te, y_te), names = load_image_folder(tmp_path / "imgs", return_class_names=True)
    assert names == ["cat", "dog"]
    assert X_tr.shape == (8, 6, 5, 3) and X_te.shape == (2, 6, 5, 3)
    assert X_tr.dtype == np.uint8 and y_tr.dtype == np.int64
    assert sorted(y_te.tolist()) == [0, 1]  # stratified 80/20
    seen = {}
    for X, y in ((X_tr, y_tr), (X_te, y_te)):
        for img, label in zip(X, y):
            seen[img.tobytes()] = int(label)
    assert seen == expected
    # fixed split: same result twice
    (X_tr2, _), _ = load_image_folder(tmp_path / "imgs")
    np.testing.assert_array_equal(X_tr, X_tr2)


def test_image_folder_train_test_subfolders(tmp_path):
    root = tmp_path / "split"
    for split, n in (("train", 3), ("test", 1)):
        for label, cls in enumerate(["a", "b", "c"]):
            for k in range(n):
                _save(root / split / cls / f"{k}.png", _colour((label * 50, k, 0), (4, 4)))
    (X_tr, y_tr), (X_te, y_te), names = load_image_folder(root, return_class_names=True)
    assert names == ["a", "b", "c"]
    assert y_tr.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and y_te.tolist() == [0, 1, 2]
    assert X_te[:, 0, 0, 0].tolist() == [0, 50, 100]


def test_image_folder_wrong_size_and_resize(tmp_path):
    root = tmp_path / "imgs"
    make_image_folder(root)
    _save(root / "dog" / "big.png", _colour((1, 2, 3), (10, 12)))
    with pytest.raises(ValueError, match=r"big\.png: image is 10x12 but .* is 6x5; pass image_size"):
        load_image_folder(root)
    (X_tr, _), (X_te, _) = load_image_folder(root, image_size=(4, 3))
    X = np.concatenate([X_tr, X_te])
    assert X.shape == (11, 4, 3, 3) and X.dtype == np.uint8
    # a solid colour stays that colour after anti-aliased resizing
    assert any((img == np.array([1, 2, 3], np.uint8)).all() for img in X)
    with pytest.raises(ValueError, match="image_size must be"):
        load_image_folder(root, image_size="big")


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class folders with .png/.jpg images"):
        load_image_folder(tmp_path / "empty")
    root = tmp_path / "bad"
    make_image_folder(root)
    (root / "dog" / "fake.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"fake\.png: cannot read image"):
        load_image_folder(root)
    one = tmp_path / "one"
    _save(one / "only" / "0.png", _colour((0, 0, 0)))
    with pytest.raises(ValueError, match="need at least two"):
        load_image_folder(one)


def test_read_image_gray_rgba_jpeg(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    _save(tmp_path / "g.png", gray)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], gray)
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 9, 128
    _save(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[..., :3])
    _save(tmp_path / "c.jpg", _colour((128, 128, 128), (8, 8)))
    jpg = read_image(tmp_path / "c.jpg")
    assert jpg.shape == (8, 8, 3) and np.abs(jpg.astype(int) - 128).max() <= 2
    with pytest.raises(ValueError, match=r"nope\.png: no such image file"):
        read_image(tmp_path / "nope.png")


# --------------------------------------------------------------------------- load_dataset

def test_load_dataset_digits_default():
    from sklearn.datasets import load_digits

    ds = load_dataset()
    assert isinstance(ds, Dataset) and ds.name == "digits"
    assert ds.X_train.shape == (1347, 8, 8) and ds.X_test.shape == (450, 8, 8)
    assert ds.X_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.class_names == [str(i) for i in range(10)]
    raw = load_digits()
    # every pixel is round(v * 255 / 16) of some original v, so the value multisets match
    allowed = {int(round(v * 255 / 16)): v for v in range(17)}
    X = np.concatenate([ds.X_train, ds.X_test])
    got = np.bincount(X.ravel(), minlength=256)
    want = np.zeros(256, np.int64)
    for v, count in zip(*np.unique(raw.images, return_counts=True)):
        want[int(round(v * 255 / 16))] += count
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(X).tolist()) <= set(allowed)
    labels = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(np.bincount(labels), np.bincount(raw.target))
    np.testing.assert_array_equal(load_dataset().X_test, ds.X_test)  # fixed split


def test_load_dataset_dispatch(tmp_path, py_cifar):
    folder, expected = py_cifar
    ds = load_dataset(folder)
    assert ds.name == "cifar10" and ds.class_names == CLASS_NAMES
    np.testing.assert_array_equal(ds.X_test, expected[2])
    make_image_folder(tmp_path / "pets")
    ds = load_dataset(tmp_path / "pets")
    assert ds.name == "folder:pets" and ds.class_names == ["cat", "dog"]
    assert ds.X_train.shape[1:] == (6, 5, 3)


def test_load_dataset_missing_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="fastsoftmax data download"):
        load_dataset(tmp_path / "cifar-10-batches-py")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "whatever")
    not_data = tmp_path / "x.bin"
    not_data.write_bytes(b"123")
    with pytest.raises(ValueError, match="not a CIFAR-10 archive"):
        load_dataset(not_data)


# --------------------------------------------------------------------------- download

class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    hits = []

    def do_GET(self):
        type(self).hits.append(self.path)
        body = type(self).payload
        if self.path.startswith("/missing"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/cut"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cifar_archive_bytes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archive")
    folder = tmp / "cifar-10-batches-py"
    expected = write_py_cifar(folder)
    raw = make_tar_gz(folder, tmp / "cifar-10-python.tar.gz").read_bytes()
    return raw, hashlib.md5(raw).hexdigest(), expected


@pytest.fixture
def server(cifar_archive_bytes):
    """A local HTTP server on 127.0.0.1 serving the tiny archive; stopped after the test."""

    class Handler(_Handler):
        payload = cifar_archive_bytes[0]
        hits = []

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def test_download_ok_then_cached(tmp_path, server, cifar_archive_bytes):
    base, handler = server
    raw, md5, expected = cifar_archive_bytes
    calls = []
    path = download_cifar10(tmp_path / "dl", url=f"{base}/ok.tar.gz", md5=md5,
                            progress=lambda d, t: calls.append((d, t)), timeout=5)
    assert path == tmp_path / "dl" / "cifar-10-python.tar.gz"
    assert path.read_bytes() == raw
    assert _leftovers(tmp_path / "dl") == ["cifar-10-python.tar.gz"]
    assert calls[0] == (0, len(raw)) and calls[-1] == (len(raw), len(raw))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert_loaded(load_cifar10(path), expected)
    # a valid file already there: no second request
    assert download_cifar10(tmp_path / "dl", url=f"{base}/ok.tar.gz", md5=md5, timeout=5) == path
    assert handler.hits == ["/ok.tar.gz"]


def test_download_wrong_md5_leaves_nothing(tmp_path, server):
    base, _ = server
    with pytest.raises(DownloadError, match=r"has md5 [0-9a-f]{32}, expected 0{32}"):
        download_cifar10(tmp_path / "dl", url=f"{base}/ok.tar.gz", md5="0" * 32, timeout=5)
    assert _leftovers(tmp_path / "dl") == []


def test_download_cut_midway_leaves_nothing(tmp_path, server, cifar_archive_bytes):
    base, _ = server
    with pytest.raises(DownloadError, match=r"(cut|stopped) after \d+"):
        download_cifar10(tmp_path / "dl", url=f"{base}/cut", md5=cifar_archive_bytes[1], timeout=5)
    assert _leftovers(tmp_path / "dl") == []


def test_download_replaces_corrupt_existing_file(tmp_path, server, cifar_archive_bytes):
    base, handler = server
    raw, md5, _ = cifar_archive_bytes
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "cifar-10-python.tar.gz").write_bytes(b"half a file")
    path = download_cifar10(tmp_path / "dl", url=f"{base}/ok", md5=md5, timeout=5)
    assert path.read_bytes() == raw and handler.hits == ["/ok"]


def test_download_http_error_and_bad_args(tmp_path, server):
    base, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_cifar10(tmp_path, url=f"{base}/missing", timeout=5)
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="md5 must be 32 hex digits"):
        download_cifar10(tmp_path, md5="abc")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        download_cifar10(tmp_path, timeout=0)
    with pytest.raises(ValueError, match="progress must be a callable"):
        download_cifar10(tmp_path, progress=3)


def test_load_dataset_download(data_env, server, cifar_archive_bytes, monkeypatch):
    base, _ = server
    raw, md5, expected = cifar_archive_bytes
    monkeypatch.setattr(download_module, "CIFAR10_URL", f"{base}/ok")
    monkeypatch.setattr(download_module, "CIFAR10_MD5", md5)
    ds = load_dataset(download=True)
    assert ds.name == "cifar10"
    np.testing.assert_array_equal(ds.X_train, expected[0])
    assert (data_env / "cifar-10-python.tar.gz").read_bytes() == raw


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    assert cache_dir() == tmp_path / "mine" / "cache"
    monkeypatch.delenv("FASTSOFTMAX_DATA")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert data_home() == tmp_path / "xdg" / "fastsoftmax"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert data_home() == Path.home() / ".cache" / "fastsoftmax"


# --------------------------------------------------------------------------- cache

def test_cache_key_properties():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    k = cache_key(a, orientations=9, pixels_per_cell=(8, 8))
    assert len(k) == 64 and int(k, 16) >= 0
    assert k == cache_key(a.copy(), pixels_per_cell=[8, 8], orientations=9)
    assert k == cache_key(np.asfortranarray(a), orientations=9, pixels_per_cell=(8, 8))
    b = a.copy()
    b[2, 3] += 1
    others = {
        cache_key(b, orientations=9, pixels_per_cell=(8, 8)),
        cache_key(a.reshape(4, 3), orientations=9, pixels_per_cell=(8, 8)),
        cache_key(a.view(np.int32), orientations=9, pixels_per_cell=(8, 8)),
        cache_key(a, orientations=8, pixels_per_cell=(8, 8)),
        cache_key(a, orientations=9),
    }
    assert k not in others and len(others) == 5
    with pytest.raises(TypeError, match="not JSON-serializable"):
        cache_key(a, f=object())


@pytest.mark.slow
def test_cache_key_speed():
    X = np.ones((60000, 3072), np.uint8)  # 184 MB
    cache_key(X[:10])
    t0 = time.perf_counter()
    cache_key(X, n=1)
    assert time.perf_counter() - t0 < 0.5


def test_cache_roundtrip_and_corrupt_entry(data_env):
    key = cache_key(np.arange(3), step="hog")
    assert load_cached(key) is None
    arrays = {"features": np.random.default_rng(0).random((4, 5)).astype(np.float32),
              "mean": np.arange(5, dtype=np.float64)}
    path = save_cached(key, arrays)
    assert path.parent == data_env / "cache"
    assert _leftovers(path.parent) == [f"{key}.npz"]  # no temp file left
    out = load_cached(key)
    assert set(out) == {"features", "mean"}
    for name, value in arrays.items():
        assert out[name].dtype == value.dtype
        np.testing.assert_array_equal(out[name], value)
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert load_cached(key) is None and not path.exists()
    path.write_bytes(b"garbage")
    assert load_cached(key) is None and not path.exists()


def test_cache_rejects_bad_input(data_env):
    with pytest.raises(ValueError, match="cache key must be a hex string"):
        load_cached("../../etc/passwd")
    key = cache_key(np.zeros(1))
    with pytest.raises(ValueError, match="object dtype"):
        save_cached(key, {"x": np.array([None, 1], dtype=object)})
    with pytest.raises(ValueError, match="must be an identifier"):
        save_cached(key, {"a b": np.zeros(1)})
    with pytest.raises(ValueError, match="non-empty dict"):
        save_cached(key, {})


# --------------------------------------------------------------------------- CLI

def test_cli_data_help():
    result = CliRunner().invoke(main, ["data", "--help"])
    assert result.exit_code == 0
    assert "download" in result.output and "info" in result.output
    result = CliRunner().invoke(main, ["data", "download", "--help"])
    assert "--dest" in result.output and "--json" in result.output


def test_cli_info_json(data_env):
    save_cached(cache_key(np.zeros(2)), {"a": np.zeros(10)})
    result = CliRunner().invoke(main, ["data", "info", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["data_home"] == str(data_env)
    assert info["cache_dir"] == str(data_env / "cache")
    assert info["cache_entries"] == 1 and info["cache_size_bytes"] > 0
    assert info["cifar10_downloaded"] is False
    text = CliRunner().invoke(main, ["data", "info"])
    assert text.exit_code == 0 and "not downloaded" in text.stdout


def test_cli_download(data_env, server, cifar_archive_bytes, monkeypatch):
    base, handler = server
    raw, md5, _ = cifar_archive_bytes
    monkeypatch.setattr(download_module, "CIFAR10_MD5", md5)
    runner = CliRunner()
    result = runner.invoke(main, ["data", "download", "--url", f"{base}/ok", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == {"path": str(data_env / "cifar-10-python.tar.gz"), "size_bytes": len(raw),
                   "md5": md5, "downloaded": True}
    assert "Downloading CIFAR-10" in result.stderr  # progress on stderr
    again = runner.invoke(main, ["-q", "data", "download", "--url", f"{base}/ok", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["downloaded"] is False
    assert handler.hits == ["/ok"]
    info = json.loads(runner.invoke(main, ["data", "info", "--json"]).stdout)
    assert info["cifar10_downloaded"] is True


def test_cli_download_quiet_and_errors(tmp_path, data_env, server, cifar_archive_bytes,
                                       monkeypatch):
    base, _ = server
    runner = CliRunner()
    # the published md5 does not match the tiny archive: one-line error, exit 2, no file
    result = runner.invoke(main, ["-q", "data", "download", "--dest", str(tmp_path / "d"),
                                  "--url", f"{base}/ok"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "md5" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Downloading" not in result.stderr
    assert _leftovers(tmp_path / "d") == []
    monkeypatch.setattr(download_module, "CIFAR10_MD5", cifar_archive_bytes[1])
    cut = runner.invoke(main, ["data", "download", "--dest", str(tmp_path / "d"),
                               "--url", f"{base}/cut"])
    assert cut.exit_code == 2 and "after" in cut.stderr
    assert _leftovers(tmp_path / "d") == []


# --------------------------------------------------------------------------- real data

@pytest.mark.cifar
@pytest.mark.skipif(not REAL_CIFAR.is_dir(), reason="development CIFAR-10 copy not present")
def test_real_cifar_dev_copy():
    (X_tr, y_tr), (X_te, y_te), names = load_cifar10(REAL_CIFAR, return_class_names=True)
    assert X_tr.shape == (40000, 32, 32, 3) and X_te.shape == (10000, 32, 32, 3)
    assert X_tr.dtype == np.uint8 and X_tr.flags.c_contiguous and y_tr.dtype == np.int64
    assert names == CLASS_NAMES
    counts = np.bincount(y_tr, minlength=10)
    assert counts.sum() == 40000 and counts.min() >= 3946 and counts.max() <= 4039
    assert set(np.unique(y_te).tolist()) == set(range(10))
    # the parent folder loads the same data
    (X_tr2, _), _ = load_cifar10(REAL_CIFAR.parent)
    np.testing.assert_array_equal(X_tr2[:100], X_tr[:100])
