"""A fitted :class:`~fastsoftmax.model.classifier.SoftmaxClassifier` as plain data and back.

``to_arrays`` gives JSON-serializable metadata (parameters, fitted scalars) and arrays
of numbers or strings (no ``object`` dtype), so a model file needs no pickle;
``from_arrays`` checks such data, which may come from a hostile file, before it builds
a model.  Files written before a parameter existed load with its default.
"""
import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from fastsoftmax.io.fields import entry, positive_int, stored_array


def to_arrays(model):
    """``(metadata, arrays)`` of a fitted model: the parameters and fitted scalars
    (a ``class_weight`` dict as ``[label, weight]`` pairs, JSON keys being strings),
    the weights, their momentum, the classes and the loss curve."""
    check_is_fitted(model)
    classes = model.classes_
    if classes.dtype == object:
        classes = classes.astype(str)
    velocity_coef, velocity_intercept = model._current_velocity()
    arrays = {"coef_": model.coef_, "intercept_": model.intercept_, "classes_": classes,
              "loss_curve_": model.loss_curve_, "velocity_coef": velocity_coef,
              "velocity_intercept": velocity_intercept}
    params = model.get_params()
    if isinstance(params["class_weight"], dict):  # JSON keys are strings: kept as pairs
        metadata_class_weight = [[_plain_label(label), float(weight)]
                                 for label, weight in params["class_weight"].items()]
        params["class_weight"] = None
    else:
        metadata_class_weight = None
    metadata = {"params": params, "n_iter_": int(model.n_iter_),
                "n_features_in_": int(model.n_features_in_)}
    if hasattr(model, "feature_names_in_"):
        metadata["feature_names_in_"] = [str(n) for n in model.feature_names_in_]
    if metadata_class_weight is not None:
        metadata["class_weight"] = metadata_class_weight
    return metadata, arrays


def from_arrays(cls, metadata, arrays):
    """Rebuild a fitted ``cls`` from :func:`to_arrays`' output, checking it first.

    Raises
    ------
    KeyError, TypeError or ValueError
        An entry missing or of the wrong type, unknown or invalid parameters, fewer
        than two or repeated classes, shapes that disagree (the message says which).
    """
    params = entry(metadata, "params", dict)
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    if "class_weight" in metadata:  # absent from files of versions before class_weight
        params = dict(params, class_weight=_class_weight(entry(metadata, "class_weight", list)))
    model = cls(**params)
    model.check_params()
    n_features = positive_int(entry(metadata, "n_features_in_", int), "n_features_in_")
    n_iter = entry(metadata, "n_iter_", int)
    if n_iter < 0:
        raise ValueError(f"n_iter_ is {n_iter}, expected >= 0")
    if "feature_names_in_" in metadata:
        names = entry(metadata, "feature_names_in_", list)
        if len(names) != n_features or not all(isinstance(n, str) for n in names):
            raise ValueError(f"feature_names_in_ is not {n_features} strings")
        model.feature_names_in_ = np.asarray(names, dtype=object)
    coef = stored_array(arrays, "coef_", 2, "f")
    intercept = stored_array(arrays, "intercept_", 1, "f")
    classes = stored_array(arrays, "classes_", 1, "biuU")
    loss_curve = stored_array(arrays, "loss_curve_", 1, "f")
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError(f"classes_ holds {n_classes} class(es), expected at least 2")
    if len(np.unique(classes)) != n_classes:
        raise ValueError("classes_ repeats a class")
    if coef.shape != (n_classes, n_features):
        raise ValueError(f"coef_ has shape {coef.shape} but {n_classes} classes and "
                         f"{n_features} features need ({n_classes}, {n_features})")
    if intercept.shape != (n_classes,):
        raise ValueError(f"intercept_ has shape {intercept.shape}, expected ({n_classes},)")
    if "velocity_coef" in arrays or "velocity_intercept" in arrays:
        velocity = (stored_array(arrays, "velocity_coef", 2, "f"),
                    stored_array(arrays, "velocity_intercept", 1, "f"))
        if velocity[0].shape != coef.shape or velocity[1].shape != intercept.shape:
            raise ValueError(f"the momentum arrays velocity_coef {velocity[0].shape} and "
                             f"velocity_intercept {velocity[1].shape} do not have the "
                             "weights' shapes")
        model._velocity = velocity  # format 1 had none: it starts at zero
    model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
    model.loss_curve_, model.n_iter_, model.n_features_in_ = loss_curve, n_iter, n_features
    return model


def _plain_label(label):
    """A class label as JSON holds it (NumPy scalars as Python ones; others as text)."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, (bool, int, float, str)):
        return label
    return str(label)


def _class_weight(pairs):
    """The ``class_weight`` dict of stored ``[label, weight]`` pairs, checked."""
    weights = {}
    for pair in pairs:
        if (not isinstance(pair, list) or len(pair) != 2
                or not isinstance(pair[0], (int, float, str))
                or not isinstance(pair[1], (int, float)) or isinstance(pair[1], bool)
                or not math.isfinite(pair[1])):
            raise ValueError("class_weight is not a list of [label, finite weight] pairs")
        if pair[0] in weights:
            raise ValueError(f"class_weight repeats the label {pair[0]!r}")
        weights[pair[0]] = float(pair[1])
    return weights
