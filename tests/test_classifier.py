"""SoftmaxClassifier and its kernels against independent references."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastsoftmax import SoftmaxClassifier, TrainingDivergedError, load_model
from fastsoftmax.model.classifier import plan_batches
from fastsoftmax.io.model_file import ModelFileError
from fastsoftmax.softmax import _numpy, loss_and_gradient, penalty_strengths

PENALTIES = ["none", "l2", "l1", "elasticnet"]


def _problem(rng, n, d, c, dtype=np.float64):
    X = rng.standard_normal((n, d)).astype(dtype)
    W = (0.5 * rng.standard_normal((d, c))).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    y = rng.integers(0, c, n)
    return W, b, X, y


def _scipy_loss(W, b, X, y, penalty, alpha, l1_ratio):
    """The objective from scipy's log_softmax: an independent formula."""
    logp = log_softmax(X.astype(np.float64) @ W + b, axis=1)
    l1, l2 = penalty_strengths(penalty, alpha, l1_ratio)
    return -logp[np.arange(len(y)), y].mean() + l1 * np.abs(W).sum() + 0.5 * l2 * (W ** 2).sum()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


# ---------------------------------------------------------------- loss and gradient
def test_loss_at_zero_weights_is_log_n_classes():
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0, 1, 2, 4])
    loss, dW, db = loss_and_gradient(np.zeros((5, 3)), np.zeros(5), X, y)
    assert loss == pytest.approx(math.log(5))
    # p = 1/5 everywhere: dL/ds = 1/5 - onehot, averaged over 4 rows
    expected_ds = np.full((4, 5), 0.2)
    expected_ds[np.arange(4), y] -= 1.0
    np.testing.assert_allclose(dW.T, X.T @ expected_ds / 4)
    np.testing.assert_allclose(db, expected_ds.mean(axis=0))


def test_reference_is_stable_for_huge_scores():
    X = np.array([[1000.0, -1000.0]])
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    loss, dW, db = loss_and_gradient(W, np.zeros(2), X, np.array([1]))
    assert loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(dW))
    for backend in ("numpy", "numba"):
        assert loss_and_gradient(W, np.zeros(2), X, np.array([1]), backend=backend)[0] == pytest.approx(2000.0)


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_loss_matches_scipy(penalty, backend):
    W, b, X, y = _problem(np.random.default_rng(1), 37, 13, 6)
    loss, dW, db = loss_and_gradient(W.T, b, X, y, penalty, 0.3, 0.4, backend=backend)
    assert loss == pytest.approx(_scipy_loss(W, b, X, y, penalty, 0.3, 0.4), rel=1e-12)
    # analytic data gradient from scipy's softmax
    P = softmax(X @ W + b, axis=1)
    P[np.arange(len(y)), y] -= 1
    l1, l2 = penalty_strengths(penalty, 0.3, 0.4)
    np.testing.assert_allclose(dW.T, X.T @ P / len(y) + l2 * W + l1 * np.sign(W), atol=1e-12)
    np.testing.assert_allclose(db, P.mean(axis=0), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 70), c=st.integers(2, 13),
       penalty=st.sampled_from(PENALTIES), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_numba_kernel_matches_reference(n, d, c, penalty, dtype, seed):
    W, b, X, y = _problem(np.random.default_rng(seed), n, d, c, dtype)
    ref = loss_and_gradient(W.T, b, X, y, penalty, 0.05, 0.5, backend="numpy")
    got = loss_and_gradient(W.T, b, X, y, penalty, 0.05, 0.5, backend="numba")
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert got[0] == pytest.approx(ref[0], rel=tol, abs=tol)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(got[2], ref[2], rtol=tol, atol=tol)


def test_soft_threshold_hand_values():
    W = np.array([-3.0, -0.5, 0.0, 0.2, 2.0])
    np.testing.assert_array_equal(_numpy.soft_threshold(W, 1.0), [-2.0, 0.0, 0.0, 0.0, 1.0])


# ---------------------------------------------------------------- sampling and schedules
def test_shuffle_visits_every_row_once_per_epoch():
    rng = np.random.default_rng(0)
    indices, starts = plan_batches(rng, 10, 4, 6, "shuffle")  # 3 batches an epoch: 4, 4, 2
    assert np.diff(starts).tolist() == [4, 4, 2, 4, 4, 2]
    assert sorted(indices[:10]) == list(range(10))
    assert sorted(indices[10:]) == list(range(10))


def test_replacement_draws_fixed_size_batches():
    indices, starts = plan_batches(np.random.default_rng(0), 10, 4, 5, "replacement")
    assert np.diff(starts).tolist() == [4] * 5
    assert indices.min() >= 0 and indices.max() < 10


def test_learning_rate_schedules():
    clf = SoftmaxClassifier(learning_rate=0.8, lr_schedule="step", lr_decay_steps=2)
    np.testing.assert_allclose(clf._learning_rates(0, 6, 6), [0.8, 0.8, 0.4, 0.4, 0.2, 0.2])
    clf.set_params(lr_schedule="invscaling")
    np.testing.assert_allclose(clf._learning_rates(2, 2, 6), [0.8 / 2, 0.8 / 2.5])
    clf.set_params(lr_schedule="constant")
    np.testing.assert_allclose(clf._learning_rates(0, 3, 6), [0.8] * 3)


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("penalty,l1_method", [("none", "proximal"), ("l2", "proximal"),
                                               ("l1", "proximal"), ("elasticnet", "proximal")])
@pytest.mark.parametrize("sampling,momentum,schedule", [("shuffle", 0.9, "step"),
                                                        ("replacement", 0.0, "invscaling")])
def test_backends_fit_the_same_weights(digits, penalty, l1_method, sampling, momentum, schedule):
    X_train, _, y_train, _ = digits
    params = dict(penalty=penalty, alpha=1e-3, l1_method=l1_method, sampling=sampling,
                  momentum=momentum, lr_schedule=schedule, n_iter=300, batch_size=100,
                  dtype="float64", random_state=3)
    fast = SoftmaxClassifier(backend="numba", **params).fit(X_train, y_train)
    ref = SoftmaxClassifier(backend="numpy", **params).fit(X_train, y_train)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(fast.coef_, ref.coef_, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(fast.intercept_, ref.intercept_, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(fast.loss_curve_, ref.loss_curve_, rtol=1e-6)
    assert fast.n_iter_ == ref.n_iter_ == 300


def test_backends_agree_with_l1_subgradient(digits):
    """sign(W) jumps at 0, so rounding-level differences near 0 flip single steps:
    agreement is to about 1e-2 of the weight scale instead of 1e-4."""
    X_train, _, y_train, _ = digits
    params = dict(penalty="l1", alpha=1e-3, l1_method="subgradient", n_iter=300, batch_size=100,
                  dtype="float64", random_state=3)
    fast = SoftmaxClassifier(backend="numba", **params).fit(X_train, y_train)
    ref = SoftmaxClassifier(backend="numpy", **params).fit(X_train, y_train)
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-2 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(fast.loss_curve_, ref.loss_curve_, rtol=1e-4)


def test_float32_backends_agree(digits):
    X_train, _, y_train, _ = digits
    params = dict(n_iter=200, random_state=0, dtype="float32")
    fast = SoftmaxClassifier(backend="numba", **params).fit(X_train, y_train)
    ref = SoftmaxClassifier(backend="numpy", **params).fit(X_train, y_train)
    assert fast.coef_.dtype == np.float32
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_features", [1, 37, 70])
def test_backends_agree_when_rows_need_padding(dtype, n_features):
    """Widths that are not whole cache lines: the Numba path trains on zero-padded,
    aligned copies and must give the reference's weights (and no padding back)."""
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((300, n_features)).astype(dtype)
    y = (X[:, 0] > 0).astype(int) + 2 * (rng.random(300) > 0.5)
    params = dict(n_iter=150, batch_size=64, alpha=1e-3, random_state=1, dtype=dtype)
    fast = SoftmaxClassifier(backend="numba", **params).fit(X, y)
    ref = SoftmaxClassifier(backend="numpy", **params).fit(X, y)
    assert fast.coef_.shape == ref.coef_.shape == (4, n_features)
    tol = 1e-3 if dtype == "float32" else 1e-6
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=tol * np.abs(ref.coef_).max())
    np.testing.assert_allclose(fast.loss_curve_, ref.loss_curve_, rtol=tol)
    fast.partial_fit(X, y)
    ref.partial_fit(X, y)
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=tol * np.abs(ref.coef_).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree_on_wide_rows(dtype):
    """Rows of many feature tiles (and weights enough for the update's parallel column
    slices): both backends' sgd still make the same steps, with 12 classes (a
    five-class sweep's remainder), elastic net, momentum and a last batch of unequal
    parts."""
    from fastsoftmax.softmax import _layout, get_backend

    rng = np.random.default_rng(12)
    n, d, c = 400, 4100, 12
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, c, n)
    indices, starts = plan_batches(rng, n, 256, 6, "shuffle")
    assert np.diff(starts).min() < 256  # a batch of 144 rows: parts of 128 and 16
    assert _layout.runs_parallel(256, _layout.padded_width(d, dtype), c)
    coef0 = (0.01 * rng.standard_normal((c, d))).astype(dtype)
    results = {}
    for name in ("numpy", "numba"):
        module = get_backend(name)
        coef, intercept = coef0.copy(), np.zeros(c, dtype)
        velocity = (np.zeros_like(coef), np.zeros_like(intercept))
        losses = module.sgd(module.training_input(X), y, coef, intercept, *velocity, indices,
                            starts, np.full(6, 0.05), 1e-4, 1e-2, True, 0.9)
        results[name] = (losses, coef, intercept, velocity[0])
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for ref, got in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=0, atol=tol * max(1.0, np.abs(ref).max()))
    assert np.abs(results["numpy"][1] - coef0).max() > 1e-3  # the weights moved


def test_training_set_too_large_to_copy_is_used_unpadded(monkeypatch):
    from fastsoftmax.softmax import _numba

    monkeypatch.setattr(_numba, "MAX_PADDED_COPY_BYTES", 0)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 37)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    params = dict(n_iter=100, batch_size=50, random_state=2)
    fast = SoftmaxClassifier(backend="numba", **params)
    assert fast._kernel_input(X) is X
    fast.fit(X, y)
    ref = SoftmaxClassifier(backend="numpy", **params).fit(X, y)
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())


def test_padded_rows_are_aligned_zero_padded_copies():
    from fastsoftmax.softmax import _numba

    X = np.arange(3 * 37, dtype=np.float32).reshape(3, 37)
    padded = _numba.padded_rows(X)
    assert padded.shape == (3, 48) and padded.ctypes.data % 64 == 0
    np.testing.assert_array_equal(padded[:, :37], X)
    assert not padded[:, 37:].any()
    assert _numba.padded_rows(padded) is padded  # already aligned and padded: no copy
    assert _numba.padded_rows(np.ones((2, 5)), 8).shape == (2, 8)


def test_float32_exp_kernel_matches_numpy():
    import numba

    from fastsoftmax.softmax import _kernels

    @numba.njit
    def exp_kernel(values):
        _kernels._exp_nonpositive(values, values.shape[0], np.empty(values.shape[0], np.int32))

    values = np.concatenate([-np.linspace(0, 87, 200_001), [-0.0, -1e-8, -100.0, -1e4]])
    got = values.astype(np.float32)
    exp_kernel(got)
    expected = np.exp(values.astype(np.float32).astype(np.float64))
    normal = values >= -87
    np.testing.assert_allclose(got[normal], expected[normal], rtol=4e-7, atol=0)
    assert got[0] == 1.0
    assert np.all(got[~normal] <= 1.7e-38)  # clamped at exp(-87); flushed later as negligible
    as64 = values[:1000].copy()
    exp_kernel(as64)  # other dtypes: np.exp
    np.testing.assert_allclose(as64, np.exp(values[:1000]), rtol=1e-15)


