"""Hostile paths and signals: every case asserts the exit code, the exact message, and
what is on disk before and after, for every command the case reaches.

Groups: empty paths; paths that resolve somewhere else than they read (``missing/..``,
``.``, symbolic links); folders holding what is not ours; outputs that are not regular
files (FIFOs, sockets, devices); our own files to read that are not regular files (a
FIFO would block the reader for ever); long names; a full disk; SIGTERM and SIGHUP.
"""
import errno
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from fastsoftmax.io.atomic import atomic_open, remove_stale
from fastsoftmax.io.paths import name_max, temp_stem
from fastsoftmax.cli import main
from fastsoftmax.cli.signals import SignalInterrupt
from fastsoftmax.experiments.results import RESULT_FILES
from fastsoftmax.experiments.sweep import publish_sweep, run_sweep

from test_hostile_cli import (  # noqa: F401  (fixtures: features, no_work, quick_features)
    BASE, KILL_SWEEP, _leftovers, _one_error_line, _stage, _start, _wait_for, features, no_work,
    quick_features)

pytestmark = pytest.mark.usefixtures("private_data_folder")

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX file kinds and signals")
CLI = [sys.executable, "-c", "from fastsoftmax.cli import main; main()"]
NO_SPACE = "Error: [Errno 28] No space left on device: {path!r}"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _listing(folder):
    """Every path under ``folder`` with its kind (``f`` file, ``d`` folder, ``p`` FIFO,
    ``s`` socket, ``c`` device, ``l`` link) and a file's bytes: what a case may not change."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            kind = ("l" if stat.S_ISLNK(mode) else "d" if stat.S_ISDIR(mode)
                    else "p" if stat.S_ISFIFO(mode) else "s" if stat.S_ISSOCK(mode)
                    else "c" if stat.S_ISCHR(mode) else "f")
            content = open(path, "rb").read() if kind == "f" else None
            found[os.path.relpath(path, folder)] = (kind, content)
    return found


def _sweep_folder(features, folder, plots=False, rate=0.3):
    rows = run_sweep(features["X_train"], features["y_train"], features["X_val"],
                     features["y_val"], features["X_test"], features["y_test"],
                     {"learning_rate": [rate]}, BASE, n_jobs=1)
    publish_sweep(rows, folder, {"learning_rate": [rate]}, plots=plots)
    return folder


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small model trained on the digits (for evaluate and predict)."""
    path = tmp_path_factory.mktemp("model") / "m.npz"
    result = _invoke("-q", "train", "--n-iter", "50", "-o", path)
    assert result.exit_code == 0, result.output
    return path


# ====================================================================== 1. empty paths
EMPTY_CASES = [
    (["train", "-o", ""], "--model"),
    (["train", "--plot", ""], "--plot"),
    (["evaluate", "--model", "m.npz", "--plot", ""], "--plot"),
    (["bench", "--update-baseline", ""], "--update-baseline"),
    (["sweep", "learning_rate=0.1", "-o", ""], "--out"),
    (["study", "-o", ""], "--out"),
    (["data", "download", "--dest", ""], "--dest"),
]


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("args, option", EMPTY_CASES, ids=[" ".join(c[0][:2]) for c in EMPTY_CASES])
def test_an_empty_output_path_is_refused_before_work(no_work, tmp_path, monkeypatch, args,
                                                     option, force):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    before = _listing(tmp_path)
    if args[0] == "data":
        force = []  # data download has no --force
    result = _invoke(*args, *force)
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: {option}: the path is empty; name a file or folder")
    assert _listing(tmp_path) == before


# ====================================================================== 2. resolved before checked
FOLDER_COMMANDS = {"sweep": ["sweep", "learning_rate=0.1"], "study": ["study"]}


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("command", FOLDER_COMMANDS)
@pytest.mark.parametrize("out, where", [(".", "cwd"), ("./", "cwd"), ("missing/..", "cwd"),
                                        ("sub/..", "cwd"), ("..", "parent")])
