"""The one boundary between text from files and the terminal: everything printed passes here.

Names that fastsoftmax did not choose (file and folder names, class names read from a
data set or a model file, paths in messages) may hold terminal escape sequences:
``ESC]0;...BEL`` retitles the terminal even through a pipe, ``ESC[2J`` clears it, a
carriage return rewrites the line.  :func:`printable` is the one rule that makes them
inert; :func:`echo`, :func:`echo_lines`, :func:`printable_json` (and :func:`echo_json`,
the ``--json`` output), the ``Error:`` lines of :mod:`fastsoftmax.cli.errors` and the
log/progress lines of :func:`fastsoftmax.cli.progress.write_line` all apply it, so no
caller escapes a name itself (a table escapes its cells first only to measure their widths).
"""
import json

import click

__all__ = ["printable", "printable_json", "echo", "echo_lines", "echo_json", "message_of",
           "dependency_message"]


def printable(text):
    """``text`` with every character a terminal could act on written as its escape.

    The rule: a character that :meth:`str.isprintable` rejects is replaced by the
    escape :func:`repr` writes for it: the C0 and C1 control characters (``ESC`` as
    ``\\x1b``, ``BEL`` as ``\\x07``, carriage return, newline and tab as ``\\r``,
    ``\\n``, ``\\t``), ``DEL`` (``\\x7f``), the line and paragraph separators, format
    characters such as the bidirectional overrides (``\\u202e``), unassigned code points,
    and the lone surrogates that stand for undecodable bytes of a file name
    (``\\udcff``).  Every other character, ordinary letters of any script included, is
    kept.  A backslash is kept as it is, so the function is idempotent: text that
    already holds ``repr``-style escapes (a ``{path!r}`` in a message) is unchanged.
    The result is one line (it holds no line break).

    Parameters
    ----------
    text : str
        Anything else is converted with :func:`str` first.

    Returns
    -------
    str
    """
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def printable_json(value):
    """``value`` with :func:`printable` applied to every string in it (keys included).

    The JSON text then holds the escapes themselves (``"\\\\x1b"``, which a JSON reader
    decodes to the four characters ``\\x1b``), never the control characters, so a
    name prints the same in ``--json`` output as in text output.

    Parameters
    ----------
    value : object
        Dicts, lists and tuples are walked; other values are returned as they are.

    Returns
    -------
    object
    """
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_json(k): printable_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_json(v) for v in value]
    return value


def echo(text="", err=False):
    """Print one line (on stderr with ``err``) through :func:`printable`: a line break in
    ``text`` is printed as ``\\n``."""
    click.echo(printable(text), err=err)


def echo_lines(text, err=False):
    """Print several lines of fastsoftmax's own layout (a table, an array): ``text`` is
    split at its line breaks and each line printed through :func:`printable`.  Names in
    it must have been escaped already (a name holding a line break would start a line)."""
    for line in str(text).split("\n"):
        echo(line, err=err)


def echo_json(payload):
    """Print ``payload`` as JSON (``--json``), every string in it through
    :func:`printable_json`; NumPy scalars and arrays are written as numbers and lists."""
    click.echo(json.dumps(printable_json(payload), indent=2, sort_keys=False,
                          default=_json_default))


def _json_default(value):
    import numpy as np  # heavy: only values that came from NumPy get here

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return printable_json(value.tolist())
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def message_of(exc):
    """What a user error says, as one printable line.

    fastsoftmax's own messages are one line by construction, so a line break in one
    comes from a name it quotes and is escaped with the rest.  Another library's
    message may span lines (scikit-learn's advice after the first): only its first
    non-empty line is kept.  An empty message gives the exception's type name.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    if not _raised_by_fastsoftmax(exc):
        text = next(line for line in text.splitlines() if line.strip()).strip()
    return printable(text)


def dependency_message(exc):
    """What to say of an ``ImportError`` of a package fastsoftmax requires, or None.

    The line names the package, the versions fastsoftmax needs (read from its installed
    metadata, where ``pyproject.toml`` put them), the version installed and what to
    install: ``No module named 'skimage'; fastsoftmax needs scikit-image>=0.22,<1 (not
    installed); install it with: pip install "scikit-image>=0.22,<1"``.

    Parameters
    ----------
    exc : ImportError

    A module of no package fastsoftmax requires (``scipy``, which scikit-learn needs)
    gets the advice to reinstall fastsoftmax's dependencies.

    Returns
    -------
    str or None
        None when no module is named or it is fastsoftmax's own (a bug, not the
        installation's).
    """
    # only on an error: importlib.metadata, which it reads, stays out of `--help`
    from fastsoftmax._shared.requirements import requirement_for

    module = getattr(exc, "name", None) or ""
    top = module.split(".")[0]
    if not top or top == "fastsoftmax":
        return None  # no module named, or one of fastsoftmax's own: a bug
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    requirement = requirement_for(module)
    if requirement is None:  # a package that one of fastsoftmax's dependencies needs
        return printable(f"{text}; {top!r} is needed by a package fastsoftmax uses; "
                         "reinstall them with: pip install --force-reinstall fastsoftmax")
    installed = (f"{requirement.installed} is installed" if requirement.installed
                 else "not installed")
    text += f"; fastsoftmax needs {requirement.spec} ({installed})"
    if "pip install" not in text:
        text += f"; install it with: pip install {requirement.install}"
    return printable(text)


def _raised_by_fastsoftmax(exc):
    """Whether the innermost frame of ``exc``'s traceback is fastsoftmax's code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module == "fastsoftmax" or module.startswith("fastsoftmax.")
