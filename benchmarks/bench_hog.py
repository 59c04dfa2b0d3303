"""Speed of batch HOG (issue #3): Numba kernel vs scikit-image's and OpenCV's per-image loops
(OpenCV skipped when absent).

Cases from :mod:`fastsoftmax.bench`: hog, hog_opencv.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

CASES = ['hog', 'hog_opencv']


@pytest.mark.parametrize("name, side", [(n, s) for n in CASES for s in sides(n)])
def test_hog(benchmark, name, side):
    run_side(benchmark, name, side)


def test_hog_target():
    """Issue target: 80x (full sizes only; from this run's medians)."""
    check_target("hog")


def test_hog_opencv_target():
    """Issue target: 2.5x (full sizes only; from this run's medians)."""
    check_target("hog_opencv")
