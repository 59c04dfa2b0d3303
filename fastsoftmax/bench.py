"""Benchmark cases shared by ``benchmarks/`` (pytest-benchmark) and ``fastsoftmax bench``.

Every case pairs a fast path with its reference on the same inputs.  ``measure``
warms both up (so Numba compilation never counts), then times them in interleaved
rounds and returns the medians and their ratio, the *speed-up*.  A regression gate
compares speed-ups, never absolute times: fast and reference are measured in the same
run on the same machine, so the machine's speed cancels out.

Sizes: ``"quick"`` (the CI gate and ``fastsoftmax bench``), ``"full"`` (``--full``,
the issues' figures) and ``"tiny"`` (tests of this module).

Example
-------
>>> from fastsoftmax import bench
>>> result = bench.measure(bench.get_case("softmax_loss_grad"), "tiny", rounds=3)
>>> result["speedup"] > 0
True
"""
import gc
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

SIZES = ("tiny", "quick", "full")
#: A speed-up below this fraction of its baseline fails the gate.
DEFAULT_FRACTION = 0.6
#: Shortest timing sample; cheap callables are repeated until a sample lasts this long.
MIN_SAMPLE_SECONDS = {"tiny": 0.005, "quick": 0.03, "full": 0.1}
#: The development CIFAR-10 copy (beside the checkout), used by ``full`` when present.
CIFAR_DEV = Path("..") / "shared" / "data" / "cifar10-dev" / "cifar-10-batches-py"


class BenchSkip(Exception):
    """Raised by a case's setup when it cannot run here (an optional package is absent)."""


@dataclass
class Pair:
    """What a case's setup returns: the two callables and how to read their times.

    ``fast_units`` / ``reference_units`` are the work items one call does (updates,
    images); the speed-up compares times per unit, so the two may differ.
    ``warmup`` (optional) is a cheap call that compiles the fast path; when given, the
    reference (expensive, nothing to compile) is not warmed up and runs once a sample.
    ``summarize(fast_output, reference_output)`` returns extra figures (accuracies,
    stage timings) from the last outputs.
    """

    fast: Callable
    reference: Callable
    fast_label: str = "fastsoftmax"
    reference_label: str = "numpy"
    unit: str = "call"
    fast_units: int = 1
    reference_units: int = 1
    warmup: Optional[Callable] = None
    summarize: Optional[Callable] = None
    info: dict = field(default_factory=dict)


@dataclass
class Case:
    """A benchmark case: ``setup(size)`` builds the inputs and returns a :class:`Pair`."""

    name: str
    group: str
    description: str
    setup: Callable
    rounds: dict
    target: Optional[float] = None  # speed-up claimed by an issue (reported, not gated)
    shares_fast_with: Optional[str] = None  # another case with the same fast path

    def __repr__(self):
        return f"Case({self.name!r})"


# ============================================================================ inputs


def _rng(seed=0):
    return np.random.default_rng(seed)


def softmax_problem(n, d, c, seed=0, dtype=np.float32):
    """Features in 0..1 (as after scaling), labels, small weights: ``X, y, coef, intercept``."""
    rng = _rng(seed)
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
    rng = _rng(seed)
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
    """The development CIFAR-10 copy, or None: ``$FASTSOFTMAX_BENCH_CIFAR``, then
    ``../shared/data/cifar10-dev/cifar-10-batches-py`` from the working folder and from
    the source checkout."""
    env = os.environ.get("FASTSOFTMAX_BENCH_CIFAR")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / CIFAR_DEV, Path(__file__).resolve().parents[1] / CIFAR_DEV]
    for path in candidates:
        if (path / "test_batch").exists():
            return path
    return None


def _skimage_hog_loop(gray):
    from skimage.feature import hog as sk_hog

    out = np.empty((len(gray), 1764), dtype=np.float32)
    for i, image in enumerate(gray):
        out[i] = sk_hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                        block_norm="L2-Hys")
    return out


def _require(module):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BenchSkip(f"{module} is not installed") from None


# ============================================================================ cases
# Shapes of the issues: batch 500, D 512, C 10, 32x32 images.

_SOFTMAX_SHAPES = {"tiny": (50, 32, 10), "quick": (500, 512, 10), "full": (500, 512, 10)}
_STUDY_L2 = 1.2 / 500  # the study's L2 strength against the batch mean


