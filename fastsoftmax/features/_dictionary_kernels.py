"""The patch dictionary: Lloyd's k-means (:func:`kmeans`, for the triangle encoder) and
spherical k-means (:func:`spherical_kmeans`, unit-norm atoms for the soft threshold),
their Numba kernels and NumPy references.

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

Both can learn a dictionary closed under the horizontal mirror (``mirror``: the
permutation of a patch's values that flips it left to right).  The dictionary is then
``K / 2`` base atoms followed by their mirror images; a point nearest a mirror atom
adds its own mirror image to that atom's base atom.  That is exactly k-means on the
sample together with its mirror images, constrained to a mirror-closed dictionary,
without forming the mirrored sample (a point's mirror image is nearest the mirror of
the point's nearest atom, at the same distance).
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


@jit(PARALLEL_JIT_OPTIONS, notice="the spherical k-means assignment kernel", compile_seconds=10)
def assign_spherical(points, atoms_t, labels, values):
    """The atom of largest ``|point . atom|`` of every point (first on ties), and that
    dot product.

    ``points`` (n, D), ``atoms_t`` (D, K) float32; fills ``labels`` (n,) int64 and
    ``values`` (n,) float64.
    """
    n = points.shape[0]
    k = atoms_t.shape[1]
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        dots = np.empty((CHUNK, k), dtype=np.float32)
        start = chunk * CHUNK
        m = min(CHUNK, n - start)
        np.dot(points[start:start + m], atoms_t, dots[:m])
        for t in range(m):
            best = np.float32(-1.0)
            for j in range(k):  # a max reduction vectorizes; the argmax is found next
                best = max(best, abs(dots[t, j]))
            best_j = 0
            for j in range(k):
                if abs(dots[t, j]) == best:
                    best_j = j
                    break
            labels[start + t] = best_j
            values[start + t] = dots[t, best_j]


@jit(JIT_OPTIONS)
def accumulate(points, labels, weights, mirror, sums, counts):
    """``sums[k]`` (float64) and ``counts[k]`` of the points of each cluster, in point order.

    Each point counts ``weights[i]`` times (an empty ``weights``: once).  With a
    non-empty ``mirror`` (the patch permutation), ``sums`` has K / 2 rows: a point of
    cluster ``k >= K / 2`` adds its mirror image ``points[i, mirror]`` to row
    ``k - K / 2``.
    """
    sums[:] = 0.0
    counts[:] = 0
    n_base = sums.shape[0]
    folded = mirror.shape[0] > 0
    weighted = weights.shape[0] > 0
    for i in range(points.shape[0]):
        label = labels[i]
        w = weights[i] if weighted else 1.0
        if folded and label >= n_base:
            label -= n_base
            counts[label] += 1
            for d in range(points.shape[1]):
                sums[label, d] += w * points[i, mirror[d]]
        else:
            counts[label] += 1
            for d in range(points.shape[1]):
                sums[label, d] += w * points[i, d]


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


def kmeans(points, n_clusters, max_iter, rng, assign_fn=None, progress=None, init="points",
           mirror=None):
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
    mirror : (D,) int ndarray, optional
        The patch permutation of the horizontal mirror: learn ``n_clusters / 2`` base
        atoms and their mirror images (see the module docstring); ``n_clusters`` even.

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
    mirror, n_base = _check_mirror(mirror, n_clusters, points.shape[1])
    base = _first_atoms(points, n_base, rng, init)
    if init == "normal":
        base = (base * NORMAL_INIT_SCALE).astype(np.float32)
    base, n_iter, sqdist = _alternate(
        points, base, mirror, max_iter, assign_fn or _assign, weighted=False,
        update=lambda sums, counts, sqdist: _new_centers(points, sums, counts, sqdist),
        progress=progress)
    return with_mirror_atoms(base, mirror), n_iter, float(np.mean(sqdist))


def _alternate(points, base, mirror, max_iter, assign, weighted, update, progress):
    """The loop both k-means share: assign the points to the mirror-closed dictionary,
    stop when no assignment changed, else sum each base atom's points (weighted by the
    assignment's second output when ``weighted``) and move the atoms
    (``update(sums, counts, second) -> base``).  Returns ``(base, n_iter, second)``."""
    sums = np.empty((base.shape[0], points.shape[1]), dtype=np.float64)
    counts = np.empty(base.shape[0], dtype=np.int64)
    previous = None
    n_iter = 0
    report(progress, "dictionary", 0, max_iter)
    for _ in range(max_iter):
        labels, second = assign(points, with_mirror_atoms(base, mirror))
        if previous is not None and np.array_equal(labels, previous):
            break
        accumulate(points, labels, second if weighted else _NO_WEIGHTS, mirror, sums, counts)
        base = update(sums, counts, second)
        previous = labels
        n_iter += 1
        report(progress, "dictionary", n_iter, max_iter)
    return base, n_iter, second


def _first_atoms(points, n_base, rng, init):
    """Where k-means starts: ``n_base`` standard normal vectors (float64), or that many
    distinct random points (sorted by index)."""
    if check_init(init) == "normal":
        return rng.standard_normal((n_base, points.shape[1]))
    return points[np.sort(rng.choice(points.shape[0], n_base, replace=False))]


_NO_WEIGHTS = np.empty(0, dtype=np.float64)
_NO_MIRROR = np.empty(0, dtype=np.int64)


def _check_mirror(mirror, n_clusters, dim):
    """(the permutation as int64 or an empty array, the number of base atoms)."""
    if mirror is None:
        return _NO_MIRROR, n_clusters
    mirror = np.asarray(mirror, dtype=np.int64)
    if mirror.shape != (dim,) or not np.array_equal(np.sort(mirror), np.arange(dim)):
        raise ValueError(f"mirror must be a permutation of the {dim} patch values")
    if n_clusters % 2:
        raise ValueError(f"a mirror-closed dictionary has an even size, got {n_clusters}")
    return mirror, n_clusters // 2


def with_mirror_atoms(base, mirror):
    """``base`` followed by its mirror images ``base[:, mirror]`` (or ``base`` when
    ``mirror`` is empty), float32 C-contiguous."""
    if mirror.shape[0] == 0:
        return np.ascontiguousarray(base, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate([base, base[:, mirror]]), dtype=np.float32)


def spherical_kmeans(points, n_atoms, max_iter, rng, assign_fn=None, progress=None,
                     init="normal", mirror=None):
    """Spherical k-means ("gain-shape VQ", Coates & Ng 2011's OMP-1 dictionary): unit
    atoms, each point assigned to the atom of largest ``|x . d|``; an atom moves to the
    normalized sum of its points weighted by those dot products.

    Parameters
    ----------
    points : (n, D) float32 ndarray
    n_atoms : int
    max_iter : int
        Update steps; stops earlier when no assignment changes.
    rng : numpy.random.RandomState
    assign_fn : callable, optional
        ``(points, atoms) -> (labels, values)``; the Numba kernel by default
        (:func:`assign_spherical_reference` for the reference).
    progress : callable, optional
        ``progress("dictionary", n_iter, max_iter)``.
    init : {"normal", "points"}, default="normal"
        Random normal directions, or distinct random points, normalized.
    mirror : (D,) int ndarray, optional
        As for :func:`kmeans`.

    Returns
    -------
    atoms : (n_atoms, D) float32 ndarray
        Unit rows.
    n_iter : int
    inertia : float
        Mean squared distance of the points to their projection on their atom,
        ``||x||^2 - (x . d)^2``, at the last assignment step.

    Notes
    -----
    An atom no point chose restarts in a random normal direction (as the paper's code).
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    mirror, n_base = _check_mirror(mirror, n_atoms, points.shape[1])
    base = _first_atoms(points, n_base, rng, init)

    def update(sums, counts, values):
        empty = counts == 0
        sums[empty] = rng.standard_normal((int(empty.sum()), points.shape[1]))
        return _unit_rows(sums)

    base, n_iter, values = _alternate(points, _unit_rows(base), mirror, max_iter,
                                      assign_fn or _assign_spherical, weighted=True,
                                      update=update, progress=progress)
    sqnorms = np.einsum("nd,nd->n", points, points, dtype=np.float64)
    inertia = float(np.mean(np.maximum(sqnorms - values * values, 0.0)))
    return with_mirror_atoms(base, mirror), n_iter, inertia


def _unit_rows(a):
    a = np.asarray(a, dtype=np.float64)
    norms = np.sqrt(np.einsum("kd,kd->k", a, a))
    return (a / np.maximum(norms, 1e-20)[:, None]).astype(np.float32)


def assign_spherical_reference(points, atoms):
    """NumPy reference of :func:`assign_spherical`: (labels, dot products), float64."""
    dots = np.asarray(points, dtype=np.float64) @ np.asarray(atoms, dtype=np.float64).T
    labels = np.abs(dots).argmax(axis=1)
    return labels, dots[np.arange(len(dots)), labels]


def _assign_spherical(points, atoms):
    labels = np.empty(points.shape[0], dtype=np.int64)
    values = np.empty(points.shape[0], dtype=np.float64)
    with limit_blas_threads():
        assign_spherical(points, np.ascontiguousarray(atoms.T), labels, values)
    return labels, values


def _assign(points, centers):
    labels = np.empty(points.shape[0], dtype=np.int64)
    sqdist = np.empty(points.shape[0], dtype=np.float64)
    center_sqnorms = np.einsum("kd,kd->k", centers, centers, dtype=np.float64).astype(np.float32)
    with limit_blas_threads():
        assign(points, np.ascontiguousarray(centers.T), center_sqnorms, labels, sqdist)
    return labels, sqdist
