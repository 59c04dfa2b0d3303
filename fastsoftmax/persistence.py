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
import zipfile
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
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **payload)


def load_arrays(path, kind=None):
    """Read a model file written by :func:`save_arrays`.

    Returns
    -------
    metadata : dict
    arrays : dict of str to ndarray

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        Not a fastsoftmax model, a newer format, or of another ``kind`` than asked.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _META_KEY not in npz.files:
                raise ModelFileError(f"{str(path)!r} is not a fastsoftmax model (no metadata)")
            metadata = json.loads(npz[_META_KEY].tobytes().decode("utf-8"))
            arrays = {name: npz[name] for name in npz.files if name != _META_KEY}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{str(path)!r} is not a fastsoftmax model: {exc}") from None
    if metadata.get("format") != "fastsoftmax":
        raise ModelFileError(f"{str(path)!r} is not a fastsoftmax model")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} was written in model format {version}, newer than this "
            f"fastsoftmax reads ({FORMAT_VERSION}); upgrade fastsoftmax"
        )
    if kind is not None and metadata.get("kind") != kind:
        raise ModelFileError(
            f"{str(path)!r} holds a {metadata.get('kind')}, not a {kind}"
        )
    return metadata, arrays


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
