"""Checkpoints of the host loop with orbax-checkpoint: write between chunks, resume bit for bit.

A [`Checkpoints`][attnjax.checkpoint.Checkpoints] object owns one folder, with a subfolder per paradigm; each holds
``step-NNNNNNNN`` folders (the newest two kept), each one complete snapshot:

* ``arrays/``: orbax's ``StandardCheckpointer`` output: the carry of the seed chunk in
  progress (parameters, optimizer state, PRNG key data, the paradigm's state), its history
  so far, and the finished seed chunks' parameters and histories;
* ``meta.json``: the layout version, the attnjax version, the command that wrote it, where
  the run stands (seed chunk, chunk size, epoch), the seconds spent, the resolved settings,
  every leaf's shape and dtype, the size and SHA-256 of every file orbax wrote and the SHA-256
  of the arrays themselves.

A snapshot is written into ``incoming-NNNNNNNN`` and renamed into place only once both parts
are complete, so a kill at any moment leaves the previous snapshot intact (an ``incoming``
folder left behind is removed when the run resumes). Resuming refuses, with one line that
names the file, a checkpoint of another command, of other settings or of another layout,
and one that is damaged: every field of ``meta.json`` is checked for its type and its range
against the run's own settings, and every array file against its size and SHA-256 before
orbax reads it (a damaged file that orbax reads leaves its asynchronous reads running, which
print tracebacks after the error and once aborted the process).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from .errors import ConfigError, DataError
from .loop import ChunkEnd, Snapshot
from .protocol import CHECKPOINT_SECONDS
from .train import TrainResult

__all__ = ["LAYOUT", "Checkpoints", "RunCheckpoints", "run_settings", "settings_difference", "AUTO_SECONDS"]

#: The checkpoint layout this attnjax writes and reads (2: ``meta.json`` records the command,
#: the array files' sizes and SHA-256 and the arrays' SHA-256).
LAYOUT = 2
#: Without ``every``, a checkpoint is written once this many seconds have passed since the last.
AUTO_SECONDS = CHECKPOINT_SECONDS
_KEEP = 2


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for x in jax.tree_util.tree_leaves(arrays):
        x = np.asarray(jax.random.key_data(x) if jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
        h.update(str((x.shape, x.dtype.str)).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def run_settings(config, hparams, keys, data, *, devices: int | None, seed_map: str) -> dict:
    """What a run's numbers depend on, JSON-ready: a checkpoint is resumed only under equal settings.

    The static config, every traced value as given, the seeds' keys and the data (as
    SHA-256 digests of their bytes), the device count (several devices change the last
    bits, see `attnjax.parallel`) and the seed map (which can change the last bits of
    the CNNs on XLA:CPU, see `attnjax.programs`).
    """
    values = {name: (None if v is None else {k: np.asarray(x).tolist() for k, x in v.items()}
                     if isinstance(v, dict) else np.asarray(v).tolist())
              for name, v in hparams._asdict().items()}
    return {"config": json.loads(json.dumps(config.to_json(), default=str)), "hparams": values,
            "seeds": int(np.shape(keys)[0]), "keys": _digest(keys), "data": _digest(data),
            "devices": devices or 1, "seed_map": seed_map}


def settings_difference(a, b, where="") -> str | None:
    """The first place where two JSON values differ, as ``path: old != new``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            diff = settings_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
            if diff:
                return diff
        return None
    if a != b:
        short = lambda v: (json.dumps(v)[:60] + "...") if len(json.dumps(v)) > 60 else json.dumps(v)
        return f"{where}: {short(a)} there, {short(b)} now"
    return None


