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
from .paradigms import Paradigm, get_paradigm, paradigm_name
from .protocol import DEFAULT_LOSSES, FIXED_FOCUS, FIXED_FOCUS_ALPHAS, PARADIGMS, SEEDS, Protocol, get_protocol
from .checkpoint import RunCheckpoints, run_settings
from .loop import ChunkEnd, HostLoop, run_chunked
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
            program: 1 for a fresh configuration, 0 when a cached one was reused.
        compile_seconds: of ``seconds``, those spent tracing and compiling (this session).
        train_seconds: the rest: training, checkpoints and progress, over every session of
            a resumed run.
        seed_map: how the programs mapped the seeds (``"vmap"``, ``"map"`` or ``"mix:G"``,
            `attnjax.programs.map_seeds`), resolved.
        steps_per_epoch: minibatch steps in each epoch (``n_train // batch_size``), the clock of
            the history's points (`attnjax.clock`).
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
                              f"{min(chunk, seeds)} (--chunk-size)")


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
    traces_before, compile_before = programs.traces[config], programs.compile_seconds[config]
    start = time.perf_counter()
    notes: list[str] = []
    name = paradigm_name(config.loss)
    saved = None if checkpoints is None else checkpoints.run(
        name, run_settings(config, given, keys, data, devices=devices, seed_map=seed_map))
    snapshot = (_restore(saved, config, keys, hparams, data)
                if saved is not None and checkpoints is not None and checkpoints.resume else None)
    if snapshot is not None:  # the seed chunks the checkpoint was written with
        chunk_size = snapshot.chunk_size if snapshot.chunk_size < seeds else None
        if progress is not None:
            for e in range(snapshot.seed_chunk * config.epochs + snapshot.epoch):
                progress(e % config.epochs)

    def said(why: str, chunk: int) -> None:  # a chunk size chosen for memory: tell the caller at once
        notes.append(why)
        if progress is not None and hasattr(progress, "note"):
            progress.note(why)
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

    attempts = []

    def run(chunk):
        if attempts and saved is not None:  # a retry in smaller seed chunks: the first try's snapshots go
            saved.clear()
        attempts.append(chunk)
        return run_chunked(config, keys, hparams, data, programs=programs, chunk_size=chunk, devices=devices,
                           epochs=epochs, on_chunk=chunk_done, start=snapshot, seed_map=seed_map)

    plan = ((lambda: memory_plan(config, keys, hparams, data, programs=programs, seed_map=seed_map))
            if auto_chunk and devices is None and chunk_size is None and snapshot is None else None)
    from .parallel import run_fitting_memory

    try:
        result, chunk_size = run_fitting_memory(run, seeds, chunk_size, plan=plan,
                                                retry=auto_chunk and snapshot is None, on_chunk=said)
    except OutOfMemoryError as err:  # name what made it large: the caller says what can shrink
        raise OutOfMemoryError(f"{err} ({memory_cause(config)})") from None
    seconds = time.perf_counter() - start
    compiling = programs.compile_seconds[config] - compile_before
    earlier = 0.0 if saved is None else saved.seconds
    return SeedRuns(config, given, result.params, result.history, seconds + earlier, chunk_size, notes,
                    traces=programs.traces[config] - traces_before, compile_seconds=compiling,
                    train_seconds=seconds - compiling + earlier, seed_map=seed_map,
                    steps_per_epoch=int(data.train.index.shape[0]) // config.batch_size)


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
            f"--batch-size {train_options['batch_size']} exceeds the {n_train} training mosaics"
        )
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
                     chunk_size=chunk_size, keep_diverged=keep_diverged, host=host, **hyper)


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
    **seed_options,
):
    """[`train_seeds`][attnjax.experiments.train_seeds] for each configuration, each with its own progress callback.

    The learning rate defaults to the protocol's; the switch epoch goes to the paradigms that
    have one. With ``keep_diverged``, a paradigm that diverges becomes a [`Diverged`][attnjax.experiments.Diverged]
    record and the others still run; otherwise its NonFiniteLossError propagates.
    """
    n_chunks = 1 if chunk_size is None else -(-seeds // chunk_size)
    host = HostLoop() if host is None else host
    learning_rate = get_protocol(protocol).learning_rate if learning_rate is None else learning_rate
    out = {}
    for name, config in configs.items():
        start = time.perf_counter()
        try:
            out[name] = train_seeds(
                config, data, seeds=seeds, chunk_size=chunk_size, host=host, learning_rate=learning_rate,
                progress=progress(name, config.epochs * n_chunks) if progress else None,
                switch_epoch=switch_epoch if "switch_epoch" in get_paradigm(config.loss).hyper else None,
                **seed_options,
            )
        except NonFiniteLossError as err:
            if not keep_diverged:
                raise
            out[name] = Diverged(config, err.seed, err.epoch, err.loss, time.perf_counter() - start)
    return out


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
