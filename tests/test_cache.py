"""The managed cache and data folder: the size limit and its least-recently-used eviction,
`data info` / `data clear`, the platformdirs location, download progress and the
by-hand hint of a failed download.

Entries are made by hand with set modification/access times, so every expected order,
size and removal below is computed from those settings, never read back from the code.
"""
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastsoftmax.cli import main
from fastsoftmax.data import download_cifar10, DownloadError
from fastsoftmax.io import cache
from fastsoftmax.io import cache_folder
from fastsoftmax.data import download as download_module

ENV = "FASTSOFTMAX_CACHE_LIMIT"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "home"))
    monkeypatch.delenv(ENV, raising=False)
    return tmp_path / "home"


def _key(i):
    return hashlib.sha256(str(i).encode()).hexdigest()


def _make(i, kind="hog", n=1000, used_ago=None, atime_ago=None):
    """Save an entry of ``n`` float64 values; set its mtime (and atime) ``*_ago`` seconds back."""
    path = cache.save_cached(_key(i), {"features": np.full(n, i, np.float64)}, kind=kind)
    assert path is not None
    if used_ago is not None:
        now = time.time()
        atime = now - (used_ago if atime_ago is None else atime_ago)
        os.utime(path, (atime, now - used_ago))
    return path


def _names(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


# --------------------------------------------------------------------------- the limit

@pytest.mark.parametrize("text, expected", [
    ("2GB", 2_000_000_000), ("500MB", 500_000_000), ("500mb", 500_000_000),
    ("1.5GiB", 3 * 2**29), ("3KiB", 3072), ("10 kB", 10_000), ("2G", 2_000_000_000),
    (".5MB", 500_000), ("1000", 1000), ("1000B", 1000), ("0", 0), (" 7 TB ", 7 * 10**12),
])
def test_parse_size_good(text, expected):
    assert cache.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "abc", "-1GB", "2 XB", "1e9", "1,5GB", "2GB2", None, 5])
def test_parse_size_bad(text):
    with pytest.raises(ValueError, match="is not a size"):
        cache.parse_size(text)


def test_format_size_reads_back():
    assert cache.format_size(999) == "999 B"
    assert cache.format_size(282_400_000) == "282.4 MB"
    assert cache.format_size(2_000_000_000) == "2.0 GB"
    assert cache.parse_size(cache.format_size(1_500_000_000).replace(" ", "")) == 1_500_000_000


def test_cache_limit_from_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert cache.cache_limit() == cache.DEFAULT_CACHE_LIMIT == 4_000_000_000
    for value, expected in [("", 4_000_000_000), ("500MB", 500_000_000), ("0", 0),
                            ("unlimited", None), ("None", None), ("12345", 12345)]:
        monkeypatch.setenv(ENV, value)
        assert cache.cache_limit() == expected, value
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ValueError, match=r"\$FASTSOFTMAX_CACHE_LIMIT='lots' is not a cache size"
                                         r".*0 to turn the cache off"):
        cache.cache_limit()
    with pytest.raises(ValueError, match=r"FASTSOFTMAX_CACHE_LIMIT='lots'"):
        cache.load_cached(_key(0))
    with pytest.raises(ValueError, match=r"FASTSOFTMAX_CACHE_LIMIT='lots'"):
        cache.save_cached(_key(0), {"a": np.zeros(2)})


# --------------------------------------------------------------------------- LRU

def test_entries_listed_least_recently_used_first_by_mtime_not_atime(home):
    # atimes in the opposite order: the order follows the last read/write (mtime) only,
    # since many file systems do not record access times
    ages = {"a": 400, "b": 100, "c": 300, "d": 200}
    now = time.time()
    paths = {name: _make(i, used_ago=age, atime_ago=1000 - age)
             for i, (name, age) in enumerate(ages.items())}
    entries = cache.cache_entries()
    assert [e.path for e in entries] == [paths[n] for n in ("a", "c", "d", "b")]
    for e in entries:
        assert e.kind == "hog" and e.size_bytes == e.path.stat().st_size
        assert e.key == e.path.name[len("hog-"):-len(".npz")]
        assert abs(e.last_used - (now - ages[next(n for n in ages if paths[n] == e.path)])) < 5


