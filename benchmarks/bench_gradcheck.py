"""Speed of the full numerical gradient (issue #5): Cython kernel vs the NumPy reference.

Cases from :mod:`fastsoftmax.bench`: gradcheck.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

CASES = ['gradcheck']


@pytest.mark.parametrize("name, side", [(n, s) for n in CASES for s in sides(n)])
def test_gradcheck(benchmark, name, side):
    run_side(benchmark, name, side)


def test_gradcheck_target():
    """Issue target: 30x (full sizes only; from this run's medians)."""
    check_target("gradcheck")
