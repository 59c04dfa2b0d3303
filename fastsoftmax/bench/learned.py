"""The learned-feature pipeline benchmark: ours end to end against the same
recipe assembled from scikit-learn and NumPy.

Fast side: what ``fastsoftmax train --features kmeans`` builds, an
:class:`~fastsoftmax.model.pipeline.ImagePipeline` with
:class:`~fastsoftmax.features.KMeansFeatures`, standardization and
:class:`~fastsoftmax.SoftmaxClassifier` with the defaults of
:data:`fastsoftmax._shared.presets.FEATURE_SETUPS` ``["kmeans"]``, fitted on the training
images and scored on held-out images.

Reference side (:func:`reference_pipeline`): the same patch sample, normalization and
ZCA whitening (the NumPy functions the transformer calls, with the same seed, so both
sides start from the same whitened patches); scikit-learn's
``KMeans(n_init=1, algorithm="lloyd", tol=0)`` with the same iteration limit (``tol=0``
stops only when no assignment changes, as ours does), on the whitened patches and their
mirror images, its centroids scaled to unit norm (scikit-learn has no spherical
k-means); the plain NumPy encoder
:func:`~fastsoftmax.features._encoder_kernels.encode_reference` in float32 (soft
threshold, the same grid and power) on every image and on its mirror image;
``StandardScaler`` and multinomial ``LogisticRegression`` (lbfgs) on both, with
``C = 1 / (alpha n)``, our classifier's objective; predictions average the class
probabilities of each test image and its mirror image.  That is the model our features
give without encoding mirror images (:mod:`fastsoftmax.features._mirror`), built the
way one would from those libraries.  The reference runs with one BLAS
thread or with BLAS's default, whichever encodes a few images faster at setup
(:func:`reference_blas_threads`): on a machine whose cores are busy, BLAS threads can
make the NumPy encoder's many small per-image products slower than one thread does.

The two sides learn different dictionaries (ours closed under the mirror, spherical;
theirs Lloyd's, normalized) and train with different optimizers (SGD against lbfgs to
convergence), so their accuracies agree to a point or two, not exactly.
"""
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from fastsoftmax._shared.presets import FEATURE_SETUPS, KMEANS_CLASSIFIER
from fastsoftmax.bench.inputs import encoder_problem, find_cifar_dev, synthetic_images
from fastsoftmax.bench.timing import Pair
from fastsoftmax.data import load_cifar10
from fastsoftmax.features import make_feature_step
from fastsoftmax.features._encoder_kernels import encode_reference, normalize_patches
from fastsoftmax.features._mirror import patch_mirror
from fastsoftmax.features.learned import sample_patches
from fastsoftmax.features.whitening import zca_whitening
from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.model.pipeline import ImagePipeline

#: Per size: training images, held-out images, centroids K, sampled patches, k-means
#: iterations.  ``full`` keeps the command line's dictionary (K 1,600, 400,000 patches,
#: 15 iterations) on 5,000 training images.
SIZES = {
    "tiny": (600, 400, 32, 5_000, 10),
    "quick": (1_000, 500, 128, 20_000, 15),
    "full": (5_000, 1_000, 1_600, 400_000, 15),
}
SEED = 0


def _data(size):
    """``(X_train, y_train, X_test, y_test, description)``: uint8 colour images."""
    n_train, n_test = SIZES[size][:2]
    if size == "full" and find_cifar_dev() is not None:
        path = find_cifar_dev()
        (X, y), (X_test, y_test) = load_cifar10(path)
        return (X[:n_train], y[:n_train], X_test[:n_test], y_test[:n_test],
                f"CIFAR-10 ({path}): first {n_train:,} training images; accuracy on "
                f"the first {n_test:,} test_batch images")
    images, labels = synthetic_images(n_train + n_test, seed=11)
    return (images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
            f"synthetic stripe images: {n_train:,} train / {n_test:,} held out")


def feature_params(n_centroids, n_patches, max_iter):
    """Every ``KMeansFeatures`` parameter but the seed: the command line's defaults
    (``make_feature_step("kmeans", ...)``) with these three overridden."""
    step = make_feature_step("kmeans", None, n_centroids=n_centroids, n_patches=n_patches,
                             max_iter=max_iter)
    params = step.get_params()
    del params["random_state"]
    return params


