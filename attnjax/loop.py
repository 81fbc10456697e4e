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
(``tests/test_chunks.py``). A run may train its first epochs with another configuration's
program (`FirstPhase`: the hybrid's soft phase by the soft paradigm's, so that it is a soft
run's computation and a soft run can stand for it, `Begin`); its numbers are then those of
that program followed by its own, which can differ from ``make_train``'s one program in the
last bits (`attnjax.experiments.first_phase`). The loop runs in one process; a mesh over
several hosts is `attnjax.parallel.run_seeds`'s (whole runs).
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

__all__ = ["ChunkEnd", "Snapshot", "FirstPhase", "Begin", "EpochChunks", "HostLoop", "run_chunked",
           "seeds_per_call"]


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
class FirstPhase:
    """A run's first epochs trained by another configuration's program.

    The hybrid's soft phase is trained by the soft paradigm's own program
    (`attnjax.experiments.first_phase`), so that it is a soft run's computation, bit for bit, by
    construction: a soft run of the same settings can stand for it (`Begin`).

    Attributes:
        config: the first phase's settings; its ``epochs`` is the epoch where the run's own
            program takes over.
        hparams: its traced values (``[S]`` float32 leaves).
        enter: ``enter(state) -> state``: the run's carry from the first phase's (for the
            hybrid, with the second phase's initial paradigm state); leading axis of any length.
        leave: ``leave(state) -> state``: the first phase's carry from the run's (a resume
            inside the first phase).
    """

    config: TrainConfig
    hparams: Any
    enter: Callable[[TrainState], TrainState]
    leave: Callable[[TrainState], TrainState]


@dataclasses.dataclass
class Begin:
    """Every seed's carry after its first ``epoch`` epochs, trained elsewhere: each seed chunk starts there.

    The hybrid's second phase starts from the soft run's state at the switch
    (`attnjax.experiments.soft_phase_start`): the epochs before it are not trained again.

    Attributes:
        epoch: the epochs already done, in ``1 .. epochs - 1``.
        state: a `attnjax.train.TrainState` of NumPy arrays with a leading axis over
            all S seeds (the key as raw key data or typed keys): the carry after ``epoch`` epochs.
        history: those epochs' history, leaves ``[S, epoch, ...]``.
        seeds_per_call: the seeds each program call of the run that trained them ran (its seed
            chunk, `seeds_per_call`), if known: the last bits of the numbers can depend on it.
    """

    epoch: int
    state: Any
    history: Any
    seeds_per_call: int | None = None


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


def seeds_per_call(chunk_size: int | None, n_seeds: int, n_devices: int = 1) -> int:
    """The seeds one program call runs: ``chunk_size`` (None: all), at most every seed, rounded up to a
    multiple of the device count."""
    chunk = n_seeds if chunk_size is None else min(chunk_size, n_seeds)
    return n_devices * math.ceil(chunk / n_devices)


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
    first: FirstPhase | None = None,
    begin: Begin | None = None,
    final_states: list | None = None,
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
        first: train the epochs before ``first.config.epochs`` with ``first.config``'s program
            (a `attnjax.loop.FirstPhase`: the hybrid's soft phase by the soft
            paradigm's), the rest with ``config``'s. The snapshots and ``on_chunk`` see the run's
            own carry throughout.
        begin: start every seed chunk that ``start`` does not continue from these carries
            (a `attnjax.loop.Begin`) at epoch ``begin.epoch`` instead of from
            `attnjax.train.init_state` at epoch 0; ``on_chunk`` first hears of those epochs as
            one chunk of no seconds (``new`` is ``range(0, begin.epoch)``), so that the history,
            the progress and the checkpoints hold them as if trained.
        final_states: a list that receives, for each seed chunk this call trains to its last
            epoch, ``(first seed, TrainState)``: its real rows' final carry, NumPy arrays, the
            key as raw key data.

    Returns:
        A [`TrainResult`][attnjax.train.TrainResult] of NumPy arrays with a leading seed axis, equal
        bit for bit to ``jit(vmap(make_train(config)))`` on one device under ``seed_map="vmap"``
        (the other mappings: see `attnjax.programs`); with ``first``, to the first phase's
        ``make_train`` followed by the run's from its carry.
    """
    from .parallel import _global_array, seed_mesh

    mesh = None if devices is None else seed_mesh(devices)
    n_dev = 1 if mesh is None else mesh.devices.size
    n_seeds = int(np.shape(keys)[0])
    epochs = EpochChunks() if epochs is None else epochs
    chunk = start.chunk_size if start is not None else seeds_per_call(chunk_size, n_seeds, n_dev)
    if chunk % n_dev:
        raise ConfigError(f"chunk size {chunk} does not split over {n_dev} devices")
    n_chunks = math.ceil(n_seeds / chunk)
    switch = 0 if first is None else first.config.epochs
    if not 0 <= switch < config.epochs:
        raise ConfigError(f"a first phase of {switch} epochs does not fit a run of {config.epochs}")
    if begin is not None and not 0 < begin.epoch < config.epochs:
        raise ConfigError(f"a run of {config.epochs} epochs cannot begin after {begin.epoch}")
    steps_per_epoch = int(data.train.index.shape[0]) // config.batch_size

    def place(x):
        if mesh is None:
            return x
        return _global_array(x, _seeds(mesh) if np.ndim(x) else _replicated(mesh))

    def own(state):  # the run's carry (what a snapshot holds) from the first phase's
        assert first is not None  # only called with a first phase
        return jax.tree_util.tree_map(place, first.enter(state))

    shared = data if mesh is None else jax.tree_util.tree_map(
        lambda x: _global_array(x, _replicated(mesh)), data)
    done = None if start is None else start.done
    rate = None
    for c in range(0 if start is None else start.seed_chunk, n_chunks):
        rows = np.minimum(np.arange(c * chunk, (c + 1) * chunk), n_seeds - 1)  # padding repeats the last seed
        real, seeds = min(chunk, n_seeds - c * chunk), (c * chunk, c * chunk + min(chunk, n_seeds - c * chunk))
        chunk_keys = place(keys[rows])
        chunk_h = jax.tree_util.tree_map(lambda x, rows=rows: place(np.asarray(x)[rows]), hparams)
        first_h = None if first is None else jax.tree_util.tree_map(
            lambda x, rows=rows: place(np.asarray(x)[rows]), first.hparams)
        if start is not None and c == start.seed_chunk and start.state is not None:  # resumed
            state = jax.tree_util.tree_map(place, _with_keys(start.state))
            epoch, history = start.epoch, start.history
            if first is not None and epoch < switch:  # inside the first phase: its own carry
                state = first.leave(state)
        elif begin is not None:  # the epochs before begin.epoch were trained elsewhere: say so as one chunk
            state = jax.tree_util.tree_map(place, _with_keys(_take(begin.state, rows)))
            epoch, history = begin.epoch, _take(begin.history, rows[:real])
            if on_chunk is not None:
                on_chunk(ChunkEnd(config, n_seeds, Snapshot(c, chunk, epoch, None, history, done), seeds,
                                  range(0, epoch), n_chunks, 0.0, state, steps_per_epoch))
            if first is not None and epoch < switch:
                state = first.leave(state)
        else:
            phase, phase_h = (config, chunk_h) if first is None else (first.config, first_h)
            state = programs.init(phase, chunk_keys, phase_h, mesh, seed_map=seed_map)(chunk_keys, phase_h)
            epoch, history = 0, None
        advance, program_of = None, None
        while epoch < config.epochs:
            phase, phase_h, end = ((first.config, first_h, switch) if first is not None and epoch < switch
                                   else (config, chunk_h, config.epochs))
            if program_of is not phase:
                advance, program_of = programs.advance(phase, state, phase_h, shared, mesh, seed_map=seed_map), phase
            stop = min(epochs.stop(epoch, config.epochs, rate), epoch + chunk_length(phase), end)
            began = time.perf_counter()
            assert advance is not None  # set on the first pass of the loop
            state, new = advance(state, phase_h, shared, np.int32(epoch), np.int32(stop))
            new = jax.tree_util.tree_map(
                lambda x, real=real, stop=stop, epoch=epoch: np.asarray(x)[:real, : stop - epoch], jax.device_get(new))
            seconds = time.perf_counter() - began
            rate = seconds / (stop - epoch)
            history = new if history is None else jax.tree_util.tree_map(
                lambda a, b: np.concatenate([a, b], 1), history, new)
            span, epoch = range(epoch, stop), stop
            if first is not None and epoch == switch:  # the run's own program takes over
                state = own(state)
            if epoch == config.epochs:  # this seed chunk is done
                params = jax.tree_util.tree_map(lambda x, real=real: np.asarray(x)[:real], jax.device_get(state.params))
                done = _cat(done, TrainResult(params, history))
                if final_states is not None:
                    final_states.append((c * chunk, _take(_host_carry(state), np.arange(real))))
                snapshot = Snapshot(c + 1, chunk, 0, None, None, done)
            else:
                snapshot = Snapshot(c, chunk, epoch, None, history, done)
            if on_chunk is not None:
                on_chunk(ChunkEnd(config, n_seeds, snapshot, seeds, span, n_chunks, seconds,
                                  None if epoch == config.epochs else own(state) if epoch < switch else state,
                                  steps_per_epoch))
    assert done is not None  # every seed chunk has run
    return done


def _take(tree, rows):
    """The rows ``rows`` of every leaf's leading axis, as NumPy arrays (typed PRNG keys as they are)."""
    def take(x):
        return x[rows] if jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key) else np.asarray(x)[rows]

    return jax.tree_util.tree_map(take, tree)


def _host_carry(state: TrainState) -> TrainState:
    """A carry on the host: NumPy arrays, the key as its raw key data (as a checkpoint holds it)."""
    if jax.numpy.issubdtype(state.key.dtype, jax.dtypes.prng_key):
        state = state._replace(key=jax.random.key_data(state.key))
    return jax.tree_util.tree_map(np.asarray, jax.device_get(state))


def _with_keys(state: TrainState) -> TrainState:
    """A host state (raw key data, as a checkpoint holds it) with typed PRNG keys again."""
    key = state.key
    if not jax.numpy.issubdtype(getattr(key, "dtype", np.float32), jax.dtypes.prng_key):
        # jax annotates key_bits_array as jax.Array; it takes NumPy key data (what a checkpoint holds) as well
        key = jax.random.wrap_key_data(np.asarray(key))  # pyright: ignore[reportArgumentType]
    return state._replace(key=key)