def test_an_output_folder_resolving_to_the_current_folder_is_refused(
        no_work, tmp_path, monkeypatch, command, out, where, force):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    before = _listing(tmp_path)
    result = _invoke(*FOLDER_COMMANDS[command], "-o", out, *force)
    assert result.exit_code == 2, result.output
    folder, what = ((str(work), "the current folder") if where == "cwd"
                    else (str(tmp_path), "a folder above the current one"))
    assert _one_error_line(result.output) == (
        f"Error: --out: {folder!r} is {what}; results replace the whole folder, so name a "
        "folder inside it (e.g. --out results)")
    assert _listing(tmp_path) == before


FILE_OPTIONS = [
    (["train", "-o"], "--model"),
    (["train", "--plot"], "--plot"),
    (["evaluate", "--model", "m.npz", "--plot"], "--plot"),
    (["bench", "--update-baseline"], "--update-baseline"),
]


@pytest.mark.parametrize("args, option", FILE_OPTIONS,
                         ids=[" ".join(a[:2]) for a, _ in FILE_OPTIONS])
@pytest.mark.parametrize("path", ["missing/..", "link"])
def test_an_output_file_resolving_to_a_folder_is_refused(no_work, tmp_path, monkeypatch, args,
                                                        option, path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    (tmp_path / "link").symlink_to("missing/..")  # dangling as typed; the folder once resolved
    before = _listing(tmp_path)
    result = _invoke(*args, path, "--force")
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == f"Error: {option}: {str(tmp_path)!r} is a folder"
    assert _listing(tmp_path) == before


@POSIX
def test_a_sweep_through_a_link_is_published_where_the_link_points(quick_features, features,
                                                                    tmp_path):
    target = _sweep_folder(features, tmp_path / "target", rate=0.3)
    (tmp_path / "link").symlink_to(target)
    result = _invoke("-q", "sweep", "learning_rate=0.05", "--n-iter", "20", "--no-plots",
                     "-o", tmp_path / "link", "--force")
    assert result.exit_code == 0, result.output
    assert os.readlink(tmp_path / "link") == str(target)  # the link is kept, not replaced
    assert sorted(os.listdir(target)) == sorted(RESULT_FILES)
    rows = json.loads((target / "results.json").read_text())["rows"]
    assert [row["learning_rate"] for row in rows] == [0.05]
    assert sorted(os.listdir(tmp_path)) == ["link", "target"]


FOREIGN = [("photo.png", "photo.png"), ("l2/notes.txt", "l2/notes.txt"),
           ("results.csv/inner", "results.csv")]


@pytest.mark.parametrize("via_link", [False, True], ids=["", "link"])
@pytest.mark.parametrize("foreign, shown", FOREIGN, ids=[f for f, _ in FOREIGN])
def test_a_folder_holding_what_is_not_ours_is_never_replaced(features, quick_features, tmp_path,
                                                             foreign, shown, via_link):
    out = _sweep_folder(features, tmp_path / "out")
    if foreign.startswith("results.csv/"):
        (out / "results.csv").unlink()  # a folder by one of our names is not ours
    (out / foreign).parent.mkdir(exist_ok=True)
    (out / foreign).write_bytes(b"the user's")
    if via_link:
        (tmp_path / "link").symlink_to(out)
    before = _listing(tmp_path)
    result = _invoke("sweep", "learning_rate=0.05", "--n-iter", "20",
                     "-o", tmp_path / ("link" if via_link else "out"), "--force")
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: --out: folder {str(out)!r} holds files that are not results ({shown}); "
        "results replace the whole folder, so choose another folder (or empty this one)")
    assert _listing(tmp_path) == before


