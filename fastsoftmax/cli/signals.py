"""Ctrl-C, SIGTERM and SIGHUP: each stops a command the same way.

Each raises a ``KeyboardInterrupt`` in the main thread (SIGTERM and SIGHUP a
:class:`SignalInterrupt`, which says which), so every cleanup that Ctrl-C runs runs:
what was being written is removed on the way out.  The command then prints one line
(:class:`Interrupted`) and exits with 128 + the signal's number.
"""
import signal
import sys
import threading

import click


class Interrupted(click.ClickException):
    """Ctrl-C, SIGTERM or SIGHUP: one line on stderr (``Aborted.``; ``Aborted (SIGTERM).``)
    and exit code 128 + the signal's number (130, 143, 129), as shells expect."""

    def __init__(self, signum=signal.SIGINT):
        name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
        super().__init__(f"Aborted{name}.")
        self.exit_code = 128 + int(signum)

    def show(self, file=None):
        click.echo(self.message, err=True)


class SignalInterrupt(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as Ctrl-C is (so every cleanup that Ctrl-C runs runs),
    carrying the signal's number for the exit code."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def signal_of(exc):
    """The signal a ``KeyboardInterrupt`` stands for (SIGINT unless it says otherwise)."""
    return getattr(exc, "signum", signal.SIGINT)


#: Signals the CLI turns into :class:`SignalInterrupt` (SIGINT stays Python's own
#: ``KeyboardInterrupt``).  Where one is ignored (``nohup`` ignores SIGHUP) it stays so.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))

#: Set by the CLI's signal handlers: a Ctrl-C (or SIGTERM, SIGHUP) that a C callback
#: swallowed (Numba's compiler calls back into Python through ctypes, which only prints
#: what it raises) is raised again at the next check, so it never ends in published
#: results and exit 0.  :data:`INTERRUPT_SIGNAL` holds which signal it was.
INTERRUPT = threading.Event()
INTERRUPT_SIGNAL = [signal.SIGINT]


def _interrupt(signum):
    return KeyboardInterrupt() if signum == signal.SIGINT else SignalInterrupt(signum)


def _on_signal(signum, frame):
    INTERRUPT_SIGNAL[0] = signum
    INTERRUPT.set()
    raise _interrupt(signum)


def install_signal_handlers(ctx):
    """Route Ctrl-C, SIGTERM and SIGHUP through :data:`INTERRUPT` for this command
    (restored when it ends): each raises a ``KeyboardInterrupt``, so whatever was being
    written is removed on the way out, and exits 128 + its number.

    A ``KeyboardInterrupt`` that a C callback could only report as "Exception ignored"
    is not printed (it is raised again at the next :func:`check_interrupt`).
    """
    INTERRUPT.clear()
    INTERRUPT_SIGNAL[0] = signal.SIGINT
    if threading.current_thread() is not threading.main_thread():
        return
    previous = {}
    for signum in (signal.SIGINT, *STOP_SIGNALS):
        handler = signal.getsignal(signum)
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if handler is default:  # not ignored, nor someone else's handler: those stay
            previous[signum] = handler
    if not previous:
        return
    previous_hook = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            INTERRUPT_SIGNAL[0] = signal_of(unraisable.exc_value)
            INTERRUPT.set()
            return
        previous_hook(unraisable)

    def restore():
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook

    for signum in previous:
        signal.signal(signum, _on_signal)
    sys.unraisablehook = hook
    ctx.call_on_close(restore)


def check_interrupt():
    """Raise ``KeyboardInterrupt`` if Ctrl-C (SIGTERM, SIGHUP) came, even if something
    swallowed it."""
    if INTERRUPT.is_set():
        raise _interrupt(INTERRUPT_SIGNAL[0])
