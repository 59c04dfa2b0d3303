"""Speed of PCA (95% variance) fit + transform: the pipeline's vs scikit-learn's default.

Cases from :mod:`fastsoftmax.bench`: pca.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

CASES = ['pca']


@pytest.mark.parametrize("name, side", [(n, s) for n in CASES for s in sides(n)])
def test_pca(benchmark, name, side):
    run_side(benchmark, name, side)