# ====================================================================== 3. only regular files
def _make_special(kind, path):
    """A FIFO, a socket or a character device (like /dev/null) at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))  # a socket's address is short: bind by its name
        try:
            server.bind(os.path.basename(path))
        finally:
            os.chdir(cwd)
            server.close()
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (PermissionError, OSError) as exc:
            pytest.skip(f"cannot make a device node here ({exc})")


KIND_WORDS = {"fifo": "a FIFO (named pipe)", "socket": "a socket", "device": "a character device"}
KINDS = pytest.mark.parametrize("kind", list(KIND_WORDS))

SPECIAL_FILE_OUTPUTS = [
    (["train", "-o"], "--model", "x.npz"),
    (["train", "--plot"], "--plot", "x.png"),
    (["evaluate", "--model", "m.npz", "--plot"], "--plot", "x.png"),
    (["bench", "--update-baseline"], "--update-baseline", "x.json"),
]


@POSIX
@KINDS
@pytest.mark.parametrize("args, option, name", SPECIAL_FILE_OUTPUTS,
                         ids=[" ".join(a[:2]) for a, _, _ in SPECIAL_FILE_OUTPUTS])
def test_an_output_that_is_not_a_regular_file_is_never_replaced(no_work, tmp_path, args, option,
                                                                name, kind):
    target = tmp_path / name
    _make_special(kind, target)
    before = _listing(tmp_path)
    result = _invoke(*args, target, "--force")
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: {option}: {str(target)!r} is {KIND_WORDS[kind]}, not a regular file; "
        "only regular files are replaced")
    assert _listing(tmp_path) == before


@POSIX
@KINDS
def test_a_report_file_that_is_not_a_regular_file_is_never_replaced(features, tmp_path, kind):
    folder = _sweep_folder(features, tmp_path / "out")
    _make_special(kind, folder / "report.md")
    before = _listing(tmp_path)
    result = _invoke("report", folder, "--force")
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: report.md: {str(folder / 'report.md')!r} is {KIND_WORDS[kind]}, not a "
        "regular file; only regular files are replaced")
    assert _listing(tmp_path) == before


@POSIX
@KINDS
@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_an_output_folder_that_is_a_special_file_is_refused(no_work, tmp_path, command, kind):
    target = tmp_path / "out"
    _make_special(kind, target)
    before = _listing(tmp_path)
    result = _invoke(*FOLDER_COMMANDS[command], "-o", target, "--force")
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: --out: {str(target)!r} is {KIND_WORDS[kind]}, not a folder")
    assert _listing(tmp_path) == before


def _run_cli(args, cwd, timeout=120):
    """A real process: a reader that blocks on a FIFO fails the test instead of hanging it."""
    try:
        return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`fastsoftmax {' '.join(map(str, args))}` still ran after {timeout} s "
                    "(blocked reading a FIFO?)")


@POSIX
@pytest.mark.parametrize("name, args", [
    ("curves.npz", ["report", "--replot", "--force"]),
    ("results.json", ["report", "--force"]),
    ("loss_curves.png", ["report", "--force"]),
])
def test_reading_our_result_files_refuses_a_fifo(features, tmp_path, name, args):
    folder = _sweep_folder(features, tmp_path / "out", plots=True)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    before = _listing(tmp_path)
    result = _run_cli([*args, folder], tmp_path)
    assert result.returncode == 2, result.stderr
    assert _one_error_line(result.stderr) == (
        f"Error: {folder / name}: a FIFO (named pipe), not a regular file")
    assert _listing(tmp_path) == before


@POSIX
@KINDS
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_reading_a_model_refuses_anything_but_a_regular_file(tmp_path, command, kind):
    model = tmp_path / "m.npz"
    _make_special(kind, model)
    before = _listing(tmp_path)
    args = ["evaluate", "--model", model] if command == "evaluate" else [
        "predict", "--model", model, "x.png"]
    result = _run_cli(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert _one_error_line(result.stderr) == (
        f"Error: {str(model)!r} is not a fastsoftmax model: {KIND_WORDS[kind]}, not a "
        "regular file")
    assert _listing(tmp_path) == before


@POSIX
def test_bench_check_refuses_a_fifo_baseline(tmp_path):
    os.mkfifo(tmp_path / "b.json")
    result = _run_cli(["bench", "--check", tmp_path / "b.json"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert _one_error_line(result.stderr) == (
        f"Error: {tmp_path / 'b.json'}: a FIFO (named pipe), not a regular file")
    assert _listing(tmp_path) == {"b.json": ("p", None)}


def _within(seconds, func):
    """``func()``'s value, failing the test (not hanging it) if it blocks."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=func()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked (reading a FIFO?)"
    return box["value"]


