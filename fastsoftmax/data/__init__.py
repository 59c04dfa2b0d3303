"""Data sets: CIFAR-10 (python or binary, folder or archive), CIFAR-100, MNIST and
Fashion-MNIST (idx files), SVHN (.mat files), image folders, digits.

Also the download of the official CIFAR-10 archive and an on-disk array cache for
features.  Every loader returns uint8 images and int64 labels.
"""
from fastsoftmax.data._unpickle import CorruptDataError, UnsafePickleError, restricted_load
from fastsoftmax.io.cache import cache_dir, cache_info, cache_key, clear_cache, load_cached, save_cached
from fastsoftmax.data.cifar import DatasetNotFoundError, is_cifar10, load_cifar10
from fastsoftmax.data.cifar100 import load_cifar100
from fastsoftmax.data.datasets import Dataset, load_dataset, load_digits_images, load_test_set
from fastsoftmax.data.download import (
    CIFAR10_MD5,
    CIFAR10_URL,
    DownloadError,
    cifar10_archive_path,
    data_home,
    download_cifar10,
)
from fastsoftmax.data.fetch import download_source, source_state
from fastsoftmax.data.folder import FolderError, labels_by_name, load_image_folder, load_test_images, read_image
from fastsoftmax.data.idx import load_idx
from fastsoftmax.data.sources import SOURCES
from fastsoftmax.data.splits import SplitRecord
from fastsoftmax.data.svhn import load_svhn
from fastsoftmax.data.training_files import TrainingFiles

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CorruptDataError",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "FolderError",
    "SOURCES",
    "SplitRecord",
    "TrainingFiles",
    "UnsafePickleError",
    "cache_dir",
    "cache_info",
    "cache_key",
    "cifar10_archive_path",
    "clear_cache",
    "data_home",
    "download_cifar10",
    "download_source",
    "is_cifar10",
    "load_cached",
    "load_cifar10",
    "load_cifar100",
    "load_idx",
    "load_svhn",
    "load_dataset",
    "load_digits_images",
    "labels_by_name",
    "load_image_folder",
    "load_test_images",
    "load_test_set",
    "read_image",
    "restricted_load",
    "save_cached",
    "source_state",
]