class Checkpoints:
    """Checkpoints of one command's runs, in ``folder/<paradigm>/``.

    Arguments:
        folder: where they go (the CLI uses ``--out``'s ``checkpoints/``).
        every: write after every ``every`` epochs and at the end of each seed chunk; 0: never;
            None: automatically, once `AUTO_SECONDS` have passed since the last one (or
            since this object was made), and at the end of every seed chunk after that.
        resume: continue each run from its newest snapshot (`RunCheckpoints.latest`).
        command: the command that writes them (``"compare"``), recorded in each snapshot: a
            resume under another command is refused.
        on_resume: called ``on_resume(run, snapshot, path)`` once each run's newest snapshot
            has been read back and checked (``snapshot`` and ``path`` None when the run has
            none): where each run continues, for a log or a message.

    Attributes:
        written: ``[(paradigm, epoch, path)]`` of every snapshot written, oldest first.
    """

    def __init__(self, folder, *, every: int | None = None, resume: bool = False,
                 auto_seconds: float = AUTO_SECONDS, command: str | None = None,
                 on_resume: Callable[["RunCheckpoints", Snapshot | None, Path | None], None] | None = None):
        self.folder, self.every, self.resume, self.auto_seconds = Path(folder), every, resume, auto_seconds
        self.command, self.on_resume = command, on_resume
        self.written: list[tuple[str, int, Path]] = []
        self._last = time.monotonic()

    def run(self, name: str, settings: dict) -> "RunCheckpoints":
        """The checkpoints of one paradigm's run with these `run_settings`."""
        return RunCheckpoints(self, name, settings)

    def due(self, end: ChunkEnd) -> bool:
        if self.every == 0:
            return False
        if self.every:  # the chunk reached (or, with chunks of their own rhythm, passed) a multiple
            return end.finished_chunk or end.new.stop // self.every > end.new.start // self.every
        return time.monotonic() - self._last >= self.auto_seconds or (end.finished_chunk and bool(self.written))


