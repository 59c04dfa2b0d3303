"""Data sets: CIFAR-10 (python or binary, folder or archive), image folders, digits.

Also the download of the official CIFAR-10 archive and an on-disk array cache for
features.  Every loader returns uint8 images and int64 labels.
"""
from fastsoftmax.data._unpickle import CorruptDataError, UnsafePickleError, restricted_load
from fastsoftmax.io.cache import cache_dir, cache_info, cache_key, clear_cache, load_cached, save_cached
from fastsoftmax.data.cifar import DatasetNotFoundError, is_cifar10, load_cifar10
from fastsoftmax.data.datasets import Dataset, load_dataset, load_digits_images, load_test_set
from fastsoftmax.data.download import (
    CIFAR10_MD5,
    CIFAR10_URL,
    DownloadError,
    cifar10_archive_path,
    data_home,
    download_cifar10,
)
from fastsoftmax.data.folder import FolderError, labels_by_name, load_image_folder, load_test_images, read_image
from fastsoftmax.data.training_files import TrainingFiles

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CorruptDataError",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "FolderError",
    "TrainingFiles",
    "UnsafePickleError",
    "cache_dir",
    "cache_info",
    "cache_key",
    "cifar10_archive_path",
    "clear_cache",
    "data_home",
    "download_cifar10",
    "is_cifar10",
    "load_cached",
    "load_cifar10",
    "load_dataset",
    "load_digits_images",
    "labels_by_name",
    "load_image_folder",
    "load_test_images",
    "load_test_set",
    "read_image",
    "restricted_load",
    "save_cached",
]
