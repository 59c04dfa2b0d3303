"""Every case of :data:`fastsoftmax.bench.CASES`, fast path and reference, in the case's group.

The parameters come from the one case list, so a new case is benchmarked here without
editing this file.  See ``benchmarks/conftest.py``.
"""
import pytest

from conftest import check_target, run_side, sides

from fastsoftmax import bench


@pytest.mark.parametrize("name, side", [(case.name, side) for case in bench.CASES
                                        for side in sides(case.name)])
def test_case(benchmark, name, side):
    run_side(benchmark, name, side)


@pytest.mark.parametrize("name", [case.name for case in bench.CASES if case.target])
def test_target(name):
    """The speed-up an issue claims (full sizes only; from this run's medians)."""
    check_target(name)