@dataclasses.dataclass
class RunCheckpoints:
    """One paradigm's checkpoints: `latest` to resume, `on_chunk` while training."""

    owner: Checkpoints
    name: str
    settings: dict
    seconds: float = 0.0  # training seconds of earlier sessions, from the resumed snapshot

    @property
    def folder(self) -> Path:
        return self.owner.folder / self.name

    def _steps(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.startswith("step-") and p.is_dir())

    def latest(self, template_state, template_history) -> Snapshot | None:
        """The newest snapshot, checked against this run's settings, or None if there is none.

        Arguments:
            template_state, template_history: pytrees (of arrays or shape structs) with the
                structure of one seed's carry and history (a leading axis of 1, the history's
                epoch axis of any length), to check the shapes against and rebuild the trees from.

        Raises:
            ConfigError: the snapshot is of another command, of other settings or of another layout.
            DataError: it is damaged: a step that is not a folder, unreadable metadata, a field
                of the wrong type or out of range for this run, an array file missing,
                truncated or changed, or arrays that orbax cannot read back.
        """
        path = self._newest()
        if path is None:
            self._resumed(None, None)
            return None
        meta = _read_meta(path)
        self._check_origin(path, meta)
        seed_chunk, chunk_size, epoch = _position(path, meta, self.settings)
        seconds = _number(path, meta, "seconds")
        expected = _expected_shapes(template_state, template_history, seeds=self.settings["seeds"],
                                    epochs=self.settings["config"]["epochs"], seed_chunk=seed_chunk,
                                    chunk_size=chunk_size, epoch=epoch)
        _check_shapes(path, meta, expected)
        _check_files(path, meta)
        flat = _read_arrays(path)
        try:
            snapshot = _unflatten(flat, meta, template_state, template_history)
        except (KeyError, ValueError, TypeError) as err:
            raise _damaged(path, err, "arrays") from None
        if _arrays_digest(flat) != meta["arrays"]:
            raise _damaged(path, "the arrays read back are not those written: their SHA-256 differs from "
                                 "meta.json's", "arrays")
        self.seconds = seconds
        self._resumed(snapshot, path)
        return snapshot

    def _newest(self) -> Path | None:
        """The newest ``step-NNNNNNNN`` folder (None if none), once ``incoming-*`` writes a kill left are removed.

        Raises:
            DataError: the run's folder, or an entry named like a step, is not a folder.
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise DataError(f"checkpoint folder {self.folder} is a file, not a folder of steps: remove it, or "
                            "start over", field="resume", remedy="overwrite")
        if not self.folder.is_dir():
            return None
        steps = []
        for entry in self.folder.iterdir():
            if entry.name.startswith("incoming-"):  # a write that a kill interrupted
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            elif entry.name.startswith("step-"):
                if not (re.fullmatch(r"step-\d{8}", entry.name) and entry.is_dir()):
                    raise DataError(f"checkpoint {entry} is not a step folder (step-NNNNNNNN holding arrays/ and "
                                    "meta.json): remove it, or start over", field="resume", remedy="overwrite")
                steps.append(entry)
        return max(steps) if steps else None

    def _check_origin(self, path: Path, meta: dict) -> None:
        """The layout, the command and the settings must be this run's."""
        layout = meta.get("layout")
        if isinstance(layout, bool) or not isinstance(layout, int):
            raise _damaged(path, f"'layout' is {_shown(layout)}, not an integer", "meta.json")
        version = meta.get("attnjax")
        if not isinstance(version, str):
            raise _damaged(path, f"'attnjax' is {_shown(version)}, not a version string", "meta.json")
        if layout != LAYOUT:
            raise ConfigError(f"checkpoint {path} has layout {layout} (attnjax {version}); this attnjax "
                              f"reads layout {LAYOUT}: start over", field="resume", remedy="overwrite")
        command = meta.get("command")
        if command is not None and not isinstance(command, str):
            raise _damaged(path, f"'command' is {_shown(command)}, not a command name", "meta.json")
        if command != self.owner.command:
            raise ConfigError(f"checkpoint {path} was written by {_command(command)}, not {_command(self.owner.command)}: "
                              "resume it with the command that wrote it, or start over", field="resume",
                              remedy="overwrite")
        if meta.get("settings") != self.settings:
            theirs = meta.get("settings")
            if isinstance(theirs, dict) and theirs.get("data") != self.settings.get("data"):
                raise ConfigError(f"checkpoint {path} was trained on other data (the SHA-256 of the data set: "
                                  f"{str(theirs.get('data'))[:12]}... there, {str(self.settings.get('data'))[:12]}... "
                                  "now): resume on the data that wrote it (the same data set, data file, seed "
                                  "and data options), or start over", field="resume", remedy="overwrite")
            diff = settings_difference(theirs, self.settings) or "settings"
            raise ConfigError(f"checkpoint {path} is of other settings ({diff}): resume with the settings that "
                              "wrote it, or start over", field="resume", remedy="overwrite")

    def _resumed(self, snapshot: Snapshot | None, path: Path | None) -> None:
        if self.owner.on_resume is not None:
            self.owner.on_resume(self, snapshot, path)

    def clear(self) -> None:
        """Remove this run's snapshots (a retry in other seed chunks starts them over)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.owner.written[:] = [w for w in self.owner.written if w[0] != self.name]

    def on_chunk(self, end: ChunkEnd, seconds: float) -> None:
        """Write a snapshot if one is due (``seconds``: training time so far, this session)."""
        if self.owner.due(end):
            self.save(end.host_state(), seconds)

    def save(self, snapshot: Snapshot, seconds: float) -> Path:
        """Write ``snapshot`` as the newest step (atomically) and drop all but the newest two."""
        import orbax.checkpoint as ocp

        epochs = self.settings["config"]["epochs"]
        step = snapshot.seed_chunk * epochs + snapshot.epoch
        final, incoming = self.folder / f"step-{step:08d}", self.folder / f"incoming-{step:08d}"
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(parents=True)
        flat, shapes = _flatten(snapshot)
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save((incoming / "arrays").absolute(), flat)
        checkpointer.wait_until_finished()
        from . import __version__

        meta = {"layout": LAYOUT, "attnjax": __version__, "command": self.owner.command,
                "seed_chunk": snapshot.seed_chunk, "chunk_size": snapshot.chunk_size, "epoch": snapshot.epoch,
                "shapes": shapes, "files": _file_sums(incoming / "arrays"), "arrays": _arrays_digest(flat),
                "seconds": self.seconds + seconds, "settings": self.settings}
        _commit(incoming, final, json.dumps(meta))
        for old in self._steps()[:-_KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        self.owner.written.append((self.name, step, final))
        self.owner._last = time.monotonic()
        return final


def _commit(incoming: Path, final: Path, meta: str) -> None:
    """Finish a snapshot: its metadata, then the rename that makes it visible."""
    with open(incoming / "meta.json", "w") as f:
        f.write(meta)
        f.flush()
        os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(incoming, final)


def _key_free(tree):
    return jax.tree_util.tree_map(
        lambda x: np.asarray(jax.random.key_data(x)) if jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key)
        else np.asarray(x), tree)


def _flatten(snapshot: Snapshot) -> tuple[dict, dict]:
    """``{name: array}`` (orbax cannot save empty arrays: those are left out) and every part's leaf count."""
    parts = {"state": None if snapshot.state is None else _key_free(snapshot.state), "history": snapshot.history,
             "done_params": None if snapshot.done is None else snapshot.done.params,
             "done_history": None if snapshot.done is None else snapshot.done.history}
    flat, shapes = {}, {}
    for part, tree in parts.items():
        if tree is None:
            continue
        leaves = jax.tree_util.tree_leaves(tree)
        shapes[part] = [[list(np.shape(x)), np.asarray(x).dtype.str] for x in leaves]
        for i, x in enumerate(leaves):
            if np.size(x):
                flat[f"{part}.{i:04d}"] = np.asarray(x)
    return flat, shapes