def _setup_softmax_loss_grad(size):
    from .softmax import loss_and_gradient

    n, d, c = _SOFTMAX_SHAPES[size]
    X, y, coef, intercept = softmax_problem(n, d, c)
    W = np.ascontiguousarray(coef.T)

    def fast():
        return loss_and_gradient(W, intercept, X, y, "l2", _STUDY_L2, backend="numba")

    def reference():
        return loss_and_gradient(W, intercept, X, y, "l2", _STUDY_L2, backend="numpy")

    return Pair(fast, reference, info={"shape": f"N={n} D={d} C={c} float32"})


def _setup_softmax_loss_grad_torch(size):
    torch = _require("torch")
    pair = _setup_softmax_loss_grad(size)
    n, d, c = _SOFTMAX_SHAPES[size]
    X, y, coef, intercept = softmax_problem(n, d, c)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    Wt = torch.from_numpy(coef.T.copy()).requires_grad_(True)
    bt = torch.from_numpy(intercept.copy()).requires_grad_(True)

    def reference():
        Wt.grad = bt.grad = None
        loss = torch.nn.functional.cross_entropy(Xt @ Wt + bt, yt) + 0.5 * _STUDY_L2 * (Wt * Wt).sum()
        loss.backward()
        return float(loss.detach()), Wt.grad, bt.grad

    return Pair(pair.fast, reference, reference_label="torch", info=pair.info)


_SGD_SIZES = {  # n_samples, n_features, n_classes, batch, updates
    "tiny": (2_000, 32, 10, 50, 20),
    "quick": (50_000, 512, 10, 500, 100),
    "full": (50_000, 512, 10, 500, 200),
}


def _sgd_inputs(size, updates=None):
    from .classifier import _plan_batches

    n, d, c, batch, count = _SGD_SIZES[size]
    count = updates or count
    X, y, coef, intercept = softmax_problem(n, d, c)
    indices, starts = _plan_batches(_rng(1), n, batch, count, "replacement")
    rates = np.full(count, 0.01)
    return X, y, coef, intercept, indices, starts, rates, count, (n, d, c, batch)


def _sgd_pair(size, updates=None):
    """The study's update (lr 0.01, L2 1.2/500, no momentum, batches drawn with
    replacement), through ``_numba.sgd`` and ``_numpy.sgd`` with the same batches."""
    from .softmax import _numba, _numpy

    X, y, coef0, b0, indices, starts, rates, count, (n, d, c, batch) = _sgd_inputs(size, updates)
    X_fast = _numba.training_input(X)  # made once per fit by the classifier

    def fast():
        coef, b = coef0.copy(), b0.copy()
        _numba.sgd(X_fast, y, coef, b, np.zeros_like(coef), np.zeros_like(b), indices, starts,
                   rates, 0.0, _STUDY_L2, True, 0.0)
        return coef

    def reference():
        coef, b = coef0.copy(), b0.copy()
        _numpy.sgd(X, y, coef, b, np.zeros_like(coef), np.zeros_like(b), indices, starts, rates,
                   0.0, _STUDY_L2, True, 0.0)
        return coef

    info = {"shape": f"X {n}x{d} float32, C={c}, batch {batch}, {count} updates"}
    return Pair(fast, reference, unit="update", fast_units=count, reference_units=count,
                info=info)


def _setup_sgd_step(size):
    return _sgd_pair(size, updates=1)


def _setup_sgd_loop(size):
    return _sgd_pair(size)


def _setup_sgd_loop_torch(size):
    torch = _require("torch")
    pair = _sgd_pair(size)
    X, y, coef0, b0, indices, starts, rates, count, (n, d, c, batch) = _sgd_inputs(size)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches = [torch.from_numpy(indices[starts[t]:starts[t + 1]]) for t in range(count)]

    def reference():
        model = torch.nn.Linear(d, c)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(coef0))
            model.bias.zero_()
        optimizer = torch.optim.SGD([{"params": [model.weight], "weight_decay": _STUDY_L2},
                                     {"params": [model.bias], "weight_decay": 0.0}], lr=0.01)
        for rows in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(Xt.index_select(0, rows)),
                                                     yt.index_select(0, rows))
            loss.backward()
            optimizer.step()
        return model

    info = dict(pair.info, torch_threads=torch.get_num_threads())
    return Pair(pair.fast, reference, reference_label="torch", unit="update",
                fast_units=count, reference_units=count, info=info)


def _hog_images(size):
    n = {"tiny": 40, "quick": 500, "full": 10_000}[size]
    images, _ = synthetic_images(n, color=False)
    return images.astype(np.float32) / np.float32(255.0)


