"""CIFAR-10 and CIFAR-100 from their official binary versions.

A batch file is a run of fixed-size records: the label byte(s), then 3072
pixel bytes (a 32x32 red plane, then green, then blue, each row-major). The
record count comes from the file's length, which must be a positive multiple
of the record size; nothing is allocated before that check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from .base import CoarseLabels, ImageSet, check_labels
from .classes import CIFAR10_CLASSES, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES
from .fileio import open_regular

__all__ = ["load_cifar10", "load_cifar100"]

_PIXELS = 32 * 32 * 3
_CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR10_TEST = "test_batch.bin"


def _cifar_dir(data_dir, subfolder: str, files: Sequence[str], missing) -> str:
    """The folder holding ``files``: ``data_dir`` itself or its ``subfolder``."""
    if data_dir is None:
        raise DataError(missing("no data directory given"), field="data_dir")
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(missing(f"{data_dir} is not a directory"), field="data_dir")
    folders = (data_dir, os.path.join(data_dir, subfolder))
    # lexists, not isfile: a FIFO or a folder of a batch's name is refused when read, not taken as absent
    for folder in folders:
        if all(os.path.lexists(os.path.join(folder, f)) for f in files):
            return folder
    for folder in folders:
        absent = [f for f in files if not os.path.lexists(os.path.join(folder, f))]
        if len(absent) < len(files):
            raise DataError(missing(f"{', '.join(absent)} missing from {folder}"), field="data_dir")
    raise DataError(missing(f"none of the files in {' or '.join(folders)}"), field="data_dir")


def _read_records(
    paths: Sequence[str], label_limits: Sequence[int], name: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read batches into ``[N, 32, 32, 3]`` float32 and one int32 column per label byte."""
    label_bytes = len(label_limits)
    record = label_bytes + _PIXELS
    counts, files = [], []
    try:
        for path in paths:  # every file open (a regular file, never waited on) and its length checked first
            f = open_regular(path, f"a {name} batch file")
            files.append(f)
            size = os.fstat(f.fileno()).st_size
            if size == 0 or size % record:
                raise DataError(
                    f"{path} is truncated or not {name} binary: {size} bytes is not a "
                    f"positive multiple of the {record}-byte record"
                )
            counts.append(size // record)
        return _fill(paths, files, counts, label_limits, name)
    finally:
        for f in files:
            f.close()


def _fill(paths, files, counts, label_limits, name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """`_read_records`'s arrays from the open, checked ``files`` of ``counts`` records each."""
    label_bytes = len(label_limits)
    record = label_bytes + _PIXELS
    total = sum(counts)
    images = np.empty((total, 32, 32, 3), dtype=np.float32)
    labels = [np.empty(total, dtype=np.int32) for _ in range(label_bytes)]
    start = 0
    for path, f, n in zip(paths, files, counts):
        try:
            raw = np.fromfile(f, dtype=np.uint8, count=n * record)
            grew = bool(f.read(1))
        except OSError as e:
            raise DataError(f"cannot read {name} file {path}: {e}") from e
        if raw.size != n * record or grew:
            raise DataError(f"{path} is truncated or not {name} binary (size changed while reading)")
        raw = raw.reshape(n, record)
        for j, limit in enumerate(label_limits):
            what = ("coarse label", "fine label")[j] if label_bytes == 2 else "label"
            check_labels(raw[:, j], limit, path, what)
            labels[j][start : start + n] = raw[:, j]
        pixels = raw[:, label_bytes:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
        np.divide(pixels, np.float32(255.0), out=images[start : start + n])
        start += n
    return images, labels


def _read_names(path: str, count: int) -> tuple[str, ...] | None:
    """Class names from a meta text file (one per line), or None if absent."""
    if not os.path.lexists(path):
        return None
    try:
        with open_regular(path, "a class names file") as f:
            raw = f.read()
        names = tuple(line.strip() for line in raw.decode("utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read class names from {path}: {e}") from e
    if len(names) != count:
        raise DataError(f"{path} lists {len(names)} class names; expected {count}")
    return names


def load_cifar10(data_dir: str | os.PathLike | None) -> ImageSet:
    """CIFAR-10 (officially 50000 train / 10000 test images of 32x32x3).

    Arguments:
        data_dir: a folder holding ``data_batch_1.bin`` .. ``data_batch_5.bin``
            and ``test_batch.bin``, or its ``cifar-10-batches-bin`` subfolder;
            records are 1 label byte then 3072 pixel bytes. Class names come
            from ``batches.meta.txt`` when present.

    Returns:
        The train and test splits, labels 0..9.

    Raises:
        DataError: a missing folder or file, a length that is not a whole
            number of records, a label above 9, or a bad names file.
    """
    files = (*_CIFAR10_TRAIN, _CIFAR10_TEST)

    def missing_message(detail: str) -> str:
        return (
            f"CIFAR-10 not found ({detail}); supply the binary version (cifar-10-binary.tar.gz, "
            f"extracted) in a data folder: one holding {', '.join(files)} or a "
            "cifar-10-batches-bin/ subfolder with them"
        )

    folder = _cifar_dir(data_dir, "cifar-10-batches-bin", files, missing_message)
    train_x, (train_y,) = _read_records(
        [os.path.join(folder, f) for f in _CIFAR10_TRAIN], (10,), "CIFAR-10"
    )
    test_x, (test_y,) = _read_records([os.path.join(folder, _CIFAR10_TEST)], (10,), "CIFAR-10")
    names = _read_names(os.path.join(folder, "batches.meta.txt"), 10) or CIFAR10_CLASSES
    return ImageSet(train_x, train_y, test_x, test_y, names)


def _fine_to_coarse(fine: np.ndarray, coarse: np.ndarray, path: str) -> np.ndarray:
    mapping = np.full(len(CIFAR100_FINE_CLASSES), -1, dtype=np.int32)
    for f, c in np.unique(np.stack([fine, coarse], axis=1), axis=0):
        if mapping[f] not in (-1, c):
            raise DataError(
                f"{path}: fine class {f} ({CIFAR100_FINE_CLASSES[f]}) appears with coarse "
                f"labels {mapping[f]} and {c}"
            )
        mapping[f] = c
    return mapping


def load_cifar100(data_dir: str | os.PathLike | None) -> ImageSet:
    """CIFAR-100 (officially 50000 train / 10000 test images of 32x32x3).

    Arguments:
        data_dir: a folder holding ``train.bin`` and ``test.bin``, or its
            ``cifar-100-binary`` subfolder; records are a coarse label byte, a
            fine label byte, then 3072 pixel bytes. ``fine_label_names.txt`` and
            ``coarse_label_names.txt``, when present, must list the standard names.

    Returns:
        The train and test splits with the fine labels (0..99); the superclass
        labels are in ``coarse``.

    Raises:
        DataError: a missing folder or file, a length that is not a whole
            number of records, a label out of range, a fine class under two
            superclasses, or non-standard names files.
    """
    files = ("train.bin", "test.bin")

    def missing_message(detail: str) -> str:
        return (
            f"CIFAR-100 not found ({detail}); supply the binary version "
            "(cifar-100-binary.tar.gz, extracted) in a data folder: one holding "
            "train.bin and test.bin or a cifar-100-binary/ subfolder with them"
        )

    folder = _cifar_dir(data_dir, "cifar-100-binary", files, missing_message)
    train_path, test_path = (os.path.join(folder, f) for f in files)
    train_x, (train_c, train_f) = _read_records([train_path], (20, 100), "CIFAR-100")
    test_x, (test_c, test_f) = _read_records([test_path], (20, 100), "CIFAR-100")
    for meta, standard in (
        ("fine_label_names.txt", CIFAR100_FINE_CLASSES),
        ("coarse_label_names.txt", CIFAR100_COARSE_CLASSES),
    ):
        names = _read_names(os.path.join(folder, meta), len(standard))
        if names is not None and names != standard:
            bad = next(i for i, (a, b) in enumerate(zip(names, standard)) if a != b)
            raise DataError(
                f"{os.path.join(folder, meta)}: name {bad} is {names[bad]!r}, expected "
                f"{standard[bad]!r} (the standard CIFAR-100 order)"
            )
    train_map = _fine_to_coarse(train_f, train_c, train_path)
    test_map = _fine_to_coarse(test_f, test_c, test_path)
    clash = (train_map >= 0) & (test_map >= 0) & (train_map != test_map)
    if clash.any():
        f = int(np.argmax(clash))
        raise DataError(
            f"{test_path}: fine class {f} has coarse label {test_map[f]} but "
            f"{train_map[f]} in {train_path}"
        )
    coarse = CoarseLabels(
        train_labels=train_c,
        test_labels=test_c,
        class_names=CIFAR100_COARSE_CLASSES,
        fine_to_coarse=np.where(train_map >= 0, train_map, test_map),
    )
    return ImageSet(train_x, train_f, test_x, test_f, CIFAR100_FINE_CLASSES, coarse)