def fast_pipeline(X, y, X_test, y_test, params, seed=SEED):
    """Our pipeline as ``fastsoftmax train --features kmeans`` builds it: fitted on
    ``X``, scored on ``X_test``.  Returns accuracy, stage seconds and fitted figures."""
    setup = FEATURE_SETUPS["kmeans"]
    pipe = ImagePipeline(
        classifier=SoftmaxClassifier(random_state=seed, **setup["classifier"]),
        features=make_feature_step("kmeans", X.shape[1:], random_state=seed, **params),
        pca_variance=setup["pca_variance"], standardize=setup["standardize"])
    pipe.fit(X, y)
    seconds = dict(pipe.timings_)
    start = time.perf_counter()
    accuracy = float(pipe.score(X_test, y_test))
    seconds["evaluate"] = time.perf_counter() - start
    return {"accuracy": accuracy, "seconds": seconds, "kmeans_n_iter": pipe.features_.n_iter_,
            "kmeans_inertia": pipe.features_.inertia_, "n_features": int(pipe.n_features_),
            "sgd_n_iter": int(pipe.classifier_.n_iter_)}


def reference_whitened_patches(X, params, rng):
    """The sampled, normalized patches and their ZCA whitening, with the NumPy functions
    ``KMeansFeatures.fit`` uses: ``(white float32 (n, D), mean (D,), matrix (D, D))``."""
    raw = sample_patches(X, params["n_patches"], params["patch_size"], rng)
    patches = normalize_patches(raw, params["norm_eps"])
    mirror = patch_mirror(params["patch_size"], X.shape[3]) if params["mirror"] else None
    mean, matrix = zca_whitening(patches, params["whiten_eps"], mirror)
    return ((patches - mean) @ matrix).astype(np.float32), mean, matrix


def reference_blas_threads(params, n_images=8, repeats=2):
    """``(limit, ms_per_image)``: the BLAS thread limit under which the NumPy encoder is
    faster here, ``1`` or ``None`` (BLAS's default), timed on ``n_images`` random images
    with a random dictionary of ``params``' size; ``ms_per_image`` maps each to its best
    time."""
    images, mean, matrix, centroids = encoder_problem(n_images, params["n_centroids"],
                                                      params["patch_size"])
    best = {1: np.inf, None: np.inf}
    for _ in range(repeats):
        for limit in best:
            with threadpool_limits(limits=limit, user_api="blas"):
                start = time.perf_counter()
                encode_reference(images, params["patch_size"], params["stride"],
                                 params["norm_eps"], mean, matrix, centroids, dtype=np.float32,
                                 encoder=params["encoder"], threshold=params["threshold"],
                                 n_regions=params["pooling"])
                best[limit] = min(best[limit], time.perf_counter() - start)
    limit = min(best, key=best.get)
    return limit, {("1" if k == 1 else "default"): round(v / n_images * 1e3, 2)
                   for k, v in best.items()}


def reference_pipeline(X, y, X_test, y_test, params, alpha, seed=SEED, blas_threads=None):
    """The same recipe from scikit-learn and NumPy (see the module docstring).

    ``params``: :func:`feature_params`; ``alpha``: our classifier's L2 strength;
    ``blas_threads``: BLAS thread limit (None: BLAS's default).  Returns accuracy, stage
    seconds and the fitted figures.
    """
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _reference_pipeline(X, y, X_test, y_test, params, alpha, seed)


