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
import pickletools
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


#: The largest pickle read (the official batches are about 31 MB each).
MAX_PICKLE_BYTES = 512 * 1024 * 1024
_READ_CHUNK = 1 << 20
#: Arrays have at most this many dimensions (the official ``b"data"`` has two).
_MAX_NDIM = 4
#: Containers nest at most this deep (the official files nest two deep).
_MAX_DEPTH = 8
#: Dtypes a batch may hold: plain numbers, never objects, strings or records.
_DTYPE_CODES = frozenset(f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8)) | {
    "f4", "f8", "b1"}


class _DtypeBuilder:
    """What ``numpy.dtype(code, False, True)`` gives inside a batch; the byte order
    arrives through ``BUILD`` and is checked before any real dtype exists."""

    def __init__(self, code):
        self.dtype = np.dtype(code)

    def __setstate__(self, state):
        # numpy writes (3, byteorder, None, None, None, -1, -1, 0) for a plain number type
        if (not isinstance(state, tuple) or len(state) != 8 or state[0] != 3
                or state[1] not in ("<", ">", "|", "=") or state[2:5] != (None, None, None)
                or state[5:] != (-1, -1, 0)):
            raise UnsafePickleError("numpy.dtype state is not that of a plain number type")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArrayBuilder:
    """What ``_reconstruct(ndarray, (0,), b"b")`` gives inside a batch.

    numpy sends shape, dtype and bytes through ``__setstate__``; they are checked
    here (the byte count must be exactly what the shape and dtype declare) before a
    real array is made, and :func:`_finish` swaps the builder for its array.
    """

    array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafePickleError("ndarray state is not (version, shape, dtype, fortran, bytes)")
        version, shape, dtype, fortran, raw = state
        if version != 1 or not isinstance(fortran, bool):
            raise UnsafePickleError("ndarray state has an unknown version or order flag")
        if not isinstance(dtype, _DtypeBuilder):
            raise UnsafePickleError("ndarray state does not name a dtype made by numpy.dtype")
        if (not isinstance(shape, tuple) or len(shape) > _MAX_NDIM
                or any(type(n) is not int or n < 0 for n in shape)):
            raise CorruptDataError(f"ndarray shape {shape!r} is not a tuple of at most "
                                   f"{_MAX_NDIM} sizes")
        if not isinstance(raw, bytes):
            raise UnsafePickleError(f"ndarray data is a {type(raw).__name__}, not bytes")
        declared = int(np.prod(shape, dtype=object)) * dtype.dtype.itemsize
        if declared != len(raw):
            raise CorruptDataError(
                f"ndarray declares shape {shape} of {dtype.dtype} ({declared} bytes) but holds "
                f"{len(raw)} bytes"
            )
        array = _np_reconstruct(np.ndarray, (0,), b"b")
        array.__setstate__((1, shape, dtype.dtype, fortran, raw))
        self.array = array


class _NdarrayName:
    """Stands for ``numpy.ndarray``: only ``_reconstruct``'s first argument, never called.

    Calling ``numpy.ndarray(shape, dtype)`` directly would allocate any declared
    shape from a few bytes of pickle.
    """

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("numpy.ndarray may not be called directly (only through "
                                "_reconstruct, as numpy pickles arrays)")

    def __reduce__(self):  # pragma: no cover - never pickled
        raise TypeError("not picklable")


_NDARRAY = _NdarrayName()


def _safe_reconstruct(subtype, shape, dtype_code):
    # numpy's ndarray.__reduce__ always calls _reconstruct(ndarray, (0,), b"b");
    # the real shape, dtype and bytes arrive through __setstate__ (BUILD).
    if subtype is not _NDARRAY:
        raise UnsafePickleError("_reconstruct may only build numpy.ndarray")
    if shape != (0,) or dtype_code != b"b":
        raise UnsafePickleError("_reconstruct called with an unexpected shape")
    return _ArrayBuilder()


def _safe_dtype(*args):
    if not args or not isinstance(args[0], str) or args[1:] not in ((), (False, True)):
        raise UnsafePickleError("numpy.dtype called with unexpected arguments")
    if args[0] not in _DTYPE_CODES:
        if args[0].startswith("O"):
            raise UnsafePickleError("object arrays are not allowed")
        raise UnsafePickleError(f"numpy.dtype {args[0]!r} is not a plain number type")
    return _DtypeBuilder(args[0])


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
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_codecs_encode,
}

