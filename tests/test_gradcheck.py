"""Tests of the finite-difference gradient check (Cython kernel, API and CLI)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastsoftmax.softmax import loss_and_gradient
from fastsoftmax.model.gradcheck import (
    check_gradient,
    check_gradient_sparse,
    numerical_gradient,
    numerical_gradient_reference,
    numerical_gradient_sparse,
    relative_error,
)

PENALTIES = ["none", "l2", "l1", "elasticnet"]
BACKENDS = ["numpy", "numba"]


def make_problem(n=40, d=6, c=4, seed=0, w_scale=0.5):
    """Pixels in 0..1, moderate weights (probabilities far from uniform), nonzero bias."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = rng.integers(0, c, n)
    W = w_scale * rng.standard_normal((d, c))
    b = 0.3 * rng.standard_normal(c)
    return np.ascontiguousarray(W.T), b, X, y


# --------------------------------------------------------------------------- kernel vs reference


@pytest.mark.parametrize("method", ["central", "forward"])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_kernel_matches_numpy_reference(penalty, method):
    W, b, X, y = make_problem()
    kw = dict(penalty=penalty, alpha=0.05, l1_ratio=0.4, h=1e-5, method=method)
    dW, db = numerical_gradient(W, b, X, y, **kw)
    rW, rb = numerical_gradient_reference(W, b, X, y, **kw)
    np.testing.assert_allclose(dW, rW, rtol=0, atol=1e-9)
    np.testing.assert_allclose(db, rb, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 12), d=st.integers(1, 5), c=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    penalty=st.sampled_from(PENALTIES), method=st.sampled_from(["central", "forward"]),
    h=st.sampled_from([1e-5, 1e-4, 1e-3]),
)
def test_kernel_matches_numpy_reference_random_shapes(n, d, c, seed, penalty, method, h):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, d))
    y = rng.integers(0, c, n)
    W = rng.standard_normal((d, c)).T
    b = rng.standard_normal(c)
    kw = dict(penalty=penalty, alpha=0.1, l1_ratio=0.5, h=h, method=method)
    dW, db = numerical_gradient(W, b, X, y, **kw)
    rW, rb = numerical_gradient_reference(W, b, X, y, **kw)
    np.testing.assert_allclose(dW, rW, rtol=0, atol=1e-9)
    np.testing.assert_allclose(db, rb, rtol=0, atol=1e-9)


def test_known_answer_at_zero_weights():
    # W = 0, b = 0: every probability is 1/C, so dL/dW = X^T (1/C - onehot(y)) / N.
    W, b, X, y = make_problem(n=30, d=5, c=3)
    W[:] = 0.0
    b[:] = 0.0
    onehot = np.eye(3)[y]
    dW, db = numerical_gradient(W, b, X, y)
    np.testing.assert_allclose(dW, (X.T @ (1.0 / 3.0 - onehot) / 30).T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(db, (1.0 / 3.0 - onehot).mean(axis=0), rtol=0, atol=1e-10)


def test_zero_pixel_column_gives_exact_zero_data_gradient():
    W, b, X, y = make_problem()
    X[:, 2] = 0.0
    dW, _ = numerical_gradient(W, b, X, y, penalty="l2", alpha=0.3)
    np.testing.assert_allclose(dW[:, 2], 0.3 * W[:, 2], rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", ["central", "forward"])
def test_sparse_kernel_matches_full_kernel(method):
    W, b, X, y = make_problem()
    dW, db = numerical_gradient(W, b, X, y, penalty="elasticnet", alpha=0.1, method=method)
    rows, cols = np.indices((W.shape[0], W.shape[1] + 1))
    values = numerical_gradient_sparse(W, b, X, y, rows.ravel(), cols.ravel(),
                                       penalty="elasticnet", alpha=0.1, method=method)
    np.testing.assert_allclose(values.reshape(rows.shape), np.hstack([dW, db[:, None]]),
                               rtol=1e-12, atol=1e-15)


def test_numerical_gradient_returns_float64_and_accepts_uint8_pixels():
    W, b, X, y = make_problem()
    pixels = (X * 255).astype(np.uint8)
    dW, db = numerical_gradient(W.astype(np.float32), b, pixels / 255.0, y.astype(np.int32))
    assert dW.dtype == np.float64 and db.dtype == np.float64
    assert dW.shape == W.shape and db.shape == b.shape


# --------------------------------------------------------------------------- analytic checks


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_analytic_gradient_passes(backend, penalty):
    W, b, X, y = make_problem(n=50, d=8, c=5)
    result = check_gradient(W, b, X, y, penalty=penalty, alpha=0.05, l1_ratio=0.3,
                            backend=backend)
    assert result.passed(1e-6), result.max_relative_error
    assert result.n_kink == 0
    assert result.n_checked == W.size + b.size
    assert result.sum_abs_difference < 1e-8
    np.testing.assert_allclose(result.numerical_W, result.analytic_W, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_l1_kink_entries_are_excluded_and_counted(penalty):
    W, b, X, y = make_problem()
    h = 1e-5
    W[0, 0] = h / 2     # straddles the kink: difference quotient is half the subgradient
    W[2, 1] = -h / 3
    W[1, 3] = 0.0
    result = check_gradient(W, b, X, y, penalty=penalty, alpha=0.5, h=h)
    assert result.n_kink == 3
    assert result.kink[0, 0] and result.kink[2, 1] and result.kink[1, 3]
    assert result.n_checked == W.size + b.size - 3
    assert result.passed(1e-6)
    assert result.relative_error_W[0, 0] > 1e-3   # would fail if it were counted


def test_no_kink_exclusion_without_l1():
    W, b, X, y = make_problem()
    W[0, 0] = 0.0
    result = check_gradient(W, b, X, y, penalty="l2", alpha=0.5)
    assert result.n_kink == 0


def test_worst_entry_names_the_corrupted_one():
    W, b, X, y = make_problem()
    _, dW, db = loss_and_gradient(W, b, X, y, "none", 0.0)
    wrong_W = np.array(dW)
    wrong_W[1, 2] += 1.0
    assert check_gradient(W, b, X, y, analytic=(wrong_W, db)).worst_entry() == ("W", (1, 2))
    wrong_b = np.array(db)
    wrong_b[1] += 1.0
    assert check_gradient(W, b, X, y, analytic=(dW, wrong_b)).worst_entry() == ("b", (1,))


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda dW, db: (dW * 1.01, db), id="1%-scale"),
        pytest.param(lambda dW, db: (dW, -db), id="bias-sign"),
        pytest.param(lambda dW, db: (np.where(np.arange(dW.size).reshape(dW.shape) == 7,
                                              -dW, dW), db), id="one-sign"),
        pytest.param(lambda dW, db: (dW + 0.01 * np.sign(dW), db), id="stray-l1-term"),
    ],
)
def test_wrong_gradient_fails(corrupt):
    W, b, X, y = make_problem()
    _, dW, db = loss_and_gradient(W, b, X, y, "none", 0.0)
    result = check_gradient(W, b, X, y, analytic=corrupt(dW, db))
    assert not result.passed(1e-6)
    assert result.max_relative_error > 1e-3


