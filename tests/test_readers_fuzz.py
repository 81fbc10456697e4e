"""Seeded mutations of small IDX and CIFAR files: a reader either raises
DataError or returns what the (mutated) bytes say, and never allocates from a
declared size (a MemoryError or any other exception fails).

The valid files are written byte by byte here; what a load must return is
worked out from the mutated bytes with the format specs, not with the reader.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import time
import zlib

import numpy as np
import pytest

from attnjax.data import cifar, idx
from attnjax.errors import DataError

# IDX type code -> big-endian NumPy dtype, and struct format
IDX_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
STRUCT = {0x08: ">B", 0x09: ">b", 0x0B: ">h", 0x0C: ">i", 0x0D: ">f", 0x0E: ">d"}
RECORD10, RECORD100 = 1 + 3072, 2 + 3072
# Fine class -> superclass for the fine classes the CIFAR-100 files below use.
COARSE_OF = {0: 4, 1: 1, 2: 14, 3: 8, 99: 13}


def idx_file(code: int, shape, values) -> bytes:
    out = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return out + b"".join(struct.pack(STRUCT[code], v) for v in values)


VALID_IDX = {
    "images": idx_file(0x08, (3, 4, 5), [(7 * i) % 256 for i in range(60)]),
    "labels": idx_file(0x08, (3,), [2, 0, 9]),
    "shorts": idx_file(0x0B, (2, 3), [-300, 0, 1, 2, 32767, -32768]),
    "doubles": idx_file(0x0E, (2,), [1.5, -0.25]),
}


def mutate(rng: np.random.Generator, data: bytes, header: int) -> tuple[bytes, str]:
    """One random change: a byte flip, deletion, cut or extension, or a header field."""
    data = bytearray(data)
    op = rng.integers(6)
    if op == 0:  # flip a byte, most often in the header
        pos = int(rng.integers(min(header, len(data)) if rng.random() < 0.6 else len(data)))
        data[pos] ^= int(rng.integers(1, 256))
        return bytes(data), f"flip byte {pos}"
    if op == 1:
        cut = int(rng.integers(len(data)))
        return bytes(data[:cut]), f"truncate to {cut}"
    if op == 2:
        extra = int(rng.integers(1, 40))
        return bytes(data) + rng.bytes(extra), f"extend by {extra}"
    if op == 3:  # a 4-byte field (an IDX dimension) set to a small, power-of-2 or any value
        pos = 4 * int(rng.integers(1, max(2, header // 4)))
        value = int(rng.choice([rng.integers(0, 8), 2 ** int(rng.integers(0, 32)),
                                rng.integers(0, 2**32)]))
        data[pos : pos + 4] = struct.pack(">I", value)
        return bytes(data), f"field at {pos} = {value}"
    if op == 4:  # IDX type code or dimension count
        pos = int(rng.integers(2, 4))
        data[pos] = int(rng.integers(0, 256))
        return bytes(data), f"byte {pos} = {data[pos]}"
    pos = int(rng.integers(len(data)))
    del data[pos]
    return bytes(data), f"delete byte {pos}"


def expected_idx(data: bytes):
    """The array the IDX spec gives for these bytes, or None where they are invalid."""
    if len(data) < 4 or data[0] or data[1] or data[2] not in IDX_CODES:
        return None
    ndim = data[3]
    if not 1 <= ndim <= 32 or len(data) < 4 + 4 * ndim:  # the reader reads up to 32 dimensions
        return None
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_CODES[data[2]])
    body = data[4 + 4 * ndim :]
    if 0 in shape or len(body) != math.prod(shape) * dtype.itemsize:
        return None
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def check_idx(path: str, expected) -> bool:
    """True if the file loads (as ``expected`` says it must); False on DataError."""
    try:
        out = idx.read_idx(path)
    except DataError:
        assert expected is None, "a valid file was refused"
        return False
    assert expected is not None, "an invalid file was accepted"
    assert out.shape == expected.shape and out.dtype.isnative
    assert out.astype(expected.dtype).tobytes() == expected.tobytes()
    return True


def run_idx_mutations(tmp_path, count: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    outcomes = {"DataError": 0, "accepted": 0}
    names = list(VALID_IDX)
    path = str(tmp_path / "fuzz-idx")
    for i in range(count):
        base = VALID_IDX[names[i % len(names)]]
        form = ("raw", "gzip", "gzip-bytes")[int(rng.integers(3))]
        data, what = mutate(rng, base, header=4 + 4 * base[3])
        if form == "raw":
            blob, content = data, data
        elif form == "gzip":
            blob, content = gzip.compress(data, mtime=0), data
        else:  # mutate the compressed stream itself
            blob, what = mutate(rng, gzip.compress(base, mtime=0), header=10)
            try:
                content = gzip.decompress(blob)
            except (OSError, EOFError, zlib.error):
                content = None
        with open(path, "wb") as f:
            f.write(blob)
        expected = None if content is None else expected_idx(content)
        try:
            ok = check_idx(path, expected)
        except Exception as e:  # noqa: BLE001 - reported with the mutation
            raise AssertionError(f"IDX mutation {i} ({form}, {what}): {type(e).__name__}: {e}") from e
        outcomes["accepted" if ok else "DataError"] += 1
    return outcomes


def run_pair_mutations(tmp_path, count: int, seed: int) -> dict[str, int]:
    """load_idx_pair with one of its two files mutated (shape and label checks)."""
    rng = np.random.default_rng(seed)
    outcomes = {"DataError": 0, "accepted": 0}
    files = {r: str(tmp_path / f"pair-{r}") for r in ("images", "labels")}
    for i in range(count):
        role = ("images", "labels")[i % 2]
        for r, p in files.items():
            with open(p, "wb") as f:
                f.write(VALID_IDX[r])
        data, what = mutate(rng, VALID_IDX[role], header=4 + 4 * VALID_IDX[role][3])
        with open(files[role], "wb") as f:
            f.write(gzip.compress(data, mtime=0) if rng.random() < 0.5 else data)
        try:
            x, y = idx.load_idx_pair(files["images"], files["labels"], num_classes=10)
        except DataError:
            outcomes["DataError"] += 1
            continue
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"pair mutation {i} ({role}, {what}): {type(e).__name__}: {e}") from e
        outcomes["accepted"] += 1
        images, labels = expected_idx(VALID_IDX["images"] if role == "labels" else data), \
            expected_idx(VALID_IDX["labels"] if role == "images" else data)
        assert images.dtype == np.uint8 and images.ndim == 3 and labels.ndim == 1
        assert x.shape == (*images.shape, 1) and y.shape == labels.shape == images.shape[:1]
        np.testing.assert_array_equal(x[..., 0] * np.float32(255), images.astype(np.float32))
        np.testing.assert_array_equal(y, labels)
        assert y.max() < 10
    return outcomes


# --------------------------------------------------------------------------
# CIFAR


def cifar_records(labels) -> bytes:
    """One record per label tuple: the label bytes, then 3072 pixel bytes."""
    return b"".join(bytes(lab) + bytes((7 * j + lab[-1]) % 256 for j in range(3072))
                    for lab in labels)


VALID_CIFAR10 = {f"data_batch_{b}.bin": cifar_records([(b,), (9 - b,)]) for b in range(1, 6)}
VALID_CIFAR10["test_batch.bin"] = cifar_records([(0,), (3,), (9,)])
VALID_CIFAR100 = {
    "train.bin": cifar_records([(COARSE_OF[f], f) for f in (0, 1, 2, 99)]),
    "test.bin": cifar_records([(COARSE_OF[f], f) for f in (3, 0)]),
}


def expected_cifar(files: dict[str, bytes], hundred: bool):
    """Label columns of every file, or None where the files are invalid."""
    record = RECORD100 if hundred else RECORD10
    limits = (20, 100) if hundred else (10,)
    columns = {}
    for name, data in files.items():
        if not data or len(data) % record:
            return None
        rows = np.frombuffer(data, np.uint8).reshape(-1, record)
        if any((rows[:, j] >= lim).any() for j, lim in enumerate(limits)):
            return None
        columns[name] = rows[:, : len(limits)]
    if hundred:  # each fine class under one superclass, across both files
        pairs = {tuple(p) for c in columns.values() for p in c.tolist()}
        if len({fine for _, fine in pairs}) != len(pairs):
            return None
    return columns


def run_cifar_mutations(tmp_path, count: int, seed: int, hundred: bool) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    valid = VALID_CIFAR100 if hundred else VALID_CIFAR10
    load = cifar.load_cifar100 if hundred else cifar.load_cifar10
    folder = tmp_path / ("c100" if hundred else "c10")
    os.makedirs(folder, exist_ok=True)
    outcomes = {"DataError": 0, "accepted": 0}
    names = list(valid)
    for i in range(count):
        files = dict(valid)
        name = names[int(rng.integers(len(names)))]
        record = RECORD100 if hundred else RECORD10
        if rng.random() < 0.3:  # a whole number of records with random label bytes
            extra = bytes(rng.integers(0, 120, record - 3072, dtype=np.uint8)) + bytes(3072)
            files[name], what = files[name] + extra, "extra record"
        else:
            files[name], what = mutate(rng, files[name], header=record - 3072)
        if rng.random() < 0.1:
            files[name], what = gzip.compress(files[name], mtime=0), what + ", gzipped"
        for n, data in files.items():
            (folder / n).write_bytes(data)
        expected = expected_cifar(files, hundred)
        try:
            data = load(folder)
        except DataError:
            assert expected is None, f"mutation {i} ({name}, {what}): valid files refused"
            outcomes["DataError"] += 1
            continue
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"CIFAR mutation {i} ({name}, {what}): {type(e).__name__}: {e}") from e
        assert expected is not None, f"mutation {i} ({name}, {what}): invalid files accepted"
        outcomes["accepted"] += 1
        train = np.concatenate([expected[n] for n in names[:-1]])
        test = expected[names[-1]]
        assert data.train_images.shape == (len(train), 32, 32, 3)
        assert data.test_images.shape == (len(test), 32, 32, 3)
        np.testing.assert_array_equal(data.train_labels, train[:, -1])
        np.testing.assert_array_equal(data.test_labels, test[:, -1])
        if hundred:
            np.testing.assert_array_equal(data.coarse.train_labels, train[:, 0])
    return outcomes


# --------------------------------------------------------------------------
# Tests


def test_valid_fuzz_seeds_load():
    for name, data in VALID_IDX.items():
        assert expected_idx(data) is not None, name
    assert expected_cifar(VALID_CIFAR10, False) is not None
    assert expected_cifar(VALID_CIFAR100, True) is not None


def test_fuzzed_files_raise_data_error_or_load_consistently(tmp_path):
    start = time.perf_counter()
    results = {
        "idx": run_idx_mutations(tmp_path, 600, seed=10),
        "idx pair": run_pair_mutations(tmp_path, 200, seed=11),
        "cifar10": run_cifar_mutations(tmp_path, 150, seed=12, hundred=False),
        "cifar100": run_cifar_mutations(tmp_path, 150, seed=13, hundred=True),
    }
    elapsed = time.perf_counter() - start
    print(f"fuzz outcomes {results} in {elapsed:.1f} s")
    assert sum(sum(r.values()) for r in results.values()) >= 1000
    for kind, r in results.items():  # both outcomes are reached for every reader
        assert r["DataError"] > 0 and r["accepted"] > 0, (kind, r)


@pytest.mark.parametrize("form", ["raw", "gzip"])
def test_header_declaring_2_to_the_40_items_fails_fast(tmp_path, form):
    # [2**20, 2**20] ubytes (2**40 bytes). Gzipped, the 12-byte header alone
    # has a trailer size of 12 = (12 + 2**40) mod 2**32: the trailer agrees.
    header = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2**20, 2**20)
    path = tmp_path / f"huge-{form}"
    data = header + b"\x01" * 100
    for blob in (data, header) if form == "raw" else (gzip.compress(header), gzip.compress(data)):
        path.write_bytes(blob)
        start = time.perf_counter()
        with pytest.raises(DataError, match=f"huge-{form}.*truncated"):
            idx.read_idx(path)
        assert time.perf_counter() - start < 1.0
