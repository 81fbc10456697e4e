"""Experiments: many seeds of each paradigm, as plain NumPy results. Nothing here prints."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from .data.base import Dataset, DataInfo
from .errors import ConfigError, NonFiniteLossError, OutOfMemoryError
from .signatures import evaluate_examples, shortcut_report, signature
from .paradigms import HYBRID, SOFT, Paradigm, get_paradigm, hybrid_phases, paradigm_name
from .protocol import DEFAULT_LOSSES, FIXED_FOCUS, FIXED_FOCUS_ALPHAS, PARADIGMS, SEEDS, Protocol, get_protocol
from .checkpoint import RunCheckpoints, run_settings, settings_difference
from .loop import Begin, ChunkEnd, FirstPhase, HostLoop, run_chunked, seeds_per_call
from .programs import Programs, resolve_seed_map
from .train import Hyper, TrainConfig, init_state, make_chunk

__all__ = [
    "SeedRuns",
    "Diverged",
    "finished",
    "memory_plan",
    "memory_cause",
    "Programs",
    "train_seeds",
    "first_phase",
    "soft_phase_start",
    "paradigm_configs",
    "compare",
    "evaluate_examples",
    "signature",
    "shortcut_report",
    "fixed_focus",
]

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclasses.dataclass
class SeedRuns:
    """S seeds of one paradigm, trained in one program.

    Attributes:
        config: the run's static settings.
        hparams: every run's traced values exactly as given ([`Hyper.checked`][attnjax.config.Hyper.checked]: ``[S]``
            float64 arrays; ``switch_epoch`` only for the hybrid); training used their float32
            roundings. ``learning_rate``, ``alpha``, ``switch_epoch``, ``init_scale``,
            ``temperature`` and ``optimizer`` read from it.
        params: final parameters, each leaf with a leading seed axis.
        history: per-epoch history as NumPy arrays, leading axes ``[S, epochs]``.
        seconds: wall time of compilation plus training.
        chunk_size: seeds per program call, if the seeds ran in chunks.
        notes: what was done automatically (a chunk size picked for memory), one sentence each.
        traces: how many times this call traced (compiled) the training
            program: 1 for a fresh configuration, 0 when a cached one was reused (the hybrid's soft
            phase runs the soft paradigm's program, `first_phase`: one more).
        compile_seconds: of ``seconds``, those spent tracing and compiling (this session).
        train_seconds: the rest: training, checkpoints and progress, over every session of
            a resumed run.
        seed_map: how the programs mapped the seeds (``"vmap"``, ``"map"`` or ``"mix:G"``,
            `attnjax.programs.map_seeds`), resolved.
        steps_per_epoch: minibatch steps in each epoch (``n_train // batch_size``), the clock of
            the history's points (`attnjax.clock`).
        reused_epochs: the hybrid's first epochs taken from the soft run instead of trained
            (`soft_phase_start`); 0 when every epoch was trained here.
        final_state: with ``train_seeds(keep_state=True)``, every seed's final
            `attnjax.train.TrainState` (NumPy arrays, the key as raw key data) when
            this call trained every seed chunk to its end; None otherwise ([`compare`][attnjax.experiments.compare]
            drops it once the hybrid has started from it).
        settings: with ``keep_state``, what the numbers depend on
            (`attnjax.checkpoint.run_settings`: the config, the values, the keys and the data).
    """

    config: TrainConfig
    hparams: Hyper
    params: Any
    history: Any
    seconds: float
    chunk_size: int | None = None
    notes: list = dataclasses.field(default_factory=list)
    traces: int = 0
    compile_seconds: float = 0.0
    train_seconds: float = 0.0
    seed_map: str | None = None
    steps_per_epoch: int | None = None
    reused_epochs: int = 0
    final_state: Any = None
    settings: dict | None = None

    @property
    def name(self) -> str:
        return paradigm_name(self.config.loss)

    learning_rate = property(lambda self: self.hparams.learning_rate, doc="``[S]`` learning rates.")
    alpha = property(lambda self: self.hparams.alpha, doc="``[S]`` frozen foreground attention (fixed focus).")
    switch_epoch = property(lambda self: self.hparams.switch_epoch, doc="``[S]`` the hybrid's switch epochs, or None.")
    init_scale = property(lambda self: self.hparams.init_scale, doc="``[S]`` factors on the initial parameters.")
    temperature = property(lambda self: self.hparams.temperature, doc="``[S]`` hard-gumbel's temperatures.")
    optimizer = property(lambda self: dict(self.hparams.optimizer or {}), doc="``{name: [S]}`` optimizer values.")


def memory_plan(config: TrainConfig, keys, hparams, data, *, programs: Programs | None = None,
                available: int | None = None, seed_map: str | None = None) -> tuple[int, str] | None:
    """Before training: a chunk size, if XLA's memory analysis says all seeds at once do not fit.

    The all-seeds chunk program, its seeds mapped as ``seed_map`` says (None: the default of the
    model family on this backend), is compiled (and kept in ``programs`` for the run); its arguments,
    outputs and temporaries, less the data every seed shares, are divided by S
    to give a per-seed cost. If the total exceeds 80% of the memory available
    (`attnjax.parallel.available_memory`), the chunk is the number of
    seeds that fit in half of it.

    Returns:
        ``(chunk_size, sentence)``, or None when all seeds fit (or nothing is known).

    Raises:
        OutOfMemoryError: not even one seed fits.
    """
    from .parallel import available_memory

    available = available_memory() if available is None else available
    try:
        programs = Programs() if programs is None else programs
        state = jax.eval_shape(jax.vmap(lambda k, h: init_state(config, k, h)), keys, hparams)
        stats = programs.advance(config, state, hparams, data, seed_map=seed_map).memory_analysis()
    except Exception:  # a backend without the analysis
        stats = None
    if stats is None or available is None:
        return None
    seeds = int(np.shape(keys)[0])
    shared = sum(np.asarray(x).nbytes for x in jax.tree_util.tree_leaves(data))
    total = int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)
    per_seed = max(1, (total - shared) // seeds)
    if total <= 0.8 * available:
        return None
    chunk = int((0.5 * available - shared) // per_seed)
    gib = 2**30
    if chunk < 1:
        raise OutOfMemoryError(
            f"one seed needs about {(shared + per_seed) / gib:.2f} GiB (XLA's memory analysis) with "
            f"{available / gib:.2f} GiB available")
    return min(chunk, seeds), (f"{seeds} seeds at once need about {total / gib:.2f} GiB (XLA's memory analysis) "
                              f"with {available / gib:.2f} GiB available; training them in chunks of "
                              f"{min(chunk, seeds)} (the chunk size)")


def memory_cause(config: TrainConfig) -> str:
    """What one seed's program holds, in words, for a refusal for memory: the batch, the padded
    length of a post (text) or the example's segments, and a transformer's heads and layers."""
    parts = [f"batches of {config.batch_size}"]
    if config.vocab_size is not None:
        parts.append(f"every post padded to {config.m:,} tokens")
    else:
        parts.append(f"{config.m} segments of shape {tuple(config.segment_shape)} an example")
    if config.model == "transformer":
        parts.append(f"{config.heads:,} heads x {config.layers:,} layers of self-attention "
                     f"(scores of {config.heads:,} x {config.m:,}^2 per example)")
    return ", ".join(parts)


def check_finite(config: TrainConfig, losses: np.ndarray, *, first_seed: int = 0) -> None:
    """Raise NonFiniteLossError naming the first seed and epoch whose loss is not finite.

    Arguments:
        losses: ``[seeds, epochs]``, of the seeds numbered from ``first_seed``.
    """
    bad = ~np.isfinite(losses)
    if bad.any():
        row, epoch = map(int, np.argwhere(bad)[0])
        seed, value = row + first_seed, losses[row, epoch]
        err = NonFiniteLossError(
            f"{paradigm_name(config.loss)} training diverged: loss {value} at seed {seed}, "
            f"epoch {epoch + 1} (try a smaller learning rate, or an init scale closer to 1); nothing was saved"
        )
        err.seed, err.epoch, err.loss = seed, epoch + 1, str(float(value))
        raise err


def train_seeds(
    config: TrainConfig,
    data: Dataset,
    *,
    seeds: int,
    learning_rate: float | Sequence[float] | None = None,
    alpha: float | Sequence[float] = 1.0,
    switch_epoch: int | Sequence[int] | None = None,
    init_scale: float | Sequence[float] = 1.0,
    optimizer: dict[str, float | Sequence[float]] | None = None,
    temperature: float | Sequence[float] = 1.0,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    key_index: Sequence[int] | None = None,
    devices: int | None = None,
    chunk_size: int | None = None,
    auto_chunk: bool = True,
    host: HostLoop | None = None,
    keep_state: bool = False,
    soft_phase: SeedRuns | None = None,
) -> SeedRuns:
    """Train ``seeds`` runs of one configuration, all seeds in one compiled program.

    The run is a host loop over chunks of epochs (`attnjax.loop.run_chunked`): one
    compiled program advances every seed by a chunk, and between chunks the host reports
    progress, writes checkpoints and calls ``on_chunk``. The program maps the seeds as
    ``host.seed_map`` says (`attnjax.programs.map_seeds`); under ``vmap`` the numbers
    equal ``jit(vmap(make_train(config)))``'s bit for bit on one device.

    Arguments:
        config: static settings.
        data: the mosaics.
        seeds: S, number of runs (their keys are ``split(key(seed), S)``).
        learning_rate: one value, or S values (a grid, one per run); default:
            the attnjax protocol's.
        alpha: fixed-focus attention, one value or S values.
        switch_epoch: hybrid only: one value or S values in [0, epochs];
            default ``config.default_switch_epoch``.
        init_scale: factor on the initial parameters, one value or S values.
        temperature: ``hard-gumbel``'s temperature, one value or S values.
        optimizer: the optimizer's other numeric hyper-parameters, each one
            value or S values (e.g. ``{"momentum": [0.5, 0.9]}``); see
            [`Hyper`][attnjax.train.Hyper].
        seed: base seed.
        progress: called with each finished epoch index, once per seed chunk (after the
            chunk of epochs that ran it); its optional ``note(text)`` and ``reset(total)``
            hear of a seed-chunk size picked for memory.
        key_index: optional ``[S]`` seed number of each run (runs sharing a
            number share a key: e.g. the same seed at several alphas).
        devices: shard the runs over this many devices (see
            `attnjax.parallel`); default: one program on the default device.
        chunk_size: run the seeds in chunks of this many (one compiled program
            reused), for S seeds that do not fit in memory at once.
        auto_chunk: before training, pick a chunk size from XLA's memory analysis if all
            seeds would not fit; if the device still runs out of memory, pick a smaller one
            from the size XLA failed to allocate, retry, and say so in ``notes`` (see
            `attnjax.parallel.run_fitting_memory`).
        host: how the host loop runs ([`attnjax.loop.HostLoop`][]: the compiled-program
            cache to use and fill, the chunks' length, checkpoints to write and resume from,
            a watcher of every chunk, the seed map); default: a fresh one, so this call compiles its
            programs and writes no checkpoint.
        keep_state: keep every seed's final carry in ``SeedRuns.final_state`` (and the run's
            settings in ``SeedRuns.settings``), for a hybrid to start from (``soft_phase``).
        soft_phase: the hybrid only: a finished soft run kept with ``keep_state``. When its
            epochs are provably this run's first phase (`soft_phase_start`), the second phase
            starts from its final state and those epochs are not trained again (the numbers are
            those of training them, bit for bit), and ``notes`` says so; when the switch is at the
            soft run's end but another check fails, ``notes`` says why it was trained again. A run
            resumed from its own checkpoint ignores it.

    Returns:
        `SeedRuns`.

    Raises:
        ConfigError: on bad sizes, or a checkpoint of other settings.
        DataError: a damaged checkpoint.
        NonFiniteLossError: if any run's loss became NaN or infinite (found at the end of
            the chunk where it happened).
        OutOfMemoryError: even one seed at a time does not fit.
    """
    if seeds < 1:
        raise ConfigError(f"the number of seeds must be positive, got {seeds}")
    if learning_rate is None:
        learning_rate = get_protocol().learning_rate
    paradigm = get_paradigm(config.loss)
    if switch_epoch is not None and "switch_epoch" not in paradigm.hyper:
        raise ConfigError(f"a switch epoch applies only to the hybrid, not to {paradigm_name(config.loss)!r}")
    if "switch_epoch" in paradigm.hyper and switch_epoch is None:
        switch_epoch = config.default_switch_epoch
    # The values as given (float64) are recorded; training uses their float32 roundings.
    given = Hyper.checked(seeds, learning_rate=learning_rate, alpha=alpha, switch_epoch=switch_epoch,
                          init_scale=init_scale, optimizer=optimizer, temperature=temperature)
    if given.switch_epoch is not None and np.any(given.switch_epoch > config.epochs):
        raise ConfigError(f"the switch epoch must be in [0, epochs={config.epochs}], got {switch_epoch}")
    hparams = given.traced()
    keys = jax.random.split(jax.random.key(seed), seeds)
    if key_index is not None:
        keys = keys[np.asarray(key_index)]
    host = HostLoop() if host is None else host
    programs, checkpoints = host.programs, host.checkpoints
    seed_map = resolve_seed_map(host.seed_map, config)
    first = first_phase(config, given)  # the hybrid's soft phase: the soft paradigm's own program
    programs_of = [config] if first is None else [config, first.config]
    traces_before = sum(programs.traces[c] for c in programs_of)
    compile_before = sum(programs.compile_seconds[c] for c in programs_of)
    start = time.perf_counter()
    notes: list[str] = []
    name = paradigm_name(config.loss)
    saved = None if checkpoints is None else checkpoints.run(
        name, run_settings(config, given, keys, data, devices=devices, seed_map=seed_map))
    snapshot = (_restore(saved, config, keys, hparams, data)
                if saved is not None and checkpoints is not None and checkpoints.resume else None)
    settings = None
    if keep_state:
        settings = (saved.settings if saved is not None
                    else run_settings(config, given, keys, data, devices=devices, seed_map=seed_map))
    begin, why = (soft_phase_start(soft_phase, config, given, keys, data, devices=devices, seed_map=seed_map)
                  if soft_phase is not None and snapshot is None else (None, None))
    began: list = []  # whether the last try started from ``begin``
    if snapshot is not None:  # the seed chunks the checkpoint was written with
        chunk_size = snapshot.chunk_size if snapshot.chunk_size < seeds else None
        if progress is not None:
            for e in range(snapshot.seed_chunk * config.epochs + snapshot.epoch):
                progress(e % config.epochs)

    def tell(text: str) -> None:  # a note, said to the caller at once
        notes.append(text)
        if progress is not None and hasattr(progress, "note"):
            progress.note(text)

    def said(why: str, chunk: int) -> None:  # a chunk size chosen for memory
        tell(why)
        if progress is not None and hasattr(progress, "reset"):
            progress.reset(config.epochs * -(-seeds // chunk))

    def chunk_done(end: ChunkEnd) -> None:
        _check_chunk(config, end)
        if progress is not None:
            for e in end.new:
                progress(e)
        if host.on_chunk is not None:  # the live records first: they are never behind a checkpoint
            host.on_chunk(name, end)
        if saved is not None:
            saved.on_chunk(end, time.perf_counter() - start)

    epochs = host.epochs  # chunks end where checkpoints are due
    if checkpoints is not None and checkpoints.every and not epochs.every:
        epochs = dataclasses.replace(epochs, every=checkpoints.every)

    attempts: list = []
    finals: list = []  # (first seed, final carry) of each seed chunk trained to its end

    def run(chunk):
        if attempts and saved is not None:  # a retry in smaller seed chunks: the first try's snapshots go
            saved.clear()
        attempts.append(chunk)
        finals.clear()
        # the soft run's epochs stand for the first phase only if its programs ran as many seeds at once
        same = begin is not None and begin.seeds_per_call == seeds_per_call(chunk, seeds, devices or 1)
        began[:] = [same]
        return run_chunked(config, keys, hparams, data, programs=programs, chunk_size=chunk, devices=devices,
                           epochs=epochs, on_chunk=chunk_done, start=snapshot, seed_map=seed_map, first=first,
                           begin=begin if same else None, final_states=finals if keep_state else None)

    plan = ((lambda: memory_plan(config, keys, hparams, data, programs=programs, seed_map=seed_map))
            if auto_chunk and devices is None and chunk_size is None and snapshot is None else None)
    from .parallel import run_fitting_memory

    try:
        result, chunk_size = run_fitting_memory(run, seeds, chunk_size, plan=plan,
                                                retry=auto_chunk and snapshot is None, on_chunk=said)
    except OutOfMemoryError as err:  # name what made it large: the caller says what can shrink
        raise OutOfMemoryError(f"{err} ({memory_cause(config)})") from None
    reused = begin is not None and began == [True]
    if reused:
        assert begin is not None  # reused says so
        tell(f"the soft phase (epochs 1-{begin.epoch}) was taken from the soft run's final state, not trained "
             "again (the same program on the same values: the same numbers, bit for bit; its time is the soft run's)")
    elif begin is not None:
        tell(f"the soft phase was trained again: the soft run ran {begin.seeds_per_call} seeds a program call, "
             f"this run {seeds_per_call(chunk_size, seeds, devices or 1)}")
    elif why is not None:
        tell(f"the soft phase was trained again: {why}")
    seconds = time.perf_counter() - start
    compiling = sum(programs.compile_seconds[c] for c in programs_of) - compile_before
    earlier = 0.0 if saved is None else saved.seconds
    return SeedRuns(config, given, result.params, result.history, seconds + earlier, chunk_size, notes,
                    traces=sum(programs.traces[c] for c in programs_of) - traces_before, compile_seconds=compiling,
                    train_seconds=seconds - compiling + earlier, seed_map=seed_map,
                    steps_per_epoch=int(data.train.index.shape[0]) // config.batch_size,
                    reused_epochs=begin.epoch if reused and begin is not None else 0,
                    final_state=_every_seed(finals, seeds) if keep_state else None, settings=settings)


def _every_seed(finals: list, seeds: int):
    """The final carries of every seed, joined in seed order, or None if some seed chunk was not
    trained to its end by this call (it finished in an earlier session: a checkpoint keeps only
    its parameters)."""
    finals = sorted(finals, key=lambda f: f[0])
    first = 0
    for start, state in finals:
        if start != first:
            return None
        first += int(np.shape(state.key)[0])
    if first != seeds:
        return None
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *(state for _, state in finals))


def first_phase(config: TrainConfig, given: Hyper) -> FirstPhase | None:
    """The hybrid's soft phase as the soft paradigm's own run, when every run switches at the same epoch.

    The hybrid's program picks its loss with a ``lax.cond`` on the epoch (`attnjax.paradigms`);
    under ``vmap`` that computes both losses and selects, and XLA may compile the soft loss in it
    to other kernels than in the soft run's program (last bits: with ``eval_every`` and one seed
    a call, for one). So when every run's switch is the same epoch s (``0 < s < epochs``), the
    host loop trains epochs ``0 .. s - 1`` with the program of the soft run the hybrid's phase
    is: its config is the hybrid's with ``loss="soft"``, ``epochs=s`` and no switch, its values
    the hybrid's without the switch (`attnjax.loop.FirstPhase`). Its numbers are then a soft
    run's by construction, and a soft run of the same settings can stand for them
    (`soft_phase_start`). At the switch the carry gains the second phase's initial paradigm
    state, which the hybrid's program would have kept unchanged until then.

    Arguments:
        config: the run's settings.
        given: its values as given ([`Hyper.checked`][attnjax.config.Hyper.checked]).

    Returns:
        The first phase, or None: not attnjax's hybrid, switches that differ between runs, or a
        switch at the first or after the last epoch (the hybrid's own program then runs every epoch).
    """
    if get_paradigm(config.loss) is not HYBRID or given.switch_epoch is None:
        return None
    switch = np.unique(np.asarray(given.switch_epoch))
    if switch.size != 1 or not 0 < int(switch[0]) < config.epochs:
        return None
    soft = dataclasses.replace(config, loss=SOFT.name, epochs=int(switch[0]), switch_epoch=None)
    second = hybrid_phases(config)[1].init_state(config)  # the second phase's state until the switch

    def enter(state):
        rows = int(np.shape(state.key)[0])
        fresh = jax.tree_util.tree_map(lambda x: np.array(np.broadcast_to(np.asarray(x), (rows, *np.shape(x)))),
                                       second)
        return state._replace(paradigm_state=(state.paradigm_state, fresh))

    def leave(state):
        return state._replace(paradigm_state=state.paradigm_state[0])

    return FirstPhase(soft, given._replace(switch_epoch=None).traced(), enter, leave)


def soft_phase_start(soft: SeedRuns, config: TrainConfig, given: Hyper, keys, data, *, devices: int | None = None,
                     seed_map: str) -> tuple[Begin | None, str | None]:
    """Where the hybrid's second phase can start from a finished soft run instead of training its first phase.

    The hybrid's soft phase is trained by the soft run's own program (`first_phase`); the soft
    run stands for it when that program ran on the same values. This is checked, not assumed:
    the soft run is attnjax's soft paradigm and its config is the hybrid's first phase's (every
    static setting the same, its ``epochs`` every run's switch); the values as given (learning
    rates, init scales, optimizer values, ...; the switch apart), the seeds' keys and the data
    (SHA-256 digests, as `attnjax.checkpoint.run_settings` records them), the device count and
    the seed map are the same; the soft run kept every seed's final carry
    (``train_seeds(keep_state=True)``; a seed chunk that finished in an earlier session left only
    its parameters in its checkpoint), of the first phase's structure, shapes and dtypes. The
    caller also starts from it only when its programs run as many seeds a call as the soft run's
    did (``Begin.seeds_per_call``: XLA compiles a program for one seed otherwise than for several).

    Arguments:
        soft: the soft run.
        config, given, keys, data: the hybrid's settings, its values as given
            ([`Hyper.checked`][attnjax.config.Hyper.checked]), its ``[S]`` keys and its data.
        devices, seed_map: the hybrid's (resolved seed map).

    Returns:
        ``(begin, None)`` to start from (a `attnjax.loop.Begin`: the soft run's final
        carry with the second phase's initial paradigm state, and its history); ``(None, why)``
        when the switch is at the soft run's end but a check fails; ``(None, None)`` when the
        hybrid's first phase is not the soft run at all (another paradigm, another switch).
    """
    first = first_phase(config, given)
    if first is None or get_paradigm(soft.config.loss) is not SOFT or first.config.epochs != soft.config.epochs:
        return None, None
    if soft.final_state is None or soft.settings is None:
        return None, ("the soft run's final state is not at hand (a seed chunk of it finished in an earlier "
                      "session, and a checkpoint keeps only the parameters of a finished one)")
    if first.config != soft.config:
        field = next(f.name for f in dataclasses.fields(TrainConfig)
                     if getattr(first.config, f.name) != getattr(soft.config, f.name))
        return None, f"the soft run has another {field}"
    mine = run_settings(first.config, given._replace(switch_epoch=None), keys, data, devices=devices,
                        seed_map=seed_map)
    if mine != soft.settings:
        return None, f"the soft run differs ({settings_difference(soft.settings, mine)})"
    hparams = first.hparams
    start = jax.eval_shape(jax.vmap(lambda k, h: init_state(first.config, k, h)), keys, hparams)
    _, history = jax.eval_shape(jax.vmap(make_chunk(first.config, 1), in_axes=(0, 0, None, None, None)),
                                start, hparams, data, 0, 0)
    want = start._replace(key=jax.eval_shape(jax.random.key_data, start.key))
    if not (_same_shapes(soft.final_state, want) and _same_shapes(soft.history, history, epochs_axis=first.config.epochs)):
        return None, "the soft run's final state or history is not of the soft phase's structure"
    seeds = int(np.shape(keys)[0])
    return Begin(first.config.epochs, first.enter(soft.final_state), soft.history,
                 seeds_per_call(soft.chunk_size, seeds, devices or 1)), None


def _same_shapes(tree, want, *, epochs_axis: int | None = None) -> bool:
    """``tree`` has ``want``'s structure, shapes and dtypes (with ``epochs_axis``: the second axis
    of each leaf of ``tree`` has that length, ``want``'s has 1)."""
    if jax.tree_util.tree_structure(tree) != jax.tree_util.tree_structure(want):
        return False
    for x, w in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(want)):
        shape = tuple(w.shape) if epochs_axis is None else (w.shape[0], epochs_axis, *w.shape[2:])
        if tuple(np.shape(x)) != shape or np.asarray(x).dtype != w.dtype:
            return False
    return True


