"""Options and helpers shared by the commands."""
import functools
import json
import sys

import click


class InputError(click.ClickException):
    """A user error: one line on stderr and exit code 2, never a traceback."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


def handle_errors(func):
    """Turn ``ValueError``/``OSError``/``TypeError`` from the library into a one-line error."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as the docs of Python's
            # signal module advise, instead of reporting an error nobody will read.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except MemoryError:
            raise InputError("out of memory: the input is too large for this machine") from None
        except (ValueError, TypeError, OSError, KeyError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(message) from None

    return wrapper


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the results instead of text."
)
seed_option = click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (splits, minibatches, init)."
)
data_option = click.option(
    "--data",
    type=click.Path(path_type=str),
    default=None,
    help="Data set: a CIFAR-10 folder or archive, or an image folder. "
    "Default: scikit-learn's bundled digits images (no download).",
)


def is_quiet(ctx=None):
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def echo_json(payload):
    click.echo(json.dumps(payload, indent=2, sort_keys=False, default=_json_default))


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class ProgressBar:
    """A progress bar on stderr that respects ``--quiet``; used through a library callback."""

    def __init__(self, total, label, quiet=False):
        self.total = total
        self.quiet = quiet or not total
        self._bar = None
        self._done = 0
        if not self.quiet:
            self._bar = click.progressbar(
                length=total, label=label, file=sys.stderr, show_eta=True, show_percent=True,
                item_show_func=lambda item: item,
            )
            self._bar.__enter__()

    def update(self, done, info=None):
        """Move to ``done`` of ``total``; ``info`` is shown beside the bar (e.g. the loss)."""
        if self._bar is not None:
            self._bar.update(done - self._done, info)
            self._done = done

    def close(self):
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


scheduler_option = click.option(
    "--scheduler",
    envvar="FASTSOFTMAX_SCHEDULER",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the fits on this Dask cluster (`dask scheduler` prints the address; needs "
    'pip install "fastsoftmax[distributed]"); --jobs is then ignored. Also read from '
    "$FASTSOFTMAX_SCHEDULER. Default: local threads.",
)


def connect_scheduler(address):
    """A context manager holding the Dask cluster at ``address`` (``None`` without one).

    It connects at once, before any work, so a wrong address or a missing
    ``distributed`` package is a one-line error (exit 2) within seconds.
    """
    import contextlib

    if not address or not address.strip():
        return contextlib.nullcontext(None)
    from ..experiments.distributed import connect

    try:
        return connect(address)
    except (ImportError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
