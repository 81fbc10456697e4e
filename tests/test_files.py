"""Result files: a failed or refused write leaves the previous file as it was, and nothing
else behind; the reader says what is wrong with a path (DataError)."""

import json
import os
import stat

import numpy as np
import pytest

from attnjax.errors import DataError, NonFiniteResultError
from attnjax.files import (
    format_table, load_results, new_figure, save_figure_atomic, write_json_atomic, write_text_atomic,
)

OLD = b'{"config": {"old": true}}\n'


@pytest.fixture
def old_file(tmp_path):
    """A folder holding one previous result file and nothing else."""
    path = tmp_path / "results.json"
    path.write_bytes(OLD)
    return path


def _left_intact(path, old=OLD):
    assert path.read_bytes() == old
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file


def test_json_round_trip_and_mode(tmp_path):
    path = tmp_path / "sub" / "results.json"  # the folder is created
    obj = {"config": {"a": np.float32(0.5), "b": np.arange(3), "c": (1, 2), "d": tmp_path}}
    assert write_json_atomic(path, obj) == path
    assert json.loads(path.read_text()) == {"config": {"a": 0.5, "b": [0, 1, 2], "c": [1, 2],
                                                       "d": str(tmp_path)}}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_json_write_failing_after_the_bytes_leaves_the_old_file(old_file, monkeypatch, error):
    """fsync raises once the new text is written: the old file stays, byte for byte."""
    written = []

    def failing_fsync(fd):
        written.append(os.fstat(fd).st_size)
        raise error

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(type(error)):
        write_json_atomic(old_file, {"config": {"new": list(range(100))}})
    assert written and written[0] > len(OLD)  # the failure came after the content was written
    _left_intact(old_file)


def test_json_rename_failing_leaves_the_old_file(old_file, monkeypatch):
    def failing_replace(src, dst):
        assert os.path.getsize(src) > 0  # the complete new file exists beside the old one
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_json_atomic(old_file, {"config": {"new": 1}})
    _left_intact(old_file)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.array([1.0, -np.inf]), np.float32("nan")])
def test_non_finite_is_refused_and_the_old_file_kept(old_file, bad):
    with pytest.raises(NonFiniteResultError, match="NaN or infinity"):
        write_json_atomic(old_file, {"config": {}, "value": bad})
    _left_intact(old_file)


def test_unserialisable_is_refused_and_the_old_file_kept(old_file):
    with pytest.raises(TypeError, match="object"):
        write_json_atomic(old_file, {"config": object()})
    _left_intact(old_file)


def _figure():
    fig = new_figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


def test_figure_saved_atomically(tmp_path):
    path = save_figure_atomic(_figure(), tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_figure_atomic(_figure(), tmp_path / "curves.svg")
    assert b"<svg" in svg.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "curves.svg"]


def test_figure_failing_partway_leaves_the_old_file(tmp_path):
    old = tmp_path / "curves.png"
    old.write_bytes(b"old picture")
    fig = _figure()
    real_savefig = fig.savefig

    def failing_savefig(target, **kwargs):
        real_savefig(target, **kwargs)  # the whole new picture is on disk, then it fails
        assert os.path.getsize(target) > 100
        raise RuntimeError("renderer crashed")

    fig.savefig = failing_savefig
    with pytest.raises(RuntimeError, match="renderer crashed"):
        save_figure_atomic(fig, old)
    _left_intact(old, b"old picture")


def test_figure_rename_failing_leaves_the_old_file(tmp_path, monkeypatch):
    old = tmp_path / "curves.png"
    old.write_bytes(b"old picture")
    def failing_replace(src, dst):
        raise OSError("no rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="no rename"):
        save_figure_atomic(_figure(), old)
    _left_intact(old, b"old picture")


# ----------------------------------------------------------------------------- reading


def test_load_results_reads_a_file_and_a_folder(tmp_path):
    history = {"loss": [[1.0]], "train": {"accuracy": [[50.0]]}, "test": {"accuracy": [[40.0]]}}
    doc = {"kind": "compare", "config": {"seeds": 1, "data": {"name": "digits", "m": 5}},
           "results": {"soft": {"rule": "pooled", "train": {"accuracy": [50.0]}, "test": {"accuracy": [40.0]},
                                "history": history}}}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    assert load_results(tmp_path / "results.json") == doc
    assert load_results(tmp_path) == doc


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "no such file"),
        (b"{not json", "not a readable JSON"),
        (b"\xff\xfe\x00binary", "not a readable JSON"),
        (b"[1, 2]", "no 'config' field"),
        (b'{"results": {}}', "no 'config' field"),
    ],
)
def test_load_results_errors(tmp_path, content, match):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_results(path)


def test_load_results_folder_needs_exactly_one_result(tmp_path):
    with pytest.raises(DataError, match="found none"):
        load_results(tmp_path)
    (tmp_path / "other.json").write_text('{"config": {}}')  # not a result file name
    with pytest.raises(DataError, match="found none"):
        load_results(tmp_path)
    for name in ("results.json", "fixed_focus.json"):
        (tmp_path / name).write_text('{"config": {}}')
    with pytest.raises(DataError, match="found 2"):
        load_results(tmp_path)


def test_format_table():
    text = format_table(["loss", "acc"], [["soft", 99.5], ["lvml", 7]], align="lr")
    assert text == (
        "loss   acc\n"
        "----  ----\n"
        "soft  99.5\n"
        "lvml     7"
    )
    # Left alignment by default; trailing spaces are stripped.
    assert format_table(["a", "bb"], [["xyz", ""]]) == "a    bb\n---  --\nxyz"


def test_write_text_atomic(tmp_path):
    path = write_text_atomic(tmp_path / "t.csv", "a,b\n1,2\n")
    assert path.read_text() == "a,b\n1,2\n"
