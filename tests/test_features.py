"""fastsoftmax.features against scikit-image itself (the independent reference)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.color import rgb2gray as sk_rgb2gray
from skimage.feature import hog as sk_hog

from fastsoftmax.features import HOGTransformer, hog, hog_n_features, min_max_scale, rgb2gray

CIFAR_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-dev" / "cifar-10-batches-py"
NORMS = ["L1", "L1-sqrt", "L2", "L2-Hys"]
TOL = 1e-6


def reference(images, **kwargs):
    return np.stack([sk_hog(image, **kwargs) for image in images])


def assert_matches_skimage(images, tol=TOL, **kwargs):
    ours = hog(images, dtype=np.float64, **kwargs)
    ref = reference(images, **kwargs)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol)
    return ours


@pytest.mark.parametrize("block_norm", NORMS)
@pytest.mark.parametrize("transform_sqrt", [False, True])
def test_random_images_default_geometry(block_norm, transform_sqrt):
    images = np.random.default_rng(0).random((6, 32, 32))
    kwargs = dict(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                  block_norm=block_norm, transform_sqrt=transform_sqrt)
    assert assert_matches_skimage(images, **kwargs).shape == (6, 1764)


@pytest.mark.parametrize("block_norm", NORMS)
@pytest.mark.parametrize(
    "shape, orientations, pixels_per_cell, cells_per_block",
    [
        ((29, 37), 9, (3, 5), (2, 3)),  # non-square, not divisible by the cell
        ((64, 70), 7, (8, 8), (3, 3)),
        ((50, 41), 4, (16, 16), (1, 1)),  # even bin count: 45/90/135 degree edges
        ((7, 9), 1, (1, 1), (1, 1)),
        ((12, 12), 2, (5, 3), (2, 2)),
        ((33, 31), 12, (4, 4), (2, 2)),
    ],
)
def test_odd_geometries(shape, orientations, pixels_per_cell, cells_per_block, block_norm):
    images = np.random.default_rng(1).random((3,) + shape)
    assert_matches_skimage(images, orientations=orientations, pixels_per_cell=pixels_per_cell,
                           cells_per_block=cells_per_block, block_norm=block_norm)


@pytest.mark.parametrize("orientations", [2, 4, 8, 9])
def test_uint8_images_hit_bin_edges_like_skimage(orientations):
    # integer gradients put many pixels exactly on 0/45/90/135 degree edges
    images = np.random.default_rng(2).integers(0, 4, size=(20, 24, 24), dtype=np.uint8)
    assert_matches_skimage(images, orientations=orientations, pixels_per_cell=(4, 4),
                           cells_per_block=(2, 2))


@pytest.mark.parametrize("block_norm", NORMS)
def test_constant_images(block_norm):
    images = np.stack([np.full((16, 16), v) for v in (0.0, 0.5, 1.0)])
    ours = assert_matches_skimage(images, block_norm=block_norm, pixels_per_cell=(4, 4),
                                  cells_per_block=(2, 2))
    assert not ours.any()


@pytest.mark.parametrize("block_norm", NORMS)
def test_single_pixel_spikes(block_norm):
    images = np.zeros((4, 20, 20))
    for i, (r, c) in enumerate([(0, 0), (10, 10), (19, 5), (7, 19)]):
        images[i, r, c] = 1.0
    assert_matches_skimage(images, block_norm=block_norm, pixels_per_cell=(4, 4),
                           cells_per_block=(2, 2))


@pytest.mark.parametrize("channel_axis", [-1, 3, 1])
def test_colour_images_take_the_strongest_channel(channel_axis):
    rgb = np.random.default_rng(3).random((4, 24, 20, 3))
    images = np.moveaxis(rgb, -1, channel_axis)
    ours = hog(images, channel_axis=channel_axis, dtype=np.float64)
    ref = reference(rgb, pixels_per_cell=(4, 4), cells_per_block=(2, 2), channel_axis=-1)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


def test_float32_input_matches_skimage_float32():
    images = np.random.default_rng(4).random((5, 32, 32)).astype(np.float32)
    ours = hog(images, dtype=np.float32)
    ref = reference(images, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    assert ours.dtype == np.float32 and ref.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_half_plane_edge_lights_one_orientation_bin():
    # a vertical edge: horizontal gradient (0 degrees) -> bin 0 only
    image = np.zeros((32, 32))
    image[:, 16:] = 1.0
    features = hog(image[None], orientations=9, pixels_per_cell=(4, 4),
                   cells_per_block=(1, 1), block_norm="L1", dtype=np.float64)
    per_bin = features.reshape(-1, 9).sum(axis=0)
    assert per_bin[0] > 0 and np.all(per_bin[1:] == 0)
    # a horizontal edge: vertical gradient (90 degrees) -> bin 4 (80..100) only
    per_bin = hog(image.T[None], orientations=9, pixels_per_cell=(4, 4), cells_per_block=(1, 1),
                  block_norm="L1", dtype=np.float64).reshape(-1, 9).sum(axis=0)
    assert per_bin[4] > 0 and np.count_nonzero(per_bin) == 1


def test_empty_stack_and_feature_count():
    out = hog(np.zeros((0, 32, 32)))
    assert out.shape == (0, 1764) and out.dtype == np.float32
    assert hog_n_features((32, 32)) == 1764
    assert hog_n_features((29, 37), 9, (3, 5), (2, 3)) == (9 - 2 + 1) * (7 - 3 + 1) * 2 * 3 * 9


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(orientations=0), ValueError, "orientations must be a positive integer"),
        (dict(orientations=2.5), TypeError, "orientations must be a positive integer"),
        (dict(pixels_per_cell=(0, 4)), ValueError, "pixels_per_cell must be a positive integer"),
        (dict(pixels_per_cell=4), TypeError, "pixels_per_cell must be a pair"),
        (dict(cells_per_block=(2, 2, 2)), ValueError, "cells_per_block must be a pair"),
        (dict(block_norm="L3"), ValueError, "block_norm must be one of L1, L1-sqrt, L2, L2-Hys"),
        (dict(transform_sqrt="yes"), TypeError, "transform_sqrt must be True or False"),
        (dict(dtype=np.int32), ValueError, "dtype must be float32 or float64"),
        (dict(pixels_per_cell=(8, 8), cells_per_block=(5, 2)), ValueError,
         "too small.*at least: 40 rows and 16 cols"),
        (dict(channel_axis=-1), ValueError, r"with channel_axis, images must have shape \(N, H, W, C\)"),
        (dict(channel_axis=0), ValueError, "channel_axis must be None or an integer|with channel_axis"),
    ],
)
def test_bad_parameters_are_rejected_before_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        hog(np.zeros((2, 32, 32)), **kwargs)


def test_bad_images_are_rejected():
    with pytest.raises(ValueError, match=r"shape \(N, H, W\).*channel_axis=-1"):
        hog(np.zeros((2, 32, 32, 3)))
    with pytest.raises(ValueError, match="channel_axis must be 1, 2, 3"):
        hog(np.zeros((2, 32, 32, 3)), channel_axis=0)
    with pytest.raises(TypeError, match="real numbers"):
        hog(np.zeros((2, 32, 32), dtype=complex))
    bad = np.zeros((3, 16, 16))
    bad[1, 5, 5] = np.nan
    with pytest.raises(ValueError, match="1 image.*first: image 1.*NaN or inf"):
        hog(bad)
    with pytest.raises(ValueError, match="negative pixels with transform_sqrt"):
        hog(-np.ones((1, 16, 16)) + np.eye(16), transform_sqrt=True)


def test_unscaled_pixel_values():
    images = np.random.default_rng(5).random((2, 16, 16)) * 255.0
    assert_matches_skimage(images, pixels_per_cell=(4, 4), cells_per_block=(2, 2))


# ---- rgb2gray and min_max_scale --------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.uint16])
def test_rgb2gray_matches_skimage(dtype):
    rng = np.random.default_rng(6)
    if np.dtype(dtype).kind == "u":
        rgb = rng.integers(0, np.iinfo(dtype).max, size=(5, 8, 9, 3), endpoint=True).astype(dtype)
    else:
        rgb = rng.random((5, 8, 9, 3)).astype(dtype)
    ours = rgb2gray(rgb)
    ref = sk_rgb2gray(rgb)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-6 if ref.dtype == np.float32 else 1e-12, atol=0)


def test_rgb2gray_rejects_rgba():
    with pytest.raises(ValueError, match="3 channels on the last axis"):
        rgb2gray(np.zeros((2, 4, 4, 4)))


def test_min_max_scale():
    images = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    scaled = min_max_scale(images)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, images / 255.0, rtol=1e-7)
    np.testing.assert_allclose(min_max_scale(images + 0.0, data_range=None, dtype=np.float64),
                               images / 255.0, rtol=1e-15)
    with pytest.raises(ValueError, match="finite low < high"):
        min_max_scale(images, data_range=(3, 3))
    with pytest.raises(ValueError, match="finite low < high"):
        min_max_scale(np.ones(4), data_range=None)


# ---- the scikit-learn transformer ------------------------------------------------
def study_reference(images_uint8):
    """The study's per-image pipeline: 0..1, grayscale, HOG (all scikit-image)."""
    return np.stack([sk_hog(sk_rgb2gray(image / 255.0), orientations=9, pixels_per_cell=(4, 4),
                            cells_per_block=(2, 2)) for image in images_uint8])


