"""``fastsoftmax data``: download a data set, show the data sets, the data and cache folders,
clear the cache."""
import time

import click

from fastsoftmax.cli.errors import InputError, SuggestingGroup, handle_errors
from fastsoftmax.cli.options import json_option
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.progress import DownloadProgress
from fastsoftmax.cli.verbosity import is_quiet
from fastsoftmax.io.atomic import check_writable_folder, existing_ancestor
from fastsoftmax.io.home import data_home, data_home_source
from fastsoftmax.io.paths import resolve_output


@click.group("data", cls=SuggestingGroup)
def data():
    """Download data sets, inspect the data and cache folders, clear the cache."""


#: ``data download`` names, in the order ``data info`` lists them.
DATA_SET_NAMES = ("cifar10", "cifar100", "mnist", "fashion-mnist", "svhn")


@data.command("download")
@click.argument("name", type=click.Choice(DATA_SET_NAMES), default="cifar10", required=False,
                metavar="[NAME]")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Folder for the download. Default: the data folder "
    "($FASTSOFTMAX_DATA, else the user cache folder; see `fastsoftmax data info`).",
)
@click.option(
    "--url",
    default=None,
    help="Fetch from this URL instead of the official one (a mirror): the file's URL for "
    "CIFAR-10 and CIFAR-100, the folder URL the file names are appended to for the others; "
    "the published md5 is still checked.",
)
@click.option("--extra", is_flag=True,
              help="svhn: also download extra_32x32.mat (531,131 more training images, 1.3 GB).")
@json_option
@handle_errors
def download(name, dest, url, extra, as_json):
    """Download a data set and check every file's published md5.

    NAME is cifar10 (the default: the python archive, 170 MB), cifar100 (161 MB),
    mnist or fashion-mnist (four idx .gz files, 12 MB and 30 MB) or svhn
    (train_32x32.mat and test_32x32.mat, 246 MB).  Nothing is downloaded when a valid
    file is already there.  If a download fails, the error says where to save the
    file by hand.  `fastsoftmax data info` shows what --data then takes.
    """
    from fastsoftmax.data import download as dl

    if extra and name != "svhn":
        raise InputError("--extra is for svhn")
    if dest is not None:  # a folder nobody can write in fails now, not after the download
        dest = resolve_output(dest, "--dest")
        check_writable_folder(existing_ancestor(dest), "--dest")
    if name != "cifar10":
        _download_source(name, dest, url, extra, as_json)
        return
    with DownloadProgress(is_quiet()) as progress:
        path = dl.download_cifar10(
            dest, url=url or dl.CIFAR10_URL, md5=dl.CIFAR10_MD5, progress=progress
        )
    payload = {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "md5": dl.file_md5(path),
        "downloaded": progress.called,
    }
    if as_json:
        echo_json(payload)
    elif progress.called:
        echo(f"Downloaded CIFAR-10 to {path} (md5 checked)")
    else:
        echo(f"CIFAR-10 is already at {path} (md5 checked)")


