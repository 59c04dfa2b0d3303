"""A restricted unpickler for the official CIFAR-10 python batches.

The official batches are Python-2-era pickles (protocol 2) of a dict with byte-string
keys; the image array is pickled through ``numpy.core.multiarray._reconstruct``.  A
plain ``pickle.load`` would run whatever callable a tampered file names, so these files
are read with :class:`RestrictedUnpickler`, which admits only the few globals that such
a file contains and refuses everything else before anything is called.
"""
import codecs
import io
import pickle
import struct

import numpy as np

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

__all__ = [
    "CorruptDataError",
    "UnsafePickleError",
    "RestrictedUnpickler",
    "restricted_load",
    "check_batch",
]

N_CLASSES = 10
IMAGE_BYTES = 3 * 32 * 32


class CorruptDataError(ValueError):
    """A data file is truncated, corrupted or does not hold what CIFAR-10 files hold."""


class UnsafePickleError(CorruptDataError):
    """A pickle names a global outside the allow-list; nothing from it was executed."""


def _check_dtype(dt):
    if dt.hasobject:
        raise UnsafePickleError("object arrays are not allowed")
    return dt


def _safe_reconstruct(subtype, shape, dtype_code):
    # numpy's ndarray.__reduce__ always calls _reconstruct(ndarray, (0,), b"b");
    # the real shape, dtype and bytes arrive through __setstate__ (BUILD).
    if subtype is not np.ndarray:
        raise UnsafePickleError("_reconstruct may only build numpy.ndarray")
    if not isinstance(shape, tuple) or any(not isinstance(s, int) or s != 0 for s in shape):
        raise UnsafePickleError("_reconstruct called with an unexpected shape")
    return _np_reconstruct(np.ndarray, shape, dtype_code)


def _safe_dtype(*args):
    if not args or not isinstance(args[0], (str, bytes)):
        raise UnsafePickleError("numpy.dtype called with unexpected arguments")
    return _check_dtype(np.dtype(*args))


def _safe_codecs_encode(text, encoding="utf-8", errors="strict"):
    # Python 3 writes byte strings at protocol 2 as _codecs.encode(str, "latin1");
    # nothing else is accepted (no zlib/base64 codecs, no other arguments).
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnsafePickleError("_codecs.encode is allowed only as encode(str, 'latin1')")
    return codecs.encode(text, "latin1")


# (module, name) -> the object handed to the unpickler.  Both spellings of numpy's
# core module are accepted: the official files say ``numpy.core``, NumPy 2 writes
# ``numpy._core``.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_codecs_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a CIFAR-10 batch contains.

    Dicts, lists, tuples, byte strings, strings and numbers need no globals.  The
    admitted globals are numpy's ``ndarray``, ``dtype`` and ``_reconstruct`` (under
    both ``numpy.core.multiarray`` and ``numpy._core.multiarray``) and
    ``_codecs.encode`` restricted to latin-1 (how Python 3 writes byte strings at
    protocol 2).  Any other global raises :class:`UnsafePickleError` before it is
    called.
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: not something a CIFAR-10 "
                "batch contains"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


def restricted_load(file, name):
    """Unpickle ``file`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    Parameters
    ----------
    file : bytes or binary file object
        The pickle bytes or an open binary file.
    name : str
        The file's name, used in error messages.

    Returns
    -------
    object
        The unpickled object.

    Raises
    ------
    UnsafePickleError
        The pickle names a global outside the allow-list (nothing is executed).
    CorruptDataError
        The pickle is truncated or corrupted.
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        file = io.BytesIO(file)
    try:
        return RestrictedUnpickler(file, encoding="bytes").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: unsafe pickle: {exc}") from None
    except EOFError:
        raise CorruptDataError(f"{name}: truncated pickle (ran out of data)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, OverflowError, MemoryError, RecursionError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            raise CorruptDataError(f"{name}: truncated pickle ({reason})") from None
        raise CorruptDataError(f"{name}: corrupted pickle ({reason})") from None


def check_batch(obj, name):
    """Check an unpickled CIFAR-10 batch and return its images and labels.

    Parameters
    ----------
    obj : object
        What :func:`restricted_load` returned for a ``data_batch_*`` or ``test_batch``.
    name : str
        The file's name, used in error messages.

    Returns
    -------
    data : ndarray of uint8, shape (n, 3072)
        Rows of 1024 red, 1024 green then 1024 blue values.
    labels : ndarray of int64, shape (n,)
        Labels in ``0 .. 9``.

    Raises
    ------
    CorruptDataError
        A key is missing, the array has the wrong shape or dtype, the label count
        differs from the image count, or a label is out of range.
    """
    if not isinstance(obj, dict):
        raise CorruptDataError(f"{name}: expected a dict, found {type(obj).__name__}")
    for key in (b"data", b"labels"):
        if key not in obj:
            raise CorruptDataError(f"{name}: missing key {key!r}")
    data = obj[b"data"]
    if not isinstance(data, np.ndarray):
        raise CorruptDataError(f"{name}: b'data' is a {type(data).__name__}, not an array")
    if data.dtype != np.uint8:
        raise CorruptDataError(f"{name}: b'data' has dtype {data.dtype}, expected uint8")
    if data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise CorruptDataError(
            f"{name}: b'data' has shape {data.shape}, expected (n, {IMAGE_BYTES}) "
            "(32x32 RGB images)"
        )
    raw_labels = obj[b"labels"]
    if not isinstance(raw_labels, (list, tuple, np.ndarray)):
        raise CorruptDataError(f"{name}: b'labels' is a {type(raw_labels).__name__}, not a list")
    try:
        labels = np.asarray(raw_labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise CorruptDataError(f"{name}: b'labels' holds non-integer values") from None
    if labels.shape[0] != data.shape[0]:
        raise CorruptDataError(
            f"{name}: {labels.shape[0]} labels for {data.shape[0]} images"
        )
    _check_labels(labels, name)
    return data, labels


def _check_labels(labels, name):
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        bad = labels[(labels < 0) | (labels >= N_CLASSES)]
        raise CorruptDataError(
            f"{name}: label {int(bad[0])} out of range 0..{N_CLASSES - 1} "
            f"({bad.size} bad label(s))"
        )


def check_meta(obj, name):
    """Return the class names from an unpickled ``batches.meta``.

    Parameters
    ----------
    obj : object
        What :func:`restricted_load` returned for ``batches.meta``.
    name : str
        The file's name, used in error messages.

    Returns
    -------
    list of str
        The ten class names.

    Raises
    ------
    CorruptDataError
        ``b"label_names"`` is missing or is not ten names.
    """
    if not isinstance(obj, dict) or b"label_names" not in obj:
        raise CorruptDataError(f"{name}: expected a dict with b'label_names'")
    names = obj[b"label_names"]
    if not isinstance(names, (list, tuple)) or len(names) != N_CLASSES:
        raise CorruptDataError(f"{name}: b'label_names' must list {N_CLASSES} class names")
    out = []
    for item in names:
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="replace")
        if not isinstance(item, str):
            raise CorruptDataError(f"{name}: b'label_names' holds a non-string")
        out.append(item)
    return out
