"""fastsoftmax: fast, trustworthy softmax-classifier experiments on images."""
from fastsoftmax._shared.version import __version__

__all__ = ["ImagePipeline", "SoftmaxClassifier", "TrainingDivergedError", "load_model",
           "__version__"]


def __getattr__(name):
    # Lazy: every ``import fastsoftmax.<module>`` runs this file first, and the model
    # classes import scikit-learn (most of a second), which ``fastsoftmax --help``, the
    # data commands and the lower layers do without.
    if name in ("SoftmaxClassifier", "TrainingDivergedError"):
        from fastsoftmax.model import classifier

        return getattr(classifier, name)
    if name == "ImagePipeline":
        from fastsoftmax.model.pipeline import ImagePipeline

        return ImagePipeline
    if name == "load_model":
        from fastsoftmax.model.loading import load_model

        return load_model
    raise AttributeError(f"module 'fastsoftmax' has no attribute {name!r}")
