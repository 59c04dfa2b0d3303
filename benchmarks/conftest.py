"""Collect ``bench_*.py`` here (the default run only looks in ``tests/``).

Run with ``pytest benchmarks/`` or ``pytest benchmarks/bench_<name>.py``.
"""
import pytest


def pytest_collect_file(file_path, parent):
    # a file named on the command line is collected by pytest itself
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
