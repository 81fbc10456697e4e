"""The real image data sets by name: digits, Fashion-MNIST, MNIST, CIFAR-10/100.

Every loader returns an `ImageSet`: float32 images in ``[0, 1]`` of shape
``[N, H, W, C]`` (channels last), int32 labels in ``[0, num_classes)`` and the
class names. Files are read in their official binary formats only (IDX for
MNIST-like data, `.idx`; the "binary version" of CIFAR-10/100,
`.cifar`); nothing is unpickled, downloaded or cached.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .base import ImageSet
from .cifar import load_cifar10, load_cifar100
from .classes import DIGITS_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES
from .idx import STANDARD_IDX_FILES, load_idx_folder

__all__ = [
    "FASHION_MNIST_DIR",
    "load_digits_images",
    "load_fashion_mnist",
    "load_images",
    "load_mnist",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def load_digits_images() -> ImageSet:
    """scikit-learn's bundled 8x8 digits (1797 images) as an ImageSet.

    There is no official test split: every image is in train, and the test
    arrays are empty (``[0, 8, 8, 1]``). Pixel values 0..16 are scaled to [0, 1].

    Raises:
        DataError: the bundled data has another shape or range.
    """
    from sklearn.datasets import load_digits

    digits: Any = load_digits()  # a Bunch (scikit-learn's return type also allows an (X, y) tuple)
    images = (np.asarray(digits.images, dtype=np.float32) / np.float32(16.0))[..., None]
    labels = np.asarray(digits.target, dtype=np.int32)
    if images.shape[1:] != (8, 8, 1) or labels.shape != images.shape[:1]:
        raise DataError(f"scikit-learn's digits have unexpected shape {images.shape}")
    if images.min() < 0 or images.max() > 1 or labels.min() < 0 or labels.max() > 9:
        raise DataError("scikit-learn's digits have values outside 0..16 or labels outside 0..9")
    empty = np.zeros((0, 8, 8, 1), dtype=np.float32)
    return ImageSet(images, labels, empty, np.zeros((0,), dtype=np.int32), DIGITS_CLASSES)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> ImageSet:
    """Fashion-MNIST: 60000 train / 10000 test images of shape 28x28x1.

    Arguments:
        data_dir: folder with the four IDX files; by default Debian's
            ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``).

    Raises:
        DataError: the folder or a file is missing or malformed; the message
            says how to install the data.
    """
    data_dir = FASHION_MNIST_DIR if data_dir is None else os.fspath(data_dir)

    def missing_message(detail: str) -> str:
        return (
            f"Fashion-MNIST not found ({detail}); install it with "
            "`apt-get install dataset-fashion-mnist` (files go to "
            f"{FASHION_MNIST_DIR}) or give a data folder holding "
            f"{STANDARD_IDX_FILES}"
        )

    if not os.path.isdir(data_dir):
        raise DataError(missing_message(f"{data_dir} is not a directory"), field="data_dir")
    return load_idx_folder(data_dir, FASHION_MNIST_CLASSES, missing_message)


def load_mnist(data_dir: str | os.PathLike | None) -> ImageSet:
    """MNIST from a user folder holding the four standard IDX files.

    Arguments:
        data_dir: the folder; ``train-images-idx3-ubyte`` and
            ``train-images.idx3-ubyte`` style names, gzipped (``.gz``) or not.

    Raises:
        DataError: no folder given, or a file is missing or malformed.
    """

    def missing_message(detail: str) -> str:
        return (
            f"MNIST not found ({detail}); MNIST is not bundled and must be supplied "
            f"in a data folder holding {STANDARD_IDX_FILES} "
            "('train-images.idx3-ubyte' style names are accepted too)"
        )

    if data_dir is None:
        raise DataError(missing_message("no data directory given"), field="data_dir")
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(missing_message(f"{data_dir} is not a directory"), field="data_dir")
    return load_idx_folder(data_dir, MNIST_CLASSES, missing_message)


_LOADERS = {
    "digits": lambda data_dir: load_digits_images(),
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
}


def load_images(name: str, data_dir: str | os.PathLike | None = None) -> ImageSet:
    """Load one of the image data sets of ``DATASETS`` by name.

    Arguments:
        name: digits, fashion-mnist, mnist, cifar10 or cifar100.
        data_dir: required for mnist, cifar10 and cifar100, optional for
            fashion-mnist (default: Debian's package folder), ignored for digits.

    Raises:
        ConfigError: an unknown name.
        DataError: missing or malformed files.
    """
    if name not in _LOADERS:
        raise ConfigError(f"unknown image data set {name!r}; valid: {', '.join(_LOADERS)}")
    return _LOADERS[name](data_dir)
