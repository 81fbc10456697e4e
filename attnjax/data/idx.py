"""IDX files (the MNIST format) and folders of the four standard IDX files.

A file's header declares its shape, and nothing is allocated from that
declaration alone: a raw file's length is checked first, and a gzip stream is
decompressed in bounded pieces, never more than the declared size plus one
byte. A corrupt header thus cannot ask for more memory than the file holds.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..errors import DataError
from .base import ImageSet, check_labels
from .fileio import open_regular

__all__ = ["STANDARD_IDX_FILES", "load_idx_folder", "load_idx_pair", "read_idx"]

# type code -> big-endian dtype
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_MAX_DIMS = 32  # what every NumPy version supports

STANDARD_IDX_FILES = (
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte (each optionally .gz)"
)


def _read_at_most(f, limit: int) -> bytearray:
    """Up to ``limit`` bytes of a stream (fewer at its end), read 1 MiB at a time."""
    out = bytearray()
    while len(out) < limit:
        piece = f.read(min(_CHUNK, limit - len(out)))
        if not piece:
            break
        out += piece
    return out


def _read_header(f, path: str) -> tuple[tuple[int, ...], np.dtype]:
    """The declared shape and dtype; raises DataError for a malformed header."""
    magic = _read_at_most(f, 4)
    if len(magic) < 4:
        raise DataError(
            f"IDX file {path} is truncated: {len(magic)} bytes, shorter than the "
            "4-byte magic number"
        )
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: magic number {magic.hex()} does not start "
            "with two zero bytes"
        )
    code, ndim = magic[2], magic[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise DataError(f"IDX file {path} has unknown type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"IDX file {path} declares zero dimensions")
    if ndim > _MAX_DIMS:
        raise DataError(f"IDX file {path} declares {ndim} dimensions; at most {_MAX_DIMS} are read")
    raw_dims = _read_at_most(f, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(
            f"IDX file {path} is truncated inside its header ({ndim} dimensions "
            f"declared, {len(raw_dims) // 4} present)"
        )
    shape = struct.unpack(f">{ndim}I", raw_dims)
    if 0 in shape:
        raise DataError(f"IDX file {path} has a zero dimension: shape {shape}")
    return shape, _IDX_TYPES[code]


def _check_size(path: str, shape, dtype: np.dtype, expected: int, actual: int) -> None:
    if actual == expected:
        return
    found = f"found {actual}" if actual < expected else "found more"
    what = "truncated" if actual < expected else "has trailing bytes"
    raise DataError(
        f"IDX file {path} {what}: shape {tuple(shape)} of {dtype.name} needs "
        f"{expected} data bytes, {found}"
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or raw (detected by the gzip magic bytes).

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B
    short, 0x0C int, 0x0D float, 0x0E double), the number of dimensions (1 to
    32) and the dimensions as big-endian uint32; the big-endian data follows,
    and nothing after it.

    Arguments:
        path: the file.

    Returns:
        The array in native byte order, with the header's shape and type.

    Raises:
        DataError: naming the file, when it is missing, not a regular file (a FIFO
            is refused, not waited on), unreadable, has a bad
            magic number, type code or dimension count, a zero dimension, or
            fewer or more data bytes than its dimensions imply.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise DataError(f"IDX file {path} does not exist")
    with open_regular(path, "an IDX file", label=f"IDX file {path}:") as raw:
        try:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            with (gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw) as f:
                shape, dtype = _read_header(f, path)
                nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
                if not gzipped:
                    header = 4 + 4 * len(shape)
                    _check_size(path, shape, dtype, nbytes, os.fstat(raw.fileno()).st_size - header)
                data = _read_at_most(f, nbytes + 1)
                _check_size(path, shape, dtype, nbytes, len(data))
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"cannot read IDX file {path}: {e}") from e
    array = np.frombuffer(data, dtype=dtype)
    if dtype.itemsize > 1 and not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array.reshape(shape)


def load_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike, *, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels pair of IDX files (MNIST-like).

    Arguments:
        images_path: an ``[N, H, W]`` ubyte IDX file.
        labels_path: an ``[N]`` ubyte IDX file.
        num_classes: labels must be below it.

    Returns:
        ``images [N, H, W, 1]`` float32 in ``[0, 1]`` and ``labels [N]`` int32.

    Raises:
        DataError: naming the offending file, when either file is unreadable
            or has another shape or type, the counts differ, or a label is not
            below ``num_classes``.
    """
    images_path, labels_path = os.fspath(images_path), os.fspath(labels_path)
    images = read_idx(images_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{images_path}: expected an [N, H, W] ubyte image array, got shape "
            f"{images.shape} of {images.dtype}"
        )
    labels = read_idx(labels_path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected an [N] ubyte label array, got shape "
            f"{labels.shape} of {labels.dtype}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path} holds {labels.shape[0]} labels but {images_path} holds "
            f"{images.shape[0]} images"
        )
    check_labels(labels, num_classes, labels_path)
    unit = images.astype(np.float32)
    unit /= np.float32(255.0)
    return unit[..., None], labels.astype(np.int32)


_IDX_STEMS = {
    "train_images": ("train-images", "idx3-ubyte"),
    "train_labels": ("train-labels", "idx1-ubyte"),
    "test_images": ("t10k-images", "idx3-ubyte"),
    "test_labels": ("t10k-labels", "idx1-ubyte"),
}


def _candidates(key: str) -> list[str]:
    stem, kind = _IDX_STEMS[key]
    return [f"{stem}{sep}{kind}{gz}" for sep in "-." for gz in (".gz", "")]


def load_idx_folder(data_dir: str, class_names: tuple[str, ...], missing) -> ImageSet:
    """The four standard IDX files of a folder as an `ImageSet`.

    Arguments:
        data_dir: the folder; ``train-images-idx3-ubyte`` and
            ``train-images.idx3-ubyte`` style names, each optionally ``.gz``.
        class_names: the data set's class names, in label order.
        missing: turns a detail into the message of a missing-file error.

    Returns:
        The official train and test splits.

    Raises:
        DataError: a file is missing or malformed, or the image sizes of the
            splits differ.
    """
    files = {}
    for key in _IDX_STEMS:
        # lexists, not isfile: a FIFO or a folder of a standard name is refused by read_idx, not skipped
        found = [n for n in _candidates(key) if os.path.lexists(os.path.join(data_dir, n))]
        if not found:
            raise DataError(missing(f"no {', '.join(_candidates(key))} in {data_dir}"), field="data_dir")
        files[key] = os.path.join(data_dir, found[0])
    k = len(class_names)
    train_x, train_y = load_idx_pair(files["train_images"], files["train_labels"], num_classes=k)
    test_x, test_y = load_idx_pair(files["test_images"], files["test_labels"], num_classes=k)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{files['test_images']}: image size {test_x.shape[1:3]} differs from "
            f"{files['train_images']}'s {train_x.shape[1:3]}"
        )
    return ImageSet(train_x, train_y, test_x, test_y, class_names)
