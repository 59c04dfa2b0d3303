"""ZCA whitening of sampled patches, fitted so that it commutes with the horizontal
mirror when asked: the first layer's image patches (a permutation of their values) and
the second layer's neighbourhoods of its map (a permutation that also negates the
mirror-odd channels)."""
import numpy as np

__all__ = ["zca_whitening"]


def zca_whitening(patches, eps, mirror=None, signs=None, relative_eps=False):
    """ZCA whitening of patches: ``mean`` (D,) and ``matrix`` (D, D), float64.

    ``matrix = V diag(1 / sqrt(lambda + eps)) V^T`` from the covariance (n - 1) of
    the patches, as in the paper's code.  With ``mirror`` (the permutation of a patch's
    values that the horizontal flip makes, each value multiplied by ``signs`` when
    given: ``M x = signs * x[mirror]``), the mean and covariance are those of the
    patches together with their mirror images, so that whitening commutes with the
    flip: ``white(M x) == M white(x)``, exactly.  With ``relative_eps``, ``eps`` is a
    fraction of the largest eigenvalue.  With ``mirror``, the product ``patches.T @
    patches`` takes the patches' dtype (float32 patches: half the time and memory of
    float64 ones); means, covariance and eigenvectors are float64.
    """
    n = patches.shape[0]
    mean = patches.mean(axis=0, dtype=np.float64)
    if mirror is None:
        centered = patches - mean
        cov = centered.T @ centered / max(n - 1, 1)
    else:
        signs = 1.0 if signs is None else np.asarray(signs, dtype=np.float64)
        flip = np.outer(signs, signs) if np.ndim(signs) else 1.0
        second = (patches.T @ patches).astype(np.float64) / n
        second = 0.5 * (second + second[np.ix_(mirror, mirror)] * flip)
        mean = 0.5 * (mean + mean[mirror] * signs)
        cov = (second - np.outer(mean, mean)) * (2 * n / max(2 * n - 1, 1))
    eigvals, eigvecs = np.linalg.eigh(cov)
    eigvals = np.maximum(eigvals, 0.0)  # rounding can make the smallest ones negative
    if relative_eps:
        eps = eps * eigvals.max()
    matrix = (eigvecs / np.sqrt(eigvals + eps)) @ eigvecs.T
    if mirror is not None:  # exactly, not only to the eigensolver's rounding
        matrix = 0.5 * (matrix + matrix[np.ix_(mirror, mirror)] * flip)
    return mean, matrix
