"""Small files in each published data set's format, made from scikit-learn's digits.

MNIST / Fashion-MNIST: the four idx files (gzipped or not) of 28x28 digits;
SVHN: ``train_32x32.mat`` and ``test_32x32.mat`` of 32x32 RGB digits, label 10 for 0;
CIFAR-100: ``cifar-100-python/{train,test,meta}`` of 32x32 RGB images with 100 fine and
20 coarse labels, pickled as the official files are.
"""
import gzip
import struct
from pathlib import Path

import numpy as np

FINE = [f"fine_{k:02d}" for k in range(100)]
COARSE = [f"coarse_{k:02d}" for k in range(20)]


def digits(n_train=300, n_test=100):
    """((X_train, y_train), (X_test, y_test)) of 8x8 uint8 digits, a fixed split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.rint(d.images * 255 / 16).astype(np.uint8)
    y = d.target.astype(np.int64)
    return (X[:n_train], y[:n_train]), (X[-n_test:], y[-n_test:])


def digits_28(X):
    """8x8 digits -> 28x28 (each pixel 3x3, then a 2-pixel border)."""
    big = np.kron(X, np.ones((3, 3), np.uint8))
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


def digits_32_rgb(X):
    """8x8 digits -> 32x32 RGB (each pixel 4x4, three equal channels)."""
    big = np.kron(X, np.ones((4, 4), np.uint8))
    return np.ascontiguousarray(np.repeat(big[..., None], 3, axis=3))


def idx_bytes(array, dtype_code=0x08):
    """The idx encoding of a uint8 array."""
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(folder, gz=True, n_train=300, n_test=100):
    """The four MNIST idx files of 28x28 digits in ``folder``; returns the arrays."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (X_tr, y_tr), (X_te, y_te) = digits(n_train, n_test)
    X_tr, X_te = digits_28(X_tr), digits_28(X_te)
    for stem, array in (("train-images-idx3-ubyte", X_tr), ("train-labels-idx1-ubyte", y_tr),
                        ("t10k-images-idx3-ubyte", X_te), ("t10k-labels-idx1-ubyte", y_te)):
        raw = idx_bytes(array.astype(np.uint8))
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / stem).write_bytes(raw)
    return (X_tr, y_tr), (X_te, y_te)


def write_svhn(folder, n_train=300, n_test=100, compress=False):
    """``train_32x32.mat`` and ``test_32x32.mat`` of 32x32 RGB digits (label 10 for 0)."""
    import scipy.io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (X_tr, y_tr), (X_te, y_te) = digits(n_train, n_test)
    out = []
    for name, X, y in (("train_32x32.mat", X_tr, y_tr), ("test_32x32.mat", X_te, y_te)):
        X = digits_32_rgb(X)
        labels = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(folder / name, {"X": np.moveaxis(X, 0, 3), "y": labels},
                         do_compression=compress)
        out.append((X, y))
    return tuple(out)


def cifar100_batch(X, fine, coarse, dump):
    from test_data import planar

    return dump({b"filenames": [f"img_{k}.png".encode() for k in range(len(X))],
                 b"batch_label": b"batch", b"fine_labels": [int(v) for v in fine],
                 b"coarse_labels": [int(v) for v in coarse], b"data": planar(X)})


def write_cifar100(parent, n_train=200, n_test=100):
    """``parent/cifar-100-python`` with train, test and meta; returns
    ((X_train, fine, coarse), (X_test, fine, coarse))."""
    from test_data import official_pickle

    folder = Path(parent) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    (X_tr, _), (X_te, _) = digits(n_train, n_test)
    result = []
    for name, X in (("train", X_tr), ("test", X_te)):
        X = digits_32_rgb(X)
        fine = np.arange(len(X)) % 100
        coarse = fine // 5
        (folder / name).write_bytes(cifar100_batch(X, fine, coarse, official_pickle))
        result.append((X, fine, coarse))
    (folder / "meta").write_bytes(official_pickle({
        b"fine_label_names": [n.encode() for n in FINE],
        b"coarse_label_names": [n.encode() for n in COARSE]}))
    return tuple(result)
