"""Experiments: many seeds of each paradigm, as plain NumPy results. Nothing here prints."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .data.base import Dataset, DataInfo
from .errors import ConfigError, NonFiniteLossError
from .metrics import RULES, predict
from .train import PARADIGMS, Hyper, TrainConfig, TrainResult, make_predict, make_train

__all__ = ["SeedRuns", "train_seeds", "paradigm_configs", "compare", "evaluate_examples"]

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclasses.dataclass
class SeedRuns:
    """S seeds of one paradigm, trained in one program.

    Attributes:
        config: the run's static settings.
        learning_rate: ``[S]`` learning rate of each run.
        alpha: ``[S]`` frozen foreground attention (fixed-focus runs only).
        params: final parameters, each leaf with a leading seed axis.
        history: per-epoch history as NumPy arrays, leading axes ``[S, epochs]``.
        seconds: wall time of compilation plus training.
    """

    config: TrainConfig
    learning_rate: np.ndarray
    alpha: np.ndarray
    params: Any
    history: Any
    seconds: float

    @property
    def name(self) -> str:
        return self.config.loss


@functools.lru_cache(maxsize=32)
def _compiled_seeds(config: TrainConfig, progress):
    """``jit(vmap(train))`` per (config, progress): repeated calls reuse the compiled program."""
    return jax.jit(jax.vmap(make_train(config, progress=progress), in_axes=(0, 0, None)))


def check_finite(config: TrainConfig, losses: np.ndarray) -> None:
    """Raise NonFiniteLossError naming the first seed and epoch whose loss is not finite."""
    bad = ~np.isfinite(losses)
    if bad.any():
        seed, epoch = map(int, np.argwhere(bad)[0])
        raise NonFiniteLossError(
            f"{config.loss} training diverged: loss {losses[seed, epoch]} at seed {seed}, "
            f"epoch {epoch + 1} (try a smaller --lr); nothing was saved"
        )


def train_seeds(
    config: TrainConfig,
    data: Dataset,
    *,
    seeds: int,
    learning_rate: float | Sequence[float] = 0.05,
    alpha: float | Sequence[float] = 1.0,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SeedRuns:
    """Train ``seeds`` runs of one configuration with one ``jit(vmap(train))`` call.

    Arguments:
        config: static settings.
        data: the mosaics.
        seeds: S, number of runs (their keys are ``split(key(seed), S)``).
        learning_rate: one value, or S values (a grid, one per run).
        alpha: fixed-focus attention, one value or S values.
        seed: base seed.
        progress: called with each finished epoch index.

    Returns:
        :class:`SeedRuns`.

    Raises:
        ConfigError: on bad sizes.
        NonFiniteLossError: if any run's loss became NaN or infinite.
    """
    if seeds < 1:
        raise ConfigError(f"the number of seeds must be positive, got {seeds}")
    lr = np.broadcast_to(np.asarray(learning_rate, np.float32), (seeds,))
    alphas = np.broadcast_to(np.asarray(alpha, np.float32), (seeds,))
    if not np.all(lr > 0):
        raise ConfigError(f"learning rates must be positive, got {learning_rate}")
    keys = jax.random.split(jax.random.key(seed), seeds)
    run = _compiled_seeds(config, progress)
    start = time.perf_counter()
    result: TrainResult = run(keys, Hyper.tile(seeds, lr, alphas), data)
    result = jax.device_get(result)
    seconds = time.perf_counter() - start
    check_finite(config, np.asarray(result.history.loss))
    return SeedRuns(config, np.array(lr), np.array(alphas), result.params, result.history, seconds)


def paradigm_configs(
    data: Dataset, info: DataInfo, losses: Sequence[str], **train_options
) -> dict[str, TrainConfig]:
    """One validated :class:`TrainConfig` per paradigm (raises ConfigError before any work)."""
    unknown = [name for name in losses if name not in PARADIGMS]
    if unknown or not losses:
        raise ConfigError(
            f"unknown loss(es) {unknown or '(none given)'}; choose from {', '.join(PARADIGMS)}"
        )
    configs = {name: TrainConfig.for_data(info, loss=name, **train_options) for name in losses}
    n_train = data.train.index.shape[0]
    batch_size = next(iter(configs.values())).batch_size
    if batch_size > n_train:
        raise ConfigError(f"batch size {batch_size} exceeds the {n_train} training mosaics")
    return configs


def compare(
    data: Dataset,
    info: DataInfo,
    *,
    losses: Sequence[str] = PARADIGMS,
    seeds: int = 8,
    learning_rate: float = 0.05,
    seed: int = 0,
    progress: ProgressFactory | None = None,
    **train_options,
) -> dict[str, SeedRuns]:
    """Train each paradigm on the same data for the same seeds.

    Arguments:
        data, info: the mosaics and their description.
        losses: paradigms to run, from ``PARADIGMS``.
        seeds: S runs per paradigm.
        learning_rate: SGD step size.
        seed: base seed (same keys for every paradigm).
        progress: ``progress(loss_name, epochs)`` returns an epoch callback.
        **train_options: other :class:`TrainConfig` fields (epochs, batch_size, ...).

    Returns:
        ``{loss: SeedRuns}`` in the order given.
    """
    configs = paradigm_configs(data, info, losses, **train_options)
    runs = {}
    for name, config in configs.items():
        callback = progress(name, config.epochs) if progress else None
        runs[name] = train_seeds(
            config, data, seeds=seeds, learning_rate=learning_rate, seed=seed, progress=callback
        )
    return runs


def evaluate_examples(runs: SeedRuns, data: Dataset, *, split: str = "test") -> dict[str, np.ndarray]:
    """Per-example attention and true-label probability for every seed.

    Arguments:
        runs: trained seeds.
        data: the mosaics.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``{"a_z": [S, N], "s_y": [S, N] (the paradigm's own rule), "s_y_by_rule": [S, 3, N],
        "alpha": [S, N, m], "pred": [S, 3, N], "labels": [N], "fg_pos": [N]}``.
    """
    config = runs.config
    part = getattr(data, split)
    predictions = make_predict(config)

    def one(params, hparams):
        def one_example(rows):
            index, fg_pos = rows  # [m], []: lax.map vmaps this over chunks of examples
            pred = predictions(params, hparams, data.pool[index][None], fg_pos[None])
            return pred._replace(alpha=pred.alpha[0], probs=pred.probs[:, 0])

        return jax.lax.map(one_example, (part.index, part.fg_pos), batch_size=config.eval_batch_size)

    hparams = Hyper.tile(len(runs.learning_rate), runs.learning_rate, runs.alpha)
    pred = jax.device_get(jax.jit(jax.vmap(one))(runs.params, hparams))
    labels, fg_pos = np.asarray(part.labels), np.asarray(part.fg_pos)
    alpha, probs = np.asarray(pred.alpha), np.asarray(pred.probs)  # [S,N,m], [S,N,3,K]
    n = labels.shape[0]
    s_y_by_rule = probs[:, np.arange(n), :, labels].transpose(1, 2, 0)  # [S, 3, N]
    return {
        "a_z": alpha[:, np.arange(n), fg_pos],
        "s_y": s_y_by_rule[:, config.rule],
        "s_y_by_rule": s_y_by_rule,
        "alpha": alpha,
        "pred": probs.argmax(-1).transpose(0, 2, 1),
        "labels": labels,
        "fg_pos": fg_pos,
        "rules": RULES,
    }
