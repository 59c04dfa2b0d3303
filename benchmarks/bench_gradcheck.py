"""Speed of the full numerical gradient: Cython kernel vs the plain NumPy reference.

The reference perturbs one entry at a time and recomputes the whole loss (two loss
evaluations per entry); the kernel differences cached probabilities, O(N) per entry.
The gate compares the two times measured in this run (a ratio, not absolute times).

Run::

    pytest benchmarks/bench_gradcheck.py --benchmark-group-by=group
"""
import numpy as np
import pytest

from fastsoftmax.gradcheck import numerical_gradient, numerical_gradient_reference

N, D, C = 500, 512, 10
#: Required speed-up of the kernel over the reference (issue #5).
MIN_SPEEDUP = 30.0
GROUP = f"gradcheck-full-N{N}-D{D}-C{C}"

_min_seconds = {}


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.random((N, D))
    y = rng.integers(0, C, N)
    W = 0.01 * rng.standard_normal((D, C))
    b = 0.1 * rng.standard_normal(C)
    return W, b, X, y


def _record(name, benchmark):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _min_seconds[name] = stats.stats.min


@pytest.mark.benchmark(group=GROUP)
def test_numerical_gradient_kernel(benchmark, problem):
    dW, db = benchmark.pedantic(numerical_gradient, args=problem, warmup_rounds=1, rounds=20)
    assert dW.shape == (D, C) and db.shape == (C,)
    _record("kernel", benchmark)


@pytest.mark.benchmark(group=GROUP)
def test_numerical_gradient_reference(benchmark, problem):
    # about one to several seconds a call: few rounds
    dW, db = benchmark.pedantic(numerical_gradient_reference, args=problem,
                                warmup_rounds=1, rounds=2)
    fast_dW, fast_db = numerical_gradient(*problem)
    np.testing.assert_allclose(fast_dW, dW, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast_db, db, rtol=0, atol=1e-9)
    _record("reference", benchmark)


def test_speedup_over_reference():
    if {"kernel", "reference"} - set(_min_seconds):
        pytest.skip("needs both benchmarks above, timed in this run")
    ratio = _min_seconds["reference"] / _min_seconds["kernel"]
    print(f"\nnumerical gradient N={N} D={D} C={C}: kernel {_min_seconds['kernel'] * 1e3:.1f} ms,"
          f" reference {_min_seconds['reference']:.2f} s, speed-up {ratio:.0f}x")
    assert ratio >= MIN_SPEEDUP
