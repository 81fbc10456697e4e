"""Checkpoints of the host loop with orbax-checkpoint: write between chunks, resume bit for bit.

A [`Checkpoints`][attnjax.checkpoint.Checkpoints] object owns one folder, with a subfolder per paradigm; each holds
``step-NNNNNNNN`` folders (the newest two kept), each one complete snapshot:

* ``arrays/``: orbax's ``StandardCheckpointer`` output: the carry of the seed chunk in
  progress (parameters, optimizer state, PRNG key data, the paradigm's state), its history
  so far, and the finished seed chunks' parameters and histories;
* ``meta.json``: the layout version, the attnjax version, where the run stands (seed chunk,
  chunk size, epoch), the seconds spent, the resolved settings and their SHA-256.

A snapshot is written into ``incoming-NNNNNNNN`` and renamed into place only once both parts
are complete, so a kill at any moment leaves the previous snapshot intact (an ``incoming``
folder left behind is removed when the run resumes). Resuming refuses, with an error that
names the folder, a checkpoint of other settings, of another layout, or one that is damaged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .errors import ConfigError, DataError
from .loop import ChunkEnd, Snapshot
from .protocol import CHECKPOINT_SECONDS
from .train import TrainResult

__all__ = ["LAYOUT", "Checkpoints", "RunCheckpoints", "run_settings", "AUTO_SECONDS"]

#: The checkpoint layout this attnjax writes and reads.
LAYOUT = 1
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


def _difference(a, b, where="") -> str | None:
    """The first place where two JSON values differ, as ``path: old != new``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            diff = _difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
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

    Attributes:
        written: ``[(paradigm, epoch, path)]`` of every snapshot written, oldest first.
    """

    def __init__(self, folder, *, every: int | None = None, resume: bool = False,
                 auto_seconds: float = AUTO_SECONDS):
        self.folder, self.every, self.resume, self.auto_seconds = Path(folder), every, resume, auto_seconds
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
                structure of one seed chunk's carry and history, to rebuild the trees from.

        Raises:
            ConfigError: the snapshot is of other settings or of another layout.
            DataError: it is damaged (unreadable metadata or arrays, wrong shapes).
        """
        for stale in self.folder.glob("incoming-*") if self.folder.is_dir() else []:
            shutil.rmtree(stale, ignore_errors=True)  # a write that a kill interrupted
        steps = self._steps()
        if not steps:
            return None
        path = steps[-1]
        try:
            meta = json.loads((path / "meta.json").read_text())
            layout = meta["layout"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"checkpoint {path} is damaged ({type(err).__name__}: {err}); remove it to resume "
                            "from the one before, or --overwrite to start over") from None
        if layout != LAYOUT:
            raise ConfigError(f"checkpoint {path} has layout {layout} (attnjax {meta.get('attnjax')}); this attnjax "
                              f"reads layout {LAYOUT}: --overwrite to start over")
        if meta.get("settings") != self.settings:
            diff = _difference(meta.get("settings"), self.settings) or "settings"
            raise ConfigError(f"checkpoint {path} is of other settings ({diff}): resume with the settings that "
                              "wrote it, or start over with --overwrite")
        try:
            import orbax.checkpoint as ocp

            flat = ocp.StandardCheckpointer().restore((path / "arrays").absolute())
            snapshot = _unflatten(flat, meta, template_state, template_history)
        except Exception as err:  # orbax and tensorstore raise many kinds
            raise DataError(f"checkpoint {path} is damaged ({type(err).__name__}: "
                            f"{' '.join(str(err).split())[:200]}); remove it to resume from the one before, "
                            "or --overwrite to start over") from None
        self.seconds = float(meta.get("seconds", 0.0))
        return snapshot

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

        meta = {"layout": LAYOUT, "attnjax": __version__, "seed_chunk": snapshot.seed_chunk,
                "chunk_size": snapshot.chunk_size, "epoch": snapshot.epoch, "shapes": shapes,
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
