"""How a command fails: one line on stderr and an exit code, never a traceback.

Bad input is :class:`InputError` (exit 2), a bug :class:`InternalError` (exit 1, the
traceback with ``-v``); :func:`handle_errors` turns whatever escapes a command into
one of them.  :class:`SuggestingGroup` answers an unknown command the same way.
"""
import difflib
import functools
import os
import sys
import traceback

import click

from fastsoftmax.cli.output import dependency_message, echo, message_of, printable
from fastsoftmax.cli.signals import Interrupted, signal_of

__all__ = ["InputError", "InternalError", "USER_ERRORS", "handle_errors", "internal_error",
           "first_line", "SuggestingGroup"]


class InputError(click.ClickException):
    """A user error: one line on stderr and exit code 2, never a traceback."""

    exit_code = 2

    def show(self, file=None):
        echo(f"Error: {self.format_message()}", err=True)


#: Exceptions that mean bad input (a path, a file, a value, a cluster address, an input
#: too large for memory): one line, exit 2.  A missing or too old package is not bad
#: input (:func:`dependency_message`, exit 1); anything else escaping a command is a bug:
#: exit 1 with an "internal error" line.
USER_ERRORS = (ValueError, OSError, MemoryError, RecursionError)


class InternalError(click.ClickException):
    """A bug: a short line on stderr (the traceback with ``-v``) and exit code 1."""

    exit_code = 1

    def show(self, file=None):
        echo(f"Error: {self.format_message()}", err=True)


def first_line(exc):
    """The first non-empty line of ``str(exc)`` (the exception's type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def handle_errors(func):
    """Turn what escapes a command into one line on stderr and an exit code.

    - user errors (:class:`InputError`, and ``ValueError``/``OSError``/... from the
      library: :data:`USER_ERRORS`): ``Error: <message>`` (:func:`message_of`), exit 2;
    - ``ImportError``: a package missing or too old (:func:`dependency_message`), exit 1;
    - ``MemoryError``: ``Error: out of memory: ...``, exit 2;
    - ``KeyboardInterrupt`` (Ctrl-C; SIGTERM and SIGHUP raise one too): ``Aborted.``,
      exit 130 (``Aborted (SIGTERM).``, 143; ``Aborted (SIGHUP).``, 129); what was being
      written is removed on the way out by the atomic writers' cleanup;
    - anything else (``KeyError``, ``TypeError``, ``AttributeError``...: a bug):
      ``Error: internal error: <type>: <message>; please report it; run with -v for the
      traceback``, exit 1; with ``-v`` the traceback is printed first.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as the docs of Python's
            # signal module advise, instead of reporting an error nobody will read.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except KeyboardInterrupt as exc:
            raise Interrupted(signal_of(exc)) from None
        except MemoryError:
            raise InputError("out of memory: the input is too large for this machine") from None
        except ImportError as exc:  # a package missing or too old: not bad input, not a bug
            text = dependency_message(exc)
            raise (InternalError(text) if text else internal_error(exc)) from None
        except USER_ERRORS as exc:
            # a library error that names its parameters may say it with our options
            wording = getattr(exc, "cli_message", None)
            raise InputError(printable(wording()) if callable(wording) else message_of(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a bug: say so, never as a user error
            raise internal_error(exc) from None

    return wrapper


def internal_error(exc):
    """The :class:`InternalError` of an unexpected exception (traceback on stderr with ``-v``)."""
    verbose = False
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        root = ctx.find_root()
        verbose = bool(root.obj and root.obj.get("verbose"))
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return InternalError(f"internal error: {type(exc).__name__}: {first_line(exc)}; please report "
                         "it; run with -v for the traceback")


class SuggestingGroup(click.Group):
    """A group that answers an unknown command with one line and the nearest name."""

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if (isinstance(name, str) and name and not name.startswith("-")
                and not ctx.resilient_parsing and self.get_command(ctx, name) is None):
            names = self.list_commands(ctx)
            close = difflib.get_close_matches(name, names, n=1)
            hint = (f"did you mean {close[0]!r}?" if close
                    else f"the commands are {', '.join(names)}")
            raise InputError(f"no such command {name!r}; {hint}")
        return super().resolve_command(ctx, args)
