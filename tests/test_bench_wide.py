"""The training-kernel cases at the learned features' width (``sgd_wide``, ``sgd_wide_torch``):
both sides of a case train the same weights on the same batches (tiny sizes)."""
import numpy as np
import pytest

from fastsoftmax import bench
from fastsoftmax.bench.wide import WIDE_FEATURES, WIDE_SIZES, wide_problem
from fastsoftmax.softmax import _numpy
from fastsoftmax._shared.presets import KMEANS_CLASSIFIER, KMEANS_FEATURES


def _assert_same_training(pair):
    """Fast and reference outputs agree, and the updates moved the weights well beyond
    the tolerance (so the check could fail)."""
    _, _, coef0, intercept0, *_ = wide_problem("tiny")
    fast_coef, fast_intercept = pair.fast()
    ref_coef, ref_intercept = pair.reference()
    moved = np.abs(ref_coef - coef0).max()
    assert moved > 1e-3
    np.testing.assert_allclose(fast_coef, ref_coef, rtol=0, atol=1e-4 * moved)
    np.testing.assert_allclose(fast_intercept, ref_intercept, rtol=0,
                               atol=1e-4 * np.abs(ref_intercept - intercept0).max())
    # each call trains from the same fresh weights
    again_coef, _ = pair.fast()
    np.testing.assert_array_equal(again_coef, fast_coef)


def test_wide_problem_uses_the_learned_feature_classifier_settings():
    X, y, coef, intercept, indices, starts, rates, settings = wide_problem("tiny")
    n, d, c, updates = WIDE_SIZES["tiny"]
    assert X.shape == (n, d) and X.dtype == np.float32 and coef.shape == (c, d)
    # (3 x 3 regions + the whole image) x 2 polarities x 800 atoms (1,600 with mirrors)
    assert WIDE_SIZES["full"][:2] == (50_000, 16_000) == (50_000, WIDE_FEATURES)
    assert KMEANS_FEATURES["n_centroids"] == 1600 and KMEANS_FEATURES["pooling"] == 3
    # standardized-like features, as after the pipeline's scaler
    assert abs(float(X.mean())) < 0.05 and abs(float(X.std()) - 1.0) < 0.05
    assert len(starts) == updates + 1 and np.all(np.diff(starts) <= KMEANS_CLASSIFIER["batch_size"])
    # one epoch of shuffled batches covers every row once
    first_epoch = indices[:n]
    assert np.array_equal(np.sort(first_epoch), np.arange(n))
    assert np.all(rates == KMEANS_CLASSIFIER["learning_rate"])
    assert (settings["alpha"], settings["momentum"]) == (KMEANS_CLASSIFIER["alpha"],
                                                         KMEANS_CLASSIFIER["momentum"])


def test_sgd_wide_numba_matches_the_numpy_reference():
    _assert_same_training(bench.get_case("sgd_wide").setup("tiny"))


def test_sgd_wide_first_update_matches_a_hand_written_step():
    # one update from the problem's weights, written out: v = -lr (grad + alpha W); W += v
    X, y, coef0, intercept0, indices, starts, rates, settings = wide_problem("tiny")
    rows = indices[starts[0]:starts[1]]
    _, grad, grad_b = _numpy.minibatch_loss_grad(coef0, intercept0, X[rows], y[rows],
                                                 0.0, settings["alpha"])
    expected = coef0 - rates[0] * grad
    from fastsoftmax.bench.wide import backend_training

    one = backend_training("numba", X, y, coef0, intercept0, indices, starts[:2], rates[:1],
                           settings)
    coef, intercept = one()
    np.testing.assert_allclose(coef, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(intercept, intercept0 - rates[0] * grad_b, rtol=0, atol=1e-7)


def test_sgd_wide_torch_matches_the_same_training():
    pytest.importorskip("torch")
    pair = bench.get_case("sgd_wide_torch").setup("tiny")
    assert pair.reference_label == "torch" and pair.info["torch_threads"] >= 1
    _assert_same_training(pair)


def test_sgd_wide_is_measured_per_update():
    result = bench.measure(bench.get_case("sgd_wide"), "tiny", rounds=3)
    assert result["status"] == "ok" and result["unit"] == "update"
    assert result["fast_units"] == result["reference_units"] == WIDE_SIZES["tiny"][3]
    assert "momentum 0.9" in result["info"]["shape"]
    assert result["target"] == 3.0
