"""The second layer of learned features (``KMeansFeatures(second_layer=...)``): the
cell-map kernel and the signed-mirror encoder against the NumPy reference, the mirror
identity on real and synthetic images, model files, the feature weights, and refusals."""
from pathlib import Path

import numpy as np
import pytest

from fastsoftmax.features import KMeansFeatures
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features._mirror import fold_mirror, patch_mirror
from fastsoftmax.features.second_layer import cell_grid, map_mirror
from fastsoftmax.model.scaling import FeatureScaler

CIFAR = Path(__file__).resolve().parents[1].parent / "shared/data/cifar10-dev/cifar-10-batches-py"


def _signed_mirror_matrix(permutation, signs):
    """``M`` with ``(M x)_i = signs_i x_permutation(i)``."""
    matrix = np.zeros((len(permutation), len(permutation)))
    matrix[np.arange(len(permutation)), permutation] = signs
    return matrix


def _symmetric_state(rng, permutation, signs, n_base):
    """A whitening that commutes with the signed mirror exactly, its mean, and unit atoms
    followed by their mirror images."""
    dim = len(permutation)
    mirror = _signed_mirror_matrix(permutation, signs)
    a = rng.standard_normal((dim, dim))
    matrix = (a @ a.T / dim + np.eye(dim)).astype(np.float32)
    matrix = 0.5 * (matrix + (mirror @ matrix @ mirror.T).astype(np.float32))
    mean = (0.01 * rng.standard_normal(dim)).astype(np.float32)
    atoms = rng.standard_normal((n_base, dim))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    atoms = np.concatenate([atoms, atoms @ mirror.T]).astype(np.float32)
    return mean, matrix, atoms


