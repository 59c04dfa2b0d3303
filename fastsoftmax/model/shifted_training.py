"""Training on randomly shifted copies of the training images for the memory of one
copy of their features (data augmentation).

A few times over the epochs (``rounds``, evenly spaced), the classifier's training rows
are overwritten in place with the classifier inputs of the training images, each moved
by its own random offset of up to ``max_shift`` pixels along each axis, borders
reflected (:func:`~fastsoftmax.model.views.random_shifts`).  The classifier so meets
``rounds + 1`` variants of each image, the image itself first, at the cost of one pass
of the feature step over the training images per round; storing the variants side by
side would take ``rounds + 1`` times the memory of the features.  The pass is
:class:`ShiftedRounds`, the ``refresh`` callback of
:meth:`~fastsoftmax.SoftmaxClassifier.fit`.
"""
import time
from numbers import Integral

import numpy as np

from fastsoftmax._shared.progress import report
from fastsoftmax.model.views import random_shifts

__all__ = ["ShiftedRounds", "offsets_generator", "round_epochs"]

#: Images whose classifier inputs are made at a time in a round.
ROUND_CHUNK = 2048


def round_epochs(epochs, rounds):
    """The numbers of epochs done after which each round replaces the training rows:
    ``round(epochs * r / (rounds + 1))`` for ``r = 1 .. rounds``, those between 1 and
    ``epochs - 1``, without repeats (fewer rounds than asked when there are fewer
    epochs), in increasing order."""
    after = {round(epochs * r / (rounds + 1)) for r in range(1, rounds + 1)}
    return sorted(e for e in after if 1 <= e < epochs)


def offsets_generator(random_state):
    """The generator of the rounds' offsets for a classifier's ``random_state``: seeded
    from an integer (a stream apart from the one that draws the minibatches), fresh
    otherwise."""
    if isinstance(random_state, Integral):
        return np.random.default_rng([int(random_state), 1])
    return np.random.default_rng()


class ShiftedRounds:
    """The ``refresh`` callback that makes the rounds (see the module docstring).

    Parameters
    ----------
    inputs : callable
        ``inputs(images)``: the classifier inputs (n, n_features) of uint8 images
        (:meth:`~fastsoftmax.model.pipeline.ImagePipeline.transform`).
    images : ndarray of uint8, shape (N, H, W) or (N, H, W, 3)
        The training images.
    views : sequence of callables
        The images of each block of N training rows as functions of the images: the
        images themselves, and their mirror images when those are trained on too.
    max_shift : int
        The largest offset, in pixels along each axis.
    rounds : int
    rng : numpy.random.Generator
        Draws the offsets.
    progress : callable, optional
        ``progress("shifted features", done, total)`` over the images of all rounds.

    Attributes
    ----------
    seconds : float
        Time spent in the rounds so far.
    rounds_done : int
    rows : ndarray or None
        The rows the last round wrote into (None before the first).
    """

    def __init__(self, inputs, images, views, max_shift, rounds, rng, progress=None):
        self.inputs, self.images, self.views = inputs, images, list(views)
        self.max_shift, self.rounds, self.rng, self.progress = max_shift, rounds, rng, progress
        self.seconds = 0.0
        self.rounds_done = 0
        self.rows = None

    def __call__(self, rows, epochs_done, epochs):
        after = round_epochs(epochs, self.rounds)
        if epochs_done not in after:
            return
        start = time.perf_counter()
        n = len(self.images)
        per_round = n * len(self.views)
        total = per_round * len(after)
        done = per_round * after.index(epochs_done)
        report(self.progress, "shifted features", done, total)
        for block, view in enumerate(self.views):
            for first in range(0, n, ROUND_CHUNK):
                part = random_shifts(self.images[first:first + ROUND_CHUNK], self.max_shift,
                                     self.rng)
                inputs = np.asarray(self.inputs(view(part)))
                lo = block * n + first
                rows[lo:lo + len(part), :inputs.shape[1]] = inputs
                done += len(part)
                report(self.progress, "shifted features", done, total)
        self.rounds_done += 1
        self.rows = rows
        self.seconds += time.perf_counter() - start
