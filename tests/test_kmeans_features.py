"""KMeansFeatures (issue 17): the fused encoder against its NumPy reference, known answers,
k-means against its reference, determinism, validation, model-file round trip."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastsoftmax import SoftmaxClassifier
from fastsoftmax.features import KMeansFeatures
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _dictionary_kernels as _kmeans
from fastsoftmax.features.encoding import encode
from fastsoftmax.features.learned import sample_patches
from fastsoftmax.features.whitening import zca_whitening
from fastsoftmax.io.model_file import load_arrays, save_arrays

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-dev" / "cifar-10-batches-py"


def _random_state_arrays(rng, dim, k):
    """A plausible whitening (symmetric positive definite) and dictionary."""
    a = rng.standard_normal((dim, dim))
    matrix = (a @ a.T / dim + np.eye(dim)).astype(np.float32)
    mean = (0.01 * rng.standard_normal(dim)).astype(np.float32)
    centers = (0.8 * rng.standard_normal((k, dim))).astype(np.float32)
    return mean, matrix, centers


def _assert_features_close(fast, ref):
    # relative 1e-5, with a floor at 1e-6 of the largest feature for the near-zero ones
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


# ---------------------------------------------------------------- encoder = reference
@pytest.mark.parametrize("shape, patch_size, stride, k, tile", [
    ((3, 32, 32, 3), 6, 1, 50, 128),      # the paper's geometry, positions 729 = 5 tiles + 89
    ((2, 17, 23, 3), 5, 2, 37, 7),        # odd grid (7 x 10), K not a multiple of the vector width
    ((4, 12, 12, 1), 3, 3, 16, 4),        # grayscale, stride = patch size
    ((1, 9, 9, 2), 9, 1, 5, 128),         # one position: only the top-left quadrant
])
def test_encoder_matches_reference(shape, patch_size, stride, k, tile):
    rng = np.random.default_rng(sum(shape) + k)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    dim = patch_size * patch_size * shape[3]
    mean, matrix, centers = _random_state_arrays(rng, dim, k)
    fast = encode(images, patch_size, stride, 10.0, mean, matrix, centers, tile=tile)
    ref = _encoder.encode_reference(images, patch_size, stride, 10.0, mean, matrix, centers)
    assert fast.dtype == np.float32 and fast.shape == (shape[0], 4 * k)
    _assert_features_close(fast, ref)
    assert (fast >= 0).all()


def test_encoder_matches_reference_with_a_fitted_dictionary():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    images[:20] //= 4  # dark and flat images: small patch variance, norm_eps matters
    model = KMeansFeatures(n_centroids=64, n_patches=4000, max_iter=5, random_state=0).fit(images)
    fast = model.transform(images[:6])
    ref = _encoder.encode_reference(images[:6], 6, 1, 10.0, model.whiten_mean_,
                                    model.whiten_matrix_, model.cluster_centers_)
    _assert_features_close(fast, ref)


def test_image_patches_order_and_normalization():
    image = np.arange(4 * 5 * 2, dtype=np.uint8).reshape(4, 5, 2)
    patches = _encoder.image_patches(image, 2, 1)
    assert patches.shape == (3 * 4, 8)
    # position (1, 2): rows 1..2, columns 2..3, values in (row, column, channel) order
    np.testing.assert_array_equal(patches[1 * 4 + 2], image[1:3, 2:4].reshape(-1))
    norm = _encoder.normalize_patches(patches, 10.0)
    raw = patches[5].astype(np.float64)
    np.testing.assert_allclose(norm[5], (raw - raw.mean()) / np.sqrt(raw.var(ddof=1) + 10.0))


# ---------------------------------------------------------------- known answers
def test_hand_computed_tiny_case():
    """3x3 image, 2x2 patches: all four patches normalize to the same v = [-2,-1,1,2]/s."""
    image = np.array([[0, 10, 20], [30, 40, 50], [60, 70, 80]], dtype=np.uint8)[None, :, :, None]
    s = np.sqrt(1000.0 / 3.0 + 10.0)  # variance (n - 1) of [0, 10, 30, 40] is 1000 / 3
    v = np.array([-20.0, -10.0, 10.0, 20.0]) / s
    centers = np.stack([v, np.zeros(4), 3 * v]).astype(np.float32)
    # z = [0, |v|, 2|v|], mean |v|: f = [|v|, 0, 0] at each position, one position per quadrant
    norm_v = np.sqrt(1000.0) / s
    expected = np.tile([norm_v, 0.0, 0.0], 4)
    args = (image, 2, 1, 10.0, np.zeros(4, np.float32), np.eye(4, dtype=np.float32), centers)
    np.testing.assert_allclose(_encoder.encode_reference(*args)[0], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(encode(*args)[0], expected, rtol=1e-5, atol=1e-6)


def test_a_centroids_patch_lights_that_centroid_in_its_quadrant():
    rng = np.random.default_rng(2)
    train = rng.integers(0, 256, (30, 12, 12, 3), dtype=np.uint8)
    model = KMeansFeatures(n_centroids=20, n_patches=3000, max_iter=5, random_state=0).fit(train)
    k = 20
    # a 12x12 image made of four 6x6 patches; at stride 6 each quadrant holds one of them
    patches = rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)
    image = np.zeros((12, 12, 3), np.uint8)
    for q, (r, c) in enumerate([(0, 0), (0, 6), (6, 0), (6, 6)]):
        image[r:r + 6, c:c + 6] = patches[q]
    white = ((_encoder.normalize_patches(patches.reshape(4, -1), 10.0) - model.whiten_mean_)
             @ model.whiten_matrix_.astype(np.float64))
    centers = model.cluster_centers_.copy()
    lit = [3, 7, 11, 19]  # centroid lit in quadrant q
    centers[lit] = white
    metadata, arrays = model.to_arrays()
    metadata["params"]["stride"] = 6
    arrays["cluster_centers"] = centers
    features = KMeansFeatures.from_arrays(metadata, arrays).transform(image[None])[0].reshape(4, k)
    z = np.linalg.norm(white[:, None, :] - centers[None].astype(np.float64), axis=2)
    for q in range(4):
        assert features[q].argmax() == lit[q]
        # its distance is 0, so its activation is the mean distance of the patch
        np.testing.assert_allclose(features[q, lit[q]], z[q].mean(), rtol=1e-5)
        np.testing.assert_allclose(features[q], np.maximum(z[q].mean() - z[q], 0), rtol=1e-5,
                                   atol=1e-5)


# ---------------------------------------------------------------- k-means
def test_assign_matches_reference():
    rng = np.random.default_rng(3)
    points = rng.standard_normal((1500, 24)).astype(np.float32)
    centers = rng.standard_normal((70, 24)).astype(np.float32)
    labels, sqdist = _kmeans._assign(points, centers)
    ref_labels, ref_sqdist = _kmeans.assign_reference(points, centers)
    d2 = ((points[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(axis=2)
    # labels agree unless two centroids tie within float32 rounding
    second = np.sort(d2, axis=1)[:, 1]
    clear = second - d2.min(axis=1) > 1e-3 * d2.min(axis=1)
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(labels[clear], ref_labels[clear])
    np.testing.assert_allclose(sqdist, ref_sqdist, rtol=1e-4, atol=1e-4)


def test_kmeans_matches_reference_on_separated_blobs():
    rng = np.random.default_rng(4)
    truth = 10 * rng.standard_normal((8, 5))
    points = (truth[rng.integers(0, 8, 4000)] + rng.standard_normal((4000, 5))).astype(np.float32)
    fast = _kmeans.kmeans(points, 8, 100, np.random.RandomState(0))
    ref = _kmeans.kmeans(points, 8, 100, np.random.RandomState(0),
                         assign_fn=_kmeans.assign_reference)
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-5, atol=1e-5)
    assert fast[1] == ref[1] < 100  # converged: assignments stopped changing
    np.testing.assert_allclose(fast[2], ref[2], rtol=1e-4)


def test_empty_clusters_move_to_the_farthest_points():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0], [-40.0, 0.0]], dtype=np.float32)
    sums = np.array([[1.0, 0.0], [0.0, 0.0], [10.0, 50.0]])
    counts = np.array([2, 0, 2])
    sqdist = np.array([0.25, 0.25, 20.0, 900.0])
    centers = _kmeans._new_centers(points, sums, counts, sqdist)
    np.testing.assert_array_equal(centers, [[0.5, 0.0], [-40.0, 0.0], [5.0, 25.0]])


def test_fit_reports_each_kmeans_iteration_through_progress():
    images = np.random.default_rng(5).integers(0, 256, (20, 10, 10, 3), dtype=np.uint8)
    calls = []
    model = KMeansFeatures(patch_size=3, n_centroids=6, n_patches=600, max_iter=4,
                           random_state=0)
    model.fit(images, progress=lambda stage, done, total, **info: calls.append(
        (stage, done, total, info)))
    assert calls == [("dictionary", i, 4, {}) for i in range(model.n_iter_ + 1)]


def test_kmeans_with_duplicate_points_keeps_every_cluster_alive():
    points = np.zeros((300, 3), dtype=np.float32)
    points[:3] = [[5, 0, 0], [0, 5, 0], [0, 0, 5]]
    centers, _, _ = _kmeans.kmeans(points, 4, 10, np.random.RandomState(0))
    assert np.isfinite(centers).all()
    labels, _ = _kmeans.assign_reference(points, centers)
    assert np.bincount(labels, minlength=4).min() >= 1


# ---------------------------------------------------------------- the transformer
def test_fit_learns_whitening_and_dictionary():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    model = KMeansFeatures(patch_size=4, n_centroids=10, n_patches=5000, random_state=0).fit(images)
    assert model.whiten_matrix_.shape == (48, 48) and model.cluster_centers_.shape == (10, 48)
    assert model.n_features_out_ == 40 and model.image_shape_ == (16, 16, 3)
    # the whitening is the ZCA of the sampled, normalized patches: whitened covariance ~ I
    patches = _encoder.normalize_patches(
        sample_patches(images, 5000, 4, np.random.RandomState(0)), 10.0)
    mean, matrix = zca_whitening(patches, 0.1)
    np.testing.assert_allclose(model.whiten_matrix_, matrix, rtol=1e-5, atol=1e-6)
    white = (patches - mean) @ matrix
    cov = np.cov(white, rowvar=False)
    eigvals = np.linalg.eigvalsh(np.cov(patches, rowvar=False))
    np.testing.assert_allclose(np.diag(cov), np.diag(cov).mean(), rtol=0.2)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.05
    assert eigvals.min() > -1e-9
    assert model.transform(images).shape == (20, 40)


@pytest.mark.parametrize("whiten_eps", [0.1, 1.0])
def test_whitening_matrix_is_the_papers_formula(whiten_eps):
    """``V diag(1 / sqrt(lambda + eps)) V^T`` of the sampled patches' covariance, computed
    here from NumPy's eigendecomposition; a larger eps shrinks the small-variance
    directions' gains toward ``1 / sqrt(eps)``."""
    rng = np.random.default_rng(9)
    images = rng.integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)
    model = KMeansFeatures(patch_size=3, n_centroids=6, n_patches=4000, whiten_eps=whiten_eps,
                           random_state=0).fit(images)
    patches = _encoder.normalize_patches(
        sample_patches(images, 4000, 3, np.random.RandomState(0)), 10.0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(patches, rowvar=False))
    expected = (eigvecs / np.sqrt(eigvals + whiten_eps)) @ eigvecs.T
    np.testing.assert_allclose(model.whiten_matrix_, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.whiten_mean_, patches.mean(axis=0), atol=1e-6)


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (15, 10, 10), dtype=np.uint8)  # grayscale (N, H, W)
    params = dict(patch_size=3, n_centroids=12, n_patches=2000, max_iter=20)
    a = KMeansFeatures(random_state=7, **params).fit(images)
    b = KMeansFeatures(random_state=7, **params).fit(images)
    c = KMeansFeatures(random_state=8, **params).fit(images)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.transform(images), b.transform(images))
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)


def test_round_trip_through_a_model_file(tmp_path):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (12, 14, 14, 3), dtype=np.uint8)
    model = KMeansFeatures(patch_size=5, n_centroids=9, n_patches=1000, stride=2,
                           random_state=np.int64(3)).fit(images)
    metadata, arrays = model.to_arrays()
    save_arrays(tmp_path / "m.npz", "KMeansFeatures", {"features": metadata}, arrays)
    loaded_meta, loaded_arrays = load_arrays(tmp_path / "m.npz", "KMeansFeatures")
    loaded = KMeansFeatures.from_arrays(loaded_meta["features"], loaded_arrays)
    assert loaded.get_params() == model.get_params()
    assert (loaded.n_iter_, loaded.inertia_, loaded.image_shape_) == (
        model.n_iter_, model.inertia_, model.image_shape_)
    np.testing.assert_array_equal(loaded.transform(images), model.transform(images))


@pytest.mark.parametrize("edit, match", [
    (lambda m, a: a.pop("whiten_matrix"), "'whiten_matrix' is missing"),
    (lambda m, a: a.update(cluster_centers=a["cluster_centers"][:-1]), "must be float32 of shape"),
    (lambda m, a: a.update(whiten_mean=a["whiten_mean"].astype(np.float64)), "must be float32"),
    (lambda m, a: a["whiten_matrix"].__setitem__((0, 0), np.nan), "non-finite"),
    (lambda m, a: m["params"].update(n_centroids=0), "bad parameter"),
    (lambda m, a: m["params"].update(colour=1), "unknown parameters"),
    (lambda m, a: m.update(image_shape=[3, 32, 3]), "bad image_shape"),
    (lambda m, a: m.update(version=99), "unsupported metadata"),
    (lambda m, a: m.pop("n_iter"), "malformed metadata"),
])
def test_from_arrays_rejects_bad_state(edit, match):
    rng = np.random.default_rng(8)
    model = KMeansFeatures(n_centroids=4, n_patches=200, max_iter=2, random_state=0).fit(
        rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8))
    metadata, arrays = model.to_arrays()
    arrays = {k: v.copy() for k, v in arrays.items()}
    edit(metadata, arrays)
    with pytest.raises(ValueError, match=match):
        KMeansFeatures.from_arrays(metadata, arrays)


@pytest.mark.parametrize("params, error, match", [
    ({"patch_size": 0}, ValueError, "patch_size must be a positive integer"),
    ({"n_centroids": 1.5}, TypeError, "n_centroids must be a positive integer"),
    ({"stride": -1}, ValueError, "stride must be a positive integer"),
    ({"max_iter": True}, TypeError, "max_iter must be a positive integer"),
    ({"n_patches": 10, "n_centroids": 11}, ValueError, r"n_patches \(10\) must be at least"),
    ({"whiten_eps": 0.0}, ValueError, "whiten_eps must be a positive finite number"),
    ({"norm_eps": float("nan")}, ValueError, "norm_eps must be a positive finite number"),
    ({"norm_eps": "10"}, TypeError, "norm_eps must be a positive number"),
    ({"random_state": "seed"}, TypeError, "random_state must be None, an int or a RandomState"),
])
def test_bad_parameters_are_rejected_before_any_work(params, error, match):
    # the images are bad too: the parameters are checked first
    with pytest.raises(error, match=match):
        KMeansFeatures(**params).fit(np.zeros((2, 3), dtype=np.float64))


@pytest.mark.parametrize("images, error, match", [
    (np.zeros((2, 8, 8, 3), np.float32), TypeError, "images must be uint8"),
    (np.zeros((2, 64), np.uint8), ValueError, r"shape \(N, H, W\) or \(N, H, W, C\)"),
    (np.zeros((2, 5, 8, 3), np.uint8), ValueError, "smaller than patch_size=6"),
    (np.zeros((0, 8, 8, 3), np.uint8), ValueError, "at least one image"),
])
def test_bad_images_are_rejected(images, error, match):
    with pytest.raises(error, match=match):
        KMeansFeatures(n_centroids=2, n_patches=10).fit(images)


def test_transform_checks_fit_and_shape():
    model = KMeansFeatures(n_centroids=2, n_patches=10, random_state=0)
    with pytest.raises(NotFittedError):
        model.transform(np.zeros((1, 8, 8, 3), np.uint8))
    model.fit(np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"fitted on \(8, 8, 3\)"):
        model.transform(np.zeros((1, 9, 8, 3), np.uint8))
    assert clone(model).get_params() == model.get_params()
    assert model.get_feature_names_out()[[0, 2, 7]].tolist() == [
        "kmeans_q0_c0", "kmeans_q1_c0", "kmeans_q3_c1"]


def test_pipeline_separates_stripe_orientations():
    """Horizontal vs vertical noisy stripes: learned features + softmax tell them apart."""
    rng = np.random.default_rng(9)
    n = 120
    y = rng.integers(0, 2, n)
    phase = rng.integers(0, 4, n)
    grid = np.arange(16)
    images = np.empty((n, 16, 16, 3), np.uint8)
    for i in range(n):
        line = 200.0 * (((grid + phase[i]) // 2) % 2)
        img = line[:, None] if y[i] == 0 else line[None, :]
        noisy = np.broadcast_to(img, (16, 16))[..., None] + rng.normal(0, 30, (16, 16, 3))
        images[i] = np.clip(noisy, 0, 255)
    pipe = make_pipeline(
        KMeansFeatures(patch_size=4, n_centroids=16, n_patches=5000, random_state=0),
        StandardScaler(), SoftmaxClassifier(epochs=30, random_state=0))
    pipe.fit(images[:80], y[:80])
    assert pipe.score(images[80:], y[80:]) >= 0.95


@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs the CIFAR-10 dev copy in ../shared/data")
def test_cifar10_images_encode_like_the_reference():
    from fastsoftmax.data import load_cifar10

    (x_train, _), _ = load_cifar10(CIFAR)
    model = KMeansFeatures(n_centroids=100, n_patches=20_000, max_iter=10, random_state=0)
    model.fit(x_train[:2000])
    fast = model.transform(x_train[2000:2004])
    ref = _encoder.encode_reference(x_train[2000:2004], 6, 1, 10.0, model.whiten_mean_,
                                    model.whiten_matrix_, model.cluster_centers_)
    _assert_features_close(fast, ref)


def test_normal_init_starts_from_small_normal_vectors():
    """``init="normal"`` (the paper's code): 0.1 x N(0, 1) centroids, then Lloyd steps."""
    rng = np.random.default_rng(7)
    points = rng.standard_normal((500, 6)).astype(np.float32) * 3
    centers, n_iter, _ = _kmeans.kmeans(points, 5, 1, np.random.RandomState(2), init="normal")
    start = (np.random.RandomState(2).standard_normal((5, 6)) * 0.1).astype(np.float32)
    d2 = ((points[:, None, :].astype(np.float64) - start[None]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    expected = np.stack([points[labels == k].mean(axis=0) for k in range(5)])
    assert n_iter == 1 and np.bincount(labels, minlength=5).min() > 0
    np.testing.assert_allclose(centers, expected, rtol=1e-5, atol=1e-6)


def test_kmeans_features_init_is_checked():
    with pytest.raises(ValueError, match=r"^init must be one of normal, points; got 'kmeans\+\+'$"):
        KMeansFeatures(init="kmeans++").fit(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^init must be one of normal, points; got 'x'$"):
        _kmeans.kmeans(np.zeros((4, 2), dtype=np.float32), 2, 1, np.random.RandomState(0),
                       init="x")
