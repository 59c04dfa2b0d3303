"""Edits of a model file's (metadata, arrays) for the hostile model-file tests."""


def set_metadata(key, value):
    """A change that sets metadata ``key`` (a dotted path of keys) to ``value``."""
    def change(metadata, arrays):
        *parents, last = key.split(".")
        for parent in parents:
            metadata = metadata[parent]
        metadata[last] = value
    return change


def set_array(name, value):
    """A change that sets array ``name`` to ``value(arrays)`` (``None`` removes it)."""
    def change(metadata, arrays):
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value(arrays)
    return change
