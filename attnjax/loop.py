"""The host loop: every seed advanced a chunk of epochs at a time by one compiled program.

`run_chunked` initialises the seeds (`attnjax.train.init_state`), then calls
the [`Programs`][attnjax.programs.Programs] ``advance`` program (``jit(vmap(make_chunk))``,
carry donated) until the last epoch. Between chunks it hands a `ChunkEnd` to the
caller, who may checkpoint it, log it or move a progress bar; nothing inside the program
calls the host, so JAX's persistent compilation cache can keep it.

Seeds that do not fit in memory at once run in seed chunks of equal size, one after
another (the last padded with copies of the last real seed, as in
`attnjax.parallel`); with ``devices`` the seed axis is split over a mesh.

Chaining chunks gives [`attnjax.train.make_train`][]'s numbers bit for bit, whatever the
chunk lengths, because every epoch is the same computation on the same carry
(``tests/test_chunks.py``). The loop runs in one process; a mesh over several hosts is
`attnjax.parallel.run_seeds`'s (whole runs).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any, Callable

import jax
import numpy as np

from .errors import ConfigError
from .programs import Programs, _replicated, _seeds, chunk_length
from .train import Hyper, TrainConfig, TrainResult, TrainState

if TYPE_CHECKING:
    from .checkpoint import Checkpoints

__all__ = ["ChunkEnd", "Snapshot", "EpochChunks", "HostLoop", "run_chunked"]


@dataclasses.dataclass
class EpochChunks:
    """How many epochs each chunk runs (the numbers do not depend on it).

    Attributes:
        every: end a chunk at every multiple of this many epochs (a checkpoint's
            rhythm); None: no fixed boundaries.
        seconds: otherwise, aim for chunks of about this many seconds, so that progress
            moves: the first chunk is one epoch, then as many as that rate fits.
    """

    every: int | None = None
    seconds: float = 1.0

    def stop(self, epoch: int, epochs: int, seconds_per_epoch: float | None) -> int:
        """Where the chunk that starts at ``epoch`` ends."""
        n = 1 if not seconds_per_epoch else max(1, min(epochs, self.seconds / seconds_per_epoch))
        stop = min(epochs, epoch + int(n))
        if self.every:
            stop = min(stop, (epoch // self.every + 1) * self.every)
        return stop


@dataclasses.dataclass
class HostLoop:
    """How [`attnjax.experiments.train_seeds`][] drives its chunks; one object serves many calls.

    Attributes:
        programs: the compiled-program cache ([`Programs`][attnjax.programs.Programs]), shared by
            every run this object drives.
        epochs: the chunks' length ([`EpochChunks`][attnjax.loop.EpochChunks]).
        checkpoints: where to write checkpoints and whether to resume from them
            ([`attnjax.checkpoint.Checkpoints`][]); None: none.
        on_chunk: called ``on_chunk(paradigm_name, chunk_end)`` after every chunk (a history
            log, a TensorBoard writer).
        seed_map: how each program maps its seeds: ``"vmap"``, ``"map"`` or ``"mix:G"``
            (`attnjax.programs.map_seeds`); None: the default of each run's model family on
            this backend (`attnjax.programs.resolve_seed_map`). It changes the speed and the
            memory, and on XLA:CPU the last bits of the MLP's and the CNNs' numbers
            (`attnjax.programs`).
    """

    programs: Programs = dataclasses.field(default_factory=Programs)
    epochs: EpochChunks = dataclasses.field(default_factory=EpochChunks)
    checkpoints: "Checkpoints | None" = None
    on_chunk: Callable[[str, "ChunkEnd"], None] | None = None
    seed_map: str | None = None


@dataclasses.dataclass
class Snapshot:
    """Where a run stands: enough to continue it (what a checkpoint holds).

    Attributes:
        seed_chunk: index of the seed chunk in progress (``n_seed_chunks`` when all are done).
        chunk_size: seeds per chunk (padded to a multiple of the device count).
        epoch: epochs done by the seed chunk in progress.
        state: that chunk's carry as NumPy arrays, padding rows included; None when it has
            not started (``epoch == 0``) or when every seed is done.
        history: that chunk's history so far, ``[real rows, epoch]`` leaves; None with ``state``.
        done: the finished seed chunks, a [`TrainResult`][attnjax.train.TrainResult] of NumPy arrays
            with a leading axis over their seeds; None before the first finishes.
    """

    seed_chunk: int
    chunk_size: int
    epoch: int
    state: Any = None
    history: Any = None
    done: TrainResult | None = None


@dataclasses.dataclass
class ChunkEnd:
    """What the loop reports after each chunk of epochs.

    Attributes:
        config: the run's settings.
        seeds: S, every seed of the run.
        snapshot: the `Snapshot` after this chunk (NumPy state, fetched only when a
            caller asks for it through `host_state`).
        rows: ``(first, stop)``: the seeds of the chunk in progress.
        new: the epochs this chunk ran, ``range(start, stop)``.
        n_seed_chunks: how many seed chunks the run has.
        seconds: wall time of this chunk.
        steps_per_epoch: minibatch steps in an epoch (the fine clock's points are placed by it).
    """

    config: TrainConfig
    seeds: int
    snapshot: Snapshot
    rows: tuple[int, int]
    new: range
    n_seed_chunks: int
    seconds: float
    _device_state: Any = None
    steps_per_epoch: int | None = None

    @property
    def finished_chunk(self) -> bool:
        """This chunk ended its seed chunk (the last epoch)."""
        return self.new.stop == self.config.epochs

    def host_state(self) -> Snapshot:
        """The snapshot with its state copied to the host (for a checkpoint)."""
        if self.snapshot.state is None and self._device_state is not None:
            self.snapshot.state = jax.device_get(self._device_state)
        return self.snapshot


def _cat(*trees):
    trees = [t for t in trees if t is not None]
    if len(trees) == 1:
        return trees[0]
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *trees)


def run_chunked(
    config: TrainConfig,
    keys: jax.Array,
    hparams: Hyper,
    data: Any,
    *,
    programs: Programs,
    chunk_size: int | None = None,
    devices: int | None = None,
    epochs: EpochChunks | None = None,
    on_chunk: Callable[[ChunkEnd], None] | None = None,
    start: Snapshot | None = None,
    seed_map: str | None = None,
) -> TrainResult:
    """Train S seeds of one configuration from the host, a chunk of epochs at a time.

    Arguments:
        config: static settings.
        keys: ``[S]`` typed PRNG keys.
        hparams: a [`Hyper`][attnjax.train.Hyper] of float32 ``[S]`` leaves (``Hyper.traced``).
        data: the data set, shared by every seed.
        programs: the compiled-program cache.
        chunk_size: seeds per program call (default all); rounded up to a multiple of the
            device count.
        devices: split the seed axis over this many devices (a mesh); default: the default
            device, no mesh.
        epochs: how long each chunk of epochs is ([`EpochChunks`][attnjax.loop.EpochChunks]).
        on_chunk: called after every chunk with a `ChunkEnd`.
        start: continue from this `Snapshot` (a checkpoint) instead of epoch 0; its
            ``chunk_size`` is used.
        seed_map: how the programs map the seeds (`attnjax.programs.map_seeds`); None: the
            default of the model family on this backend.

    Returns:
        A [`TrainResult`][attnjax.train.TrainResult] of NumPy arrays with a leading seed axis, equal
        bit for bit to ``jit(vmap(make_train(config)))`` on one device under ``seed_map="vmap"``
        (the other mappings: see `attnjax.programs`).
    """
    from .parallel import _global_array, seed_mesh

    mesh = None if devices is None else seed_mesh(devices)
    n_dev = 1 if mesh is None else mesh.devices.size
    n_seeds = int(np.shape(keys)[0])
    epochs = EpochChunks() if epochs is None else epochs
    if start is not None:
        chunk = start.chunk_size
    else:
        chunk = n_seeds if chunk_size is None else min(chunk_size, n_seeds)
        chunk = n_dev * math.ceil(chunk / n_dev)
    if chunk % n_dev:
        raise ConfigError(f"chunk size {chunk} does not split over {n_dev} devices")
    n_chunks = math.ceil(n_seeds / chunk)

    def place(x):
        if mesh is None:
            return x
        return _global_array(x, _seeds(mesh) if np.ndim(x) else _replicated(mesh))

    shared = data if mesh is None else jax.tree_util.tree_map(
        lambda x: _global_array(x, _replicated(mesh)), data)
    done = None if start is None else start.done
    first = 0 if start is None else start.seed_chunk
    rate = None
    for c in range(first, n_chunks):
        rows = np.minimum(np.arange(c * chunk, (c + 1) * chunk), n_seeds - 1)  # padding repeats the last seed
        real = min(chunk, n_seeds - c * chunk)
        chunk_keys, chunk_h = keys[rows], jax.tree_util.tree_map(lambda x, rows=rows: np.asarray(x)[rows], hparams)
        chunk_keys, chunk_h = place(chunk_keys), jax.tree_util.tree_map(place, chunk_h)
        resumed = start is not None and c == start.seed_chunk and start.state is not None
        if resumed:
            assert start is not None  # resumed says so
            state = jax.tree_util.tree_map(place, _with_keys(start.state))
            epoch, history = start.epoch, start.history
        else:
            state = programs.init(config, chunk_keys, chunk_h, mesh, seed_map=seed_map)(chunk_keys, chunk_h)
            epoch, history = 0, None
        advance = programs.advance(config, state, chunk_h, shared, mesh, seed_map=seed_map)
        while epoch < config.epochs:
            stop = min(epochs.stop(epoch, config.epochs, rate), epoch + chunk_length(config))
            began = time.perf_counter()
            state, new = advance(state, chunk_h, shared, np.int32(epoch), np.int32(stop))
            new = jax.tree_util.tree_map(
                lambda x, real=real, stop=stop, epoch=epoch: np.asarray(x)[:real, : stop - epoch], jax.device_get(new))
            seconds = time.perf_counter() - began
            rate = seconds / (stop - epoch)
            history = new if history is None else jax.tree_util.tree_map(
                lambda a, b: np.concatenate([a, b], 1), history, new)
            span, epoch = range(epoch, stop), stop
            if epoch == config.epochs:  # this seed chunk is done
                params = jax.tree_util.tree_map(lambda x, real=real: np.asarray(x)[:real], jax.device_get(state.params))
                done = _cat(done, TrainResult(params, history))
                snapshot = Snapshot(c + 1, chunk, 0, None, None, done)
            else:
                snapshot = Snapshot(c, chunk, epoch, None, history, done)
            if on_chunk is not None:
                on_chunk(ChunkEnd(config, n_seeds, snapshot, (c * chunk, c * chunk + real), span, n_chunks,
                                  seconds, None if epoch == config.epochs else state,
                                  int(data.train.index.shape[0]) // config.batch_size))
    assert done is not None  # every seed chunk has run
    return done


def _with_keys(state: TrainState) -> TrainState:
    """A host state (raw key data, as a checkpoint holds it) with typed PRNG keys again."""
    key = state.key
    if not jax.numpy.issubdtype(getattr(key, "dtype", np.float32), jax.dtypes.prng_key):
        # jax annotates key_bits_array as jax.Array; it takes NumPy key data (what a checkpoint holds) as well
        key = jax.random.wrap_key_data(np.asarray(key))  # pyright: ignore[reportArgumentType]
    return state._replace(key=key)
