"""Benchmark cases of the training kernel at the learned features' width.

``fastsoftmax train --features kmeans`` trains on (3 x 3 regions + the whole image) x 2
polarities x 800 atoms = 16,000 standardized features (:data:`WIDE_FEATURES`) with :data:`fastsoftmax._shared.presets.KMEANS_CLASSIFIER` (batch 256, learning
rate 0.01, L2 ``alpha`` 1e-3, momentum 0.9, epochs of shuffled batches).  These cases
time that training loop: ``_numba.sgd`` against ``_numpy.sgd`` through the backend
contract, and against PyTorch (``nn.Linear`` + cross-entropy + ``torch.optim.SGD``) on
the same batches.  The learning rate is held constant (the classifier's ``"step"``
schedule halves it a few times; an update costs the same at any rate), so PyTorch's
momentum form ``v = m v + g; w -= lr v`` makes the same steps as ours
``v = m v - lr g; w += v``.
"""
import numpy as np

from fastsoftmax._shared.presets import KMEANS_CLASSIFIER, KMEANS_FEATURES
from fastsoftmax.bench.inputs import require, softmax_problem
from fastsoftmax.bench.timing import Pair
from fastsoftmax.model.schedule import plan_batches
from fastsoftmax.softmax import get_backend

#: The width of the learned features: per pooling region (and the whole image), two
#: polarities of each atom, the atoms folded with their mirror images (half of
#: ``n_centroids``).
WIDE_FEATURES = ((KMEANS_FEATURES["pooling"] ** 2 + KMEANS_FEATURES["pyramid"])
                 * KMEANS_FEATURES["n_centroids"])

#: n_samples, n_features, n_classes, updates per timed call.  ``full`` is the size of
#: CIFAR-10's training set (50,000 rows of 16,000 float32 features: 3.2 GB, larger than any cache);
#: ``quick`` keeps the width with fewer rows (the CI gate); ``tiny`` is for the tests.
WIDE_SIZES = {
    "tiny": (600, 640, 10, 5),
    "quick": (8_000, WIDE_FEATURES, 10, 20),
    "full": (50_000, WIDE_FEATURES, 10, 40),
}


def wide_problem(size):
    """Inputs of the wide training loop: ``X, y, coef0, intercept0, indices, starts,
    rates, settings``.

    Rows are standardized-like (mean 0, unit variance, as the learned features are
    after the pipeline's scaler); batches are one pass of shuffled batches of
    ``KMEANS_CLASSIFIER["batch_size"]`` (``plan_batches``, the classifier's default
    sampling) continued over the updates of one call.
    """
    n, d, c, count = WIDE_SIZES[size]
    X, y, coef, intercept = softmax_problem(n, d, c, seed=17)
    X -= np.float32(0.5)
    X *= np.float32(12.0 ** 0.5)  # uniform on 0..1 to mean 0, variance 1, in place
    batch = KMEANS_CLASSIFIER["batch_size"]
    indices, starts = plan_batches(np.random.default_rng(1), n, batch, count, "shuffle")
    rates = np.full(count, KMEANS_CLASSIFIER["learning_rate"])
    settings = {"n_samples": n, "n_features": d, "n_classes": c, "batch": batch,
                "updates": count, "alpha": KMEANS_CLASSIFIER["alpha"],
                "momentum": KMEANS_CLASSIFIER["momentum"],
                "learning_rate": KMEANS_CLASSIFIER["learning_rate"]}
    return X, y, coef, intercept, indices, starts, rates, settings


def backend_training(backend, X, y, coef0, intercept0, indices, starts, rates, settings):
    """A callable running the updates through ``get_backend(backend).sgd`` from fresh
    weights and zero velocities; it returns ``(coef, intercept)``."""
    module = get_backend(backend)
    X_train = module.training_input(X)  # made once per fit by the classifier

    def train():
        coef, intercept = coef0.copy(), intercept0.copy()
        module.sgd(X_train, y, coef, intercept, np.zeros_like(coef), np.zeros_like(intercept),
                   indices, starts, rates, 0.0, settings["alpha"], True, settings["momentum"])
        return coef, intercept

    return train


def torch_training(X, y, coef0, intercept0, indices, starts, settings):
    """The same updates in PyTorch: ``nn.Linear``, ``cross_entropy``, ``optim.SGD`` with
    momentum and L2 ``weight_decay`` on the weights only; returns ``(coef, intercept)``."""
    torch = require("torch")
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches = [torch.from_numpy(indices[starts[t]:starts[t + 1]])
               for t in range(len(starts) - 1)]

    def train():
        model = torch_sgd(torch, Xt, yt, batches, coef0, intercept0, settings["alpha"],
                          settings["learning_rate"], settings["momentum"])
        return model.weight.detach().numpy(), model.bias.detach().numpy()

    return train, torch.get_num_threads()


def torch_sgd(torch, Xt, yt, batches, coef0, intercept0, alpha, learning_rate, momentum=0.0):
    """PyTorch's version of our SGD: ``nn.Linear`` from ``coef0`` (C, D) and
    ``intercept0``, ``cross_entropy``, ``optim.SGD`` with L2 ``weight_decay`` ``alpha`` on
    the weights only, one step per tensor of row indices in ``batches``; the model."""
    model = torch.nn.Linear(coef0.shape[1], coef0.shape[0])
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(coef0))
        model.bias.copy_(torch.from_numpy(intercept0))
    optimizer = torch.optim.SGD([{"params": [model.weight], "weight_decay": alpha},
                                 {"params": [model.bias], "weight_decay": 0.0}],
                                lr=learning_rate, momentum=momentum)
    for rows in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(Xt.index_select(0, rows)),
                                                 yt.index_select(0, rows))
        loss.backward()
        optimizer.step()
    return model


def _description(settings):
    return (f"X {settings['n_samples']}x{settings['n_features']} float32, "
            f"C={settings['n_classes']}, batch {settings['batch']}, {settings['updates']} "
            f"updates, lr {settings['learning_rate']:g}, alpha {settings['alpha']:g}, "
            f"momentum {settings['momentum']:g}")


def setup_sgd_wide(size):
    """``sgd_wide``: ``_numba.sgd`` against ``_numpy.sgd`` on the same batches."""
    X, y, coef0, b0, indices, starts, rates, settings = wide_problem(size)
    fast = backend_training("numba", X, y, coef0, b0, indices, starts, rates, settings)
    reference = backend_training("numpy", X, y, coef0, b0, indices, starts, rates, settings)
    count = settings["updates"]
    return Pair(fast, reference, unit="update", fast_units=count, reference_units=count,
                info={"shape": _description(settings)})


def setup_sgd_wide_torch(size):
    """``sgd_wide_torch``: ``_numba.sgd`` against PyTorch on the same batches."""
    require("torch")  # skips before the 1.3 GB problem is made
    X, y, coef0, b0, indices, starts, rates, settings = wide_problem(size)
    fast = backend_training("numba", X, y, coef0, b0, indices, starts, rates, settings)
    reference, threads = torch_training(X, y, coef0, b0, indices, starts, settings)
    count = settings["updates"]
    return Pair(fast, reference, reference_label="torch", unit="update", fast_units=count,
                reference_units=count,
                info={"shape": _description(settings), "torch_threads": threads})
