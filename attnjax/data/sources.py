"""Readers for the real image data sets the mosaics are built from.

Every loader returns an :class:`ImageSet`: float32 images in ``[0, 1]`` of shape
``[N, H, W, C]`` (channels last), int32 labels in ``[0, num_classes)`` and the
class names. Files are read in their official binary formats only (IDX for
MNIST-like data, the "binary version" of CIFAR-10/100); nothing is unpickled,
downloaded or cached.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, DataError

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_CLASSES",
    "CIFAR100_FINE_CLASSES",
    "CIFAR100_FINE_TO_COARSE",
    "CIFAR100_DEFAULT_SUPERCLASSES",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "IMAGE_SOURCES",
    "MNIST_CLASSES",
    "CoarseLabels",
    "ImageSet",
    "default_classes",
    "load_cifar10",
    "load_cifar100",
    "load_digits_images",
    "load_fashion_mnist",
    "load_idx_pair",
    "load_images",
    "load_mnist",
    "parse_classes",
    "read_idx",
]


# --------------------------------------------------------------------------
# Return types


class CoarseLabels(NamedTuple):
    """CIFAR-100's superclass labels, kept beside the fine labels.

    Attributes:
        train_labels: ``[N_train]`` int32 coarse label of each training image.
        test_labels: ``[N_test]`` int32 coarse label of each test image.
        class_names: the 20 superclass names, in label order.
        fine_to_coarse: ``[num_fine]`` int32 superclass of each fine class as
            seen in the files (-1 for a fine class no image has).
    """

    train_labels: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    fine_to_coarse: np.ndarray


class ImageSet(NamedTuple):
    """A labelled image data set with its official train/test split.

    Attributes:
        train_images: ``[N_train, H, W, C]`` float32 in ``[0, 1]``.
        train_labels: ``[N_train]`` int32 in ``[0, len(class_names))``.
        test_images: ``[N_test, H, W, C]`` float32 (``N_test`` may be 0).
        test_labels: ``[N_test]`` int32.
        class_names: the class names, in label order.
        coarse: CIFAR-100's superclass labels; None for every other set.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    coarse: CoarseLabels | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.train_images.shape[1:])


# --------------------------------------------------------------------------
# Class names

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
DIGITS_CLASSES: tuple[str, ...] = MNIST_CLASSES
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# CIFAR-100's 20 superclasses and the five fine classes in each (the table of
# the CIFAR web page). Label indices of both levels are alphabetical.
_CIFAR100_HIERARCHY: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_COARSE_CLASSES: tuple[str, ...] = tuple(sorted(_CIFAR100_HIERARCHY))
CIFAR100_FINE_CLASSES: tuple[str, ...] = tuple(
    sorted(fine for fines in _CIFAR100_HIERARCHY.values() for fine in fines)
)
_COARSE_OF_FINE_NAME = {
    fine: CIFAR100_COARSE_CLASSES.index(coarse)
    for coarse, fines in _CIFAR100_HIERARCHY.items()
    for fine in fines
}
CIFAR100_FINE_TO_COARSE: tuple[int, ...] = tuple(
    _COARSE_OF_FINE_NAME[fine] for fine in CIFAR100_FINE_CLASSES
)
# "The 50 classes in the animal and people superclasses."
CIFAR100_DEFAULT_SUPERCLASSES: tuple[str, ...] = (
    "aquatic_mammals",
    "fish",
    "insects",
    "large_carnivores",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
)
assert len(CIFAR100_COARSE_CLASSES) == 20
assert len(CIFAR100_FINE_CLASSES) == 100 == len(set(CIFAR100_FINE_CLASSES))

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
IMAGE_SOURCES: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100")


# --------------------------------------------------------------------------
# IDX files

# type code -> (big-endian dtype, description)
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


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def _fill(f, buffer: memoryview) -> int:
    """Read into ``buffer`` in bounded chunks; returns the number of bytes read."""
    pos = 0
    total = len(buffer)
    while pos < total:
        got = f.readinto(buffer[pos : min(pos + _CHUNK, total)])
        if not got:
            break
        pos += got
    return pos


def _count_rest(f) -> int:
    """Bytes left in a stream, counted without keeping them."""
    n = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return n
        n += len(chunk)