def _setup_hog(size):
    from .features import hog

    gray = _hog_images(size)
    n_ref = min(len(gray), 2_000)  # the scikit-image loop is slow: per image on a subset
    ref_gray = gray[:n_ref]
    return Pair(lambda: hog(gray), lambda: _skimage_hog_loop(ref_gray),
                reference_label="skimage loop", unit="image", fast_units=len(gray),
                reference_units=n_ref,
                info={"shape": f"{len(gray)} images 32x32, 9x(4,4)x(2,2) L2-Hys"})


def _setup_hog_opencv(size):
    cv2 = _require("cv2")
    if not cv2.__version__.startswith("4."):
        raise BenchSkip(f"needs OpenCV 4.x, found {cv2.__version__}")
    from .features import hog

    gray = _hog_images(size)
    images_u8 = np.ascontiguousarray(np.round(gray * 255.0).astype(np.uint8))
    descriptor = cv2.HOGDescriptor(_winSize=(32, 32), _blockSize=(8, 8), _blockStride=(4, 4),
                                   _cellSize=(4, 4), _nbins=9)

    def reference():
        out = np.empty((len(images_u8), 1764), dtype=np.float32)
        for i, image in enumerate(images_u8):
            out[i] = descriptor.compute(image).ravel()
        return out

    return Pair(lambda: hog(gray), reference, reference_label="opencv loop", unit="image",
                fast_units=len(gray), reference_units=len(gray),
                info={"shape": f"{len(gray)} images 32x32 (uint8 for OpenCV)"})


def _setup_pca(size):
    from .features import hog, rgb2gray
    from .pipeline import ImagePipeline

    # quick: 16x16 images (324 HOG features) keep the gate short; full: 32x32 (1,764)
    n, side = {"tiny": 300, "quick": 3_000, "full": 10_000}[size], (32 if size == "full" else 16)
    images, _ = synthetic_images(n, size=side)
    features = hog(rgb2gray(images, dtype=np.float32))

    def fast():
        pipe = ImagePipeline(pca_variance=0.95)
        pipe._fit_pca(None, features, cache=False)  # the pipeline's own PCA
        return pipe.project(features)

    def reference():
        from sklearn.decomposition import PCA

        return PCA(n_components=0.95).fit_transform(features)

    return Pair(fast, reference, reference_label="sklearn PCA default",
                info={"shape": f"{n}x{features.shape[1]} HOG features, 95% variance"})


# quick: D=128 (the reference costs O(N D^2 C^2)); full: the D=512
_GRADCHECK_SHAPES = {"tiny": (50, 16, 4), "quick": (500, 128, 10), "full": (500, 512, 10)}


def _setup_gradcheck(size):
    from .gradcheck import numerical_gradient, numerical_gradient_reference

    n, d, c = _GRADCHECK_SHAPES[size]
    rng = _rng(0)
    args = (0.01 * rng.standard_normal((d, c)), 0.1 * rng.standard_normal(c),
            rng.random((n, d)), rng.integers(0, c, n))
    return Pair(lambda: numerical_gradient(*args), lambda: numerical_gradient_reference(*args),
                info={"shape": f"N={n} D={d} C={c} float64, central differences"})