def _unflatten(flat: dict, meta: dict, template_state, template_history) -> Snapshot:
    def part(name, template) -> Any:  # a pytree shaped like template, or None
        if name not in meta["shapes"]:
            return None
        treedef = jax.tree_util.tree_structure(template)
        leaves = []
        for i, (shape, dtype) in enumerate(meta["shapes"][name]):
            x = np.zeros(shape, dtype) if not np.prod(shape) else np.asarray(flat[f"{name}.{i:04d}"])
            if list(x.shape) != list(shape) or x.dtype.str != dtype:
                raise ValueError(f"{name} leaf {i} has shape {x.shape} {x.dtype}, the metadata says {shape} {dtype}")
            leaves.append(x)
        return jax.tree_util.tree_unflatten(treedef, leaves)

    done_params = part("done_params", template_state.params)
    done = None if done_params is None else TrainResult(done_params, part("done_history", template_history))
    return Snapshot(meta["seed_chunk"], meta["chunk_size"], meta["epoch"], part("state", template_state),
                    part("history", template_history), done)




def _shown(value) -> str:
    """A JSON value as a message quotes it (shortened)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _command(command: str | None) -> str:
    return "the library (no command)" if command is None else f"'attnjax {command}'"


def _damaged(path: Path, why, file: str | None = None) -> DataError:
    """The one-line error of a damaged snapshot ``path``: which of its files (``meta.json``, ``arrays/...``), and why."""
    if isinstance(why, BaseException):
        why = f"{type(why).__name__}: {' '.join(str(why).split())[:200]}"
    return DataError(f"checkpoint {path} is damaged ({why if file is None else f'{file}: {why}'}){_remedy(path)}",
                     field="resume", remedy="overwrite")


def _remedy(path: Path) -> str:
    return f"; remove {path.name} to resume from the checkpoint before it, or start over"


def _read_meta(path: Path) -> dict:
    """``meta.json`` of a step, a JSON object.

    Raises:
        DataError: missing, unreadable, not JSON or not an object.
    """
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise _damaged(path, err, "meta.json") from None
    if not isinstance(meta, dict):
        raise _damaged(path, f"it holds {type(meta).__name__}, not an object", "meta.json")
    return meta


def _integer(path: Path, meta: dict, key: str, low: int, high: int, why: str) -> int:
    """``meta[key]``, an integer in ``[low, high]`` (``why``: what bounds it, for the message)."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _damaged(path, f"'{key}' is {_shown(value)}, not an integer", "meta.json")
    if not low <= value <= high:
        raise _damaged(path, f"'{key}' is {value}, outside [{low}, {high}] ({why})", "meta.json")
    return value


