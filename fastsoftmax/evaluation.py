"""Scores of predictions: accuracy, per-class accuracy and the confusion matrix."""
from dataclasses import dataclass

import numpy as np

__all__ = ["Evaluation", "evaluate_predictions"]


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate_predictions`.

    Attributes
    ----------
    accuracy : float
        Share of correct predictions.
    confusion_matrix : ndarray of int of shape (n_classes, n_classes)
        Rows: true class, columns: predicted class.
    support : ndarray of int of shape (n_classes,)
        Images of each true class.
    per_class_accuracy : ndarray of float of shape (n_classes,)
        Correct share of each true class (its recall); NaN for a class with no images.
    """

    accuracy: float
    confusion_matrix: np.ndarray
    support: np.ndarray
    per_class_accuracy: np.ndarray

    def to_dict(self, class_names):
        """JSON-ready: ``accuracy``, ``per_class_accuracy`` (name -> value, None for a
        class with no images) and ``confusion_matrix`` (nested lists)."""
        return {"accuracy": self.accuracy,
                "per_class_accuracy": {name: None if np.isnan(value) else float(value)
                                       for name, value in zip(class_names, self.per_class_accuracy)},
                "confusion_matrix": self.confusion_matrix.tolist()}


def evaluate_predictions(y_true, y_pred, n_classes):
    """Accuracy, confusion matrix and per-class accuracy of class indices ``0..n_classes-1``.

    Parameters
    ----------
    y_true, y_pred : array_like of int of shape (n_samples,)
    n_classes : int

    Returns
    -------
    Evaluation
    """
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    support = matrix.sum(axis=1)
    per_class = np.divide(np.diag(matrix), support, out=np.full(n_classes, np.nan),
                          where=support > 0)
    return Evaluation(accuracy=float(np.mean(y_pred == y_true)), confusion_matrix=matrix,
                      support=support, per_class_accuracy=per_class)
