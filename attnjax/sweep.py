"""Grids of traced hyper-parameters times seeds: one compiled program per loss.

Every grid axis is a traced [`Hyper`][attnjax.train.Hyper] field, so a grid of
G points times S seeds is one batch of G * S runs through one ``jit(vmap)``
program per loss (the loss is the static, outer axis). Run ``g * seeds + s``
has grid point g and the key of seed s, so each grid point sees the same seeds.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Sequence

import numpy as np

from .data.base import Dataset, DataInfo
from .errors import ConfigError
from .experiments import _run_each, finished, paradigm_configs
from .documents import FOCUS_METRICS
from .metrics import METRICS
from .paradigms import get_paradigm
from .protocol import Protocol, get_protocol

__all__ = ["SWEEP_AXES", "grid_points", "sweep", "sweep_rows", "rows_to_csv"]

#: Sweepable axes: name -> (what it is, how train_seeds takes it).
SWEEP_AXES = {
    "learning_rate": "step size of the optimizer",
    "momentum": "SGD momentum (an optimizer hyper-parameter, traced)",
    "switch_epoch": "the hybrid's epochs of soft attention before the switch",
    "init_scale": "factor on every initial parameter",
}


def grid_points(grid: dict[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """The cartesian product of the axes, as ``{axis: [G]}`` columns (first axis slowest).

    Raises:
        ConfigError: an unknown axis or an empty list.
    """
    for name, values in grid.items():
        if name not in SWEEP_AXES:
            raise ConfigError(f"cannot sweep {name!r}; sweepable: {', '.join(SWEEP_AXES)}")
        if len(values) == 0:
            raise ConfigError(f"the grid of {name} is empty")
    points = list(itertools.product(*grid.values())) or [()]
    return {name: np.array([p[i] for p in points]) for i, name in enumerate(grid)}


def sweep(
    data: Dataset,
    info: DataInfo,
    *,
    grid: dict[str, Sequence[float]],
    losses: Sequence[str],
    seeds: int,
    protocol: str | Protocol | None = None,
    seed: int = 0,
    progress=None,
    devices: int | None = None,
    chunk_size: int | None = None,
    host=None,
    **train_options,
) -> tuple[dict[str, np.ndarray], dict]:
    """Train every (grid point, seed) of every loss; one program per loss.

    Arguments:
        data, info: the mosaics.
        grid: ``{axis: values}`` over ``SWEEP_AXES``; axes not given take the
            protocol's (or the config's) single value.
        losses: the static outer axis.
        seeds: runs per grid point.
        protocol, seed, progress, devices, chunk_size, host, **train_options: as for
            [`attnjax.experiments.compare`][] (``chunk_size`` splits the
            G * S runs when they do not fit in memory).

    Returns:
        ``(points, runs)``: the grid columns ``{axis: [G]}`` and
        ``{loss: SeedRuns | Diverged}`` with G * seeds runs each.

    Raises:
        ConfigError: bad axes, or a switch-epoch grid with a loss other than the hybrid.
    """
    points = grid_points(grid)
    g = len(next(iter(points.values()))) if points else 1
    if "switch_epoch" in points and any("switch_epoch" not in get_paradigm(loss).hyper for loss in losses):
        raise ConfigError("a grid of switch epochs applies only to the hybrid loss alone", field="switch_epoch",
                          remedy="losses")
    if "momentum" in points and (train_options.get("optimizer") or "sgd") != "sgd":  # None: the default, sgd
        raise ConfigError("a grid of momenta applies only to the sgd optimizer", field="momentum", remedy="optimizer")
    protocol = get_protocol(protocol).for_data(info.vocab_size is not None)  # text: the text_* defaults
    configs = paradigm_configs(data, info, losses, protocol=protocol, **train_options)

    def column(name, default):
        values = points.get(name)
        return default if values is None else np.repeat(values, seeds)

    lr = column("learning_rate", get_protocol(protocol).learning_rate)
    optimizer = {"momentum": column("momentum", None)} if "momentum" in points else None
    runs = _run_each(
        configs, data, progress, seeds=g * seeds, learning_rate=lr,
        switch_epoch=column("switch_epoch", None), seed=seed, devices=devices, chunk_size=chunk_size,
        key_index=np.tile(np.arange(seeds), g), keep_diverged=True,
        init_scale=column("init_scale", 1.0), optimizer=optimizer, host=host,
    )
    return points, runs


def sweep_rows(points: dict[str, np.ndarray], runs: dict, seeds: int, *, focus: bool = True) -> list[dict]:
    """The tidy table: one row per (loss, grid point, seed), final-epoch test metrics in percent;
    without ``focus`` (data without truth, ``DataInfo.has_truth``) the focus metrics are None."""
    rows = []
    for loss, r in finished(runs).items():
        rule = r.config.rule
        test, train = r.history.test, r.history.train
        losses = np.asarray(r.history.loss)[:, -1]
        for run in range(losses.shape[0]):
            point, s = divmod(run, seeds)
            row = {"loss": loss, **{k: v[point].item() for k, v in points.items()}, "seed": s}
            for name in METRICS:
                if not focus and name in FOCUS_METRICS:
                    row[f"test_{name}"] = None
                    continue
                value = np.asarray(getattr(test, name))[run, -1]
                row[f"test_{name}"] = float(value if name == "focus_accuracy" else value[rule])
            row["train_accuracy"] = float(np.asarray(train.accuracy)[run, -1, rule])
            row["final_loss"] = float(losses[run])
            rows.append(row)
    return rows


def rows_to_csv(rows: list[dict]) -> str:
    """CSV text of `sweep_rows` (a header line, then one line per run)."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
