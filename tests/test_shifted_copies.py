"""The learned features of shifted copies made from the image's own cells
(:mod:`fastsoftmax.features.shifted_copies`): equal to the copies encoded one by one
(one and two layers, quadrants, grayscale, real images), the kernels against their NumPy
references, when the cells move with the shift and when they do not, and the pipeline's
prediction through them."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fastsoftmax.features import KMeansFeatures
from fastsoftmax.features import _encoder_kernels as _encoder
from fastsoftmax.features import _split_encoder_kernels as _split
from fastsoftmax.features import shifted_copies
from fastsoftmax.features.second_layer import cell_maps, first_layer_from_cells
from fastsoftmax.features.shifted_copies import (SHIFT_DIRECTIONS, cells_move_with_shift,
                                                 encode_shifted, shift_images)

CIFAR = Path(__file__).resolve().parents[1].parent / "shared/data/cifar10-dev/cifar-10-batches-py"


def _model(**params):
    settings = dict(patch_size=6, n_centroids=40, n_patches=5000, whiten_eps=1.0, power=0.5,
                    encoder="soft-threshold", pooling=3, mirror=True, pyramid=True,
                    max_iter=3, random_state=0)
    return KMeansFeatures(**{**settings, **params})


def _smooth_images(n, seed=0, channels=3):
    """Random images with structure at several scales (uint8, 32x32[xC])."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, channels))
    images = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    images += rng.normal(0, 30, images.shape)
    images = np.clip(images, 0, 255).astype(np.uint8)
    return images if channels > 1 else images[..., 0]


def _check_copies(model, images, shift=3):
    """The features of the images and of their four shifted copies equal those of each
    copy encoded, to float rounding."""
    copies = [images] + [shift_images(images, dy * shift, dx * shift)
                         for dy, dx in SHIFT_DIRECTIONS]
    found = model.transform_shifted(images, shift)
    assert len(found) == 5
    for features, copy in zip(found, copies):
        expected = model.transform(copy)
        assert features.shape == expected.shape and features.dtype == np.float32
        np.testing.assert_allclose(features, expected, rtol=1e-5,
                                   atol=1e-6 * np.abs(expected).max())
    # the copies differ from the image (a test that cannot pass by returning it)
    for features in found[1:]:
        assert not np.allclose(features, found[0], rtol=1e-3)
    return found


@pytest.mark.parametrize("params", [
    {},                                                   # the defaults' features
    {"pyramid": False},
    {"second_layer": 20, "second_layer_channels": 8},     # two layers
    {"second_layer": 20, "second_layer_channels": 8, "quadrants": True},
])
def test_the_copies_features_equal_the_copies_encoded(params, monkeypatch):
    images = _smooth_images(300)
    model = _model(**params).fit(images)
    assert cells_move_with_shift(model, 3)
    found = _check_copies(model, images[:10])
    # batches of 4 share their buffers, the last one partly filled
    monkeypatch.setattr(shifted_copies, "_BATCH", 4)
    for again, first in zip(model.transform_shifted(images[:10], 3), found):
        np.testing.assert_array_equal(again, first)


def test_the_copies_of_grayscale_images():
    images = _smooth_images(300, channels=1)
    model = _model(second_layer=20, second_layer_channels=8).fit(images)
    _check_copies(model, images[:6])


@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs the CIFAR-10 development copy")
def test_the_copies_of_cifar_images():
    from fastsoftmax.data import load_cifar10

    (images, _), _ = load_cifar10(CIFAR)
    model = _model(n_centroids=64, n_patches=20_000, second_layer=40, second_layer_channels=16,
                   quadrants=True).fit(images[:1500])
    _check_copies(model, images[1500:1520])


