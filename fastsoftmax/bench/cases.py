"""The benchmark cases: each pairs a fast path with its reference on the same inputs.

One list, :data:`CASES`, feeds ``fastsoftmax bench``, the CI gate and ``benchmarks/``.
The softmax cases: batch 500, D 512, C 10; the image cases: 32x32 images.
"""
import time
import warnings

import numpy as np
from skimage.color import rgb2gray as sk_rgb2gray
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from fastsoftmax._shared.presets import STUDY_ALPHA, STUDY_LEARNING_RATE, STUDY_PRESET
from fastsoftmax.bench.inputs import (encoder_problem, find_cifar_dev, require, skimage_hog_loop,
                                      softmax_problem, synthetic_images)
from fastsoftmax.bench.learned import setup_kmeans_pipeline
from fastsoftmax.bench.timing import BenchSkip, Case, Pair, run_cases
from fastsoftmax.bench.two_layer import setup_shifted_copies, setup_two_layer_encoder
from fastsoftmax.bench.wide import WIDE_FEATURES, setup_sgd_wide, setup_sgd_wide_torch, torch_sgd
from fastsoftmax.data import load_cifar10
from fastsoftmax.features import hog, rgb2gray
from fastsoftmax.features._encoder_kernels import encode_reference
from fastsoftmax.features._mirror import patch_mirror
from fastsoftmax.features.encoding import encode
from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.model.gradcheck import numerical_gradient, numerical_gradient_reference
from fastsoftmax.model.pca import VariancePCA
from fastsoftmax.model.pipeline import ImagePipeline
from fastsoftmax.model.schedule import plan_batches
from fastsoftmax.softmax import _numba, _numpy, loss_and_gradient

_SOFTMAX_SHAPES = {"tiny": (50, 32, 10), "quick": (500, 512, 10), "full": (500, 512, 10)}


def _setup_softmax_loss_grad(size):
    n, d, c = _SOFTMAX_SHAPES[size]
    X, y, coef, intercept = softmax_problem(n, d, c)

    def fast():
        return loss_and_gradient(coef, intercept, X, y, "l2", STUDY_ALPHA, backend="numba")

    def reference():
        return loss_and_gradient(coef, intercept, X, y, "l2", STUDY_ALPHA, backend="numpy")

    return Pair(fast, reference, info={"shape": f"N={n} D={d} C={c} float32"})


def _setup_softmax_loss_grad_torch(size):
    torch = require("torch")
    pair = _setup_softmax_loss_grad(size)
    n, d, c = _SOFTMAX_SHAPES[size]
    X, y, coef, intercept = softmax_problem(n, d, c)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    Wt = torch.from_numpy(coef.T.copy()).requires_grad_(True)
    bt = torch.from_numpy(intercept.copy()).requires_grad_(True)

    def reference():
        Wt.grad = bt.grad = None
        loss = torch.nn.functional.cross_entropy(Xt @ Wt + bt, yt) + 0.5 * STUDY_ALPHA * (Wt * Wt).sum()
        loss.backward()
        return float(loss.detach()), Wt.grad, bt.grad

    return Pair(pair.fast, reference, reference_label="torch", info=pair.info)


_SGD_SIZES = {  # n_samples, n_features, n_classes, batch, updates
    "tiny": (2_000, 32, 10, 50, 20),
    "quick": (50_000, 512, 10, 500, 100),
    "full": (50_000, 512, 10, 500, 200),
}


def _sgd_inputs(size, updates=None):
    n, d, c, batch, count = _SGD_SIZES[size]
    count = updates or count
    X, y, coef, intercept = softmax_problem(n, d, c)
    indices, starts = plan_batches(np.random.default_rng(1), n, batch, count, "replacement")
    rates = np.full(count, STUDY_LEARNING_RATE)
    return X, y, coef, intercept, indices, starts, rates, count, (n, d, c, batch)


