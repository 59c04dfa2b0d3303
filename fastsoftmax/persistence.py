"""Model files: a ``.npz`` of plain arrays plus JSON metadata; no pickle anywhere.

A model file holds the member ``__fastsoftmax__.json`` (format version, model kind,
parameters) stored as bytes, and one member per array.  It is written to a temporary
file in the destination folder and renamed into place, so a reader never sees a
half-written model.

This module knows the file format only, not the model classes: a class saves itself
through :func:`save_arrays` and loads through :func:`load_model_file` with its own
``from_arrays``; :func:`fastsoftmax.models.load_model` picks the class from the kind.

Format versions: 1 (fastsoftmax 0.1.0: HOG parameters and PCA stored by the pipeline
itself), 2 (the pipeline stores each fitted step with its ``to_arrays``; classifiers
also store their momentum).  Version 1 files are still read.
"""
import json
from pathlib import Path

import numpy as np

from ._atomic import atomic_open

FORMAT_VERSION = 2
_META_KEY = "__fastsoftmax__"


class ModelFileError(ValueError):
    """The file is not a (readable) fastsoftmax model."""


def save_arrays(path, kind, metadata, arrays):
    """Write ``arrays`` and ``metadata`` atomically to ``path``.

    Parameters
    ----------
    path : str or Path
    kind : str
        What the file holds (``"SoftmaxClassifier"``, ``"ImagePipeline"``...).
    metadata : dict
        JSON-serializable.
    arrays : dict of str to ndarray
        Arrays of plain dtypes (no ``object``).
    """
    path = Path(path)
    header = {"format": "fastsoftmax", "format_version": FORMAT_VERSION, "kind": kind,
              **metadata}
    payload = {_META_KEY: np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
        payload[name] = value
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save the model: folder {str(folder)!r} does not exist")
    _remove_stale_temp_files(path)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **payload)


#: A temporary model file untouched this long was left by a killed save.
STALE_SECONDS = 600


def _remove_stale_temp_files(path):
    """Remove what a killed save of ``path`` left (``atomic_open``'s ``.<name>.*.tmp``)."""
    import time

    now = time.time()
    for stray in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - stray.stat().st_mtime >= STALE_SECONDS:
                stray.unlink()
        except OSError:
            pass


#: A model file whose arrays declare more bytes than this is refused (override with
#: ``load_arrays(..., max_bytes=...)``).
MAX_MODEL_BYTES = 1 << 30
#: The metadata member holds at most this many bytes of JSON.
MAX_METADATA_BYTES = 1 << 20


def load_arrays(path, kind=None, *, max_bytes=MAX_MODEL_BYTES):
    """Read a model file written by :func:`save_arrays`, checking it before trusting it.

    Every member's declared size is checked against the zip directory, the ``.npy``
    header and ``max_bytes`` before its data is read (a zip bomb or a header that
    claims terabytes is refused without allocating); the metadata must be a JSON
    object of bounded size and depth; a ``SoftmaxClassifier`` or ``ImagePipeline``
    must have arrays and metadata consistent with each other
    (:func:`check_model_contents`).

    Parameters
    ----------
    path : str or Path
    kind : str, optional
        Refuse a file holding another kind of model.
    max_bytes : int, default :data:`MAX_MODEL_BYTES`
        Refuse a file whose arrays declare more bytes than this in all.

    Returns
    -------
    metadata : dict
    arrays : dict of str to ndarray

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        Not a fastsoftmax model, malformed (the message names the file and what is
        wrong), a newer format, or of another ``kind`` than asked.
    """
    from ._untrusted import loads_json, read_npz

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    label = repr(str(path))
    try:
        arrays = read_npz(path, max_bytes=max_bytes, error=ModelFileError)
    except ModelFileError as exc:
        raise ModelFileError(f"{label} is not a fastsoftmax model: "
                             f"{str(exc)[len(str(path)) + 2:]}") from None
    raw_meta = arrays.pop(_META_KEY, None)
    if raw_meta is None:
        raise ModelFileError(f"{label} is not a fastsoftmax model (no metadata)")
    if raw_meta.dtype != np.uint8 or raw_meta.ndim != 1 or raw_meta.size > MAX_METADATA_BYTES:
        raise ModelFileError(f"{label}: the metadata member is not up to "
                             f"{MAX_METADATA_BYTES:,} bytes of JSON text")
    metadata = loads_json(raw_meta.tobytes(), f"{label}: metadata", error=ModelFileError)
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{label}: metadata is a JSON {type(metadata).__name__}, "
                             "not an object")
    if metadata.get("format") != "fastsoftmax":
        raise ModelFileError(f"{label} is not a fastsoftmax model")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{label}: metadata format_version {version!r} is not a "
                             "positive integer")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{label} was written in model format {version}, newer than this "
            f"fastsoftmax reads ({FORMAT_VERSION}); upgrade fastsoftmax"
        )
    if kind is not None and metadata.get("kind") != kind:
        raise ModelFileError(
            f"{label} holds a {metadata.get('kind')}, not a {kind}"
        )
    check_model_contents(metadata, arrays, label)
    return metadata, arrays


