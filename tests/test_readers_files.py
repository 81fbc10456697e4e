"""Data files that lie or are not files: every reader refuses them with one line naming the file
(and the key), through the command line, before anything compiles and before anything is
allocated from a size the file declares.

The malformed files are written byte by byte here (zip members and ``.npy`` headers with
`zipfile` and `numpy.lib.format`); what a successful read must return comes from `np.load`,
an independent reader.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from attnjax.data import load_dataset
from attnjax.errors import DataError
from conftest import run_cli
from test_bags import bags
from test_readers_fuzz import VALID_CIFAR10, VALID_IDX, mutate


def npy(array) -> bytes:
    """``np.save``'s bytes of one array."""
    out = io.BytesIO()
    npy_format.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def npy_header(shape, dtype) -> bytes:
    """A version 1.0 ``.npy`` header declaring ``shape`` of ``dtype`` (no data)."""
    out = io.BytesIO()
    npy_format.write_array_header_1_0(out, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)),
                                            "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue()


def write_zip(path, members: dict[str, bytes], *, compress: bool = False):
    """A zip file of ``{name: bytes}`` (stored, or deflated with ``compress``)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def bag_members(**replace) -> dict[str, bytes]:
    """The members of a valid bags file (``test_bags.bags``), some replaced by raw bytes."""
    members = {f"{k}.npy": npy(v) for k, v in bags().items()}
    members.update({f"{k}.npy": v for k, v in replace.items()})
    return members


def member_data_offset(path, key: str) -> tuple[int, int]:
    """Where the (compressed) bytes of member ``key.npy`` start in the file, and how many there are."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(f"{key}.npy")
    raw = path.read_bytes()
    start = info.header_offset
    name_len, extra_len = int.from_bytes(raw[start + 26:start + 28], "little"), \
        int.from_bytes(raw[start + 28:start + 30], "little")
    return start + 30 + name_len + extra_len, info.compress_size


