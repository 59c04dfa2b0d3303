"""Scores of predictions: accuracy, per-class precision, recall and F1, the confusion matrix;
the final loss of a training run."""
import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

__all__ = ["Evaluation", "evaluate_predictions", "final_loss"]


def final_loss(losses):
    """Mean minibatch loss over the last 5% of updates (at least one): the loss reached.

    The one definition of "final loss" that ``train`` (text and ``--json``), sweeps and
    studies report: a single minibatch's loss is too noisy to compare runs by.

    Parameters
    ----------
    losses : array-like of shape (n_updates,)
        The loss before each update (``loss_curve_``).

    Returns
    -------
    float
        NaN when there were no updates.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if len(losses) == 0:
        return math.nan
    tail = max(1, len(losses) // 20)
    return float(losses[-tail:].mean())


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate_predictions`.

    Per-class values are NaN where they are undefined: recall (and F1) of a class
    with no images, precision of a class never predicted (and F1 when both are
    undefined or zero); scikit-learn's ``zero_division=np.nan``.

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
    precision, recall, f1 : ndarray of float of shape (n_classes,)
        Per class, as :func:`sklearn.metrics.precision_recall_fscore_support`.
    macro_avg, weighted_avg : dict
        ``precision``, ``recall`` and ``f1`` averaged over the classes, unweighted and
        weighted by their number of images, leaving out undefined (NaN) values, as
        :func:`sklearn.metrics.classification_report` averages them.
    """

    accuracy: float
    confusion_matrix: np.ndarray
    support: np.ndarray
    per_class_accuracy: np.ndarray
    precision: np.ndarray = None
    recall: np.ndarray = None
    f1: np.ndarray = None
    macro_avg: dict = None
    weighted_avg: dict = None

    def to_dict(self, class_names):
        """JSON-ready: ``accuracy``, ``per_class_accuracy`` (name -> value),
        ``per_class`` (name -> ``precision``, ``recall``, ``f1``, ``support``),
        ``macro_avg``, ``weighted_avg`` and ``confusion_matrix`` (nested lists);
        undefined values are None."""
        result = {"accuracy": self.accuracy,
                  "per_class_accuracy": {name: _number(value)
                                         for name, value in zip(class_names, self.per_class_accuracy)}}
        if self.precision is not None:
            result["per_class"] = {
                name: {"precision": _number(p), "recall": _number(r), "f1": _number(f),
                       "support": int(n)}
                for name, p, r, f, n in zip(class_names, self.precision, self.recall, self.f1,
                                            self.support)}
            result["macro_avg"] = {k: _number(v) for k, v in self.macro_avg.items()}
            result["weighted_avg"] = {k: _number(v) for k, v in self.weighted_avg.items()}
        result["confusion_matrix"] = self.confusion_matrix.tolist()
        return result


def _number(value):
    return None if value is None or np.isnan(value) else float(value)


def evaluate_predictions(y_true, y_pred, n_classes):
    """Accuracy, confusion matrix, per-class precision, recall and F1 of class indices
    ``0..n_classes-1``.

    Parameters
    ----------
    y_true, y_pred : array_like of int of shape (n_samples,)
    n_classes : int

    Returns
    -------
    Evaluation
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.arange(n_classes)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    support = matrix.sum(axis=1)
    per_class = np.divide(np.diag(matrix), support, out=np.full(n_classes, np.nan),
                          where=support > 0)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    averages = {}
    for average in ("macro", "weighted"):
        values = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                 zero_division=np.nan)[:3]
        averages[average] = dict(zip(("precision", "recall", "f1"), map(float, values)))
    return Evaluation(accuracy=float(np.mean(y_pred == y_true)), confusion_matrix=matrix,
                      support=support, per_class_accuracy=per_class,
                      precision=precision.astype(float), recall=recall.astype(float),
                      f1=f1.astype(float), macro_avg=averages["macro"],
                      weighted_avg=averages["weighted"])

