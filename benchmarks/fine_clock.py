#!/usr/bin/env python
"""The fine clock's cost: training with evaluations every N minibatch steps against once an epoch.

One process, one data set, two compiled programs: ``jit(vmap(make_train(config)))`` with
``TrainConfig(eval_every=N, eval_mosaics=K)`` and the same config with ``eval_every=None``.
Each is compiled first (its compile seconds recorded apart), run once to warm up, then the
two are timed in alternating rounds (the order flips every round so that neither always
runs second); the ratio of the medians is the cost, in wall seconds and in the process's
CPU seconds (which other processes disturb less). The share of the machine other
processes used meanwhile is recorded (``measure.ForeignLoad``): the machines here are
shared, and only the ratio measured side by side means anything.

    python benchmarks/fine_clock.py                     # digits MLP, 8 seeds, ~1.5 min on 2 cores
    python benchmarks/fine_clock.py --dataset fashion-mnist --data-dir DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ForeignLoad, finish, jax_header, log  # noqa: E402


def _compile(fn, *args):
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - start


def _run(compiled, *args):
    """``(result, wall seconds, CPU seconds)``: the process's CPU time over all its threads, which
    other processes on a shared machine disturb far less than the wall clock."""
    import jax

    start, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--loss", default="soft")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--eval-mosaics", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "fine_clock.json")
    opts = parser.parse_args()
    start = time.perf_counter()

    import jax

    from attnjax.data import load_dataset
    from attnjax.train import Hyper, TrainConfig, make_train

    data, info = load_dataset(opts.dataset, data_dir=opts.data_dir)
    common = dict(loss=opts.loss, epochs=opts.epochs)
    configs = {
        "once an epoch": TrainConfig.for_data(info, **common),
        f"every {opts.eval_every} steps": TrainConfig.for_data(info, **common, eval_every=opts.eval_every,
                                                               eval_mosaics=opts.eval_mosaics),
    }
    plain, fine = configs
    n_train, n_test = int(data.train.labels.shape[0]), int(data.test.labels.shape[0])
    batch = configs[plain].batch_size
    n_batches = n_train // batch
    points = (n_batches - 1) // opts.eval_every
    keys = jax.random.split(jax.random.key(0), opts.seeds)
    hp = Hyper.tile(opts.seeds)
    doc = {
        "what": "attnjax training: evaluations every eval_every minibatch steps (TrainConfig.eval_every, "
                "eval_mosaics) against once an epoch, one process, alternating timed rounds after a warm-up; "
                "compile seconds apart",
        **jax_header("fine_clock.py"),
        "settings": {"dataset": info.name, "model": configs[plain].model, "loss": opts.loss, "seeds": opts.seeds,
                     "epochs": opts.epochs, "n_train": n_train, "n_test": n_test, "m": info.m, "batch_size": batch,
                     "steps_per_epoch": n_batches, "eval_every": opts.eval_every, "eval_mosaics": opts.eval_mosaics,
                     "points_per_epoch": points,
                     "mosaics_evaluated_per_point": min(opts.eval_mosaics, n_train) + min(opts.eval_mosaics, n_test),
                     "mosaics_evaluated_per_epoch_end": n_train + n_test, "rounds": opts.rounds},
    }
    log(f"{doc['cpu']}, jax {jax.__version__}: {info.name} {configs[plain].model}, {opts.seeds} seeds x "
        f"{opts.epochs} epochs x {n_batches} steps; fine clock: {points} points an epoch of "
        f"{doc['settings']['mosaics_evaluated_per_point']} mosaics")

    compiled, compile_s, outs = {}, {}, {}
    for name, config in configs.items():
        fn = jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))
        compiled[name], compile_s[name] = _compile(fn, keys, hp, data)
        outs[name], warm, _ = _run(compiled[name], keys, hp, data)  # warm-up, not timed
        log(f"  {name}: compile {compile_s[name]:.2f} s, warm-up run {warm:.2f} s")
    # The fine clock must not change what it evaluates: the same final parameters, bit for bit.
    same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
               zip(jax.tree_util.tree_leaves(outs[plain].params), jax.tree_util.tree_leaves(outs[fine].params)))

    times = {name: [] for name in configs}
    cpu = {name: [] for name in configs}
    load = ForeignLoad()
    before = load.snapshot()
    for r in range(opts.rounds):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            _, wall, used = _run(compiled[name], keys, hp, data)
            times[name].append(wall)
            cpu[name].append(used)
    foreign = load.fraction(before, load.snapshot())
    median = {name: float(np.median(t)) for name, t in times.items()}
    median_cpu = {name: float(np.median(t)) for name, t in cpu.items()}
    ratio = median[fine] / median[plain]
    ratio_cpu = median_cpu[fine] / median_cpu[plain]
    steps = opts.seeds * opts.epochs * n_batches
    doc["compile_seconds"] = {name: round(s, 3) for name, s in compile_s.items()}
    doc["train_seconds"] = {name: [round(s, 4) for s in t] for name, t in times.items()}
    doc["median_seconds"] = {name: round(s, 4) for name, s in median.items()}
    doc["microseconds_per_seed_step"] = {name: round(1e6 * s / steps, 2) for name, s in median.items()}
    doc["ratio"] = round(ratio, 3)
    doc["ratio_meaning"] = f"median train (wall) seconds {fine} / {plain} (compile excluded)"
    doc["cpu_seconds"] = {name: [round(s, 4) for s in t] for name, t in cpu.items()}
    doc["median_cpu_seconds"] = {name: round(s, 4) for name, s in median_cpu.items()}
    doc["ratio_cpu"] = round(ratio_cpu, 3)
    doc["ratio_cpu_meaning"] = ("the same ratio in this process's CPU seconds (all its threads), which other "
                                "processes disturb less than the wall clock")
    doc["same_final_params"] = same
    doc["foreign_cpu_share"] = None if foreign is None else round(foreign, 3)
    for name in configs:
        log(f"  {name}: median {median[name]:.3f} s over {opts.rounds} rounds "
            f"({doc['microseconds_per_seed_step'][name]:.1f} us per seed-step)")
    log(f"  ratio {ratio:.3f} (wall), {ratio_cpu:.3f} (CPU seconds); final parameters equal: {same}; other processes' CPU share "
        f"{doc['foreign_cpu_share']}")
    return finish(doc, opts.json, start)


if __name__ == "__main__":
    sys.exit(main())
