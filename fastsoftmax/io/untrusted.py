"""Readers for untrusted files: ``.npz`` archives and JSON, checked before allocating.

A ``.npz`` is a zip of ``.npy`` members.  Its central directory, each member's
``.npy`` header and the bytes present can all disagree in a tampered file: a member
may declare gigabytes that a few kilobytes of deflate expand to (a zip bomb), or a
header may claim a terabyte-sized shape.  :func:`read_npz` checks every declared size
against the others and against a bound before it reads a member's data, and reads
headers with :mod:`numpy.lib.format` (never ``allow_pickle``).

Only regular files are opened (:func:`fastsoftmax.io.paths.open_regular`): a FIFO or a
device named like one of our files is refused, never read until it ends.
"""
import json
import os
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from fastsoftmax.io.paths import open_regular

#: A ``.npy`` header longer than this is refused (numpy's own default limit).
MAX_HEADER_BYTES = 10_000
#: At most this many members in one archive.
MAX_MEMBERS = 4096
#: Deflate cannot expand data by more than about 1032 times.
_MAX_DEFLATE_RATIO = 1032
#: JSON nested deeper than this is refused (fastsoftmax's own files nest 4 deep).
MAX_JSON_DEPTH = 32
#: Array kinds a member may hold: booleans, integers, floats and text; never objects.
_KINDS = "biufU"


def read_npz(path, *, max_bytes, error=ValueError, compressed=True):
    """Read every array of a ``.npz`` file after checking what it declares.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int
        Refuse the file when its members declare more than this many bytes in all.
    error : type of Exception, default ValueError
        The exception raised for a malformed file; its message starts with the path.
    compressed : bool, default True
        Whether deflated members are admitted (``np.savez_compressed``); stored
        members must declare equal compressed and uncompressed sizes.

    Returns
    -------
    dict of str to ndarray
        Writable arrays, by member name without ``.npy``.

    Raises
    ------
    FileNotFoundError
        No such file.
    error
        Not a regular file, not a zip, a member that is not a plain ``.npy`` array,
        declared sizes that disagree or exceed ``max_bytes``, an object dtype, a
        truncated or corrupted member.
    """
    path = os.fspath(path)
    handle = open_regular(path, error)
    try:
        disk_size = os.fstat(handle.fileno()).st_size
        archive = zipfile.ZipFile(handle)
    except BaseException as exc:
        handle.close()
        if isinstance(exc, (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
                            EOFError)):
            raise error(f"{path}: not a readable .npz archive ({exc})") from None
        raise
    with handle, archive:
        infos = archive.infolist()
        _check_directory(path, infos, disk_size, max_bytes, error, compressed)
        arrays = {}
        for info in infos:
            try:
                arrays[info.filename[:-4]] = _read_member(archive, info, path, error)
            except error:
                raise
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                    RuntimeError, MemoryError) as exc:
                raise error(f"{path}: member {info.filename!r} is corrupted ({exc})") from None
    return arrays


def _check_directory(path, infos, disk_size, max_bytes, error, compressed):
    if len(infos) > MAX_MEMBERS:
        raise error(f"{path}: {len(infos)} members, more than {MAX_MEMBERS}")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise error(f"{path}: a member name appears twice")
    total = 0
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or "/" in name or name.startswith("."):
            raise error(f"{path}: member {name!r} is not a .npy array")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise error(f"{path}: stored member {name!r} declares {info.file_size} bytes "
                            f"but {info.compress_size} on disk")
        elif info.compress_type == zipfile.ZIP_DEFLATED and compressed:
            if info.file_size > max(info.compress_size, 1) * _MAX_DEFLATE_RATIO:
                raise error(f"{path}: member {name!r} declares {info.file_size} bytes from "
                            f"{info.compress_size} compressed, more than deflate can give")
        else:
            raise error(f"{path}: member {name!r} uses an unsupported compression")
        total += info.file_size
    if sum(info.compress_size for info in infos) > disk_size:
        raise error(f"{path}: members declare more bytes than the file holds (truncated?)")
    if total > max_bytes:
        raise error(f"{path}: members declare {total:,} bytes uncompressed, more than the "
                    f"limit of {max_bytes:,} (a zip bomb?)")


def _read_member(archive, info, path, error):
    name = info.filename
    with archive.open(info) as handle:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            header = npy_format.read_array_header_1_0(handle, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            header = npy_format.read_array_header_2_0(handle, max_header_size=MAX_HEADER_BYTES)
        else:
            raise error(f"{path}: member {name!r} has .npy format version {version}")
        shape, fortran, dtype = header
        data_offset = handle.tell()
        if dtype.hasobject or dtype.kind not in _KINDS or dtype.fields is not None:
            raise error(f"{path}: member {name!r} has dtype {dtype}; only plain numbers and "
                        "text are read (never objects)")
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        present = info.file_size - data_offset
        if declared != present:
            raise error(f"{path}: member {name!r} declares shape {shape} of {dtype} "
                        f"({declared:,} bytes) but holds {present:,} bytes")
        buffer = bytearray(declared)
        view = memoryview(buffer)
        done = 0
        while done < declared:
            got = handle.readinto(view[done:])
            if not got:
                raise error(f"{path}: member {name!r} is truncated")
            done += got
        if handle.read(1):
            raise error(f"{path}: member {name!r} holds more bytes than its header declares")
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def loads_json(raw, name, *, error=ValueError, max_depth=MAX_JSON_DEPTH):
    """Parse JSON from an untrusted file, refusing bad text and deep nesting.

    Parameters
    ----------
    raw : bytes or str
    name : str
        The file (or member) named in error messages.
    error : type of Exception, default ValueError
    max_depth : int, default :data:`MAX_JSON_DEPTH`

    Returns
    -------
    object

    Raises
    ------
    error
        Not UTF-8, not JSON, or nested deeper than ``max_depth``.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text)
    except RecursionError:
        raise error(f"{name}: JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise error(f"{name}: not valid JSON ({exc})") from None
    if json_depth(value) > max_depth:
        raise error(f"{name}: JSON nested more than {max_depth} deep")
    return value


def read_json_file(path, *, max_bytes, error=ValueError):
    """Read an untrusted JSON file: refused when larger than ``max_bytes``, then parsed by
    :func:`loads_json` (errors name ``path``)."""
    path = os.fspath(path)
    with open_regular(path, error) as handle:
        too_large = os.fstat(handle.fileno()).st_size > max_bytes
        raw = b"" if too_large else handle.read(max_bytes + 1)
    if too_large or len(raw) > max_bytes:
        raise error(f"{path}: larger than {max_bytes >> 20} MiB")
    return loads_json(raw, path, error=error)


def json_depth(value):
    """How deep lists and dicts nest in ``value`` (0 for a scalar); no recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest
