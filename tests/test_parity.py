"""scikit-learn parity: sample and class weights, stopping on the training loss,
``verbose``, sparse input, and the new parameters in model files."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from fastsoftmax import SoftmaxClassifier, load_model
from fastsoftmax.model.classifier_state import from_arrays
from fastsoftmax.softmax import get_backend, loss_and_gradient
from fastsoftmax.model.schedule import as_generator, plan_batches, validation_split

BACKENDS = ["numpy", "numba"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def _problem(seed, n=150, d=11, c=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    W = (0.5 * rng.standard_normal((d, c))).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    y = rng.integers(0, c, n)
    w = rng.uniform(0.0, 3.0, n)
    w[::7] = 0.0
    return W, b, X, y, w


def _weighted_objective(W, b, X, y, w, alpha):
    """sum_i w_i * (-log p_i[y_i]) / sum_i w_i + alpha / 2 ||W||^2, from scipy."""
    logp = log_softmax(X.astype(np.float64) @ W + b, axis=1)
    return -np.dot(w, logp[np.arange(len(y)), y]) / w.sum() + 0.5 * alpha * np.sum(W ** 2)


# ---------------------------------------------------------------- loss and gradient
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_loss_and_gradient_match_the_formula(backend, dtype):
    """The weighted mean loss and its gradient ``X.T @ (w / sum w * (P - onehot))``,
    computed by hand from scipy's log_softmax."""
    W, b, X, y, w = _problem(0, dtype=dtype)
    loss, dW, db = loss_and_gradient(W.T, b, X, y, "l2", 0.1, backend=backend, sample_weight=w)
    P = np.exp(log_softmax(X.astype(np.float64) @ W + b, axis=1))
    P[np.arange(len(y)), y] -= 1.0
    share = (w / w.sum())[:, None]
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert loss == pytest.approx(_weighted_objective(W, b, X, y, w, 0.1), rel=tol)
    np.testing.assert_allclose(dW.T, X.T.astype(np.float64) @ (share * P) + 0.1 * W,
                               rtol=0, atol=tol)
    np.testing.assert_allclose(db, (share * P).sum(axis=0), rtol=0, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_weights_remove_rows_and_integer_weights_repeat_them(backend):
    W, b, X, y, w = _problem(1)
    keep = w > 0
    weighted = loss_and_gradient(W.T, b, X, y, backend=backend, sample_weight=w * keep)
    removed = loss_and_gradient(W.T, b, X[keep], y[keep], backend=backend, sample_weight=w[keep])
    for got, want in zip(weighted, removed):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    counts = np.random.default_rng(2).integers(0, 4, len(y))
    repeated = np.repeat(np.arange(len(y)), counts)
    by_weight = loss_and_gradient(W.T, b, X, y, backend=backend, sample_weight=counts.astype(float))
    by_rows = loss_and_gradient(W.T, b, X[repeated], y[repeated], backend=backend)
    for got, want in zip(by_weight, by_rows):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_sgd_backends_agree(dtype):
    """Both backends' sgd with weights (zeros included, and one batch whose weights are
    all zero: only the penalty moves the weights there)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 37)).astype(dtype)
    y = rng.integers(0, 6, 300)
    indices, starts = plan_batches(rng, 300, 64, 25, "shuffle")
    w = rng.uniform(0.0, 2.0, 300)
    w[rng.random(300) < 0.2] = 0.0
    w[indices[starts[3]:starts[4]]] = 0.0  # batch 3 weighs nothing
    results = {}
    for name in BACKENDS:
        module = get_backend(name)
        coef, intercept = np.zeros((6, 37), dtype), np.zeros(6, dtype)
        velocity = (np.zeros_like(coef), np.zeros_like(intercept))
        losses = module.sgd(module.training_input(X), y, coef, intercept, *velocity, indices,
                            starts, np.full(25, 0.1), 1e-3, 1e-2, True, 0.5, w)
        results[name] = losses, coef, intercept, velocity
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for got, want in zip(results["numba"], results["numpy"]):
        for g, r in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g, r, rtol=0, atol=tol * max(1.0, np.abs(r).max()))
    losses = results["numpy"][0]
    assert np.all(np.isfinite(losses))
    # the zero-weight batch's loss is the penalty alone, the L2 part of which is >0 there
    assert 0 < losses[3] < 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_weights_of_one_train_as_no_weights(dtype):
    """The weighted kernel with weights 1 makes the unweighted kernel's updates: bit for
    bit in float32; in float64 to the last bit or two, because the two are separate
    fast-math compilations (one may come from the shipped cache, the other be compiled
    in this process; docs/development.md "Reproducibility")."""
    module = get_backend("numba")
    rng = np.random.default_rng(6)
    X = module.training_input(rng.standard_normal((400, 29)).astype(dtype))
    y = rng.integers(0, 7, 400)
    indices, starts = plan_batches(rng, 400, 100, 30, "replacement")
    out = []
    for weights in (None, np.ones(400)):
        coef, intercept = np.zeros((7, 29), dtype), np.zeros(7, dtype)
        velocity = (np.zeros_like(coef), np.zeros_like(intercept))
        losses = module.sgd(X, y, coef, intercept, *velocity, indices, starts, np.full(30, 0.2),
                            0.0, 1e-3, True, 0.9, weights)
        out.append((losses, coef, intercept, *velocity))
    for got, want in zip(out[1][1:], out[0][1:]):
        if dtype == np.float32:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-12 if dtype == np.float64 else 1e-6)


# ---------------------------------------------------------------- fit with weights
def test_equal_sample_weights_fit_as_none(digits):
    X_train, _, y_train, _ = digits
    params = dict(n_iter=120, random_state=0)
    plain = SoftmaxClassifier(**params).fit(X_train, y_train)
    for weights in (np.ones(len(y_train)), np.full(len(y_train), 3.5)):
        weighted = SoftmaxClassifier(**params).fit(X_train, y_train, sample_weight=weights)
        np.testing.assert_array_equal(weighted.coef_, plain.coef_)
        np.testing.assert_array_equal(weighted.loss_curve_, plain.loss_curve_)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weighted_fit_reaches_the_weighted_logistic_regression_optimum(digits, backend):
    """sample_weight (zeros included) and class_weight minimize LogisticRegression's
    weighted objective with C = 1 / (alpha * sum(w)); its optimum, fitted without the
    zero-weight rows, is reached."""
    X_train, X_test, y_train, y_test = digits
    rng = np.random.default_rng(0)
    w = rng.uniform(0.2, 3.0, len(y_train))
    w[rng.random(len(y_train)) < 0.3] = 0.0
    class_weight = {c: 1.0 + 0.5 * (c % 3) for c in range(10)}
    total = w * np.array([class_weight[c] for c in y_train])
    alpha = 1e-2
    keep = w > 0
    lr = LogisticRegression(C=1.0 / (alpha * total.sum()), class_weight=class_weight,
                            tol=1e-10, max_iter=5000)
    lr.fit(X_train[keep], y_train[keep], sample_weight=w[keep])
    clf = SoftmaxClassifier(alpha=alpha, epochs=100, dtype="float64", random_state=0,
                            backend=backend, class_weight=class_weight)
    clf.fit(X_train, y_train, sample_weight=w)

    def objective(model):
        return _weighted_objective(model.coef_.T, model.intercept_, X_train, y_train, total,
                                   alpha)

    assert objective(clf) - objective(lr) < 2e-3
    assert abs(clf.score(X_test, y_test) - lr.score(X_test, y_test)) <= 0.03


def test_balanced_class_weight_matches_logistic_regression(digits):
    X_train, _, y_train, _ = digits
    keep = (y_train < 3) | (np.arange(len(y_train)) % 4 == 0)  # classes 0-2 four times as common
    X, y = X_train[keep], y_train[keep]
    alpha = 1e-2
    lr = LogisticRegression(C=1.0 / (alpha * len(y)), class_weight="balanced", tol=1e-10,
                            max_iter=5000).fit(X, y)
    clf = SoftmaxClassifier(alpha=alpha, epochs=150, batch_size=64, dtype="float64",
                            random_state=0, class_weight="balanced").fit(X, y)
    per_class = compute_class_weight("balanced", classes=np.arange(10), y=y)
    total = per_class[y]

    def objective(model):
        return _weighted_objective(model.coef_.T, model.intercept_, X, y, total, alpha)

    assert objective(clf) - objective(lr) < 2e-3


def test_class_weight_is_sample_weight_per_class(digits):
    """class_weight multiplies sample_weight: the fits are bit for bit the ones with the
    product as sample_weight."""
    X_train, _, y_train, _ = digits
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y_train))
    balanced = compute_class_weight("balanced", classes=np.arange(10), y=y_train)
    by_dict = np.where(y_train == 3, 4.0, np.where(y_train == 7, 0.5, 1.0))
    cases = [("balanced", None, balanced[y_train]), ({3: 4.0, 7: 0.5}, sw, sw * by_dict)]
    for class_weight, sample_weight, product in cases:
        a = SoftmaxClassifier(n_iter=60, random_state=1, class_weight=class_weight)
        a.fit(X_train, y_train, sample_weight=sample_weight)
        b = SoftmaxClassifier(n_iter=60, random_state=1).fit(X_train, y_train,
                                                             sample_weight=product)
        np.testing.assert_array_equal(a.coef_, b.coef_)
        np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


def test_class_weight_helps_the_rare_class():
    """As LogisticRegression's: balanced weights raise the rare class's recall."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (950, 2)), rng.normal(1.2, 1, (50, 2))])
    y = np.r_[np.zeros(950, int), np.ones(50, int)]
    recall = {}
    for class_weight in (None, "balanced"):
        clf = SoftmaxClassifier(class_weight=class_weight, epochs=30, random_state=0).fit(X, y)
        recall[class_weight] = np.mean(clf.predict(X[y == 1]) == 1)
    assert recall["balanced"] > recall[None] + 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_with_sample_weight(backend):
    """partial_fit's weighted epoch is fit's first weighted epoch (same random stream)."""
    W, b, X, y, w = _problem(4, n=400, c=3)
    params = dict(batch_size=50, momentum=0.0, lr_schedule="constant", random_state=2,
                  backend=backend, dtype="float64")
    one_epoch = SoftmaxClassifier(epochs=1, **params).fit(X, y, sample_weight=w)
    online = SoftmaxClassifier(**params).partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    np.testing.assert_allclose(online.coef_, one_epoch.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(online.loss_curve_, one_epoch.loss_curve_, rtol=1e-12)


def test_early_stopping_split_keeps_weights_with_their_samples():
    X = np.arange(40.0)[:, None]
    y = np.arange(40) % 2
    weights = np.arange(40.0) + 100.0
    X_train, X_val, y_train, y_val, w_train, w_val = validation_split(
        X, y, weights, 0.25, np.random.default_rng(0))
    assert len(w_val) == 10 and len(w_train) == 30
    np.testing.assert_array_equal(w_train, X_train[:, 0] + 100.0)
    np.testing.assert_array_equal(w_val, X_val[:, 0] + 100.0)
    np.testing.assert_array_equal(y_val, X_val[:, 0].astype(int) % 2)


def test_early_stopping_scores_the_weighted_validation_accuracy(digits):
    X_train, _, y_train, _ = digits
    w = np.random.default_rng(1).uniform(0.0, 5.0, len(y_train))
    clf = SoftmaxClassifier(early_stopping=True, epochs=1, random_state=4)
    clf.fit(X_train, y_train, sample_weight=w)
    # the split fit made: the first draw of its random stream seeds it
    _, X_val, _, y_val, _, w_val = validation_split(
        X_train, y_train, w, clf.validation_fraction, as_generator(4))
    correct = clf.predict(X_val) == y_val
    assert clf.validation_scores_ == [pytest.approx(np.sum(w_val * correct) / w_val.sum())]
    assert clf.validation_scores_[0] != pytest.approx(correct.mean())  # the weights counted


@pytest.mark.parametrize("kwargs,match", [
    (dict(sample_weight=-np.ones(4)), "Negative values in data passed to `sample_weight`"),
    (dict(sample_weight=np.ones(3)), r"sample_weight.shape == \(3,\), expected \(4,\)"),
    (dict(sample_weight=np.array([1.0, np.nan, 1.0, 1.0])), "NaN"),
    (dict(sample_weight=np.array([1.0, 0.0, 1.0, 0.0])), "class weights\\) are all zero"),
])
def test_bad_sample_weight_is_refused(kwargs, match):
    X = np.eye(4)
    y = np.array([0, 1, 0, 1])
    clf = SoftmaxClassifier(class_weight={0: 0.0})
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, **kwargs)
    assert not hasattr(clf, "coef_")


def test_class_weight_errors():
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError,
                       match=r"'class_weight' parameter .* \{'balanced'\} or None\. Got 'even'"):
        SoftmaxClassifier(class_weight="even").fit(X, y)
    with pytest.raises(ValueError,
                       match=r"class_weight names \[5\], which are not classes of y \(\[0, 1\]\)"):
        SoftmaxClassifier(class_weight={5: 2.0}).fit(X, y)
    with pytest.raises(ValueError, match=r"'balanced' needs all of y.*compute_class_weight"):
        SoftmaxClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


# ---------------------------------------------------------------- stopping on the loss
def _stop_epoch(epoch_losses, tol, n_iter_no_change):
    """scikit-learn's rule (``_plain_sgd``), written out: the 1-based epoch it stops at."""
    best, count = math.inf, 0
    for epoch, loss in enumerate(epoch_losses, start=1):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count >= n_iter_no_change:
            return epoch
    return None


@pytest.mark.parametrize("tol,n_iter_no_change", [(0.1, 5), (1e-3, 3), (1e-2, 1)])
def test_tol_stops_on_the_epoch_mean_loss(digits, tol, n_iter_no_change):
    """The fit stops at the epoch where the rule, applied to the epoch means of the full
    (tol=None) run's loss curve, fires; up to there the two runs are the same."""
    X_train, _, y_train, _ = digits
    params = dict(n_iter=1200, batch_size=128, random_state=0)
    full = SoftmaxClassifier(tol=None, **params).fit(X_train, y_train)
    per_epoch = math.ceil(len(y_train) / 128)
    n_epochs = len(full.loss_curve_) // per_epoch
    means = full.loss_curve_[:n_epochs * per_epoch].reshape(n_epochs, per_epoch).mean(axis=1)
    expected = _stop_epoch(means, tol, n_iter_no_change)
    assert expected is not None and expected * per_epoch < 1200
    stopped = SoftmaxClassifier(tol=tol, n_iter_no_change=n_iter_no_change, **params)
    stopped.fit(X_train, y_train)
    assert stopped.n_iter_ == len(stopped.loss_curve_) == expected * per_epoch
    np.testing.assert_array_equal(stopped.loss_curve_, full.loss_curve_[:stopped.n_iter_])


def test_tol_none_and_early_stopping(digits):
    X_train, _, y_train, _ = digits
    clf = SoftmaxClassifier(tol=None, n_iter=300, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ == 300
    stopped = SoftmaxClassifier(early_stopping=True, tol=None, n_iter_no_change=2, epochs=200,
                                random_state=0).fit(X_train, y_train)
    scores = stopped.validation_scores_
    # tol=None with early stopping: any rise of the accuracy counts (tol 0)
    assert len(scores) < 200
    assert max(scores[-2:]) <= max(scores[:-2])


def test_verbose_prints_epochs(digits, capsys):
    X_train, _, y_train, _ = digits
    SoftmaxClassifier(n_iter=40, random_state=0).fit(X_train, y_train)
    assert capsys.readouterr().out == ""
    clf = SoftmaxClassifier(epochs=6, batch_size=500, verbose=1, tol=10.0, n_iter_no_change=2,
                            random_state=0).fit(X_train, y_train)
    out = capsys.readouterr().out
    # no epoch beats the first by 10: the third is the second without improvement
    assert out.count("-- Epoch") == 3
    per_epoch = math.ceil(len(y_train) / 500)
    for epoch in (1, 2):
        mean = clf.loss_curve_[(epoch - 1) * per_epoch:epoch * per_epoch].mean()
        assert f"-- Epoch {epoch}\nT: {epoch * per_epoch}, Avg. loss: {mean:.6f}\n" in out
    assert "Convergence after 3 epochs took" in out
    clf.partial_fit(X_train, y_train)
    assert "-- Epoch 4\n" in capsys.readouterr().out


# ---------------------------------------------------------------- sparse input
@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict", "predict_proba", "score",
                                    "decision_function"])
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array, sp.coo_matrix])
def test_sparse_input_is_refused_with_a_hint(method, container):
    X = np.random.default_rng(0).random((20, 5))
    y = np.arange(20) % 2
    fitted = SoftmaxClassifier(n_iter=2).fit(X, y)
    clf = SoftmaxClassifier() if method in ("fit", "partial_fit") else fitted
    coef = getattr(clf, "coef_", None)
    call = {"fit": lambda: clf.fit(container(X), y),
            "partial_fit": lambda: clf.partial_fit(container(X), y, classes=[0, 1]),
            "score": lambda: clf.score(container(X), y)}.get(
        method, lambda: getattr(clf, method)(container(X)))
    with pytest.raises(TypeError, match=r"Sparse data was passed.*dense data is required.*"
                                        r"toarray\(\)"):
        call()
    assert getattr(clf, "coef_", None) is coef  # nothing trained before the refusal