def _sgd_pair(size, updates=None):
    """The study's update (lr 0.01, L2 1.2/500, no momentum, batches drawn with
    replacement), through ``_numba.sgd`` and ``_numpy.sgd`` with the same batches."""
    X, y, coef0, b0, indices, starts, rates, count, (n, d, c, batch) = _sgd_inputs(size, updates)
    X_fast = _numba.training_input(X)  # made once per fit by the classifier

    def fast():
        coef, b = coef0.copy(), b0.copy()
        _numba.sgd(X_fast, y, coef, b, np.zeros_like(coef), np.zeros_like(b), indices, starts,
                   rates, 0.0, STUDY_ALPHA, True, 0.0)
        return coef

    def reference():
        coef, b = coef0.copy(), b0.copy()
        _numpy.sgd(X, y, coef, b, np.zeros_like(coef), np.zeros_like(b), indices, starts, rates,
                   0.0, STUDY_ALPHA, True, 0.0)
        return coef

    info = {"shape": f"X {n}x{d} float32, C={c}, batch {batch}, {count} updates"}
    return Pair(fast, reference, unit="update", fast_units=count, reference_units=count,
                info=info)


def _setup_sgd_step(size):
    return _sgd_pair(size, updates=1)


def _setup_sgd_loop(size):
    return _sgd_pair(size)


def _setup_sgd_loop_torch(size):
    torch = require("torch")
    pair = _sgd_pair(size)
    X, y, coef0, b0, indices, starts, rates, count, (n, d, c, batch) = _sgd_inputs(size)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches = [torch.from_numpy(indices[starts[t]:starts[t + 1]]) for t in range(count)]

    def reference():
        return torch_sgd(torch, Xt, yt, batches, coef0, np.zeros(c, dtype=coef0.dtype),
                         STUDY_ALPHA, STUDY_LEARNING_RATE)

    info = dict(pair.info, torch_threads=torch.get_num_threads())
    return Pair(pair.fast, reference, reference_label="torch", unit="update",
                fast_units=count, reference_units=count, info=info)


def _hog_images(size):
    n = {"tiny": 40, "quick": 500, "full": 10_000}[size]
    images, _ = synthetic_images(n, color=False)
    return images.astype(np.float32) / np.float32(255.0)


def _setup_hog(size):
    gray = _hog_images(size)
    n_ref = min(len(gray), 2_000)  # the scikit-image loop is slow: per image on a subset
    ref_gray = gray[:n_ref]
    return Pair(lambda: hog(gray), lambda: skimage_hog_loop(ref_gray),
                reference_label="skimage loop", unit="image", fast_units=len(gray),
                reference_units=n_ref,
                info={"shape": f"{len(gray)} images 32x32, 9x(4,4)x(2,2) L2-Hys"})


def _setup_hog_opencv(size):
    cv2 = require("cv2")
    if not cv2.__version__.startswith("4."):
        raise BenchSkip(f"needs OpenCV 4.x, found {cv2.__version__}")
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


#: Learned-feature encoder: images encoded, images of the NumPy reference, centroids.
_ENCODER_SIZES = {"tiny": (4, 2, 64), "quick": (32, 8, 1600), "full": (512, 32, 1600)}
_PATCH = 6


def _encoder_flops(n_images, n_centroids):
    """2 x the multiply-adds of the dictionary products (the whitening adds D/K
    of it, not counted): 27 x 27 positions of 6x6x3 patches per 32x32 image."""
    positions = (32 - _PATCH + 1) ** 2
    return 2.0 * n_images * positions * _PATCH * _PATCH * 3 * n_centroids


def _encoder_fast(size):
    n, _, k = _ENCODER_SIZES[size]
    images, mean, matrix, centroids = encoder_problem(n, k, _PATCH)
    flops = _encoder_flops(n, k)
    info = {"shape": f"{n} images 32x32x3, K={k}, 6x6 patches, stride 1",
            "gflop": round(flops / 1e9, 2)}
    return (lambda: encode(images, _PATCH, 1, 10.0, mean, matrix, centroids)), info


def _setup_kmeans_encoder(size):
    fast, info = _encoder_fast(size)
    n, n_ref, k = _ENCODER_SIZES[size]
    images, mean, matrix, centroids = encoder_problem(n, k, _PATCH)
    ref_images = images[:n_ref]

    def reference():
        return encode_reference(ref_images, _PATCH, 1, 10.0, mean, matrix, centroids,
                                dtype=np.float32)

    return Pair(fast, reference, reference_label="numpy float32", unit="image",
                fast_units=n, reference_units=n_ref, info=info)


