"""Helpers the command-line tests share: run a command in-process, list a folder."""
import os

from click.testing import CliRunner

from fastsoftmax.cli import main


def invoke(*args):
    """``fastsoftmax ARGS...`` through click's runner (stdout and stderr apart)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def listing(folder):
    """Every file and folder below ``folder``, as sorted relative paths."""
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, files in os.walk(folder) for name in dirs + files)
