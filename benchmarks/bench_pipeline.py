"""Speed of the whole pipeline end to end (issue #4) against skimage hog + sklearn PCA +
NumPy SGD (a subset in quick mode; the CIFAR-10 dev copy with --full when present).

Cases from :mod:`fastsoftmax.bench`: pipeline.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

CASES = ['pipeline']


@pytest.mark.parametrize("name, side", [(n, s) for n in CASES for s in sides(n)])
def test_pipeline(benchmark, name, side):
    run_side(benchmark, name, side)


def test_pipeline_target():
    """Issue target: 6x (full sizes only; from this run's medians)."""
    check_target("pipeline")
