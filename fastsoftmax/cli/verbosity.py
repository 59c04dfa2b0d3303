"""How much the commands say on stderr: ``-q`` and ``-v``, and the facts ``-v`` logs.

fastsoftmax's logs go to stderr through one handler (:func:`set_verbosity`): warnings by
default, the data and cache used, threads and seconds per stage with ``-v``, debug
details with ``-vv``, errors only with ``-q`` (which also hides the progress bars).
"""
import logging
import os

import click

from fastsoftmax.cli.progress import write_line

__all__ = ["log", "is_quiet", "set_verbosity", "verbosity_options", "log_threads", "log_cache",
           "log_seconds"]

log = logging.getLogger("fastsoftmax.cli")

QUIET_HELP = "No progress bars or log messages; results only."
VERBOSE_HELP = ("Log what happens: data and cache used, threads, seconds per stage "
                "(-vv: more detail).")


class _EchoHandler(logging.Handler):
    """Log records on the current stderr (click's, so CliRunner captures them)."""

    def emit(self, record):
        try:
            write_line(self.format(record))
        except Exception:  # noqa: BLE001  (logging must never fail the command)
            self.handleError(record)


def is_quiet(ctx=None):
    """Whether ``-q`` was given (before or after the command name)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def set_verbosity(ctx, quiet=False, verbose=0):
    """Record ``-q``/``-v`` in the root context and set the level of fastsoftmax's logs.

    Called by the group's options and by each command's (so ``fastsoftmax train -q``
    equals ``fastsoftmax -q train``); given twice, ``-q`` wins and the ``-v`` add up.
    Logs go to stderr: warnings by default, the facts of ``-v`` (data and cache used,
    threads, seconds per stage), debug details with ``-vv``, errors only with ``-q``.
    """
    root = ctx.find_root()
    root.ensure_object(dict)
    quiet = root.obj["quiet"] = bool(root.obj.get("quiet")) or bool(quiet)
    verbose = root.obj["verbose"] = int(root.obj.get("verbose") or 0) + int(verbose or 0)
    logger = logging.getLogger("fastsoftmax")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        handler = _EchoHandler()
        handler.setFormatter(logging.Formatter("fastsoftmax: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else max(logging.WARNING - 10 * verbose, logging.DEBUG))


def _verbosity_callback(ctx, param, value):
    if value:
        set_verbosity(ctx, **{param.name: value})
    return value


def verbosity_options(command):
    """Give ``command`` (and every subcommand of a group) the options ``-q``/``--quiet``
    and ``-v``/``--verbose``, so that they work after the command name too."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if "-q" not in taken and "--quiet" not in taken:
        click.option("-q", "--quiet", is_flag=True, expose_value=False, help=QUIET_HELP,
                     callback=_verbosity_callback)(command)
    if "-v" not in taken and "--verbose" not in taken:
        click.option("-v", "--verbose", count=True, expose_value=False, help=VERBOSE_HELP,
                     callback=_verbosity_callback)(command)
    for sub in getattr(command, "commands", {}).values():
        verbosity_options(sub)
    return command


def log_threads():
    """Log how many threads the kernels use (``-v``)."""
    import numba  # heavy: a command that logs this runs the kernels anyway

    log.info("threads: %d (numba; NUMBA_NUM_THREADS sets it), %d CPUs", numba.get_num_threads(),
             os.cpu_count() or 1)


def log_cache(enabled):
    """Log the cache folder, its size and limit, or that it is off (``-v``)."""
    if not log.isEnabledFor(logging.INFO):
        return
    if not enabled:
        log.info("cache: off (--no-cache); features and PCA are computed")
        return
    from fastsoftmax.io.cache import cache_info, format_size  # imports NumPy: not at --help

    info = cache_info()
    limit = info["limit_bytes"]
    log.info("cache: %s (%d entries, %s; limit %s)", info["path"], info["entries"],
             format_size(info["size_bytes"]),
             "none" if limit is None else "0: off" if limit == 0 else format_size(limit))


def log_seconds(seconds):
    """Log the seconds of each stage (``-v``)."""
    log.info("seconds: %s", ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
