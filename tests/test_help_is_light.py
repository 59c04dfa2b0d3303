"""``fastsoftmax --help`` and every command's ``--help`` answer without importing the
numerical stack: the commands import NumPy, Numba, scikit-learn and matplotlib in their
bodies (rasterio's habit), so help stays instant."""
import subprocess
import sys

import click
import pytest

from fastsoftmax.cli import main

HEAVY = ("numpy", "numba", "sklearn", "scipy", "matplotlib", "skimage", "pooch")

PROBE = """
import sys
from fastsoftmax.cli import main
try:
    main({args!r})
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("command", [None, *main.list_commands(click.Context(main))])
def test_help_imports_no_numerical_package(command):
    args = ["--help"] if command is None else [command, "--help"]
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "heavy:", (command, done.stdout[-300:])
