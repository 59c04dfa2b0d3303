"""Hostile inputs: images, image folders (classes matched by name) and downloads.

Each case asserts the exact exception type and message, or the CLI's exit code 2 and
one-line ``Error:``.  Files are built in tmp_path; downloads come from a local HTTP
server on 127.0.0.1 started and stopped here.
"""
import contextlib
import hashlib
import http.server
import json
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fastsoftmax.cli import main
from fastsoftmax.data import (DownloadError, download_cifar10, labels_by_name, load_dataset,
                              load_image_folder, load_test_images, load_test_set, read_image)
from fastsoftmax.data import download as download_module

MiB = 1 << 20


# ============================================================================ images
def _png_header_only(width, height):
    """A PNG whose header declares width x height over a few bytes of pixel data."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def test_image_declaring_more_than_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(_png_header_only(12_000, 12_000))  # 144 MP in 300 bytes
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=(
                rf"^{path}: refusing a possible decompression bomb: 12000x12000 = 144,000,000 "
                r"pixels, more than the limit of 100,000,000 \(raise it with --max-pixels\)$")):
            read_image(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 4 * MiB


def test_decompression_bomb_beyond_pillows_limit_is_refused_by_name(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(50_000, 50_000))
    with pytest.raises(ValueError, match=rf"^{path}: refusing a decompression bomb \("):
        read_image(path, max_pixels=10**10)


def test_max_pixels_limit_is_adjustable(tmp_path):
    path = _save(tmp_path / "ok.png", np.full((20, 30, 3), 7, np.uint8))
    with pytest.raises(ValueError, match=r"20x30|30x20"):
        read_image(path, max_pixels=599)
    np.testing.assert_array_equal(read_image(path, max_pixels=600), np.full((20, 30, 3), 7))
    with pytest.raises(ValueError, match=r"max_pixels must be a positive integer, got 0"):
        read_image(path, max_pixels=0)


@pytest.mark.parametrize("content, match", [
    (b"this is not an image", r"cannot read image \(not a PNG, JPEG or other image Pillow knows\)"),
    (b"", r"cannot read image \(not a PNG, JPEG or other image Pillow knows\)"),
    (None, r"cannot read image \((OSError|SyntaxError|ValueError|EOFError): .*(truncated|broken|"
           r"buffer|data)"),
], ids=["text-as-png", "empty", "truncated"])
def test_unreadable_images_are_errors_naming_the_file(tmp_path, content, match):
    path = tmp_path / "x.png"
    if content is None:
        rng = np.random.default_rng(0)
        _save(path, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}: {match}"):
        read_image(path)


def test_large_png_decoded_at_reduced_size_matches_block_means(tmp_path):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    big = np.kron(small, np.ones((64, 64, 1), np.uint8))  # 512x512 of 64x64 blocks
    path = _save(tmp_path / "big.png", big)
    img = read_image(path, shrink_to=(8, 8))
    assert img.shape == (16, 16, 3)  # reduced by 32: still twice the target size
    reference = big.reshape(16, 32, 16, 32, 3).mean(axis=(1, 3))  # box means by hand
    assert np.abs(img.astype(float) - reference).max() <= 1


def test_large_jpeg_decoded_through_draft(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(np.full((800, 800, 3), 90, np.uint8)).save(path, quality=95)
    img = read_image(path, shrink_to=(32, 32))
    assert img.shape[0] <= 128 and img.shape[1] <= 128  # DCT-scaled by 1/8, then reduced
    assert np.abs(img.astype(int) - 90).max() <= 2
    assert read_image(path).shape == (800, 800, 3)  # full size without shrink_to


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    result = CliRunner().invoke(main, ["train", "--json", "--n-iter", "50", "--model", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_cli_predict_refuses_a_bomb_and_answers_the_rest(tmp_path, digits_model):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(12_000, 12_000))
    good = _save(tmp_path / "good.png", np.full((8, 8), 200, np.uint8))
    result = CliRunner().invoke(main, ["predict", "--model", str(digits_model), "--json",
                                       str(bomb), str(good)])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert [p["image"] for p in payload["predictions"]] == [str(good)]
    assert payload["errors"][0]["image"] == str(bomb)
    assert result.stderr == (f"Error: {bomb}: refusing a possible decompression bomb: "
                             "12000x12000 = 144,000,000 pixels, more than the limit of "
                             "100,000,000 (raise it with --max-pixels)\n")
    limited = CliRunner().invoke(main, ["predict", "--model", str(digits_model),
                                        "--max-pixels", "10", str(good)])
    assert limited.exit_code == 2 and "8x8 = 64 pixels, more than the limit of 10" in limited.stderr


def test_cli_memory_error_is_one_line(tmp_path, digits_model, monkeypatch):
    from fastsoftmax.model import pipeline

    def exhausted(self, images):
        raise MemoryError

    monkeypatch.setattr(pipeline.ImagePipeline, "predict_proba", exhausted)
    good = _save(tmp_path / "good.png", np.full((8, 8), 200, np.uint8))
    result = CliRunner().invoke(main, ["predict", "--model", str(digits_model), str(good)])
    assert result.exit_code == 2
    assert result.output == "Error: out of memory: the input is too large for this machine\n"


# ============================================================================ folders
_ROWS, _COLS = np.mgrid[0:16, 0:16]
#: One stripe direction per class, which HOG tells apart easily.
PATTERNS = {"blue": _ROWS, "green": _COLS, "red": _ROWS + _COLS}


def _folder(root, counts, seed=0):
    """root/<class>/<k>.png: noisy 16x16 stripes, horizontal, vertical or diagonal by class."""
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        pattern = PATTERNS.get(name, _ROWS - _COLS)
        for k in range(n):
            stripes = np.where((pattern + rng.integers(0, 4)) % 4 < 2, 200, 50)
            noise = rng.integers(-20, 21, (16, 16, 3))
            img = np.clip(stripes[:, :, None] + noise, 0, 255).astype(np.uint8)
            _save(root / name / f"{k}.png", img)
    return root


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.model.pipeline import ImagePipeline

    root = _folder(tmp_path_factory.mktemp("colours") / "train", {c: 12 for c in PATTERNS})
    dataset = load_dataset(root)
    assert dataset.class_names == ["blue", "green", "red"]
    names = dataset.class_names
    # the training files recorded: the folders scored below hold none of them
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=60, random_state=0), pca_variance=None,
                         class_names=names).fit(dataset.X_train, dataset.y_train,
                                                training_files=dataset.train_files)
    path = root.parent / "colours.npz"
    pipe.save(path)
    return path, pipe


def _evaluate(model, folder):
    return CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(folder),
                                     "--json"])


def test_evaluate_subset_folder_maps_labels_by_name(tmp_path, colour_model):
    path, pipe = colour_model
    folder = _folder(tmp_path / "subset", {"red": 5, "green": 4}, seed=3)
    result = _evaluate(path, folder)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["n_images"] == 9  # every image, no 20% split
    X = np.stack([read_image(folder / c / f"{k}.png") for c, n in (("green", 4), ("red", 5))
                  for k in range(n)])
    y = np.array([1] * 4 + [2] * 5)  # green is the model's class 1, red class 2, by name
    assert payload["accuracy"] == pytest.approx(np.mean(pipe.predict(X) == y))
    assert payload["accuracy"] > 0.8  # position matching would score red as green: ~0
    assert payload["per_class_accuracy"]["blue"] is None
    assert payload["confusion_matrix"][0] == [0, 0, 0]


def test_evaluate_renamed_class_is_an_error_naming_it(tmp_path, colour_model):
    path, _ = colour_model
    folder = _folder(tmp_path / "renamed", {"blue": 2, "verde": 2, "red": 2})
    result = _evaluate(path, folder)
    assert result.exit_code == 2
    assert result.output == (f"Error: {folder}: class 'verde' is not a class the model knows "
                             "(blue, green, red)\n")


def test_evaluate_plain_folder_scores_every_image(tmp_path, colour_model):
    path, pipe = colour_model
    folder = _folder(tmp_path / "all", {c: 5 for c in PATTERNS}, seed=4)
    payload = json.loads(_evaluate(path, folder).output)
    assert payload["n_images"] == 15
    assert sum(map(sum, payload["confusion_matrix"])) == 15


def test_evaluate_help_says_a_folder_is_scored_whole():
    result = CliRunner().invoke(main, ["evaluate", "--help"])
    assert "a folder given here is a test set: nothing is split off" in " ".join(result.output.split())


def test_train_test_folders_with_different_class_sets_map_by_name(tmp_path):
    root = tmp_path / "split"
    _folder(root / "train", {"blue": 2, "green": 2, "red": 2})
    _folder(root / "test", {"red": 3})
    (_, y_train), (_, y_test), names = load_image_folder(root, return_class_names=True)
    assert names == ["blue", "green", "red"]
    np.testing.assert_array_equal(y_train, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(y_test, [names.index("red")] * 3)
    _folder(root / "test", {"purple": 1})
    with pytest.raises(ValueError, match=r"test: classes \['purple'\] have no training images"):
        load_image_folder(root)


def test_load_test_images_uses_the_test_folder_only(tmp_path):
    root = tmp_path / "split"
    _folder(root / "train", {"blue": 2, "red": 2})
    _folder(root / "test", {"red": 1, "blue": 2})
    X, y = load_test_images(root, ["red", "green", "blue"])
    assert X.shape == (3, 16, 16, 3)
    np.testing.assert_array_equal(y, [2, 2, 0])  # blue, blue, red in the model's order


def test_labels_by_name():
    np.testing.assert_array_equal(labels_by_name(["b", "a"], ["a", "b", "c"], "x"), [1, 0])
    with pytest.raises(ValueError, match=r"^here: class 'z', 'y' is not a class the model knows "
                                         r"\(a, b\)$"):
        labels_by_name(["z", "a", "y"], ["a", "b"], "here")


def test_cifar_test_set_maps_labels_by_name(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"c{k}" for k in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [n.encode() for n in names]}, protocol=2))
    labels = [3, 1, 4, 1, 5, 9, 2, 6]
    for batch in ("data_batch_1", "test_batch"):
        (folder / batch).write_bytes(pickle.dumps(
            {b"data": np.zeros((8, 3072), np.uint8), b"labels": labels}, protocol=2))
    model_names = names[::-1]  # the same classes in reverse order
    dataset = load_test_set(folder, model_names)
    np.testing.assert_array_equal(dataset.y_test, [model_names.index(f"c{k}") for k in labels])
    with pytest.raises(ValueError, match=r"class 'c9' is not a class the model knows"):
        load_test_set(folder, names[:9])


# ============================================================================ downloads
PAYLOAD = os.urandom(300_000)
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def slow_server():
    """Serves PAYLOAD in 30 KB pieces with short pauses, so downloads overlap."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            for start in range(0, len(PAYLOAD), 30_000):
                self.wfile.write(PAYLOAD[start:start + 30_000])
                self.wfile.flush()
                time.sleep(0.01)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/a.tar.gz"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_two_downloads_into_one_folder_both_succeed(tmp_path, slow_server):
    parts_seen = set()

    def progress(done, total):
        # pooch's temporary files beside the target ("tmp" and 8 random characters); the
        # empty ones are pooch's checks that the folder is writable
        for p in tmp_path.glob("tmp????????"):
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_size:
                    parts_seen.add(p.name)

    results, errors = [], []

    def fetch():
        try:
            results.append(download_cifar10(tmp_path, url=slow_server, md5=PAYLOAD_MD5,
                                            progress=progress))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len(results) == 2
    assert len(parts_seen) == 2  # each download had its own temporary file
    final = tmp_path / "cifar-10-python.tar.gz"
    assert results == [final, final] and final.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]


