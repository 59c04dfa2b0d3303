"""The ``fastsoftmax`` command line: one click group, one module per command.

Heavy imports (numba, scikit-learn) happen inside the command bodies so that
``fastsoftmax --help`` answers at once.  ``-q`` and ``-v`` work before and after the
command name (:func:`fastsoftmax.cli.options.verbosity_options`).
"""
import click

from fastsoftmax import __version__

# command name -> "module:function" (loaded only when that command runs or --help lists it)
COMMANDS = {
    "train": "fastsoftmax.cli.train:train",
    "evaluate": "fastsoftmax.cli.evaluate:evaluate",
    "features": "fastsoftmax.cli.features:features",
    "predict": "fastsoftmax.cli.predict:predict",
    "data": "fastsoftmax.cli.data:data",
    "gradcheck": "fastsoftmax.cli.gradcheck:gradcheck",
    "bench": "fastsoftmax.cli.bench:bench",
    "sweep": "fastsoftmax.cli.sweep:sweep",
    "report": "fastsoftmax.cli.report:report",
    "study": "fastsoftmax.cli.study:study",
}


class SuggestingGroup(click.Group):
    """A group that answers an unknown command with one line and the nearest name."""

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if (isinstance(name, str) and name and not name.startswith("-")
                and not ctx.resilient_parsing and self.get_command(ctx, name) is None):
            import difflib

            from fastsoftmax.cli.options import InputError

            names = self.list_commands(ctx)
            close = difflib.get_close_matches(name, names, n=1)
            hint = (f"did you mean {close[0]!r}?" if close
                    else f"the commands are {', '.join(names)}")
            raise InputError(f"no such command {name!r}; {hint}")
        return super().resolve_command(ctx, args)


class LazyGroup(SuggestingGroup):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        import importlib

        from fastsoftmax.cli.options import verbosity_options

        module_name, attr = target.split(":")
        return verbosity_options(getattr(importlib.import_module(module_name), attr))

    def invoke(self, ctx):
        # Ctrl-C anywhere (also outside a command's own error handler): "Aborted.", exit
        # 130 (SIGTERM and SIGHUP: 128 + their number).
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            from fastsoftmax.cli.signals import Interrupted, signal_of

            raise Interrupted(signal_of(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fastsoftmax")
@click.option("-v", "--verbose", count=True, help="Log what happens: data and cache used, threads, "
              "seconds per stage (-vv: more detail). Also accepted after the command.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log messages; results "
              "only. Also accepted after the command.")
@click.pass_context
def main(ctx, verbose, quiet):
    """Fast softmax-classifier experiments on images (HOG + PCA + minibatch SGD).

    Every command runs on scikit-learn's bundled digits images when no --data is
    given, so it works with no download; --data takes CIFAR-10, CIFAR-100, MNIST,
    Fashion-MNIST, SVHN (`fastsoftmax data download NAME`) or a folder of images.  Progress goes to stderr (one line per
    stage when stderr is not a terminal); results go to stdout.  An output file or
    folder that already exists is refused unless --force.
    """
    from fastsoftmax.cli.options import InputError, set_verbosity

    ctx.obj = {}
    set_verbosity(ctx, quiet=quiet, verbose=verbose)
    try:  # before any command imports Numba, which reads NUMBA_NUM_THREADS once
        from fastsoftmax._shared.config import check_environment

        check_environment()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    from fastsoftmax.cli.signals import install_signal_handlers

    install_signal_handlers(ctx)
