"""Load any fastsoftmax model file: read it once, build the class its kind names.

Sits above the model classes (:class:`~fastsoftmax.SoftmaxClassifier`,
:class:`~fastsoftmax.model.pipeline.ImagePipeline`) and :mod:`fastsoftmax.io.model_file`,
which knows only the file format.
"""
from fastsoftmax.io.model_file import ModelFileError, load_arrays, load_model_file
from fastsoftmax.model.classifier import SoftmaxClassifier
from fastsoftmax.model.pipeline import ImagePipeline

__all__ = ["MODEL_KINDS", "load_model"]

#: Model kind written in a file -> class.  Only these classes are ever built from a file.
MODEL_KINDS = {"SoftmaxClassifier": SoftmaxClassifier, "ImagePipeline": ImagePipeline}


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
    return load_model_file(path, kind, MODEL_KINDS[kind].from_arrays, metadata, arrays)
