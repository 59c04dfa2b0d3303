"""The ``fastsoftmax`` command line: one click group, one module per command.

Heavy imports (numba, scikit-learn) happen inside the command bodies so that
``fastsoftmax --help`` answers at once.  ``-q`` and ``-v`` work before and after the
command name (:func:`fastsoftmax.cli.verbosity.verbosity_options`).

The modules below the commands, each importing only those listed after it:
:mod:`~fastsoftmax.cli.building` (what a command runs, from its options),
:mod:`~fastsoftmax.cli.paths` (output files, checked before any work),
:mod:`~fastsoftmax.cli.folders` (image-folder options), :mod:`~fastsoftmax.cli.options`
(shared options), :mod:`~fastsoftmax.cli.verbosity` (``-q``/``-v`` and logs),
:mod:`~fastsoftmax.cli.progress` (progress on stderr), :mod:`~fastsoftmax.cli.errors`
(one line and an exit code), :mod:`~fastsoftmax.cli.signals` (Ctrl-C, SIGTERM, SIGHUP),
:mod:`~fastsoftmax.cli.output` (everything printed).
"""
import importlib

import click

from fastsoftmax._shared.version import __version__
from fastsoftmax.cli.errors import InputError, SuggestingGroup
from fastsoftmax.cli.signals import Interrupted, install_signal_handlers, signal_of
from fastsoftmax.cli.verbosity import set_verbosity, verbosity_options

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
    "show": "fastsoftmax.cli.show:show",
}


class LazyGroup(SuggestingGroup):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return verbosity_options(getattr(importlib.import_module(module_name), attr))

    def invoke(self, ctx):
        # Ctrl-C anywhere (also outside a command's own error handler): "Aborted.", exit
        # 130 (SIGTERM and SIGHUP: 128 + their number).
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
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
    ctx.obj = {}
    set_verbosity(ctx, quiet=quiet, verbose=verbose)
    try:  # before any command imports Numba, which reads NUMBA_NUM_THREADS once
        # imported here: importing the module checks the environment too (and raises)
        from fastsoftmax._shared.config import check_environment

        check_environment()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    install_signal_handlers(ctx)
