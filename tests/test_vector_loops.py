"""The training kernel's inner loops (``softmax/_vector.py``: LLVM IR, and the plain Numba
loops of the fallback) against NumPy, and the kernel's group/tile bookkeeping against
the NumPy backend for the class counts and widths that take its other branches."""
import numba
import numpy as np
import pytest

from fastsoftmax.model.classifier import plan_batches
from fastsoftmax.softmax import _vector, get_backend


def _callers(variant):
    """Numba functions that call the loops of ``variant`` (``"ir_"``: the LLVM IR loops,
    ``"plain_"``: their plain Numba fallback) for five or one class."""
    scores5, scores1, fold5, fold1 = (getattr(_vector, variant + name) for name in (
        "tile_scores5", "tile_scores1", "tile_fold5", "tile_fold1"))

    @numba.njit
    def scores(n_classes, coef, c, X, rows, acc, k, lo, hi):
        if n_classes == 5:
            scores5(coef, c, X, rows[0], rows[1], rows[2], rows[3], acc, k, lo, hi, rows[4])
        else:
            scores1(coef, c, X, rows[0], rows[1], rows[2], rows[3], acc, k, lo, hi, rows[4])

    @numba.njit
    def fold(n_classes, grad, c, ds, k, X, rows, lo, hi):
        if n_classes == 5:
            fold5(grad, c, ds, k, X, rows[0], rows[1], rows[2], rows[3], lo, hi, rows[4])
        else:
            fold1(grad, c, ds, k, X, rows[0], rows[1], rows[2], rows[3], lo, hi, rows[4])

    return scores, fold


_CALLERS = {variant: _callers(variant) for variant in ("ir_", "plain_")}


@pytest.mark.parametrize("variant", list(_CALLERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [5, 1])
def test_tile_loops_match_numpy_and_touch_only_their_tile(dtype, n_classes, variant):
    _scores, _fold = _CALLERS[variant]
    rng = np.random.default_rng(n_classes)
    line = 64 // np.dtype(dtype).itemsize
    lanes = _vector.VECTOR_BYTES // np.dtype(dtype).itemsize
    width, lo, hi, c, k = 7 * line, 2 * line, 5 * line, 1, 2
    X = rng.standard_normal((9, width)).astype(dtype)
    rows = np.array([6, 1, 6, 3, 8])  # four sample rows (one twice), then the prefetched row
    coef = rng.standard_normal((7, width)).astype(dtype)

    acc = rng.standard_normal((8, 7, lanes)).astype(dtype)
    before = acc.copy()
    _scores(n_classes, coef, c, X, rows, acc, k, lo, hi)
    block = slice(k, k + 4), slice(c, c + n_classes)
    expected = X[rows[:4], lo:hi].astype(np.float64) @ coef[c:c + n_classes, lo:hi].T
    got = (acc[block] - before[block]).sum(axis=-1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    acc[block] = before[block]
    np.testing.assert_array_equal(acc, before)  # no other sums written

    ds = rng.standard_normal((8, 7)).astype(dtype)
    grad = rng.standard_normal((7, width)).astype(dtype)
    start = grad.copy()
    _fold(n_classes, grad, c, ds, k, X, rows, lo, hi)
    expected = start.astype(np.float64)
    expected[c:c + n_classes, lo:hi] += ds[k:k + 4, c:c + n_classes].T @ X[rows[:4], lo:hi]
    np.testing.assert_allclose(grad, expected, rtol=tol, atol=tol * np.abs(expected).max())
    outside = np.ones(grad.shape, bool)
    outside[c:c + n_classes, lo:hi] = False
    np.testing.assert_array_equal(grad[outside], start[outside])


@pytest.mark.parametrize("variant", list(_CALLERS))
def test_empty_tile_changes_nothing(variant):
    _scores, _fold = _CALLERS[variant]
    X = np.ones((5, 32), np.float32)
    acc = np.zeros((4, 5, 8), np.float32)
    grad = np.zeros((5, 32), np.float32)
    rows = np.array([0, 1, 2, 3, 4])
    _scores(5, X, 0, X, rows, acc, 0, 16, 16)
    _fold(5, grad, 0, np.ones((4, 5), np.float32), 0, X, rows, 16, 16)
    assert not acc.any() and not grad.any()


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("n_classes", [2, 5, 6, 11])
def test_backends_agree_for_every_sweep_plan(n_classes, padded):
    """Two classes (one-class sweeps only), five (one sweep each way: two of a block's
    four next rows prefetched at once), six and eleven (five-class sweeps and a
    remainder); batches of 200 (parts of 128 and 72: a short last group) and a last
    batch of 100; rows padded to cache lines or not (the tail columns' loops)."""
    rng = np.random.default_rng(n_classes)
    n, d = 500, 70
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, n_classes, n)
    indices, starts = plan_batches(rng, n, 200, 6, "shuffle")
    assert sorted(set(np.diff(starts))) == [100, 200]
    coef0 = (0.05 * rng.standard_normal((n_classes, d))).astype(np.float32)
    results = {}
    for name in ("numpy", "numba"):
        module = get_backend(name)
        train = module.training_input(X) if padded else X
        assert (train.shape[1] == d) != padded or name == "numpy"
        coef, intercept = coef0.copy(), np.zeros(n_classes, np.float32)
        velocity = (np.zeros_like(coef), np.zeros_like(intercept))
        losses = module.sgd(train, y, coef, intercept, *velocity, indices, starts,
                            np.full(6, 0.1), 1e-4, 1e-2, True, 0.9)
        results[name] = (losses, coef, intercept, velocity[0])
    for ref, got in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-4 * max(1.0, np.abs(ref).max()))
    assert np.abs(results["numpy"][1] - coef0).max() > 1e-2  # the weights moved
