"""The same seed and data give bit-identical weights with any Numba thread count."""
import os
import subprocess
import sys

import pytest

# Trains in a fresh process (the thread count is fixed when Numba starts) and prints a
# hash of the weights' bytes per configuration: the parallel path (2 * batch * D * C
# multiply-adds above the kernel's threshold), float64, momentum and elastic net, a
# batch split into parts of unequal size, and wide rows (the learned features' path:
# many feature tiles a group, the update in parallel column slices).
_SCRIPT = """
import hashlib, sys
import numpy as np
from fastsoftmax import SoftmaxClassifier
from fastsoftmax.softmax import _layout

rng = np.random.default_rng(0)
X = rng.standard_normal((3000, 250))
y = rng.integers(0, 10, 3000)
configs = [
    dict(batch_size=500, n_iter=40, dtype="float32"),
    dict(batch_size=500, n_iter=40, dtype="float64", momentum=0.9, penalty="elasticnet",
         alpha=1e-3),
    dict(batch_size=450, n_iter=40, dtype="float32", sampling="replacement"),
    dict(batch_size=64, n_iter=40, dtype="float32"),
]
# rows of many feature tiles, and weights enough for the update's column slices to run
# in parallel
X_wide = rng.standard_normal((700, 3300)).astype(np.float32)
y_wide = rng.integers(0, 10, 700)
configs.append(dict(batch_size=300, n_iter=12, dtype="float32", momentum=0.9,
                    penalty="elasticnet", alpha=1e-3, data=(X_wide, y_wide)))
for params in configs:
    data_X, data_y = params.pop("data", (X, y))
    batch = params["batch_size"]
    width = _layout.padded_width(data_X.shape[1], params["dtype"])
    parallel = _layout.runs_parallel(batch, width, 10)
    clf = SoftmaxClassifier(learning_rate=0.05, random_state=3, **params).fit(data_X, data_y)
    digest = hashlib.sha256(clf.coef_.tobytes() + clf.intercept_.tobytes()).hexdigest()
    print(parallel, digest)
"""


def _weights_digests(n_threads, folder):
    # started in ``folder``: a source checkout in the working folder would shadow the
    # package under test
    env = dict(os.environ, NUMBA_NUM_THREADS=str(n_threads))
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600, cwd=folder)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")


@pytest.mark.slow
def test_weights_are_bit_identical_with_one_two_and_three_threads(tmp_path):
    # A kernel compiled in this process and the same kernel loaded from the disk cache
    # may round float64 fast-math sums differently (docs/development.md: "Reproducibility"), so the
    # first run fills the cache and the compared runs all load from it.
    _weights_digests(2, tmp_path)
    one = _weights_digests(1, tmp_path)
    assert [line.split()[0] for line in one if line] == ["True", "True", "True", "False", "True"]
    assert _weights_digests(2, tmp_path) == one
    assert _weights_digests(3, tmp_path) == one