def _restore(saved: RunCheckpoints, config: TrainConfig, keys, hparams, data):
    """The newest snapshot of ``saved``, its trees rebuilt from the shapes of one seed's run."""
    one = jax.tree_util.tree_map(lambda x: x[:1], hparams)
    state = jax.eval_shape(jax.vmap(lambda k, h: init_state(config, k, h)), keys[:1], one)
    _, history = jax.eval_shape(jax.vmap(make_chunk(config, 1), in_axes=(0, 0, None, None, None)),
                                state, one, data, 0, 0)
    return saved.latest(state, history)


def _check_chunk(config: TrainConfig, end: ChunkEnd) -> None:
    """NonFiniteLossError naming the first seed and epoch, as soon as a chunk's loss is not finite."""
    snap, first = end.snapshot, end.rows[0]
    history = snap.history
    if history is None:  # the chunk finished its seeds: the last rows of ``done``
        assert snap.done is not None
        history = jax.tree_util.tree_map(lambda x: x[first:], snap.done.history)
    check_finite(config, np.asarray(history.loss), first_seed=first)
    if config.fixed_focus:
        check_finite(config, np.asarray(history.fixed_focus_loss).max(-1), first_seed=first)


def paradigm_configs(
    data: Dataset,
    info: DataInfo,
    losses: Sequence[str],
    *,
    protocol: str | Protocol | None = None,
    **train_options,
) -> dict[str, TrainConfig]:
    """One validated [`TrainConfig`][attnjax.experiments.TrainConfig] per paradigm (raises ConfigError before any work).

    Arguments:
        data, info: the mosaics.
        losses: paradigm names.
        protocol: supplies every option not given (see [`TrainConfig.for_data`][attnjax.config.TrainConfig.for_data]).
            A protocol's batch size larger than the training set is clipped to
            it (full-batch training); an explicit one is an error.
        **train_options: [`TrainConfig`][attnjax.experiments.TrainConfig] fields; None means the protocol's default.
    """
    unknown = [name for name in losses if not isinstance(name, Paradigm) and name not in PARADIGMS]
    if unknown or not losses:
        raise ConfigError(
            f"unknown loss(es) {unknown or '(none given)'}; choose from {', '.join(PARADIGMS)}"
        )
    n_train = data.train.index.shape[0]
    if train_options.get("batch_size") is None:
        train_options["batch_size"] = min(get_protocol(protocol).for_data(info.vocab_size is not None).batch_size,
                                          n_train)
    elif train_options["batch_size"] > n_train:
        raise ConfigError(
            f"the batch size {train_options['batch_size']} exceeds the {n_train} training mosaics",
            field="batch_size")
    return {
        paradigm_name(loss): TrainConfig.for_data(info, protocol=protocol, loss=loss, **train_options)
        for loss in losses
    }