def check_model_contents(metadata, arrays, label):
    """Check that a model's metadata and arrays fit together before any is used.

    Known kinds (``SoftmaxClassifier``, ``ImagePipeline``) are checked in full; other
    kinds pass unchecked.

    Parameters
    ----------
    metadata : dict
    arrays : dict of str to ndarray
    label : str
        The file, named in error messages.

    Raises
    ------
    ModelFileError
        A field missing or of the wrong type, a non-positive size, arrays whose shapes
        disagree with each other or with the metadata, class names of the wrong length,
        classes out of the names' range.
    """
    kind = metadata.get("kind")
    if kind == "SoftmaxClassifier":
        _check_classifier(metadata, arrays, label, "")
    elif kind == "ImagePipeline":
        _check_pipeline(metadata, arrays, label)


def _fail(label, message):
    raise ModelFileError(f"{label}: {message}")


def _need(mapping, key, types, label, where):
    if key not in mapping:
        _fail(label, f"{where}{key!r} is missing")
    value = mapping[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        _fail(label, f"{where}{key!r} is a {type(value).__name__}, expected {names}")
    return value


def _positive_int(value, label, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(label, f"{what} is {value!r}, expected a positive integer")
    return value


def _array(arrays, name, label, ndim, kinds):
    if name not in arrays:
        _fail(label, f"array {name!r} is missing")
    value = arrays[name]
    if value.ndim != ndim or value.dtype.kind not in kinds:
        _fail(label, f"array {name!r} has shape {value.shape} and dtype {value.dtype}, "
                     f"expected {ndim} dimension(s) of kind {kinds!r}")
    return value


def _check_classifier(metadata, arrays, label, prefix):
    where = "classifier " if prefix else ""
    _need(metadata, "params", dict, label, where)
    n_features = _positive_int(_need(metadata, "n_features_in_", int, label, where), label,
                               f"{where}n_features_in_")
    n_iter = _need(metadata, "n_iter_", int, label, where)
    if n_iter < 0:
        _fail(label, f"{where}n_iter_ is {n_iter}, expected >= 0")
    if "feature_names_in_" in metadata:
        names = _need(metadata, "feature_names_in_", list, label, where)
        if len(names) != n_features or not all(isinstance(n, str) for n in names):
            _fail(label, f"{where}feature_names_in_ is not {n_features} strings")
    coef = _array(arrays, f"{prefix}coef_", label, 2, "f")
    intercept = _array(arrays, f"{prefix}intercept_", label, 1, "f")
    classes = _array(arrays, f"{prefix}classes_", label, 1, "biuU")
    _array(arrays, f"{prefix}loss_curve_", label, 1, "f")
    n_classes = len(classes)
    if n_classes < 2:
        _fail(label, f"{prefix}classes_ holds {n_classes} class(es), expected at least 2")
    if len(np.unique(classes)) != n_classes:
        _fail(label, f"{prefix}classes_ repeats a class")
    if coef.shape != (n_classes, n_features):
        _fail(label, f"{prefix}coef_ has shape {coef.shape} but {n_classes} classes and "
                     f"{n_features} features need ({n_classes}, {n_features})")
    if intercept.shape != (n_classes,):
        _fail(label, f"{prefix}intercept_ has shape {intercept.shape}, expected ({n_classes},)")
    return classes, n_features


def _check_pipeline(metadata, arrays, label):
    clf_meta = _need(metadata, "classifier", dict, label, "")
    classes, n_features = _check_classifier(clf_meta, arrays, label, "clf_")
    shape = _need(metadata, "image_shape", list, label, "")
    if (len(shape) not in (2, 3) or any(not isinstance(v, int) or isinstance(v, bool) or v < 1
                                         for v in shape) or (len(shape) == 3 and shape[2] != 3)):
        _fail(label, f"image_shape {shape!r} is not [height, width] or [height, width, 3] of "
                     "positive integers")
    hog = _need(metadata, "hog_params", dict, label, "")
    for key in ("pixels_per_cell", "cells_per_block"):
        pair = _need(hog, key, list, label, "hog_params ")
        if len(pair) != 2:
            _fail(label, f"hog_params {key!r} is {pair!r}, expected two positive integers")
        for value in pair:
            _positive_int(value, label, f"hog_params {key!r}")
    _positive_int(_need(hog, "orientations", int, label, "hog_params "), label,
                  "hog_params 'orientations'")
    _need(hog, "block_norm", str, label, "hog_params ")
    from .features import hog_n_features

    try:
        n_hog = hog_n_features(shape, hog["orientations"], tuple(hog["pixels_per_cell"]),
                               tuple(hog["cells_per_block"]))
    except ValueError as exc:
        _fail(label, f"image_shape {shape} does not fit hog_params ({exc})")
    variance = metadata.get("pca_variance")
    if variance is not None and not (isinstance(variance, (int, float))
                                     and not isinstance(variance, bool) and 0 < variance <= 1):
        _fail(label, f"pca_variance {variance!r} is not in (0, 1] or null")
    if "pca_components_" in arrays or "pca_mean_" in arrays:
        components = _array(arrays, "pca_components_", label, 2, "f")
        mean = _array(arrays, "pca_mean_", label, 1, "f")
        if components.shape != (n_features, n_hog):
            _fail(label, f"pca_components_ has shape {components.shape} but the classifier's "
                         f"{n_features} features and {n_hog} HOG features of "
                         f"{'x'.join(map(str, shape))} images need ({n_features}, {n_hog})")
        if mean.shape != (n_hog,):
            _fail(label, f"pca_mean_ has shape {mean.shape}, expected ({n_hog},)")
    elif n_features != n_hog:
        _fail(label, f"the classifier takes {n_features} features but "
                     f"{'x'.join(map(str, shape))} images give {n_hog} HOG features")
    names = metadata.get("class_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            _fail(label, "class_names is not a list of strings")
        if len(set(names)) != len(names):
            _fail(label, "class_names repeats a name")
        if len(names) < len(classes):
            _fail(label, f"class_names lists {len(names)} names for {len(classes)} classes")
        if (classes.dtype.kind not in "iu" or classes.min() < 0
                or classes.max() >= len(names)):
            _fail(label, f"clf_classes_ {classes.tolist()[:10]} are not indices into the "
                         f"{len(names)} class_names")


def load_model_file(path, kind, from_arrays, metadata=None, arrays=None):
    """Rebuild a model of ``kind`` from ``path`` with ``from_arrays(metadata, arrays)``.

    ``metadata`` and ``arrays``, when given, are the file's content already read by
    :func:`load_arrays` (the file is then not read again).

    Raises
    ------
    ModelFileError
        The file is not a model of ``kind``, or its content is incomplete or does not
        fit together (any ``KeyError``/``TypeError``/``ValueError``/``IndexError`` of
        ``from_arrays``, reported with the file's name).
    """
    if metadata is None:
        metadata, arrays = load_arrays(path, kind=kind)
    elif metadata.get("kind") != kind:
        raise ModelFileError(f"{str(path)!r} holds a {metadata.get('kind')}, not a {kind}")
    try:
        return from_arrays(metadata, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is an incomplete or inconsistent fastsoftmax {kind} ({exc})"
        ) from None
