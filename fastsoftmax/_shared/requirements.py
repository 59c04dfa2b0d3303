"""What fastsoftmax needs of a package, read from its installed metadata.

The version floors are written once, in ``pyproject.toml``; an installed fastsoftmax
carries them in its metadata (``importlib.metadata.requires``), and this module reads
them there to say which package and version a failed import needs.  A leaf module: it
imports nothing of fastsoftmax.
"""
import re
from importlib import metadata

__all__ = ["Requirement", "requirement_for"]

#: Import names that differ from the name of the distribution that provides them
#: (needed when the package is not installed at all, so its metadata cannot say).
_IMPORT_NAMES = {"sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow"}
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)(?:;(.*))?$")
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def _normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class Requirement:
    """One requirement of fastsoftmax on a package.

    Attributes
    ----------
    name : str
        The distribution's name (``"scikit-image"``).
    spec : str
        Name and versions, lower bound first (``"scikit-image>=0.22,<1"``).
    extra : str or None
        The optional extra that brings it (``"distributed"``), None for a dependency.
    installed : str or None
        The installed version, None when the package is not installed.
    """

    def __init__(self, name, versions, extra):
        self.name = name
        parts = sorted((p.strip() for p in versions.split(",") if p.strip()),
                       key=lambda p: not p.startswith(">"))
        self.spec = name + ",".join(parts)
        self.extra = extra
        try:
            self.installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            self.installed = None

    @property
    def install(self):
        """What to give ``pip install`` for it (quoted for a shell)."""
        return f'"fastsoftmax[{self.extra}]"' if self.extra else f'"{self.spec}"'

    def __repr__(self):
        return f"Requirement({self.spec!r}, extra={self.extra!r}, installed={self.installed!r})"


def requirement_for(module):
    """fastsoftmax's requirement on the package that provides ``module``.

    Parameters
    ----------
    module : str or None
        An import name (``"skimage"``, ``"skimage.feature"``), e.g. ``ImportError.name``.

    Returns
    -------
    Requirement or None
        None when ``module`` is None, fastsoftmax's metadata cannot be read (run from a
        source folder that was never installed), or no requirement names the package.
    """
    if not module:
        return None
    top = module.split(".")[0]
    try:
        requires = metadata.requires("fastsoftmax") or []
    except metadata.PackageNotFoundError:
        return None
    candidates = {_normal(top), _normal(_IMPORT_NAMES.get(top, top))}
    try:
        candidates.update(_normal(d) for d in metadata.packages_distributions().get(top, ()))
    except Exception:  # noqa: BLE001 - a broken installation must not hide the first error
        pass
    for line in requires:
        match = _NAME.match(line)
        if not match or _normal(match.group(1)) not in candidates:
            continue
        extra = _EXTRA.search(match.group(4) or "")
        return Requirement(match.group(1), match.group(3), extra.group(1) if extra else None)
    return None