# The opcodes that build dicts, lists, tuples, byte and text strings, integers, floats,
# booleans and None, name the admitted globals, call them and set state, at protocols 2
# to 4 (the official files use protocol 2).  Left out: object creation (INST, OBJ,
# NEWOBJ*), extension codes, persistent ids, sets, out-of-band buffers, the text forms
# of protocol 0 and the 8-byte length forms (no CIFAR file needs 4 GiB in one string).
_ALLOWED_OPCODES = frozenset(
    op.code.encode("latin-1")[0] for op in pickletools.opcodes if op.name in {
        "PROTO", "FRAME", "STOP", "MARK", "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
        "EMPTY_LIST", "LIST", "APPEND", "APPENDS", "EMPTY_TUPLE", "TUPLE", "TUPLE1",
        "TUPLE2", "TUPLE3", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES",
        "BINUNICODE", "SHORT_BINUNICODE", "BININT", "BININT1", "BININT2", "LONG1",
        "BINFLOAT", "NONE", "NEWTRUE", "NEWFALSE", "GLOBAL", "STACK_GLOBAL", "REDUCE",
        "BUILD", "BINPUT", "LONG_BINPUT", "MEMOIZE", "BINGET", "LONG_BINGET",
    }
)
_OPCODE_NAMES = {op.code.encode("latin-1")[0]: op.name for op in pickletools.opcodes}


class _Dispatch(dict):
    def __missing__(self, code):
        name = _OPCODE_NAMES.get(code)
        if name is None:
            raise CorruptDataError(f"invalid opcode byte {code:#04x}")
        raise UnsafePickleError(f"opcode {name} is not something a CIFAR-10 batch contains")


def _check_key(key):
    # bytes and str hash with a random seed: no crafted collisions (ints can collide)
    if not isinstance(key, (bytes, str)):
        raise UnsafePickleError(f"dict key of type {type(key).__name__}; only strings are allowed")


def _load_setitem(self):
    _check_key(self.stack[-2])
    pickle._Unpickler.dispatch[pickle.SETITEM[0]](self)


def _load_setitems(self):
    for key in self.stack[::2]:
        _check_key(key)
    pickle._Unpickler.dispatch[pickle.SETITEMS[0]](self)


def _load_dict(self):
    for key in self.stack[::2]:
        _check_key(key)
    pickle._Unpickler.dispatch[pickle.DICT[0]](self)


