"""The ``fastsoftmax`` command line: one click group, one module per command.

Heavy imports (numba, scikit-learn) happen inside the command bodies so that
``fastsoftmax --help`` answers at once.
"""
import logging

import click

from .. import __version__

# command name -> "module:function" (loaded only when that command runs or --help lists it)
COMMANDS = {
    "train": "fastsoftmax.cli.train:train",
    "evaluate": "fastsoftmax.cli.evaluate:evaluate",
    "predict": "fastsoftmax.cli.predict:predict",
    "data": "fastsoftmax.cli.data:data",
    "gradcheck": "fastsoftmax.cli.gradcheck:gradcheck",
    "bench": "fastsoftmax.cli.bench:bench",
    "sweep": "fastsoftmax.cli.sweep:sweep",
    "report": "fastsoftmax.cli.report:report",
    "study": "fastsoftmax.cli.study:study",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        import importlib

        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx):
        # Ctrl-C anywhere (also outside a command's own error handler): "Aborted.", exit 130.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from .options import Interrupted

            raise Interrupted() from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fastsoftmax")
@click.option("-v", "--verbose", count=True, help="More log messages (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log messages; results only.")
@click.pass_context
def main(ctx, verbose, quiet):
    """Fast softmax-classifier experiments on images (HOG + PCA + minibatch SGD).

    Every command runs on scikit-learn's bundled digits images when no --data is
    given, so it works with no download.
    """
    level = logging.ERROR if quiet else (logging.WARNING - 10 * verbose)
    logging.basicConfig(level=max(level, logging.DEBUG), format="fastsoftmax: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    ctx.obj["verbose"] = verbose
    from .options import install_sigint_handler

    install_sigint_handler(ctx)
