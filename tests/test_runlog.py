"""The live records: ``history.jsonl`` and TensorBoard events hold exactly what training returned.

Both are read back independently of the writers: the JSON lines with ``json``, the event
files by their TFRecord framing and tensorboardX's protobuf ``Event`` message.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from attnjax.data import load_orthogonal
from attnjax.experiments import train_seeds
from attnjax.loop import EpochChunks, HostLoop
from attnjax.runlog import HistoryLog, TensorBoardLog, history_document, history_status, read_history
from attnjax.train import TrainConfig


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runlog")
    data, info = load_orthogonal(num_classes=3, m=3, n_train=12, n_test=6, noise=0.1, seed=1)
    config = TrainConfig.for_data(info, loss="hard", model="mlp", hidden=6, epochs=5, batch_size=4)
    header = {"command": "compare", "seeds": 3, "data": info.to_json(), "paradigms": {"hard": {"epochs": 5}}}
    log, board = HistoryLog(folder / "history.jsonl", header), TensorBoardLog(folder / "tb")
    host = HostLoop(epochs=EpochChunks(every=2), on_chunk=lambda name, end: (log(name, end), board(name, end)))
    runs = train_seeds(config, data, seeds=3, learning_rate=0.3, chunk_size=2, host=host)
    board.close()
    return folder, runs


def test_history_lines_are_the_returned_history(run):
    folder, runs = run
    lines = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "history" and lines[0]["seeds"] == 3
    rows = lines[1:]
    assert [(r["seeds"], r["epoch"]) for r in rows] == [([0, 2], e) for e in range(1, 6)] + [([2, 3], e) for e in range(1, 6)]
    loss = np.asarray(runs.history.loss)
    rule = runs.config.rule
    test_acc = np.asarray(runs.history.test.accuracy)[..., rule]
    for r in rows:
        seeds = slice(*r["seeds"])
        assert r["loss"] == loss[seeds, r["epoch"] - 1].tolist()  # float32 values, exactly
        assert r["test_accuracy"] == test_acc[seeds, r["epoch"] - 1].tolist()
    header, histories = read_history(folder / "history.jsonl")
    assert histories["hard"]["seeds"] == 3 and histories["hard"]["epochs_done"] == 5
    np.testing.assert_array_equal(histories["hard"]["loss"], loss)
    doc = history_document(header, histories)
    assert doc["config"]["seeds"] == 3 and np.shape(doc["results"]["hard"]["history"]["test"]["accuracy"]) == (3, 5)
    assert history_status(header, histories, finished=True) == "finished: hard 5/5 epochs"


def _events(folder):
    """``{tag: {step: value}}`` from every event file, read by its framing (length, CRC, data, CRC)."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in folder.rglob("events.out.tfevents.*"):
        raw = path.read_bytes()
        at = 0
        while at < len(raw):
            (length,) = struct.unpack("<Q", raw[at:at + 8])
            event = event_pb2.Event.FromString(raw[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def test_tensorboard_scalars_are_seed_means(run):
    folder, runs = run
    events = _events(folder / "tb")
    loss = np.asarray(runs.history.loss, np.float64)
    focus = np.asarray(runs.history.test.focus_accuracy, np.float64)
    a_z = np.asarray(runs.history.test_attention.a_z, np.float64)
    fields = ("loss", "train_accuracy", "test_accuracy", "test_focus_accuracy", "test_a_z")
    assert sorted(events) == sorted([f"hard/{k}" for k in fields] + [f"hard/seeds_2_on/{k}" for k in fields])
    for e in range(5):  # float32 summaries: to float32 precision of the seed mean
        assert events["hard/loss"][e + 1] == pytest.approx(loss[:2, e].mean(), rel=1e-6)
        assert events["hard/seeds_2_on/test_a_z"][e + 1] == pytest.approx(a_z[2:, e].mean(), rel=1e-6)
        assert events["hard/seeds_2_on/test_focus_accuracy"][e + 1] == pytest.approx(focus[2:, e].mean(), rel=1e-6)


def test_a_resumed_history_keeps_the_earlier_lines_until_each_checkpoint_rewrites_them(run, tmp_path):
    """``resume``: the earlier session's lines of the header's paradigms stay (another paradigm's go);
    ``restore`` makes a paradigm's lines its checkpoint's: none without one, every epoch of a finished one."""
    from attnjax.loop import Snapshot
    from attnjax.train import TrainResult

    folder, runs = run
    path = tmp_path / "history.jsonl"
    earlier = [{"paradigm": p, "epoch": e, "seeds": [0, 3], "loss": [1.0, 2.0, 3.0], "train_accuracy": [0, 0, 0],
                "test_accuracy": [0, 0, 0], "test_focus_accuracy": [0, 0, 0]} for p in ("soft", "hard", "lvml")
               for e in (1, 2)]
    path.write_text("".join(json.dumps(x) + "\n" for x in [{"kind": "history"}, *earlier]))
    header = {"command": "compare", "seeds": 3, "paradigms": {"soft": {"epochs": 5}, "hard": {"epochs": 5}}}
    log = HistoryLog(path, header, resume=True)
    settings = {"seeds": 3, "config": {"rule": runs.config.to_json()["rule"]}}  # what run_settings records
    log.restore("hard", None, settings)  # hard starts over: its lines go, soft's stay, lvml's (not in the header) go
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "history" and lines[1:] == earlier[:2]

    done = TrainResult(runs.params, runs.history)  # hard finished, in seed chunks of 2 (rows [0, 2) and [2, 3))
    log.restore("hard", Snapshot(2, 2, 0, None, None, done), settings)
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert rows[:2] == earlier[:2]
    loss = np.asarray(runs.history.loss)
    assert [(r["paradigm"], r["seeds"], r["epoch"]) for r in rows[2:]] == \
        [("hard", [0, 2], e) for e in range(1, 6)] + [("hard", [2, 3], e) for e in range(1, 6)]
    for r in rows[2:]:
        assert r["loss"] == loss[slice(*r["seeds"]), r["epoch"] - 1].tolist()