def compare(
    data: Dataset,
    info: DataInfo,
    *,
    losses: Sequence[str] = DEFAULT_LOSSES,
    seeds: int = SEEDS,
    protocol: str | Protocol | None = None,
    seed: int = 0,
    progress: ProgressFactory | None = None,
    devices: int | None = None,
    chunk_size: int | None = None,
    keep_diverged: bool = False,
    host: HostLoop | None = None,
    reuse_soft_phase: bool = True,
    **options,
) -> dict[str, SeedRuns]:
    """Train each paradigm on the same data for the same seeds.

    Arguments:
        data: the mosaics.
        info: their description.
        losses: paradigms to run, from ``PARADIGMS``.
        seeds: S runs per paradigm.
        protocol: ``"attnjax"`` (default) or ``"paper"``: the defaults of
            every option not given.
        seed: base seed (same keys for every paradigm).
        progress: ``progress(loss_name, epochs)`` returns an epoch callback.
        devices: as for [`train_seeds`][attnjax.experiments.train_seeds].
        chunk_size: as for [`train_seeds`][attnjax.experiments.train_seeds].
        keep_diverged: a paradigm that diverges becomes a [`Diverged`][attnjax.experiments.Diverged]
            record and the others still run (default: raise NonFiniteLossError).
        host: the host loop of every paradigm ([`attnjax.loop.HostLoop`][]).
        reuse_soft_phase: when the hybrid's soft phase is the soft run (under ``protocol="paper"``
            each hybrid phase has ``epochs`` epochs: the switch is at the soft run's end), start
            its second phase from the soft run's final state instead of training the soft phase
            again (`soft_phase_start` checks that the numbers are the same, bit for bit; the
            hybrid's ``notes`` say so). The soft run must come before the hybrid in ``losses``.
            False: train every epoch of every paradigm.
        **options: traced values, as [`train_seeds`][attnjax.experiments.train_seeds] takes them (``learning_rate``,
            default the protocol's; ``switch_epoch``, default the protocol's schedule, given
            to the hybrid only; ``init_scale``, ``temperature``, ``optimizer``), and
            [`TrainConfig`][attnjax.experiments.TrainConfig] fields (epochs, batch_size, ...; ``hybrid_epochs=(soft,
            second)`` for the hybrid's phases).

    Returns:
        ``{loss: SeedRuns}`` in the order given.
    """
    hyper, train_options = _split(options)
    protocol = get_protocol(protocol).for_data(info.vocab_size is not None)  # text: the text_* defaults
    configs = paradigm_configs(data, info, losses, protocol=protocol, **train_options)
    return _run_each(configs, data, progress, seeds=seeds, protocol=protocol, seed=seed, devices=devices,
                     chunk_size=chunk_size, keep_diverged=keep_diverged, host=host,
                     reuse_soft_phase=reuse_soft_phase, **hyper)