def _number(path: Path, meta: dict, key: str) -> float:
    """``meta[key]``, a finite non-negative number."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _damaged(path, f"'{key}' is {_shown(value)}, not a non-negative number", "meta.json")
    return float(value)


def _position(path: Path, meta: dict, settings: dict) -> tuple[int, int, int]:
    """``(seed_chunk, chunk_size, epoch)`` of ``meta``, checked against the run's seeds, epochs and
    devices and against the step's own number (``seed_chunk * epochs + epoch``)."""
    seeds, epochs, devices = settings["seeds"], settings["config"]["epochs"], settings["devices"]
    padded = devices * math.ceil(seeds / devices)
    chunk_size = _integer(path, meta, "chunk_size", 1, padded, f"{seeds} seed(s) on {devices} device(s)")
    if chunk_size % devices:
        raise _damaged(path, f"'chunk_size' is {chunk_size}, not a multiple of the {devices} devices", "meta.json")
    n_chunks = math.ceil(seeds / chunk_size)
    seed_chunk = _integer(path, meta, "seed_chunk", 0, n_chunks, f"{seeds} seed(s) in chunks of {chunk_size}")
    last = 0 if seed_chunk == n_chunks else epochs - 1
    epoch = _integer(path, meta, "epoch", 0, last,
                     f"{epochs} epochs" if seed_chunk < n_chunks else "every seed chunk is done")
    step = seed_chunk * epochs + epoch
    if step != int(path.name.split("-")[1]) or step == 0:
        raise _damaged(path, f"'seed_chunk' {seed_chunk} and 'epoch' {epoch} make step {step}, not the folder's",
                       "meta.json")
    return seed_chunk, chunk_size, epoch


