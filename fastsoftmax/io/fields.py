"""Checks of a fitted model's stored contents, for each class's ``from_arrays``.

A model file (or a cache entry) may be hostile, so every ``from_arrays`` checks the
metadata and arrays it is given before it builds anything.  These helpers raise
``KeyError`` (:class:`MissingEntryError`), ``TypeError`` or ``ValueError`` with a
message that names the entry; :func:`fastsoftmax.io.model_file.load_model_file` reports
it with the file's name.  A leaf module: it imports nothing of fastsoftmax.
"""
import numpy as np

__all__ = ["MAX_MODEL_PIXELS", "MissingEntryError", "entry", "positive_int", "stored_array",
           "float32_arrays", "image_shape", "check_pixels", "prefixed"]

#: The most pixels (height x width) of the images a model takes.  ``predict`` and
#: ``evaluate`` resize every image to the model's shape and compute its features in
#: floats, tens of bytes per pixel: a small file declaring 20000x20000 would need gigabytes
#: per image.  4096x4096 keeps one image to a few hundred MB and is far above the images
#: these pipelines are trained on (CIFAR-10: 32x32).
MAX_MODEL_PIXELS = 4096 * 4096


class MissingEntryError(KeyError):
    """An entry that the stored model must hold is absent (the message names it)."""

    def __str__(self):  # KeyError's own str() quotes the whole message
        return str(self.args[0]) if self.args else ""


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def entry(mapping, key, types):
    """``mapping[key]``, checked to be an instance of ``types`` (bool is not an int).

    Raises
    ------
    MissingEntryError
        ``key`` is absent.
    TypeError
        The value has another type.
    """
    if key not in mapping:
        raise MissingEntryError(f"{key!r} is missing")
    value = mapping[key]
    accepted = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        names = " or ".join(t.__name__ for t in accepted)
        raise TypeError(f"{key!r} is a {type(value).__name__}, expected {names}")
    return value


def positive_int(value, what):
    """``value`` when it is an integer >= 1; ``ValueError`` naming ``what`` otherwise."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{what} is {value!r}, expected a positive integer")
    return int(value)


def stored_array(arrays, name, ndim, kinds):
    """``arrays[name]``, checked to have ``ndim`` dimensions and a dtype kind in ``kinds``.

    Raises
    ------
    MissingEntryError
        No such array.
    ValueError
        Another number of dimensions or dtype kind.
    """
    if name not in arrays:
        raise MissingEntryError(f"array {name!r} is missing")
    value = np.asarray(arrays[name])
    if value.ndim != ndim or value.dtype.kind not in kinds:
        raise ValueError(f"array {name!r} has shape {value.shape} and dtype {value.dtype}, "
                         f"expected {ndim} dimension(s) of kind {kinds!r}")
    return value


def float32_arrays(arrays, shapes, what):
    """Copies of ``arrays[name]`` for each ``name, shape`` of ``shapes``, each checked to
    be there, float32 of exactly that shape and finite.

    Raises
    ------
    ValueError
        The first array that is not, the message starting with ``what``.
    """
    checked = {}
    for name, shape in shapes.items():
        if name not in arrays:
            raise ValueError(f"{what}{name!r} is missing")
        value = np.asarray(arrays[name])
        if value.dtype != np.float32 or value.shape != shape:
            raise ValueError(f"{what}{name!r} must be float32 of shape {shape}, got "
                             f"{value.dtype} {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{what}{name!r} holds non-finite values")
        checked[name] = np.array(value, copy=True)
    return checked


def image_shape(value, what="image_shape", any_channels=False):
    """``value`` as a tuple when it is ``[height, width]`` or ``[height, width, 3]`` of
    positive integers (any number of channels with ``any_channels``) with at most
    :data:`MAX_MODEL_PIXELS` pixels; ``ValueError`` naming ``what`` otherwise."""
    if (not isinstance(value, (list, tuple)) or len(value) not in (2, 3)
            or any(not _is_int(v) or v < 1 for v in value)
            or (len(value) == 3 and value[2] != 3 and not any_channels)):
        channels = "channels" if any_channels else "3"
        raise ValueError(f"{what} {value!r} is not [height, width] or [height, width, "
                         f"{channels}] of positive integers")
    check_pixels(value[0], value[1], what)
    return tuple(int(v) for v in value)


def check_pixels(height, width, what):
    """``ValueError`` naming ``what`` when ``height x width`` is more than
    :data:`MAX_MODEL_PIXELS` pixels."""
    if int(height) * int(width) > MAX_MODEL_PIXELS:
        raise ValueError(f"{what} {int(height)}x{int(width)}: {int(height) * int(width):,} "
                         f"pixels, more than the {MAX_MODEL_PIXELS:,} (4096x4096) a model "
                         "takes")


def prefixed(exc, prefix):
    """A new exception of ``exc``'s kind (``KeyError``, ``TypeError`` or ``ValueError``)
    whose message is ``exc``'s after ``prefix``: a step's error as its pipeline reports it."""
    if isinstance(exc, KeyError):
        reason = str(exc) if isinstance(exc, MissingEntryError) else f"{exc} is missing"
        return MissingEntryError(f"{prefix}{reason}")
    kind = ValueError if isinstance(exc, ValueError) else TypeError
    return kind(f"{prefix}{exc}")
