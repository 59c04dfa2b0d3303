"""Lloyd's k-means for the patch dictionary: the Numba kernels, the loop that drives
them (:func:`kmeans`) and their NumPy reference.

The assignment step is the cost (400,000 patches x 1,600 centroids x 108 values, 50
times): :func:`assign` splits the points into chunks shared among the threads, computes
each chunk's dot products with all centroids by one BLAS sgemm into a scratch buffer,
and takes the nearest centroid from ``||c||^2 - 2 x.c`` while the buffer is hot.  The
centroid update (:func:`accumulate`) sums in float64, serially, in point order, so
results do not depend on the number of threads.  Measured against scikit-learn's
``KMeans(algorithm="lloyd")`` with the same initial centroids, see
``benchmarks/bench_kmeans.py``.

Empty clusters take the points farthest from their centroid (as scikit-learn does),
so the dictionary never holds dead or NaN centroids.
"""
import numpy as np
from numba import prange

from fastsoftmax._shared.config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from fastsoftmax._shared.jit import jit
from fastsoftmax._shared.progress import report
from fastsoftmax.features._blas import limit_blas_threads

#: Points per parallel task: a 512 x 1,600 float32 buffer of dot products.
CHUNK = 512


@jit(PARALLEL_JIT_OPTIONS, notice="the k-means assignment kernel", compile_seconds=10)
def assign(points, centers_t, center_sqnorms, labels, sqdist):
    """Nearest centroid of every point (first on ties) and its squared distance.

    ``points`` (n, D), ``centers_t`` (D, K), ``center_sqnorms`` (K,) float32;
    fills ``labels`` (n,) int64 and ``sqdist`` (n,) float64.
    """
    n, dim = points.shape
    k = centers_t.shape[1]
    two = np.float32(2.0)
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        dots = np.empty((CHUNK, k), dtype=np.float32)
        start = chunk * CHUNK
        m = min(CHUNK, n - start)
        np.dot(points[start:start + m], centers_t, dots[:m])
        for t in range(m):
            best = np.inf
            for j in range(k):  # a min reduction vectorizes; the argmin is found next
                v = center_sqnorms[j] - two * dots[t, j]
                dots[t, j] = v
                best = min(best, v)
            best_j = 0
            for j in range(k):
                if dots[t, j] == best:
                    best_j = j
                    break
            norm = 0.0
            for d in range(dim):
                norm += np.float64(points[start + t, d]) * points[start + t, d]
            labels[start + t] = best_j
            sqdist[start + t] = max(norm + best, 0.0)


@jit(JIT_OPTIONS)
def accumulate(points, labels, sums, counts):
    """``sums[k]`` (float64) and ``counts[k]`` of the points of each cluster, in point order."""
    sums[:] = 0.0
    counts[:] = 0
    for i in range(points.shape[0]):
        label = labels[i]
        counts[label] += 1
        for d in range(points.shape[1]):
            sums[label, d] += points[i, d]


def assign_reference(points, centers):
    """NumPy reference of :func:`assign`: (labels, squared distances), float64."""
    points = np.asarray(points, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    d2 = (np.einsum("nd,nd->n", points, points)[:, None] - 2.0 * points @ centers.T
          + np.einsum("kd,kd->k", centers, centers))
    labels = d2.argmin(axis=1)
    return labels, np.maximum(d2[np.arange(len(points)), labels], 0.0)


def _new_centers(points, sums, counts, sqdist):
    """Cluster means; empty clusters move to the points farthest from their centroid."""
    centers = sums / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        farthest = np.argsort(-sqdist, kind="stable")[:empty.size]
        centers[empty] = points[farthest]
    return centers.astype(np.float32)


#: Ways to start :func:`kmeans`.
INITS = ("normal", "points")
#: Standard deviation of the ``"normal"`` initial centroids (the paper's code: 0.1).
NORMAL_INIT_SCALE = 0.1


def check_init(init):
    """``init`` if it is one of :data:`INITS`, else ``ValueError``."""
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    return init


def kmeans(points, n_clusters, max_iter, rng, assign_fn=None, progress=None, init="points"):
    """Lloyd's k-means.

    Parameters
    ----------
    points : (n, D) float32 ndarray
    n_clusters : int
        At most ``n``.
    max_iter : int
        Update steps; stops earlier when no assignment changes.
    rng : numpy.random.RandomState
    assign_fn : callable, optional
        ``(points, centers) -> (labels, sqdist)``; the Numba kernel by default
        (:func:`assign_reference` for the reference).
    progress : callable, optional
        ``progress("dictionary", n_iter, max_iter)`` before the first update step and
        after each (see :mod:`fastsoftmax._shared.progress`).
    init : {"points", "normal"}, default="points"
        ``"points"``: ``n_clusters`` distinct random points (sorted by index);
        ``"normal"``: ``NORMAL_INIT_SCALE`` times standard normal vectors, as the
        paper's code does.  Small random vectors first split the points by direction
        (each takes the points it is most aligned with), which on whitened image
        patches leaves few or no empty clusters and gives better features than
        ``"points"``.

    Returns
    -------
    centers : (n_clusters, D) float32 ndarray
    n_iter : int
        Update steps made.
    inertia : float
        Mean squared distance of the points to their nearest centroid at the last
        assignment step.
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    if check_init(init) == "normal":
        centers = (rng.standard_normal((n_clusters, points.shape[1]))
                   * NORMAL_INIT_SCALE).astype(np.float32)
    else:
        centers = points[np.sort(rng.choice(points.shape[0], n_clusters, replace=False))]
    sums = np.empty((n_clusters, points.shape[1]), dtype=np.float64)
    counts = np.empty(n_clusters, dtype=np.int64)
    previous = None
    n_iter = 0
    report(progress, "dictionary", 0, max_iter)
    for _ in range(max_iter):
        if assign_fn is None:
            labels, sqdist = _assign(points, centers)
        else:
            labels, sqdist = assign_fn(points, centers)
        if previous is not None and np.array_equal(labels, previous):
            break
        accumulate(points, labels, sums, counts)
        centers = _new_centers(points, sums, counts, sqdist)
        previous = labels
        n_iter += 1
        report(progress, "dictionary", n_iter, max_iter)
    return centers, n_iter, float(np.mean(sqdist))


def _assign(points, centers):
    labels = np.empty(points.shape[0], dtype=np.int64)
    sqdist = np.empty(points.shape[0], dtype=np.float64)
    center_sqnorms = np.einsum("kd,kd->k", centers, centers, dtype=np.float64).astype(np.float32)
    with limit_blas_threads():
        assign(points, np.ascontiguousarray(centers.T), center_sqnorms, labels, sqdist)
    return labels, sqdist