@pytest.mark.parametrize("shape, patch_size, pooling, k, power, pyramid, quadrants", [
    ((3, 32, 32, 3), 6, 3, 12, 0.5, True, True),   # 27 positions: 9 cells of 3
    ((2, 32, 32, 3), 8, 3, 8, 0.5, False, True),   # 25 positions: cells of 3, 3, 2, 3, 3, 3, 2, 3, 3
    ((2, 14, 14, 1), 3, 1, 6, 1.0, True, False),   # 12 positions: 3 cells, one region
    ((2, 14, 14, 1), 3, 1, 6, 0.5, False, False),
])
def test_the_cell_kernel_matches_the_reference(shape, patch_size, pooling, k, power, pyramid,
                                               quadrants):
    """The folded features of the pooling grid (and the quadrants of the cells) and the
    even/odd map of the cells equal the reference's sums over the cells, added into
    regions, raised and folded."""
    rng = np.random.default_rng(sum(shape) + k)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    permutation = patch_mirror(patch_size, shape[3])
    signs = np.ones(len(permutation), np.float32)
    mean, matrix, atoms = _symmetric_state(rng, permutation, signs, k // 2)
    n_positions = shape[1] - patch_size + 1
    cells, cell_regions = cell_grid(n_positions, pooling)
    n_cells = len(cell_regions)
    raw = _encoder.encode_reference(images, patch_size, 1, 10.0, mean, matrix, atoms,
                                    encoder="soft-threshold", n_regions=n_cells)
    raw = raw.reshape(shape[0], n_cells, n_cells, 2, k).astype(np.float64)
    regions = np.zeros((shape[0], pooling, pooling, 2, k))
    for a in range(n_cells):
        for b in range(n_cells):
            regions[:, cell_regions[a], cell_regions[b]] += raw[:, a, b]
    expected = [fold_mirror((regions ** power).reshape(shape[0], -1).astype(np.float32),
                            pooling, 2, k)]
    if pyramid:
        whole = regions.sum(axis=(1, 2)) ** power
        expected.append(fold_mirror(whole.reshape(shape[0], -1).astype(np.float32), 1, 2, k))
    if quadrants:  # cells 0-4 and 4-8 of 9, by hand
        half = (n_cells + 1) // 2
        halves = (slice(0, half), slice(n_cells - half, n_cells))
        quarter = np.stack([raw[:, rows, cols].sum(axis=(1, 2)) for rows in halves
                            for cols in halves], axis=1) ** power
        expected.append(fold_mirror(quarter.reshape(shape[0], -1).astype(np.float32), 2, 2, k))
    expected = np.hstack(expected)
    raised = raw ** power
    half = k // 2
    expected_even = (raised[..., :half] + raised[..., half:]) / np.sqrt(2)
    expected_odd = (raised[..., :half] - raised[..., half:]) / np.sqrt(2)

    split = _split.mirror_split_weights(matrix, atoms, permutation)
    features = np.empty_like(expected)
    even_maps = np.empty((shape[0], n_cells, n_cells, 2, half), np.float32)
    odd_maps = np.empty_like(even_maps)
    _split.encode_batch_cells(images, patch_size, 1, 10.0, mean, *split, 0.25, power, pyramid,
                              quadrants, cells, cells, n_cells, cell_regions, pooling,
                              _encoder.DEFAULT_TILE, features, even_maps, odd_maps)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    for maps, reference in ((even_maps, expected_even), (odd_maps, expected_odd)):
        np.testing.assert_allclose(maps, reference, rtol=1e-5,
                                   atol=1e-6 * np.abs(reference).max())
    assert (np.abs(odd_maps) > 0).mean() > 0.2  # the odd part is not trivially 0


@pytest.mark.parametrize("channels, side, pooling", [(8, 9, 3), (4, 7, 1)])
def test_the_split_encoder_on_float_maps_with_a_signed_mirror_matches_the_reference(
        channels, side, pooling):
    """The second layer's encoder: float32 maps taken as they are (no patch
    normalization), a mirror that reverses the columns and negates the odd channels."""
    rng = np.random.default_rng(channels + side)
    maps = rng.standard_normal((3, side, side, channels)).astype(np.float32)
    permutation, signs = map_mirror(channels)
    mean, matrix, atoms = _symmetric_state(rng, permutation, signs, 10)
    ref = _encoder.encode_reference(maps, 3, 1, 0.0, mean, matrix, atoms,
                                    encoder="soft-threshold", threshold=0.25, n_regions=pooling,
                                    pyramid=True, power=0.5, mirror=True, normalize=False)
    split = _split.mirror_split("soft-threshold", True, 3, channels, matrix, atoms, signs)
    assert split is not None
    regions = _encoder.pooling_regions(side - 2, pooling)
    out = np.empty_like(ref)
    _split.encode_batch_mirror_split(maps, 3, 1, False, 0.0, mean, *split, 0.25, 0.5, True,
                                     regions, regions, pooling, _encoder.DEFAULT_TILE, out)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    # a whitening that commutes with the unsigned mirror only is not split
    a = rng.standard_normal(matrix.shape).astype(np.float32)
    unsigned = 0.5 * (a + a.T + (a + a.T)[np.ix_(permutation, permutation)])
    assert _split.mirror_split("soft-threshold", True, 3, channels, unsigned, atoms) is not None
    assert _split.mirror_split("soft-threshold", True, 3, channels, unsigned, atoms,
                               signs) is None


def test_whitening_with_a_signed_mirror_commutes_with_it_exactly():
    """The second layer's whitening: that of the neighbourhoods together with their
    mirror images (columns reversed, odd channels negated), commuting with that mirror
    exactly in float32 too; its eps a fraction of the largest eigenvalue."""
    from fastsoftmax.features.whitening import zca_whitening

    rng = np.random.default_rng(5)
    permutation, signs = map_mirror(4)
    patches = rng.standard_normal((3000, 36)) @ rng.standard_normal((36, 36)) + 0.3
    mean, matrix = zca_whitening(patches, 0.01, permutation, signs, relative_eps=True)
    mirrored = patches[:, permutation] * signs
    both = np.vstack([patches, mirrored])
    largest = np.linalg.eigvalsh(np.cov(both, rowvar=False)).max()
    ref_mean, ref_matrix = zca_whitening(both, 0.01 * largest)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-12)
    np.testing.assert_allclose(matrix, ref_matrix, rtol=1e-7, atol=1e-9 * np.abs(ref_matrix).max())
    white = (patches - mean) @ matrix
    np.testing.assert_allclose((mirrored - mean) @ matrix, white[:, permutation] * signs,
                               atol=1e-9 * np.abs(white).max())
    single = matrix.astype(np.float32)
    assert np.array_equal(single[np.ix_(permutation, permutation)] * np.outer(signs, signs),
                          single)
    # float32 patches (the second layer's): the same whitening to float32's precision
    mean32, matrix32 = zca_whitening(patches.astype(np.float32), 0.01, permutation, signs,
                                     relative_eps=True)
    assert mean32.dtype == matrix32.dtype == np.float64
    np.testing.assert_allclose(mean32, mean, atol=1e-6)
    np.testing.assert_allclose(matrix32, matrix, rtol=1e-4, atol=1e-5 * np.abs(matrix).max())
    assert np.array_equal(matrix32[np.ix_(permutation, permutation)] * np.outer(signs, signs),
                          matrix32)