def _gzip_isize(path: str) -> int | None:
    """The uncompressed size mod 2**32 from a gzip trailer (last member only)."""
    try:
        size = os.path.getsize(path)
        if size < 18:
            return None
        with open(path, "rb") as f:
            f.seek(size - 4)
            return struct.unpack("<I", f.read(4))[0]
    except OSError:
        return None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or raw.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B
    short, 0x0C int, 0x0D float, 0x0E double), the number of dimensions and the
    dimensions as big-endian uint32; the big-endian data follows, and nothing
    after it. Compression is detected by the gzip magic bytes, not the name.

    Returns:
        The array in native byte order, with the header's shape and type.

    Raises:
        DataError: naming the file, when it is missing, unreadable, has a bad
            magic number or type code, no (or a zero) dimension, or fewer or
            more data bytes than its dimensions imply.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"IDX file {path} does not exist")
    try:
        gzipped = _is_gzip(path)
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            magic = _read_exact(f, 4)
            if len(magic) < 4:
                raise DataError(
                    f"IDX file {path} is truncated: {len(magic)} bytes, shorter than the "
                    "4-byte magic number"
                )
            if magic[0] != 0 or magic[1] != 0:
                raise DataError(
                    f"{path} is not an IDX file: magic number {magic.hex()} does not "
                    "start with two zero bytes"
                )
            code, ndim = magic[2], magic[3]
            if code not in _IDX_TYPES:
                known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
                raise DataError(
                    f"IDX file {path} has unknown type code 0x{code:02X} (known: {known})"
                )
            if ndim == 0:
                raise DataError(f"IDX file {path} declares zero dimensions")
            raw_dims = _read_exact(f, 4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(
                    f"IDX file {path} is truncated inside its header ({ndim} dimensions "
                    f"declared, {len(raw_dims) // 4} present)"
                )
            shape = struct.unpack(f">{ndim}I", raw_dims)
            if 0 in shape:
                raise DataError(f"IDX file {path} has a zero dimension: shape {shape}")
            dtype = _IDX_TYPES[code]
            count = math.prod(shape)  # Python ints: no overflow
            nbytes = count * dtype.itemsize
            header = 4 + 4 * ndim

            # Check the size before allocating, so a corrupt header cannot ask
            # for an absurd amount of memory.
            if not gzipped:
                actual = os.path.getsize(path) - header
            elif _gzip_isize(path) == (header + nbytes) % (1 << 32):
                actual = nbytes  # confirmed below while reading
            else:
                # No usable trailer (e.g. several gzip members): count the
                # decompressed bytes first, without keeping them.
                actual = _count_rest(f)
                if actual == nbytes:
                    f.seek(header)
            if actual != nbytes:
                _size_error(path, shape, dtype, nbytes, actual)

            data = np.empty(count, dtype=dtype)
            got = _fill(f, memoryview(data).cast("B"))
            if got < nbytes:
                _size_error(path, shape, dtype, nbytes, got)
            extra = _count_rest(f)
            if extra:
                _size_error(path, shape, dtype, nbytes, nbytes + extra)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from e

    if dtype.itemsize > 1 and not dtype.isnative:
        data = data.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return data.reshape(shape)


def _size_error(path, shape, dtype, expected: int, actual: int):
    what = "truncated" if actual < expected else "has trailing bytes"
    raise DataError(
        f"IDX file {path} {what}: shape {tuple(shape)} of {dtype.name} needs "
        f"{expected} data bytes, found {actual}"
    )


def _to_unit_float(images: np.ndarray, scale: float) -> np.ndarray:
    out = images.astype(np.float32)
    out /= np.float32(scale)
    return out


def load_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike, *, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels pair of IDX files (MNIST-like).

    Returns:
        ``images [N, H, W, 1]`` float32 in ``[0, 1]`` and ``labels [N]`` int32.

    Raises:
        DataError: naming the offending file, when the images are not an
            ``[N, H, W]`` ubyte array, the labels not an ``[N]`` ubyte array
            (same N), or a label is not below ``num_classes``.
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
    _check_labels(labels, num_classes, labels_path)
    return _to_unit_float(images, 255.0)[..., None], labels.astype(np.int32)


def _check_labels(labels: np.ndarray, num_classes: int, path: str, what: str = "label") -> None:
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(labels.max())
        where = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{path}: {what} {bad} (record {where}) is out of range; expected 0.."
            f"{num_classes - 1}"
        )


