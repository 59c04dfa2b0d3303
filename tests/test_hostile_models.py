"""Hostile model files, feature-cache entries and results.json.

Every case asserts the exact exception type and message (or the CLI's exit code 2 and
one-line ``Error:``; for the cache: a miss, the entry removed, a warning), and where
the file declares something large, that the memory Python allocated while refusing it
stayed small (``tracemalloc`` sees NumPy's buffers too).
"""
import io
import json
import logging
import re
import struct
import tracemalloc
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import cache
from fastsoftmax.experiments.report import ResultsFileError, read_sweep_results
from fastsoftmax.persistence import ModelFileError, load_arrays, save_arrays

MiB = 1 << 20


@contextmanager
def peak_memory(limit=8 * MiB):
    """Fail when Python (and NumPy) allocated more than ``limit`` bytes inside the block."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < limit, f"allocated {peak:,} bytes"


# ============================================================================ model files
@pytest.fixture(scope="module")
def model_parts(tmp_path_factory):
    """metadata (without the format header) and arrays of a small fitted digits pipeline."""
    from fastsoftmax.classifier import SoftmaxClassifier
    from fastsoftmax.data import load_digits_images
    from fastsoftmax.pipeline import ImagePipeline

    digits = load_digits_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, random_state=0),
                         class_names=digits.class_names)
    pipe.fit(digits.X_train, digits.y_train, cache=False)
    path = tmp_path_factory.mktemp("model") / "good.npz"
    pipe.save(path)
    metadata, arrays = load_arrays(path)
    for key in ("format", "format_version", "kind"):
        metadata.pop(key)
    return path, metadata, arrays


def _write_model(path, metadata, arrays, kind="ImagePipeline"):
    save_arrays(path, kind, json.loads(json.dumps(metadata)), dict(arrays))
    return path


def _raw_model(path, meta_bytes, arrays=None):
    np.savez(path, __fastsoftmax__=np.frombuffer(meta_bytes, np.uint8), **(arrays or {}))
    return path


def _npy_bytes(array=None, header=None, data=b""):
    buf = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buf, array)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _meta_member():
    meta = json.dumps({"format": "fastsoftmax", "format_version": 1, "kind": "X"}).encode()
    return _npy_bytes(np.frombuffer(meta, np.uint8))


def _patch_central_sizes(path, member, compress_size=None, file_size=None):
    """Rewrite a member's sizes in the zip's central directory (what readers trust)."""
    raw = bytearray(path.read_bytes())
    name = member.encode()
    at = raw.rfind(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_len] == name:
            break
        at = raw.rfind(b"PK\x01\x02", 0, at)
    if compress_size is not None:
        struct.pack_into("<I", raw, at + 20, compress_size)
    if file_size is not None:
        struct.pack_into("<I", raw, at + 24, file_size)
    path.write_bytes(bytes(raw))


def test_model_good_file_loads(model_parts):
    path, metadata, arrays = model_parts
    again, again_arrays = load_arrays(path, kind="ImagePipeline")
    assert again["class_names"] == metadata["class_names"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(again_arrays[name], value)
        assert again_arrays[name].flags.writeable


def test_model_zip_bomb_member_refused_before_inflating(tmp_path, model_parts):
    # 64 MiB of zeros deflate to 64 KB; with a 16 MiB bound the member is refused unread
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__fastsoftmax__.npy", _meta_member())
        with zf.open("clf_coef_.npy", "w") as member:
            member.write(_npy_bytes(header={"descr": "<f8", "fortran_order": False,
                                            "shape": (8 * MiB,)}))
            zero = bytes(MiB)
            for _ in range(64):
                member.write(zero)
    assert path.stat().st_size < MiB
    with peak_memory(), pytest.raises(ModelFileError, match=(
            r"is not a fastsoftmax model: members declare 67,10\d,\d+ bytes uncompressed, more "
            r"than the limit of 16,777,216 \(a zip bomb\?\)")):
        load_arrays(path, max_bytes=16 * MiB)


def test_model_member_declaring_more_than_deflate_can_give(tmp_path):
    path = _zip(tmp_path / "lie.npz", {"__fastsoftmax__.npy": _meta_member(),
                                       "a.npy": _npy_bytes(np.zeros(10))}, zipfile.ZIP_DEFLATED)
    _patch_central_sizes(path, "a.npy", file_size=4_000_000_000)
    with peak_memory(), pytest.raises(ModelFileError, match=(
            r"member 'a.npy' declares 4000000000 bytes from \d+ compressed, more than deflate "
            r"can give")):
        load_arrays(path)


def test_model_npy_header_claiming_terabytes(tmp_path):
    member = _npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": (10**12,)},
                        data=b"\x00" * 8)
    path = _zip(tmp_path / "tb.npz", {"__fastsoftmax__.npy": _meta_member(), "clf_coef_.npy": member})
    with peak_memory(), pytest.raises(ModelFileError, match=(
            r"member 'clf_coef_.npy' declares shape \(1000000000000,\) of float64 "
            r"\(8,000,000,000,000 bytes\) but holds 8 bytes")):
        load_arrays(path)


def test_model_stored_member_sizes_disagree(tmp_path):
    path = _zip(tmp_path / "s.npz", {"__fastsoftmax__.npy": _meta_member(),
                                     "a.npy": _npy_bytes(np.zeros(4))})
    _patch_central_sizes(path, "a.npy", file_size=10**9)
    with pytest.raises(ModelFileError, match=r"stored member 'a.npy' declares 1000000000 bytes "
                                             r"but \d+ on disk"):
        load_arrays(path)


@pytest.mark.parametrize("members, match", [
    ({"evil.txt": b"hello"}, r"member 'evil.txt' is not a .npy array"),
    ({"a.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b" " * 60000},
     r"member 'a.npy' is corrupted \(.*[Hh]eader"),
    ({"a.npy": _npy_bytes(header={"descr": "|O", "fortran_order": False, "shape": (2,)},
                          data=b"\x00" * 16)},
     r"member 'a.npy' has dtype object; only plain numbers and text are read"),
    ({"a.npy": b"GIF89a not numpy"}, r"member 'a.npy' is corrupted"),
    ({"a.npy": _npy_bytes(np.arange(3.0))[:-4]}, r"declares shape \(3,\) of float64 \(24 bytes\) "
                                                 r"but holds 20 bytes"),
], ids=["not-npy", "huge-header", "object", "not-magic", "short-data"])
def test_model_bad_members(tmp_path, members, match):
    path = _zip(tmp_path / "m.npz", {"__fastsoftmax__.npy": _meta_member(), **members})
    with peak_memory(), pytest.raises(ModelFileError, match=match):
        load_arrays(path)


@pytest.mark.parametrize("meta, match", [
    (b"[1, 2]", r"metadata is a JSON list, not an object"),
    (b"[" * 100_000 + b"]" * 100_000, r"metadata: JSON nested too deeply"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, r"metadata: JSON nested more than 32 deep"),
    (b"\xff\xfe{}", r"metadata: not UTF-8 text"),
    (b"{'format': 1}", r"metadata: not valid JSON"),
    (b'{"format": "fastsoftmax", "format_version": "1"}',
     r"metadata format_version '1' is not a positive integer"),
    (b'{"format": "fastsoftmax", "format_version": true}',
     r"metadata format_version True is not a positive integer"),
], ids=["list", "deep-100000", "deep-40", "not-utf8", "not-json", "version-str", "version-bool"])
def test_model_bad_metadata_json(tmp_path, meta, match):
    path = _raw_model(tmp_path / "m.npz", meta)
    with pytest.raises(ModelFileError, match=match):
        load_arrays(path)


def _mutated(metadata, arrays, change):
    metadata = json.loads(json.dumps(metadata))
    arrays = dict(arrays)
    change(metadata, arrays)
    return metadata, arrays


@pytest.mark.parametrize("change, match", [
    (lambda m, a: m.update(class_names=m["class_names"][:9]),
     r"class_names lists 9 names for 10 classes"),
    (lambda m, a: m.update(class_names=["a"] * 10), r"class_names repeats a name"),
    (lambda m, a: m.update(class_names=[1] * 10), r"class_names is not a list of strings"),
    (lambda m, a: a.update(clf_classes_=np.arange(10) + 5),
     r"clf_classes_ \[5, 6, .*\] are not indices into the 10 class_names"),
    (lambda m, a: a.update(clf_classes_=np.zeros(10, np.int64)), r"clf_classes_ repeats a class"),
    (lambda m, a: m.update(image_shape=[0, 8]), r"image_shape \[0, 8\] is not \[height, width\]"),
    (lambda m, a: m.update(image_shape=[-8, 8]), r"image_shape \[-8, 8\] is not"),
    (lambda m, a: m.update(image_shape=[8, 8, 4]), r"image_shape \[8, 8, 4\] is not"),
    (lambda m, a: m.update(image_shape="8x8"), r"'image_shape' is a str, expected list"),
    (lambda m, a: m.update(image_shape=[16, 16]),
     r"pca_components_ has shape \(\d+, 324\) but the classifier's \d+ features and 1764 HOG "
     r"features of 16x16 images need"),
    (lambda m, a: a.update(clf_coef_=a["clf_coef_"][:9]),
     r"clf_coef_ has shape \(9, \d+\) but 10 classes and \d+ features need"),
    (lambda m, a: a.update(clf_intercept_=np.zeros(3, np.float32)),
     r"clf_intercept_ has shape \(3,\), expected \(10,\)"),
    (lambda m, a: a.update(pca_mean_=np.zeros(5, np.float32)), r"pca_mean_ has shape \(5,\)"),
    (lambda m, a: a.update(pca_components_=a["pca_components_"][:, :7]),
     r"pca_components_ has shape \(\d+, 7\)"),
    (lambda m, a: a.pop("clf_coef_"), r"array 'clf_coef_' is missing"),
    (lambda m, a: a.update(clf_coef_=np.zeros((10, 3, 2))),
     r"array 'clf_coef_' has shape \(10, 3, 2\) and dtype float64, expected 2 dimension"),
    (lambda m, a: m["classifier"].update(n_features_in_=0),
     r"classifier n_features_in_ is 0, expected a positive integer"),
    (lambda m, a: m["classifier"].update(n_features_in_="84"),
     r"classifier 'n_features_in_' is a str, expected int"),
    (lambda m, a: m.update(classifier=[1]), r"'classifier' is a list, expected dict"),
    (lambda m, a: m["hog_params"].update(pixels_per_cell=[0, 2]),
     r"hog_params 'pixels_per_cell' is 0, expected a positive integer"),
    (lambda m, a: m["hog_params"].update(pixels_per_cell=[8, 8]),
     r"image_shape \[8, 8\] does not fit hog_params"),
    (lambda m, a: m.update(pca_variance=7), r"pca_variance 7 is not in \(0, 1\] or null"),
], ids=["names-short", "names-repeat", "names-int", "classes-range", "classes-repeat",
        "shape-zero", "shape-negative", "shape-4ch", "shape-str", "shape-vs-pca", "coef-rows",
        "intercept", "pca-mean", "pca-cols", "coef-missing", "coef-3d", "n-features-0",
        "n-features-str", "classifier-list", "ppc-zero", "ppc-too-big", "pca-variance"])
def test_model_inconsistent_contents(tmp_path, model_parts, change, match):
    _, metadata, arrays = model_parts
    path = _write_model(tmp_path / "m.npz", *_mutated(metadata, arrays, change))
    with pytest.raises(ModelFileError, match=rf"^'{tmp_path / 'm.npz'}': {match}"):
        load_arrays(path)


def test_model_metadata_member_size_is_bounded(tmp_path, monkeypatch):
    from fastsoftmax import persistence

    monkeypatch.setattr(persistence, "MAX_METADATA_BYTES", 100)
    path = _raw_model(tmp_path / "m.npz", b'{"pad": "' + b"x" * 200 + b'"}')
    with pytest.raises(ModelFileError, match=r"the metadata member is not up to 100 bytes"):
        load_arrays(path)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_hostile_model_is_one_line_error(tmp_path, model_parts, command):
    _, metadata, arrays = model_parts
    path = _write_model(tmp_path / "m.npz", *_mutated(
        metadata, arrays, lambda m, a: m.update(class_names=m["class_names"][:3])))
    args = [command, "--model", str(path)] + (["x.png"] if command == "predict" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output == (f"Error: '{path}': class_names lists 3 names for 10 classes\n")


# ============================================================================ cache entries
@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "home"))
    return cache.cache_dir()


def _entry_path(key):
    return cache.cache_dir() / f"{key}.npz"


@pytest.mark.parametrize("write, reason", [
    (lambda p: np.savez(p, features=np.zeros((3, 4))), r"array 'features' has shape \(3, 4\), "
                                                       r"expected \(5, None\)"),
    (lambda p: np.savez(p, other=np.zeros((5, 4))), r"no array 'features'"),
    (lambda p: _zip(p, {"features.npy": _npy_bytes(
        header={"descr": "<f4", "fortran_order": False, "shape": (5, 10**12)})}),
     r"declares shape \(5, 1000000000000\)"),
    (lambda p: _zip(p, {"features.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 65000)
                        + b" " * 65000}), r"is corrupted"),
    (lambda p: p.write_bytes(b"garbage"), r"not a readable .npz archive"),
    (lambda p: _zip(p, {"features.npy": _npy_bytes(np.zeros((5, 2)))}, zipfile.ZIP_DEFLATED),
     r"uses an unsupported compression"),
], ids=["wrong-shape", "missing", "huge-header-shape", "huge-header", "garbage", "deflated"])
def test_cache_bad_entry_is_a_miss_removed_with_warning(cache_home, caplog, write, reason):
    key = "ab" * 32
    cache_home.mkdir(parents=True)
    write(_entry_path(key))
    with caplog.at_level(logging.WARNING, logger="fastsoftmax.data.cache"), peak_memory():
        assert cache.load_cached(key, expect={"features": (5, None)}) is None
    assert not _entry_path(key).exists()
    assert any("ignoring corrupt cache entry" in r.message and
               re.search(reason, r.message) for r in caplog.records), caplog.text


def test_cache_pca_entry_with_disagreeing_shapes_is_a_miss(cache_home):
    key = "cd" * 32
    cache.save_cached(key, {"mean": np.zeros(6), "components": np.zeros((2, 7))})
    assert cache.load_cached(key, expect={"mean": ("f",), "components": (None, "f")}) is None
    cache.save_cached(key, {"mean": np.zeros(7), "components": np.ones((2, 7))})
    hit = cache.load_cached(key, expect={"mean": ("f",), "components": (None, "f")})
    np.testing.assert_array_equal(hit["components"], np.ones((2, 7)))


def test_pipeline_recovers_from_a_corrupt_feature_entry(cache_home):
    from fastsoftmax.classifier import SoftmaxClassifier
    from fastsoftmax.data import cache_key
    from fastsoftmax.pipeline import ImagePipeline, default_hog_params, _jsonable

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 2
    hog = default_hog_params(X.shape[1:])
    key = cache_key(X, kind="hog", **_jsonable(hog))
    cache.save_cached(key, {"features": np.zeros((3, 3), np.float32)})  # wrong shape
    fresh = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0)).fit(X, y, cache=False)
    cached = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0)).fit(X, y, cache=True)
    np.testing.assert_array_equal(cached.classifier.coef_, fresh.classifier.coef_)
    entry = cache.load_cached(key)
    assert entry["features"].shape == (40, fresh.pca_components_.shape[1])  # rewritten right


def test_cache_stray_temp_files_listed_and_cleaned(cache_home):
    import os
    import time

    cache_home.mkdir(parents=True)
    old = cache_home / f".{'ef' * 32}.npz.abc123.tmp"
    new = cache_home / f".{'ef' * 32}.npz.def456.tmp"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 3600,) * 2)
    assert cache.stray_temp_files() == sorted([old, new])
    result = CliRunner().invoke(main, ["data", "info", "--json"])
    assert result.exit_code == 0
    assert sorted(json.loads(result.output)["stray_temp_files"]) == sorted([str(old), str(new)])
    cache.save_cached("ab" * 32, {"a": np.zeros(2)})  # the next write removes the stale one
    assert not old.exists() and new.exists()
    assert cache.clear_cache() == 1 and not new.exists()


# ============================================================================ results.json
def _results(tmp_path, payload):
    folder = tmp_path / "sweep"
    folder.mkdir(exist_ok=True)
    text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    (folder / "results.json").write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


GOOD_ROW = {"run": 0, "alpha": 0.1, "diverged": False, "train_accuracy": 0.5,
            "val_accuracy": 0.4, "test_accuracy": None, "final_loss": 1.0,
            "zero_fraction": 0.0, "seconds": 0.1}


def test_results_good_file_reads(tmp_path):
    payload = read_sweep_results(_results(tmp_path, {"grid": {"alpha": [0.1]}, "rows": [GOOD_ROW]}))
    assert payload["rows"][0]["val_accuracy"] == 0.4 and np.isnan(payload["rows"][0]["test_accuracy"])


@pytest.mark.parametrize("payload, match", [
    ("[" * 100_000 + "]" * 100_000, r"JSON nested too deeply"),
    ({"grid": {"alpha": [0.1]}, "rows": [GOOD_ROW], "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
     r"JSON nested more than 32 deep"),
    ("{not json", r"not valid JSON"),
    ([1, 2], r"a JSON list, expected an object with 'grid' and 'rows'"),
    ({"grid": {"alpha": [0.1]}}, r"'rows' is not a non-empty list of runs"),
    ({"grid": {"alpha": 0.1}, "rows": [GOOD_ROW]}, r"grid 'alpha' is not a non-empty list"),
    ({"grid": [], "rows": [GOOD_ROW]}, r"'grid' is not an object"),
    ({"grid": {"alpha": [0.1]}, "rows": [7]}, r"row 0 is a int, not an object"),
    ({"grid": {"alpha": [0.1]}, "rows": [{"run": 0}]}, r"row 0 lacks 'alpha', 'diverged'"),
    ({"grid": {"alpha": [0.1]}, "rows": [{**GOOD_ROW, "val_accuracy": "high"}]},
     r"row 0 'val_accuracy' is str, expected a number or null"),
    ({"grid": {"alpha": [0.1]}, "rows": [{**GOOD_ROW, "alpha": {"a": 1}}]}, r"row 0 'alpha' is a dict"),
    ({"grid": {"alpha": [0.1]}, "rows": [GOOD_ROW], "seconds": "fast"}, r"'seconds' is a str"),
    ({"grid": {"alpha": [0.1]}, "rows": [GOOD_ROW], "sizes": [1]}, r"'sizes' is a list"),
], ids=["deep-100000", "deep-33", "not-json", "list", "no-rows", "grid-scalar", "grid-list",
        "row-int", "row-missing", "metric-str", "param-dict", "seconds-str", "sizes-list"])
def test_results_malformed_is_an_error_naming_the_file(tmp_path, payload, match):
    folder = _results(tmp_path, payload)
    with pytest.raises(ResultsFileError, match=rf"^{folder / 'results.json'}: {match}"):
        read_sweep_results(folder)


def test_results_size_bound(tmp_path, monkeypatch):
    from fastsoftmax.experiments import report

    monkeypatch.setattr(report, "MAX_RESULTS_BYTES", 1 << 20)
    folder = _results(tmp_path, " " * (2 << 20) + "{}")
    with pytest.raises(ResultsFileError, match=r"results.json: larger than 1 MiB"):
        read_sweep_results(folder)


def test_cli_report_on_malformed_results_is_one_line_error(tmp_path):
    folder = _results(tmp_path, "[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2
    assert result.output == f"Error: {folder / 'results.json'}: JSON nested too deeply\n"
    assert sorted(p.name for p in folder.iterdir()) == ["results.json"]  # nothing written
