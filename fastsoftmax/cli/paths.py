"""The output files the commands write, checked before any work.

Output folders (``sweep -o``, ``study -o``) are checked by
:func:`fastsoftmax.experiments.results.check_output_folder`.
"""
import os

from fastsoftmax.cli.errors import InputError
from fastsoftmax.io.atomic import check_writable_folder, remove_stale
from fastsoftmax.io.paths import check_name_fits, check_replaceable, resolve_output

__all__ = ["output_file"]


def output_file(path, option, force, dpi=None):
    """The checked, resolved path of an output-file option (``None`` when not given).

    The one check of every file the commands write, before any work: the path is
    resolved as the file system will see it (:func:`fastsoftmax.io.paths.resolve_output`:
    an empty path is refused), and what is checked is what the command then writes.
    Its folder must exist and take a new file (tried for real); its name must fit the
    file system (temporary names beside it are shortened to fit); an existing one must
    be a regular file (a folder, FIFO, device or socket is refused, ``force`` or not)
    and is refused without ``force``.  With ``dpi``, the path is a figure (png, pdf,
    svg).  Temporary files that killed earlier writes of it left are removed.

    Parameters
    ----------
    path : str or None
        The option's value.
    option : str
        The option, named in the messages (``"--model"``).
    force : bool
        Whether an existing regular file may be replaced.
    dpi : float, optional
        Check the path as a figure of this resolution.

    Returns
    -------
    str or None
        The absolute, resolved path to write.
    """
    if path is None:
        return None
    try:
        resolved = resolve_output(path, option)
        folder = os.path.dirname(resolved)
        if not os.path.isdir(folder):
            raise InputError(f"{option}: folder {folder!r} does not exist")
        check_name_fits(resolved, option)
        if os.path.isdir(resolved):
            raise InputError(f"{option}: {resolved!r} is a folder")
        check_replaceable(resolved, option)
        if dpi is not None:
            from fastsoftmax.plots.figures import check_figure_path  # imports NumPy

            check_figure_path(resolved, dpi)
        check_writable_folder(folder, option)
        if os.path.lexists(resolved) and not force:
            raise InputError(f"{option}: {path!r} already exists; add --force to overwrite it")
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
    remove_stale(resolved)
    return resolved
