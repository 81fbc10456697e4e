"""Live records of a run: ``history.jsonl`` after every chunk, and optionally TensorBoard.

``history.jsonl`` starts with a header line (``"kind": "history"``: the command, the data,
each paradigm's epochs, the process and host that write it), then one line per paradigm,
seed chunk and epoch::

    {"paradigm": "soft", "epoch": 3, "seeds": [0, 8], "loss": [...], "train_accuracy": [...],
     "test_accuracy": [...], "test_focus_accuracy": [...]}

with one value per seed of ``seeds`` (first, stop), percentages under the paradigm's own
inference rule (the focus accuracy null for data without truth), exactly the float32 values that ``results.json``
will hold. A line also holds ``test_a_z`` (the mean attention on the truth) and, with the fine clock
(``--eval-every``), ``points``: ``{"after_step": [P] steps into the epoch, FIELD: [seeds][P]}`` for the loss, the
test accuracy, focus accuracy and a_z of the evaluations inside that epoch. The whole file
is rewritten atomically after each chunk, so a kill never leaves a torn line, and a resumed
run rewrites it from its checkpoint. `read_history` reads it back for
``attnjax plot``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .files import HISTORY_FILE, write_text_atomic
from .loop import ChunkEnd, Snapshot
from .metrics import RULES

__all__ = ["HISTORY_FILE", "HistoryLog", "TensorBoardLog", "read_history", "history_document", "history_status"]

#: (field, split, metric); split and metric are None together, for the loss
_FIELDS: tuple[tuple[str, Any, Any], ...]
_FIELDS = (("loss", None, None), ("train_accuracy", "train", "accuracy"), ("test_accuracy", "test", "accuracy"),
           ("test_focus_accuracy", "test", "focus_accuracy"))


def _lines(name: str, history, rule: int, first: int, stop: int, focus: bool = True,
           every: int | None = None) -> list[str]:
    """One JSON line per epoch of ``history`` (leaves ``[seeds, epochs]``), seeds ``first .. stop - 1``;
    without ``focus`` (data without truth) the focus metrics are null. ``every``: the fine clock's
    ``eval_every``, for the ``points`` of each line."""
    columns = {}
    for field, split, metric in _fields(focus):
        values = np.asarray(history.loss if split is None else getattr(getattr(history, split), metric))
        columns[field] = values if values.ndim == 2 else values[..., rule]
    attention = getattr(history, "test_attention", None)
    if attention is not None:
        columns["test_a_z"] = np.asarray(attention.a_z)
    points = _point_columns(history, rule, focus)

    def line(e):
        record = {"paradigm": name, "epoch": e + 1, "seeds": [first, stop],
                  **{k: [float(x) for x in v[:, e]] for k, v in columns.items()}}
        if not focus:
            record.update(test_focus_accuracy=[None] * (stop - first), test_a_z=[None] * (stop - first))
        if points:
            n = next(iter(points.values())).shape[2]
            record["points"] = {"after_step": [(p + 1) * (every or 0) for p in range(n)],
                                **{k: None if v is None else [[float(x) for x in row] for row in v[:, e]]
                                   for k, v in points.items()}}
        return json.dumps(record)

    return [line(e) for e in range(columns["loss"].shape[1])]


def _point_columns(history, rule: int, focus: bool) -> dict[str, Any]:
    """The fine clock's in-epoch points of ``history`` as ``{field: [seeds, epochs, P]}`` (empty without them)."""
    points = getattr(history, "points", None)
    if points is None:
        return {}
    accuracy = np.asarray(points.test.accuracy)[..., rule]
    return {"loss": np.asarray(points.loss), "test_accuracy": accuracy,
            "test_focus_accuracy": np.asarray(points.test.focus_accuracy) if focus else None,
            "test_a_z": np.asarray(points.test_attention.a_z) if focus else None}


def _fields(focus: bool):
    """`_FIELDS`, less the focus accuracy for data without truth."""
    return _FIELDS if focus else tuple(f for f in _FIELDS if f[2] != "focus_accuracy")