def _split(options: dict) -> tuple[dict, dict]:
    """``(traced values, TrainConfig fields)``: the names of [`Hyper`][attnjax.experiments.Hyper] go to the first, except
    ``optimizer``, which here names the [`TrainConfig`][attnjax.experiments.TrainConfig] field (sgd, adam, a factory)."""
    static = {f.name for f in dataclasses.fields(TrainConfig)}
    hyper = {k: v for k, v in options.items() if k in Hyper._fields and k not in static}
    return hyper, {k: v for k, v in options.items() if k not in hyper}


@dataclasses.dataclass
class Diverged:
    """A paradigm whose training loss became NaN or infinite (its results are not kept).

    Attributes:
        config: the run's static settings.
        seed: the first run (index) with a non-finite loss.
        epoch: the first epoch (1-based) with a non-finite loss in that run.
        loss: that loss, as text (``"nan"``, ``"inf"``).
        seconds: wall time spent.
    """

    config: TrainConfig
    seed: int
    epoch: int
    loss: str
    seconds: float


def finished(runs: Mapping[str, Any]) -> dict:
    """``{loss: SeedRuns}`` of the paradigms that did not diverge (``Diverged`` records dropped)."""
    return {name: r for name, r in runs.items() if not isinstance(r, Diverged)}


