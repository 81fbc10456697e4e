"""Tests of the real-image readers (IDX, CIFAR binary, digits, class choices).

Test files are written byte by byte from the format specs here, independently
of the reader.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from attnjax.data import DATASETS
from attnjax.data import cifar, classes, idx, sources
from attnjax.data.base import ImageSet
from attnjax.data.sources import FASHION_MNIST_DIR as FASHION_DIR
from attnjax.errors import ConfigError, DataError

# The public fine -> coarse table of CIFAR-100 (fine ids in alphabetical order),
# as commonly published; an independent check of the hierarchy in classes.py.
REFERENCE_FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]


# --------------------------------------------------------------------------
# Writers (independent of the reader)

_CODES = {"u1": (0x08, ">B"), "i1": (0x09, ">b"), "i2": (0x0B, ">h"),
          "i4": (0x0C, ">i"), "f4": (0x0D, ">f"), "f8": (0x0E, ">d")}


def idx_bytes(values, kind: str = "u1") -> bytes:
    """An IDX file: 0, 0, type code, ndim, dims (>u4), data (big-endian)."""
    arr = np.asarray(values)
    code, fmt = _CODES[kind]
    out = bytes([0, 0, code, arr.ndim])
    out += b"".join(struct.pack(">I", d) for d in arr.shape)
    out += b"".join(struct.pack(fmt, v) for v in arr.reshape(-1).tolist())
    return out


def write(path, data: bytes, gz: bool = False) -> str:
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)
    return str(path)


def write_mnist_dir(folder, n_train=6, n_test=4, h=3, w=2, num_classes=10,
                    dotted=False, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, h, w)),
        "train-labels": np.arange(n_train) % num_classes,
        "t10k-images": rng.integers(0, 256, (n_test, h, w)),
        "t10k-labels": (np.arange(n_test) + 3) % num_classes,
    }
    os.makedirs(folder, exist_ok=True)
    for stem, arr in arrays.items():
        kind = "idx3-ubyte" if arr.ndim == 3 else "idx1-ubyte"
        name = f"{stem}{'.' if dotted else '-'}{kind}" + (".gz" if gz else "")
        write(os.path.join(folder, name), idx_bytes(arr), gz=gz)
    return arrays


def cifar_bytes(labels, pixels) -> bytes:
    """Records: label byte(s) then 3072 pixel bytes (R plane, G plane, B plane)."""
    out = bytearray()
    for lab, img in zip(labels, pixels):  # img: [32, 32, 3] uint8
        out += bytes(int(x) for x in np.atleast_1d(lab))
        for ch in range(3):
            for row in range(32):
                out += bytes(int(v) for v in img[row, :, ch])
    return bytes(out)


def random_pixels(rng, n):
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def write_cifar10_dir(folder, per_batch=2, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    train_px, train_lab = [], []
    for b in range(1, 6):
        px = random_pixels(rng, per_batch)
        lab = rng.integers(0, 10, per_batch)
        write(os.path.join(folder, f"data_batch_{b}.bin"), cifar_bytes(lab, px))
        train_px.append(px)
        train_lab.append(lab)
    test_px = random_pixels(rng, n_test)
    test_lab = rng.integers(0, 10, n_test)
    write(os.path.join(folder, "test_batch.bin"), cifar_bytes(test_lab, test_px))
    return np.concatenate(train_px), np.concatenate(train_lab), test_px, test_lab


def write_cifar100_dir(folder, fine_train, fine_test, coarse_of=None, seed=0):
    coarse_of = REFERENCE_FINE_TO_COARSE if coarse_of is None else coarse_of
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name, fine in (("train", fine_train), ("test", fine_test)):
        fine = np.asarray(fine)
        coarse = np.asarray([coarse_of[f] for f in fine])
        px = random_pixels(rng, len(fine))
        write(os.path.join(folder, f"{name}.bin"),
              cifar_bytes(np.stack([coarse, fine], axis=1), px))
        out[name] = (px, coarse, fine)
    return out


# --------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", list(_CODES))
def test_read_idx_round_trip_every_type(tmp_path, kind, gz):
    rng = np.random.default_rng(1)
    if kind == "u1":
        values = rng.integers(0, 256, (3, 4, 5))
    elif kind == "i1":
        values = rng.integers(-128, 128, (3, 4))
    elif kind == "i2":
        values = rng.integers(-(2**15), 2**15, (7,))
    elif kind == "i4":
        values = rng.integers(-(2**31), 2**31, (2, 3))
    else:
        values = rng.standard_normal((2, 2, 2)).astype(np.float32 if kind == "f4" else np.float64)
    path = write(tmp_path / "a.idx", idx_bytes(values, kind), gz=gz)
    out = idx.read_idx(path)
    assert out.dtype == np.dtype(kind).newbyteorder("=")
    assert out.dtype.isnative
    assert out.shape == values.shape
    np.testing.assert_array_equal(out, values.astype(out.dtype))


def test_read_idx_detects_gzip_by_magic_not_name(tmp_path):
    values = np.arange(12).reshape(3, 4)
    gz_no_suffix = write(tmp_path / "plain-name", idx_bytes(values), gz=True)
    raw_gz_suffix = write(tmp_path / "raw.gz", idx_bytes(values), gz=False)
    np.testing.assert_array_equal(idx.read_idx(gz_no_suffix), values)
    np.testing.assert_array_equal(idx.read_idx(raw_gz_suffix), values)


def test_read_idx_multi_member_gzip(tmp_path):
    values = np.arange(40).reshape(4, 10)
    data = idx_bytes(values)
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(data[:17]) + gzip.compress(data[17:]))
    np.testing.assert_array_equal(idx.read_idx(path), values)


def _expect_data_error(path, *words):
    with pytest.raises(DataError) as info:
        idx.read_idx(path)
    msg = str(info.value)
    assert os.path.basename(str(path)) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_malformed(tmp_path, gz):
    good = idx_bytes(np.arange(24).reshape(2, 3, 4))
    cases = {
        "badmagic0": (b"\x01" + good[1:], ["zero bytes"]),
        "badmagic1": (good[:1] + b"\x07" + good[2:], ["zero bytes"]),
        "badtype": (good[:2] + b"\x0a" + good[3:], ["0x0A"]),
        "zerodims": (b"\x00\x00\x08\x00", ["zero dimensions"]),
        "zerodim": (bytes([0, 0, 8, 2]) + struct.pack(">II", 0, 3), ["zero dimension"]),
        "truncated": (good[:-1], ["truncated"]),
        "header-truncated": (good[:9], ["truncated"]),
        "short-magic": (good[:3], ["truncated"]),
        "trailing": (good + b"\x00", ["trailing"]),
    }
    for name, (data, words) in cases.items():
        path = write(tmp_path / f"{name}.idx{'.gz' if gz else ''}", data, gz=gz)
        _expect_data_error(path, *words)


def test_read_idx_huge_header_is_rejected_before_allocating(tmp_path):
    data = bytes([0, 0, 0x0E, 3]) + struct.pack(">III", 2**31, 2**31, 2**31) + b"\x00" * 8
    for gz in (False, True):
        path = write(tmp_path / f"huge{gz}", data, gz=gz)
        _expect_data_error(path, "truncated")


def test_read_idx_missing_and_corrupt_gzip(tmp_path):
    _expect_data_error(tmp_path / "nope-idx1-ubyte", "does not exist")
    blob = gzip.compress(idx_bytes(np.arange(1000) % 256))
    path = write(tmp_path / "cut.gz", blob[: len(blob) // 2])
    _expect_data_error(path)


# --------------------------------------------------------------------------
# load_idx_pair, MNIST, Fashion-MNIST


def test_load_idx_pair_round_trip(tmp_path):
    imgs = np.array([[[0, 255], [128, 1]], [[2, 3], [4, 5]], [[9, 8], [7, 6]]])
    labs = np.array([0, 2, 1])
    ip = write(tmp_path / "i", idx_bytes(imgs))
    lp = write(tmp_path / "l", idx_bytes(labs), gz=True)
    x, y = idx.load_idx_pair(ip, lp, num_classes=3)
    assert x.shape == (3, 2, 2, 1) and x.dtype == np.float32
    assert y.dtype == np.int32
    np.testing.assert_array_equal(x[..., 0], imgs.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, labs)
    assert x.min() == 0.0 and x.max() == 1.0


def test_load_idx_pair_errors_name_the_file(tmp_path):
    imgs = idx_bytes(np.zeros((3, 2, 2), dtype=int))
    ip = write(tmp_path / "imgs-idx3", imgs)
    cases = [
        ("count-mismatch-labels", ip, idx_bytes(np.array([0, 1])), "count-mismatch-labels"),
        ("range-labels", ip, idx_bytes(np.array([0, 1, 3])), "range-labels"),
        ("2d-labels", ip, idx_bytes(np.zeros((3, 1), dtype=int)), "2d-labels"),
        ("int-labels", ip, idx_bytes(np.array([0, 1, 2]), "i4"), "int-labels"),
    ]
    for name, images_path, label_data, must in cases:
        lp = write(tmp_path / name, label_data)
        with pytest.raises(DataError, match=must):
            idx.load_idx_pair(images_path, lp, num_classes=3)
    good_labels = write(tmp_path / "good-labels", idx_bytes(np.array([0, 1, 2])))
    flat = write(tmp_path / "flat-images", idx_bytes(np.zeros((3, 4), dtype=int)))
    with pytest.raises(DataError, match="flat-images"):
        idx.load_idx_pair(flat, good_labels, num_classes=3)
    floats = write(tmp_path / "float-images", idx_bytes(np.zeros((3, 2, 2)), "f4"))
    with pytest.raises(DataError, match="float-images"):
        idx.load_idx_pair(floats, good_labels, num_classes=3)


@pytest.mark.parametrize("dotted,gz", [(False, True), (True, False), (False, False), (True, True)])
def test_load_mnist_names_and_values(tmp_path, dotted, gz):
    arrays = write_mnist_dir(tmp_path, dotted=dotted, gz=gz)
    data = sources.load_mnist(tmp_path)
    assert isinstance(data, ImageSet)
    assert data.class_names == tuple(str(i) for i in range(10))
    assert data.train_images.shape == (6, 3, 2, 1)
    assert data.test_images.shape == (4, 3, 2, 1)
    np.testing.assert_array_equal(
        data.train_images[..., 0] * 255, arrays["train-images"].astype(np.float32)
    )
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels"])
    assert data.coarse is None


def test_load_mnist_missing(tmp_path):
    with pytest.raises(DataError, match="in a data folder holding") as info:
        sources.load_mnist(None)
    assert "train-images-idx3-ubyte" in str(info.value) and info.value.field == "data_dir"
    with pytest.raises(DataError, match="in a data folder holding") as info:
        sources.load_mnist(tmp_path / "absent")
    assert info.value.field == "data_dir"
    write_mnist_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        sources.load_mnist(tmp_path)


def test_load_mnist_bad_label_file_named(tmp_path):
    write_mnist_dir(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.array([0, 1, 2, 3, 4, 10])), gz=True)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        sources.load_mnist(tmp_path)


def test_fashion_mnist_missing_dir_says_how_to_install(tmp_path):
    with pytest.raises(DataError) as info:
        sources.load_fashion_mnist(tmp_path / "absent")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "or give a data folder holding" in str(info.value) and info.value.field == "data_dir"
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        sources.load_fashion_mnist(tmp_path)  # exists but empty
    assert info.value.field == "data_dir"


def test_fashion_mnist_from_custom_dir(tmp_path):
    write_mnist_dir(tmp_path)
    data = sources.load_fashion_mnist(tmp_path)
    assert data.class_names == classes.FASHION_MNIST_CLASSES
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


@pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"{FASHION_DIR} missing (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_real_debian_files():
    data = sources.load_fashion_mnist()
    assert data.train_images.shape == (60000, 28, 28, 1)
    assert data.test_images.shape == (10000, 28, 28, 1)
    assert data.train_images.dtype == np.float32 and data.train_labels.dtype == np.int32
    assert 0.0 <= data.train_images.min() and data.train_images.max() <= 1.0
    assert data.train_images.max() == 1.0
    np.testing.assert_array_equal(np.bincount(data.train_labels, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(data.test_labels, minlength=10), [1000] * 10)
    assert data.class_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )
    assert sources.load_images("fashion-mnist").train_images.shape == (60000, 28, 28, 1)


# --------------------------------------------------------------------------
# CIFAR-10


@pytest.mark.parametrize("sub", ["", "cifar-10-batches-bin"])
def test_cifar10_round_trip(tmp_path, sub):
    train_px, train_lab, test_px, test_lab = write_cifar10_dir(tmp_path / sub if sub else tmp_path)
    data = cifar.load_cifar10(tmp_path)
    assert data.train_images.shape == (10, 32, 32, 3) and data.train_images.dtype == np.float32
    assert data.test_images.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(data.train_images, train_px.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(data.test_images, test_px.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(data.train_labels, train_lab)
    np.testing.assert_array_equal(data.test_labels, test_lab)
    assert data.train_labels.dtype == np.int32
    assert data.class_names == classes.CIFAR10_CLASSES


def test_cifar10_channel_layout(tmp_path):
    # One record: R plane all 10, G plane the row index, B plane the column index.
    rec = bytes([7]) + bytes([10] * 1024)
    rec += bytes(r for r in range(32) for _ in range(32))
    rec += bytes(c for _ in range(32) for c in range(32))
    for b in range(1, 6):
        write(tmp_path / f"data_batch_{b}.bin", rec)
    write(tmp_path / "test_batch.bin", rec)
    img = cifar.load_cifar10(tmp_path).train_images[0] * 255
    np.testing.assert_allclose(img[:, :, 0], 10, atol=1e-4)
    np.testing.assert_allclose(img[5, :, 1], 5, atol=1e-4)
    np.testing.assert_allclose(img[:, 9, 2], 9, atol=1e-4)


def test_cifar10_meta_names(tmp_path):
    write_cifar10_dir(tmp_path)
    names = [f"c{i}" for i in range(10)]
    (tmp_path / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    assert cifar.load_cifar10(tmp_path).class_names == tuple(names)
    (tmp_path / "batches.meta.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="batches.meta.txt"):
        cifar.load_cifar10(tmp_path)


def test_cifar10_errors(tmp_path):
    write_cifar10_dir(tmp_path)
    p = tmp_path / "data_batch_3.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DataError, match="data_batch_3.bin.*truncated or not CIFAR-10 binary"):
        cifar.load_cifar10(tmp_path)
    write_cifar10_dir(tmp_path)
    p = tmp_path / "test_batch.bin"
    p.write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(DataError, match="test_batch.bin.*out of range"):
        cifar.load_cifar10(tmp_path)
    os.remove(tmp_path / "data_batch_5.bin")
    with pytest.raises(DataError, match="data_batch_5.bin"):
        cifar.load_cifar10(tmp_path)
    for folder in (None, tmp_path / "empty-nowhere"):
        with pytest.raises(DataError, match="in a data folder: one holding") as info:
            cifar.load_cifar10(folder)
        assert info.value.field == "data_dir"


# --------------------------------------------------------------------------
# CIFAR-100


def test_cifar100_names_and_hierarchy():
    brief = (
        "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge "
        "bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud "
        "cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl "
        "hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man "
        "maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
        "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road "
        "rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar "
        "sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip "
        "turtle wardrobe whale willow_tree wolf woman worm"
    ).split()
    assert len(brief) == 100
    assert classes.CIFAR100_FINE_CLASSES == tuple(brief)
    assert len(classes.CIFAR100_COARSE_CLASSES) == 20
    assert classes.CIFAR100_COARSE_CLASSES[0] == "aquatic_mammals"
    assert classes.CIFAR100_COARSE_CLASSES[-1] == "vehicles_2"
    assert list(classes.CIFAR100_FINE_TO_COARSE) == REFERENCE_FINE_TO_COARSE
    assert np.bincount(classes.CIFAR100_FINE_TO_COARSE).tolist() == [5] * 20


def test_cifar100_round_trip_and_default_classes(tmp_path):
    fine_train = np.repeat(np.arange(100), 2)
    fine_test = np.arange(100)[::-1]
    written = write_cifar100_dir(tmp_path / "cifar-100-binary", fine_train, fine_test)
    data = cifar.load_cifar100(tmp_path)
    px, coarse, fine = written["train"]
    np.testing.assert_array_equal(data.train_images, px.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(data.train_labels, fine)
    np.testing.assert_array_equal(data.test_labels, fine_test)
    assert data.class_names == classes.CIFAR100_FINE_CLASSES
    assert data.coarse is not None
    np.testing.assert_array_equal(data.coarse.train_labels, coarse)
    np.testing.assert_array_equal(data.coarse.test_labels, written["test"][1])
    assert data.coarse.class_names == classes.CIFAR100_COARSE_CLASSES
    np.testing.assert_array_equal(data.coarse.fine_to_coarse, REFERENCE_FINE_TO_COARSE)

    fg, bg = classes.default_classes("cifar100", data.class_names, data.coarse)
    assert len(fg) == 50 and len(bg) == 50 and not set(fg) & set(bg)
    assert sorted(fg + bg) == list(range(100))
    animal_people = {"aquatic_mammals", "fish", "insects", "large_carnivores",
                     "large_omnivores_and_herbivores", "medium_mammals",
                     "non-insect_invertebrates", "reptiles", "small_mammals", "people"}
    for f in fg:
        assert classes.CIFAR100_COARSE_CLASSES[REFERENCE_FINE_TO_COARSE[f]] in animal_people
    for f in bg:
        assert classes.CIFAR100_COARSE_CLASSES[REFERENCE_FINE_TO_COARSE[f]] not in animal_people
    names = {data.class_names[f] for f in fg}
    assert {"baby", "woman", "trout", "whale", "worm", "bee"} <= names
    assert not {"apple", "tractor", "oak_tree", "bed"} & names
    # With real data every fine class has 500 training images: 25000 fg images.
    assert np.isin(data.train_labels, fg).sum() == 50 * 2


def test_cifar100_coarse_disagreement(tmp_path):
    wrong = list(REFERENCE_FINE_TO_COARSE)
    wrong[0] = 5  # apple is fruit_and_vegetables (4), not household_furniture
    write_cifar100_dir(tmp_path, np.arange(100), np.arange(100), coarse_of=wrong)
    data = cifar.load_cifar100(tmp_path)
    with pytest.raises(DataError, match="apple"):
        classes.default_classes("cifar100", data.class_names, data.coarse)
    with pytest.raises(DataError, match="apple"):
        classes.default_classes("cifar100", data.class_names, data.coarse.fine_to_coarse)


def test_cifar100_errors(tmp_path):
    write_cifar100_dir(tmp_path, np.arange(4), np.arange(3))
    p = tmp_path / "train.bin"
    p.write_bytes(p.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="train.bin.*truncated or not CIFAR-100 binary"):
        cifar.load_cifar100(tmp_path)
    write(p, bytes([20, 3]) + bytes(3072))
    with pytest.raises(DataError, match="train.bin.*coarse label 20"):
        cifar.load_cifar100(tmp_path)
    write(p, bytes([3, 100]) + bytes(3072))
    with pytest.raises(DataError, match="train.bin.*fine label 100"):
        cifar.load_cifar100(tmp_path)
    # one fine class with two superclasses
    write(p, bytes([4, 0]) + bytes(3072) + bytes([5, 0]) + bytes(3072))
    with pytest.raises(DataError, match="train.bin"):
        cifar.load_cifar100(tmp_path)
    os.remove(tmp_path / "test.bin")
    with pytest.raises(DataError, match="test.bin"):
        cifar.load_cifar100(tmp_path)
    with pytest.raises(DataError, match="in a data folder: one holding") as info:
        cifar.load_cifar100(None)
    assert info.value.field == "data_dir"


def test_cifar100_meta_names_checked(tmp_path):
    write_cifar100_dir(tmp_path, np.arange(3), np.arange(3))
    (tmp_path / "fine_label_names.txt").write_text("\n".join(classes.CIFAR100_FINE_CLASSES) + "\n")
    (tmp_path / "coarse_label_names.txt").write_text("\n".join(classes.CIFAR100_COARSE_CLASSES) + "\n")
    cifar.load_cifar100(tmp_path)
    swapped = list(classes.CIFAR100_FINE_CLASSES)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    (tmp_path / "fine_label_names.txt").write_text("\n".join(swapped))
    with pytest.raises(DataError, match="fine_label_names.txt"):
        cifar.load_cifar100(tmp_path)


# --------------------------------------------------------------------------
# digits, dispatcher, default classes, parse_classes


def test_digits():
    data = sources.load_images("digits")
    assert data.train_images.shape == (1797, 8, 8, 1) and data.train_images.dtype == np.float32
    assert data.test_images.shape == (0, 8, 8, 1) and data.test_labels.shape == (0,)
    assert data.train_images.min() == 0.0 and data.train_images.max() == 1.0
    assert set(np.unique(data.train_labels)) == set(range(10))
    from sklearn.datasets import load_digits

    np.testing.assert_allclose(data.train_images[..., 0] * 16, load_digits().images, atol=1e-5)


def test_load_images_dispatch(tmp_path):
    write_mnist_dir(tmp_path / "m")
    assert sources.load_images("mnist", tmp_path / "m").train_images.shape == (6, 3, 2, 1)
    write_cifar10_dir(tmp_path / "c")
    assert sources.load_images("cifar10", tmp_path / "c").train_images.shape == (10, 32, 32, 3)
    with pytest.raises(ConfigError) as info:
        sources.load_images("imagenet")
    for name in IMAGE_SETS:
        assert name in str(info.value)
    with pytest.raises(DataError):
        sources.load_images("cifar100", None)


IMAGE_SETS = [name for name in DATASETS if name not in ("orthogonal", "text", "bags")]  # text: tokens; bags: your file


@pytest.mark.parametrize("name", IMAGE_SETS)
def test_every_image_set_of_datasets_has_a_loader_and_default_split(tmp_path, name):
    write_mnist_dir(tmp_path)  # what fashion-mnist and mnist read; the CIFARs find nothing
    try:
        data = sources.load_images(name, tmp_path)
    except DataError as e:
        assert name.startswith("cifar") and "in a data folder" in str(e) and e.field == "data_dir"
        names = classes.CIFAR10_CLASSES if name == "cifar10" else classes.CIFAR100_FINE_CLASSES
    else:
        names = data.class_names
    fg, bg = classes.default_classes(name, names)
    assert fg and bg and sorted(fg + bg) == list(range(len(names)))


@pytest.mark.parametrize("alias", ["Digits", "fashion_mnist", "fashionmnist", "cifar-10"])
def test_names_outside_datasets_are_unknown(alias):
    with pytest.raises(ConfigError, match="unknown"):
        sources.load_images(alias)
    with pytest.raises(ConfigError, match="unknown"):
        classes.default_classes(alias, classes.MNIST_CLASSES)


def test_default_classes_small_sets():
    assert classes.default_classes("cifar10", classes.CIFAR10_CLASSES) == ((0, 1, 2), tuple(range(3, 10)))
    for name, names in (("fashion-mnist", classes.FASHION_MNIST_CLASSES),
                        ("mnist", classes.MNIST_CLASSES), ("digits", classes.DIGITS_CLASSES)):
        assert classes.default_classes(name, names) == ((0, 1, 2), tuple(range(3, 10)))
    assert classes.default_classes("cifar100", classes.CIFAR100_FINE_CLASSES)[0] == \
        classes.default_classes("cifar100", classes.CIFAR100_FINE_CLASSES, REFERENCE_FINE_TO_COARSE)[0]
    with pytest.raises(ConfigError):
        classes.default_classes("svhn", classes.MNIST_CLASSES)
    with pytest.raises(ConfigError):
        classes.default_classes("cifar10", classes.MNIST_CLASSES[:5])
    with pytest.raises(ConfigError):
        classes.default_classes("cifar100", classes.CIFAR10_CLASSES)


def test_parse_classes():
    names = classes.CIFAR10_CLASSES
    assert classes.parse_classes("0,1,2", names) == (0, 1, 2)
    assert classes.parse_classes("airplane, bird", names) == (0, 2)
    assert classes.parse_classes(" Bird ,9", names) == (2, 9)
    assert classes.parse_classes("ankle boot,T-shirt/top", classes.FASHION_MNIST_CLASSES) == (9, 0)
    assert classes.parse_classes("sweet pepper,Maple_Tree", classes.CIFAR100_FINE_CLASSES) == (83, 47)
    assert classes.parse_classes("7,0", classes.MNIST_CLASSES) == (7, 0)

    with pytest.raises(ConfigError, match="'zebra'.*airplane"):
        classes.parse_classes("airplane,zebra", names)
    with pytest.raises(ConfigError, match="'10'.*out of range"):
        classes.parse_classes("1,10", names)
    with pytest.raises(ConfigError, match="'-1'"):
        classes.parse_classes("-1", names)
    with pytest.raises(ConfigError, match="empty"):
        classes.parse_classes("", names)
    with pytest.raises(ConfigError, match="empty"):
        classes.parse_classes("  ", names)
    with pytest.raises(ConfigError, match="empty"):
        classes.parse_classes("1,,2", names)
    with pytest.raises(ConfigError, match="twice"):
        classes.parse_classes("1,2,1", names)
    with pytest.raises(ConfigError, match="twice"):
        classes.parse_classes("0,airplane", names)
    with pytest.raises(ConfigError) as info:
        classes.parse_classes("unicorn", classes.CIFAR100_FINE_CLASSES)
    msg = str(info.value)
    assert "..." in msg and "0..99" in msg and "worm" in msg and "lion" not in msg
    assert len(msg) < 400