def test_relative_error_definition():
    a = np.array([1.0, 0.0, 1e-3, -2.0])
    n = np.array([1.0, 0.0, 1.1e-3, 2.0])
    np.testing.assert_allclose(relative_error(a, n), [0.0, 0.0, 1e-4 / 2.1e-3, 1.0])


# --------------------------------------------------------------------------- forward, sparse


def test_forward_difference_error_is_order_h():
    # The study's variant: forward differences on a 3x4 weight matrix.
    W, b, X, y = make_problem(n=50, d=3, c=4, w_scale=0.01)
    central = check_gradient(W, b, X, y, h=1e-5)
    forward = check_gradient(W, b, X, y, h=1e-5, method="forward")
    forward10 = check_gradient(W, b, X, y, h=1e-4, method="forward")
    # study-like magnitude (it reported 3.05e-6 summed over 12 weights)
    assert 1e-7 < forward.sum_abs_difference < 1e-4
    assert central.sum_abs_difference < forward.sum_abs_difference / 1000
    # O(h): ten times the step, about ten times the error
    assert 5 < forward10.sum_abs_difference / forward.sum_abs_difference < 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_check_passes_and_catches_wrong_gradient(backend):
    W, b, X, y = make_problem()
    good = check_gradient_sparse(W, b, X, y, k=25, penalty="l2", alpha=0.1, backend=backend,
                                 seed=3)
    assert good.passed(1e-6)
    assert good.rows.shape == good.cols.shape == (25,)
    assert good.rows.max() < W.shape[0] and good.cols.max() <= W.shape[1]
    full = check_gradient(W, b, X, y, penalty="l2", alpha=0.1, backend=backend)
    stacked = np.hstack([full.numerical_W, full.numerical_b[:, None]])
    np.testing.assert_allclose(good.numerical, stacked[good.rows, good.cols], rtol=1e-12)

    _, dW, db = loss_and_gradient(W, b, X, y, "l2", 0.1)
    bad = check_gradient_sparse(W, b, X, y, k=25, penalty="l2", alpha=0.1,
                                analytic=(1.01 * dW, 1.01 * db), seed=3)
    assert not bad.passed(1e-6)