class HistoryLog:
    """Writes ``history.jsonl``; call it ``log(paradigm_name, chunk_end)`` after every chunk.

    Each paradigm's lines are rewritten from its chunk's snapshot (its finished seed chunks
    and the one in progress), and the other paradigms' lines are kept, so the file holds
    every paradigm's epochs. A resumed run keeps the lines the earlier session left for each
    paradigm of its header until that paradigm's checkpoint is read back (`restore`), which
    rewrites them from the checkpoint: a paradigm that finished before the interruption keeps
    its epochs across any number of resumes.

    Arguments:
        path: the file.
        header: what the first line records besides the process (the command, data, epochs).
        resume: keep the lines of the earlier session's file (of the paradigms ``header`` names).
    """

    def __init__(self, path, header: dict, *, resume: bool = False):
        self.path = Path(path)
        self.header = {"kind": "history", **header, "pid": os.getpid(), "host": socket.gethostname()}
        self.lines: dict[str, list[str]] = _earlier_lines(self.path, header.get("paradigms") or {}) if resume else {}
        self.every: dict[str, int | None] = {}
        from .documents import focus_available

        self.focus = focus_available(header.get("data"))

    def __call__(self, name: str, end: ChunkEnd) -> None:
        self.every[name] = end.config.eval_every
        self._record(name, end.snapshot, end.config.rule, end.rows)

    def restore(self, name: str, snapshot: Snapshot | None, settings: dict) -> None:
        """A run resumed from ``snapshot`` (None: from the first epoch): its lines become the checkpoint's.

        Arguments:
            name: the paradigm.
            snapshot: the checkpoint read back (`attnjax.checkpoint.RunCheckpoints.latest`).
            settings: its run settings (`attnjax.checkpoint.run_settings`): the rule and the seeds.
        """
        if snapshot is None:
            self.lines[name] = []
            self._write()
            return
        first = snapshot.seed_chunk * snapshot.chunk_size
        rows = (first, min(first + snapshot.chunk_size, int(settings["seeds"])))
        self.every[name] = settings["config"].get("eval_every")
        self._record(name, snapshot, RULES.index(settings["config"]["rule"]), rows)

    def _record(self, name: str, snap: Snapshot, rule: int, rows: tuple[int, int]) -> None:
        chunk, lines = snap.chunk_size, []
        if snap.done is not None:
            n_done = int(np.shape(snap.done.history.loss)[0])
            for first in range(0, n_done, chunk):
                stop = min(first + chunk, n_done)
                lines += _lines(name, _rows(snap.done.history, first, stop), rule, first, stop, self.focus,
                                self.every.get(name))
        if snap.history is not None:
            lines += _lines(name, snap.history, rule, *rows, self.focus, self.every.get(name))
        self.lines[name] = lines
        self._write()

    def _write(self) -> None:
        text = "".join(line + "\n" for line in [json.dumps(self.header), *(x for v in self.lines.values() for x in v)])
        write_text_atomic(self.path, text)


def _earlier_lines(path: Path, paradigms: dict) -> dict[str, list[str]]:
    """The epoch lines of an earlier session's ``history.jsonl``, by paradigm (those of ``paradigms``
    only, in their order); none if the file is missing or not a history."""
    from .data.fileio import read_text
    from .files import RESULT_BYTES

    by: dict[str, list[str]] = {name: [] for name in paradigms}
    try:
        raw = read_text(path, "a history file", limit=RESULT_BYTES).splitlines()
        if not raw or json.loads(raw[0]).get("kind") != "history":
            return {}
        for line in raw[1:]:
            record = json.loads(line) if line.strip() else None
            if isinstance(record, dict) and record.get("paradigm") in by:
                by[record["paradigm"]].append(line)
    except (OSError, ValueError, AttributeError, TypeError, RecursionError, DataError):
        return {}  # the checkpoints rewrite what they hold
    return {name: lines for name, lines in by.items() if lines}


def _rows(tree, first: int, stop: int):
    import jax

    return jax.tree_util.tree_map(lambda x: np.asarray(x)[first:stop], tree)


def read_history(path) -> tuple[dict, dict[str, dict[str, Any]]]:
    """Read ``history.jsonl``: ``(header, {paradigm: {"epochs_done": int, "seeds": int, FIELD: [S][E]}})``.

    For each paradigm, the seeds shown are those with the most epochs: the finished seed
    chunks if any, else the chunk in progress.

    Raises:
        DataError: the file is missing, not attnjax's history, or has a bad line.
    """
    from .data.fileio import read_text
    from .files import RESULT_BYTES

    path = Path(path)
    try:  # a regular file: a FIFO never blocks, a device is never read
        raw = read_text(path, "a history file", limit=RESULT_BYTES).splitlines()
        header = json.loads(raw[0])
        records = [json.loads(line) for line in raw[1:] if line.strip()]
    except (OSError, ValueError, IndexError, RecursionError) as err:
        raise DataError(f"{path}: not a readable attnjax history ({type(err).__name__}: {err})") from None
    if not isinstance(header, dict) or header.get("kind") != "history":
        raise DataError(f"{path}: not an attnjax history (its first line has no \"kind\": \"history\")")
    from .documents import check_history

    check_history(header, records, path)  # known paradigms, epochs 1, 2, 3, ..., drawable values
    by = {}
    try:
        for r in records:
            by.setdefault(r["paradigm"], {}).setdefault(tuple(r["seeds"]), {})[int(r["epoch"])] = r
        out = {}
        for name, chunks in by.items():
            longest = max(len(epochs) for epochs in chunks.values())
            rows = [c for c in sorted(chunks) if len(chunks[c]) == longest]
            entry: dict[str, Any] = {"epochs_done": longest, "seeds": sum(stop - first for first, stop in rows)}
            for field, _, _ in _FIELDS:
                entry[field] = np.concatenate(
                    [np.array([chunks[c][e][field] for e in sorted(chunks[c])], np.float64).T for c in rows])
            if all("test_a_z" in chunks[c][e] and None not in chunks[c][e]["test_a_z"]
                   for c in rows for e in chunks[c]):  # files from before a_z was recorded have none
                entry["test_a_z"] = np.concatenate(
                    [np.array([chunks[c][e]["test_a_z"] for e in sorted(chunks[c])], np.float64).T for c in rows])
            out[name] = entry
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: a damaged history line ({type(err).__name__}: {err})") from None
    return header, out


