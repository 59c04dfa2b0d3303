"""fastsoftmax: fast, trustworthy softmax-classifier experiments on images."""
__version__ = "0.1.0"

__all__ = ["SoftmaxClassifier", "load_model", "__version__"]


def __getattr__(name):
    # Lazy so that ``import fastsoftmax`` (and ``fastsoftmax --help``) stays instant.
    if name == "SoftmaxClassifier":
        from .classifier import SoftmaxClassifier

        return SoftmaxClassifier
    if name == "load_model":
        from .persistence import load_model

        return load_model
    raise AttributeError(f"module 'fastsoftmax' has no attribute {name!r}")