def _reference_pipeline(X, y, X_test, y_test, params, alpha, seed):
    seconds = {}
    start = time.perf_counter()
    # the transformer's order of draws: the patches first, from the seeded RandomState
    rng = check_random_state(seed)
    white, mean, matrix = reference_whitened_patches(X, params, rng)
    mirror = patch_mirror(params["patch_size"], X.shape[3])
    kmeans = KMeans(n_clusters=params["n_centroids"], n_init=1, max_iter=params["max_iter"],
                    tol=0.0, algorithm="lloyd", random_state=seed).fit(
                        np.vstack([white, white[:, mirror]]))
    atoms = kmeans.cluster_centers_ / np.linalg.norm(kmeans.cluster_centers_, axis=1,
                                                     keepdims=True)
    seconds["dictionary"] = time.perf_counter() - start

    def encode(images):  # the transformer's encoding, without the fold (free atoms here)
        return encode_reference(images, params["patch_size"], params["stride"],
                                params["norm_eps"], mean, matrix, atoms, dtype=np.float32,
                                encoder=params["encoder"], threshold=params["threshold"],
                                n_regions=params["pooling"], pyramid=params["pyramid"],
                                power=params["power"])

    def with_mirrors(images):
        return np.vstack([encode(images), encode(np.ascontiguousarray(images[:, :, ::-1]))])

    start = time.perf_counter()
    train_features = with_mirrors(X)
    seconds["encode"] = time.perf_counter() - start
    start = time.perf_counter()
    scaler = StandardScaler().fit(train_features)
    train_features = scaler.transform(train_features)
    seconds["standardize"] = time.perf_counter() - start
    start = time.perf_counter()
    classifier = LogisticRegression(C=1.0 / (alpha * len(train_features)), solver="lbfgs",
                                    max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(train_features, np.concatenate([y, y]))
    seconds["train"] = time.perf_counter() - start
    start = time.perf_counter()
    proba = classifier.predict_proba(scaler.transform(with_mirrors(X_test)))
    proba = 0.5 * (proba[:len(y_test)] + proba[len(y_test):])
    accuracy = float(np.mean(classifier.classes_[proba.argmax(axis=1)] == y_test))
    seconds["evaluate"] = time.perf_counter() - start
    return {"accuracy": accuracy, "seconds": seconds, "kmeans_n_iter": int(kmeans.n_iter_),
            "kmeans_inertia": float(kmeans.inertia_) / (2 * len(white)),
            "lbfgs_n_iter": int(np.max(classifier.n_iter_)),
            "n_features": int(train_features.shape[1])}


def summarize(fast_out, reference_out):
    """Both accuracies, their difference, the seconds per stage of each side, the
    iterations of both k-means, their mean squared distance, SGD updates and lbfgs
    iterations."""
    def rounded(stages):
        return {k: round(v, 3) for k, v in stages.items()}

    return {"fast_accuracy": fast_out["accuracy"],
            "reference_accuracy": reference_out["accuracy"],
            "accuracy_difference": fast_out["accuracy"] - reference_out["accuracy"],
            "fast_stage_seconds": rounded(fast_out["seconds"]),
            "reference_stage_seconds": rounded(reference_out["seconds"]),
            "kmeans_n_iter": {"fast": fast_out["kmeans_n_iter"],
                              "sklearn": reference_out["kmeans_n_iter"]},
            "kmeans_inertia": {"fast (spherical)": round(fast_out["kmeans_inertia"], 4),
                               "sklearn (lloyd)": round(reference_out["kmeans_inertia"], 4)},
            "sgd_n_iter": fast_out["sgd_n_iter"], "lbfgs_n_iter": reference_out["lbfgs_n_iter"]}


def setup_kmeans_pipeline(size):
    """The ``kmeans_pipeline`` case: a :class:`~fastsoftmax.bench.Pair` for ``size``."""
    k, n_patches, max_iter = SIZES[size][2:]
    X, y, X_test, y_test, description = _data(size)
    params = feature_params(k, n_patches, max_iter)
    alpha = KMEANS_CLASSIFIER["alpha"]
    blas_threads, probe = reference_blas_threads(params)

    def warmup():  # compiles the k-means, encoder and SGD kernels on a few images
        small = feature_params(8, 500, 2)
        fast_pipeline(X[:40], y[:40], X_test[:10], y_test[:10], small)

    return Pair(lambda: fast_pipeline(X, y, X_test, y_test, params),
                lambda: reference_pipeline(X, y, X_test, y_test, params, alpha,
                                           blas_threads=blas_threads),
                reference_label="sklearn KMeans + numpy encoder + LogisticRegression",
                warmup=warmup, one_call=True, summarize=summarize,
                info={"data": description,
                      "shape": f"{len(y):,} training images, K={k}, {n_patches:,} patches, "
                               f"{max_iter} k-means iterations, {params['patch_size']}x"
                               f"{params['patch_size']} patches, stride {params['stride']}",
                      "fast": "ImagePipeline(KMeansFeatures, standardize, SoftmaxClassifier "
                              "with the --features kmeans defaults)",
                      "reference": "sklearn KMeans on the patches and their mirror images, "
                                   "normalized; NumPy encoder on every image and its mirror "
                                   f"image; LogisticRegression(lbfgs, C=1/(alpha n)), "
                                   f"alpha={alpha:g}; test probabilities averaged over the "
                                   "mirror",
                      "reference_blas_threads": blas_threads or "default",
                      "reference_encoder_ms_per_image": probe})
