"""Standardization of the features: the pipeline's optional scaling step.

:class:`FeatureScaler` standardizes as scikit-learn's ``StandardScaler`` does (the
training features' mean and standard deviation, ddof 0; a feature constant on the
training set keeps scale 1), with float64 sums over blocks of rows instead of a
float64 copy of the whole matrix, and is applied in place when asked: standardizing
40,000 x 16,000 float32 learned features needs no second copy of them.  Its means and
scales equal ``StandardScaler``'s to rounding (``tests/test_kmeans_pipeline.py``
checks them).
"""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from fastsoftmax.io.fields import entry, positive_int, stored_array

__all__ = ["FeatureScaler"]


class FeatureScaler(TransformerMixin, BaseEstimator):
    """``(X - mean_) / scale_`` with the training set's mean and standard deviation.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (n_features,)
    scale_ : ndarray of float32, shape (n_features,)
        Standard deviation (ddof 0), 1 where it is 0, divided by the ``feature_weights``
        given to :meth:`fit`.
    n_features_in_ : int
    """

    def fit(self, X, y=None, feature_weights=None):
        """Fit on the rows of ``X`` (n_samples, n_features); ``y`` is ignored.

        ``feature_weights`` (n_features,) positive, optional: the standardized features
        are multiplied by them (a weight below 1 is a stronger L2 penalty on that
        feature's classifier weights)."""
        X = validate_data(self, X, dtype=(np.float32, np.float64), reset=True)
        n = X.shape[0]
        total = np.zeros(X.shape[1])
        low, high = X[0].copy(), X[0].copy()
        for block in _row_blocks(X):
            total += block.sum(axis=0, dtype=np.float64)
            np.minimum(low, block.min(axis=0), out=low)
            np.maximum(high, block.max(axis=0), out=high)
        mean = total / n
        squares = np.zeros(X.shape[1])
        for block in _row_blocks(X):  # two passes: no cancellation in E[x^2] - E[x]^2
            centred = block - mean
            squares += np.einsum("ij,ij->j", centred, centred)
        scale = np.sqrt(squares / n)
        scale[low == high] = 1.0
        if feature_weights is not None:
            feature_weights = np.asarray(feature_weights, dtype=np.float64)
            if feature_weights.shape != scale.shape or not np.all(feature_weights > 0):
                raise ValueError(f"feature_weights must be {scale.shape[0]} positive values")
            scale /= feature_weights
        self.mean_ = mean.astype(np.float32)
        self.scale_ = scale.astype(np.float32)
        return self

    def transform(self, X, copy=True):
        """Standardized ``X``; with ``copy=False`` a writable float32 C-contiguous ``X``
        is overwritten and returned."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False, copy=copy, order="C")
        if not X.flags.writeable:
            X = X.copy()
        X -= self.mean_
        X /= self.scale_
        return X

    def fit_transform(self, X, y=None, copy=True):
        """``fit(X).transform(X, copy=copy)``."""
        return self.fit(X).transform(X, copy=copy)

    # ---- the pipeline's save/load hook -------------------------------------------
    def to_arrays(self):
        """The fitted scaler as plain data: ``(metadata, arrays)``."""
        check_is_fitted(self)
        return ({"n_features_in_": int(self.n_features_in_)},
                {"mean_": self.mean_, "scale_": self.scale_})

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a fitted scaler from :meth:`to_arrays`' output, checking it first.

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, arrays whose shape is not
            ``(n_features_in_,)``, non-finite values, or a scale that is not positive.
        """
        n_features = positive_int(entry(metadata, "n_features_in_", int), "n_features_in_")
        scaler = cls()
        for name in ("mean_", "scale_"):
            value = stored_array(arrays, name, 1, "f")
            if value.shape != (n_features,):
                raise ValueError(f"{name} has shape {value.shape}, expected ({n_features},)")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} holds non-finite values")
            setattr(scaler, name, np.ascontiguousarray(value, dtype=np.float32))
        if not np.all(scaler.scale_ > 0):
            raise ValueError("scale_ holds values <= 0")
        scaler.n_features_in_ = n_features
        return scaler


#: Bytes of a float64 block of rows in :meth:`FeatureScaler.fit`: its centred copy is the
#: fit's only temporary, beside features that may fill most of the memory.
_BLOCK_BYTES = 64 * 2**20


def _row_blocks(X):
    rows = max(1, _BLOCK_BYTES // (8 * max(1, X.shape[1])))
    for start in range(0, X.shape[0], rows):
        yield X[start:start + rows]