def _symmetric_encoder(size):
    """The command line's encoder: soft threshold, 3x3 grid and the whole image, square
    roots, mirror fold (K atoms: K / 2 and their mirror images); the fast side and the
    NumPy reference."""
    n, n_ref, k = _ENCODER_SIZES[size]
    images, mean, matrix, atoms = encoder_problem(n, k // 2, _PATCH)
    mirror = patch_mirror(_PATCH, 3)
    matrix = 0.5 * (matrix + matrix[np.ix_(mirror, mirror)])  # commutes, as fitted
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    atoms = np.concatenate([atoms, atoms[:, mirror]])
    settings = dict(encoder="soft-threshold", threshold=0.25, n_regions=3)

    def fast(images=images):
        return encode(images, _PATCH, 1, 10.0, mean, matrix, atoms, power=0.5, mirror=True,
                      pyramid=True, **settings)

    def reference():
        return encode_reference(images[:n_ref], _PATCH, 1, 10.0, mean, matrix, atoms,
                                dtype=np.float32, power=0.5, mirror=True, pyramid=True,
                                **settings)

    info = {"shape": f"{n} images 32x32x3, K={k} ({k // 2} atoms and their mirror images), "
                     "6x6 patches, stride 1, soft threshold, 3x3 grid + whole image, "
                     "mirror fold",
            "gflop": round(_symmetric_flops(n, k) / 1e9, 2)}
    return fast, reference, info


def _symmetric_flops(n_images, n_centroids):
    """The products the symmetric encoder computes: K / 2 atoms' products with the
    patches' mirror-even and -odd halves, half of :func:`_encoder_flops`."""
    return _encoder_flops(n_images, n_centroids) / 2.0


def _setup_kmeans_encoder_symmetric(size):
    fast, reference, info = _symmetric_encoder(size)
    n, n_ref, _ = _ENCODER_SIZES[size]
    return Pair(fast, reference, reference_label="numpy float32", unit="image",
                fast_units=n, reference_units=n_ref, info=info)


def _setup_kmeans_encoder_symmetric_gemm(size):
    fast, _, info = _symmetric_encoder(size)
    n, _, k = _ENCODER_SIZES[size]
    return _gemm_pair(fast, info, _symmetric_flops(n, k))


def _setup_kmeans_encoder_gemm(size):
    """The encoder against a square float32 matmul of the same FLOP count on all BLAS
    threads: the speed-up is the encoder's share of the GEMM peak."""
    fast, info = _encoder_fast(size)
    n, _, k = _ENCODER_SIZES[size]
    return _gemm_pair(fast, info, _encoder_flops(n, k))


def _gemm_pair(fast, info, flops):
    side = max(8, round((flops / 2.0) ** (1.0 / 3.0)))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((side, side), dtype=np.float32)
    b = rng.standard_normal((side, side), dtype=np.float32)
    gemm_flops = 2.0 * side ** 3

    def summarize(fast_out, reference_out):
        return {"gemm_side": side, "flop_ratio": round(gemm_flops / flops, 4)}

    return Pair(fast, lambda: a @ b, reference_label=f"sgemm {side}^3",
                info={**info, "speed-up": "share of the float32 GEMM peak"},
                summarize=summarize)


def _setup_pca(size):
    # quick: 16x16 images (324 HOG features) keep the gate short; full: 32x32 (1,764)
    n, side = {"tiny": 300, "quick": 3_000, "full": 10_000}[size], (32 if size == "full" else 16)
    images, _ = synthetic_images(n, size=side)
    features = hog(rgb2gray(images, dtype=np.float32))

    def fast():
        return VariancePCA(0.95).fit(features).transform(features)  # the pipeline's own PCA

    def reference():
        return PCA(n_components=0.95).fit_transform(features)

    return Pair(fast, reference, reference_label="sklearn PCA default",
                info={"shape": f"{n}x{features.shape[1]} HOG features, 95% variance"})


# quick: D=128 (the reference costs O(N D^2 C^2)); full: D=512
_GRADCHECK_SHAPES = {"tiny": (50, 16, 4), "quick": (500, 128, 10), "full": (500, 512, 10)}


def _setup_gradcheck(size):
    n, d, c = _GRADCHECK_SHAPES[size]
    rng = np.random.default_rng(0)
    args = (0.01 * rng.standard_normal((c, d)), 0.1 * rng.standard_normal(c),
            rng.random((n, d)), rng.integers(0, c, n))
    return Pair(lambda: numerical_gradient(*args), lambda: numerical_gradient_reference(*args),
                info={"shape": f"N={n} D={d} C={c} float64, central differences"})


def _fit_features(size):
    """(X_train, y_train, X_test, y_test, description) for the time-to-accuracy case."""
    if size == "full" and find_cifar_dev() is not None:
        (X, y), (X_test, y_test) = load_cifar10(find_cifar_dev())
        X, y = X[:20_000], y[:20_000]
        pipe = ImagePipeline(pca_variance=0.95)  # the study's HOG of 32x32 images
        return (pipe.fit_features(X), y, pipe.transform(X_test), y_test,
                "CIFAR-10: first 20,000 training images, HOG + PCA 95%; "
                "accuracy on its 10,000 test_batch images")
    n = {"tiny": 600, "quick": 2_000, "full": 20_000}[size]
    images, labels = synthetic_images(n + n // 4, seed=3)
    features = hog(rgb2gray(images, dtype=np.float32))
    pca = PCA(n_components=0.95, svd_solver="covariance_eigh").fit(features[:n])
    projected = pca.transform(features).astype(np.float32)
    return (projected[:n], labels[:n], projected[n:], labels[n:],
            f"synthetic stripe images: {n} train / {n // 4} test, HOG + PCA 95%")


def _setup_fit_vs_lbfgs(size):
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
            (X, y), (X_test, y_test) = load_cifar10(path)
            return X, y, X_test, y_test

        return load, f"CIFAR-10 ({path}), all images", 50_000
    n_train, n_test, updates = {"tiny": (300, 100, 50), "quick": (1_000, 250, 1_000),
                                "full": (10_000, 2_500, 50_000)}[size]
    images, labels = synthetic_images(n_train + n_test, seed=5)

    def load():
        return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]

    return load, f"synthetic stripe images: {n_train} train / {n_test} test", updates


def _setup_pipeline(size):
    load, description, updates = _pipeline_data(size)
    params = dict(STUDY_PRESET, n_iter=updates)

    def fast(data_loader=load, n_iter=updates):
        seconds = {}
        start = time.perf_counter()
        X, y, X_test, y_test = data_loader()
        seconds["load"] = time.perf_counter() - start
        classifier = SoftmaxClassifier(random_state=0, **dict(params, n_iter=n_iter))
        pipe = ImagePipeline(classifier=classifier, pca_variance=0.95).fit(X, y)
        seconds.update(pipe.timings_)
        start = time.perf_counter()
        accuracy = pipe.score(X_test, y_test)
        seconds["evaluate"] = time.perf_counter() - start
        return {"accuracy": accuracy, "seconds": seconds, "n_features": int(pipe.n_features_)}

    def reference():
        def features(images):
            return skimage_hog_loop(np.stack([sk_rgb2gray(image) for image in images]))

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
         "training loop, same plan_batches indices: _numba.sgd vs _numpy.sgd",
         _setup_sgd_loop, {"tiny": 3, "quick": 5, "full": 7}, target=2.5),
    Case("sgd_loop_torch", "sgd_loop",
         "training loop, same batches: _numba.sgd vs PyTorch nn.Linear + cross-entropy + SGD",
         _setup_sgd_loop_torch, {"tiny": 3, "quick": 5, "full": 7}, target=3.0,
         shares_fast_with="sgd_loop"),
    Case("sgd_wide", "sgd_wide", f"training loop at {WIDE_FEATURES:,} learned features (kmeans "
         "classifier settings): _numba.sgd vs _numpy.sgd", setup_sgd_wide,
         {"tiny": 3, "quick": 5, "full": 7}, target=3.0),
    Case("sgd_wide_torch", "sgd_wide", f"training loop at {WIDE_FEATURES:,} features, same batches: "
         "_numba.sgd vs PyTorch nn.Linear + cross-entropy + SGD", setup_sgd_wide_torch,
         {"tiny": 3, "quick": 5, "full": 7}, target=3.0, shares_fast_with="sgd_wide"),
    Case("fit_vs_lbfgs", "fit_vs_lbfgs",
         "time to accuracy: SoftmaxClassifier().fit vs multinomial LogisticRegression (lbfgs)",
         _setup_fit_vs_lbfgs, {"tiny": 3, "quick": 5, "full": 3}, target=5.0),
    Case("hog", "hog", "batch HOG: Numba kernel vs scikit-image's hog, image by image",
         _setup_hog, {"tiny": 3, "quick": 5, "full": 5}, target=80.0),
    Case("hog_opencv", "hog", "batch HOG: Numba kernel vs OpenCV 4.x HOGDescriptor loop",
         _setup_hog_opencv, {"tiny": 3, "quick": 5, "full": 5}, target=2.5,
         shares_fast_with="hog"),
    Case("kmeans_encoder", "kmeans_encoder",
         "learned-feature encoder (K=1600, stride 1): fused Numba + sgemm tiles vs NumPy "
         "float32, image by image", _setup_kmeans_encoder, {"tiny": 3, "quick": 5, "full": 5},
         target=4.0),
    Case("kmeans_encoder_gemm", "kmeans_encoder",
         "learned-feature encoder vs a float32 GEMM of the same FLOPs: its share of the peak",
         _setup_kmeans_encoder_gemm, {"tiny": 3, "quick": 5, "full": 5}, target=0.5,
         shares_fast_with="kmeans_encoder"),
    Case("kmeans_encoder_symmetric", "kmeans_encoder_symmetric",
         "the command line's encoder (K=1600 atoms and mirrors, soft threshold, 3x3 grid + "
         "whole image, mirror fold): fused Numba, products from the patches' mirror halves, "
         "vs NumPy float32, image by image",
         _setup_kmeans_encoder_symmetric, {"tiny": 3, "quick": 5, "full": 5}, target=4.0),
    Case("kmeans_encoder_symmetric_gemm", "kmeans_encoder_symmetric",
         "the command line's encoder vs a float32 GEMM of the FLOPs it computes: its share of "
         "the peak",
         _setup_kmeans_encoder_symmetric_gemm, {"tiny": 3, "quick": 5, "full": 5}, target=0.6,
         shares_fast_with="kmeans_encoder_symmetric"),
    Case("kmeans_two_layer", "kmeans_two_layer",
         "two-layer learned features (--second-layer 1000: the first layer's grid and cells "
         "in one pass, the second layer on the reduced map) vs NumPy float32, image by image",
         setup_two_layer_encoder, {"tiny": 3, "quick": 3, "full": 3}, target=4.0),
    Case("kmeans_shifted_copies", "kmeans_shifted_copies",
         "the features of images and of their 4 copies shifted one cell (--preset large's "
         "prediction): from the images' own cells vs the fused encoder on each copy",
         setup_shifted_copies, {"tiny": 3, "quick": 3, "full": 3}, target=2.0),
    Case("pca", "pca", "PCA 95% fit + transform: the pipeline's vs scikit-learn's default PCA",
         _setup_pca, {"tiny": 3, "quick": 3, "full": 3}),
    Case("gradcheck", "gradcheck",
         "full numerical gradient: Cython kernel vs NumPy finite differences",
         _setup_gradcheck, {"tiny": 3, "quick": 3, "full": 3}, target=30.0),
    Case("pipeline", "pipeline",
         "end to end (load, features, PCA, study SGD, evaluation) vs skimage + sklearn PCA + "
         "numpy SGD", _setup_pipeline, {"tiny": 1, "quick": 2, "full": 3}, target=6.0),
    Case("kmeans_pipeline", "kmeans_pipeline",
         "learned features end to end (ImagePipeline, --features kmeans defaults) vs sklearn "
         "KMeans + NumPy encoder + LogisticRegression", setup_kmeans_pipeline,
         {"tiny": 1, "quick": 3, "full": 1}),
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


def select_cases(only=None):
    """Cases named in ``only`` (all when empty), in registry order; unknown names raise."""
    if not only:
        return list(CASES)
    wanted = {get_case(name).name for name in only}
    return [case for case in CASES if case.name in wanted]


def run(size="quick", only=None, cases=None, progress=None):
    """Measure several cases; returns ``{name: result}`` in registry order."""
    cases = cases if cases is not None else select_cases(only)
    return run_cases(cases, size, progress)