@POSIX
def test_a_cache_entry_that_is_a_fifo_is_a_miss_never_read_nor_replaced(tmp_path, monkeypatch,
                                                                         caplog):
    import numpy as np

    from fastsoftmax.io import cache

    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path))
    caplog.set_level(logging.WARNING, logger="fastsoftmax")
    key = cache.cache_key(np.zeros(1), test="fifo")
    path = cache.save_cached(key, {"features": np.ones((2, 3))}, kind="features")
    path.unlink()
    os.mkfifo(path)
    assert _within(30, lambda: cache.load_cached(key)) is None
    _within(30, lambda: cache.try_save_cached(key, {"features": np.ones((2, 3))}, "features"))
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert caplog.messages == [
        f"could not write the feature cache: {str(path)!r} is a FIFO (named pipe), not a "
        "regular file; only regular files are replaced"]


@POSIX
@pytest.mark.parametrize("reader", ["npz", "json"])
def test_the_readers_of_our_files_refuse_a_fifo_without_blocking(tmp_path, reader):
    from fastsoftmax.io.untrusted import read_json_file, read_npz

    path = tmp_path / f"ours.{reader}"
    os.mkfifo(path)
    read = read_npz if reader == "npz" else read_json_file

    def attempt():
        with pytest.raises(ValueError) as info:
            read(path, max_bytes=1 << 20)
        return str(info.value)

    assert _within(30, attempt) == f"{path}: a FIFO (named pipe), not a regular file"


# ====================================================================== 4. long names
def _long(stem_char, extension, total=None):
    """A name of ``total`` bytes (the file system's limit by default)."""
    total = total or name_max(".")
    return stem_char * (total - len(extension)) + extension