def test_transformer_matches_the_study_pipeline():
    images = np.random.default_rng(7).integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    transformer = HOGTransformer(data_range=(0, 255), dtype="float64")
    features = transformer.fit_transform(images)
    assert transformer.image_shape_ == (32, 32, 3) and transformer.n_features_in_ == 3072
    # float32 scaling and grayscale, then float64 HOG
    np.testing.assert_allclose(features, study_reference(images), rtol=0, atol=1e-4)
    flat = HOGTransformer(data_range=(0, 255), dtype="float64", image_shape=(32, 32, 3))
    np.testing.assert_array_equal(flat.fit_transform(images.reshape(6, -1)), features)


def test_transformer_errors_and_clone():
    from sklearn.base import clone

    transformer = HOGTransformer(pixels_per_cell=(8, 8))
    assert clone(transformer).get_params()["pixels_per_cell"] == (8, 8)
    with pytest.raises(ValueError, match="set image_shape"):
        transformer.fit(np.zeros((3, 1024)))
    with pytest.raises(ValueError, match="'color' parameter of HOGTransformer must be a str among"):
        HOGTransformer(color="red").fit(np.zeros((3, 32, 32)))
    fitted = HOGTransformer().fit(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="fitted on"):
        fitted.transform(np.zeros((2, 16, 16)))
    assert fitted.get_feature_names_out().shape == (1764,)


