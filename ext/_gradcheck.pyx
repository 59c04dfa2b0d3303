# cython: boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Finite-difference gradient of the softmax loss from cached probabilities.

The weights ``W`` are (n_classes, n_features), scikit-learn's ``coef_`` layout, and
the scores ``X @ W.T + b``.  Perturbing ``W[c, d]`` by ``delta`` changes only column
``c`` of the scores, by ``delta * X[:, d]``.  With the unperturbed probabilities ``P``
cached, the change of sample ``i``'s log-sum-exp is
``log1p(P[i, c] * expm1(delta * X[i, d]))``, and the change of its target score is
``delta * X[i, d]`` when ``y[i] == c``.  So each entry costs O(n_samples) and the loss
*difference* is computed directly, never as the difference of two large totals.

Central difference of sample ``i`` (``u = h * X[i, d]``, ``p = P[i, c]``)::

    log1p(p expm1(u)) - log1p(p expm1(-u)) = log1p(p * 2 sinh(u) / (1 + p expm1(-u)))

Forward difference: ``log1p(p expm1(u))``.  The penalty difference is exact
algebra: ``l1 (|w + h| - |w - h|) + 2 l2 w h`` (central) and
``l1 (|w + h| - |w|) + l2 (w h + h^2 / 2)`` (forward).

These functions only compute; validation lives in ``fastsoftmax.model.gradcheck``.
"""
import numpy as np

from libc.math cimport expm1, fabs, log1p, sinh

# Below this |z|, log1p(z) is its Taylor polynomial of degree 6: the first omitted
# term is z^7 / 7, i.e. a relative truncation error below 1.5e-19 (under eps / 1000).
cdef double SERIES_LIMIT = 1e-3


cdef inline double _log1p(double z) noexcept nogil:
    if fabs(z) < SERIES_LIMIT:
        return z * (1.0 + z * (-0.5 + z * (1.0 / 3.0 + z * (-0.25 + z * (0.2 + z * (-1.0 / 6.0))))))
    return log1p(z)


cdef inline double _sum_log1p(const double* p, const double* a, const double* bm,
                              Py_ssize_t n) noexcept nogil:
    """sum_i log1p(p_i a_i / (1 + p_i bm_i)): the summed change of log-sum-exp."""
    cdef Py_ssize_t i
    cdef double s = 0.0
    for i in range(n):
        s += _log1p(p[i] * a[i] / (1.0 + p[i] * bm[i]))
    return s


cdef inline void _fill_column(const double[:, ::1] X, Py_ssize_t d, double h, bint forward,
                              double* a, double* bm, double* u) noexcept nogil:
    """Per-sample factors of column ``d`` of X (``d == n_features``: the bias, x = 1)."""
    cdef Py_ssize_t i, n = X.shape[0]
    cdef double x
    for i in range(n):
        x = 1.0 if d == X.shape[1] else X[i, d]
        u[i] = h * x
        if forward:
            a[i] = expm1(h * x)
            bm[i] = 0.0
        else:
            a[i] = 2.0 * sinh(h * x)
            bm[i] = expm1(-h * x)
            u[i] = 2.0 * u[i]   # the target score moves by +h x and -h x: difference 2 h x


cdef inline double _penalty_difference(double w, double l1, double l2, double h,
                                       bint forward) noexcept nogil:
    if forward:
        return l1 * (fabs(w + h) - fabs(w)) + l2 * (w * h + 0.5 * h * h)
    return l1 * (fabs(w + h) - fabs(w - h)) + 2.0 * l2 * w * h


def difference_quotients(const double[:, ::1] X, const Py_ssize_t[::1] y,
                         const double[:, ::1] P, const double[:, ::1] W,
                         double l1, double l2, double h, bint forward,
                         double[:, ::1] dW, double[::1] db):
    """Fill ``dW`` (n_classes, n_features) and ``db`` (n_classes,) with difference quotients.

    ``P`` holds the unperturbed softmax probabilities of ``X @ W.T + b``; the loss is the
    mean cross-entropy plus ``l1 ||W||_1 + l2 / 2 ||W||^2``.  Central differences
    ``(L(+h) - L(-h)) / 2h`` unless ``forward`` (``(L(+h) - L) / h``).
    """
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1], n_classes = P.shape[1]
    cdef Py_ssize_t i, d, c
    cdef double[:, ::1] PT = np.ascontiguousarray(np.asarray(P).T)
    cdef double[::1] a = np.empty(n), bm = np.empty(n), u = np.empty(n)
    cdef double[::1] target = np.empty(n_classes)
    cdef double step = h if forward else 2.0 * h
    cdef double s, pen
    with nogil:
        for d in range(n_features + 1):       # the last "column" is the bias
            _fill_column(X, d, h, forward, &a[0], &bm[0], &u[0])
            for c in range(n_classes):
                target[c] = 0.0
            for i in range(n):
                target[y[i]] += u[i]
            for c in range(n_classes):
                s = (_sum_log1p(&PT[c, 0], &a[0], &bm[0], n) - target[c]) / n
                if d < n_features:
                    pen = _penalty_difference(W[c, d], l1, l2, h, forward)
                    dW[c, d] = (s + pen) / step
                else:
                    db[c] = s / step


def sparse_difference_quotients(const double[:, ::1] X, const Py_ssize_t[::1] y,
                                const double[:, ::1] P, const double[:, ::1] W,
                                const Py_ssize_t[::1] rows, const Py_ssize_t[::1] cols,
                                double l1, double l2, double h, bint forward,
                                double[::1] out):
    """Difference quotients at the coordinates ``(rows[k], cols[k])`` (class, feature)
    into ``out[k]``.

    Column ``n_features`` stands for the bias (as if ``b`` were appended to W as a last
    column).
    """
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t i, k, d, c
    cdef double[:, ::1] PT = np.ascontiguousarray(np.asarray(P).T)
    cdef double[::1] a = np.empty(n), bm = np.empty(n), u = np.empty(n)
    cdef double step = h if forward else 2.0 * h
    cdef double s, target
    with nogil:
        for k in range(rows.shape[0]):
            c = rows[k]
            d = cols[k]
            _fill_column(X, d, h, forward, &a[0], &bm[0], &u[0])
            target = 0.0
            for i in range(n):
                if y[i] == c:
                    target += u[i]
            s = (_sum_log1p(&PT[c, 0], &a[0], &bm[0], n) - target) / n
            if d < n_features:
                s += _penalty_difference(W[c, d], l1, l2, h, forward)
            out[k] = s / step
