"""Model files: a ``.npz`` of plain arrays plus JSON metadata; no pickle anywhere.

A model file holds the member ``__fastsoftmax__.json`` (format version, model kind,
parameters) stored as bytes, and one member per array.  It is written to a temporary
file in the destination folder and renamed into place, so a reader never sees a
half-written model.

This module knows the file format only, not the model classes: a class saves itself
through :func:`save_arrays` and loads through :func:`load_model_file` with its own
``from_arrays``; :func:`fastsoftmax.model.loading.load_model` picks the class from the kind.

Format versions: 1 (fastsoftmax 0.1.0: HOG parameters and PCA stored by the pipeline
itself), 2 (the pipeline stores each fitted step with its ``to_arrays``; classifiers
also store their momentum).  Version 1 files are still read.
"""
import json
import os
from pathlib import Path

import numpy as np

from fastsoftmax.io.atomic import atomic_open, remove_stale
from fastsoftmax.io.paths import resolve_output
from fastsoftmax.io.untrusted import MAX_HEADER_BYTES, MAX_MEMBERS, loads_json, read_npz

FORMAT_VERSION = 2
_META_KEY = "__fastsoftmax__"


class ModelFileError(ValueError):
    """The file is not a (readable) fastsoftmax model."""


#: What a model class's ``from_arrays`` raises on content that does not fit together.
LOAD_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


def save_arrays(path, kind, metadata, arrays, *, overwrite=True, check=None):
    """Write ``arrays`` and ``metadata`` atomically to ``path``.

    Parameters
    ----------
    path : str or Path
        Resolved first (:func:`fastsoftmax.io.paths.resolve_output`); only a regular
        file is replaced.
    kind : str
        What the file holds (``"SoftmaxClassifier"``, ``"ImagePipeline"``...).
    metadata : dict
        JSON-serializable.
    arrays : dict of str to ndarray
        Arrays of plain dtypes (no ``object``).
    overwrite : bool, default True
        Replace a file already at ``path``; without it such a file is left as it is
        (also one that appears while this writes).
    check : callable, optional
        The model class's ``from_arrays``: called, before anything is written, on the
        content as :func:`load_model_file` will read it back (the metadata through
        JSON), so that a file is written only if it loads.

    Raises
    ------
    ValueError
        ``check`` refuses the content (the message says what does not fit), or the
        file would exceed a bound :func:`load_arrays` sets (arrays, members, metadata).
    FileExistsError
        ``path`` exists and not ``overwrite``.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    given = path
    path = Path(resolve_output(path, "cannot save the model"))
    header = {"format": "fastsoftmax", "format_version": FORMAT_VERSION, "kind": kind,
              **metadata}
    text = json.dumps(header)
    payload = {_META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
        payload[name] = value
    _check_readable_sizes(path, len(payload[_META_KEY]), payload)
    if check is not None:
        try:
            check(json.loads(text), {k: v for k, v in payload.items() if k != _META_KEY})
        except LOAD_ERRORS as exc:
            raise ValueError(f"cannot save {str(path)!r}: it would not load back: "
                             f"{_reason(exc)}") from None
    if not overwrite and (os.path.lexists(path) or os.path.lexists(given)):  # a dangling link too
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save the model: folder {str(folder)!r} does not exist")
    remove_stale(path)  # what killed saves of this path left beside it
    with atomic_open(path, "wb", replace=overwrite) as handle:
        np.savez(handle, **payload)


def _check_readable_sizes(path, metadata_bytes, payload):
    """Refuse to write what :func:`load_arrays` would refuse for its size."""
    # each member also holds a .npy header, of at most MAX_HEADER_BYTES
    total = sum(value.nbytes for value in payload.values()) + MAX_HEADER_BYTES * len(payload)
    if metadata_bytes > MAX_METADATA_BYTES:
        problem = (f"its metadata is {metadata_bytes:,} bytes of JSON, more than "
                   f"{MAX_METADATA_BYTES:,}")
    elif len(payload) > MAX_MEMBERS:
        problem = f"it holds {len(payload)} arrays, more than {MAX_MEMBERS}"
    elif total > MAX_MODEL_BYTES:
        problem = f"its arrays hold about {total:,} bytes, more than {MAX_MODEL_BYTES:,}"
    else:
        return
    raise ValueError(f"cannot save {str(path)!r}: {problem}; the file would not load back")


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
    object of bounded size and depth.  Whether the arrays and metadata fit together
    is for the model class to check (its ``from_arrays``, through
    :func:`load_model_file`): this module knows the file format only.

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
    path = Path(path)
    if not path.exists():  # anything but a regular file is refused by read_npz
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
    return metadata, arrays


def load_model_file(path, kind, from_arrays, metadata=None, arrays=None):
    """Rebuild a model of ``kind`` from ``path`` with ``from_arrays(metadata, arrays)``.

    ``metadata`` and ``arrays``, when given, are the file's content already read by
    :func:`load_arrays` (the file is then not read again).  ``from_arrays`` checks that
    the content is complete and fits together, and raises ``KeyError``, ``TypeError``
    or ``ValueError`` saying what does not; that message is reported after the file's
    name.

    Raises
    ------
    ModelFileError
        The file is not a model of ``kind``, or its content is incomplete or does not
        fit together (any ``KeyError``/``TypeError``/``ValueError``/``IndexError`` of
        ``from_arrays``), as ``'<path>': <what is wrong>``.
    """
    if metadata is None:
        metadata, arrays = load_arrays(path, kind=kind)
    elif metadata.get("kind") != kind:
        raise ModelFileError(f"{str(path)!r} holds a {metadata.get('kind')}, not a {kind}")
    try:
        return from_arrays(metadata, arrays)
    except ModelFileError:
        raise
    except LOAD_ERRORS as exc:
        raise ModelFileError(f"{str(path)!r}: {_reason(exc)}") from None


def _reason(exc):
    """What an exception of ``from_arrays`` says, as one phrase."""
    if type(exc) is KeyError:  # a bare lookup: its str() is the quoted key
        return f"{exc} is missing"
    return str(exc) or type(exc).__name__