_IDX_STEMS = {
    "train_images": ("train-images", "idx3-ubyte"),
    "train_labels": ("train-labels", "idx1-ubyte"),
    "test_images": ("t10k-images", "idx3-ubyte"),
    "test_labels": ("t10k-labels", "idx1-ubyte"),
}


def _idx_candidates(key: str) -> list[str]:
    stem, kind = _IDX_STEMS[key]
    names = [f"{stem}-{kind}", f"{stem}.{kind}"]
    return [n + suffix for n in names for suffix in (".gz", "")]


def _find_idx_files(data_dir: str, missing_message) -> dict[str, str]:
    found = {}
    for key in _IDX_STEMS:
        for name in _idx_candidates(key):
            path = os.path.join(data_dir, name)
            if os.path.isfile(path):
                found[key] = path
                break
        else:
            tried = ", ".join(_idx_candidates(key))
            raise DataError(missing_message(f"no {tried} in {data_dir}"))
    return found


def _load_idx_set(data_dir: str, class_names: tuple[str, ...], missing_message) -> ImageSet:
    files = _find_idx_files(data_dir, missing_message)
    k = len(class_names)
    train_x, train_y = load_idx_pair(files["train_images"], files["train_labels"], num_classes=k)
    test_x, test_y = load_idx_pair(files["test_images"], files["test_labels"], num_classes=k)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{files['test_images']}: image size {test_x.shape[1:3]} differs from "
            f"{files['train_images']}'s {train_x.shape[1:3]}"
        )
    return ImageSet(train_x, train_y, test_x, test_y, class_names)


_STANDARD_IDX_FILES = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)"


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> ImageSet:
    """Fashion-MNIST: 60000 train / 10000 test images of shape 28x28x1.

    Arguments:
        data_dir: folder with the four IDX files; by default Debian's
            ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``,
            files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
            ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``).
    """
    data_dir = FASHION_MNIST_DIR if data_dir is None else os.fspath(data_dir)

    def missing(detail: str) -> str:
        return (
            f"Fashion-MNIST not found ({detail}); install it with "
            "`apt-get install dataset-fashion-mnist` (files go to "
            f"{FASHION_MNIST_DIR}) or pass --data-dir with a folder holding "
            f"{_STANDARD_IDX_FILES}"
        )

    if not os.path.isdir(data_dir):
        raise DataError(missing(f"{data_dir} is not a directory"))
    return _load_idx_set(data_dir, FASHION_MNIST_CLASSES, missing)


def load_mnist(data_dir: str | os.PathLike | None) -> ImageSet:
    """MNIST from a user folder holding the four standard IDX files.

    Accepts ``train-images-idx3-ubyte`` and ``train-images.idx3-ubyte`` style
    names, gzipped (``.gz``) or not.
    """

    def missing(detail: str) -> str:
        return (
            f"MNIST not found ({detail}); MNIST is not bundled and must be supplied "
            f"with --data-dir, a folder holding {_STANDARD_IDX_FILES} "
            "('train-images.idx3-ubyte' style names are accepted too)"
        )

    if data_dir is None:
        raise DataError(missing("no data directory given"))
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(missing(f"{data_dir} is not a directory"))
    return _load_idx_set(data_dir, MNIST_CLASSES, missing)


# --------------------------------------------------------------------------
# CIFAR binary version

_CIFAR_PIXELS = 32 * 32 * 3


def _cifar_dir(data_dir, subfolder: str, files: Sequence[str], missing) -> str:
    """The folder holding ``files``: ``data_dir`` itself or its ``subfolder``."""
    if data_dir is None:
        raise DataError(missing("no data directory given"))
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(missing(f"{data_dir} is not a directory"))
    for folder in (data_dir, os.path.join(data_dir, subfolder)):
        if all(os.path.isfile(os.path.join(folder, f)) for f in files):
            return folder
    for folder in (data_dir, os.path.join(data_dir, subfolder)):
        if any(os.path.isfile(os.path.join(folder, f)) for f in files):
            absent = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
            raise DataError(missing(f"{', '.join(absent)} missing from {folder}"))
    raise DataError(missing(f"none of the files in {data_dir} or {os.path.join(data_dir, subfolder)}"))


