"""``fastsoftmax data``: download CIFAR-10 and show where data and cache live."""
import click

from .options import ProgressBar, echo_json, handle_errors, is_quiet, json_option


@click.group("data")
def data():
    """Download data sets and inspect the data and cache folders."""


@data.command("download")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Folder for cifar-10-python.tar.gz. Default: the data home "
    "($FASTSOFTMAX_DATA, else the user cache folder; see `fastsoftmax data info`).",
)
@click.option(
    "--url",
    default=None,
    help="Fetch the archive from this URL instead of the official one (a mirror); "
    "the published md5 is still checked.",
)
@json_option
@handle_errors
def download(dest, url, as_json):
    """Download the official CIFAR-10 python archive and check its md5.

    Nothing is downloaded when a valid archive is already there.
    """
    from ..data import download as dl

    quiet = is_quiet()
    target = dl.cifar10_archive_path(dest)
    already = target.is_file()
    state = {"bar": None}

    def progress(done, total):
        if state["bar"] is None:
            state["bar"] = ProgressBar(total or 0, "Downloading CIFAR-10", quiet=quiet)
        state["bar"].update(done)

    try:
        path = dl.download_cifar10(
            dest, url=url or dl.CIFAR10_URL, md5=dl.CIFAR10_MD5, progress=progress
        )
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    downloaded = state["bar"] is not None or not already
    payload = {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "md5": dl.file_md5(path),
        "downloaded": bool(downloaded),
    }
    if as_json:
        echo_json(payload)
    elif downloaded:
        click.echo(f"Downloaded CIFAR-10 to {path} (md5 checked)")
    else:
        click.echo(f"CIFAR-10 is already at {path} (md5 checked)")


@data.command("info")
@json_option
@handle_errors
def info(as_json):
    """Show the data home, the cache folder and whether CIFAR-10 is downloaded."""
    from ..data.cache import cache_info, stray_temp_files
    from ..data.download import cifar10_archive_path, data_home, stray_partial_downloads

    archive = cifar10_archive_path()
    cache = cache_info()
    payload = {
        "data_home": str(data_home()),
        "cache_dir": cache["path"],
        "cache_entries": cache["entries"],
        "cache_size_bytes": cache["size_bytes"],
        "cifar10_archive": str(archive),
        "cifar10_downloaded": archive.is_file(),
        "stray_temp_files": [str(p) for p in stray_partial_downloads() + stray_temp_files()],
    }
    if as_json:
        echo_json(payload)
        return
    click.echo(f"data home:   {payload['data_home']}")
    click.echo(
        f"cache:       {payload['cache_dir']} ({cache['entries']} entries, "
        f"{_human(cache['size_bytes'])})"
    )
    state = "downloaded" if payload["cifar10_downloaded"] else (
        "not downloaded; run `fastsoftmax data download`"
    )
    click.echo(f"CIFAR-10:    {archive} ({state})")
    for path in payload["stray_temp_files"]:
        click.echo(f"stray:       {path} (left by an interrupted run; the next download or "
                   "cache write removes it after 10 minutes, `fastsoftmax data` never needs it)")


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