# ---------------------------------------------------------------- model files
@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 2.0, 1: 0.5},
                                          {"cat": 3.0, "dog": 1.0}])
def test_model_files_keep_the_new_parameters(tmp_path, class_weight):
    X = np.random.default_rng(0).random((30, 4))
    y = np.where(np.arange(30) % 2, 1, 0)
    if isinstance(class_weight, dict) and "cat" in class_weight:
        y = np.where(y == 1, "cat", "dog")
    clf = SoftmaxClassifier(class_weight=class_weight, tol=0.05, verbose=2, n_iter=30)
    clf.fit(X, y, sample_weight=np.linspace(1, 2, 30))
    clf.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    loaded.fit(X, y)  # the restored class_weight fits the labels again


def test_model_files_from_before_the_new_parameters_load():
    X = np.random.default_rng(0).random((30, 4))
    y = np.arange(30) % 3
    metadata, arrays = SoftmaxClassifier(n_iter=5).fit(X, y).to_arrays()
    for name in ("class_weight", "verbose"):
        del metadata["params"][name]
    metadata["params"]["tol"] = 1e-4  # the old default
    model = from_arrays(SoftmaxClassifier, metadata, arrays)
    assert model.class_weight is None and model.verbose == 0 and model.tol == 1e-4


@pytest.mark.parametrize("stored,match", [
    ([[0, 1.0], [0, 2.0]], "repeats the label 0"),
    ([[0, "heavy"]], r"\[label, finite weight\] pairs"),
    ([[0, float("inf")]], r"\[label, finite weight\] pairs"),
    ([0, 1.0], r"\[label, finite weight\] pairs"),
    ("balanced", "'class_weight' is a str, expected list"),
])
def test_hostile_class_weight_entries_are_refused(stored, match):
    X = np.random.default_rng(0).random((30, 4))
    y = np.arange(30) % 2
    metadata, arrays = SoftmaxClassifier(n_iter=5).fit(X, y).to_arrays()
    metadata["class_weight"] = stored
    with pytest.raises((TypeError, ValueError), match=match):
        from_arrays(SoftmaxClassifier, metadata, arrays)


# ---------------------------------------------------------------- command line
def test_train_class_weight_balanced(tmp_path):
    import json

    from click.testing import CliRunner

    from fastsoftmax.cli import main

    model = tmp_path / "m.npz"
    result = CliRunner().invoke(main, ["train", "--json", "--n-iter", "20", "--class-weight",
                                       "balanced", "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["params"]["class_weight"] == "balanced"
    assert load_model(model).classifier_.class_weight == "balanced"
    refused = CliRunner().invoke(main, ["train", "--class-weight", "heavy"])
    assert refused.exit_code == 2
    assert "Invalid value for '--class-weight': 'heavy' is not 'balanced'" in refused.output


def test_early_stopping_with_tol_none_stops_on_a_plateau():
    """tol=None with early stopping means tol 0: an accuracy that stays the same is no
    improvement (a separable problem reaches 1.0 and stays there)."""
    X = np.r_[np.zeros((50, 2)), np.ones((50, 2))]
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    clf = SoftmaxClassifier(early_stopping=True, tol=None, n_iter_no_change=3, epochs=100,
                            batch_size=10, random_state=0).fit(X, y)
    assert clf.validation_scores_ == [1.0] * 4
    assert clf.n_iter_ == 4 * 9