def test_proximal_l1_gives_exact_zeros_subgradient_does_not(digits):
    X_train, _, y_train, _ = digits
    params = dict(penalty="l1", alpha=5e-3, n_iter=600, random_state=0)
    prox = SoftmaxClassifier(l1_method="proximal", **params).fit(X_train, y_train)
    sub = SoftmaxClassifier(l1_method="subgradient", **params).fit(X_train, y_train)
    # digits has constant-zero pixels: their weights never move, so count the others
    active = X_train.std(axis=0) > 0
    assert np.mean(prox.coef_[:, active] == 0) > 0.2
    assert np.mean(sub.coef_[:, active] == 0) < 0.02


def test_reaches_the_logistic_regression_optimum(digits):
    """Same objective as multinomial LogisticRegression with C = 1 / (alpha * n)."""
    X_train, X_test, y_train, y_test = digits
    alpha = 1e-2
    lr = LogisticRegression(C=1.0 / (alpha * len(y_train)), tol=1e-10, max_iter=5000)
    lr.fit(X_train, y_train)
    clf = SoftmaxClassifier(alpha=alpha, epochs=100, dtype="float64", random_state=0)
    clf.fit(X_train, y_train)

    def objective(coef, intercept):
        return _scipy_loss(coef.T, intercept, X_train, y_train, "l2", alpha, 0.0)

    best = objective(lr.coef_, lr.intercept_)
    assert objective(clf.coef_, clf.intercept_) - best < 2e-3
    assert abs(clf.score(X_test, y_test) - lr.score(X_test, y_test)) <= 0.02


def test_default_accuracy_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.93
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X_test)), proba, rtol=1e-6)
    assert clf.n_iter_ == len(clf.loss_curve_) == 1000
    assert clf.loss_curve_[-50:].mean() < clf.loss_curve_[:50].mean() / 3


def test_early_stopping_stops_and_keeps_best(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxClassifier(early_stopping=True, n_iter_no_change=2, tol=0.5, epochs=50,
                            random_state=0).fit(X_train, y_train)
    # tol=0.5 can never be beaten after the first epoch: stops after 1 + 2 epochs
    assert len(clf.validation_scores_) == 3
    assert clf.n_iter_ == 3 * math.ceil(len(y_train) * 0.9 / 256)


def test_partial_fit_needs_classes_then_learns(digits):
    X_train, X_test, y_train, y_test = digits
    clf = SoftmaxClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X_train, y_train)
    for _ in range(30):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))
    assert clf.score(X_test, y_test) > 0.9
    assert clf.n_iter_ == 30 * math.ceil(len(y_train) / 256)


def test_partial_fit_after_fit_continues_the_random_stream(digits, monkeypatch):
    import fastsoftmax.model.classifier as classifier_module

    X_train, _, y_train, _ = digits
    real = classifier_module.plan_batches
    drawn = []

    def recording(rng, *args):
        indices, starts = real(rng, *args)
        drawn.append(indices)
        return indices, starts

    monkeypatch.setattr(classifier_module, "plan_batches", recording)
    clf = SoftmaxClassifier(n_iter=30, batch_size=64, sampling="replacement", random_state=5)
    clf.fit(X_train, y_train).partial_fit(X_train, y_train)
    # reference: one generator from the seed draws fit's 30 batches, then partial_fit's epoch
    rng = np.random.default_rng(5)
    n = len(X_train)
    np.testing.assert_array_equal(drawn[0], real(rng, n, 64, 30, "replacement")[0])
    np.testing.assert_array_equal(drawn[1], real(rng, n, 64, math.ceil(n / 64), "replacement")[0])
    assert not np.array_equal(drawn[1][:64], drawn[0][:64])  # fit's first batch is not replayed


def test_momentum_is_saved_and_continued(tmp_path, digits):
    X_train, _, y_train, _ = digits
    X, y = X_train[:200], y_train[:200]
    clf = SoftmaxClassifier(batch_size=200, momentum=0.9, n_iter=20, backend="numpy",
                            dtype="float64", random_state=0).fit(X, y)
    path = tmp_path / "m.npz"
    clf.save(path)
    loaded = SoftmaxClassifier.load(path)
    without_momentum = SoftmaxClassifier.load(path)
    del without_momentum._velocity
    for model in (clf, loaded, without_momentum):
        model.partial_fit(X, y)  # one batch of all rows: the step does not depend on their order
    np.testing.assert_allclose(loaded.coef_, clf.coef_, rtol=1e-10, atol=1e-13)
    assert not np.allclose(without_momentum.coef_, clf.coef_, rtol=1e-6, atol=0)


def test_string_labels(digits):
    X_train, X_test, y_train, y_test = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = SoftmaxClassifier(random_state=0).fit(X_train, names[y_train])
    assert np.mean(clf.predict(X_test) == names[y_test]) > 0.9


def test_same_seed_same_model(digits):
    X_train, _, y_train, _ = digits
    a = SoftmaxClassifier(random_state=7, n_iter=100).fit(X_train, y_train)
    b = SoftmaxClassifier(random_state=7, n_iter=100).fit(X_train, y_train)
    np.testing.assert_array_equal(a.coef_, b.coef_)


# ---------------------------------------------------------------- errors
def test_divergence_is_reported_with_the_learning_rate(digits):
    X_train, _, y_train, _ = digits
    assert issubclass(TrainingDivergedError, ValueError)
    with pytest.raises(TrainingDivergedError, match=r"diverged.*learning_rate=1e\+06.*smaller learning_rate"):
        SoftmaxClassifier(learning_rate=1e6, momentum=0.9, n_iter=300,
                          random_state=0).fit(X_train * 1e3, y_train)


@pytest.mark.parametrize("params,match", [
    ({"learning_rate": 0}, r"'learning_rate' parameter of SoftmaxClassifier must be a float in the range \(0.0, inf\)"),
    ({"learning_rate": -0.1}, "'learning_rate' parameter of SoftmaxClassifier must be"),
    ({"learning_rate": np.inf}, r"'learning_rate' parameter .* range \(0.0, inf\). Got inf"),
    ({"batch_size": 0}, r"'batch_size' parameter of SoftmaxClassifier must be an int in the range \[1, inf\)"),
    ({"penalty": "l3"}, "'penalty' parameter of SoftmaxClassifier must be a str among"),
    ({"momentum": 1.0}, r"'momentum' parameter of SoftmaxClassifier must be a float in the range \[0.0, 1.0\)"),
    ({"l1_ratio": 1.5}, "'l1_ratio' parameter of SoftmaxClassifier must be"),
    ({"backend": "torch"}, "'backend' parameter of SoftmaxClassifier must be a str among"),
    ({"n_iter": 10, "epochs": 2}, "not both"),
    ({"dtype": "float16"}, "'dtype' parameter of SoftmaxClassifier must be a str among"),
])
def test_invalid_hyperparameters(params, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxClassifier(**params).fit(np.ones((4, 2)), [0, 1, 0, 1])


@pytest.mark.parametrize("X,y,match", [
    (np.ones((4, 2)), [0, 1, 0], "inconsistent numbers of samples"),
    (np.ones((4, 2)), [0, 0, 0, 0], "at least two classes"),
    (np.ones((4, 2)), [0.5, 1.5, 0.2, 0.1], "Unknown label type"),
    (np.array([[1.0, np.nan], [0, 1], [1, 1], [0, 0]]), [0, 1, 0, 1], "NaN"),
    (np.array([[1.0, np.inf], [0, 1], [1, 1], [0, 0]]), [0, 1, 0, 1], "infinity"),
    (np.empty((0, 2)), [], "0 sample"),
    (np.ones(4), [0, 1, 0, 1], "Expected 2D array"),
])
def test_bad_training_data(X, y, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxClassifier().fit(X, y)


def test_predict_checks_feature_count(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxClassifier(n_iter=5).fit(X_train, y_train)
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.ones((2, 3)))


# ---------------------------------------------------------------- persistence
def test_save_load_roundtrip(tmp_path, digits):
    X_train, X_test, y_train, _ = digits
    clf = SoftmaxClassifier(n_iter=50, penalty="elasticnet", random_state=0).fit(X_train, y_train)
    path = tmp_path / "model.npz"
    clf.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind
    again = SoftmaxClassifier.load(path)
    np.testing.assert_array_equal(again.coef_, clf.coef_)
    np.testing.assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))
    assert again.get_params() == clf.get_params()
    assert isinstance(load_model(path), SoftmaxClassifier)
    with np.load(path, allow_pickle=False) as npz:  # nothing in it needs pickle
        assert all(npz[name].dtype != object for name in npz.files)


