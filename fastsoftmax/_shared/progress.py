"""The progress callback the library reports through; it never draws anything itself.

A progress callback is any callable ``progress(stage, done, total, **info)``:

``stage`` : str
    What is running: ``"features"`` (images), ``"pca"`` (one step), ``"train"``
    (minibatch updates), or a name a caller chose with :func:`relabel`.
``done``, ``total`` : int
    Work done so far and in all, in the stage's unit.  A stage starts with a call
    at ``done == 0`` (before any work, so a display can show it at once) and ends
    with ``done == total``.  A stage whose work cannot be counted (an
    eigendecomposition) has ``total == 1``.
``info`` : keyword arguments
    Extra facts for the display: ``loss`` (the last chunk's mean minibatch loss,
    for ``"train"``), ``cached=True`` (the stage's result came from the disk cache).

Calls come from the thread that runs the stage, between chunks of work (a chunk of
images, one kernel call), so their cost is negligible next to the work.
"""
import inspect

__all__ = ["report", "relabel", "shifted", "takes_progress"]


def report(progress, stage, done, total, **info):
    """Call ``progress(stage, done, total, **info)`` unless ``progress`` is None."""
    if progress is not None:
        progress(stage, done, total, **info)


def relabel(progress, stage):
    """A callback that forwards every call of ``progress`` under the name ``stage``
    (e.g. the features of the test images reported as ``"test features"``)."""
    if progress is None:
        return None

    def relabelled(_stage, done, total, **info):
        progress(stage, done, total, **info)

    return relabelled


def shifted(progress, offset, total):
    """A callback that forwards every call of ``progress`` with ``offset`` added to
    ``done`` and ``total`` as the total: several passes (chunks of images, or the images
    and then their mirror images) reported as one stage."""
    if progress is None:
        return None

    def forwarded(stage, done, _total, **info):
        progress(stage, offset + done, total, **info)

    return forwarded


def takes_progress(method):
    """Whether ``method`` (a feature step's ``transform`` or ``fit_transform``) accepts
    a ``progress`` keyword argument; steps without one are called without it."""
    try:
        return "progress" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
