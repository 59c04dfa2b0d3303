"""Which image files a model was trained on: their paths and the SHA-256 of their bytes.

A model trained on an image folder keeps this record (in its model file, see
:meth:`fastsoftmax.model.pipeline.ImagePipeline.to_arrays`), so that scoring it on a folder
can leave out the images it was trained on: an image counts as trained on when its
bytes are those of a training file, whatever its name or folder now.
"""
import hashlib
import os
from pathlib import Path

import numpy as np

from fastsoftmax.io.fields import entry, positive_int, stored_array

__all__ = ["DIGEST_BYTES", "TrainingFiles", "file_sha256"]

#: Bytes of one SHA-256 digest.
DIGEST_BYTES = 32
_CHUNK = 1 << 20


def file_sha256(path):
    """The SHA-256 digest (32 bytes) of a file's contents, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bytes
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.digest()


class TrainingFiles:
    """The image files of a training set: relative paths and content digests.

    Parameters
    ----------
    paths : list of str
        Each file's path relative to the data set's folder, ``/``-separated, in the
        order of the training images.
    digests : ndarray of uint8, shape (n, 32)
        The SHA-256 of each file's bytes.
    split_seed : int, optional
        The seed of the random split that chose them; ``None`` when the folder gave
        its split (``root/train`` and ``root/test``).
    test_fraction : float, optional
        The share of each class held out by that split; ``None`` as ``split_seed``.

    Raises
    ------
    ValueError
        Paths and digests of different lengths, digests of another shape, no files, or
        one of ``split_seed`` and ``test_fraction`` without the other.
    """

    def __init__(self, paths, digests, *, split_seed=None, test_fraction=None):
        digests = np.ascontiguousarray(digests, dtype=np.uint8)
        paths = [str(p) for p in paths]
        if digests.ndim != 2 or digests.shape[1] != DIGEST_BYTES:
            raise ValueError(f"digests have shape {digests.shape}, expected (n, {DIGEST_BYTES})")
        if len(paths) != len(digests):
            raise ValueError(f"{len(paths)} paths for {len(digests)} digests")
        if not paths:
            raise ValueError("no training files")
        if (split_seed is None) != (test_fraction is None):
            raise ValueError("split_seed and test_fraction are given together or not at all")
        self.paths, self.digests = paths, digests
        self.split_seed, self.test_fraction = split_seed, test_fraction

    @classmethod
    def from_files(cls, root, files, *, split_seed=None, test_fraction=None):
        """The record of ``files`` (paths under ``root``), hashing each file's bytes."""
        root = Path(root)
        paths = [Path(f).relative_to(root).as_posix() for f in files]
        digests = np.frombuffer(b"".join(file_sha256(f) for f in files), dtype=np.uint8)
        return cls(paths, digests.reshape(len(paths), DIGEST_BYTES), split_seed=split_seed,
                   test_fraction=test_fraction)

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        split = ("given by the folder" if self.split_seed is None
                 else f"split_seed={self.split_seed}, test_fraction={self.test_fraction}")
        return f"TrainingFiles({len(self)} files, {split})"

    def contains(self, digests):
        """Whether each digest is that of a training file.

        Parameters
        ----------
        digests : ndarray of uint8, shape (m, 32), or list of 32-byte ``bytes``

        Returns
        -------
        ndarray of bool, shape (m,)
        """
        known = {row.tobytes() for row in self.digests}
        rows = [d if isinstance(d, bytes) else np.asarray(d, np.uint8).tobytes()
                for d in digests]
        return np.array([row in known for row in rows], dtype=bool)

    # ------------------------------------------------------------------ persistence
    def to_arrays(self):
        """``(metadata, arrays)``: the count and the split in the metadata; arrays
        ``digests`` (n, 32) and ``paths``, the paths' bytes joined by NUL (which no
        file name holds)."""
        metadata = {"n_files": len(self), "split_seed": self.split_seed,
                    "test_fraction": self.test_fraction}
        blob = b"\0".join(os.fsencode(p) for p in self.paths)
        return metadata, {"digests": self.digests,
                          "paths": np.frombuffer(blob, dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a record from :meth:`to_arrays`' output, checking it first.

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, a count that is not that of the
            digests and paths, an empty path, a split seed or test fraction out of range.
        """
        n_files = positive_int(entry(metadata, "n_files", int), "n_files")
        seed = entry(metadata, "split_seed", (int, type(None)))
        fraction = entry(metadata, "test_fraction", (float, type(None)))
        if seed is not None and not 0 <= seed < 2**32:
            raise ValueError(f"split_seed is {seed}, expected 0 .. 2**32 - 1")
        if fraction is not None and not 0 < fraction < 1:
            raise ValueError(f"test_fraction is {fraction}, expected between 0 and 1")
        digests = stored_array(arrays, "digests", 2, "u")
        if digests.dtype != np.uint8 or digests.shape != (n_files, DIGEST_BYTES):
            raise ValueError(f"array 'digests' has shape {digests.shape} and dtype "
                             f"{digests.dtype}, expected ({n_files}, {DIGEST_BYTES}) uint8")
        blob = stored_array(arrays, "paths", 1, "u")
        if blob.dtype != np.uint8:
            raise ValueError(f"array 'paths' has dtype {blob.dtype}, expected uint8")
        paths = blob.tobytes().split(b"\0")
        if len(paths) != n_files or not all(paths):
            raise ValueError(f"array 'paths' holds {len(paths)} paths"
                             f"{', some empty' if not all(paths) else ''}, expected "
                             f"{n_files} non-empty ones")
        return cls([os.fsdecode(p) for p in paths], digests, split_seed=seed,
                   test_fraction=fraction)