def test_names_at_the_limit_work_for_every_output(quick_features, model_file, tmp_path,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = {"model": _long("m", ".npz"), "plot": _long("p", ".png"),
             "confusion": _long("c", ".svg"), "sweep": _long("s", ""), "study": _long("t", ""),
             "baseline": _long("b", ".json")}
    assert {len(os.fsencode(n)) for n in names.values()} == {name_max(".")}
    runs = [["train", "--n-iter", "50", "-o", names["model"], "--plot", names["plot"]],
            ["evaluate", "--model", model_file, "--plot", names["confusion"]],
            ["sweep", "learning_rate=0.1", "--n-iter", "20", "-o", names["sweep"]],
            ["study", "--repeats", "1", "--n-iter", "20", "--no-cache", "-o", names["study"]],
            ["bench", "--size", "tiny", "--only", "gradcheck", "--update-baseline",
             names["baseline"]]]
    for args in runs:
        result = _invoke("-q", *args)
        assert result.exit_code == 0, (args[0], result.output)
    assert sorted(os.listdir(tmp_path)) == sorted(names.values())  # no temporary names left
    assert sorted(os.listdir(names["sweep"])) == sorted([*RESULT_FILES, "accuracy.png",
                                                         "loss_curves.png"])
    assert os.path.isfile(os.path.join(names["study"], "report.html"))
    result = _invoke("-q", "report", names["sweep"])
    assert result.exit_code == 0, result.output


TOO_LONG = [
    (["train", "-o"], "--model", ".npz"),
    (["train", "--plot"], "--plot", ".png"),
    (["evaluate", "--model", "m.npz", "--plot"], "--plot", ".png"),
    (["bench", "--update-baseline"], "--update-baseline", ".json"),
    (["sweep", "learning_rate=0.1", "-o"], "--out", ""),
    (["study", "-o"], "--out", ""),
]


@pytest.mark.parametrize("args, option, extension", TOO_LONG,
                         ids=[" ".join(a[:2]) for a, _, _ in TOO_LONG])
def test_a_name_over_the_limit_is_refused_before_work(no_work, tmp_path, monkeypatch, args,
                                                      option, extension):
    monkeypatch.chdir(tmp_path)
    limit = name_max(".")
    name = _long("n", extension, limit + 1)
    result = _invoke(*args, name)
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == (
        f"Error: {option}: the name {'n' * 40!r}... is {limit + 1} bytes long; the file system "
        f"takes at most {limit}")
    assert os.listdir(tmp_path) == []


def _dead_pid():
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("name", ["m" * 251 + ".npz", "x" + "é" * 124 + ".npz", "short.npz"],
                         ids=["ascii", "utf8", "short"])
def test_temporary_names_of_long_names_fit_and_are_recognised(tmp_path, name):
    target = tmp_path / name
    seen = []
    with atomic_open(target) as handle:
        handle.write(b"x")
        seen = [e for e in os.listdir(tmp_path) if e != name]
    assert len(seen) == 1 and len(os.fsencode(seen[0])) <= name_max(tmp_path)
    stem = temp_stem(name, str(tmp_path))
    assert seen[0].startswith(f".{stem}.{os.getpid()}-") and seen[0].endswith(".tmp")
    # what killed writers of this name left is removed; a live writer's is kept
    dead, live = _dead_pid(), os.getppid()
    strays = [f".{stem}.{dead}-abc123.tmp", f".{stem}.partial-{dead}-0123abcd",
              f".{stem}.replaced-{dead}-0123abcd"]
    kept = [f".{stem}.{live}-abc123.tmp", f".{stem}.partial-{live}-0123abcd"]
    for entry in strays + kept:
        (tmp_path / entry).mkdir() if "partial" in entry else (tmp_path / entry).write_bytes(b"")
    assert all(len(os.fsencode(e)) <= name_max(tmp_path) for e in strays + kept)
    assert sorted(remove_stale(target)) == sorted(strays)
    assert sorted(os.listdir(tmp_path)) == sorted([name, *kept])


def test_stale_temporary_files_of_a_long_output_are_removed_by_the_check(no_work, tmp_path):
    from fastsoftmax.cli.paths import output_file

    target = tmp_path / _long("m", ".npz")
    stray = f".{temp_stem(target.name, str(tmp_path))}.{_dead_pid()}-abc123.tmp"
    (tmp_path / stray).write_bytes(b"half a model")
    assert output_file(str(target), "--model", force=False) == str(target)
    assert os.listdir(tmp_path) == []


# ====================================================================== 5. a full disk
def _disk_full(monkeypatch):
    """Every file write fails as on a full disk (the error names no file, as the OS's)."""
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


FULL_DISK = [
    (["train", "--n-iter", "50", "-o", "{d}/m.npz"], "{d}/m.npz"),
    (["train", "--n-iter", "50", "--plot", "{d}/p.png"], "{d}/p.png"),
    (["evaluate", "--model", "{model}", "--plot", "{d}/c.png"], "{d}/c.png"),
    (["sweep", "learning_rate=0.1", "--n-iter", "20", "-o", "{d}/out"], "{d}/out/curves.npz"),
    (["study", "--repeats", "1", "--n-iter", "20", "-o", "{d}/study"],
     "{d}/study/learning_rate/curves.npz"),
    (["report", "{d}/done"], "{d}/done/loss_curves.png"),  # it draws the missing plots first
    (["bench", "--size", "tiny", "--only", "gradcheck", "--update-baseline", "{d}/b.json"],
     "{d}/b.json"),
]


@pytest.mark.parametrize("args, written", FULL_DISK,
                         ids=[a[0] + (" " + a[-2] if a[0] == "train" else "") for a, _ in FULL_DISK])
def test_a_full_disk_names_the_file_and_leaves_nothing(monkeypatch, quick_features, features,
                                                       model_file, tmp_path, args, written):
    done = _sweep_folder(features, tmp_path / "done")
    before = _listing(tmp_path)
    _disk_full(monkeypatch)
    result = _invoke("-q", *[a.format(d=tmp_path, model=model_file) for a in args])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.output) == NO_SPACE.format(path=written.format(d=tmp_path))
    assert _listing(tmp_path) == before
    assert done.exists()