@pytest.mark.parametrize("params, shift, moves", [
    ({}, 3, True),
    ({}, 2, False),                          # cells of 3 positions: a copy moves by less
    ({}, 6, False),                          # two cells
    ({"encoder": "triangle", "mirror": False}, 3, False),   # no split products
    ({"mirror": False}, 3, False),
    ({"stride": 2, "pooling": 2}, 3, False),
    ({"patch_size": 8}, 3, False),           # 25 positions: cells of unequal sizes
    ({"patch_size": 8}, 2, False),
])
def test_cells_move_only_with_a_shift_of_one_cell(params, shift, moves):
    images = _smooth_images(200, seed=1)
    model = _model(**params).fit(images)
    assert cells_move_with_shift(model, shift) is moves
    if not moves:  # each copy encoded: the same as encoding it
        copies = [images[:4]] + [shift_images(images[:4], dy * shift, dx * shift)
                                 for dy, dx in SHIFT_DIRECTIONS]
        for features, copy in zip(model.transform_shifted(images[:4], shift), copies):
            np.testing.assert_array_equal(features, model.transform(copy))


def test_transform_shifted_reports_progress_over_the_images_and_their_copies():
    images = _smooth_images(200, seed=2)
    model = _model().fit(images)
    for shift in (3, 2):  # from the cells, and each copy encoded
        calls = []
        model.transform_shifted(images[:70], shift, progress=lambda stage, done, total, **_:
                                calls.append((stage, done, total)))
        assert calls[0] == ("features", 0, 350) and calls[-1] == ("features", 350, 350)
        assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


def test_transform_shifted_refuses_images_of_another_shape():
    model = _model().fit(_smooth_images(200))
    with pytest.raises(ValueError, match=r"X has images of shape \(28, 28, 3\); this "
                                         r"transformer was fitted on \(32, 32, 3\)"):
        model.transform_shifted(_smooth_images(3)[:, :28, :28], 3)


# ---------------------------------------------------------------- kernels
def _random_state(rng, n_base, dim):
    """A whitening commuting with the mirror of 6x6x3 patches and a mirror-closed
    dictionary's split products."""
    from fastsoftmax.features._mirror import patch_mirror

    permutation = patch_mirror(6, 3)
    a = rng.standard_normal((dim, dim)).astype(np.float32)
    symmetric = a + a.T
    matrix = ((symmetric + symmetric[np.ix_(permutation, permutation)]) / 40).astype(np.float32)
    base = rng.standard_normal((n_base, dim)).astype(np.float32)
    atoms = np.concatenate([base, base[:, permutation]])
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    mean = rng.normal(0, 0.1, dim).astype(np.float32)
    return mean, matrix, atoms, _split.mirror_split_weights(matrix, atoms, permutation)


@pytest.mark.parametrize("rows, cols", [(9, 9), (1, 9), (9, 1), (27, 27)])
def test_the_region_sums_kernel_matches_the_reference(rows, cols):
    """Raw sums over cells (a square grid, a row or a column of them, every position)
    against encode_reference's."""
    rng = np.random.default_rng(rows * 31 + cols)
    mean, matrix, atoms, split = _random_state(rng, 6, 108)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    # a strip of one row (column) of cells: the 8 rows (columns) of pixels of its patches
    height, width = (32 if rows > 1 else 8), (32 if cols > 1 else 8)
    row_regions = _encoder.pooling_regions(height - 5, rows)
    col_regions = _encoder.pooling_regions(width - 5, cols)
    out = np.empty((3, rows * cols * 2, 12), np.float32)
    _split.encode_batch_region_sums(np.ascontiguousarray(images[:, :height, :width]), 6, 1,
                                    True, 10.0, mean, *split, 0.25, row_regions, col_regions,
                                    cols, _encoder.DEFAULT_TILE, out)
    # the reference's codes at every position of the whole images, summed by hand
    codes = _encoder.encode_reference(images, 6, 1, 10.0, mean, matrix, atoms,
                                      encoder="soft-threshold", threshold=0.25, n_regions=27)
    codes = codes.reshape(3, 27, 27, 2, 12)
    expected = np.zeros((3, rows, cols, 2, 12))
    for r, region_row in enumerate(row_regions):
        for c, region_col in enumerate(col_regions):
            expected[:, region_row, region_col] += codes[:, r, c]
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