def test_load_rejects_other_files(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a fastsoftmax model"):
        SoftmaxClassifier.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    with pytest.raises(ModelFileError, match="not a fastsoftmax model"):
        SoftmaxClassifier.load(plain)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SoftmaxClassifier.load(tmp_path / "missing.npz")


def test_load_rejects_newer_format(tmp_path):
    meta = {"format": "fastsoftmax", "format_version": 99, "kind": "SoftmaxClassifier"}
    path = tmp_path / "future.npz"
    np.savez(path, __fastsoftmax__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(ModelFileError, match="newer than this fastsoftmax reads"):
        SoftmaxClassifier.load(path)


def test_failed_save_leaves_no_file(tmp_path, digits, monkeypatch):
    X_train, _, y_train, _ = digits
    clf = SoftmaxClassifier(n_iter=5).fit(X_train, y_train)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        clf.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- scikit-learn conformance
#: Checks this estimator fails by design, as scikit-learn marks them for SGDClassifier.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data":
        "minibatch SGD: a repeated sample fills two batch slots where its weight-2 twin "
        "fills one, so the batches (and the stochastic result) differ; the weighted "
        "objective is the same (tests/test_parity.py checks it at the optimum)",
}


@parametrize_with_checks([SoftmaxClassifier(random_state=0)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_share_one_sgd_contract(dtype):
    """Both backends' ``sgd`` take the same arguments, in coef's (n_classes, n_features)
    layout, update them in place and return the same losses; a divergent run stops at
    the first non-finite loss in both."""
    from fastsoftmax.softmax import get_backend

    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 37)).astype(dtype)
    y = rng.integers(0, 4, 300)
    indices, starts = plan_batches(rng, 300, 64, 30, "shuffle")
    results = {}
    for name in ("numpy", "numba"):
        module = get_backend(name)
        coef, intercept = np.zeros((4, 37), dtype), np.zeros(4, dtype)
        velocity = (np.zeros_like(coef), np.zeros_like(intercept))
        losses = module.sgd(module.training_input(X), y, coef, intercept, *velocity, indices,
                            starts, np.full(30, 0.1), 1e-3, 1e-2, True, 0.5)
        with np.errstate(over="ignore", invalid="ignore"):  # diverging on purpose
            huge = module.sgd(module.training_input(X * 1e30), y, coef.copy(),
                              intercept.copy(), np.zeros_like(coef), np.zeros_like(intercept),
                              indices, starts, np.full(30, 1e30), 0.0, 0.0, True, 0.0)
        results[name] = (coef, intercept, velocity[0], losses, huge)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for ref, got in zip(results["numpy"], results["numba"]):
        if ref.shape and not np.all(np.isfinite(ref)):
            assert len(got) == len(ref) < 30 and not np.isfinite(got[-1])
        else:
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("torch")


@pytest.mark.parametrize("chunk_rows", [None, 3])  # one chunk; 34 chunks of 3 rows, the last 1
def test_scores_of_float32_input_are_the_float64_product_by_any_chunk(monkeypatch, chunk_rows):
    """Scoring widens float32 rows to float64 a bounded chunk at a time; every row's
    scores are its own float64 product, whatever chunk it falls in."""
    import fastsoftmax.model.classifier as classifier

    rng = np.random.default_rng(8)
    X = rng.standard_normal((100, 12)).astype(np.float32)
    y = np.arange(100) % 4
    clf = SoftmaxClassifier(n_iter=50, random_state=0).fit(X, y)
    if chunk_rows is not None:
        monkeypatch.setattr(classifier, "_SCORE_CHUNK_BYTES", 8 * 12 * chunk_rows)
    expected = X.astype(np.float64) @ clf.coef_.T.astype(np.float64) + clf.intercept_
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(expected, axis=1), rtol=1e-12)