# ====================================================================== 6. SIGTERM and SIGHUP
STUDY_RUN = ["-q", "study", "--repeats", "1", "--n-iter", "40", "--no-cache", "--out", "study"]


@POSIX
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
@pytest.mark.parametrize("command, args, name", [("sweep", KILL_SWEEP, "out"),
                                                 ("study", STUDY_RUN, "study")])
def test_sigterm_and_sighup_stop_as_ctrl_c_does(tmp_path, command, args, name, signum):
    before = _listing(tmp_path)
    proc = _start(args, tmp_path)
    _wait_for(_stage(tmp_path, name), proc)
    time.sleep(0.3)  # into the work, a hidden folder half written beside the output
    os.kill(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=60)
    seen = f"rc {proc.returncode}; stderr: {stderr!r}; folder: {os.listdir(tmp_path)}"
    assert proc.returncode == 128 + signum, seen
    assert stderr.strip().splitlines()[-1] == f"Aborted ({signal.Signals(signum).name}).", seen
    assert "Traceback" not in stderr, seen
    assert _listing(tmp_path) == before, seen  # no results, no .NAME.partial-*


@POSIX
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_and_sighup_during_training_leave_no_model(tmp_path, signum):
    proc = _start(["train", "--n-iter", "400000", "-o", "m.npz", "--plot", "p.png"], tmp_path)
    line = ""
    while not line.startswith("PCA"):  # the stage before training ends with its line
        line = proc.stderr.readline()
        assert line or proc.poll() is None, proc.communicate()
    time.sleep(0.3)
    os.kill(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=60)
    seen = f"rc {proc.returncode}; stderr: {stderr!r}; folder: {os.listdir(tmp_path)}"
    assert proc.returncode == 128 + signum, seen
    assert stderr.strip().splitlines()[-1] == f"Aborted ({signal.Signals(signum).name}).", seen
    assert os.listdir(tmp_path) == [], seen


@POSIX
def test_an_ignored_sighup_stays_ignored(tmp_path):
    """``nohup`` ignores SIGHUP for the run; the CLI keeps it so."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def ignore_hup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen([*CLI, *KILL_SWEEP], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ignore_hup)
    _wait_for(_stage(tmp_path), proc)
    os.kill(proc.pid, signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert sorted(os.listdir(tmp_path / "out")) == sorted([*RESULT_FILES, "accuracy.png",
                                                           "loss_curves.png"])
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
@pytest.mark.parametrize("command", ["sweep", "study"])
def test_a_signal_in_process_is_its_exit_code_and_nothing_published(monkeypatch, quick_features,
                                                                    tmp_path, command, signum):
    def stopped(*args, **kwargs):
        raise SignalInterrupt(signum)

    monkeypatch.setattr("fastsoftmax.experiments.sweep.run_sweep", stopped)
    monkeypatch.setattr("fastsoftmax.experiments.study.run_sweep", stopped)
    result = _invoke("-q", *FOLDER_COMMANDS[command], "--n-iter", "20", "-o", tmp_path / "out")
    assert result.exit_code == 128 + signum
    assert result.output.strip() == f"Aborted ({signal.Signals(signum).name})."
    assert os.listdir(tmp_path) == []