def _read_cifar_records(
    paths: Sequence[str], label_bytes: int, label_limits: Sequence[int], name: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read CIFAR binary batches into ``[N, 32, 32, 3]`` float32 plus label columns."""
    record = label_bytes + _CIFAR_PIXELS
    counts = []
    for path in paths:
        size = os.path.getsize(path)
        if size == 0 or size % record:
            raise DataError(
                f"{path} is truncated or not {name} binary: {size} bytes is not a "
                f"positive multiple of the {record}-byte record"
            )
        counts.append(size // record)
    total = sum(counts)
    images = np.empty((total, 32, 32, 3), dtype=np.float32)
    labels = [np.empty(total, dtype=np.int32) for _ in range(label_bytes)]
    start = 0
    for path, n in zip(paths, counts):
        try:
            raw = np.fromfile(path, dtype=np.uint8)
        except OSError as e:
            raise DataError(f"cannot read {name} file {path}: {e}") from e
        if raw.size != n * record:
            raise DataError(f"{path} is truncated or not {name} binary (size changed while reading)")
        raw = raw.reshape(n, record)
        for j, limit in enumerate(label_limits):
            what = ("coarse label", "fine label")[j] if label_bytes == 2 else "label"
            _check_labels(raw[:, j], limit, path, what)
            labels[j][start : start + n] = raw[:, j]
        # Pixels are stored as 1024 R, 1024 G, 1024 B values, each a row-major 32x32.
        pixels = raw[:, label_bytes:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
        np.divide(pixels, np.float32(255.0), out=images[start : start + n])
        start += n
    return images, labels


def _read_names(path: str, count: int) -> tuple[str, ...] | None:
    """Class names from a meta text file (one per line), or None if absent."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            names = tuple(line.strip() for line in f if line.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read class names from {path}: {e}") from e
    if len(names) != count:
        raise DataError(f"{path} lists {len(names)} class names; expected {count}")
    return names


_CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR10_TEST = "test_batch.bin"


def load_cifar10(data_dir: str | os.PathLike | None) -> ImageSet:
    """CIFAR-10 from its official binary version (50000 train / 10000 test, 32x32x3).

    Reads ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``
    from ``data_dir`` or its ``cifar-10-batches-bin`` subfolder; each record is
    one label byte then 3072 pixel bytes. Class names come from
    ``batches.meta.txt`` when present.
    """
    files = (*_CIFAR10_TRAIN, _CIFAR10_TEST)

    def missing(detail: str) -> str:
        return (
            f"CIFAR-10 not found ({detail}); supply the binary version (cifar-10-binary.tar.gz, "
            f"extracted) with --data-dir: a folder holding {', '.join(files)} or a "
            "cifar-10-batches-bin/ subfolder with them"
        )

    folder = _cifar_dir(data_dir, "cifar-10-batches-bin", files, missing)
    train_x, (train_y,) = _read_cifar_records(
        [os.path.join(folder, f) for f in _CIFAR10_TRAIN], 1, (10,), "CIFAR-10"
    )
    test_x, (test_y,) = _read_cifar_records(
        [os.path.join(folder, _CIFAR10_TEST)], 1, (10,), "CIFAR-10"
    )
    names = _read_names(os.path.join(folder, "batches.meta.txt"), 10) or CIFAR10_CLASSES
    return ImageSet(train_x, train_y, test_x, test_y, names)


def _fine_to_coarse(fine: np.ndarray, coarse: np.ndarray, path: str) -> np.ndarray:
    mapping = np.full(len(CIFAR100_FINE_CLASSES), -1, dtype=np.int32)
    pairs = np.unique(np.stack([fine, coarse], axis=1), axis=0)
    for f, c in pairs:
        if mapping[f] not in (-1, c):
            raise DataError(
                f"{path}: fine class {f} ({CIFAR100_FINE_CLASSES[f]}) appears with coarse "
                f"labels {mapping[f]} and {c}"
            )
        mapping[f] = c
    return mapping