def _checked_length(fmt, size, opcode):
    """A loader for an opcode that declares a length: the length is checked against the
    bytes left in the pickle before the original loader reads (and allocates) it."""
    original = pickle._Unpickler.dispatch[opcode]

    def load(self):
        position = self._source.tell()
        if self._unframer.current_frame is None and position + size <= self._size:
            declared = struct.unpack_from(fmt, self._raw, position)[0]
        else:
            declared = None
        if declared is not None and declared > self._size - position - size:
            raise CorruptDataError(
                f"truncated pickle ({_OPCODE_NAMES[opcode]} declares {declared} bytes where "
                f"{max(self._size - position - size, 0)} remain)")
        original(self)

    return load


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that admits only what a CIFAR-10 batch contains.

    Dicts (with string keys), lists, tuples, byte strings, strings, numbers, booleans
    and None need no globals.  The admitted globals are numpy's ``ndarray`` (only as
    ``_reconstruct``'s argument), ``dtype`` (plain number types only) and
    ``_reconstruct`` (under both ``numpy.core.multiarray`` and
    ``numpy._core.multiarray``) and ``_codecs.encode`` restricted to latin-1 (how
    Python 3 writes byte strings at protocol 2).  Any other global or opcode raises
    :class:`UnsafePickleError` before anything is called.  An array's declared shape
    and dtype must match the bytes it carries.  It is the pure-Python unpickler, whose
    memo is a dict: a ``LONG_BINPUT`` index of four billion costs one entry, not a
    table of that size.
    """

    dispatch = _Dispatch({code: fn for code, fn in pickle._Unpickler.dispatch.items()
                          if code in _ALLOWED_OPCODES})
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.DICT[0]] = _load_dict
    for _code, _fmt in ((pickle.BINSTRING[0], "<i"), (pickle.BINBYTES[0], "<I"),
                        (pickle.BINUNICODE[0], "<I"), (pickle.FRAME[0], "<Q")):
        dispatch[_code] = _checked_length(_fmt, struct.calcsize(_fmt), _code)
    del _code, _fmt

    def __init__(self, raw, **kwargs):
        self._raw = bytes(raw)
        self._size = len(self._raw)
        self._source = io.BytesIO(self._raw)
        super().__init__(self._source, **kwargs)

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: not something a CIFAR-10 "
                "batch contains"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


_SCALARS = {int, float, bool, bytes, str, type(None)}


def _finish(obj, depth=0):
    """Swap array builders for their arrays; refuse nesting deeper than the files use."""
    if depth > _MAX_DEPTH:
        raise CorruptDataError(f"containers nested more than {_MAX_DEPTH} deep")
    if isinstance(obj, _ArrayBuilder):
        if obj.array is None:
            raise CorruptDataError("an ndarray without its data")
        return obj.array
    if isinstance(obj, _DtypeBuilder):
        return obj.dtype
    if isinstance(obj, _NdarrayName):
        raise UnsafePickleError("numpy.ndarray outside _reconstruct")
    if isinstance(obj, dict):
        return {key: _finish(value, depth + 1) for key, value in obj.items()}
    if isinstance(obj, list):
        if set(map(type, obj)) <= _SCALARS:  # labels, file names: nothing to swap
            return obj
        return [_finish(value, depth + 1) for value in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(value, depth + 1) for value in obj)
    return obj


def restricted_load(file, name):
    """Unpickle ``file`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    Parameters
    ----------
    file : bytes or binary file object
        The pickle bytes or an open binary file (read whole, at most
        :data:`MAX_PICKLE_BYTES`).
    name : str
        The file's name, used in error messages.

    Returns
    -------
    object
        The unpickled object.

    Raises
    ------
    UnsafePickleError
        The pickle names a global or an opcode outside the allow-list (nothing is
        executed).
    CorruptDataError
        The pickle is truncated, corrupted, too large, nested too deep, or an array's
        declared size differs from the bytes it holds.
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        raw = bytes(file)
    else:  # in chunks: one read of the limit would allocate it whatever the file's size
        raw = bytearray()
        while len(raw) <= MAX_PICKLE_BYTES:
            block = file.read(min(_READ_CHUNK, MAX_PICKLE_BYTES + 1 - len(raw)))
            if not block:
                break
            raw += block
    if len(raw) > MAX_PICKLE_BYTES:
        raise CorruptDataError(
            f"{name}: larger than {MAX_PICKLE_BYTES // 2**20} MiB; not a CIFAR-10 batch")
    try:
        return _finish(RestrictedUnpickler(raw, encoding="bytes").load())
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: unsafe pickle: {exc}") from None
    except CorruptDataError as exc:
        message = str(exc)
        if not message.startswith("truncated"):
            message = f"corrupted pickle ({message})"
        raise CorruptDataError(f"{name}: {message}") from None
    except EOFError:
        raise CorruptDataError(f"{name}: truncated pickle (ran out of data)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, OverflowError, MemoryError, RecursionError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            raise CorruptDataError(f"{name}: truncated pickle ({reason})") from None
        raise CorruptDataError(f"{name}: corrupted pickle ({reason})") from None


def check_batch(obj, name, labels_key=b"labels", n_classes=N_CLASSES):
    """Check an unpickled CIFAR-10 (or CIFAR-100) batch and return its images and labels.

    Parameters
    ----------
    obj : object
        What :func:`restricted_load` returned for a ``data_batch_*`` or ``test_batch``.
    name : str
        The file's name, used in error messages.
    labels_key : bytes, default b"labels"
        The key of the labels (CIFAR-100: ``b"fine_labels"`` or ``b"coarse_labels"``).
    n_classes : int, default 10
        Labels must be in ``0 .. n_classes - 1``.

    Returns
    -------
    data : ndarray of uint8, shape (n, 3072)
        Rows of 1024 red, 1024 green then 1024 blue values.
    labels : ndarray of int64, shape (n,)
        Labels in ``0 .. n_classes - 1``.

    Raises
    ------
    CorruptDataError
        A key is missing, the array has the wrong shape or dtype, the label count
        differs from the image count, or a label is not an integer or out of range.
    """
    if not isinstance(obj, dict):
        raise CorruptDataError(f"{name}: expected a dict, found {type(obj).__name__}")
    for key in (b"data", labels_key):
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
    labels = _integer_labels(obj[labels_key], name, labels_key, n_classes)
    if labels.shape[0] != data.shape[0]:
        raise CorruptDataError(
            f"{name}: {labels.shape[0]} labels for {data.shape[0]} images"
        )
    _check_labels(labels, name, n_classes)
    return data, labels


def _integer_labels(raw_labels, name, key=b"labels", n_classes=N_CLASSES):
    """Labels as int64, refusing anything that is not an integer (3.5 is not label 3)."""
    if isinstance(raw_labels, np.ndarray):
        if raw_labels.dtype.kind not in "iu" or raw_labels.ndim != 1:
            raise CorruptDataError(
                f"{name}: {key!r} is an array of {raw_labels.dtype} with shape "
                f"{raw_labels.shape}, expected one integer per image")
        raw_labels = raw_labels.tolist()
    if not isinstance(raw_labels, (list, tuple)):
        raise CorruptDataError(f"{name}: {key!r} is a {type(raw_labels).__name__}, not a list")
    if set(map(type, raw_labels)) - {int}:
        index, bad = next((i, v) for i, v in enumerate(raw_labels) if type(v) is not int)
        raise CorruptDataError(
            f"{name}: {key!r} holds a non-integer value {bad!r} (label {index}); "
            f"labels must be integers 0..{n_classes - 1}")
    try:
        return np.asarray(raw_labels, dtype=np.int64).reshape(-1)
    except OverflowError:
        raise CorruptDataError(f"{name}: {key!r} holds an integer out of range "
                               f"0..{n_classes - 1}") from None


def _check_labels(labels, name, n_classes=N_CLASSES):
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise CorruptDataError(
            f"{name}: label {int(bad[0])} out of range 0..{n_classes - 1} "
            f"({bad.size} bad label(s))"
        )


def check_meta(obj, name, key=b"label_names", n_classes=N_CLASSES):
    """Return the class names from an unpickled ``batches.meta`` (or CIFAR-100's ``meta``).

    Parameters
    ----------
    obj : object
        What :func:`restricted_load` returned for ``batches.meta``.
    name : str
        The file's name, used in error messages.
    key : bytes, default b"label_names"
        The key of the names (CIFAR-100: ``b"fine_label_names"`` or
        ``b"coarse_label_names"``).
    n_classes : int, default 10
        How many names it must list.

    Returns
    -------
    list of str
        The ``n_classes`` class names.

    Raises
    ------
    CorruptDataError
        ``key`` is missing or does not list ``n_classes`` names.
    """
    if not isinstance(obj, dict) or key not in obj:
        raise CorruptDataError(f"{name}: expected a dict with {key!r}")
    names = obj[key]
    if not isinstance(names, (list, tuple)) or len(names) != n_classes:
        raise CorruptDataError(f"{name}: {key!r} must list {n_classes} class names")
    out = []
    for item in names:
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="replace")
        if not isinstance(item, str):
            raise CorruptDataError(f"{name}: {key!r} holds a non-string")
        out.append(item)
    check_class_names(out, name)
    return out


def check_class_names(names, name):
    """Refuse empty or repeated class names (two labels with one name cannot be told apart).

    Parameters
    ----------
    names : list of str
    name : str
        The file's name, used in error messages.

    Raises
    ------
    CorruptDataError
    """
    seen = set()
    for item in names:
        if not item.strip():
            raise CorruptDataError(f"{name}: an empty class name")
        if item in seen:
            raise CorruptDataError(f"{name}: class name {item!r} appears twice")
        seen.add(item)
