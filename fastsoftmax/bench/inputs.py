"""Inputs of the benchmark cases: synthetic problems and images, CIFAR-10 when
``$FASTSOFTMAX_BENCH_CIFAR`` names a copy, scikit-image's HOG loop, and the optional
references (:func:`require`: imported only when their case runs)."""
import importlib
import os
from pathlib import Path

import numpy as np
from skimage.feature import hog as sk_hog

from fastsoftmax.bench.timing import BenchSkip

#: The variable naming the ``cifar-10-batches-py`` folder that ``full`` sizes use.
CIFAR_ENV = "FASTSOFTMAX_BENCH_CIFAR"


def softmax_problem(n, d, c, seed=0, dtype=np.float32):
    """Features in 0..1 (as after scaling), labels, small weights: ``X, y, coef, intercept``."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d), dtype=np.float32).astype(dtype, copy=False)
    y = rng.integers(0, c, n).astype(np.int64)
    coef = (0.01 * rng.standard_normal((c, d))).astype(dtype)
    intercept = np.zeros(c, dtype=dtype)
    return X, y, coef, intercept


def synthetic_images(n, n_classes=10, seed=0, size=32, color=True):
    """uint8 images whose class sets the orientation of a noisy stripe pattern.

    HOG sees the orientation, so a softmax on HOG + PCA separates the classes well
    but not perfectly; deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n).astype(np.int64)
    theta = np.pi * (y + 0.3 * rng.standard_normal(n)) / n_classes
    freq = rng.uniform(0.5, 1.2, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    r, c = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    wave = np.sin(freq[:, None, None] * (np.cos(theta)[:, None, None] * r
                                         + np.sin(theta)[:, None, None] * c) + phase[:, None, None])
    shape = (n, size, size, 3) if color else (n, size, size)
    noise = rng.standard_normal(shape, dtype=np.float32)
    if color:
        wave = wave[..., None] * rng.uniform(0.5, 1.0, (n, 1, 1, 3))
    images = 128 + 60 * wave + 45 * noise
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), y


def find_cifar_dev():
    """The CIFAR-10 folder named by ``$FASTSOFTMAX_BENCH_CIFAR``, or None when the
    variable is unset or empty: the ``full`` cases then run on synthetic images.  The
    caller (a benchmark script, CI) says where its copy is; the package assumes no
    location.

    Raises
    ------
    ValueError
        ``$FASTSOFTMAX_BENCH_CIFAR`` is set but holds no ``test_batch`` (it is never
        passed over silently for synthetic images).
    """
    env = os.environ.get(CIFAR_ENV)
    if env and not (Path(env) / "test_batch").is_file():
        raise ValueError(f"${CIFAR_ENV}={env!r} is not a cifar-10-batches-py "
                         "folder (no test_batch file in it)")
    if env:
        return Path(env)
    return None


def skimage_hog_loop(gray):
    """scikit-image's HOG (the study's parameters), one image at a time."""
    out = np.empty((len(gray), 1764), dtype=np.float32)
    for i, image in enumerate(gray):
        out[i] = sk_hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                        block_norm="L2-Hys")
    return out


def require(module):
    """Import ``module`` now, or skip the case (:class:`BenchSkip`) when it is absent.

    For the optional references (PyTorch, OpenCV): imported only when their case runs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BenchSkip(f"{module} is not installed") from None


def encoder_problem(n_images, n_centroids, patch_size=6, seed=0):
    """CIFAR-sized random colour images and a plausible whitening and dictionary for the
    learned-feature encoder: ``(images, whiten_mean, whiten_matrix, centroids)``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    dim = patch_size * patch_size * 3
    a = rng.standard_normal((dim, dim))
    matrix = (a @ a.T / dim + np.eye(dim)).astype(np.float32)
    mean = (0.01 * rng.standard_normal(dim)).astype(np.float32)
    centroids = (0.8 * rng.standard_normal((n_centroids, dim))).astype(np.float32)
    return images, mean, matrix, centroids
