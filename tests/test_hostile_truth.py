"""What a command says is true: a cache it could not clear, a batch it could not read, a
package it could not import.

- ``data clear`` on entries it cannot remove names them and exits 2 (the project's code
  for an ``OSError``), never "the cache is empty" and 0;
- a CIFAR batch or metadata file, or an image of an image folder, that is not a regular
  file (a FIFO, a folder, a broken link, a link member of an archive) is an error naming
  it, never a batch or an image silently left out;
- a package missing or too old when a command imports it is exit 1 naming the package
  and the versions fastsoftmax needs (from its installed metadata), never exit 2.

Every case asserts the exit code, the exact message and the folder before and after.
"""
import os
import pathlib
import pickle
import subprocess
import sys
import tarfile
from importlib import metadata

import numpy as np
import pytest
from PIL import Image

from cli_helpers import invoke as _invoke, listing as _listing
from fastsoftmax.io import cache

pytestmark = pytest.mark.usefixtures("private_data_folder")


# ====================================================================== data clear
@pytest.fixture
def two_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "home"))
    hog = cache.save_cached("ab" * 32, {"a": np.zeros(3)}, kind="hog")
    pca = cache.save_cached("cd" * 32, {"a": np.zeros(3)}, kind="pca")
    return cache.cache_dir(), hog, pca


def _locked(monkeypatch, *paths):
    """Removing ``paths`` fails as in a read-only folder (root may remove anything)."""
    unlink = pathlib.Path.unlink

    def refuse(self, *args, **kwargs):
        if self in paths:
            raise PermissionError(13, "Permission denied", str(self))
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "unlink", refuse)


def test_data_clear_on_a_read_only_cache_says_so_and_exits_2(two_entries, monkeypatch):
    folder, hog, pca = two_entries
    before = _listing(folder)
    _locked(monkeypatch, hog, pca)
    result = _invoke("data", "clear")
    assert result.exit_code == 2
    assert result.stdout == ""  # never "the cache is empty; nothing removed"
    assert result.stderr == (f"Error: cannot remove 2 file(s) of the cache {folder} "
                             f"(Permission denied): {hog.name}, {pca.name}\n")
    assert _listing(folder) == before


def test_data_clear_removes_what_it_can_and_names_the_rest(two_entries, monkeypatch):
    folder, hog, pca = two_entries
    size = cache.format_size(hog.stat().st_size)
    _locked(monkeypatch, pca)
    result = _invoke("data", "clear")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("removed hog ") and lines[0].endswith(hog.name)
    assert lines[1] == f"Freed {size} in {folder} (1 entries)"
    assert result.stderr == (f"Error: cannot remove 1 file(s) of the cache {folder} "
                             f"(Permission denied): {pca.name}\n")
    assert _listing(folder) == [pca.name]


def test_data_clear_json_lists_what_failed_and_exits_2(two_entries, monkeypatch):
    import json

    folder, hog, pca = two_entries
    _locked(monkeypatch, hog)
    result = _invoke("data", "clear", "--json")
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert [e["file"] for e in payload["entries"]] == [pca.name]
    assert payload["failed"] == [{"path": str(hog), "error": "Permission denied"}]
    assert result.stderr.startswith("Error: cannot remove 1 file(s) of the cache ")
    assert _listing(folder) == [hog.name]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root may remove files from a read-only folder")
def test_data_clear_on_a_really_read_only_folder(two_entries):
    folder, hog, pca = two_entries
    folder.chmod(0o555)
    try:
        result = _invoke("data", "clear")
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2 and result.stdout == ""
    assert _listing(folder) == sorted([hog.name, pca.name])


def test_data_clear_on_an_empty_cache_is_still_exit_0(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "home"))
    result = _invoke("data", "clear")
    assert result.exit_code == 0
    assert result.stdout == f"The cache is empty ({cache.cache_dir()}); nothing removed.\n"


# ====================================================================== CIFAR members
@pytest.fixture
def cifar_folder(tmp_path):
    from test_data import write_py_cifar

    folder = tmp_path / "cifar-10-batches-py"
    write_py_cifar(folder, n_train=(12, 12, 12), n_test=10,
                   dump=lambda obj: pickle.dumps(obj, 2))
    return folder


