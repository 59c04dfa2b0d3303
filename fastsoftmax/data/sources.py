"""Where each data set comes from: its files, their URLs and published md5s, and where
``fastsoftmax data download NAME`` puts them in the data folder.

Plain data, read by the downloader, by ``data info`` and by the error that says how to
put a file in place by hand.  The URLs and md5s are those torchvision's dataset classes
pin (``torchvision/datasets/cifar.py``, ``mnist.py``, ``svhn.py``).
"""
from dataclasses import dataclass
from pathlib import Path

from fastsoftmax.io.home import data_home

__all__ = ["SOURCES", "Source", "SourceFile", "source"]


@dataclass(frozen=True)
class SourceFile:
    """One file of a data set.

    Attributes
    ----------
    name : str
        The file's name (as published, and as saved).
    url : str
        Where it is fetched from.
    md5 : str
        Its published md5 (hex), checked before the file is put in place.
    optional : bool
        Not needed to load the data set (SVHN's ``extra`` set); downloaded only on request.
    """

    name: str
    url: str
    md5: str
    optional: bool = False


@dataclass(frozen=True)
class Source:
    """A data set's downloads.

    Attributes
    ----------
    name : str
        Its name on the command line (``data download NAME``).
    title : str
        Its name in messages.
    folder : str
        The subfolder of the data folder its files go to (``""``: the data folder itself).
    files : tuple of SourceFile
    data_path : str
        What ``--data`` is given, relative to the data folder: the archive or the folder.
    """

    name: str
    title: str
    folder: str
    files: tuple
    data_path: str

    def folder_path(self, dest=None):
        """The folder the files go to (``dest`` or the data folder, plus :attr:`folder`)."""
        return (Path(dest) if dest is not None else data_home()) / self.folder

    def data_location(self, dest=None):
        """What ``--data`` takes once downloaded."""
        return (Path(dest) if dest is not None else data_home()) / self.data_path

    def required(self):
        """The files needed to load the data set."""
        return tuple(f for f in self.files if not f.optional)


_TORONTO = "https://www.cs.toronto.edu/~kriz/"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_SVHN = "http://ufldl.stanford.edu/housenumbers/"


def _idx_files(base, md5s):
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(SourceFile(name, base + name, md5) for name, md5 in zip(names, md5s))


#: Every data set ``data download`` fetches, by command-line name.
SOURCES = {s.name: s for s in (
    Source("cifar10", "CIFAR-10", "", (SourceFile(
        "cifar-10-python.tar.gz", _TORONTO + "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a"),), "cifar-10-python.tar.gz"),
    Source("cifar100", "CIFAR-100", "", (SourceFile(
        "cifar-100-python.tar.gz", _TORONTO + "cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85"),), "cifar-100-python.tar.gz"),
    Source("mnist", "MNIST", "mnist", _idx_files(_MNIST, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")), "mnist"),
    Source("fashion-mnist", "Fashion-MNIST", "fashion-mnist", _idx_files(_FASHION, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
        "fashion-mnist"),
    Source("svhn", "SVHN", "svhn", (
        SourceFile("train_32x32.mat", _SVHN + "train_32x32.mat",
                   "e26dedcc434d2e4c54c9b2d4a06d8373"),
        SourceFile("test_32x32.mat", _SVHN + "test_32x32.mat",
                   "eb5a983be6a315427106f1b164d9cef3"),
        SourceFile("extra_32x32.mat", _SVHN + "extra_32x32.mat",
                   "a93ce644f1a588dc4d68dda5feec44a7", optional=True)), "svhn"),
)}


def source(name):
    """The :class:`Source` called ``name``.

    Raises
    ------
    ValueError
        No data set has that name (the message lists them).
    """
    try:
        return SOURCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"no data set {name!r} to download; the data sets are "
                         f"{', '.join(SOURCES)}") from None