def test_pipeline_with_pca_and_softmax():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    from fastsoftmax import SoftmaxClassifier

    rng = np.random.default_rng(8)
    # two classes: vertical versus horizontal stripes, with noise
    n = 120
    y = np.arange(n) % 2
    stripes = (np.arange(32) // 4 % 2) * 200
    images = np.where(y[:, None, None] == 0, stripes[None, :, None], stripes[None, None, :])
    images = np.clip(images + rng.normal(0, 30, size=(n, 32, 32)), 0, 255).astype(np.uint8)
    images = np.repeat(images[..., None], 3, axis=-1)
    model = make_pipeline(HOGTransformer(data_range=(0, 255)), PCA(0.95),
                          SoftmaxClassifier(random_state=0))
    model.fit(images[:80], y[:80])
    assert model.score(images[80:], y[80:]) >= 0.95


# ---- real CIFAR-10 images -------------------------------------------------------
@pytest.mark.cifar
@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason="development CIFAR-10 copy not present")
def test_cifar10_images_match_skimage():
    load_cifar10 = pytest.importorskip("fastsoftmax.data").load_cifar10
    (_, _), (X_test, _) = load_cifar10(CIFAR_DIR)
    images = X_test[:200]
    gray = rgb2gray(min_max_scale(images, dtype=np.float64))
    ours = hog(gray, dtype=np.float64)
    np.testing.assert_allclose(ours, study_reference(images), rtol=0, atol=TOL)
    colour = hog(images[:50], channel_axis=-1, dtype=np.float64)
    ref = reference(images[:50], pixels_per_cell=(4, 4), cells_per_block=(2, 2), channel_axis=-1)
    np.testing.assert_allclose(colour, ref, rtol=0, atol=TOL)


def test_the_kernels_import_without_scikit_learn_as_in_the_wheel_build():
    # the wheel build compiles the kernels (fastsoftmax._precompile, each group importing
    # these modules) with only numpy, numba and scipy installed; the transformers load
    # on first use
    code = ("import sys\n"
            "for name in ('sklearn', 'skimage', 'threadpoolctl', 'matplotlib'):\n"
            "    sys.modules[name] = None\n"
            "import fastsoftmax._precompile\n"
            "from fastsoftmax.features import _dictionary_kernels, _encoder_kernels, hog\n"
            "from fastsoftmax.softmax import _numba\n"
            "import fastsoftmax.features.batch_hog as module\n"
            "print(hog.__module__, module.hog is hog)\n"
            "from fastsoftmax.features import HOGTransformer\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.stdout == "fastsoftmax.features.batch_hog True\n"
    assert result.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: No module named 'sklearn.base'; 'sklearn' is not a package")