def _not_regular(path, kind):
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "broken-link":
        os.symlink(path.parent / "nowhere", path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("member", ["data_batch_2", "batches.meta", "test_batch"])
@pytest.mark.parametrize("kind, what", [
    ("fifo", "a FIFO"), ("folder", "a folder"),
    ("broken-link", "a broken symbolic link to '{parent}/nowhere'"),
])
def test_cifar_folder_member_that_is_not_a_file_is_an_error(tmp_path, cifar_folder, member,
                                                             kind, what):
    _not_regular(cifar_folder / member, kind)
    before = _listing(tmp_path)
    result = _invoke("train", "--data", cifar_folder, "--model", tmp_path / "m.npz")
    assert result.exit_code == 2
    what = what.format(parent=cifar_folder)
    assert result.stderr == f"Error: {cifar_folder / member}: {what}, not a regular file\n"
    assert _listing(tmp_path) == before  # no model written


def test_cifar_folder_link_to_another_file_is_read_and_refused_by_name(cifar_folder):
    target = cifar_folder.parent / "passwd"
    target.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (cifar_folder / "data_batch_2").unlink()
    os.symlink(target, cifar_folder / "data_batch_2")
    result = _invoke("train", "--data", cifar_folder)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {cifar_folder / 'data_batch_2'}: ")
    assert "root:x" not in result.output  # the content is never echoed


def _archive(folder, path, member, info):
    """``folder`` as a python-layout archive whose ``member`` is replaced by ``info``."""
    with tarfile.open(path, "w:gz") as tar:
        for entry in sorted(folder.iterdir()):
            if entry.name != member:
                tar.add(entry, arcname=f"cifar-10-batches-py/{entry.name}")
        info.name = f"cifar-10-batches-py/{member}"
        tar.addfile(info)
    return path


def _member(kind):
    info = tarfile.TarInfo()
    info.type, info.linkname = {
        "symlink": (tarfile.SYMTYPE, "/etc/passwd"),
        "hardlink": (tarfile.LNKTYPE, "cifar-10-batches-py/data_batch_1"),
        "folder": (tarfile.DIRTYPE, ""),
        "fifo": (tarfile.FIFOTYPE, ""),
        "device": (tarfile.CHRTYPE, ""),
    }[kind]
    return info


@pytest.mark.parametrize("member", ["data_batch_2", "batches.meta"])
@pytest.mark.parametrize("kind, what", [
    ("symlink", "a symbolic link to '/etc/passwd'"),
    ("hardlink", "a hard link to 'cifar-10-batches-py/data_batch_1'"),
    ("folder", "a folder"), ("fifo", "a FIFO"), ("device", "a device"),
])
def test_cifar_archive_member_that_is_not_a_file_is_an_error(tmp_path, cifar_folder, member,
                                                              kind, what):
    archive = _archive(cifar_folder, tmp_path / "cifar-10-python.tar.gz", member, _member(kind))
    before = _listing(tmp_path)
    result = _invoke("train", "--data", archive, "--model", tmp_path / "m.npz")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {archive}:cifar-10-batches-py/{member}: {what}, not a "
                             "regular file\n")
    assert _listing(tmp_path) == before


def test_cifar_archive_with_every_batch_still_loads(tmp_path, cifar_folder):
    from fastsoftmax.data import load_cifar10

    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_folder, arcname="cifar-10-batches-py")  # its folder member too
    (X_train, _), (X_test, _) = load_cifar10(archive)
    assert len(X_train) == 36 and len(X_test) == 10


def test_cifar_binary_folder_member_that_is_a_folder_is_an_error(tmp_path):
    from test_data import write_bin_cifar

    folder = tmp_path / "cifar-10-batches-bin"
    write_bin_cifar(folder)
    _not_regular(folder / "data_batch_2.bin", "folder")
    result = _invoke("train", "--data", folder)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {folder / 'data_batch_2.bin'}: a folder, not a regular file\n"


# ====================================================================== image folders
def _image_folder(root):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                root / name / f"{k}.png")
    return root


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "folder", "broken-link"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_image_that_is_not_a_file_is_an_error_naming_it(tmp_path, kind, command):
    root = _image_folder(tmp_path / "images")
    _not_regular(root / "b" / "2.png", kind)
    args = ["--data", root]
    if command == "evaluate":
        model = tmp_path / "m.npz"
        (tmp_path / "ok").mkdir()
        trained = _invoke("train", "--data", _image_folder(tmp_path / "ok" / "images"),
                          "--n-iter", 5, "--model", model, "-q")
        assert trained.exit_code == 0, trained.output
        args += ["--model", model]
    before = _listing(root)
    result = _invoke(command, *args)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {root / 'b' / '2.png'}: not a regular file, so not an "
                             "image (remove it or rename it)\n")
    assert _listing(root) == before


