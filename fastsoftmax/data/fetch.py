"""Download a whole data set of :data:`fastsoftmax.data.sources.SOURCES`, and say what
of it is in the data folder."""
from fastsoftmax.data.download import download_file, file_md5
from fastsoftmax.data.sources import source

__all__ = ["download_source", "source_state"]


def download_source(name, dest=None, *, url=None, extra=False, progress=None, timeout=60):
    """Download the files of the data set ``name``, each checked by its published md5.

    Files already there with the right md5 are not downloaded again.  Each file goes
    through :func:`fastsoftmax.data.download.download_file`: a partial or wrong file
    never stands under its final name.

    Parameters
    ----------
    name : str
        A key of :data:`~fastsoftmax.data.sources.SOURCES` (``cifar100``, ``mnist``...).
    dest : str or os.PathLike, optional
        The folder the data set's folder goes in; default the data folder.
    url : str, optional
        A mirror: the file's URL for a one-file data set, else the folder URL the
        files' names are appended to.
    extra : bool, default False
        Also download the optional files (SVHN's ``extra_32x32.mat``).
    progress : callable, optional
        Called as ``progress(file_name)`` before each file; it returns the
        ``progress(bytes_done, bytes_total)`` callable for that file's download (or None).
    timeout : float, default 60

    Returns
    -------
    list of pathlib.Path
        The files, checked.

    Raises
    ------
    ValueError
        An unknown name.
    DownloadError
        A download failed or its md5 did not match; the message says where to save the
        file by hand.  Files finished before it stay.
    """
    src = source(name)
    files = [f for f in src.files if extra or not f.optional]
    paths = []
    for f in files:
        file_url = f.url
        if url:
            file_url = url if len(src.files) == 1 else url.rstrip("/") + "/" + f.name
        paths.append(download_file(src.folder_path(dest) / f.name, url=file_url, md5=f.md5,
                                   progress=progress(f.name) if progress else None,
                                   timeout=timeout, official_url=f.url))
    return paths


def source_state(name, dest=None, check_md5=False):
    """What of the data set ``name`` is in the data folder.

    Parameters
    ----------
    name : str
    dest : str or os.PathLike, optional
        Default the data folder.
    check_md5 : bool, default False
        Also compare each file present with its published md5 (reads every byte).

    Returns
    -------
    dict
        ``name``, ``title``, ``data`` (what ``--data`` takes), ``state``
        (``"downloaded"``, ``"partly downloaded"`` or ``"not downloaded"``),
        ``size_bytes`` (of the files present), ``files`` (each file's ``name``,
        ``path``, ``present``, ``optional``, ``size_bytes`` and, with ``check_md5``,
        ``md5_ok``).
    """
    src = source(name)
    folder = src.folder_path(dest)
    files = []
    for f in src.files:
        path = folder / f.name
        present = path.is_file()
        entry = {"name": f.name, "path": str(path), "present": present,
                 "optional": f.optional, "size_bytes": path.stat().st_size if present else 0}
        if check_md5:
            entry["md5_ok"] = present and file_md5(path) == f.md5
        files.append(entry)
    required = [e for e in files if not e["optional"]]
    n_present = sum(e["present"] for e in required)
    state = ("downloaded" if n_present == len(required)
             else "partly downloaded" if any(e["present"] for e in files) else "not downloaded")
    return {"name": src.name, "title": src.title, "data": str(src.data_location(dest)),
            "state": state, "size_bytes": sum(e["size_bytes"] for e in files), "files": files}