def test_download_with_wrong_md5_leaves_nothing(tmp_path, slow_server):
    with pytest.raises(DownloadError, match=rf"has md5 {PAYLOAD_MD5}, expected 0{{32}}: the file "
                                            r"is corrupted or not the official archive"):
        download_cifar10(tmp_path, url=slow_server, md5="0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_downloads_are_listed_then_cleaned(tmp_path, slow_server, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path))
    stale = tmp_path / ".cifar-10-python.tar.gz.dead1234.part"
    fresh = tmp_path / ".cifar-10-python.tar.gz.live5678.part"  # maybe another download
    legacy = tmp_path / "cifar-10-python.tar.gz.part"  # the old fixed name
    for path in (stale, fresh, legacy):
        path.write_bytes(b"partial")
    os.utime(stale, (time.time() - 3600,) * 2)
    os.utime(legacy, (time.time() - 3600,) * 2)
    info = CliRunner().invoke(main, ["data", "info", "--json"])
    assert sorted(json.loads(info.output)["stray_temp_files"]) == sorted(
        str(p) for p in (stale, fresh, legacy))
    assert "stray:" in CliRunner().invoke(main, ["data", "info"]).output
    download_cifar10(url=slow_server, md5=PAYLOAD_MD5)
    assert not stale.exists() and not legacy.exists() and fresh.exists()
    assert download_module.stray_partial_downloads() == [fresh]


def test_pooch_temporary_files_left_by_a_kill_are_ours_only_in_the_data_folder(
        tmp_path, slow_server, monkeypatch):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(home))
    killed, someone_elses = home / "tmpdead1234", elsewhere / "tmpdead1234"
    for path in (killed, someone_elses):
        path.parent.mkdir()
        path.write_bytes(b"partial")
        os.utime(path, (time.time() - 3600,) * 2)
    assert download_module.stray_partial_downloads() == [killed]
    assert download_module.stray_partial_downloads(elsewhere) == []
    download_cifar10(url=slow_server, md5=PAYLOAD_MD5)
    download_cifar10(elsewhere, url=slow_server, md5=PAYLOAD_MD5)
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-python.tar.gz"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["cifar-10-python.tar.gz", "tmpdead1234"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupt_mid_download_leaves_nothing(tmp_path, slow_server, interrupt):
    """Ctrl-C (and SIGTERM/SIGHUP, which the CLI turns into an exception) mid-download:
    pooch's temporary file is removed and no archive appears."""
    seen = []

    def progress(done, total):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        if done >= 100_000:
            raise interrupt()

    with pytest.raises(interrupt):
        download_cifar10(tmp_path, url=slow_server, md5=PAYLOAD_MD5, progress=progress)
    assert len(seen[-1]) == 1 and seen[-1][0].startswith("tmp")  # it was writing
    assert list(tmp_path.iterdir()) == []


