"""The dependency floors declared in pyproject.toml are the versions CI installs.

.ci/run builds a fresh environment from ``.ci/constraints-floors.txt`` and runs the
digits commands and the classifier, feature, data and CLI tests there; these tests keep
that file and the ``>=`` floors of ``pyproject.toml`` the same, so a floor cannot be
raised or lowered without the floor environment testing it.
"""
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / ".ci" / "constraints-floors.txt"
if not CONSTRAINTS.is_file():  # an installed copy of the tests, without the repository
    pytest.skip("no .ci/constraints-floors.txt beside the tests", allow_module_level=True)


def _name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def declared_floors():
    """``{name: floor}`` of every requirement with a ``>=`` in pyproject.toml, except the
    optional Dask extra (its tests skip without it; the floor environment leaves it out)."""
    meta = tomllib.loads(PYPROJECT.read_text())
    requirements = (meta["build-system"]["requires"] + meta["project"]["dependencies"]
                    + meta["project"]["optional-dependencies"]["test"])
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", requirement)
        floor = re.search(r">=\s*([0-9.]+)", match.group(2))
        if floor:  # a package named twice (build and runtime) has one floor
            name, version = _name(match.group(1)), _version(floor.group(1))
            assert floors.setdefault(name, version) == version, requirement
    return floors


def pinned_floors():
    """``{name: version}`` of the ``name==version`` lines of the constraints file."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = _version(version)
    return pins


def test_every_declared_floor_is_pinned_in_the_floor_environment():
    assert pinned_floors() == declared_floors()


def test_every_runtime_requirement_has_a_floor():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert ">=" in requirement, requirement
