"""How many images each split held and how they were drawn, as a model file keeps it.

A model trained by ``fastsoftmax train`` records a :class:`SplitRecord` (its
``split_``), and the command's JSON output gives the same fields, so that a number can
always be traced to the images it came from.
"""
import math

from fastsoftmax.io.fields import entry

__all__ = ["SplitRecord", "TEST_SPLITS"]

#: How a test split can be drawn: the data set's own test files, an image folder's
#: ``test/``, or stratified at random (``test_fraction`` of each class, ``split_seed``).
TEST_SPLITS = ("published", "folders", "random")
_MAX_COUNT = 2**40
_MAX_SEED = 2**32 - 1


def _count(value, name):
    if type(value) is not int or not 0 <= value <= _MAX_COUNT:
        raise ValueError(f"{name} is {value!r}, expected a count of images")
    return value


def _fraction(value, name):
    if value is None:
        return None
    if type(value) is not float or not 0 < value < 1:
        raise ValueError(f"{name} is {value!r}, expected a fraction between 0 and 1")
    return value


def _seed(value, name):
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_SEED:
        raise ValueError(f"{name} is {value!r}, expected a seed 0 .. 2**32 - 1")
    return value


class SplitRecord:
    """The training, validation and test splits of one training run.

    Parameters
    ----------
    n_train : int
        Images given to train on (the training split).
    n_test : int
        Images of the test split.
    test_split : {"published", "folders", "random"}
        How the test split was drawn (see :data:`TEST_SPLITS`).
    test_fraction, split_seed : float and int, optional
        For a ``"random"`` test split: the share of each class held out and the seed.
    validation_fraction, validation_seed : float and int, optional
        With early stopping: the share of the classifier's training rows held out to
        decide when to stop (stratified) and the seed that drew it (``--seed``).
    n_validation : int, default 0
        Those rows: ``ceil(validation_fraction * rows)``, where the rows are the
        training images (and their mirror images, with ``flip_train``).

    Raises
    ------
    ValueError
        A count, fraction or seed out of range, an unknown ``test_split``, or the
        fraction and seed of a split not given together.
    """

    def __init__(self, n_train, n_test, test_split, *, test_fraction=None, split_seed=None,
                 validation_fraction=None, validation_seed=None, n_validation=0):
        self.n_train = _count(n_train, "n_train")
        self.n_test = _count(n_test, "n_test")
        if test_split not in TEST_SPLITS:
            raise ValueError(f"test_split is {test_split!r}, expected one of "
                             f"{', '.join(TEST_SPLITS)}")
        self.test_split = test_split
        self.test_fraction = _fraction(test_fraction, "test_fraction")
        self.split_seed = _seed(split_seed, "split_seed")
        if (test_split == "random") != (self.test_fraction is not None) or (
                (self.test_fraction is None) != (self.split_seed is None)):
            raise ValueError("test_fraction and split_seed are given for a random test split, "
                             "and only then")
        self.validation_fraction = _fraction(validation_fraction, "validation_fraction")
        self.validation_seed = _seed(validation_seed, "validation_seed")
        self.n_validation = _count(n_validation, "n_validation")
        if (self.validation_fraction is None) != (self.validation_seed is None) or (
                self.validation_fraction is None and self.n_validation):
            raise ValueError("validation_fraction, validation_seed and n_validation are "
                             "given together")

    @classmethod
    def of_training(cls, dataset, classifier, flip_train=False):
        """The record of training ``classifier`` on ``dataset``'s training split.

        Parameters
        ----------
        dataset : Dataset
            With its ``split`` (how the test split was drawn).
        classifier : SoftmaxClassifier
            Its ``early_stopping``, ``validation_fraction`` and ``random_state``.
        flip_train : bool, default False
            Whether the classifier also trains on the mirror images.
        """
        split = dataset.split or {"test_split": "published"}
        params = classifier.get_params()
        validation = {}
        if params.get("early_stopping"):
            fraction = float(params["validation_fraction"])
            rows = len(dataset.y_train) * (2 if flip_train else 1)
            validation = {"validation_fraction": fraction,
                          "validation_seed": int(params["random_state"] or 0),
                          "n_validation": math.ceil(fraction * rows)}
        return cls(len(dataset.y_train), len(dataset.y_test), split["test_split"],
                   test_fraction=split.get("test_fraction"), split_seed=split.get("split_seed"),
                   **validation)

    def to_dict(self):
        """The fields, as the JSON output and the model file give them."""
        return {"n_train": self.n_train, "n_validation": self.n_validation,
                "n_test": self.n_test, "test_split": self.test_split,
                "test_fraction": self.test_fraction, "split_seed": self.split_seed,
                "validation_fraction": self.validation_fraction,
                "validation_seed": self.validation_seed}

    def describe(self):
        """One line: the images of each split and how they were drawn."""
        test = {"published": "the data set's test files", "folders": "the folder's test/",
                "random": f"{self.test_fraction:g} of each class drawn with split seed "
                          f"{self.split_seed}" if self.test_fraction else ""}[self.test_split]
        text = f"{self.n_train} training images, {self.n_test} test images ({test})"
        if self.validation_fraction is not None:
            text += (f"; early stopping on {self.n_validation} validation rows "
                     f"({self.validation_fraction:g} of the training rows, seed "
                     f"{self.validation_seed})")
        return text

    def __repr__(self):
        return f"SplitRecord({self.describe()})"

    def to_arrays(self):
        """``(metadata, arrays)`` for a model file: the fields, no arrays."""
        return self.to_dict(), {}

    @classmethod
    def from_arrays(cls, metadata, arrays):
        """Rebuild a record from :meth:`to_arrays`' output, checking every field.

        Raises
        ------
        KeyError, TypeError or ValueError
            A field missing, of the wrong type or out of range.
        """
        fields = {name: entry(metadata, name, kind) for name, kind in (
            ("n_train", int), ("n_validation", int), ("n_test", int), ("test_split", str),
            ("test_fraction", (float, type(None))), ("split_seed", (int, type(None))),
            ("validation_fraction", (float, type(None))),
            ("validation_seed", (int, type(None))))}
        return cls(fields.pop("n_train"), fields.pop("n_test"), fields.pop("test_split"),
                   **fields)
