"""Hostile CIFAR-10 files: hand-made pickles and batches.

Every case asserts the exact exception type and message (or the CLI's exit code 2 and
one-line ``Error:``), and where the file declares something large, that the memory
Python allocated while refusing it stayed small (``tracemalloc`` sees NumPy's buffers
too).  Model files, cache entries and results.json are in ``test_hostile_models.py``;
images, folders and downloads in ``test_hostile_inputs.py``.
"""
import io
import pickle
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import CorruptDataError, UnsafePickleError, load_cifar10, restricted_load
from fastsoftmax.data import _unpickle

MiB = 1 << 20



# ============================================================================ pickles
# Opcodes, spelled out so that each hostile pickle is exactly what the test says.
PROTO2 = b"\x80\x02"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def binint(n):
    return b"J" + struct.pack("<i", n)


def sbytes(data):  # SHORT_BINSTRING (bytes under encoding="bytes")
    return b"U" + bytes([len(data)]) + data


def ustr(text):  # BINUNICODE
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def dtype_u1(state=b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"):
    return glob("numpy", "dtype") + ustr("u1") + b"\x89\x88\x87R" + state


def array_pickle(shape_ops, raw_op, dtype_ops=None):
    """_reconstruct(ndarray, (0,), b'b') then BUILD with (1, shape, dtype, False, raw)."""
    return (PROTO2 + glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray")
            + b"K\x00\x85" + sbytes(b"b") + b"\x87R" + b"(K\x01" + shape_ops
            + (dtype_ops or dtype_u1()) + b"\x89" + raw_op + b"tb.")


SHAPE_200000 = binint(200_000) + b"M\x00\x0c\x86"  # (200000, 3072)


class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def test_pickle_genuine_array_still_loads():
    raw = array_pickle(b"K\x02K\x03\x86", sbytes(bytes(range(6))))
    out = restricted_load(raw, "ok")
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert out.flags.writeable


def test_pickle_numpy2_and_protocol4_arrays_load():
    values = np.linspace(-1, 1, 12, dtype=">f4").reshape(3, 4)  # big-endian float32
    for protocol in (2, 4):
        raw = pickle.dumps({b"a": values, "b": [1, 2.5, None, True]}, protocol=protocol)
        out, reference = restricted_load(raw, "ok"), pickle.loads(raw)  # numpy's own reading
        np.testing.assert_array_equal(out[b"a"], values)
        assert out[b"a"].dtype == reference[b"a"].dtype and out["b"] == [1, 2.5, None, True]


def test_pickle_calling_ndarray_directly_is_refused(peak_memory):
    # the 95-byte batch of the issue: numpy.ndarray((200000, 3072), "u1") -> 614 MB of zeros
    raw = (PROTO2 + b"}" + sbytes(b"data") + glob("numpy", "ndarray") + SHAPE_200000
           + ustr("u1") + b"\x86R" + b"s.")
    assert len(raw) < 100
    with peak_memory(), pytest.raises(UnsafePickleError,
                                      match=r"^b95: unsafe pickle: numpy.ndarray may not be "
                                            r"called directly"):
        restricted_load(raw, "b95")


def test_pickle_huge_declared_shape_with_few_bytes_is_refused(peak_memory):
    raw = array_pickle(SHAPE_200000, sbytes(b"\x00" * 10))
    with peak_memory(), pytest.raises(
            CorruptDataError, match=r"^f: corrupted pickle \(ndarray declares shape "
                                    r"\(200000, 3072\) of uint8 \(614400000 bytes\) but holds "
                                    r"10 bytes\)"):
        restricted_load(raw, "f")


@pytest.mark.parametrize("shape_ops, match", [
    (b"(" + b"K\x01" * 6 + b"t", r"shape \(1, 1, 1, 1, 1, 1\) is not a tuple of at most 4 sizes"),
    (binint(-5) + b"\x85", r"shape \(-5,\) is not a tuple"),
    (ustr("9") + b"\x85", r"shape \('9',\) is not a tuple"),
], ids=["ndim-6", "negative", "text-size"])
def test_pickle_bad_array_shapes(shape_ops, match, peak_memory):
    with peak_memory(), pytest.raises(CorruptDataError, match=r"^f: corrupted pickle \(ndarray "
                                      + match):
        restricted_load(array_pickle(shape_ops, sbytes(b"\x00")), "f")


@pytest.mark.parametrize("module, name", [
    ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
    ("builtins", "getattr"), ("__builtin__", "open"), ("subprocess", "Popen"),
    ("numpy", "load"), ("numpy", "fromfile"), ("numpy.core.multiarray", "scalar"),
    ("numpy", "frombuffer"), ("pickle", "loads"),
])
def test_pickle_globals_outside_the_allow_list_are_refused(module, name):
    raw = PROTO2 + glob(module, name) + ustr("x") + b"\x85R."
    with pytest.raises(UnsafePickleError,
                       match=rf"^evil: unsafe pickle: refusing to load global "
                             rf"{module}\.{name}: not something a CIFAR-10 batch contains$"):
        restricted_load(raw, "evil")


def test_pickle_os_system_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    for protocol in (0, 2, 4, 5):  # GLOBAL, STACK_GLOBAL, text forms
        raw = pickle.dumps({b"data": _SystemCall(f"touch {marker}")}, protocol=protocol)
        with pytest.raises(UnsafePickleError, match=r"^evil: unsafe pickle: "):
            restricted_load(raw, "evil")
    assert not marker.exists()


@pytest.mark.parametrize("raw, opcode", [
    (PROTO2 + b"(ios\nsystem\n" + ustr("true") + b".", "INST"),
    (PROTO2 + b"(" + glob("numpy", "dtype") + ustr("u1") + b"o.", "OBJ"),
    (PROTO2 + glob("numpy", "dtype") + b")\x81.", "NEWOBJ"),
    (PROTO2 + b"\x82\x01.", "EXT1"),
    (PROTO2 + b"X\x01\x00\x00\x00xQ.", "BINPERSID"),
    (b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b".", "BINBYTES8"),
    (b"\x80\x04\x8f(K\x01\x90.", "EMPTY_SET"),
    (b"\x80\x05\x97.", "NEXT_BUFFER"),
    (b"(I1\nI2\nl.", "INT"),
    (PROTO2 + b"]2.", "DUP"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_pickle_opcodes_outside_the_allow_list_are_refused(raw, opcode, peak_memory):
    with peak_memory(), pytest.raises(
            UnsafePickleError,
            match=rf"^f: unsafe pickle: opcode {opcode} is not something a CIFAR-10 batch contains$"):
        restricted_load(raw, "f")


@pytest.mark.parametrize("raw, what", [
    (PROTO2 + b"T" + struct.pack("<i", 2**31 - 1) + b"abcde.", "BINSTRING declares 2147483647"),
    (PROTO2 + b"X" + struct.pack("<I", 2**32 - 1) + b"abc.", "BINUNICODE declares 4294967295"),
    (b"\x80\x03B" + struct.pack("<I", 2**32 - 1) + b"abc.", "BINBYTES declares 4294967295"),
    (b"\x80\x04\x95" + struct.pack("<Q", 2**62) + b"N.", "FRAME declares 4611686018427387904"),
], ids=["BINSTRING", "BINUNICODE", "BINBYTES", "FRAME"])
def test_pickle_declared_lengths_checked_before_reading(raw, what, peak_memory):
    with peak_memory(), pytest.raises(CorruptDataError, match=rf"^f: truncated pickle \({what} "
                                      r"bytes where \d+ remain\)$"):
        restricted_load(raw, "f")


def test_pickle_memo_index_of_four_billion_costs_nothing(peak_memory):
    # the C unpickler sizes its memo table by the index: 2 * 4e9 * 8 bytes
    raw = PROTO2 + b"]r" + struct.pack("<I", 0xFFFFFFF0) + b"h\x05."  # BINGET 5: missing
    with peak_memory(), pytest.raises(CorruptDataError, match=r"^f: corrupted pickle \("):
        restricted_load(raw, "f")
    with peak_memory():
        assert restricted_load(PROTO2 + b"]r" + struct.pack("<I", 0xFFFFFFF0) + b".", "f") == []


def test_pickle_int_dict_keys_are_refused():
    # integers hash to themselves: crafted keys collide and make building a dict quadratic
    keys = b"".join(b"\x8a\x09" + (k * (2**61 - 1)).to_bytes(9, "little") + b"N"
                    for k in range(1, 4))
    raw = PROTO2 + b"}(" + keys + b"u."
    with pytest.raises(UnsafePickleError, match=r"^f: unsafe pickle: dict key of type int; "
                                                r"only strings are allowed$"):
        restricted_load(raw, "f")
    with pytest.raises(UnsafePickleError, match="dict key of type tuple"):
        restricted_load(PROTO2 + b"})N" + b"s.", "f")


@pytest.mark.parametrize("code, match", [
    ("O8", "object arrays are not allowed"),
    ("V8", r"numpy.dtype 'V8' is not a plain number type"),
    ("S5", r"numpy.dtype 'S5' is not a plain number type"),
    ("<U3", r"numpy.dtype '<U3' is not a plain number type"),
])
def test_pickle_dtypes_other_than_plain_numbers_are_refused(code, match):
    raw = PROTO2 + glob("numpy", "dtype") + ustr(code) + b"\x89\x88\x87R."
    with pytest.raises(UnsafePickleError, match=rf"^f: unsafe pickle: {match}$"):
        restricted_load(raw, "f")


def test_pickle_dtype_state_with_object_flags_is_refused():
    # flags 63 would mark a uint8 dtype as holding Python object pointers
    state = b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
    with pytest.raises(UnsafePickleError, match=r"^f: unsafe pickle: numpy.dtype state is not "
                                                r"that of a plain number type$"):
        restricted_load(array_pickle(b"K\x01\x85", sbytes(b"\x00"), dtype_u1(state)), "f")


def test_pickle_array_data_must_be_bytes():
    raw = array_pickle(b"K\x01\x85", b"]K\x05a")  # data: the list [5]
    with pytest.raises(UnsafePickleError, match=r"^f: unsafe pickle: ndarray data is a list, "
                                                r"not bytes$"):
        restricted_load(raw, "f")


def test_pickle_reconstruct_abuse_is_refused():
    base = PROTO2 + glob("numpy.core.multiarray", "_reconstruct")
    with pytest.raises(UnsafePickleError, match="_reconstruct called with an unexpected shape"):
        restricted_load(base + glob("numpy", "ndarray") + binint(10**9) + b"\x85"
                        + sbytes(b"b") + b"\x87R.", "f")
    with pytest.raises(UnsafePickleError, match="_reconstruct may only build numpy.ndarray"):
        restricted_load(base + glob("numpy", "dtype") + b"K\x00\x85" + sbytes(b"b")
                        + b"\x87R.", "f")
    with pytest.raises(CorruptDataError, match=r"an ndarray without its data"):
        restricted_load(base + glob("numpy", "ndarray") + b"K\x00\x85" + sbytes(b"b")
                        + b"\x87R.", "f")


def test_pickle_deep_and_cyclic_nesting_is_refused():
    deep = PROTO2 + b"]" * 100_000 + b"a" * 99_999 + b"."
    with pytest.raises(CorruptDataError, match=r"^f: corrupted pickle \(containers nested more "
                                               r"than 8 deep\)$"):
        restricted_load(deep, "f")
    cyclic = PROTO2 + b"]q\x00h\x00a."  # a list that holds itself
    with pytest.raises(CorruptDataError, match="nested more than 8 deep"):
        restricted_load(cyclic, "f")


def test_pickle_invalid_opcode_and_size_limit(monkeypatch):
    with pytest.raises(CorruptDataError, match=r"^f: corrupted pickle \(invalid opcode byte "
                                               r"0xff\)$"):
        restricted_load(PROTO2 + b"\xff", "f")
    monkeypatch.setattr(_unpickle, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(CorruptDataError, match=r"^f: larger than 0 MiB; not a CIFAR-10 batch$"):
        restricted_load(io.BytesIO(b"\x80\x02" + b"N" * 2000), "f")


# ---------------------------------------------------------------- batch contents
def _batch(labels, n=None):
    n = len(labels) if n is None else n
    return pickle.dumps({b"data": np.zeros((n, 3072), np.uint8), b"labels": labels}, protocol=2)


def _cifar_folder(tmp_path, names=None):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = names or [f"c{k}" for k in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [n.encode() for n in names]}, protocol=2))
    for name in ("data_batch_1", "test_batch"):
        (folder / name).write_bytes(_batch(list(range(10))))
    return folder


@pytest.mark.parametrize("labels, match", [
    ([0, 1, 3.5], r"b'labels' holds a non-integer value 3\.5 \(label 2\); labels must be "
                  r"integers 0\.\.9"),
    ([0, True], r"b'labels' holds a non-integer value True \(label 1\)"),
    ([0, b"3"], r"b'labels' holds a non-integer value b'3' \(label 1\)"),
    ([0, 2**70], r"b'labels' holds an integer out of range 0\.\.9"),
    ([0, 11], r"label 11 out of range 0\.\.9"),
    (np.array([0.0, 3.5]), r"b'labels' is an array of float64 with shape \(2,\), expected one "
                           r"integer per image"),
    (b"\x00\x01", r"b'labels' is a bytes, not a list"),
], ids=["float", "bool", "bytes", "huge", "range", "float-array", "bytes-labels"])
def test_batch_labels_must_be_integers_in_range(tmp_path, labels, match):
    folder = _cifar_folder(tmp_path)
    (folder / "data_batch_1").write_bytes(_batch(labels))
    with pytest.raises(CorruptDataError, match=rf"data_batch_1: {match}"):
        load_cifar10(folder)


def test_meta_with_repeated_class_names_is_an_error(tmp_path):
    folder = _cifar_folder(tmp_path, names=["cat"] * 2 + [f"c{k}" for k in range(8)])
    with pytest.raises(CorruptDataError, match=r"batches.meta: class name 'cat' appears twice"):
        load_cifar10(folder)


def test_binary_meta_with_repeated_class_names_is_an_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "batches.meta.txt").write_text("\n".join(["dog"] * 10))
    for name in ("data_batch_1.bin", "test_batch.bin"):
        (folder / name).write_bytes(bytes(3073))
    with pytest.raises(CorruptDataError, match=r"batches.meta.txt: class name 'dog' appears twice"):
        load_cifar10(folder)


def test_cli_train_on_hostile_batch_is_one_line_error(tmp_path):
    folder = _cifar_folder(tmp_path)
    (folder / "data_batch_1").write_bytes(_batch([0, 1, 3.5]))
    result = CliRunner().invoke(main, ["train", "--data", str(folder)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert "data_batch_1: b'labels' holds a non-integer value 3.5" in result.output