def load_cifar100(data_dir: str | os.PathLike | None) -> ImageSet:
    """CIFAR-100 from its official binary version (50000 train / 10000 test, 32x32x3).

    Reads ``train.bin`` and ``test.bin`` from ``data_dir`` or its
    ``cifar-100-binary`` subfolder; each record is a coarse label byte, a fine
    label byte, then 3072 pixel bytes. The labels are the fine ones (0..99);
    the superclass labels are in ``coarse``. If ``fine_label_names.txt`` or
    ``coarse_label_names.txt`` is present it must agree with the standard names.
    """
    files = ("train.bin", "test.bin")

    def missing(detail: str) -> str:
        return (
            f"CIFAR-100 not found ({detail}); supply the binary version "
            "(cifar-100-binary.tar.gz, extracted) with --data-dir: a folder holding "
            "train.bin and test.bin or a cifar-100-binary/ subfolder with them"
        )

    folder = _cifar_dir(data_dir, "cifar-100-binary", files, missing)
    train_path, test_path = (os.path.join(folder, f) for f in files)
    train_x, (train_c, train_f) = _read_cifar_records([train_path], 2, (20, 100), "CIFAR-100")
    test_x, (test_c, test_f) = _read_cifar_records([test_path], 2, (20, 100), "CIFAR-100")
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


# --------------------------------------------------------------------------
# scikit-learn's digits


def load_digits_images() -> ImageSet:
    """scikit-learn's bundled 8x8 digits (1797 images) as an ImageSet.

    There is no official test split: every image is in train, and the test
    arrays are empty (``[0, 8, 8, 1]``). Pixel values 0..16 are scaled to [0, 1].
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = _to_unit_float(np.asarray(digits.images), 16.0)[..., None]
    labels = np.asarray(digits.target, dtype=np.int32)
    if images.shape[1:] != (8, 8, 1) or labels.shape != images.shape[:1]:
        raise DataError(f"scikit-learn's digits have unexpected shape {images.shape}")
    if images.min() < 0 or images.max() > 1 or labels.min() < 0 or labels.max() > 9:
        raise DataError("scikit-learn's digits have values outside 0..16 or labels outside 0..9")
    return ImageSet(
        images,
        labels,
        np.zeros((0, 8, 8, 1), dtype=np.float32),
        np.zeros((0,), dtype=np.int32),
        DIGITS_CLASSES,
    )


# --------------------------------------------------------------------------
# Class choices


def _normalise_source(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    aliases = {"fashion-mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
               "cifar-10": "cifar10", "cifar-100": "cifar100"}
    return aliases.get(key, key)


def default_classes(
    name: str,
    class_names: Sequence[str],
    coarse: CoarseLabels | Sequence[int] | np.ndarray | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The paper's default foreground and background classes of a data set.

    cifar10: airplane, automobile, bird vs the other 7. cifar100: the 50 fine
    classes of the animal and people superclasses vs the other 50. fashion-mnist,
    mnist, digits: classes 0, 1, 2 vs the rest.

    Arguments:
        name: the data set's name (as for :func:`load_images`).
        class_names: its class names, in label order.
        coarse: for cifar100, the :class:`CoarseLabels` read from the files (or
            just their ``fine_to_coarse`` array); when given, it must agree with
            the standard fine-to-superclass mapping.

    Returns:
        ``(fg_ids, bg_ids)``, sorted tuples of class ids.

    Raises:
        ConfigError: unknown name, or class names that do not fit the data set.
        DataError: coarse labels that disagree with the standard mapping.
    """
    key = _normalise_source(name)
    k = len(class_names)
    if key == "cifar100":
        if tuple(class_names) != CIFAR100_FINE_CLASSES:
            raise ConfigError(
                "cifar100's default classes need the 100 standard fine class names in "
                f"order; got {k} names"
            )
        if coarse is not None:
            mapping = coarse.fine_to_coarse if isinstance(coarse, CoarseLabels) else coarse
            mapping = np.asarray(mapping).reshape(-1)
            if mapping.shape != (k,):
                raise DataError(
                    f"CIFAR-100 coarse mapping has {mapping.size} entries; expected {k}"
                )
            for f in range(k):
                c = int(mapping[f])
                if c >= 0 and c != CIFAR100_FINE_TO_COARSE[f]:
                    raise DataError(
                        f"CIFAR-100 files put fine class {f} ({class_names[f]}) in superclass "
                        f"{c} ({_name_or(CIFAR100_COARSE_CLASSES, c)}); the standard "
                        f"superclass is {CIFAR100_FINE_TO_COARSE[f]} "
                        f"({CIFAR100_COARSE_CLASSES[CIFAR100_FINE_TO_COARSE[f]]})"
                    )
        chosen = {CIFAR100_COARSE_CLASSES.index(s) for s in CIFAR100_DEFAULT_SUPERCLASSES}
        fg = tuple(f for f in range(k) if CIFAR100_FINE_TO_COARSE[f] in chosen)
        assert len(fg) == 50, len(fg)
    elif key == "cifar10":
        if k != 10:
            raise ConfigError(f"cifar10 has 10 classes; got {k} class names")
        fg = (0, 1, 2)
    elif key in ("fashion-mnist", "mnist", "digits"):
        if k < 4:
            raise ConfigError(f"{key} needs at least 4 classes for its default split; got {k}")
        fg = (0, 1, 2)
    else:
        raise ConfigError(f"unknown image data set {name!r}; valid: {', '.join(IMAGE_SOURCES)}")
    bg = tuple(i for i in range(k) if i not in fg)
    return fg, bg


