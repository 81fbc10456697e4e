#!/usr/bin/env python
"""The hybrid's soft phase taken from the soft run: a paper-protocol compare with and without it.

Under ``--protocol paper`` each hybrid phase has ``epochs`` epochs, so a compare of soft, hard,
LVML and the hybrid trains 5 x ``epochs`` epochs, ``epochs`` of them the hybrid's soft phase,
which is the soft run (`attnjax.experiments.soft_phase_start`); a signature trains the same
runs (150 of its 750 epochs at the paper's 150). This script runs
``attnjax.experiments.compare`` twice in one process, ``reuse_soft_phase=True`` (the default:
the hybrid's second phase starts from the soft run's final state) and ``False`` (the soft phase
trained again, by the same program), sharing one compiled-program cache. Each is run once to
compile and warm up, then the two run in alternating rounds (the order flips every round); the
ratio of the medians is the saving, in wall seconds and in the process's CPU seconds (which other
processes disturb less). The hybrid's numbers are checked equal bit for bit. The share of the
machine other processes used meanwhile is recorded (``measure.ForeignLoad``).

    python benchmarks/hybrid_reuse.py                 # digits MLP, 8 seeds, 15 epochs a phase, ~3 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ForeignLoad, finish, jax_header, log  # noqa: E402

LOSSES = ("soft", "hard", "lvml", "hybrid")


def _run(fn):
    """``(result, wall seconds, CPU seconds of this process)``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of each run (each hybrid phase)")
    parser.add_argument("--n-train", type=int, default=4096)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "hybrid_reuse.json")
    opts = parser.parse_args()
    start = time.perf_counter()

    import jax

    from attnjax.data import load_dataset
    from attnjax.experiments import compare
    from attnjax.loop import HostLoop

    data, info = load_dataset(opts.dataset, data_dir=opts.data_dir, n_train=opts.n_train, n_test=opts.n_test,
                              protocol="paper")
    host = HostLoop()  # one compiled-program cache for both ways

    def way(reuse: bool):
        return lambda: compare(data, info, losses=LOSSES, seeds=opts.seeds, protocol="paper", epochs=opts.epochs,
                               host=host, reuse_soft_phase=reuse)

    ways = {"reused": way(True), "trained again": way(False)}
    epochs = {"reused": 4 * opts.epochs, "trained again": 5 * opts.epochs}
    runs, warm = {}, {}
    for name, fn in ways.items():  # compiles (the first) and warms up
        runs[name], warm[name], _ = _run(fn)
        log(f"  {name}: first run (compiling) {warm[name]:.1f} s")
    config = runs["reused"]["hybrid"].config
    same = all(np.asarray(a).tobytes() == np.asarray(b).tobytes() for a, b in zip(
        jax.tree_util.tree_leaves((runs["reused"]["hybrid"].params, runs["reused"]["hybrid"].history)),
        jax.tree_util.tree_leaves((runs["trained again"]["hybrid"].params,
                                   runs["trained again"]["hybrid"].history))))
    doc = {
        "what": "attnjax compare --protocol paper of soft, hard, lvml and the hybrid: the hybrid's soft phase taken "
                "from the soft run (reuse_soft_phase=True) against trained again, one process, one program "
                "cache, alternating timed rounds after a first run that compiles",
        **jax_header("hybrid_reuse.py"),
        "settings": {"dataset": info.name, "model": config.model, "losses": list(LOSSES), "seeds": opts.seeds,
                     "epochs_each_phase": opts.epochs, "n_train": int(data.train.labels.shape[0]),
                     "n_test": int(data.test.labels.shape[0]), "m": info.m, "batch_size": config.batch_size,
                     "steps_per_epoch": int(data.train.labels.shape[0]) // config.batch_size,
                     "epochs_trained": epochs, "rounds": opts.rounds},
        "first_run_seconds": {name: round(s, 3) for name, s in warm.items()},
    }
    log(f"{doc['cpu']}, jax {jax.__version__}: {info.name} {config.model}, {opts.seeds} seeds, paper protocol, "
        f"{opts.epochs} epochs a phase; epochs trained {epochs}")

    times = {name: [] for name in ways}
    cpu = {name: [] for name in ways}
    load = ForeignLoad()
    before = load.snapshot()
    for r in range(opts.rounds):
        for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
            _, wall, used = _run(ways[name])
            times[name].append(wall)
            cpu[name].append(used)
    foreign = load.fraction(before, load.snapshot())
    median = {name: float(np.median(t)) for name, t in times.items()}
    median_cpu = {name: float(np.median(t)) for name, t in cpu.items()}
    doc["train_seconds"] = {name: [round(s, 3) for s in t] for name, t in times.items()}
    doc["median_seconds"] = {name: round(s, 3) for name, s in median.items()}
    doc["ratio"] = round(median["reused"] / median["trained again"], 3)
    doc["ratio_meaning"] = "median wall seconds of the whole compare, reused / trained again"
    doc["cpu_seconds"] = {name: [round(s, 3) for s in t] for name, t in cpu.items()}
    doc["median_cpu_seconds"] = {name: round(s, 3) for name, s in median_cpu.items()}
    doc["ratio_cpu"] = round(median_cpu["reused"] / median_cpu["trained again"], 3)
    doc["ratio_cpu_meaning"] = ("the same ratio in this process's CPU seconds (all its threads), which other "
                                "processes disturb less than the wall clock")
    doc["epochs_ratio"] = round(epochs["reused"] / epochs["trained again"], 3)
    doc["hybrid_equal_bit_for_bit"] = same
    doc["hybrid_notes"] = runs["reused"]["hybrid"].notes
    doc["foreign_cpu_share"] = None if foreign is None else round(foreign, 3)
    for name in ways:
        log(f"  {name}: median {median[name]:.2f} s wall, {median_cpu[name]:.2f} s CPU over {opts.rounds} rounds")
    log(f"  ratio {doc['ratio']:.3f} (wall), {doc['ratio_cpu']:.3f} (CPU seconds), epochs {doc['epochs_ratio']}; "
        f"hybrid equal: {same}; other processes' CPU share {doc['foreign_cpu_share']}")
    return finish(doc, opts.json, start)


if __name__ == "__main__":
    sys.exit(main())
