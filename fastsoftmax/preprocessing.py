"""Standardization of the features: the pipeline's optional scaling step.

:class:`FeatureScaler` is scikit-learn's ``StandardScaler`` (mean and standard
deviation of the training features, accumulated in float64) kept as float32 arrays
and applied in place when asked, so that standardizing 50,000 x 6,400 float32
learned features needs no second copy of them.  A feature that is constant on the
training set keeps scale 1 (as scikit-learn does).
"""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["FeatureScaler"]


class FeatureScaler(TransformerMixin, BaseEstimator):
    """``(X - mean_) / scale_`` with the training set's mean and standard deviation.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (n_features,)
    scale_ : ndarray of float32, shape (n_features,)
        Standard deviation (ddof 0); 1 where it is 0.
    n_features_in_ : int
    """

    def fit(self, X, y=None):
        """Fit on the rows of ``X`` (n_samples, n_features); ``y`` is ignored."""
        from sklearn.preprocessing import StandardScaler

        X = validate_data(self, X, dtype=(np.float32, np.float64), reset=True)
        scaler = StandardScaler(copy=False).fit(X)  # float64 accumulation
        self.mean_ = scaler.mean_.astype(np.float32)
        self.scale_ = scaler.scale_.astype(np.float32)
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
        from ._contents import entry, positive_int, stored_array

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