def _moved_by_hand(cells, border, axis, forward):
    """The copy's cells: the image's moved by one along ``axis`` (1, 2), ``border`` the
    new first (``forward``) or last row or column."""
    border = np.expand_dims(border, axis)
    if axis == 1:
        return np.concatenate([border, cells[:, :-1]] if forward else [cells[:, 1:], border],
                              axis=1)
    return np.concatenate([border, cells[:, :, :-1]] if forward else [cells[:, :, 1:], border],
                          axis=2)


@pytest.mark.parametrize("pyramid, quadrants", [(True, True), (True, False), (False, False)])
def test_the_copies_kernel_matches_the_reference(pyramid, quadrants):
    """finish_copies against first_layer_from_cells of the cells moved by hand, and
    raised_cell_maps against cell_maps."""
    rng = np.random.default_rng(7)
    n, side, k = 3, 9, 10
    sums = rng.uniform(0, 5, (n, side, side, 2, k)).astype(np.float32)
    borders = rng.uniform(0, 5, (n, 4, side, 2, k)).astype(np.float32)
    layer = SimpleNamespace(power=0.5, pyramid=pyramid, quadrants=quadrants)
    width = (9 + pyramid + 4 * quadrants) * k
    out = np.zeros((5, n + 2, width + 3), np.float32)
    axes = np.array([1, 1, 2, 2])
    forwards = np.array([True, False, True, False])
    _split.finish_copies(sums.reshape(n, -1, k), borders.reshape(n, 4, -1, k), axes, forwards,
                         side, np.arange(side) // 3, 3, 0.5, pyramid, quadrants, out, 1, 3)
    expected = [first_layer_from_cells(layer, sums.astype(np.float64))]
    for c in range(4):
        moved = _moved_by_hand(sums, borders[:, c], axes[c], forwards[c])
        expected.append(first_layer_from_cells(layer, moved.astype(np.float64)))
    for found, reference in zip(out, expected):
        np.testing.assert_allclose(found[1:n + 1, 3:], reference, rtol=1e-5)
        assert not found[0].any() and not found[n + 1].any() and not found[:, :3].any()
    even = np.empty((n, side * side, 2, k // 2), np.float32)
    odd = np.empty_like(even)
    _split.raised_cell_maps(sums.reshape(n, -1, k), 0.5, even, odd)
    for found, reference in zip((even, odd), cell_maps(layer, sums.astype(np.float64))):
        np.testing.assert_allclose(found.reshape(reference.shape), reference, rtol=1e-5,
                                   atol=1e-6)


# ---------------------------------------------------------------- the pipeline
@pytest.mark.parametrize("flip_predict", [False, True])
def test_the_pipeline_averages_the_copies_made_from_the_cells(flip_predict, monkeypatch):
    import fastsoftmax.model.pipeline as pipeline
    from fastsoftmax import SoftmaxClassifier
    from fastsoftmax.model.pipeline import ImagePipeline
    from fastsoftmax.model.views import mirror_images

    images = _smooth_images(240, seed=4)
    labels = (images[:, :16].mean(axis=(1, 2, 3)) > images[:, 16:].mean(axis=(1, 2, 3)))
    pipe = ImagePipeline(SoftmaxClassifier(epochs=5, random_state=0),
                         features=_model(second_layer=20, second_layer_channels=8),
                         pca_variance=None, standardize=True, shift_predict=3,
                         flip_predict=flip_predict)
    pipe.fit(images[:200], labels[:200].astype(int))
    test = images[200:]
    copies = [test] + [shift_images(test, 3 * dy, 3 * dx) for dy, dx in SHIFT_DIRECTIONS]
    copies += [mirror_images(test)] if flip_predict else []
    clf = pipe.classifier_
    expected = np.mean([clf.predict_proba(pipe.transform(c)) for c in copies], axis=0)
    monkeypatch.setattr(pipeline, "SHIFTED_PREDICT_CHUNK", 16)  # 3 chunks of the 40 images
    calls = []
    proba = pipe.predict_proba(test, progress=lambda stage, done, total, **_: calls.append(
        (done, total)))
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    passes = len(copies)
    assert calls[-1] == (passes * 40, passes * 40)
    assert all(total == passes * 40 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