def _key_data(tree):
    """``tree`` with every typed PRNG key leaf as its raw key data (what a snapshot holds)."""
    return jax.tree_util.tree_map(
        lambda x: jax.random.key_data(x) if jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _expected_shapes(template_state, template_history, *, seeds: int, epochs: int, seed_chunk: int,
                     chunk_size: int, epoch: int) -> dict:
    """What ``meta["shapes"]`` must be for a snapshot at this position (the templates: one seed's trees)."""
    state = jax.eval_shape(_key_data, template_state)

    def leaves(tree, rows: int, columns: int | None = None) -> list:
        out = []
        for x in jax.tree_util.tree_leaves(tree):
            shape = [rows, *x.shape[1:]] if columns is None else [rows, columns, *x.shape[2:]]
            out.append([shape, np.dtype(x.dtype).str])
        return out

    expected = {}
    if epoch:
        expected["state"] = leaves(state, chunk_size)
        expected["history"] = leaves(template_history, min(chunk_size, seeds - seed_chunk * chunk_size), epoch)
    n_done = min(seed_chunk * chunk_size, seeds)
    if n_done:
        expected["done_params"] = leaves(state.params, n_done)
        expected["done_history"] = leaves(template_history, n_done, epochs)
    return expected


def _check_shapes(path: Path, meta: dict, expected: dict) -> None:
    """``meta["shapes"]`` must be what this run holds at the snapshot's position."""
    shapes = meta.get("shapes")
    if shapes == expected:
        return
    if not isinstance(shapes, dict):
        raise _damaged(path, f"'shapes' is {_shown(shapes)}, not an object", "meta.json")
    if sorted(shapes) != sorted(expected):
        raise _damaged(path, f"'shapes' has parts {sorted(shapes)}; seed chunk {meta['seed_chunk']}, epoch "
                             f"{meta['epoch']} of this run holds {sorted(expected)}", "meta.json")
    for part, want in expected.items():
        got = shapes[part]
        if not isinstance(got, list) or len(got) != len(want):
            raise _damaged(path, f"'shapes.{part}' is not a list of {len(want)} leaves", "meta.json")
        for i, (a, b) in enumerate(zip(got, want)):
            if a != b:
                raise _damaged(path, f"'shapes.{part}' leaf {i} is {_shown(a)}, this run's is {_shown(b)}", "meta.json")


def _file_sums(folder: Path, *, sums: bool = True) -> dict:
    """``{relative path: [size, SHA-256]}`` of every file under ``folder`` (None for each without ``sums``)."""
    out = {}
    for f in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        out[f.relative_to(folder).as_posix()] = (
            [f.stat().st_size, _sha256(f)] if sums else None)
    return out


def _sha256(file: Path) -> str:
    """The SHA-256 of a file's bytes, read a MiB at a time."""
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_files(path: Path, meta: dict) -> None:
    """Every file ``meta["files"]`` lists is in ``arrays/``, of its size and SHA-256 (before orbax reads any)."""
    files, digest = meta.get("files"), meta.get("arrays")
    if not isinstance(files, dict) or not files:
        raise _damaged(path, f"'files' is {_shown(files)}, not an object naming the array files", "meta.json")
    if not (isinstance(digest, str) and re.fullmatch("[0-9a-f]{64}", digest)):
        raise _damaged(path, f"'arrays' is {_shown(digest)}, not a SHA-256", "meta.json")
    arrays = path / "arrays"
    unlisted = sorted(set(_file_sums(arrays, sums=False)) - set(files)) if arrays.is_dir() else []
    if unlisted:
        raise _damaged(path, "a file that meta.json does not list", f"arrays/{unlisted[0]}")
    for name, entry in files.items():
        parts = Path(name).parts
        if (not isinstance(entry, list) or len(entry) != 2 or isinstance(entry[0], bool)
                or not isinstance(entry[0], int) or not isinstance(entry[1], str)
                or not parts or Path(name).is_absolute() or ".." in parts):
            raise _damaged(path, f"'files' entry {_shown(name)}: {_shown(entry)} is not a file's [size, SHA-256]",
                           "meta.json")
        f = arrays / name
        if not f.is_file():
            raise _damaged(path, "missing", f"arrays/{name}")
        size = f.stat().st_size
        if size != entry[0]:
            raise _damaged(path, f"{size} bytes, meta.json says {entry[0]}: truncated?", f"arrays/{name}")
        if _sha256(f) != entry[1]:
            raise _damaged(path, "not the file written: its SHA-256 differs from meta.json's", f"arrays/{name}")


def _read_arrays(path: Path) -> dict:
    """orbax's ``{name: array}`` of ``path/arrays``, as NumPy arrays.

    Raises:
        DataError: orbax or tensorstore could not read them (any exception they raise).
    """
    try:
        import orbax.checkpoint as ocp

        flat = ocp.StandardCheckpointer().restore((path / "arrays").absolute())
        if not isinstance(flat, dict):
            raise TypeError(f"orbax read back {type(flat).__name__}, not a dict of arrays")
        return {str(k): np.asarray(v) for k, v in flat.items()}
    except Exception as err:  # orbax and tensorstore raise many kinds
        raise _damaged(path, err, "arrays") from None


def _arrays_digest(flat: dict) -> str:
    """SHA-256 of ``{name: array}``: every name, shape, dtype and byte, in name order."""
    h = hashlib.sha256()
    for name in sorted(flat):
        x = np.ascontiguousarray(np.asarray(flat[name]))
        h.update(f"{name}|{x.shape}|{x.dtype.str}|".encode())
        h.update(x.tobytes())
    return h.hexdigest()
