"""Speed of batch HOG (issue #3): Numba kernel vs scikit-image's and OpenCV's per-image loops.

The study's HOG: 32x32 grayscale images in 0..1, 9 orientations, 4x4-pixel cells,
2x2-cell blocks, L2-Hys (1,764 features an image).  Every contender gets the same
images; OpenCV (``opencv-python-headless<5``, skipped when absent) gets them as
uint8 and is configured with the same cell/block layout.  The scikit-image loop
runs on at most ``FASTSOFTMAX_BENCH_SKIMAGE_N`` images (default 2,000; it takes
about 0.6 ms an image) and is compared per image.

Environment: ``FASTSOFTMAX_BENCH_N`` images for ours and OpenCV (default 10,000;
the issue's figure is for 60,000).

Run::

    pytest benchmarks/bench_hog.py --benchmark-group-by=group

The gate compares times per image measured in this run (ratios, not absolute times).
"""
import os

import numpy as np
import pytest
from skimage.feature import hog as sk_hog

from fastsoftmax.features import hog

N = int(os.environ.get("FASTSOFTMAX_BENCH_N", "10000"))
N_SKIMAGE = min(N, int(os.environ.get("FASTSOFTMAX_BENCH_SKIMAGE_N", "2000")))
#: Required speed-ups over the per-image loops (issue #3).
MIN_SPEEDUP_SKIMAGE = 80.0
MIN_SPEEDUP_OPENCV = 2.5
GROUP = "hog-32x32-9x(4,4)x(2,2)-L2-Hys"

_us_per_image = {}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(N, 32, 32)).astype(np.float32) / np.float32(255.0)
    return gray


def _record(name, benchmark, n_images):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _us_per_image[name] = stats.stats.min / n_images * 1e6
        benchmark.extra_info["us_per_image"] = _us_per_image[name]
        benchmark.extra_info["n_images"] = n_images


@pytest.mark.benchmark(group=GROUP)
def test_hog_numba(benchmark, images):
    features = benchmark.pedantic(hog, args=(images,), warmup_rounds=1, rounds=5)
    assert features.shape == (N, 1764)
    _record("numba", benchmark, N)


def _skimage_loop(images):
    out = np.empty((len(images), 1764), dtype=np.float32)
    for i, image in enumerate(images):
        out[i] = sk_hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                        block_norm="L2-Hys")
    return out


@pytest.mark.benchmark(group=GROUP)
def test_hog_skimage_loop(benchmark, images):
    subset = images[:N_SKIMAGE]
    features = benchmark.pedantic(_skimage_loop, args=(subset,), warmup_rounds=1, rounds=1)
    np.testing.assert_allclose(hog(subset[:50]), features[:50], atol=1e-5)
    _record("skimage", benchmark, N_SKIMAGE)


@pytest.mark.benchmark(group=GROUP)
def test_hog_opencv_loop(benchmark, images):
    cv2 = pytest.importorskip("cv2")
    descriptor = cv2.HOGDescriptor(_winSize=(32, 32), _blockSize=(8, 8), _blockStride=(4, 4),
                                   _cellSize=(4, 4), _nbins=9)
    images_u8 = np.ascontiguousarray(np.round(images * 255.0).astype(np.uint8))

    def loop(batch):
        out = np.empty((len(batch), 1764), dtype=np.float32)
        for i, image in enumerate(batch):
            out[i] = descriptor.compute(image).ravel()
        return out

    features = benchmark.pedantic(loop, args=(images_u8,), warmup_rounds=1, rounds=3)
    assert features.shape == (N, 1764)
    _record("opencv", benchmark, N)


def test_hog_speedup_gate():
    """Ratios of this run's times per image (runs after the three benchmarks)."""
    if "numba" not in _us_per_image or "skimage" not in _us_per_image:
        pytest.skip("needs the numba and skimage benchmarks of this run (not --benchmark-disable)")
    ours = _us_per_image["numba"]
    print(f"\nus/image: " + ", ".join(f"{k} {v:.2f}" for k, v in _us_per_image.items()))
    speedup = _us_per_image["skimage"] / ours
    print(f"speed-up over scikit-image: {speedup:.1f}x")
    assert speedup >= MIN_SPEEDUP_SKIMAGE
    if "opencv" in _us_per_image:
        speedup_cv = _us_per_image["opencv"] / ours
        print(f"speed-up over OpenCV: {speedup_cv:.2f}x")
        assert speedup_cv >= MIN_SPEEDUP_OPENCV