def refused(path, capsys, compiles, *argv, command="compare", dataset="bags"):
    """The command's one-line refusal (exit 2, no traceback, nothing compiled), as its text."""
    start = time.perf_counter()
    code, _, err = run_cli([command, "--dataset", dataset, *argv, "--out", str(path.parent / "out")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("attnjax: error:"), err
    assert "Traceback" not in err and compiles == []
    assert time.perf_counter() - start < 30
    return err


# --------------------------------------------------------------------------
# Sizes read from a file, bounded by the file (issue 29, item 3)


def test_a_label_of_10_to_the_12_is_refused_before_naming_its_classes(tmp_path, capsys, compiles):
    b = bags()
    b["labels"] = b["labels"].astype(np.int64)
    b["labels"][6] = 10**12
    path = tmp_path / "b.npz"
    np.savez(path, **b)
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and "'labels' holds 1000000000000 (bag 6)" in err and "'class_names'" in err
    # the bound is the number of bags: labels up to N - 1 are K = N classes
    b["labels"][6] = len(b["labels"]) - 1
    np.savez(path, **b)
    _, info = load_dataset("bags", data_file=path)
    assert info.num_classes == len(b["labels"])


@pytest.mark.parametrize("compress", [False, True], ids=["stored", "deflated"])
def test_an_npy_header_claiming_petabytes_is_refused_before_allocating(tmp_path, capsys, compiles, compress):
    segments = bags()["segments"]
    claimed = (2**40, *segments.shape[1:])  # 2**40 bags of 5 x 6 float32: 120 TiB
    data = npy_header(claimed, np.float32) + segments.tobytes()
    path = write_zip(tmp_path / "b.npz", bag_members(segments=data), compress=compress)
    with pytest.raises(DataError, match="key 'segments' is truncated: its header declares shape"):
        load_dataset("bags", data_file=path)
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and f"{2**40 * 30 * 4} data bytes" in err


def test_a_zip_directory_claiming_more_than_deflate_can_hold_is_refused(tmp_path, capsys, compiles):
    """The member's uncompressed size in the zip directory is patched to 4 GB: a deflate stream of a
    few hundred bytes cannot hold it (at most 1032:1), so nothing is read or allocated."""
    path = write_zip(tmp_path / "b.npz", bag_members(), compress=True)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("labels.npy")
    local = info.header_offset
    central = raw.index(b"PK\x01\x02")
    while raw[central + 46:central + 46 + len(b"labels.npy")] != b"labels.npy":  # labels.npy's central entry
        central = raw.index(b"PK\x01\x02", central + 4)
    big = (2**32 - 2).to_bytes(4, "little")
    raw[local + 22:local + 26] = big
    raw[central + 24:central + 28] = big
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("labels.npy").file_size == 2**32 - 2  # the lie the reader is told
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and "key 'labels' claims 4294967294 bytes uncompressed" in err


# --------------------------------------------------------------------------
# Corrupt members (item 4)


def test_a_damaged_deflate_stream_is_one_line_naming_the_key(tmp_path, capsys, compiles):
    path = tmp_path / "b.npz"
    np.savez_compressed(path, **bags())
    start, size = member_data_offset(path, "segments")
    raw = bytearray(path.read_bytes())
    raw[start + 2:start + size - 2] = bytes(255 - x for x in raw[start + 2:start + size - 2])
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception) as info:  # what NumPy itself says: not a DataError
        with np.load(path) as z:
            z["segments"]
    assert not isinstance(info.value, DataError)
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and "key 'segments' cannot be read: its bytes are damaged" in err


@pytest.mark.parametrize("payload", [b"hello, not an array", b"", npy_format.MAGIC_PREFIX + b"\x01"],
                         ids=["text", "empty", "magic only"])
def test_a_member_that_is_not_npy_data_is_one_line_naming_the_key(tmp_path, capsys, compiles, payload):
    path = write_zip(tmp_path / "b.npz", bag_members(labels=payload))
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and "key 'labels'" in err
    assert "is not .npy data" in err or "damaged .npy header" in err or "cannot be read" in err


def test_a_truncated_member_is_called_truncated(tmp_path, capsys, compiles):
    labels = npy(bags()["labels"].astype(np.int64))
    path = write_zip(tmp_path / "b.npz", bag_members(labels=labels[:-100]))
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert "key 'labels' is truncated" in err and "Python objects" not in err
    assert f"{40 * 8} data bytes, and the member holds {40 * 8 - 100}" in err
    # one byte too many is refused as well
    path = write_zip(tmp_path / "b.npz", bag_members(labels=labels + b"\0"))
    assert "key 'labels' is longer than its header says" in refused(path, capsys, compiles, "--data-file", str(path))


def test_python_objects_are_still_called_python_objects(tmp_path, capsys, compiles):
    header = npy_header((40,), object)
    path = write_zip(tmp_path / "b.npz", bag_members(split=header + b"\x80\x04N." * 40))
    assert "key 'split' holds Python objects" in refused(path, capsys, compiles, "--data-file", str(path))


@pytest.mark.parametrize("key", ["split", "class_names"])
def test_non_utf8_strings_are_one_line_naming_the_key(tmp_path, capsys, compiles, key):
    b = bags()
    value = np.array([b"train"] * 30 + [b"te\xffst"] * 10) if key == "split" else np.array([b"a", b"\xff\xfe", b"c"])
    path = tmp_path / "b.npz"
    np.savez(path, **b, **{key: value})
    err = refused(path, capsys, compiles, "--data-file", str(path))
    entry = 30 if key == "split" else 1
    assert str(path) in err and f"'{key}' entry {entry} is not UTF-8 text" in err


def test_npz_files_read_member_by_member_agree_with_numpy(tmp_path):
    """Seeded mutations of valid archives (stored and deflated): read_npz raises DataError, or
    returns exactly what np.load reads from the same bytes."""
    from attnjax.data.fileio import read_npz

    rng = np.random.default_rng(29)
    arrays = {"a": np.arange(12, dtype=np.int16).reshape(3, 4), "b": np.array(["x", "yz"]),
              "c": np.asfortranarray(np.linspace(0, 1, 6).reshape(2, 3)), "d": np.array(True)}
    path = tmp_path / "f.npz"
    outcomes = {"DataError": 0, "accepted": 0}
    for i in range(400):
        (np.savez_compressed if i % 2 else np.savez)(path, **arrays)
        if i < 2:
            data, what = path.read_bytes(), "unchanged"
        else:
            data, what = mutate(rng, path.read_bytes(), header=64)
        path.write_bytes(data)
        try:
            got = read_npz(path)
        except DataError as err:
            assert str(path) in str(err) and "\n" not in str(err)
            outcomes["DataError"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - reported with the mutation
            raise AssertionError(f"mutation {i} ({what}): {type(err).__name__}: {err}") from err
        outcomes["accepted"] += 1
        with np.load(path, allow_pickle=False) as z:
            assert sorted(got) == sorted(z.files), what
            for key in z.files:
                np.testing.assert_array_equal(got[key], z[key], err_msg=what)
                assert got[key].dtype == z[key].dtype and got[key].shape == z[key].shape
    assert outcomes["DataError"] > 0 and outcomes["accepted"] > 2, outcomes


# --------------------------------------------------------------------------
# What is not a regular file (item 7)


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    """Fail, instead of waiting forever, when the body blocks (a FIFO opened without a writer)."""
    def fail(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fifo_case(tmp_path, case):
    """``(argv, the FIFO's path)`` for a command reading a FIFO of this kind."""
    if case == "bags":
        os.mkfifo(tmp_path / "b.npz")
        return ["--dataset", "bags", "--data-file", str(tmp_path / "b.npz")], tmp_path / "b.npz"
    if case == "text":
        os.mkfifo(tmp_path / "posts.json")
        return ["--dataset", "text", "--data-file", str(tmp_path / "posts.json")], tmp_path / "posts.json"
    folder = tmp_path / "data"
    folder.mkdir()
    if case == "mnist":
        names = {"train-images-idx3-ubyte": "images", "train-labels-idx1-ubyte": "labels",
                 "t10k-images-idx3-ubyte": "images", "t10k-labels-idx1-ubyte": "labels"}
        for name, kind in names.items():
            (folder / name).write_bytes(VALID_IDX[kind])
        fifo = folder / "t10k-labels-idx1-ubyte"
    else:
        for name, data in VALID_CIFAR10.items():
            (folder / name).write_bytes(data)
        fifo = folder / ("data_batch_3.bin" if case == "cifar10" else "batches.meta.txt")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    return ["--dataset", "mnist" if case == "mnist" else "cifar10", "--data-dir", str(folder)], fifo


@pytest.mark.parametrize("case", ["bags", "text", "mnist", "cifar10", "cifar10 names"])
def test_a_fifo_is_refused_not_waited_on(tmp_path, capsys, compiles, case):
    argv, fifo = _fifo_case(tmp_path, case)
    with no_hang():
        code, _, err = run_cli(["compare", *argv, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(fifo) in err and "a FIFO (named pipe), not a regular file" in err
    assert compiles == []


def test_a_device_or_folder_is_refused_by_each_reader(tmp_path):
    from attnjax.data.fileio import read_npz
    from attnjax.data.idx import read_idx
    from attnjax.data.text import load_hatexplain

    with no_hang():
        for read in (read_npz, read_idx, load_hatexplain):
            with pytest.raises(DataError, match="a character device, not a regular file"):
                read("/dev/zero")
            with pytest.raises(DataError, match="a folder, not a regular file"):
                read(tmp_path)


# --------------------------------------------------------------------------
# A truth that marks nothing (item 9)


@pytest.mark.parametrize("where", ["every bag", "the test bags"])
@pytest.mark.parametrize("command", ["signature", "fixed-focus", "compare"])
def test_a_truth_marking_no_segment_is_refused(tmp_path, capsys, compiles, command, where):
    b = bags()
    test = np.arange(len(b["labels"])) % 5 == 4  # the default split
    b["truth"][test if where == "the test bags" else slice(None)] = False
    path = tmp_path / "b.npz"
    np.savez(path, **b)
    err = refused(path, capsys, compiles, "--data-file", str(path), "--seeds", "2", "--epochs", "2",
                  "--losses", "soft", command=command)
    assert str(path) in err and "'truth' marks no segment in any" in err
    assert ("of the 8 test bags" in err) == (where == "the test bags")


# --------------------------------------------------------------------------
# Finite but huge inputs (item 12)


@pytest.mark.parametrize("value", [4.6e18, -4.6e18, 2e12])
def test_huge_finite_segment_values_are_refused_naming_the_cause(tmp_path, capsys, compiles, value):
    b = bags()
    b["segments"][9, 1, 3] = value  # bag 9 has at least 2 real segments
    path = tmp_path / "b.npz"
    np.savez(path, **b)
    err = refused(path, capsys, compiles, "--data-file", str(path))
    assert str(path) in err and f"'segments': segment 1 of bag 9 holds {value:.3g}" in err
    assert "standardize the features" in err and "learning rate" in err
    # 1e12 itself is accepted, as are values in padding (ignored)
    b["segments"][9, 1, 3] = 1e12
    b["segments"][~b["mask"]] = value
    np.savez(path, **b)
    data, _ = load_dataset("bags", data_file=path)
    assert np.abs(np.asarray(data.pool)).max() == np.float32(1e12)
