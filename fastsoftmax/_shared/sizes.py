"""Sizes in bytes, read from and written as text ("2GB", "500MB", "1.5GiB")."""
import re
from decimal import Decimal

__all__ = ["format_size", "parse_size"]

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
    "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text):
    """A size in bytes from text such as ``"2GB"``, ``"500MB"``, ``"1.5GiB"`` or ``"1000"``.

    Parameters
    ----------
    text : str
        A non-negative number and an optional unit, case-insensitive: ``B``; ``kB``,
        ``MB``, ``GB``, ``TB`` (or ``k``, ``M``, ``G``, ``T``) in powers of 1000;
        ``KiB``, ``MiB``, ``GiB``, ``TiB`` in powers of 1024.

    Returns
    -------
    int
        Bytes, rounded down.

    Raises
    ------
    ValueError
        ``text`` is not such a size.
    """
    match = _SIZE_RE.match(text) if isinstance(text, str) else None
    unit = match and _UNITS.get(match.group(2).lower())
    if not unit:
        raise ValueError(f"{text!r} is not a size (e.g. 2GB, 500MB, 1.5GiB or a number of bytes)")
    return int(Decimal(match.group(1)) * unit)


def format_size(n_bytes):
    """``n_bytes`` in the units :func:`parse_size` reads, e.g. ``"282.4 MB"``.

    Parameters
    ----------
    n_bytes : int

    Returns
    -------
    str
    """
    n = float(n_bytes)
    if abs(n) < 1000:
        return f"{int(n_bytes)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