def test_trim_removes_least_recently_used_until_it_fits(home):
    ages = {"a": 400, "b": 100, "c": 300, "d": 200}
    paths = {name: _make(i, used_ago=age) for i, (name, age) in enumerate(ages.items())}
    size = {n: p.stat().st_size for n, p in paths.items()}
    total = sum(size.values())
    assert cache.trim_cache(total) == []  # fits already
    removed = cache.trim_cache(total - 1)  # one byte over: only the oldest goes
    assert [e.path for e in removed] == [paths["a"]]
    removed = cache.trim_cache(size["b"] + size["d"])
    assert [e.path for e in removed] == [paths["c"]]
    assert _names(home / "cache") == sorted([paths["b"].name, paths["d"].name])
    assert [e.path for e in cache.trim_cache(0)] == [paths["d"], paths["b"]]
    with pytest.raises(ValueError, match="limit must be a non-negative int"):
        cache.trim_cache(-1)


def test_a_read_makes_an_entry_recent_and_a_write_evicts_the_oldest(home, monkeypatch):
    a, b, c = (_make(i, used_ago=age) for i, age in enumerate((300, 200, 100)))
    size = a.stat().st_size
    assert b.stat().st_size == c.stat().st_size == size  # same shapes, same sizes
    hit = cache.load_cached(_key(0))  # read a: now the most recently used
    np.testing.assert_array_equal(hit["features"], np.zeros(1000))
    assert [e.path for e in cache.cache_entries()] == [b, c, a]
    monkeypatch.setenv(ENV, str(3 * size))  # room for three
    d = _make(3)
    assert _names(home / "cache") == sorted(p.name for p in (a, c, d))  # b, oldest, went
    assert cache.load_cached(_key(1)) is None


def test_an_entry_over_the_limit_is_not_stored(home, monkeypatch):
    kept = _make(0, n=100, used_ago=50)
    monkeypatch.setenv(ENV, "10kB")
    # 20,000 bytes of data cannot fit in 10 kB: not written, and nothing evicted for it
    assert cache.save_cached(_key(1), {"features": np.zeros(2500)}, kind="hog") is None
    assert _names(home / "cache") == [kept.name]
    assert cache.load_cached(_key(1)) is None
    # 8,000 bytes fit
    assert cache.save_cached(_key(2), {"features": np.zeros(1000)}).stat().st_size <= 10_000


def test_limit_zero_turns_the_cache_off(home, monkeypatch):
    old = _make(0)
    monkeypatch.setenv(ENV, "0")
    assert cache.load_cached(_key(0)) is None  # not read...
    assert old.exists()  # ...and not removed: `data clear` does that
    assert cache.save_cached(_key(1), {"a": np.zeros(3)}) is None
    assert _names(home / "cache") == [old.name]
    assert cache.trim_cache() == []  # the configured limit (off) removes nothing


def test_unlimited_keeps_everything(home, monkeypatch):
    monkeypatch.setenv(ENV, "unlimited")
    paths = [_make(i, n=50_000) for i in range(3)]
    assert all(p.exists() for p in paths) and cache.trim_cache() == []


def test_eviction_survives_an_entry_removed_or_used_by_another_process(home, monkeypatch):
    a, b, c = (_make(i, used_ago=age) for i, age in enumerate((300, 200, 100)))
    size = a.stat().st_size
    listing = cache_folder.cache_entries

    def another_process_removes_a():
        entries = listing()
        a.unlink()
        return entries

    monkeypatch.setattr(cache_folder, "cache_entries", another_process_removes_a)
    assert cache.trim_cache(2 * size) == []  # a is gone all the same: nothing else removed
    assert b.exists() and c.exists()

    def another_process_reads_b():
        entries = listing()
        os.utime(b, None)
        return entries

    monkeypatch.setattr(cache_folder, "cache_entries", another_process_reads_b)
    assert [e.path for e in cache.trim_cache(size)] == [c]  # b was just used: c goes
    assert b.exists() and not c.exists()


def test_kind_in_the_name_found_by_key_and_replaced(home):
    path = cache.save_cached(_key(0), {"m": np.arange(3.0)}, kind="pca")
    assert path.name == f"pca-{_key(0)}.npz"
    np.testing.assert_array_equal(cache.load_cached(_key(0))["m"], np.arange(3.0))
    plain = cache.save_cached(_key(0), {"m": np.arange(4.0)})  # no kind: the old style
    assert plain.name == f"{_key(0)}.npz" and _names(home / "cache") == [plain.name]
    assert [e.kind for e in cache.cache_entries()] == [None]
    with pytest.raises(ValueError, match="cache entry kind must be lowercase"):
        cache.save_cached(_key(0), {"m": np.zeros(1)}, kind="HOG-1")


# --------------------------------------------------------------------------- CLI

