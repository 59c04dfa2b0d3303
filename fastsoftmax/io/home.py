"""The data folder: where fastsoftmax keeps downloads and its feature cache.

``$FASTSOFTMAX_DATA`` when set, else ``fastsoftmax`` in the platform's user cache
folder, found by ``platformdirs``.
"""
import os
from pathlib import Path

import platformdirs

__all__ = ["DATA_ENV", "data_home", "data_home_source"]

DATA_ENV = "FASTSOFTMAX_DATA"


def data_home():
    """The folder where fastsoftmax keeps downloads and its cache.

    ``$FASTSOFTMAX_DATA`` when set, else ``fastsoftmax`` in the platform's user cache
    folder as ``platformdirs`` finds it (``user_cache_dir(opinion=False)``):
    ``$XDG_CACHE_HOME`` (default ``~/.cache``) on Linux, ``~/Library/Caches`` on
    macOS, ``%LOCALAPPDATA%`` on Windows.  These are the folders fastsoftmax used
    before it asked ``platformdirs``, so downloads and cache entries made earlier
    are still found.  The folder is not created here.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("fastsoftmax", appauthor=False, opinion=False))


def data_home_source():
    """Where :func:`data_home` comes from.

    Returns
    -------
    str
        ``"$FASTSOFTMAX_DATA"`` or ``"platform"`` (the user cache folder).
    """
    return f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "platform"
