"""The package's version, written once in ``pyproject.toml`` and read here from the
installed metadata (the feature cache's keys, the Dask workers' check and
``fastsoftmax --version`` import it from here)."""
from importlib import metadata

__all__ = ["UNKNOWN_VERSION", "__version__"]

#: The version of a source tree that was never installed.
UNKNOWN_VERSION = "0+unknown"

try:
    __version__ = metadata.version("fastsoftmax")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = UNKNOWN_VERSION