def _invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_data_info_json_lists_entries_with_sizes_and_ages(home, monkeypatch):
    monkeypatch.setenv(ENV, "500MB")
    old = _make(0, kind="pca", n=10, used_ago=3 * 3600)
    new = _make(1, kind="hog", n=2000, used_ago=60)
    result = _invoke("data", "info", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["cache_limit_bytes"] == 500_000_000
    assert info["cache_limit_source"] == "$FASTSOFTMAX_CACHE_LIMIT"
    assert info["cache_entries"] == 2
    assert info["cache_size_bytes"] == old.stat().st_size + new.stat().st_size
    listed = info["cache_entry_list"]
    assert [e["file"] for e in listed] == [old.name, new.name]
    assert [e["kind"] for e in listed] == ["pca", "hog"]
    assert [e["size_bytes"] for e in listed] == [old.stat().st_size, new.stat().st_size]
    assert abs(listed[0]["age_seconds"] - 3 * 3600) < 30 and abs(listed[1]["age_seconds"] - 60) < 30
    assert listed[1]["key"] == _key(1) and listed[1]["path"] == str(new)
    text = _invoke("data", "info")
    assert text.exit_code == 0
    assert "2 entries" in text.stdout and "limit 500.0 MB" in text.stdout
    assert old.name in text.stdout and "used 3 h ago" in text.stdout
    assert "used 60 s ago" in text.stdout or "used 1 min ago" in text.stdout


def test_data_info_default_limit_and_location(home):
    info = json.loads(_invoke("data", "info", "--json").stdout)
    assert info["cache_limit_bytes"] == 4_000_000_000 and info["cache_limit_source"] == "default"
    assert info["cache_entry_list"] == [] and info["data_home_source"] == "$FASTSOFTMAX_DATA"
    text = _invoke("data", "info").stdout
    assert "limit 4.0 GB (default; set $FASTSOFTMAX_CACHE_LIMIT" in text
    assert "from $FASTSOFTMAX_DATA" in text


def test_bad_limit_is_a_one_line_error(home, monkeypatch):
    monkeypatch.setenv(ENV, "2 bananas")
    for args in (["data", "info"], ["train"]):
        result = _invoke(*args)
        assert result.exit_code == 2, args
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("Error: $FASTSOFTMAX_CACHE_LIMIT='2 bananas' is not a cache size")
    assert "training" not in _invoke("train").stderr  # refused before any work
    assert _invoke("data", "clear").exit_code == 0  # clearing needs no limit


def test_data_clear_dry_run_lists_exactly_and_removes_nothing(home):
    paths = [_make(i, kind=k, used_ago=age)
             for i, (k, age) in enumerate([("hog", 30), ("pca", 20), ("hog", 10)])]
    temp = home / "cache" / f".hog-{_key(9)}.npz.x1y2.tmp"
    temp.write_bytes(b"12345")
    foreign = home / "cache" / "notes.txt"
    foreign.write_text("mine")
    before = _names(home / "cache")
    result = _invoke("data", "clear", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["dry_run"] is True
    assert [e["file"] for e in out["entries"]] == [p.name for p in paths]
    assert [e["size_bytes"] for e in out["entries"]] == [p.stat().st_size for p in paths]
    assert out["temp_files"] == [{"path": str(temp), "size_bytes": 5}]
    assert out["size_bytes"] == sum(p.stat().st_size for p in paths) + 5
    assert _names(home / "cache") == before
    text = _invoke("data", "clear", "-n")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert [ln.split()[-1] for ln in lines if ln.startswith("would remove ")][:3] == [
        p.name for p in paths]
    assert lines[-1].startswith(f"Would free {cache.format_size(out['size_bytes'])}")
    assert _names(home / "cache") == before


def test_data_clear_removes_entries_and_keeps_other_files(home):
    paths = [_make(i) for i in range(2)]
    (home / "cache" / "notes.txt").write_text("mine")
    archive = home / "cifar-10-python.tar.gz"
    archive.write_bytes(b"archive")
    sizes = [p.stat().st_size for p in paths]
    out = json.loads(_invoke("data", "clear", "--json").stdout)
    assert out["dry_run"] is False and sorted(e["file"] for e in out["entries"]) == sorted(
        p.name for p in paths)
    assert out["size_bytes"] == sum(sizes)
    assert _names(home / "cache") == ["notes.txt"] and archive.exists()
    text = _invoke("data", "clear")
    assert text.exit_code == 0 and "empty" in text.stdout and "nothing removed" in text.stdout


def test_train_cache_entries_have_their_kinds(home):
    result = _invoke("-q", "train", "--n-iter", "3", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(e.kind for e in cache.cache_entries()) == ["hog", "pca"]


# --------------------------------------------------------------------------- data folder

def test_data_home_from_platformdirs_when_unset(monkeypatch, tmp_path):
    import platformdirs

    calls = []

    def fake_user_cache_dir(*args, **kwargs):
        calls.append((args, kwargs))
        return str(tmp_path / "platform-cache" / "fastsoftmax")

    monkeypatch.delenv("FASTSOFTMAX_DATA", raising=False)
    monkeypatch.setattr(platformdirs, "user_cache_dir", fake_user_cache_dir)
    assert download_module.data_home() == tmp_path / "platform-cache" / "fastsoftmax"
    assert cache.cache_dir() == tmp_path / "platform-cache" / "fastsoftmax" / "cache"
    assert calls[0] == (("fastsoftmax",), {"appauthor": False, "opinion": False})
    assert download_module.data_home_source() == "platform"
    text = _invoke("data", "info").stdout
    assert str(tmp_path / "platform-cache" / "fastsoftmax") in text
    assert "user cache folder; set $FASTSOFTMAX_DATA to move it" in text
    monkeypatch.setenv("FASTSOFTMAX_DATA", str(tmp_path / "mine"))
    assert download_module.data_home() == tmp_path / "mine"
    assert download_module.data_home_source() == "$FASTSOFTMAX_DATA"


# --------------------------------------------------------------------------- downloads

@pytest.fixture
def archive_file(tmp_path):
    payload = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    path = tmp_path / "served" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    path.write_bytes(payload)
    return path, hashlib.md5(payload).hexdigest()


def test_download_progress_receives_byte_counts(tmp_path, archive_file):
    source, md5 = archive_file
    calls = []
    path = download_cifar10(tmp_path / "dl", url=source.as_uri(), md5=md5,
                            progress=lambda done, total: calls.append((done, total)))
    assert path.read_bytes() == source.read_bytes()
    assert calls[0] == (0, 300_000) and calls[-1] == (300_000, 300_000)
    steps = np.diff([d for d, _ in calls])
    assert (steps > 0).all() and steps.max() <= 64 * 1024  # moves in small steps
    assert len(calls) == 1 + -(-300_000 // (64 * 1024))


def test_cli_download_shows_bytes_and_rate(home, archive_file, monkeypatch):
    source, md5 = archive_file
    monkeypatch.setattr(download_module, "CIFAR10_MD5", md5)
    result = _invoke("data", "download", "--url", source.as_uri())
    assert result.exit_code == 0, result.output
    assert "Downloading CIFAR-10" in result.stderr
    assert "300kB/300kB" in result.stderr and "B/s" in result.stderr
    assert (home / "cifar-10-python.tar.gz").read_bytes() == source.read_bytes()
    (home / "cifar-10-python.tar.gz").unlink()
    quiet = _invoke("-q", "data", "download", "--url", source.as_uri())
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_failed_download_says_where_to_put_the_archive(tmp_path, archive_file):
    missing = (tmp_path / "nowhere" / "cifar-10-python.tar.gz").as_uri()
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError) as info:
        download_cifar10(dest, url=missing, timeout=5)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(f"download {missing} (or the official {download_module.CIFAR10_URL}) "
                            f"yourself and save it as cifar-10-python.tar.gz in {dest}")
    assert info.value.path == dest / "cifar-10-python.tar.gz" and info.value.url == missing
    source, _ = archive_file
    with pytest.raises(DownloadError, match=rf"has md5 .* save it as cifar-10-python.tar.gz in "
                                            rf"{str(dest)}$"):
        download_cifar10(dest, url=source.as_uri(), md5="0" * 32)
    assert _names(dest) == []


def test_cli_failed_download_names_folder_and_file(home, tmp_path):
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    result = _invoke("data", "download", "--url", missing)
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: download of ")
    assert line.endswith(f"save it as cifar-10-python.tar.gz in {home}")


def test_train_download_shows_progress_and_hint(home, tmp_path, monkeypatch):
    from test_data import make_tar_gz, write_py_cifar

    folder = tmp_path / "src" / "cifar-10-batches-py"
    write_py_cifar(folder)
    archive = make_tar_gz(folder, tmp_path / "src" / "cifar-10-python.tar.gz")
    monkeypatch.setattr(download_module, "CIFAR10_URL", (tmp_path / "nowhere.tar.gz").as_uri())
    failed = _invoke("train", "--download")
    assert failed.exit_code == 2
    assert failed.stderr.strip().splitlines()[-1].endswith(
        f"save it as cifar-10-python.tar.gz in {home}")
    monkeypatch.setattr(download_module, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(download_module, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    shown = cache.format_size(archive.stat().st_size).replace(" ", "")  # e.g. "31.2kB"
    result = _invoke("train", "--download", "--n-iter", "3", "--pca-variance", "1")
    assert result.exit_code == 0, result.output
    assert "Downloading CIFAR-10" in result.stderr and f"{shown}/{shown}" in result.stderr
    assert "B/s" in result.stderr
    assert (home / "cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()
