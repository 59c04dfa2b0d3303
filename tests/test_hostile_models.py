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
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.io import cache
from fastsoftmax.experiments.results import ResultsFileError, read_sweep_results
from fastsoftmax.model.loading import load_model
from fastsoftmax.io.model_file import ModelFileError, load_arrays, save_arrays
from model_file_edits import set_array, set_metadata

MiB = 1 << 20



# ============================================================================ model files
@pytest.fixture(scope="module")
def model_parts(tmp_path_factory):
    """metadata (without the format header) and arrays of a small fitted digits pipeline,
    as :meth:`ImagePipeline.save` writes them (format 2)."""
    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.data import load_digits_images
    from fastsoftmax.model.pipeline import ImagePipeline

    digits = load_digits_images()
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, random_state=0),
                         class_names=digits.class_names)
    pipe.fit(digits.X_train, digits.y_train)
    path = tmp_path_factory.mktemp("model") / "good.npz"
    pipe.save(path)
    metadata, arrays = load_arrays(path)
    assert metadata.pop("format_version") == 2
    for key in ("format", "kind"):
        metadata.pop(key)
    return path, metadata, arrays, pipe, digits.X_test


def _format_1(metadata, arrays):
    """The same pipeline in the layout fastsoftmax 0.1.0 wrote (format 1): HOG parameters
    and PCA stored by the pipeline, arrays ``clf_*``, no momentum."""
    hog = {key: metadata["features"]["params"][key]
           for key in ("orientations", "pixels_per_cell", "cells_per_block", "block_norm")}
    old = {"format_version": 1, "classifier": metadata["classifier"], "hog_params": hog,
           "image_shape": metadata["image_shape"], "pca_variance": metadata["pca_variance"],
           "class_names": metadata["class_names"],
           "scaling": "uint8 0..255 -> 0..1 (min_max_scale), then grayscale (rgb2gray)"}
    old_arrays = {f"clf_{key[12:]}": value for key, value in arrays.items()
                  if key.startswith("classifier__") and "velocity" not in key}
    old_arrays.update(pca_mean_=arrays["pca__mean_"], pca_components_=arrays["pca__components_"])
    return old, old_arrays


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
    meta = json.dumps({"format": "fastsoftmax", "format_version": 2, "kind": "X"}).encode()
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
    path, metadata, arrays, pipe, images = model_parts
    again, again_arrays = load_arrays(path, kind="ImagePipeline")
    assert again["class_names"] == metadata["class_names"]
    assert sorted(arrays) == sorted(again_arrays) and all(
        name.split("__")[0] in ("features", "pca", "classifier") for name in arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(again_arrays[name], value)
        assert again_arrays[name].flags.writeable
    np.testing.assert_array_equal(load_model(path).predict_proba(images),
                                  pipe.predict_proba(images))


def test_model_format_1_file_loads(tmp_path, model_parts):
    _, metadata, arrays, pipe, images = model_parts
    path = _write_model(tmp_path / "old.npz", *_format_1(metadata, arrays))
    assert load_arrays(path)[0]["format_version"] == 1
    old = load_model(path)
    np.testing.assert_array_equal(old.predict_proba(images), pipe.predict_proba(images))
    assert old.features_.get_params() == pipe.features_.get_params()


def test_load_arrays_knows_the_file_format_only(tmp_path, model_parts):
    # persistence is a leaf: contents that do not fit together are the model class's
    # to refuse, so load_arrays reads them and load_model refuses them
    _, metadata, arrays, _, _ = model_parts
    path = _write_model(tmp_path / "m.npz", *_mutated(
        metadata, arrays, lambda m, a: m.update(class_names=m["class_names"][:3])))
    assert load_arrays(path)[0]["class_names"] == metadata["class_names"][:3]
    with pytest.raises(ModelFileError, match=r"class_names lists 3 names for 10 classes$"):
        load_model(path)


def test_model_zip_bomb_member_refused_before_inflating(tmp_path, model_parts, peak_memory):
    # 64 MiB of zeros deflate to 64 KB; with a 16 MiB bound the member is refused unread
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__fastsoftmax__.npy", _meta_member())
        with zf.open("classifier__coef_.npy", "w") as member:
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


def test_model_member_declaring_more_than_deflate_can_give(tmp_path, peak_memory):
    path = _zip(tmp_path / "lie.npz", {"__fastsoftmax__.npy": _meta_member(),
                                       "a.npy": _npy_bytes(np.zeros(10))}, zipfile.ZIP_DEFLATED)
    _patch_central_sizes(path, "a.npy", file_size=4_000_000_000)
    with peak_memory(), pytest.raises(ModelFileError, match=(
            r"member 'a.npy' declares 4000000000 bytes from \d+ compressed, more than deflate "
            r"can give")):
        load_arrays(path)


def test_model_npy_header_claiming_terabytes(tmp_path, peak_memory):
    member = _npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": (10**12,)},
                        data=b"\x00" * 8)
    path = _zip(tmp_path / "tb.npz", {"__fastsoftmax__.npy": _meta_member(),
                                      "classifier__coef_.npy": member})
    with peak_memory(), pytest.raises(ModelFileError, match=(
            r"member 'classifier__coef_.npy' declares shape \(1000000000000,\) of float64 "
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
def test_model_bad_members(tmp_path, members, match, peak_memory):
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




#: Format 2 (what ``save`` writes): one change each, and the exact message after the file.
FORMAT_2_CASES = {
    "names-short": (lambda m, a: m.update(class_names=m["class_names"][:9]),
                    r"class_names lists 9 names for 10 classes"),
    "names-repeat": (set_metadata("class_names", ["a"] * 10), r"class_names repeats a name"),
    "names-int": (set_metadata("class_names", [1] * 10), r"class_names is not a list of strings"),
    "names-str": (set_metadata("class_names", "0123456789"), r"'class_names' is a str, expected list or "
                                                   r"NoneType"),
    "classes-range": (set_array("classifier__classes_", lambda a: np.arange(10) + 5),
                      r"the classifier's classes_ \[5, 6, 7, 8, 9, 10, 11, 12, 13, 14\] are not "
                      r"indices into the 10 class_names"),
    "classes-repeat": (set_array("classifier__classes_", lambda a: np.zeros(10, np.int64)),
                       r"classifier: classes_ repeats a class"),
    "classes-one": (set_array("classifier__classes_", lambda a: np.zeros(1, np.int64)),
                    r"classifier: classes_ holds 1 class\(es\), expected at least 2"),
    "shape-zero": (set_metadata("image_shape", [0, 8]), r"image_shape \[0, 8\] is not \[height, width\] "
                                              r"or \[height, width, 3\] of positive integers"),
    "shape-negative": (set_metadata("image_shape", [-8, 8]), r"image_shape \[-8, 8\] is not \[height"),
    "shape-4ch": (set_metadata("image_shape", [8, 8, 4]), r"image_shape \[8, 8, 4\] is not \[height"),
    "shape-bool": (set_metadata("image_shape", [8, True]), r"image_shape \[8, True\] is not \[height"),
    "shape-str": (set_metadata("image_shape", "8x8"), r"'image_shape' is a str, expected list"),
    "shape-vs-step": (set_metadata("image_shape", [16, 16]),
                      r"image_shape \[16, 16\] is not the feature step's image_shape_ \[8, 8\]"),
    "shape-vs-pca": (lambda m, a: (set_metadata("image_shape", [16, 16])(m, a),
                                   set_metadata("features.image_shape_", [16, 16])(m, a)),
                     r"the PCA takes 324 features but the feature step gives 1764 for 16x16 "
                     r"images"),
    "n-image-features": (set_metadata("n_image_features", 100),
                         r"n_image_features is 100 but the feature step gives 324 for 8x8 images"),
    "n-image-features-0": (set_metadata("n_image_features", 0),
                           r"n_image_features is 0, expected a positive integer"),
    "step-unknown": (set_metadata("feature_step", "os.system"),
                     r"unknown feature step 'os.system'; known: HOGTransformer"),
    "step-missing": (lambda m, a: m.pop("feature_step"), r"'feature_step' is missing"),
    "features-list": (set_metadata("features", []), r"'features' is a list, expected dict"),
    "ppc-zero": (set_metadata("features.params.pixels_per_cell", [0, 2]),
                 r"features: pixels_per_cell must be two positive integers, got \(0, 2\)"),
    "ppc-three": (set_metadata("features.params.cells_per_block", [2, 2, 2]),
                  r"features: cells_per_block must be two positive integers, got \(2, 2, 2\)"),
    "ppc-too-big": (set_metadata("features.params.pixels_per_cell", [8, 8]),
                    r"features: image_shape_ \[8, 8\] does not fit the HOG parameters \(The "
                    r"input image is too small"),
    "hog-norm": (set_metadata("features.params.block_norm", "L3"),
                 r"features: The 'block_norm' parameter of HOGTransformer must be a str among"),
    "hog-range": (set_metadata("features.params.data_range", [255, 0]),
                  r"features: data_range must be two finite numbers low < high, got "
                  r"\(255, 0\)"),
    "hog-unknown": (set_metadata("features.params.hook", "os.system"),
                    r"features: unknown parameters \['hook'\]"),
    "hog-shape-missing": (lambda m, a: m["features"].pop("image_shape_"),
                          r"features: 'image_shape_' is missing"),
    "pca-mean": (set_array("pca__mean_", lambda a: np.zeros(5, np.float32)),
                 r"pca: mean_ has shape \(5,\), expected \(324,\)"),
    "pca-cols": (set_array("pca__components_", lambda a: a["pca__components_"][:, :7]),
                 r"pca: components_ has shape \(\d+, 7\) but n_features_in_ is 324: expected "
                 r"\(n_components >= 1, 324\)"),
    "pca-int": (set_array("pca__components_", lambda a: a["pca__components_"].astype(np.int64)),
                r"pca: array 'components_' has shape \(\d+, 324\) and dtype int64, expected 2 "
                r"dimension\(s\) of kind 'f'"),
    "pca-vs-classifier": (set_array("pca__components_", lambda a: a["pca__components_"][:5]),
                          r"the classifier takes \d+ features but the PCA gives 5"),
    "pca-missing": (lambda m, a: m.pop("pca"), r"'pca' is missing"),
    "pca-params": (set_metadata("pca.params.variance", 2),
                   r"pca: The 'variance' parameter of VariancePCA must be a float in the range "
                   r"\(0.0, 1.0\]. Got 2 instead."),
    "pca-variance": (set_metadata("pca_variance", 7),
                     r"The 'pca_variance' parameter of ImagePipeline must be a float in the "
                     r"range \(0.0, 1.0\] or None. Got 7 instead."),
    "pca-variance-null": (set_metadata("pca_variance", None),
                          r"pca_variance is None but the file has a PCA step"),
    "coef-rows": (set_array("classifier__coef_", lambda a: a["classifier__coef_"][:9]),
                  r"classifier: coef_ has shape \(9, \d+\) but 10 classes and \d+ features "
                  r"need \(10, \d+\)"),
    "intercept": (set_array("classifier__intercept_", lambda a: np.zeros(3, np.float32)),
                  r"classifier: intercept_ has shape \(3,\), expected \(10,\)"),
    "velocity": (set_array("classifier__velocity_coef", lambda a: np.zeros((2, 2), np.float32)),
                 r"classifier: the momentum arrays velocity_coef \(2, 2\) and "
                 r"velocity_intercept \(10,\) do not have the weights' shapes"),
    "coef-missing": (set_array("classifier__coef_", None), r"classifier: array 'coef_' is missing"),
    "coef-3d": (set_array("classifier__coef_", lambda a: np.zeros((10, 3, 2))),
                r"classifier: array 'coef_' has shape \(10, 3, 2\) and dtype float64, "
                r"expected 2 dimension\(s\) of kind 'f'"),
    "n-features-0": (set_metadata("classifier.n_features_in_", 0),
                     r"classifier: n_features_in_ is 0, expected a positive integer"),
    "n-features-str": (set_metadata("classifier.n_features_in_", "84"),
                       r"classifier: 'n_features_in_' is a str, expected int"),
    "n-iter-negative": (set_metadata("classifier.n_iter_", -1), r"classifier: n_iter_ is -1, expected >= 0"),
    "classifier-list": (set_metadata("classifier", [1]), r"'classifier' is a list, expected dict"),
    "classifier-unknown": (set_metadata("classifier.params.evil", 1),
                           r"classifier: unknown parameters \['evil'\]"),
    "classifier-param": (set_metadata("classifier.params.batch_size", 0),
                         r"classifier: The 'batch_size' parameter of SoftmaxClassifier must be"),
}


@pytest.mark.parametrize("change, match", FORMAT_2_CASES.values(), ids=FORMAT_2_CASES.keys())
def test_model_inconsistent_contents(tmp_path, model_parts, change, match):
    _, metadata, arrays, _, _ = model_parts
    path = _write_model(tmp_path / "m.npz", *_mutated(metadata, arrays, change))
    with pytest.raises(ModelFileError, match=rf"^'{re.escape(str(path))}': {match}"):
        load_model(path)


@pytest.mark.parametrize("change, match", FORMAT_2_CASES.values(), ids=FORMAT_2_CASES.keys())
def test_save_refuses_what_load_refuses_and_writes_nothing(tmp_path, model_parts, change, match):
    from fastsoftmax.model.pipeline import ImagePipeline

    _, metadata, arrays, _, _ = model_parts
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=(rf"^cannot save '{re.escape(str(path))}': it would "
                                          rf"not load back: {match}")):
        save_arrays(path, "ImagePipeline", *_mutated(metadata, arrays, change),
                    check=ImagePipeline.from_arrays)
    assert list(tmp_path.iterdir()) == []


#: Format 1 (fastsoftmax 0.1.0's layout), converted to format 2 before the same checks.
FORMAT_1_CASES = {
    "names-short": (lambda m, a: m.update(class_names=m["class_names"][:9]),
                    r"class_names lists 9 names for 10 classes"),
    "classes-range": (set_array("clf_classes_", lambda a: np.arange(10) + 5),
                      r"the classifier's classes_ \[5, 6, .*\] are not indices into the 10 "
                      r"class_names"),
    "coef-rows": (set_array("clf_coef_", lambda a: a["clf_coef_"][:9]),
                  r"classifier: coef_ has shape \(9, \d+\) but 10 classes and \d+ features "
                  r"need"),
    "coef-missing": (set_array("clf_coef_", None), r"classifier: array 'coef_' is missing"),
    "shape-vs-pca": (set_metadata("image_shape", [16, 16]),
                     r"the PCA takes 324 features but the feature step gives 1764 for 16x16 "
                     r"images"),
    "shape-str": (set_metadata("image_shape", "8x8"), r"'image_shape' is a str, expected list"),
    "pca-mean": (set_array("pca_mean_", lambda a: np.zeros(5, np.float32)),
                 r"pca: mean_ has shape \(5,\), expected \(324,\)"),
    "pca-3d": (set_array("pca_components_", lambda a: np.zeros((2, 3, 4), np.float32)),
               r"array 'pca_components_' has shape \(2, 3, 4\) and dtype float32, expected 2 "
               r"dimension"),
    "pca-missing-mean": (set_array("pca_mean_", None), r"array 'pca_mean_' is missing"),
    "hog-list": (set_metadata("hog_params", [9]), r"'hog_params' is a list, expected dict"),
    "ppc-zero": (set_metadata("hog_params.pixels_per_cell", [0, 2]),
                 r"features: pixels_per_cell must be two positive integers, got \(0, 2\)"),
    "ppc-too-big": (set_metadata("hog_params.pixels_per_cell", [8, 8]),
                    r"features: image_shape_ \[8, 8\] does not fit the HOG parameters"),
    "pca-variance": (set_metadata("pca_variance", 7),
                     r"The 'pca_variance' parameter of ImagePipeline must be a float in the "
                     r"range \(0.0, 1.0\] or None. Got 7 instead."),
    "classifier-list": (set_metadata("classifier", [1]), r"'classifier' is a list, expected dict"),
}


@pytest.mark.parametrize("change, match", FORMAT_1_CASES.values(), ids=FORMAT_1_CASES.keys())
def test_model_format_1_inconsistent_contents(tmp_path, model_parts, change, match):
    _, metadata, arrays, _, _ = model_parts
    path = _write_model(tmp_path / "m.npz", *_mutated(*_format_1(metadata, arrays), change))
    with pytest.raises(ModelFileError, match=rf"^'{re.escape(str(path))}': {match}"):
        load_model(path)


def test_classifier_file_contents_are_checked(tmp_path, model_parts):
    from fastsoftmax.model.classifier import SoftmaxClassifier

    _, metadata, arrays, pipe, _ = model_parts
    clf_meta, clf_arrays = pipe.classifier_.to_arrays()
    good = _write_model(tmp_path / "c.npz", clf_meta, clf_arrays, kind="SoftmaxClassifier")
    np.testing.assert_array_equal(SoftmaxClassifier.load(good).coef_, pipe.classifier_.coef_)
    bad = _write_model(tmp_path / "bad.npz", clf_meta,
                       {**clf_arrays, "intercept_": np.zeros(3, np.float32)},
                       kind="SoftmaxClassifier")
    with pytest.raises(ModelFileError, match=(rf"^'{re.escape(str(bad))}': intercept_ has shape "
                                              r"\(3,\), expected \(10,\)$")):
        load_model(bad)
    with pytest.raises(ModelFileError, match=(rf"^'{re.escape(str(bad))}': intercept_ has shape")):
        SoftmaxClassifier.load(bad)


def test_model_metadata_member_size_is_bounded(tmp_path, monkeypatch):
    from fastsoftmax.io import model_file as persistence

    monkeypatch.setattr(persistence, "MAX_METADATA_BYTES", 100)
    path = _raw_model(tmp_path / "m.npz", b'{"pad": "' + b"x" * 200 + b'"}')
    with pytest.raises(ModelFileError, match=r"the metadata member is not up to 100 bytes"):
        load_arrays(path)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_hostile_model_is_one_line_error(tmp_path, model_parts, command):
    _, metadata, arrays, _, _ = model_parts
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
def test_cache_bad_entry_is_a_miss_removed_with_warning(cache_home, caplog, write, reason, peak_memory):
    key = "ab" * 32
    cache_home.mkdir(parents=True)
    write(_entry_path(key))
    with caplog.at_level(logging.WARNING, logger="fastsoftmax.io.cache"), peak_memory():
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


def _meta_bytes(text):
    return np.frombuffer(text.encode(), np.uint8)


@pytest.mark.parametrize("entry, reason", [
    (lambda n: {"features": np.zeros((3, 3), np.float32)},
     r"array 'features' has shape \(3, 3\), expected \(40, None\)"),
    (lambda n: {"features": np.zeros((40, n), np.float32)}, r"no array 'step_metadata'"),
    (lambda n: {"features": np.zeros((40, n), np.float32),
                "step_metadata": _meta_bytes('{"params": {"hook": 1}, "image_shape_": [8, 8]}')},
     r"features: unknown parameters \['hook'\]"),
    (lambda n: {"features": np.zeros((40, n), np.float32),
                "step_metadata": _meta_bytes("[" * 100 + "]" * 100)},
     r"features: step_metadata: JSON nested more than 32 deep"),
], ids=["wrong-shape", "no-step", "hostile-step", "deep-json"])
def test_pipeline_recovers_from_a_corrupt_feature_entry(cache_home, caplog, entry, reason):
    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.data import cache_key
    from fastsoftmax.features import study_hog
    from fastsoftmax.model.pipeline import ImagePipeline

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 2
    step = study_hog(X.shape[1:])
    # the key of the pipeline's feature stage: images, labels, step class and parameters
    key = cache_key(X, y, kind="features", step="HOGTransformer", **step.get_params())
    n_hog = step.fit(X).n_features_out_
    cache.save_cached(key, entry(n_hog), kind="hog")
    fresh = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0)).fit(X, y)
    with caplog.at_level(logging.WARNING, logger="fastsoftmax.io.cache"):
        cached = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0), cache=True).fit(X, y)
    assert any("ignoring corrupt cache entry" in r.message and re.search(reason, r.message)
               for r in caplog.records), caplog.text
    np.testing.assert_array_equal(cached.classifier_.coef_, fresh.classifier_.coef_)
    rewritten = cache.load_cached(key)  # rewritten right, and used by the next fit
    np.testing.assert_array_equal(rewritten["features"], step.transform(X))
    assert rewritten["features"].shape == (40, fresh.pca_.components_.shape[1])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fastsoftmax.io.cache"):
        again = ImagePipeline(SoftmaxClassifier(n_iter=5, random_state=0), cache=True).fit(X, y)
    assert f"features: cache hit ({key[:12]})" in caplog.messages
    np.testing.assert_array_equal(again.classifier_.coef_, fresh.classifier_.coef_)


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
    from fastsoftmax.experiments import results

    monkeypatch.setattr(results, "MAX_RESULTS_BYTES", 1 << 20)
    folder = _results(tmp_path, " " * (2 << 20) + "{}")
    with pytest.raises(ResultsFileError, match=r"results.json: larger than 1 MiB"):
        read_sweep_results(folder)


def test_cli_report_on_malformed_results_is_one_line_error(tmp_path):
    folder = _results(tmp_path, "[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2
    assert result.output == f"Error: {folder / 'results.json'}: JSON nested too deeply\n"
    assert sorted(p.name for p in folder.iterdir()) == ["results.json"]  # nothing written
