"""The published data sets besides CIFAR-10: CIFAR-100, MNIST and Fashion-MNIST, SVHN.

:func:`find_format` says which one a path holds; each format loads into the arrays
CIFAR-10's loader gives (uint8 images, int64 labels) with its class names.
"""
from dataclasses import dataclass

from fastsoftmax.data.cifar100 import cifar100_label_set, is_cifar100, load_cifar100
from fastsoftmax.data.idx import is_idx, load_idx
from fastsoftmax.data.svhn import is_svhn, load_svhn

__all__ = ["DataFormat", "FORMATS", "find_format"]


@dataclass(frozen=True)
class DataFormat:
    """One published data set's layout.

    Attributes
    ----------
    title : str
        Its name in messages.
    label_sets : tuple of str
        The label sets it offers (``labels=``); empty when it has one.
    detect : callable
        ``detect(path)``: whether ``path`` holds it (cheap: names, not contents).
    """

    title: str
    label_sets: tuple
    detect: object
    _load: object

    def load(self, path, labels=None):
        """``(X_train, y_train), (X_test, y_test), class_names, name`` of ``path``."""
        if labels is not None and labels not in self.label_sets:
            raise ValueError(f"labels={labels!r}: {self.title} has "
                             + (f"the label sets {', '.join(self.label_sets)}"
                                if self.label_sets else "one set of labels"))
        return self._load(path, labels)

    def label_set_for(self, path, class_names):
        """The label set to score a model of ``class_names`` on (None: the only one)."""
        return cifar100_label_set(path, class_names) if self.label_sets else None


def _cifar100(path, labels):
    labels = labels or "fine"
    train, test, names = load_cifar100(path, labels, return_class_names=True)
    return train, test, names, "cifar100" if labels == "fine" else "cifar100-coarse"


def _idx(path, labels):
    return load_idx(path, return_class_names=True)


def _svhn(path, labels):
    return (*load_svhn(path, return_class_names=True), "svhn")


#: In the order they are tried.
FORMATS = (
    DataFormat("CIFAR-100", ("fine", "coarse"), is_cifar100, _cifar100),
    DataFormat("MNIST idx files", (), is_idx, _idx),
    DataFormat("SVHN", (), is_svhn, _svhn),
)


def find_format(path):
    """The :class:`DataFormat` of ``path``, or None when it holds none of them."""
    for fmt in FORMATS:
        if fmt.detect(path):
            return fmt
    return None