def _download_source(name, dest, url, extra, as_json):
    """``data download NAME`` for a data set of several files (or CIFAR-100)."""
    from fastsoftmax.data.download import file_md5
    from fastsoftmax.data.fetch import download_source
    from fastsoftmax.data.sources import source

    src = source(name)
    bars = []

    def progress(file_name):
        bars.append(DownloadProgress(is_quiet(), label=f"Downloading {file_name}"))
        return bars[-1]

    try:
        paths = download_source(name, dest, url=url, extra=extra, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    files = [{"path": str(p), "size_bytes": p.stat().st_size, "md5": file_md5(p),
              "downloaded": bar.called} for p, bar in zip(paths, bars)]
    location = src.data_location(dest)
    if as_json:
        echo_json({"name": name, "data": str(location), "files": files})
        return
    verb = "Downloaded" if any(f["downloaded"] for f in files) else "Already there:"
    echo(f"{verb} {src.title} ({len(files)} file(s), md5 checked); use it with "
         f"--data {location}")


def _age(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _limit_text(limit, source):
    from fastsoftmax.io.cache import CACHE_LIMIT_ENV

    where = "default" if source == "default" else f"from ${CACHE_LIMIT_ENV}"
    if limit is None:
        return f"no limit ({where})"
    if limit == 0:
        return f"cache off: {CACHE_LIMIT_ENV}=0, nothing is read or stored"
    from fastsoftmax.io.cache import format_size

    return f"limit {format_size(limit)} ({where}; set ${CACHE_LIMIT_ENV}, e.g. 10GB, to raise it)"


def _entry_lines(entries, prefix="  "):
    from fastsoftmax.io.cache import format_size

    for e in entries:
        yield (f"{prefix}{(e['kind'] or '-'):<6} {format_size(e['size_bytes']):>9}  "
               f"used {_age(e['age_seconds']):<13} {e['file']}")


#: Bytes of a CIFAR-10 feature-cache entry (50,000 training images, float32 features):
#: HOG 1,764 per image, kmeans 16,000 per image (its defaults: 3 x 3 regions and the
#: whole image, 2 polarities, 800 atoms folded with their mirror images).
CIFAR10_FEATURE_ENTRY_BYTES = {"hog": 50_000 * 1764 * 4, "kmeans": 50_000 * 16_000 * 4}


@data.command("info")
@json_option
@handle_errors
def info(as_json):
    """Show the data folder, the cache (entries, sizes, ages, limit) and every data set.

    Each data set `data download` fetches is listed with its state (downloaded, partly
    downloaded or not), the size of its files and the path --data takes.

    The data folder is $FASTSOFTMAX_DATA when set, else `fastsoftmax` in the user
    cache folder (~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on
    Windows).  The cache keeps at most $FASTSOFTMAX_CACHE_LIMIT (default 4GB),
    dropping the least recently used entries first.  The training features of
    CIFAR-10's 50,000 images take about 0.35 GB with HOG (1,764 float32 per image)
    and 3.2 GB with --features kmeans (16,000 float32 per image); with HOG --flip,
    as much again for their mirror images.
    """
    from fastsoftmax.io.cache import cache_info, format_size, stray_temp_files
    from fastsoftmax.data.download import cifar10_archive_path, stray_partial_downloads
    from fastsoftmax.data.fetch import source_state

    archive = cifar10_archive_path()
    cache = cache_info()
    payload = {
        "data_home": str(data_home()),
        "data_home_source": data_home_source(),
        "cache_dir": cache["path"],
        "cache_entries": cache["entries"],
        "cache_size_bytes": cache["size_bytes"],
        "cache_limit_bytes": cache["limit_bytes"],
        "cache_limit_source": cache["limit_source"],
        "cache_entry_list": cache["entry_list"],
        "cifar10_feature_entry_bytes": CIFAR10_FEATURE_ENTRY_BYTES,
        "cifar10_archive": str(archive),
        "cifar10_downloaded": archive.is_file(),
        "data_sets": [source_state(name) for name in DATA_SET_NAMES],
        "stray_temp_files": [str(p) for p in stray_partial_downloads() + stray_temp_files()],
    }
    if as_json:
        echo_json(payload)
        return
    source = ("from $FASTSOFTMAX_DATA" if payload["data_home_source"] != "platform"
              else "the user cache folder; set $FASTSOFTMAX_DATA to move it")
    echo(f"data folder: {payload['data_home']} ({source})")
    echo(f"cache:       {payload['cache_dir']}")
    echo(f"  {cache['entries']} entries, {format_size(cache['size_bytes'])}; "
               f"{_limit_text(cache['limit_bytes'], cache['limit_source'])}")
    if cache["entry_list"]:
        echo("  least recently used first (removed first when over the limit):")
        for line in _entry_lines(cache["entry_list"], prefix="    "):
            echo(line)
    echo("  CIFAR-10's training features take "
               + " and ".join(f"{format_size(size)} with --features {kind}"
                              for kind, size in CIFAR10_FEATURE_ENTRY_BYTES.items()))
    echo("data sets (`fastsoftmax data download NAME`; --data takes the path shown):")
    for entry in payload["data_sets"]:
        state = entry["state"]
        if entry["size_bytes"]:
            state += f", {format_size(entry['size_bytes'])}"
        echo(f"  {entry['name']:<14} {state:<27} {entry['data']}")
    for path in payload["stray_temp_files"]:
        echo(f"stray:       {path} (left by an interrupted run; the next download or "
                   "cache write removes it after 10 minutes, `fastsoftmax data` never needs it)")


@data.command("clear")
@click.option("--dry-run", "-n", is_flag=True,
              help="Only list what would be removed, with sizes; remove nothing.")
@json_option
@handle_errors
def clear(dry_run, as_json):
    """Remove every cache entry (HOG features, PCA), with temporary files of unfinished writes.

    Downloads (the CIFAR-10 archive) are kept.  Entries are made again when needed.
    Files that cannot be removed (a read-only cache folder) are named in one line on
    stderr, the others are still removed, and the exit code is then 2.
    """
    from fastsoftmax.io.cache import cache_dir, clear_cache_entries, format_size

    result = clear_cache_entries(dry_run=dry_run)
    now = time.time()
    entries = [e.to_dict(now) for e in result.entries]
    if as_json:
        echo_json({
            "cache_dir": str(cache_dir()),
            "dry_run": dry_run,
            "entries": entries,
            "temp_files": [{"path": str(p), "size_bytes": n} for p, n in result.temp_files],
            "size_bytes": result.size_bytes,
            "failed": [{"path": str(p), "error": reason} for p, reason in result.failed],
        })
    else:
        _print_cleared(result, entries, dry_run, cache_dir(), format_size)
    if result.failed:
        names = [path.name for path, _ in result.failed]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        reasons = "; ".join(sorted({reason for _, reason in result.failed}))
        echo(f"Error: cannot remove {len(names)} file(s) of the cache {cache_dir()} "
             f"({reasons}): {shown}", err=True)
        raise SystemExit(2)


def _print_cleared(result, entries, dry_run, folder, format_size):
    """What ``data clear`` removed (or would remove), as text."""
    verb = "would remove" if dry_run else "removed"
    if not entries and not result.temp_files:
        if not result.failed:
            echo(f"The cache is empty ({folder}); nothing {verb}.")
        return
    for line in _entry_lines(entries, prefix=f"{verb} "):
        echo(line)
    for path, size in result.temp_files:
        echo(f"{verb} temp   {format_size(size):>9}  {path.name} (an unfinished write)")
    echo(f"{'Would free' if dry_run else 'Freed'} {format_size(result.size_bytes)} in "
         f"{folder} ({len(entries)} entries"
         + (f", {len(result.temp_files)} temporary files)" if result.temp_files else ")"))
