"""Every ``fastsoftmax`` command shown in README.md and docs/*.md runs, so the
documentation cannot drift; every relative link in them resolves.

Two sequences, each in document order (the pages in the order of ``PAGES``), in a fresh
working folder with a fresh data folder (``$FASTSOFTMAX_DATA``):

- ``bash`` blocks: every ``fastsoftmax ...`` command (also after ``&&``, and the shell
  completion line) runs with click's CliRunner and must exit with code 0;
- ``console`` blocks: every ``$ fastsoftmax ...`` line runs the same way, and the
  lines shown after it must appear in its output (stdout and stderr as a terminal
  shows them), in order.  Times are not compared: ``0.26 s`` and the numbers of the
  ``seconds:`` line match any time, and the "about N s of it compiling" note may be
  there or not (it is there on a machine's first run only).

The documented mapping from the pages' commands to what runs here:

- SKIPS: commands that need CIFAR-10 (``path/to/...``, the ``cifar.npz`` model trained
  on it), the network (``data download``), a Dask cluster (``--scheduler``,
  ``$FASTSOFTMAX_SCHEDULER``) or ten minutes (``bench --full``) are skipped, each
  with its reason;
- SUBSTITUTIONS: sweeps and the study run with few updates and one seed, benchmarks
  with the tiny sizes and only the gradient-check case (options appended below);
- FILES: image files a command names (``digit.png``) are made from a digits test
  image; ``benchmarks/baseline.json`` is a copy of the repository's, so the documented
  ``--update-baseline`` must say ``--force`` to replace it; the data sets the pages
  name by folder (``mnist``, ``fashion-mnist``, ``svhn``, ``cifar-100-python``) are
  small files in each format made from the digits (``dataset_files``), trained on with
  few updates (and a small dictionary with ``--features kmeans``).
"""
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The pages whose commands run, in this order: the README first (its tour writes the
#: files that later pages use, e.g. ``digits.npz``), then the docs pages.
PAGES = [README] + [DOCS / name for name in (
    "cli.md", "data.md", "experiments.md", "python-api.md", "learned-features.md",
    "hostile-inputs.md", "benchmarks.md", "benchmarks-2026-12-06.md",
    "benchmarks-2026-12-07.md", "development.md", "architecture.md")]

#: (pattern in the command, reason): the first match skips the command.
SKIPS = [
    (r"path/to/|cifar\.npz|kmeans\.npz", "needs CIFAR-10 (not in the tests)"),
    (r"\bdata download\b", "needs the network"),
    (r"--scheduler|FASTSOFTMAX_SCHEDULER", "needs a Dask cluster"),
    (r"\bbench\b.*--full", "takes about 10 minutes"),
]

#: (pattern in the command, options appended): small sizes with the same options.
_SETS = r"-d (mnist|fashion-mnist|svhn|cifar-100-python)\b"
SUBSTITUTIONS = [
    (rf"^train\b(?=.*--features kmeans)(?=.*{_SETS})",
     ["--n-centroids", "16", "--n-patches", "2000", "--epochs", "2"]),
    (rf"^features\b(?=.*--features kmeans)", ["--n-centroids", "16", "--n-patches", "2000"]),
    (rf"^train\b(?=.*{_SETS})", ["--n-iter", "30"]),
    (r"^sweep\b", ["--n-iter", "60"]),
    (r"^study\b", ["--n-iter", "100", "--repeats", "1"]),
    (r"^bench\b(?!.*--list)(?!.*--only)", ["--size", "tiny", "--only", "gradcheck"]),
    (r"^bench\b(?!.*--list)(?=.*--only)", ["--size", "tiny"]),
]


def _blocks(kind):
    """The contents of every ```kind block of the pages, in order."""
    return [block for page in PAGES
            for block in re.findall(rf"^```{kind}\n(.*?)^```", page.read_text(encoding="utf-8"),
                                    re.M | re.S)]


def _commands(line):
    """``(env, args)`` of each ``fastsoftmax`` command on one shell line."""
    line = line.split(" #", 1)[0].strip()
    completion = re.search(r"(_FASTSOFTMAX_COMPLETE=\w+) fastsoftmax\b", line)
    if completion:
        name, value = completion.group(1).split("=")
        return [({name: value}, [])]
    found = []
    for part in line.split("&&"):
        words = shlex.split(part)
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if words and words[0] == "fastsoftmax":
            found.append((env, words[1:]))
    return found


def _bash_cases():
    cases = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for env, args in _commands(line):
                cases.append(pytest.param(line, env, args, id=f"bash: {shlex.join(args)}"[:70]))
    return cases


def _console_cases():
    cases = []
    for block in _blocks("console"):
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if not chunk.startswith("$ "):
                continue
            command, *shown = chunk.rstrip("\n").split("\n")
            (env, args), = _commands(command[2:])
            cases.append(pytest.param(command[2:], env, args, shown,
                                      id=f"console: {shlex.join(args)}"[:70]))
    return cases


def _skip_reason(line):
    for pattern, reason in SKIPS:
        if re.search(pattern, line):
            return reason
    return None


def _substituted(args):
    text = shlex.join(args)
    for pattern, extra in SUBSTITUTIONS:
        if re.search(pattern, text):
            return args + extra
    return args


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    """One working folder per sequence (bash, console), with the files commands name."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from dataset_files import write_cifar100, write_idx, write_svhn

    folders = {}
    for kind in ("bash", "console"):
        folder = tmp_path_factory.mktemp(f"readme-{kind}")
        (folder / "work" / "benchmarks").mkdir(parents=True)
        shutil.copy(ROOT / "benchmarks" / "baseline.json", folder / "work" / "benchmarks")
        image = load_digits().images[-1] * 255 / 16  # a test-split digit
        Image.fromarray(np.rint(image).astype(np.uint8)).resize((32, 32)).save(
            folder / "work" / "digit.png")
        write_idx(folder / "work" / "mnist")
        write_idx(folder / "work" / "fashion-mnist", gz=False)
        write_svhn(folder / "work" / "svhn")
        write_cifar100(folder / "work")
        folders[kind] = folder
    return folders


def _run(workspace, monkeypatch, line, env, args):
    reason = _skip_reason(line)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(workspace / "work")
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(workspace / "data"))
    for name in list(os.environ):
        if name.startswith("FASTSOFTMAX_") and name not in ("FASTSOFTMAX_DATA",) and (
                name not in env):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(main, _substituted(args), env=env or None,
                                prog_name="fastsoftmax", catch_exceptions=False)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result


@pytest.mark.parametrize("line, env, args", _bash_cases())
def test_readme_bash_command_runs(workspaces, monkeypatch, line, env, args):
    result = _run(workspaces["bash"], monkeypatch, line, env, args)
    if env.get("_FASTSOFTMAX_COMPLETE", "").endswith("_source"):
        assert "_fastsoftmax_completion" in result.output


def _normalized(line):
    """A line with its times and compile note taken out (they differ run to run)."""
    line = re.sub(r" \(about \d+ s of it compiling\)", "", line)
    line = re.sub(r"; about \d+ s of it compiling\)", ")", line)
    line = re.sub(r"\d+\.\d+ s\b", "<t> s", line)
    if line.startswith("seconds:"):
        line = re.sub(r"\d+\.\d+", "<t>", line)
    return line.rstrip()


@pytest.mark.parametrize("line, env, args, shown", _console_cases())
def test_readme_console_output_is_what_the_command_prints(workspaces, monkeypatch, line, env,
                                                          args, shown):
    result = _run(workspaces["console"], monkeypatch, line, env, args)
    actual = [_normalized(a) for a in result.output.splitlines()]
    position = 0
    for expected in map(_normalized, shown):
        assert expected in actual[position:], (
            f"README shows {expected!r} for `{line}`, not printed (in order):\n"
            + result.output)
        position = actual.index(expected, position) + 1


def test_the_readme_mapping_finds_the_commands_it_is_about():
    bash = [" ".join(p.values[2]) for p in _bash_cases()]
    console = [" ".join(p.values[2]) for p in _console_cases()]
    # the first command of the README, after `pip install . &&`
    assert bash[0] == "train"
    assert "evaluate --model digits.npz" in console
    assert any(_skip_reason(p.values[0]) == "needs CIFAR-10 (not in the tests)"
               for p in _bash_cases())
    assert _substituted(["bench"]) == ["bench", "--size", "tiny", "--only", "gradcheck"]
    assert _substituted(["bench", "--only", "hog"]) == ["bench", "--only", "hog", "--size", "tiny"]
    assert _substituted(["bench", "--list"]) == ["bench", "--list"]
    assert _normalized("training: 1,000 updates in 11.24 s (final loss 0.1820; about 11 s "
                       "of it compiling)") == "training: 1,000 updates in <t> s (final loss 0.1820)"


# --------------------------------------------------------------------------- links

#: ``[text](target)`` and ``![alt](target)``; the target ends at a space or ``)``.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def _slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text):
    """Every heading anchor of a Markdown text (outside code blocks), with GitHub's
    ``-1``, ``-2`` suffixes for repeated headings."""
    seen, anchors = {}, set()
    for line in re.sub(r"^```.*?^```", "", text, flags=re.M | re.S).splitlines():
        match = re.match(r"#{1,6} (.*)", line)
        if match:
            slug = _slug(match.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _broken_links(page):
    """``(target, why)`` of every relative link of ``page`` that does not resolve."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in _LINK.findall(re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file():
            broken.append((target, "no such file"))
        elif anchor and file.suffix == ".md" and anchor not in _anchors(
                file.read_text(encoding="utf-8")):
            broken.append((target, "no such heading"))
    return broken


def test_every_docs_page_is_read_for_commands_and_links():
    assert sorted(DOCS.glob("*.md")) == sorted(PAGES[1:])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    assert _broken_links(page) == []


def test_the_link_check_finds_broken_links(tmp_path):
    (tmp_path / "other.md").write_text("# A `code` heading: here\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-code-heading-here) [ok](other.md#twice-1) "
                    "![ok](other.md) [web](https://example.org/x) [self](#top)\n"
                    "[gone](missing.md) [bad anchor](other.md#nowhere)\n"
                    "```\n[in code](ignored.md)\n```\n# Top\n")
    assert _broken_links(page) == [("missing.md", "no such file"),
                                   ("other.md#nowhere", "no such heading")]
    assert len(_LINK.findall(README.read_text(encoding="utf-8"))) >= 10