def _run_each(
    configs: dict[str, TrainConfig], data: Dataset, progress, *, seeds: int, protocol=None, switch_epoch=None,
    learning_rate=None, keep_diverged: bool = False, chunk_size: int | None = None, host: HostLoop | None = None,
    reuse_soft_phase: bool = True, **seed_options,
):
    """[`train_seeds`][attnjax.experiments.train_seeds] for each configuration, each with its own progress callback.

    The learning rate defaults to the protocol's; the switch epoch goes to the paradigms that
    have one. With ``keep_diverged``, a paradigm that diverges becomes a [`Diverged`][attnjax.experiments.Diverged]
    record and the others still run; otherwise its NonFiniteLossError propagates. With
    ``reuse_soft_phase``, a soft run followed by a hybrid that switches at its end keeps its final
    state, and the hybrid starts its second phase from it (`soft_phase_start`; the state is
    dropped once used).
    """
    n_chunks = 1 if chunk_size is None else -(-seeds // chunk_size)
    host = HostLoop() if host is None else host
    learning_rate = get_protocol(protocol).learning_rate if learning_rate is None else learning_rate
    keep = _soft_for_hybrid(configs, switch_epoch) if reuse_soft_phase else None
    out = {}
    for name, config in configs.items():
        start = time.perf_counter()
        paradigm = get_paradigm(config.loss)
        soft = out.get(keep) if paradigm is HYBRID and keep is not None else None
        try:
            out[name] = train_seeds(
                config, data, seeds=seeds, chunk_size=chunk_size, host=host, learning_rate=learning_rate,
                progress=progress(name, config.epochs * n_chunks) if progress else None,
                switch_epoch=switch_epoch if "switch_epoch" in paradigm.hyper else None,
                keep_state=name == keep, soft_phase=soft if isinstance(soft, SeedRuns) else None,
                **seed_options,
            )
        except NonFiniteLossError as err:
            if not keep_diverged:
                raise
            out[name] = Diverged(config, err.seed, err.epoch, err.loss, time.perf_counter() - start)
    for r in out.values():  # the soft run's final carry served the hybrid: free it
        if isinstance(r, SeedRuns):
            r.final_state = r.settings = None
    return out


def _soft_for_hybrid(configs: dict[str, TrainConfig], switch_epoch) -> str | None:
    """The name of the soft run whose end is a later hybrid's switch (every run's), or None."""
    soft = None
    for name, config in configs.items():
        paradigm = get_paradigm(config.loss)
        if paradigm is SOFT and soft is None:
            soft = name
        elif paradigm is HYBRID and soft is not None:
            switch = np.asarray(config.default_switch_epoch if switch_epoch is None else switch_epoch)
            if np.all(switch == configs[soft].epochs):
                return soft
    return None


def fixed_focus(
    data: Dataset,
    info: DataInfo,
    *,
    alphas: Sequence[float] | np.ndarray = FIXED_FOCUS_ALPHAS,
    losses: Sequence[str] = FIXED_FOCUS,
    seeds: int = SEEDS,
    protocol: str | Protocol | None = None,
    seed: int = 0,
    progress: ProgressFactory | None = None,
    devices: int | None = None,
    chunk_size: int | None = None,
    keep_diverged: bool = False,
    host: HostLoop | None = None,
    **options,
) -> dict[str, SeedRuns]:
    """The fixed-focus experiment: freeze the attention, train only the classifier.

    For each loss, all (alpha, seed) pairs train in one vmapped program; run
    ``a * seeds + s`` has ``alpha = alphas[a]`` and the key of seed s.

    Arguments:
        data: the mosaics.
        info: their description.
        alphas: foreground attention values in (0, 1].
        losses: paradigms.
        seeds: runs per alpha.
        protocol: as for [`compare`][attnjax.experiments.compare]; its ``fixed_focus_epochs``
            is the default number of epochs.
        seed: as for [`compare`][attnjax.experiments.compare].
        progress: as for [`compare`][attnjax.experiments.compare].
        devices: as for [`compare`][attnjax.experiments.compare].
        chunk_size: as for [`compare`][attnjax.experiments.compare].
        keep_diverged: as for [`compare`][attnjax.experiments.compare].
        host: as for [`compare`][attnjax.experiments.compare].
        **options: as for [`compare`][attnjax.experiments.compare].

    Returns:
        ``{loss: SeedRuns}`` with ``len(alphas) * seeds`` runs each; the history's
        ``fixed_focus_loss[..., 0]`` is L(alpha) and ``[..., 1]`` the incentive.
    """
    alphas = np.asarray(alphas, np.float32)
    if alphas.size == 0 or np.any(alphas <= 0) or np.any(alphas > 1):
        raise ConfigError(f"alphas must be in (0, 1], got {alphas.tolist()}")
    if len(np.unique(alphas)) != alphas.size:
        raise ConfigError(f"alphas must be distinct, got {alphas.tolist()}")
    hyper, train_options = _split(options)
    protocol = get_protocol(protocol).for_data(info.vocab_size is not None)
    configs = paradigm_configs(data, info, losses, protocol=protocol, fixed_focus=True, **train_options)
    return _run_each(
        configs, data, progress, seeds=len(alphas) * seeds, protocol=protocol,
        alpha=np.repeat(alphas, seeds), key_index=np.tile(np.arange(seeds), len(alphas)),
        seed=seed, devices=devices, chunk_size=chunk_size, keep_diverged=keep_diverged, host=host, **hyper,
    )
