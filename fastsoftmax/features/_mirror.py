"""The horizontal mirror in the learned features' spaces: patch values, pooled features.

With a whitening that commutes with the mirror, a dictionary of base atoms followed by
their mirror images, and a pooling grid whose regions mirror onto each other, the
pooled features of an image's mirror image are a fixed permutation of its own
(:func:`feature_mirror`).  A linear model trained on every image and its mirror image,
and averaging both at prediction, has a weight vector invariant under that permutation
(the L2-penalized objective is), so it sees the features only through the sums over
each pair the permutation swaps: :func:`fold_mirror` keeps one such sum per pair,
divided by sqrt(2) so that an L2 penalty on the folded weights equals the penalty on
the full ones.  Training on the folded features is training on the flip-augmented set
without encoding a single mirror image.
"""
import numpy as np

__all__ = ["patch_mirror", "feature_mirror", "fold_mirror", "unfold_weights"]

_INV_SQRT2 = np.float32(1.0 / np.sqrt(2.0))


def patch_mirror(patch_size, channels):
    """Permutation ``m`` of a patch's (row, column, channel) values such that
    ``patch[m]`` is the patch flipped left to right; (D,) int64."""
    index = np.arange(patch_size * patch_size * channels).reshape(patch_size, patch_size,
                                                                   channels)
    return np.ascontiguousarray(index[:, ::-1, :].ravel(), dtype=np.int64)


def feature_mirror(n_regions, n_polarities, n_atoms):
    """Permutation ``P`` of the pooled features (layout of
    :mod:`~fastsoftmax.features._encoder_kernels`, atoms: ``n_atoms / 2`` base atoms
    then their mirror images) with ``features(flip(x)) = features(x)[P]``; int64."""
    n_base = n_atoms // 2
    index = np.arange(n_regions * n_regions * n_polarities * n_atoms).reshape(
        n_regions, n_regions, n_polarities, n_atoms)
    partner = np.concatenate([np.arange(n_base, n_atoms), np.arange(n_base)])
    return np.ascontiguousarray(index[:, ::-1, :, :][..., partner].ravel())


def fold_mirror(features, n_regions, n_polarities, n_atoms, out=None):
    """``(f + f[P]) / sqrt(2)`` on one feature of each pair ``P`` swaps: base atom ``b``
    in region (i, j) plus its mirror atom in region (i, R - 1 - j).

    Parameters
    ----------
    features : (N, R * R * n_polarities * n_atoms) float32 ndarray
    n_regions, n_polarities, n_atoms : int
    out : (N, R * R * n_polarities * n_atoms / 2) float32 ndarray, optional

    Returns
    -------
    (N, R * R * n_polarities * n_atoms / 2) float32 ndarray
        Layout ``((i * R + j) * n_polarities + p) * (n_atoms / 2) + b``.
    """
    n_base = n_atoms // 2
    f = features.reshape(-1, n_regions, n_regions, n_polarities, n_atoms)
    if out is None:
        out = np.empty((f.shape[0], features.shape[1] // 2), dtype=np.float32)
    folded = out.reshape(-1, n_regions, n_regions, n_polarities, n_base)
    np.add(f[..., :n_base], f[:, :, ::-1, :, n_base:], out=folded)
    folded *= _INV_SQRT2
    return out


def unfold_weights(weights, n_regions, n_polarities):
    """Weights on the features :func:`fold_mirror` folds, carried back to the unfolded
    ones: ``w / sqrt(2)`` on each half of the pair ``w`` weighed (its transpose), so that
    ``unfolded @ f`` equals ``weights @ fold_mirror(f)``.

    Parameters
    ----------
    weights : (..., R * R * n_polarities * K / 2) ndarray
    n_regions, n_polarities : int

    Returns
    -------
    (..., R * R * n_polarities * K) float64 ndarray
    """
    weights = np.asarray(weights, dtype=np.float64)
    folded = weights.reshape(weights.shape[:-1] + (n_regions, n_regions, n_polarities, -1))
    n_base = folded.shape[-1]
    full = np.empty(folded.shape[:-1] + (2 * n_base,))
    full[..., :n_base] = folded
    full[..., ::-1, :, n_base:] = folded
    full *= _INV_SQRT2
    return full.reshape(weights.shape[:-1] + (-1,))
