"""The package's shape: its layers, no import cycles, small modules, one version string
and no notes about where it was developed.

The layers are the ``[tool.importlinter]`` contract of ``pyproject.toml``; the import
graph is grimp's (the engine of import-linter), which counts the imports inside
functions too.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastsoftmax"

MAX_TOP_LEVEL_MODULES = 6
MAX_LINES = 600
#: What the package's code and docstrings never mention.
DEVELOPMENT_NOTES = re.compile(r"[Ii]ssue [0-9]|development machine|\.\./shared|dev copy")
#: Build outputs beside the sources (ignored by git): not the package's text.
BUILD_DIRS = {"__pycache__", "_kernel_cache"}
BUILD_SUFFIXES = {".so", ".pyd", ".pyc", ".nbi", ".nbc", ".c"}
#: The compiled extension (ext/_gradcheck.pyx): no Python source, so the import graph records
#: ``from fastsoftmax import _gradcheck`` as an import of the root package.
EXTENSION_IMPORT = re.compile(r"\bfastsoftmax\._gradcheck\b|\bfrom fastsoftmax import _gradcheck\b")


def _source_files():
    """Every file of the package's source tree, build outputs left out."""
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d not in BUILD_DIRS)
        for name in sorted(files):
            if os.path.splitext(name)[1] not in BUILD_SUFFIXES:
                yield Path(folder, name)


def _text(path):
    """The file's text, or None for a binary file (as ``git grep`` skips them)."""
    data = path.read_bytes()
    return None if b"\0" in data else data.decode("utf-8", errors="replace")


def _lint_imports():
    exe = Path(sys.executable).with_name("lint-imports")
    return str(exe) if exe.exists() else shutil.which("lint-imports")


# ---------------------------------------------------------------------- (a) the contract
def test_layers_contract_is_kept():
    exe = _lint_imports()
    assert exe, "lint-imports is not installed (pip install '.[test]')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                      os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    report = result.stdout + result.stderr
    broken = report[report.find("Broken contracts"):] if "Broken contracts" in report else report
    assert result.returncode == 0, f"the layers contract is broken:\n{broken}"
    assert "1 kept, 0 broken" in report


# ---------------------------------------------------------------------- (b) no cycles
def _graph():
    return grimp.build_graph("fastsoftmax", cache_dir=None)


def _cycles(nodes, edges):
    """The strongly connected components of more than one node (or with a self-import)
    of the directed graph ``edges`` (node -> set of nodes), each sorted (Tarjan's)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


def _imports(graph, module):
    """The modules ``module`` imports, less the imports of the compiled extension that the
    graph counts as imports of the root package (the root facade is not imported then)."""
    imported = set(graph.find_modules_directly_imported_by(module))
    if "fastsoftmax" in imported and all(
            EXTENSION_IMPORT.search(d["line_contents"])
            for d in graph.get_import_details(importer=module, imported="fastsoftmax")):
        imported.discard("fastsoftmax")
    return imported


def _line(graph, importer, imported):
    details = graph.get_import_details(importer=importer, imported=imported)
    return f"{importer} -> {imported} (l.{details[0]['line_number']})" if details else \
        f"{importer} -> {imported}"


def _describe_module_cycle(graph, component):
    """A shortest cycle through the component's first module, import by import."""
    first, members = component[0], set(component)
    cycles = []
    for nxt in sorted(_imports(graph, first) & members):
        back = (nxt,) if nxt == first else graph.find_shortest_chain(importer=nxt, imported=first)
        if back:
            cycles.append((first, *back))
    cycle = min(cycles, key=len)
    return f"{len(component)} modules, e.g. " + "; ".join(
        _line(graph, a, b) for a, b in zip(cycle, cycle[1:]))


def test_no_import_cycle_among_modules():
    graph = _graph()
    edges = {m: _imports(graph, m) for m in graph.modules}
    cycles = _cycles(graph.modules, edges)
    assert not cycles, "import cycles:\n" + "\n".join(_describe_module_cycle(graph, c)
                                                       for c in cycles)


def _unit(module):
    """The subpackage (or top-level module) of ``module``; the root facade is its own."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_subpackages():
    graph = _graph()
    edges, examples = {}, {}
    for importer in graph.modules:
        for imported in _imports(graph, importer):
            a, b = _unit(importer), _unit(imported)
            if a != b:
                edges.setdefault(a, set()).add(b)
                examples.setdefault((a, b), []).append(_line(graph, importer, imported))
    cycles = _cycles({_unit(m) for m in graph.modules}, edges)

    def describe(component):
        members = set(component)
        return " <-> ".join(component) + ":\n" + "\n".join(
            f"  {a} -> {b}: " + "; ".join(sorted(examples[a, b])[:3])
            for a in component for b in sorted(edges.get(a, set()) & members))

    assert not cycles, "import cycles between subpackages:\n" + "\n".join(map(describe, cycles))


# ---------------------------------------------------------------------- (c) - (f) files
def test_at_most_six_top_level_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_no_file_over_600_lines():
    long = {}
    for path in _source_files():
        text = _text(path)
        if text is not None and text.count("\n") > MAX_LINES:
            long[str(path.relative_to(ROOT))] = text.count("\n")
    assert not long, long


def test_no_development_notes_in_the_package():
    hits = []
    for path in _source_files():
        text = _text(path)
        for number, line in enumerate((text or "").splitlines(), start=1):
            if DEVELOPMENT_NOTES.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_version_is_written_once_in_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert len(re.findall(r'^version = "[^"]+"$', pyproject, re.M)) == 1
    literals = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                for path in _source_files() if path.suffix == ".py"
                for number, line in enumerate(_text(path).splitlines(), start=1)
                if re.search(r"""__version__\s*=\s*["']""", line)]
    assert not literals, "a version literal in the package (pyproject.toml has it):\n" + \
        "\n".join(literals)
