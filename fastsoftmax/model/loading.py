"""Load any fastsoftmax model file: read it once, build the class its kind names.

Sits above the model classes (:class:`~fastsoftmax.SoftmaxClassifier`,
:class:`~fastsoftmax.model.pipeline.ImagePipeline`) and :mod:`fastsoftmax.io.model_file`,
which knows only the file format.
"""
import importlib

from fastsoftmax.io.model_file import ModelFileError, load_arrays, load_model_file

__all__ = ["MODEL_KINDS", "load_model"]

#: Model kind written in a file -> (module, class).  Only these classes are ever
#: built from a file.
MODEL_KINDS = {
    "SoftmaxClassifier": ("fastsoftmax.model.classifier", "SoftmaxClassifier"),
    "ImagePipeline": ("fastsoftmax.model.pipeline", "ImagePipeline"),
}


def load_model(path):
    """Load a fastsoftmax model file, whatever it holds (a classifier or a pipeline).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SoftmaxClassifier or ImagePipeline

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelFileError
        Not a fastsoftmax model, a newer format, an unknown kind, or incomplete.
    """
    metadata, arrays = load_arrays(path)
    kind = metadata.get("kind")
    if kind not in MODEL_KINDS:
        raise ModelFileError(f"{str(path)!r} holds an unknown model kind {kind!r}")
    module, name = MODEL_KINDS[kind]
    cls = getattr(importlib.import_module(module), name)
    return load_model_file(path, kind, cls.from_arrays, metadata, arrays)