def test_the_map_mirror_reverses_the_columns_and_negates_the_odd_channels():
    permutation, signs = map_mirror(6)
    values = np.arange(54.0).reshape(3, 3, 6) + 1
    expected = values[:, ::-1] * np.r_[np.ones(3), -np.ones(3)]
    np.testing.assert_array_equal(values.ravel()[permutation] * signs, expected.ravel())
    np.testing.assert_array_equal(values[:, ::-1] * signs.reshape(3, 3, 6), expected)


def _two_layer_model(**params):
    settings = dict(patch_size=6, n_centroids=40, n_patches=5000, whiten_eps=1.0, power=0.5,
                    encoder="soft-threshold", pooling=3, mirror=True, pyramid=True,
                    max_iter=3, second_layer=20, second_layer_channels=8, random_state=0)
    return KMeansFeatures(**{**settings, **params})


def _smooth_images(n, seed=0):
    """Random images with structure at several scales (uint8, 32x32x3)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, 3))
    images = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    images += rng.normal(0, 30, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def _check_mirror_identity(model, images):
    features = model.transform(images)
    mirrored = model.transform(np.ascontiguousarray(images[:, :, ::-1]))
    n_second = model.second_layer_.n_features
    assert np.abs(features[:, -n_second:]).max() > 0
    np.testing.assert_allclose(mirrored, features, rtol=1e-5,
                               atol=1e-5 * np.abs(features).max())


def test_two_layer_features_are_the_same_for_a_mirrored_image():
    images = _smooth_images(300)
    model = _two_layer_model().fit(images)
    assert model.n_features_out_ == 10 * 40 + 10 * 20
    assert len(model.get_feature_names_out()) == model.n_features_out_
    assert model.get_feature_names_out()[400] == "kmeans2_r0_c0_pos0"
    _check_mirror_identity(model, images[:12])
    # with the quadrants: four regions more of the first layer, after the whole image
    quadrants = _two_layer_model(quadrants=True).fit(images)
    assert quadrants.n_features_out_ == 14 * 40 + 10 * 20
    names = quadrants.get_feature_names_out()
    assert len(names) == quadrants.n_features_out_ and names[400] == "kmeans_quadrant00_pos0"
    assert names[559] == "kmeans_quadrant11_neg19" and names[560] == "kmeans2_r0_c0_pos0"
    _check_mirror_identity(quadrants, images[:12])
    np.testing.assert_array_equal(quadrants.transform(images[:12])[:, :400],
                                  model.transform(images[:12])[:, :400])
    # the first layer's features are those of the same first layer alone
    single = _two_layer_model(second_layer=0).fit(images)
    np.testing.assert_allclose(model.transform(images[:12])[:, :400], single.transform(images[:12]),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs the CIFAR-10 development copy")
def test_two_layer_features_of_cifar_images_are_the_same_for_their_mirror_images():
    from fastsoftmax.data import load_cifar10

    (images, _), _ = load_cifar10(CIFAR)
    model = _two_layer_model(n_centroids=64, n_patches=20_000, second_layer=40,
                             second_layer_channels=16).fit(images[:1500])
    _check_mirror_identity(model, images[1500:1520])
    # 8x8 patches: 25 positions, cells of unequal sizes; the quadrants
    model = _two_layer_model(patch_size=8, n_centroids=32, n_patches=20_000,
                             quadrants=True).fit(images[:800])
    _check_mirror_identity(model, images[1500:1510])


@pytest.mark.parametrize("patch_size, quadrants", [(6, False), (6, True), (8, True)])
def test_two_layer_features_match_the_numpy_reference(patch_size, quadrants, monkeypatch):
    from fastsoftmax.features import second_layer
    from fastsoftmax.features.second_layer import encode_two_layers, encode_two_layers_reference

    images = _smooth_images(200, seed=3)
    model = _two_layer_model(patch_size=patch_size, quadrants=quadrants).fit(images)
    fast = encode_two_layers(model, model.second_layer_, images[:6])
    ref = encode_two_layers_reference(model, model.second_layer_, images[:6])
    assert fast.shape == ref.shape == (6, model.n_features_out_)
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_array_equal(model.transform(images[:6]), fast)
    # batches of 4 share their buffers, the last one partly filled
    monkeypatch.setattr(second_layer, "_BATCH", 4)
    np.testing.assert_array_equal(encode_two_layers(model, model.second_layer_, images[:6]),
                                  fast)


@pytest.mark.parametrize("n_images", [1, 4, 9])
def test_the_map_reduction_kernel_matches_numpy(n_images):
    # 81, 324 and 729 cells: one block of rows, exactly one, and a part-filled last block
    from fastsoftmax.features.second_layer import SecondLayer

    rng = np.random.default_rng(n_images)
    layer = SecondLayer(n_atoms=4, n_channels=16, threshold=0.25, power=0.5, n_regions=3)
    even_maps = rng.random((n_images, 9, 9, 2, 12), dtype=np.float32)
    odd_maps = rng.standard_normal((n_images, 9, 9, 2, 12)).astype(np.float32)
    layer.fit_channels(even_maps, odd_maps)
    expected = np.concatenate(
        [(even_maps.reshape(-1, 24).astype(np.float64) - layer.even_mean_)
         @ layer.even_components_, odd_maps.reshape(-1, 24) @ layer.odd_components_.astype(
             np.float64)], axis=1).reshape(n_images, 9, 9, 16)
    for reduced in (layer.reduce(even_maps, odd_maps),
                    layer.reduce_reference(even_maps, odd_maps)):
        assert reduced.dtype == np.float32
        np.testing.assert_allclose(reduced, expected, rtol=1e-4, atol=1e-5)
    # the even part is centred: its channels average 0 over the cells it was fitted on
    np.testing.assert_allclose(layer.reduce(even_maps, odd_maps)[..., :8].mean(axis=(0, 1, 2)),
                               0, atol=1e-5)


def test_two_layer_arrays_round_trip_and_tampering_is_refused():
    images = _smooth_images(200, seed=1)
    model = _two_layer_model(quadrants=True).fit(images)
    metadata, arrays = model.to_arrays()
    assert metadata["params"]["quadrants"] is True
    loaded = KMeansFeatures.from_arrays(metadata, arrays)
    np.testing.assert_array_equal(loaded.transform(images[:5]), model.transform(images[:5]))
    np.testing.assert_array_equal(loaded.feature_weights_, model.feature_weights_)
    # a file written before the quadrants existed has no such parameter: none
    older = {**metadata, "params": {k: v for k, v in metadata["params"].items()
                                    if k != "quadrants"}}
    assert KMeansFeatures.from_arrays(older, arrays).n_features_out_ == 10 * 40 + 10 * 20

    def refused(name, change, message):
        changed = dict(arrays)
        changed[name] = change(arrays[name].copy())
        with pytest.raises(ValueError, match=message):
            KMeansFeatures.from_arrays(metadata, changed)

    def bump(a):
        a.flat[-1] += 0.5
        return a

    refused("second_layer_atoms", bump,
            "KMeansFeatures arrays: second layer: the second half of 'atoms' must be the "
            "mirror images of the first")
    refused("second_layer_whiten_matrix", lambda a: bump(a.T.copy()),
            "KMeansFeatures arrays: the second layer's whitening does not commute with its "
            "mirror")
    refused("second_layer_even_components", lambda a: a[:, :-1].copy(),
            r"KMeansFeatures arrays: second layer: 'even_components' must be float32 of "
            r"shape \(40, 4\), got float32 \(40, 3\)")
    refused("second_layer_even_mean", lambda a: a + np.float32(np.inf),
            "KMeansFeatures arrays: second layer: 'even_mean' holds non-finite values")
    missing = {k: v for k, v in arrays.items() if k != "second_layer_odd_components"}
    with pytest.raises(ValueError, match="second layer: 'odd_components' is missing"):
        KMeansFeatures.from_arrays(metadata, missing)


def test_the_second_layers_weight_scales_its_standardized_features(tmp_path):
    from fastsoftmax import SoftmaxClassifier
    from fastsoftmax.model.pipeline import ImagePipeline

    images = _smooth_images(240, seed=2)
    y = np.arange(240) % 3
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, batch_size=40, random_state=0),
                         features=_two_layer_model(second_layer_weight=0.25),
                         pca_variance=None, standardize=True).fit(images, y)
    features = pipe.features_.transform(images)
    std = features.std(axis=0)
    expected = np.where(std > 0, std, 1.0) / pipe.features_.feature_weights_
    np.testing.assert_allclose(pipe.scaler_.scale_, expected, rtol=1e-4)
    assert pipe.features_.feature_weights_[-1] == np.float32(0.25)
    assert pipe.features_.feature_weights_[0] == 1.0
    # the model file keeps the second layer and the weighted scales
    from fastsoftmax import load_model

    pipe.save(tmp_path / "pipe.npz")
    again = load_model(tmp_path / "pipe.npz")
    np.testing.assert_array_equal(again.predict_proba(images[:30]), pipe.predict_proba(images[:30]))
    scaled = FeatureScaler().fit(features, feature_weights=pipe.features_.feature_weights_)
    np.testing.assert_allclose(scaled.transform(features)[:, -200:].std(axis=0)[std[-200:] > 0],
                               0.25, rtol=1e-3)
    with pytest.raises(ValueError, match="feature_weights must be 600 positive values"):
        FeatureScaler().fit(features, feature_weights=np.zeros(600))


@pytest.mark.parametrize("params, message", [
    ({"second_layer": 7}, "second_layer must be 0 \\(none\\) or an even number of atoms, got 7"),
    ({"second_layer": -2}, "second_layer must be 0 \\(none\\) or an even number of atoms"),
    ({"second_layer_channels": 5}, "second_layer_channels must be even, got 5"),
    ({"second_layer_weight": 0.0}, "second_layer_weight must be a positive finite number"),
    ({"second_layer_channels": 82}, "second_layer_channels \\(82\\) must be at most twice "
                                    "n_centroids \\(40\\)"),
    ({"mirror": False}, "a second layer needs encoder='soft-threshold' and mirror=True"),
    ({"encoder": "triangle"}, "a second layer needs encoder='soft-threshold' and mirror=True"),
    ({"second_layer": 0, "quadrants": True},
     "quadrants needs a second layer: they are sums of its cells"),
])
def test_bad_second_layer_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        _two_layer_model(**params).fit(_smooth_images(20))


def test_too_few_patch_positions_for_the_cells_are_refused():
    images = _smooth_images(20)[:, :12, :12]  # 7 positions of 6x6 patches, 9 cells needed
    with pytest.raises(ValueError, match="a second layer needs at least 9 patch positions a "
                                         "side \\(pooling 3\\), got 7"):
        _two_layer_model().fit(images)


def test_the_cells_nest_in_the_pooling_regions():
    """Each pooling region is the union of its three cells a side, for every count of
    positions (the kernel adds the cells' sums into the regions)."""
    for n_regions in (1, 2, 3, 4, 5):
        for n_positions in range(3 * n_regions, 60):
            cells, cell_regions = cell_grid(n_positions, n_regions)
            np.testing.assert_array_equal(cell_regions[cells],
                                          _encoder.pooling_regions(n_positions, n_regions))
            assert np.bincount(cells, minlength=3 * n_regions).min() >= 1
    cells, cell_regions = cell_grid(25, 3)
    assert np.bincount(cells).tolist() == [3, 3, 2, 3, 3, 3, 2, 3, 3]
    assert cell_regions.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_the_pictures_of_a_two_layer_model_draw_its_first_layer():
    """The dictionary pictures take the classifier's weights on the first layer's
    features only: the same as a model whose second-layer weights are cut off."""
    from fastsoftmax import SoftmaxClassifier
    from fastsoftmax.model.pipeline import ImagePipeline
    from fastsoftmax.plots.model_pictures import _region_weights, input_weights

    images = _smooth_images(200, seed=4)
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, batch_size=40, random_state=0),
                         features=_two_layer_model(), pca_variance=None,
                         standardize=True).fit(images, np.arange(200) % 4)
    weights = _region_weights(pipe)
    assert weights.shape == (4, 10, 2 * 40)
    first = input_weights(pipe)[:, :400]
    # the whole image's weights: unfolded, w / sqrt(2) on an atom and on its mirror atom
    np.testing.assert_allclose(weights[:, 9, :20], first[:, 360:380] / np.sqrt(2))
    np.testing.assert_allclose(weights[:, 9, 20:40], first[:, 360:380] / np.sqrt(2))
    # the quadrants follow the whole image; the top-left quadrant's base atoms share its
    # weights with their mirror atoms in the top-right one
    pipe = ImagePipeline(SoftmaxClassifier(n_iter=20, batch_size=40, random_state=0),
                         features=_two_layer_model(quadrants=True), pca_variance=None,
                         standardize=True).fit(images, np.arange(200) % 4)
    from fastsoftmax.plots.model_pictures import pooled_region_names

    weights, first = _region_weights(pipe), input_weights(pipe)[:, :560]
    assert weights.shape == (4, 14, 2 * 40)
    assert pooled_region_names(pipe.features_)[10:] == (
        "top left quadrant", "top right quadrant", "bottom left quadrant",
        "bottom right quadrant")
    np.testing.assert_allclose(weights[:, 10, :20], first[:, 400:420] / np.sqrt(2))
    np.testing.assert_allclose(weights[:, 11, 20:40], first[:, 400:420] / np.sqrt(2))
