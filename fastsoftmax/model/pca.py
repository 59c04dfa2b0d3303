"""PCA that keeps a fraction of the variance: the pipeline's reduction step.

:class:`VariancePCA` fits scikit-learn's exact PCA with the fastest solver for the
data's shape and keeps float32 components, so that projecting float32 features stays
in float32 and needs no centred copy of the feature matrix.
"""
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from fastsoftmax.io.fields import entry, positive_int, stored_array

__all__ = ["VariancePCA"]


class VariancePCA(TransformerMixin, BaseEstimator):
    """PCA keeping ``variance`` of the variance, with float32 components.

    Parameters
    ----------
    variance : float, default=0.95
        Fraction of the variance kept, in (0, 1]; 1 keeps every component.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (n_features,)
    components_ : ndarray of float32, shape (n_components_, n_features)
    n_components_ : int
    n_features_in_ : int
    """

    _parameter_constraints = {"variance": [Interval(Real, 0.0, 1.0, closed="right")]}

    def __init__(self, variance=0.95):
        self.variance = variance

    def fit(self, X, y=None):
        """Fit on the rows of ``X`` (n_samples, n_features); ``y`` is ignored."""
        # scikit-learn's decomposition takes a quarter of a second to import; a pipeline
        # that only projects (a loaded model) never needs it
        from sklearn.decomposition import PCA

        self._validate_params()
        X = validate_data(self, X, dtype=(np.float32, np.float64), reset=True)
        # "covariance_eigh" is scikit-learn's fastest exact solver for tall data
        # (n_samples >> n_features): one Gram matrix and an eigendecomposition.
        solver = "covariance_eigh" if X.shape[0] >= X.shape[1] else "full"
        n_components = self.variance if self.variance < 1.0 else None
        pca = PCA(n_components=n_components, svd_solver=solver).fit(X)
        self.mean_ = pca.mean_.astype(np.float32)
        self.components_ = np.ascontiguousarray(pca.components_, dtype=np.float32)
        self.n_components_ = self.components_.shape[0]
        return self

    def transform(self, X):
        """``(X - mean_) @ components_.T``, shape (n_samples, n_components_)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float32, np.float64), reset=False)
        # without a centred copy of the feature matrix
        projected = X @ self.components_.T
        projected -= self.mean_ @ self.components_.T
        return projected

    # ---- the pipeline's save/load hook -------------------------------------------
    def to_arrays(self):
        """The fitted PCA as plain data: ``(metadata, arrays)``."""
        check_is_fitted(self)
        return ({"params": self.get_params(), "n_features_in_": int(self.n_features_in_)},
                {"mean_": self.mean_, "components_": self.components_})

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a fitted PCA from :meth:`to_arrays`' output, checking it first.

        Raises
        ------
        KeyError, TypeError or ValueError
            An entry missing or of the wrong type, an invalid ``variance``, or arrays
            whose shapes disagree with each other or with ``n_features_in_``.
        """
        pca = cls(**entry(metadata, "params", dict))
        pca._validate_params()  # scikit-learn's check of _parameter_constraints
        n_features = positive_int(entry(metadata, "n_features_in_", int), "n_features_in_")
        components = stored_array(arrays, "components_", 2, "f")
        mean = stored_array(arrays, "mean_", 1, "f")
        if components.shape[0] < 1 or components.shape[1] != n_features:
            raise ValueError(f"components_ has shape {components.shape} but n_features_in_ "
                             f"is {n_features}: expected (n_components >= 1, {n_features})")
        if mean.shape != (n_features,):
            raise ValueError(f"mean_ has shape {mean.shape}, expected ({n_features},)")
        pca.mean_ = mean.astype(np.float32)
        pca.components_ = np.ascontiguousarray(components, dtype=np.float32)
        pca.n_components_ = components.shape[0]
        pca.n_features_in_ = n_features
        return pca