# ====================================================================== dependencies
def _needs(name):
    """What fastsoftmax's installed metadata requires of ``name``, lower bound first,
    parsed here independently of the code under test."""
    for line in metadata.requires("fastsoftmax"):
        spec = line.split(";")[0].replace(" ", "")
        if spec.lower().startswith(name) and not spec[len(name)].isalnum():
            versions = spec[len(name):].split(",")
            return name + ",".join(sorted(versions, key=lambda v: not v.startswith(">")))
    raise AssertionError(name)


def _run_without(module, tmp_path, *args):
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from fastsoftmax.cli import main\n"
            f"main({list(args)!r})")
    env = {**os.environ, "FASTSOFTMAX_DATA": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_a_dependency_that_cannot_be_imported_is_exit_1_naming_it(tmp_path):
    result = _run_without("sklearn", tmp_path, "-q", "train", "--n-iter", "5")
    assert result.returncode == 1
    spec = _needs("scikit-learn")
    installed = metadata.version("scikit-learn")
    assert result.stderr == (f"Error: No module named 'sklearn.base'; 'sklearn' is not a package; "
                             f"fastsoftmax needs {spec} ({installed} is installed); install it "
                             f'with: pip install "{spec}"\n')
    assert result.stdout == ""


def test_numba_that_cannot_be_imported_is_exit_1_naming_it(tmp_path):
    result = _run_without("numba", tmp_path, "-q", "gradcheck")
    assert result.returncode == 1
    spec = _needs("numba")
    assert result.stderr == (f"Error: import of numba halted; None in sys.modules; fastsoftmax "
                             f"needs {spec} ({metadata.version('numba')} is installed); install "
                             f'it with: pip install "{spec}"\n')


def test_a_missing_package_is_exit_1_with_what_to_install(monkeypatch):
    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'skimage'", name="skimage")

    monkeypatch.setattr("fastsoftmax.cli.train.load_data", missing)
    monkeypatch.setattr(metadata, "version", lambda name: (_ for _ in ()).throw(
        metadata.PackageNotFoundError(name)))
    result = _invoke("train", "--n-iter", 5)
    assert result.exit_code == 1
    spec = _needs("scikit-image")
    assert result.stderr == (f"Error: No module named 'skimage'; fastsoftmax needs {spec} (not "
                             f'installed); install it with: pip install "{spec}"\n')


def test_a_package_of_a_dependency_is_exit_1_and_fastsoftmax_own_is_a_bug(monkeypatch):
    for name, line in [
        # kiwisolver: matplotlib's, not a package fastsoftmax declares
        ("kiwisolver", "Error: No module named 'kiwisolver'; 'kiwisolver' is needed by a package "
                       "fastsoftmax uses; reinstall them with: pip install --force-reinstall "
                       "fastsoftmax"),
        ("fastsoftmax.gone", "Error: internal error: ModuleNotFoundError: No module named "
                             "'fastsoftmax.gone'; please report it; run with -v for the "
                             "traceback"),
    ]:
        def missing(*args, name=name, **kwargs):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        monkeypatch.setattr("fastsoftmax.cli.train.load_data", missing)
        result = _invoke("train", "--n-iter", 5)
        assert result.exit_code == 1
        assert result.stderr == line + "\n"


def test_a_too_old_package_names_the_version_installed_and_needed(monkeypatch):
    def too_old(*args, **kwargs):
        raise ImportError("cannot import name 'new_thing' from 'numpy'", name="numpy")

    real_version = metadata.version
    monkeypatch.setattr("fastsoftmax.cli.train.load_data", too_old)
    monkeypatch.setattr(metadata, "version",
                        lambda name: "1.21.0" if name == "numpy" else real_version(name))
    result = _invoke("train", "--n-iter", 5)
    assert result.exit_code == 1
    spec = _needs("numpy")
    assert result.stderr == (f"Error: cannot import name 'new_thing' from 'numpy'; fastsoftmax "
                             f"needs {spec} (1.21.0 is installed); install it with: pip install "
                             f'"{spec}"\n')