def test_downloaded_file_has_the_usual_permissions(tmp_path, slow_server):
    umask = os.umask(0o022)
    try:
        path = download_cifar10(tmp_path, url=slow_server, md5=PAYLOAD_MD5)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not the temporary file's 0o600


def test_download_by_registry_name_with_sha256(tmp_path, slow_server):
    assert download_module.REMOTE_FILES["cifar10"] == download_module.RemoteFile(
        download_module.CIFAR10_URL, "cifar-10-python.tar.gz",
        f"md5:{download_module.CIFAR10_MD5}")
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match=rf"has sha256 {sha256}, expected 0{{64}}: "):
        download_module.fetch("cifar10", tmp_path, url=slow_server, known_hash="sha256:" + "0" * 64)
    assert list(tmp_path.iterdir()) == []
    path = download_module.fetch("cifar10", tmp_path, url=slow_server,
                                    known_hash=f"sha256:{sha256}")
    assert path == tmp_path / "cifar-10-python.tar.gz" and path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "mnist"}, r"name must be one of \['cifar10'\], got 'mnist'"),
    ({"url": "ftp://example.org/a.tar.gz"},
     r"url must start with http://, https:// or file://, got 'ftp://example.org/a.tar.gz'"),
    ({"known_hash": "sha1:" + "0" * 40}, r"known_hash must be 'md5:' or 'sha256:'"),
    ({"known_hash": "sha256:" + "0" * 32}, r"known_hash must be 'md5:' or 'sha256:'"),
])
def test_download_bad_arguments_touch_nothing(tmp_path, kwargs, match):
    kwargs = {"name": "cifar10", **kwargs}
    with pytest.raises(ValueError, match=match):
        download_module.fetch(dest=tmp_path / "dl", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_cli_download_prints_no_pooch_log_lines(tmp_path):
    """pooch logs "Downloading data from ..." to stderr; -q must leave stderr empty, in a
    fresh process where pooch's handler writes to the real stderr."""
    source = tmp_path / "served.tar.gz"
    source.write_bytes(PAYLOAD)
    env = {**os.environ, "FASTSOFTMAX_DATA": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", "from fastsoftmax.cli import main; main()", "-q", "data",
         "download", "--url", source.as_uri()], env=env, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("Error: download of ")
    assert len(done.stderr.strip().splitlines()) == 1  # the md5 error only
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == []
