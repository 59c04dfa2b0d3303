"""Learned features that commute with the mirror: the soft-threshold encoder and R x R
pooling against the NumPy reference, the permutation identity on real images, the fold
against explicit flip augmentation, the mirror-closed dictionary against k-means on the
mirror-closed sample, model files old and new."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from fastsoftmax.features import KMeansFeatures
from fastsoftmax.features import _dictionary_kernels as _dictionary
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features._mirror import feature_mirror, fold_mirror, patch_mirror
from fastsoftmax.features.encoding import encode
from fastsoftmax.features.whitening import zca_whitening
from fastsoftmax.io.model_file import load_arrays, save_arrays

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-dev" / "cifar-10-batches-py"


def _digits(n=300):
    digits = load_digits()
    return (digits.images[:n] * 16).clip(0, 255).astype(np.uint8), digits.target[:n]


def _flip(images):
    return np.ascontiguousarray(images[:, :, ::-1])


def _random_state_arrays(rng, dim, k, encoder="soft-threshold"):
    """A plausible whitening and dictionary: unit atoms for the soft threshold,
    centroids at the scale of the whitened patches for the triangle."""
    a = rng.standard_normal((dim, dim))
    matrix = (a @ a.T / dim + np.eye(dim)).astype(np.float32)
    mean = (0.01 * rng.standard_normal(dim)).astype(np.float32)
    atoms = rng.standard_normal((k, dim))
    if encoder == "soft-threshold":
        return mean, matrix, (atoms / np.linalg.norm(atoms, axis=1, keepdims=True)).astype(
            np.float32)
    return mean, matrix, (0.8 * atoms).astype(np.float32)


# ---------------------------------------------------------------- the grid
@pytest.mark.parametrize("n, regions, expected", [
    (27, 3, [0] * 9 + [1] * 9 + [2] * 9),
    (27, 2, [0] * 14 + [1] * 13),          # the paper's quadrants: round(27 / 2) = 14 first
    (7, 3, [0, 0, 1, 1, 1, 2, 2]),         # starts round(7 / 3) = 2, then 7 - 2 = 5
    (23, 3, [0] * 8 + [1] * 7 + [2] * 8),  # 28x28 images, 6x6 patches
    (6, 4, [0, 0, 1, 2, 3, 3]),            # starts 0, 2, 3, 6 - 2 = 4
    (5, 1, [0] * 5),
    (4, 4, [0, 1, 2, 3]),
])
def test_pooling_regions_by_hand(n, regions, expected):
    assert _encoder.pooling_regions(n, regions).tolist() == expected


@pytest.mark.parametrize("n, regions, symmetric", [
    (27, 3, True), (27, 2, False), (27, 1, True), (27, 9, True), (27, 4, False),
    (6, 2, True), (6, 3, True), (6, 4, True), (28, 4, True), (7, 3, True), (7, 2, False),
    (23, 3, True), (23, 5, True)])
def test_which_grids_mirror(n, regions, symmetric):
    assert _encoder.is_mirror_symmetric(_encoder.pooling_regions(n, regions),
                                        regions) is symmetric


def test_a_grid_finer_than_the_positions_leaves_regions_empty():
    assert _encoder.pooling_regions(1, 2).tolist() == [0]   # the paper's: top left only
    # starts 0, 1, 2, then mirrored 4 - 2 = 2, 4 - 1 = 3: region 2 is empty
    assert _encoder.pooling_regions(4, 5).tolist() == [0, 1, 3, 4]
    assert not _encoder.is_mirror_symmetric(_encoder.pooling_regions(1, 2), 2)


# ---------------------------------------------------------------- encoder = reference
@pytest.mark.parametrize("encoder", ["soft-threshold", "triangle"])
@pytest.mark.parametrize("shape, patch_size, stride, k, regions, tile", [
    ((3, 32, 32, 3), 6, 1, 40, 3, 128),     # the default geometry: 27 x 27 in 3 x 3
    ((2, 17, 23, 3), 5, 2, 37, 2, 7),       # a 7 x 10 grid, uneven regions
    ((4, 12, 12, 1), 3, 1, 16, 4, 5),       # grayscale, 10 x 10 in 4 x 4
    ((2, 9, 9, 2), 4, 1, 6, 1, 128),        # one region: the whole image
])
def test_encoder_matches_reference(encoder, shape, patch_size, stride, k, regions, tile):
    rng = np.random.default_rng(sum(shape) + k + regions)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    dim = patch_size * patch_size * shape[3]
    mean, matrix, atoms = _random_state_arrays(rng, dim, k, encoder)
    fast = encode(images, patch_size, stride, 10.0, mean, matrix, atoms, encoder=encoder,
                  threshold=0.25, n_regions=regions, tile=tile)
    ref = _encoder.encode_reference(images, patch_size, stride, 10.0, mean, matrix, atoms,
                                    encoder=encoder, threshold=0.25, n_regions=regions)
    polarities = 2 if encoder == "soft-threshold" else 1
    assert fast.shape == ref.shape == (shape[0], regions * regions * polarities * k)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert (fast >= 0).all() and (fast > 0).mean() > 0.2


@pytest.mark.parametrize("encoder", ["soft-threshold", "triangle"])
def test_encode_with_pyramid_power_and_fold_matches_reference(encoder):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)  # 15 positions a side
    mean, matrix, atoms = _random_state_arrays(rng, 5 * 5 * 3, 12, encoder)
    atoms = np.concatenate([atoms, atoms[:, patch_mirror(5, 3)]])
    settings = dict(encoder=encoder, threshold=0.25, n_regions=3, pyramid=True, power=0.5,
                    mirror=True)
    fast = encode(images, 5, 1, 10.0, mean, matrix, atoms, **settings)
    ref = _encoder.encode_reference(images, 5, 1, 10.0, mean, matrix, atoms, **settings)
    polarities = 2 if encoder == "soft-threshold" else 1
    assert fast.shape == ref.shape == (3, (9 + 1) * polarities * 12)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    # the reference's last block is the whole image: the grid's sums added up
    plain = _encoder.encode_reference(images, 5, 1, 10.0, mean, matrix, atoms,
                                      encoder=encoder, n_regions=3)
    whole = plain.reshape(3, 9, -1).sum(axis=1)
    np.testing.assert_allclose(ref[:, -polarities * 12:],
                               fold_mirror(np.sqrt(whole), 1, polarities, 24), rtol=1e-5)


def _commuting(matrix, patch_size, channels):
    """``matrix`` made to commute with the patch mirror exactly, as a fitted whitening."""
    m = patch_mirror(patch_size, channels)
    return (0.5 * (matrix + matrix[np.ix_(m, m)])).astype(np.float32)


@pytest.mark.parametrize("shape, patch_size, stride, k, regions, tile, power, pyramid", [
    ((3, 32, 32, 3), 6, 1, 40, 3, 729, 0.5, True),    # the command line's geometry
    ((2, 17, 23, 3), 5, 2, 36, 1, 7, 1.0, False),     # odd patch: the mirror fixes a column
    ((4, 12, 12, 1), 3, 1, 16, 5, 11, 0.7, True),     # grayscale, 10 positions in 5 regions
    ((2, 20, 20, 2), 4, 1, 6, 3, 128, 0.5, False),
])
def test_mirror_split_encoder_matches_reference(monkeypatch, shape, patch_size, stride, k,
                                                regions, tile, power, pyramid):
    """With a whitening that commutes with the mirror, the soft threshold's products come
    from the mirror-even and -odd halves of the patches; the features are the
    reference's."""
    rng = np.random.default_rng(sum(shape) + k)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    dim = patch_size * patch_size * shape[3]
    mean, matrix, atoms = _random_state_arrays(rng, dim, k // 2)
    matrix = _commuting(matrix, patch_size, shape[3])
    atoms = np.concatenate([atoms, atoms[:, patch_mirror(patch_size, shape[3])]])
    settings = dict(encoder="soft-threshold", threshold=0.25, n_regions=regions, power=power,
                    pyramid=pyramid, mirror=True)
    ref = _encoder.encode_reference(images, patch_size, stride, 10.0, mean, matrix, atoms,
                                    **settings)

    def refuse(*args):
        raise AssertionError("the products of every atom were computed")

    monkeypatch.setattr(_encoder, "encode_batch", refuse)
    fast = encode(images, patch_size, stride, 10.0, mean, matrix, atoms, tile=tile, **settings)
    assert fast.shape == ref.shape == (shape[0], (regions ** 2 + pyramid) * k)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert (fast > 0).mean() > 0.2


@pytest.mark.parametrize("signed", [False, True])
def test_mirror_split_weights_give_every_atoms_products(signed):
    """``x.W c_b = s + a`` and ``x.W M c_b = s - a`` from the even and odd coordinates,
    with a fixed column (patch 3) and without (patch 4); ``signed``: a mirror that also
    negates the second channel (a second layer's mirror-odd channels)."""
    rng = np.random.default_rng(3)
    for patch_size in (3, 4):
        dim = patch_size * patch_size * 2
        m = patch_mirror(patch_size, 2)
        signs = np.tile([1.0, -1.0 if signed else 1.0], dim // 2)
        mirror = np.zeros((dim, dim))
        mirror[np.arange(dim), m] = signs  # (M x)_i = signs_i x_m(i)
        _, matrix, atoms = _random_state_arrays(rng, dim, 5)
        matrix = 0.5 * (matrix + mirror @ matrix @ mirror.T)
        atoms = np.concatenate([atoms, atoms @ mirror.T]).astype(np.float64)
        (even_first, even_second, even_signs, odd_first, odd_second, odd_signs, even_w,
         odd_w) = _split.mirror_split_weights(matrix, atoms, m, signs)
        n_fixed = patch_size % 2 * patch_size * 2  # values in the middle column
        n_pairs = (dim - n_fixed) // 2
        n_negated = n_fixed // 2 if signed else 0
        assert len(even_first) == n_pairs + n_fixed - n_negated
        assert len(odd_first) == n_pairs + n_negated
        x = rng.standard_normal((7, dim))
        sym = (x[:, even_first] + even_signs * x[:, even_second]) @ even_w
        anti = (x[:, odd_first] - odd_signs * x[:, odd_second]) @ odd_w
        np.testing.assert_allclose(np.hstack([sym + anti, sym - anti]), x @ matrix @ atoms.T,
                                   rtol=1e-5, atol=1e-5)


def test_a_whitening_that_does_not_commute_falls_back_to_every_atoms_products(monkeypatch):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (2, 14, 14, 3), dtype=np.uint8)
    mean, matrix, atoms = _random_state_arrays(rng, 48, 6)
    atoms = np.concatenate([atoms, atoms[:, patch_mirror(4, 3)]])
    matrix = _commuting(matrix, 4, 3)
    matrix[0, 1] += 1e-3  # commutes no longer: the split would be wrong
    settings = dict(encoder="soft-threshold", n_regions=1, mirror=True)
    ref = _encoder.encode_reference(images, 4, 1, 10.0, mean, matrix, atoms, **settings)

    def refuse(*args):
        raise AssertionError("the split products were used")

    monkeypatch.setattr(_split, "encode_batch_mirror_split", refuse)
    fast = encode(images, 4, 1, 10.0, mean, matrix, atoms, **settings)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_soft_threshold_by_hand():
    """One 2x2 grayscale image, patch 2: one position, one region; identity whitening."""
    image = np.array([[[[0], [255]], [[255], [0]]]], dtype=np.uint8)
    atoms = np.array([[1, 0, 0, 0], [0.5, -0.5, -0.5, 0.5]], dtype=np.float32)
    # normalized patch: (x - 127.5) / sqrt(var + eps), var with n - 1 = 3
    x = (np.array([0, 255, 255, 0]) - 127.5) / np.sqrt(255 ** 2 / 3 + 10.0)
    dots = atoms.astype(np.float64) @ x
    expected = np.concatenate([np.maximum(dots - 0.5, 0), np.maximum(-dots - 0.5, 0)])
    fast = encode(image, 2, 1, 10.0, np.zeros(4, np.float32), np.eye(4, dtype=np.float32),
                  atoms, encoder="soft-threshold", threshold=0.5, n_regions=1)
    np.testing.assert_allclose(fast[0], expected, rtol=1e-6, atol=1e-7)
    # both atoms point against the patch: only the negative polarity responds
    assert expected[0] == expected[1] == 0 and expected[2] > 0.3 and expected[3] > 1.2


# ---------------------------------------------------------------- the mirror
def test_patch_mirror_flips_a_patch():
    rng = np.random.default_rng(0)
    patch = rng.integers(0, 256, (4, 4, 3))
    np.testing.assert_array_equal(patch.ravel()[patch_mirror(4, 3)], patch[:, ::-1].ravel())


def test_symmetric_whitening_commutes_with_the_mirror():
    rng = np.random.default_rng(1)
    patches = rng.standard_normal((2000, 27)) @ rng.standard_normal((27, 27))
    m = patch_mirror(3, 3)
    mean, matrix = zca_whitening(patches, 0.1, m)
    white = (patches - mean) @ matrix
    np.testing.assert_allclose(((patches[:, m] - mean) @ matrix), white[:, m], atol=1e-10)
    # it is the whitening of the patches together with their mirror images
    both = np.vstack([patches, patches[:, m]])
    ref_mean, ref_matrix = zca_whitening(both, 0.1)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-12)
    np.testing.assert_allclose(matrix, ref_matrix, atol=1e-8)


def _fitted(images, **params):
    base = dict(patch_size=3, n_centroids=16, n_patches=4000, max_iter=8, mirror=True,
                random_state=0)
    return KMeansFeatures(**{**base, **params}).fit(images)


def _check_identity(model, images):
    """f(flip x) = f(x)[P] on the unfolded features, and the folded ones are equal."""
    images = images[..., None] if images.ndim == 3 else images
    polarities = 2 if model.encoder == "soft-threshold" else 1
    k = model.cluster_centers_.shape[0]
    args = (model.patch_size, model.stride, model.norm_eps, model.whiten_mean_,
            model.whiten_matrix_, model.cluster_centers_)
    kwargs = dict(encoder=model.encoder, threshold=model.threshold, n_regions=model.pooling)
    plain = encode(images, *args, **kwargs)
    flipped = encode(_flip(images), *args, **kwargs)
    permutation = feature_mirror(model.pooling, polarities, k)
    scale = np.abs(plain).max()
    np.testing.assert_allclose(flipped, plain[:, permutation], rtol=1e-4, atol=1e-5 * scale)
    assert not np.allclose(flipped, plain, rtol=1e-3)  # the permutation is not the identity
    folded = model.transform(images)
    np.testing.assert_allclose(model.transform(_flip(images)), folded, rtol=1e-4,
                               atol=1e-5 * folded.max())
    expected = fold_mirror(plain ** np.float32(model.power), model.pooling, polarities, k)
    if model.pyramid:  # the whole image: the grid's sums added up, then the power and fold
        whole = plain.reshape(len(plain), model.pooling ** 2, -1).sum(axis=1)
        expected = np.hstack([expected, fold_mirror(whole ** np.float32(model.power), 1,
                                                    polarities, k)])
    # the soft threshold's transform takes its products from the mirror-split halves,
    # ``plain`` from every atom's: float32 products summed in another order
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-6 * folded.max())


@pytest.mark.parametrize("pyramid", [False, True])
@pytest.mark.parametrize("encoder", ["soft-threshold", "triangle"])
@pytest.mark.parametrize("pooling", [1, 2, 3, 4, 6])
def test_flip_permutes_the_features_of_digits(encoder, pooling, pyramid):
    images, _ = _digits(200)
    model = _fitted(images, encoder=encoder, pooling=pooling, power=0.5, pyramid=pyramid)
    _check_identity(model, images[:40])
    assert model.transform(images[:3]).shape[1] == (pooling ** 2 + pyramid) * (
        2 if encoder == "soft-threshold" else 1) * 8
    assert len(model.get_feature_names_out()) == model.n_features_out_


@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs the CIFAR-10 development copy")
@pytest.mark.parametrize("encoder, pooling, stride", [("soft-threshold", 3, 1),
                                                      ("triangle", 3, 1),
                                                      ("soft-threshold", 1, 2),
                                                      ("soft-threshold", 9, 1)])
def test_flip_permutes_the_features_of_cifar_images(encoder, pooling, stride):
    from fastsoftmax.data import load_cifar10

    (images, _), _ = load_cifar10(CIFAR)
    model = _fitted(images[:2000], patch_size=6, n_centroids=64, n_patches=20_000,
                    encoder=encoder, pooling=pooling, stride=stride, pyramid=True)
    _check_identity(model, images[2000:2024])


def test_an_asymmetric_grid_is_refused_with_mirror():
    images, _ = _digits(50)  # 8x8, patch 2: 7 positions a side (an even grid cannot split)
    with pytest.raises(ValueError, match=r"with mirror, the pooling grid must divide the 7 "
                                         r"patch positions a side symmetrically; pooling=2 "
                                         r"does not \(it can be 1, 3, 5, 7\)"):
        _fitted(images, patch_size=2, pooling=2)
    with pytest.raises(ValueError, match="stride 2 must divide the image width minus the "
                                         r"patch size \(8 - 3\)"):
        _fitted(images, pooling=1, stride=2)
    with pytest.raises(ValueError, match="with mirror, n_centroids is even"):
        _fitted(images, n_centroids=15)
    _fitted(images, patch_size=2, pooling=2, mirror=False)  # without the mirror, any grid


# ---------------------------------------------------------------- the fold = augmentation
def test_the_fold_trains_the_model_of_flip_augmentation_and_averaging():
    """L2-penalized multinomial logistic regression (lbfgs, to convergence) on the folded
    features has the optimum of the same model on every image and its mirror image,
    predicting from the mean of both: the same probabilities and weights."""
    images, y = _digits(400)
    model = _fitted(images, encoder="soft-threshold", pooling=3, power=0.5, n_centroids=12)
    train, test = slice(0, 300), slice(300, 400)
    args = (model.patch_size, model.stride, model.norm_eps, model.whiten_mean_,
            model.whiten_matrix_, model.cluster_centers_)
    kwargs = dict(encoder="soft-threshold", threshold=model.threshold, n_regions=3, power=0.5)
    images = images[..., None]
    full = encode(images, *args, **kwargs).astype(np.float64)
    full_flipped = encode(_flip(images), *args, **kwargs).astype(np.float64)
    folded = model.transform(images).astype(np.float64)
    c = 0.05
    fit = dict(solver="lbfgs", tol=1e-12, max_iter=20_000)
    augmented = LogisticRegression(C=c, **fit).fit(
        np.vstack([full[train], full_flipped[train]]), np.concatenate([y[train], y[train]]))
    averaged = 0.5 * (augmented.predict_proba(full[test])
                      + augmented.predict_proba(full_flipped[test]))
    # the augmented objective sums 2n losses: the same penalty against n losses is C * 2
    reduced = LogisticRegression(C=2 * c, **fit).fit(folded[train], y[train])
    np.testing.assert_allclose(reduced.predict_proba(folded[test]), averaged, atol=2e-5)
    # and the augmented weights are the folded ones, unfolded: w / sqrt(2) on each half
    k = model.cluster_centers_.shape[0]
    unfolded = np.zeros_like(augmented.coef_).reshape(len(augmented.coef_), 3, 3, 2, k)
    w = reduced.coef_.reshape(len(reduced.coef_), 3, 3, 2, k // 2) / np.sqrt(2)
    unfolded[..., :k // 2] = w
    unfolded[:, :, ::-1, :, k // 2:] = w
    np.testing.assert_allclose(augmented.coef_, unfolded.reshape(augmented.coef_.shape),
                               atol=1e-4 * np.abs(augmented.coef_).max())
    # unpenalized, the intercepts are defined up to a common shift
    shift = augmented.intercept_ - augmented.intercept_.mean()
    np.testing.assert_allclose(reduced.intercept_ - reduced.intercept_.mean(), shift,
                               atol=1e-4 * np.abs(shift).max())


# ---------------------------------------------------------------- the dictionary
def test_spherical_assignment_matches_reference():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((3000, 27)).astype(np.float32)
    atoms = rng.standard_normal((40, 27)).astype(np.float32)
    labels, values = _dictionary._assign_spherical(points, atoms)
    ref_labels, ref_values = _dictionary.assign_spherical_reference(points, atoms)
    assert (labels == ref_labels).mean() > 0.999
    same = labels == ref_labels
    np.testing.assert_allclose(values[same], ref_values[same], rtol=1e-4, atol=1e-5)


def _spherical_step_on_the_mirror_closed_sample(points, base, mirror):
    """One update of spherical k-means on the points and their mirror images, the
    dictionary kept mirror-closed: base atom b moves to the normalized sum over both
    of b's points (weighted) and of the mirror images of the mirror atom's points."""
    both = np.vstack([points, points[:, mirror]]).astype(np.float64)
    atoms = np.vstack([base, base[:, mirror]]).astype(np.float64)
    dots = both @ atoms.T
    labels = np.abs(dots).argmax(axis=1)
    values = dots[np.arange(len(both)), labels]
    n_base = len(base)
    sums = np.zeros((2 * n_base, both.shape[1]))
    np.add.at(sums, labels, values[:, None] * both)
    new = sums[:n_base] + sums[n_base:][:, mirror]
    return new / np.linalg.norm(new, axis=1, keepdims=True)


def test_mirror_closed_dictionary_is_kmeans_on_the_mirror_closed_sample():
    rng = np.random.default_rng(2)
    points = rng.standard_normal((4000, 12)).astype(np.float32)
    mirror = patch_mirror(2, 3)
    start = np.random.RandomState(9).standard_normal((10, 12))
    start /= np.linalg.norm(start, axis=1, keepdims=True)
    atoms, n_iter, _ = _dictionary.spherical_kmeans(points, 20, 1, np.random.RandomState(9),
                                                    mirror=mirror)
    assert n_iter == 1
    expected = _spherical_step_on_the_mirror_closed_sample(points, start, mirror)
    np.testing.assert_allclose(atoms[:10], expected, atol=1e-5)
    np.testing.assert_array_equal(atoms[10:], atoms[:10][:, mirror])
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0, rtol=1e-6)


def test_mirror_closed_lloyd_kmeans_is_kmeans_on_the_mirror_closed_sample():
    rng = np.random.default_rng(3)
    points = rng.standard_normal((3000, 12)).astype(np.float32)
    mirror = patch_mirror(2, 3)
    centers, _, _ = _dictionary.kmeans(points, 16, 1, np.random.RandomState(4),
                                       init="normal", mirror=mirror)
    start = (np.random.RandomState(4).standard_normal((8, 12)) * 0.1).astype(np.float32)
    both = np.vstack([points, points[:, mirror]]).astype(np.float64)
    full = np.vstack([start, start[:, mirror]]).astype(np.float64)
    labels = _dictionary.assign_reference(both, full)[0]
    # base atom b: the mean of its points and of the mirror images of its mirror's points
    members = [np.vstack([both[labels == b], both[labels == b + 8][:, mirror]]) for b in range(8)]
    expected = np.array([m.mean(axis=0) for m in members])
    np.testing.assert_allclose(centers[:8], expected, atol=1e-5)
    np.testing.assert_array_equal(centers[8:], centers[:8][:, mirror])


# ---------------------------------------------------------------- model files
def test_symmetric_features_round_trip(tmp_path):
    images, y = _digits(300)
    model = _fitted(images, encoder="soft-threshold", pooling=3, power=0.5, threshold=0.1,
                    pyramid=True)
    metadata, arrays = model.to_arrays()
    save_arrays(tmp_path / "f.npz", "KMeansFeatures", {"features": metadata}, arrays)
    loaded_meta, loaded_arrays = load_arrays(tmp_path / "f.npz", "KMeansFeatures")
    loaded = KMeansFeatures.from_arrays(loaded_meta["features"], loaded_arrays)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.transform(images[:20]), model.transform(images[:20]))
    # and inside a whole pipeline, through the model file
    from fastsoftmax import SoftmaxClassifier, load_model
    from fastsoftmax.model.pipeline import ImagePipeline

    pipe = ImagePipeline(SoftmaxClassifier(n_iter=50, batch_size=50, random_state=0),
                         features=KMeansFeatures(**model.get_params()), pca_variance=None,
                         standardize=True).fit(images[:250], y[:250])
    pipe.save(tmp_path / "pipe.npz")
    again = load_model(tmp_path / "pipe.npz")
    assert again.features_.get_params() == pipe.features_.get_params()
    np.testing.assert_array_equal(again.predict_proba(images[250:]),
                                  pipe.predict_proba(images[250:]))


def test_arrays_written_before_the_new_parameters_load_as_the_papers_recipe():
    images, _ = _digits(200)
    old = KMeansFeatures(patch_size=3, n_centroids=8, n_patches=3000, random_state=0).fit(images)
    metadata, arrays = old.to_arrays()
    for name in ("encoder", "threshold", "pooling", "mirror", "pyramid"):
        del metadata["params"][name]
    loaded = KMeansFeatures.from_arrays(metadata, arrays)
    assert (loaded.encoder, loaded.pooling, loaded.mirror) == ("triangle", 2, False)
    features = loaded.transform(images[:10])
    assert features.shape == (10, 32)
    np.testing.assert_array_equal(features, old.transform(images[:10]))


def test_a_tampered_mirror_dictionary_is_refused():
    images, _ = _digits(200)
    metadata, arrays = _fitted(images).to_arrays()
    arrays = dict(arrays, cluster_centers=arrays["cluster_centers"].copy())
    arrays["cluster_centers"][-1, 0] += 1.0
    with pytest.raises(ValueError, match="KMeansFeatures arrays: with mirror, the second half "
                                         "of 'cluster_centers' must be the mirror images of "
                                         "the first"):
        KMeansFeatures.from_arrays(metadata, arrays)
    metadata, arrays = _fitted(images, patch_size=2, pooling=1).to_arrays()
    metadata["params"]["pooling"] = 2  # 7 positions: no even grid is symmetric
    with pytest.raises(ValueError, match="KMeansFeatures arrays: with mirror, the pooling grid"):
        KMeansFeatures.from_arrays(metadata, arrays)


@pytest.mark.parametrize("params, error, message", [
    ({"encoder": "relu"}, ValueError, "encoder must be one of triangle, soft-threshold; got 'relu'"),
    ({"threshold": -0.1}, ValueError, "threshold must be a finite number >= 0, got -0.1"),
    ({"threshold": float("nan")}, ValueError, "threshold must be a finite number >= 0"),
    ({"pooling": 0}, ValueError, "pooling must be a positive integer, got 0"),
    ({"mirror": "yes"}, TypeError, "mirror must be True or False, got 'yes'"),
    ({"pyramid": 1}, TypeError, "pyramid must be True or False, got 1"),
])
def test_bad_parameters_are_refused(params, error, message):
    images, _ = _digits(20)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        KMeansFeatures(patch_size=3, n_centroids=4, n_patches=100, **params).fit(images)