def test_sparse_check_excludes_kink():
    W, b, X, y = make_problem(d=1, c=1)
    W[0, 0] = 1e-6
    result = check_gradient_sparse(W, b, X, y, k=20, penalty="l1", alpha=1.0, h=1e-5, seed=0)
    on_w = result.cols == 0
    assert result.n_kink == int(on_w.sum()) > 0
    assert np.array_equal(result.kink, on_w)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(X=np.zeros((40, 5))), ValueError, "X has 5 features"),
        (dict(b=np.zeros(3)), ValueError, r"b has shape \(3,\)"),
        (dict(y=np.zeros(39, dtype=int)), ValueError, "y has 39 labels but X has 40"),
        (dict(y=np.full(40, 4)), ValueError, r"labels y must be in 0\.\.3"),
        (dict(y=np.full(40, -1)), ValueError, r"labels y must be in 0\.\.3"),
        (dict(y=np.zeros(40)), TypeError, "integer class indices"),
        (dict(h=0.0), ValueError, "h must be a positive"),
        (dict(h=-1e-5), ValueError, "h must be a positive"),
        (dict(h=float("nan")), ValueError, "h must be a positive"),
        (dict(penalty="l3"), ValueError, "penalty must be one of"),
        (dict(alpha=-1.0), ValueError, "alpha must be"),
        (dict(l1_ratio=1.5), ValueError, r"l1_ratio must be in \[0, 1\]"),
        (dict(method="backward"), ValueError, "method must be one of"),
        (dict(W=np.zeros(6)), ValueError, "W must be 2-D"),
        (dict(X=np.full((40, 6), np.nan)), ValueError, "X contains NaN"),
        (dict(X=np.zeros((40, 6), dtype=complex)), TypeError, "real numeric"),
    ],
)
@pytest.mark.parametrize(
    "func", [numerical_gradient, numerical_gradient_reference, check_gradient,
             check_gradient_sparse]
)
def test_bad_input(func, change, error, match):
    W, b, X, y = make_problem()
    args = dict(W=W, b=b, X=X, y=y)
    args.update(change)
    with pytest.raises(error, match=match):
        func(**args)


def test_bad_backend_and_analytic_shape():
    W, b, X, y = make_problem()
    with pytest.raises(ValueError, match="backend must be one of"):
        check_gradient(W, b, X, y, backend="torch")
    with pytest.raises(ValueError, match="analytic gradient shapes"):
        check_gradient(W, b, X, y, analytic=(W.T, b))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        check_gradient_sparse(W, b, X, y, k=0)
    with pytest.raises(ValueError, match="cols must be in 0..6"):
        numerical_gradient_sparse(W, b, X, y, [0], [7])
    with pytest.raises(ValueError, match="rows must be in 0..3"):
        numerical_gradient_sparse(W, b, X, y, [4], [0])


# --------------------------------------------------------------------------- CLI


def run_cli(*args):
    from fastsoftmax.cli import main

    return CliRunner().invoke(main, ["gradcheck", *args])


def test_cli_passes_on_digits_and_prints_both_gradients():
    result = run_cli()
    assert result.exit_code == 0, result.output
    assert "analytic dW[:3, :4]" in result.output
    assert "numerical dW[:3, :4]" in result.output
    assert "max relative error" in result.output and "summed abs difference" in result.output
    assert "PASS" in result.output


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_json(penalty, backend):
    result = run_cli("--json", "--penalty", penalty, "--backend", backend, "--batch-size", "20",
                     "--features", "30", "--sparse", "5")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["passed"] is True
    assert payload["max_relative_error"] <= 1e-6
    assert (payload["n_samples"], payload["n_features"], payload["n_classes"]) == (20, 30, 10)
    assert payload["n_checked"] + payload["n_kink"] == 30 * 10 + 10
    assert payload["sparse"]["passed"] is True
    assert np.shape(payload["numerical_W_slice"]) == (3, 4)


def test_cli_forward_differences_fail_the_default_threshold():
    result = run_cli("--method", "forward")
    assert result.exit_code == 1, result.output
    assert "FAIL: max relative error" in result.output
    result = run_cli("--method", "forward", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["passed"] is False and payload["max_relative_error"] > 1e-6
    assert run_cli("--method", "forward", "--threshold", "1e-2").exit_code == 0


def test_cli_l1_reports_kink_count():
    result = run_cli("--json", "--penalty", "l1", "--alpha", "0.1", "--h", "1e-4")
    payload = json.loads(result.stdout)
    assert payload["n_kink"] > 0
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args, match",
    [
        (["--h", "0"], "Invalid value for '--h': 0.0 is not in the range x>0"),
        (["--features", "65"], "65 features is more than the 64 pixel columns"),
        (["--batch-size", "5000"], "batch size 5000 is larger than the 1797 images"),
        (["--threshold", "-1"], "Invalid value for '--threshold': -1.0 is not in the range x>0"),
        (["--alpha", "-1", "--penalty", "l2"], "Invalid value for '--alpha': -1.0 is not in the range x>=0"),
    ],
)
def test_cli_bad_input_exits_2(args, match):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert match in result.output
    assert "Traceback" not in result.output


def test_cli_data_option_flattens_and_scales(monkeypatch):
    from fastsoftmax.data import Dataset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 4, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, 30)
    fake = Dataset(images, labels, images[:2], labels[:2], ["a", "b", "c"], "folder:fake")
    monkeypatch.setattr("fastsoftmax.model.gradcheck.load_dataset",
                        lambda path, image_size=None: fake)
    result = run_cli("--data", "somewhere", "--json", "--batch-size", "10", "--features", "20")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["n_samples"], payload["n_features"], payload["n_classes"]) == (10, 20, 3)
    assert payload["data"] == "somewhere"


def test_cli_missing_data_is_one_line_error(tmp_path):
    result = run_cli("--data", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert result.output.startswith("Error:")
    assert "Traceback" not in result.output