def _fit_features(size):
    """(X_train, y_train, X_test, y_test, description) for the time-to-accuracy case."""
    if size == "full" and find_cifar_dev() is not None:
        from .data import load_cifar10
        from .pipeline import ImagePipeline

        (X, y), (X_test, y_test) = load_cifar10(find_cifar_dev())
        X, y = X[:20_000], y[:20_000]
        pipe = ImagePipeline(pca_variance=0.95)
        pipe.hog_params_ = {"orientations": 9, "pixels_per_cell": (4, 4),
                            "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
        features = pipe.extract_features(X)
        pipe._fit_pca(None, features, cache=False)
        return (pipe.project(features), y, pipe.project(pipe.extract_features(X_test)), y_test,
                "CIFAR-10 dev copy: first 20,000 training images, HOG + PCA 95%; "
                "accuracy on its 10,000 test_batch images")
    from .features import hog, rgb2gray
    from sklearn.decomposition import PCA

    n = {"tiny": 600, "quick": 2_000, "full": 20_000}[size]
    images, labels = synthetic_images(n + n // 4, seed=3)
    features = hog(rgb2gray(images, dtype=np.float32))
    pca = PCA(n_components=0.95, svd_solver="covariance_eigh").fit(features[:n])
    projected = pca.transform(features).astype(np.float32)
    return (projected[:n], labels[:n], projected[n:], labels[n:],
            f"synthetic stripe images: {n} train / {n // 4} test, HOG + PCA 95%")


def _setup_fit_vs_lbfgs(size):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from .classifier import SoftmaxClassifier

    X, y, X_test, y_test, description = _fit_features(size)
    alpha = SoftmaxClassifier().alpha

    def fast():
        return SoftmaxClassifier(random_state=0).fit(X, y)

    def reference():
        # the same objective: C = 1 / (alpha * n_samples)
        model = LogisticRegression(C=1.0 / (alpha * len(y)), max_iter=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(X, y)

    def summarize(fast_model, reference_model):
        ours = float(fast_model.score(X_test, y_test))
        theirs = float(reference_model.score(X_test, y_test))
        return {"fast_accuracy": ours, "reference_accuracy": theirs,
                "accuracy_difference": ours - theirs,
                "reference_n_iter": int(np.max(reference_model.n_iter_)),
                "fast_n_iter": int(fast_model.n_iter_)}

    return Pair(fast, reference, reference_label="sklearn LogisticRegression lbfgs",
                warmup=lambda: SoftmaxClassifier(n_iter=2, random_state=0).fit(X[:600], y[:600]),
                summarize=summarize,
                info={"data": description, "shape": f"{X.shape[0]}x{X.shape[1]}",
                      "fast": "SoftmaxClassifier() defaults",
                      "reference": f"LogisticRegression(C=1/(alpha n), lbfgs), alpha={alpha:g}"})


def _pipeline_data(size):
    """(loader, description, n_updates): the loader returns train/test uint8 images."""
    if size == "full" and find_cifar_dev() is not None:
        path = find_cifar_dev()

        def load():
            from .data import load_cifar10

            (X, y), (X_test, y_test) = load_cifar10(path)
            return X, y, X_test, y_test

        return load, f"CIFAR-10 dev copy ({path}), all images", 50_000
    n_train, n_test, updates = {"tiny": (300, 100, 50), "quick": (1_000, 250, 1_000),
                                "full": (10_000, 2_500, 50_000)}[size]
    images, labels = synthetic_images(n_train + n_test, seed=5)

    def load():
        return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]

    return load, f"synthetic stripe images: {n_train} train / {n_test} test", updates


def _setup_pipeline(size):
    from .classifier import SoftmaxClassifier
    from .cli.train import STUDY_PRESET
    from .pipeline import ImagePipeline

    load, description, updates = _pipeline_data(size)
    params = dict(STUDY_PRESET, n_iter=updates)

    def fast(data_loader=load, n_iter=updates):
        seconds = {}
        start = time.perf_counter()
        X, y, X_test, y_test = data_loader()
        seconds["load"] = time.perf_counter() - start
        classifier = SoftmaxClassifier(random_state=0, **dict(params, n_iter=n_iter))
        pipe = ImagePipeline(classifier=classifier, pca_variance=0.95).fit(X, y, cache=False)
        seconds.update(pipe.timings_)
        start = time.perf_counter()
        accuracy = pipe.score(X_test, y_test)
        seconds["evaluate"] = time.perf_counter() - start
        return {"accuracy": accuracy, "seconds": seconds, "n_features": int(pipe.n_features_)}

    def reference():
        from skimage.color import rgb2gray as sk_rgb2gray
        from sklearn.decomposition import PCA

        def features(images):
            return _skimage_hog_loop(np.stack([sk_rgb2gray(image) for image in images]))

        seconds = {}
        start = time.perf_counter()
        X, y, X_test, y_test = load()
        seconds["load"] = time.perf_counter() - start
        start = time.perf_counter()
        train_features = features(X)
        seconds["features"] = time.perf_counter() - start
        start = time.perf_counter()
        pca = PCA(n_components=0.95).fit(train_features)
        projected = pca.transform(train_features).astype(np.float32)
        seconds["pca"] = time.perf_counter() - start
        start = time.perf_counter()
        classifier = SoftmaxClassifier(random_state=0, backend="numpy", **params).fit(projected, y)
        seconds["train"] = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = classifier.score(pca.transform(features(X_test)).astype(np.float32), y_test)
        seconds["evaluate"] = time.perf_counter() - start
        return {"accuracy": float(accuracy), "seconds": seconds, "n_features": int(pca.n_components_)}

    def warmup():  # compiles the kernels for these dtypes; nothing else to warm
        X, y = synthetic_images(300, seed=9)
        fast(lambda: (X[:200], y[:200], X[200:], y[200:]), 5)

    def summarize(fast_out, reference_out):
        stages = fast_out["seconds"]
        total = sum(stages.values())
        slowest = max(stages, key=stages.get)
        return {"fast_accuracy": fast_out["accuracy"], "reference_accuracy": reference_out["accuracy"],
                "accuracy_difference": fast_out["accuracy"] - reference_out["accuracy"],
                "fast_stage_seconds": {k: round(v, 4) for k, v in stages.items()},
                "reference_stage_seconds": {k: round(v, 4) for k, v in reference_out["seconds"].items()},
                "slowest_stage": slowest, "slowest_stage_share": stages[slowest] / total,
                "n_features_after_pca": fast_out["n_features"]}

    return Pair(fast, reference, reference_label="skimage hog + sklearn PCA + numpy SGD",
                warmup=warmup, summarize=summarize,
                info={"data": description,
                      "shape": f"study preset, batch 500, {updates} updates"})


CASES = [
    Case("softmax_loss_grad", "softmax_loss_grad",
         "softmax loss + gradient of one batch (public loss_and_gradient): Numba vs NumPy",
         _setup_softmax_loss_grad, {"tiny": 5, "quick": 9, "full": 15}),
    Case("softmax_loss_grad_torch", "softmax_loss_grad",
         "softmax loss + gradient of one batch: Numba vs PyTorch CPU autograd",
         _setup_softmax_loss_grad_torch, {"tiny": 5, "quick": 9, "full": 15},
         shares_fast_with="softmax_loss_grad"),
    Case("sgd_step", "sgd_step", "one SGD update (study settings): _numba.sgd vs _numpy.sgd",
         _setup_sgd_step, {"tiny": 5, "quick": 9, "full": 15}),
    Case("sgd_loop", "sgd_loop",
         "training loop, same _plan_batches indices: _numba.sgd vs _numpy.sgd",
         _setup_sgd_loop, {"tiny": 3, "quick": 5, "full": 7}, target=2.5),
    Case("sgd_loop_torch", "sgd_loop",
         "training loop, same batches: _numba.sgd vs PyTorch nn.Linear + cross-entropy + SGD",
         _setup_sgd_loop_torch, {"tiny": 3, "quick": 5, "full": 7}, target=3.0,
         shares_fast_with="sgd_loop"),
    Case("fit_vs_lbfgs", "fit_vs_lbfgs",
         "time to accuracy: SoftmaxClassifier().fit vs multinomial LogisticRegression (lbfgs)",
         _setup_fit_vs_lbfgs, {"tiny": 3, "quick": 5, "full": 3}, target=5.0),
    Case("hog", "hog", "batch HOG: Numba kernel vs scikit-image's hog, image by image",
         _setup_hog, {"tiny": 3, "quick": 5, "full": 5}, target=80.0),
    Case("hog_opencv", "hog", "batch HOG: Numba kernel vs OpenCV 4.x HOGDescriptor loop",
         _setup_hog_opencv, {"tiny": 3, "quick": 5, "full": 5}, target=2.5,
         shares_fast_with="hog"),
    Case("pca", "pca", "PCA 95% fit + transform: the pipeline's vs scikit-learn's default PCA",
         _setup_pca, {"tiny": 3, "quick": 3, "full": 3}),
    Case("gradcheck", "gradcheck",
         "full numerical gradient: Cython kernel vs NumPy finite differences",
         _setup_gradcheck, {"tiny": 3, "quick": 3, "full": 3}, target=30.0),
    Case("pipeline", "pipeline",
         "end to end (load, features, PCA, study SGD, evaluation) vs skimage + sklearn PCA + "
         "numpy SGD", _setup_pipeline, {"tiny": 1, "quick": 2, "full": 3}, target=6.0),
]
_BY_NAME = {case.name: case for case in CASES}


def case_names():
    return [case.name for case in CASES]


def get_case(name):
    """The registered case called ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(case_names())}") from None


# ============================================================================ timing


def _time(fn, number):
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        return time.perf_counter() - start, out
    finally:
        if gc_was_enabled:
            gc.enable()


def _autorange(fn, min_time):
    """Calls per sample so that a sample lasts at least ``min_time`` (as timeit's autorange)."""
    number = 1
    while True:
        elapsed, _ = _time(fn, number)
        if elapsed >= min_time or number >= 100_000:
            return number
        number = max(number + 1, math.ceil(number * 1.2 * min_time / max(elapsed, 1e-9)))


#: Pause before each timed sample (see ``measure``).
COOLDOWN_SECONDS = 0.2


def measure(case, size="quick", rounds=None, progress=None):
    """Time one case: warm-up, then ``rounds`` interleaved samples of fast and reference.

    Returns a dict: ``name``, ``status`` (``"ok"`` or ``"skipped"`` with ``reason``),
    ``fast_median_s`` / ``reference_median_s`` (per call), ``fast_per_unit_us`` /
    ``reference_per_unit_us``, ``unit``, ``speedup`` (reference time per unit over fast
    time per unit, from the medians), the raw samples, and the case's extra figures.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}; got {size!r}")
    result = {"name": case.name, "group": case.group, "description": case.description,
              "size": size, "target": case.target}
    say = progress or (lambda message: None)
    try:
        pair = case.setup(size)
    except BenchSkip as exc:
        result.update(status="skipped", reason=str(exc))
        say(f"{case.name}: skipped ({exc})")
        return result
    rounds = rounds or case.rounds[size]
    min_time = MIN_SAMPLE_SECONDS[size]
    say(f"{case.name}: warming up")
    if pair.warmup is not None:
        pair.warmup()
        fast_number, reference_number = _autorange(pair.fast, min_time), 1
    else:
        pair.fast()  # compiles
        start = time.perf_counter()
        pair.reference()
        reference_first = time.perf_counter() - start
        fast_number = _autorange(pair.fast, min_time)
        reference_number = 1 if reference_first >= min_time else _autorange(pair.reference, min_time)
    fast_samples, reference_samples = [], []
    fast_out = reference_out = None
    for r in range(rounds):
        say(f"{case.name}: round {r + 1}/{rounds}")
        order = ("fast", "reference") if r % 2 == 0 else ("reference", "fast")
        for side in order:
            # Let the other side's idle threads (OpenBLAS workers spin for a while after
            # each call) go to sleep, so neither side is timed against the other's leftovers.
            time.sleep(COOLDOWN_SECONDS)
            if side == "fast":
                elapsed, fast_out = _time(pair.fast, fast_number)
                fast_samples.append(elapsed / fast_number)
            else:
                elapsed, reference_out = _time(pair.reference, reference_number)
                reference_samples.append(elapsed / reference_number)
    fast_median = statistics.median(fast_samples)
    reference_median = statistics.median(reference_samples)
    fast_unit = fast_median / pair.fast_units
    reference_unit = reference_median / pair.reference_units
    result.update(
        status="ok", fast_label=pair.fast_label, reference_label=pair.reference_label,
        unit=pair.unit, fast_units=pair.fast_units, reference_units=pair.reference_units,
        fast_median_s=fast_median, reference_median_s=reference_median,
        fast_per_unit_us=fast_unit * 1e6, reference_per_unit_us=reference_unit * 1e6,
        speedup=reference_unit / fast_unit, rounds=rounds, fast_number=fast_number,
        reference_number=reference_number, fast_samples_s=fast_samples,
        reference_samples_s=reference_samples, info=dict(pair.info),
    )
    if pair.summarize is not None:
        result["extra"] = pair.summarize(fast_out, reference_out)
    return result


def select_cases(only=None):
    """Cases named in ``only`` (all when empty), in registry order; unknown names raise."""
    if not only:
        return list(CASES)
    wanted = {get_case(name).name for name in only}
    return [case for case in CASES if case.name in wanted]


def run(size="quick", only=None, cases=None, progress=None):
    """Measure several cases; returns ``{name: result}`` in registry order."""
    cases = cases if cases is not None else select_cases(only)
    return {case.name: measure(case, size, progress=progress) for case in cases}


# ============================================================================ baseline / gate


@dataclass
class Failure:
    """A kernel whose speed-up fell below ``fraction`` of its baseline."""

    name: str
    speedup: float
    baseline: float
    fraction: float

    @property
    def message(self):
        return (f"{self.name}: speed-up {self.speedup:.2f}x is below {self.fraction:.0%} of its "
                f"baseline {self.baseline:.2f}x (needs >= {self.fraction * self.baseline:.2f}x)")

    def __str__(self):
        return self.message


def baseline_ratios(baseline):
    """``{name: ratio}`` from a baseline file's content (or such a dict itself)."""
    ratios = baseline.get("ratios", baseline) if isinstance(baseline, dict) else None
    if not isinstance(ratios, dict):
        raise ValueError("baseline must be an object with a 'ratios' object {kernel: speed-up}")
    out = {}
    for name, value in ratios.items():
        if isinstance(value, dict):
            value = value.get("speedup")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"baseline ratio of {name!r} must be a positive number; got {value!r}")
        out[name] = float(value)
    return out


def compare_to_baseline(results, baseline, fraction=DEFAULT_FRACTION):
    """Kernels whose speed-up is below ``fraction`` of their baseline, as :class:`Failure`.

    ``results``: ``{name: result dict or speed-up}``.  Kernels absent from either side,
    or skipped in this run, are not compared (see :func:`not_compared`).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}")
    ratios = baseline_ratios(baseline)
    failures = []
    for name, result in results.items():
        speedup = result.get("speedup") if isinstance(result, dict) else result
        if speedup is None or name not in ratios:
            continue
        if speedup < fraction * ratios[name]:
            failures.append(Failure(name, float(speedup), ratios[name], fraction))
    return failures


def not_compared(results, baseline):
    """Names in the baseline that this run did not measure, and measured ones the
    baseline lacks: ``(missing, new)``."""
    ratios = baseline_ratios(baseline)
    measured = {name for name, r in results.items()
                if (r.get("speedup") if isinstance(r, dict) else r) is not None}
    return sorted(set(ratios) - measured), sorted(measured - set(ratios))


def check(baseline, size=None, fraction=DEFAULT_FRACTION, only=None, cases=None, progress=None,
          retry=True):
    """The regression gate: measure, compare, re-measure each failing kernel once.

    A kernel fails only when both measurements are below ``fraction`` of its baseline
    (the better of the two counts), so one noisy round does not fail CI.

    Returns ``(results, failures)``.
    """
    ratios = baseline_ratios(baseline)
    size = size or (baseline.get("size") if isinstance(baseline, dict) else None) or "quick"
    if cases is None:
        cases = [case for case in select_cases(only) if case.name in ratios]
    results = run(size, cases=cases, progress=progress)
    failures = compare_to_baseline(results, baseline, fraction)
    if failures and retry:
        by_name = {case.name: case for case in cases}
        for failure in failures:
            say = progress or (lambda message: None)
            say(f"{failure.name}: below the gate, measuring again")
            again = measure(by_name[failure.name], size, progress=progress)
            first = results[failure.name]
            if again.get("speedup", 0) > first.get("speedup", 0):
                again["first_speedup"] = first["speedup"]
                results[failure.name] = again
            else:
                first["second_speedup"] = again.get("speedup")
        failures = compare_to_baseline(results, baseline, fraction)
    return results, failures


def machine_description():
    import numba

    return {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def make_baseline(results, size, note=""):
    """A baseline file's content from measured results (skipped cases are left out).

    ``results`` may be a list of several runs' results: each kernel's baseline is then
    the slowest of its speed-ups.  On a shared machine one kernel's ratio can swing by
    half between runs; a bar set from the slowest run still fails a kernel that became
    twice as slow, but not a fast kernel measured at a bad moment.
    """
    runs = results if isinstance(results, list) else [results]
    results = {}
    for name in runs[0]:
        measured = [run[name] for run in runs if run.get(name, {}).get("status") == "ok"]
        if not measured:
            results[name] = runs[0][name]
            continue
        slowest = min(measured, key=lambda r: r["speedup"])
        results[name] = dict(slowest, runs=[round(r["speedup"], 3) for r in measured])
    return {
        "note": note or ("Speed-ups (reference time / fast time, same run) measured by "
                         "'fastsoftmax bench --update-baseline'; the gate fails a kernel "
                         f"below {DEFAULT_FRACTION:.0%} of its ratio here (the slowest of the runs)."),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "size": size,
        "fraction": DEFAULT_FRACTION,
        **machine_description(),
        "runs": len(runs),
        "ratios": {name: round(r["speedup"], 3) for name, r in results.items()
                   if r.get("status") == "ok"},
        "ratios_of_each_run": {name: r["runs"] for name, r in results.items() if "runs" in r},
        "medians_us": {name: {"fast": round(r["fast_median_s"] * 1e6, 1),
                              "reference": round(r["reference_median_s"] * 1e6, 1)}
                       for name, r in results.items() if r.get("status") == "ok"},
    }


def write_json_atomic(path, payload):
    """Write JSON to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"folder {str(folder)!r} does not exist")
    from ._atomic import atomic_open

    with atomic_open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def load_baseline(path):
    path = Path(path)
    try:
        with open(path) as handle:
            content = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON baseline file ({exc})") from None
    baseline_ratios(content)
    return content


# ============================================================================ display


def format_time(seconds):
    """``12.3 us``, ``4.56 ms`` or ``1.23 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_table(results, baseline=None, fraction=DEFAULT_FRACTION):
    """The results as a text table: kernel, fast median, reference median, speed-up."""
    ratios = baseline_ratios(baseline) if baseline is not None else {}
    header = ["kernel", "fast median", "reference median", "speed-up", "target"]
    if ratios:
        header.append("baseline")
    rows = []
    for name, r in results.items():
        if r.get("status") != "ok":
            rows.append([name, "skipped", r.get("reason", ""), "", ""] + ([""] if ratios else []))
            continue
        per = "" if r["unit"] == "call" else f"/{r['unit']}"
        fast = format_time(r["fast_per_unit_us"] * 1e-6) + per
        ref = format_time(r["reference_per_unit_us"] * 1e-6) + per + f" ({r['reference_label']})"
        target = ""
        if r.get("target") and r.get("size", "full") == "full":
            target = f">= {r['target']:g}x " + ("met" if r["speedup"] >= r["target"] else "MISSED")
        elif r.get("target"):  # the issues' targets are for their (full) sizes
            target = f"(>= {r['target']:g}x at --full)"
        row = [name, fast, ref, f"{r['speedup']:.2f}x", target]
        if ratios:
            base = ratios.get(name)
            row.append("" if base is None else
                       f"{base:.2f}x " + ("ok" if r["speedup"] >= fraction * base else "FAIL"))
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, r in results.items():
        extra = r.get("extra")
        if extra:
            lines.append(f"{name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in extra.items()))
    return "\n".join(lines)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


# ============================================================================ first run
# Issue 14: the first `fastsoftmax train` after `pip install .` against the second, in
# fresh processes.  Kept apart from the kernel cases (it times whole commands, not a
# kernel against its reference), ready to move into its own module.

def _train_once(args, env, folder):
    """Run ``fastsoftmax train ARGS --json`` in a fresh process started in ``folder`` (a
    source checkout in the working folder would shadow the installed package); wall
    seconds, whether it compiled a kernel (its stderr said so), and its test accuracy."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "from fastsoftmax.cli import main; main()",
               "train", *args, "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"fastsoftmax train {' '.join(args)} failed: {done.stderr.strip()}")
    return {"seconds": seconds, "compiled": "compiling" in done.stderr,
            "test_accuracy": json.loads(done.stdout)["test_accuracy"]}


def first_run_timings(rounds=3, cifar=None):
    """Wall time of ``fastsoftmax train`` in fresh processes, first and second run.

    ``cold kernel cache``: no compiled kernel anywhere (``NUMBA_CACHE_DIR`` points to an
    empty folder), the cost of a machine the shipped cache does not fit.  ``first run``:
    the installed package's own kernel cache (compiled by the wheel build) and an empty
    feature cache, as right after ``pip install .``.  ``second run``: the same again,
    every cache warm.  The first/second pairs are repeated ``rounds`` times (medians);
    the cold case runs once.  With ``cifar`` (a CIFAR-10 folder) the first and second
    run on it are measured too.

    Returns
    -------
    dict
        case -> {"seconds", "compiled", "test_accuracy"}; ``seconds`` is a median.
    """
    import tempfile

    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTSOFTMAX_DATA")}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        cold = dict(base, NUMBA_CACHE_DIR=os.path.join(folder, "numba"),
                    FASTSOFTMAX_DATA=os.path.join(folder, "cold"))
        results["digits: cold kernel cache"] = _train_once([], cold, folder)
        cases = [("digits", [])]
        if cifar:
            cases.append(("cifar", ["--data", str(Path(cifar).resolve())]))
        for label, args in cases:
            runs = {"first run": [], "second run": []}
            for r in range(rounds if label == "digits" else 1):
                env = dict(base, FASTSOFTMAX_DATA=os.path.join(folder, f"{label}{r}"))
                runs["first run"].append(_train_once(args, env, folder))
                runs["second run"].append(_train_once(args, env, folder))
            for kind, measured in runs.items():
                results[f"{label}: {kind}"] = {
                    "seconds": statistics.median(m["seconds"] for m in measured),
                    "compiled": any(m["compiled"] for m in measured),
                    "test_accuracy": measured[0]["test_accuracy"],
                }
    return results


def format_first_run(results):
    """The table of :func:`first_run_timings`."""
    lines = ["fastsoftmax train in a fresh process (wall seconds, median)",
             f"{'case':32} {'seconds':>8}  compiled  test accuracy"]
    for case, r in results.items():
        lines.append(f"{case:32} {r['seconds']:8.2f}  {'yes' if r['compiled'] else 'no':8}"
                     f"  {r['test_accuracy']:.4f}")
    return "\n".join(lines)