def _name_or(names: Sequence[str], i: int) -> str:
    return names[i] if 0 <= i < len(names) else "?"


def _key(s: str) -> str:
    return " ".join(s.replace("_", " ").split()).casefold()


def _valid_list(class_names: Sequence[str], limit: int = 12) -> str:
    k = len(class_names)
    shown = [f"{i}={n}" for i, n in enumerate(class_names)]
    if k > limit:
        shown = shown[: limit - 2] + ["...", f"{k - 1}={class_names[-1]}"]
    return f"ids 0..{k - 1} or names: " + ", ".join(shown)


def parse_classes(spec: str, class_names: Sequence[str]) -> tuple[int, ...]:
    """Parse a ``--fg``/``--bg`` option: comma-separated class names or ids.

    Names match case-insensitively, with ``_`` and spaces interchangeable
    (``"ankle boot"``, ``"Ankle_Boot"``); a name wins over an id for names that
    look like numbers (MNIST's ``"0".."9"``, which are their ids anyway).

    Returns:
        The class ids in the order given.

    Raises:
        ConfigError: empty spec or entry, unknown name, out-of-range id, or a
            class named twice; the message lists the valid choices.
    """
    if spec is None or not str(spec).strip():
        raise ConfigError(f"empty class list; give {_valid_list(class_names)}")
    by_name: dict[str, int] = {}
    for i, n in enumerate(class_names):
        by_name.setdefault(_key(n), i)
    ids: list[int] = []
    for raw in str(spec).split(","):
        entry = raw.strip()
        if not entry:
            raise ConfigError(
                f"empty entry in class list {spec!r}; give {_valid_list(class_names)}"
            )
        if _key(entry) in by_name:
            i = by_name[_key(entry)]
        else:
            try:
                i = int(entry)
            except ValueError:
                raise ConfigError(
                    f"unknown class {entry!r} in {spec!r}; valid: {_valid_list(class_names)}"
                ) from None
            if not 0 <= i < len(class_names):
                raise ConfigError(
                    f"class id {entry!r} in {spec!r} is out of range; valid: "
                    f"{_valid_list(class_names)}"
                )
        if i in ids:
            raise ConfigError(
                f"class {entry!r} ({i}={class_names[i]}) is given twice in {spec!r}"
            )
        ids.append(i)
    return tuple(ids)


# --------------------------------------------------------------------------
# Dispatcher


def load_images(name: str, data_dir: str | os.PathLike | None = None) -> ImageSet:
    """Load one of ``IMAGE_SOURCES`` by name.

    ``data_dir`` is required for mnist, cifar10 and cifar100, optional for
    fashion-mnist (default: Debian's package folder) and ignored for digits.
    """
    key = _normalise_source(name)
    if key == "digits":
        return load_digits_images()
    if key == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if key == "mnist":
        return load_mnist(data_dir)
    if key == "cifar10":
        return load_cifar10(data_dir)
    if key == "cifar100":
        return load_cifar100(data_dir)
    raise ConfigError(f"unknown image data set {name!r}; valid: {', '.join(IMAGE_SOURCES)}")