def history_document(header: dict, histories: dict) -> dict:
    """A ``compare``-shaped document of what a history holds, for the curves figure."""
    results = {name: {"history": {"loss": h["loss"], "train": {"accuracy": h["train_accuracy"]},
                                  "test": {"accuracy": h["test_accuracy"], "focus_accuracy": h["test_focus_accuracy"],
                                           **({"a_z": h["test_a_z"]} if "test_a_z" in h else {})}}}
               for name, h in histories.items()}
    shown = max((h["seeds"] for h in histories.values()), default=0)
    return {"kind": "compare", "config": {"seeds": shown, "data": header.get("data", {}),
                                          "paradigms": header.get("paradigms", {})}, "results": results}


def history_status(header: dict, histories: dict, *, finished: bool) -> str:
    """One line on how far a run got: still running, interrupted or finished, epochs and seeds per paradigm."""
    if finished:
        state = "finished"
    else:
        alive = False
        if header.get("host") == socket.gethostname() and isinstance(header.get("pid"), int):
            try:
                os.kill(header["pid"], 0)
                alive = True
            except OSError:
                alive = False
        state = "still running (as of the last chunk)" if alive else "interrupted"
    parts = []
    for name, spec in (header.get("paradigms") or {}).items():
        h = histories.get(name)
        done = 0 if h is None else h["epochs_done"]
        seeds = "" if h is None or h["seeds"] == header.get("seeds") else f" ({h['seeds']} of {header.get('seeds')} seeds)"
        parts.append(f"{name} {done}/{spec.get('epochs')} epochs{seeds}")
    return f"{state}: " + ", ".join(parts)


class TensorBoardLog:
    """TensorBoard event files through tensorboardX (the ``tensorboard`` extra); no TensorFlow.

    Per paradigm and epoch: the training loss, train and test accuracy, test focus accuracy and
    test a_z, each the mean over the seeds of the chunk (``PARADIGM/loss`` ...), at the step
    ``epoch``; with the fine clock also ``PARADIGM/points/FIELD`` at the (fractional) epoch of each
    in-epoch point, in thousandths (TensorBoard's steps are integers). Call it
    like [`HistoryLog`][attnjax.runlog.HistoryLog]; `close` at the end.

    Raises:
        ImportError: tensorboardX is not installed.
    """

    def __init__(self, folder, *, focus: bool = True):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(folder))
        self.offset: dict[str, int] = {}
        self.focus = focus  # False: data without truth, no focus accuracy to log

    def __call__(self, name: str, end: ChunkEnd) -> None:
        snap = end.snapshot
        history = snap.history
        if history is None:  # the chunk finished its seeds: their rows of ``done``
            assert snap.done is not None
            history = _rows(snap.done.history, end.rows[0], end.rows[1])
        first_seed = end.rows[0]
        for field, split, metric in _fields(self.focus):
            values = np.asarray(history.loss if split is None else getattr(getattr(history, split), metric))
            values = values if values.ndim == 2 else values[..., end.config.rule]
            tag = f"{name}/{field}" if first_seed == 0 else f"{name}/seeds_{first_seed}_on/{field}"
            for e in end.new:
                self.writer.add_scalar(tag, float(values[:, e].mean()), e + 1)
        prefix = name if first_seed == 0 else f"{name}/seeds_{first_seed}_on"
        attention = getattr(history, "test_attention", None)
        if attention is not None and self.focus:
            for e in end.new:
                self.writer.add_scalar(f"{prefix}/test_a_z", float(np.asarray(attention.a_z)[:, e].mean()), e + 1)
        points = _point_columns(history, end.config.rule, self.focus)
        every, per_epoch = end.config.eval_every, end.steps_per_epoch
        for field, values in points.items():
            if values is None or not every or not per_epoch:
                continue
            for e in end.new:
                for p in range(values.shape[2]):
                    at = round(1000 * (e + (p + 1) * every / per_epoch))
                    self.writer.add_scalar(f"{prefix}/points/{field}", float(values[:, e, p].mean()), at)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
