#!/usr/bin/env python
"""How the seeds are mapped (vmap, lax.map, mixes) x how the CNNs convolve: time per seed-step.

Each row is one epoch of the program the host loop runs (``attnjax.programs.Programs``:
``advance`` = ``jit`` of ``map_seeds(make_chunk(config))``, its state from ``Programs.init``),
so a seed-step here includes its share of the epoch's evaluation of both splits, as in every
real run. For each model family, seed count S and (for the CNN) convolution path, every seed
mapping is compiled first, then the mappings run in interleaved rounds (the order rotating),
so that a burst of load from another process hits them all; a mapping's time is the median of
its rounds, and its ratio is that median over vmap's, measured in the same rounds. Only those
ratios mean anything on a shared machine.

The device is JAX's default backend, whatever it is: the same command runs on a CPU or a GPU
(the JSON records the backend, the device and the CPU model).

Usage::

    python benchmarks/seed_map.py --json benchmarks/results/seed_map.json   # ~10 min on 2 cores
    python benchmarks/seed_map.py --models cnn --seeds 8 --rounds 2
    python benchmarks/seed_map.py --tiny                                      # the code path, seconds
    python benchmarks/seed_map.py --memory --json benchmarks/results/seed_map_memory.json
                                  # XLA's memory analysis of the CNN's program at the paper's batch, ~1 min
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import ForeignLoad, cpu_model, finish, log, timed, write_json  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Problem:
    """One model family's task: the data, the sizes, the seed maps to race, and the seed counts of
    each convolution path (``runs``: ``(conv, seed counts)`` pairs; conv "" for the families without one)."""

    model: str
    dataset: str
    m: int
    n_train: int
    n_test: int
    batch_size: int
    runs: tuple[tuple[str, tuple[int, ...]], ...]
    seed_maps: tuple[str, ...] = ("vmap", "map", "mix:2", "mix:4")
    num_classes: int | None = None  # orthogonal only
    hidden: int = 64

    @property
    def steps(self) -> int:
        return self.n_train // self.batch_size


FULL = {
    # The overhead-bound simple setting: orthogonal data, K = 20, m = 20, tiny batches.
    "linear": Problem("linear", "orthogonal", m=20, n_train=200, n_test=20, batch_size=4, runs=(("", (1, 16, 64)),),
                      num_classes=20),
    # Fashion-MNIST mosaics (m = 5, 28x28), the MLP pair.
    "mlp": Problem("mlp", "fashion-mnist", m=5, n_train=256, n_test=64, batch_size=64, runs=(("", (1, 8, 16)),)),
    # The paper's CNN pair at a small batch (each CNN program takes ~15 s to compile on 2 cores, and
    # vmap over lax.conv's grouped convolutions is slow on XLA:CPU: lax stops at S = 8 there).
    "cnn": Problem("cnn", "fashion-mnist", m=5, n_train=32, n_test=16, batch_size=16,
                   runs=(("im2col", (1, 8, 16)), ("lax", (1, 8))), seed_maps=("vmap", "map", "mix:4")),
}
#: The same code path in about a minute (``tests/test_seed_map.py`` runs it): S = 3 so that ``mix:2``
#: pads; the CNN on its GPU path only (``lax``).
TINY = {
    "linear": dataclasses.replace(FULL["linear"], m=4, num_classes=3, n_train=8, n_test=4, runs=(("", (3,)),),
                                  seed_maps=("vmap", "map", "mix:2")),
    "cnn": dataclasses.replace(FULL["cnn"], m=2, n_train=4, n_test=2, batch_size=2, runs=(("lax", (2,)),),
                               seed_maps=("vmap", "map")),
}


def load(problem: Problem):
    """``(data, info)`` of a problem; Fashion-MNIST falls back to random 28x28 images where it is missing."""
    from attnjax.data import build_mosaic_dataset, load_dataset
    from attnjax.data.sources import FASHION_MNIST_DIR

    if problem.dataset == "orthogonal":
        return load_dataset("orthogonal", num_classes=problem.num_classes, m=problem.m, n_train=problem.n_train,
                            n_test=problem.n_test, seed=0)
    if os.path.isdir(FASHION_MNIST_DIR):
        return load_dataset(problem.dataset, m=problem.m, n_train=problem.n_train, n_test=problem.n_test, seed=0)
    rng = np.random.default_rng(0)
    images = rng.random((600, 28, 28, 1), dtype=np.float32)
    return build_mosaic_dataset(images, np.arange(600) % 10, fg_classes=(0, 1, 2), bg_classes=tuple(range(3, 10)),
                                m=problem.m, n_train=problem.n_train, n_test=problem.n_test, name="random-28x28",
                                default_model="cnn")


def race(problem: Problem, seeds: int, conv: str, *, rounds: int, precision: str = "float32") -> list[dict]:
    """Every seed map of one (problem, S, conv): compile each, then ``rounds`` interleaved timed epochs
    (``precision``: the models' arithmetic, :func:`attnjax.models.make_models`)."""
    import jax

    from attnjax.programs import Programs
    from attnjax.train import Hyper, TrainConfig

    data, info = load(problem)
    extra = {"conv": conv} if conv else {}
    config = TrainConfig.for_data(info, model=problem.model, epochs=1, batch_size=problem.batch_size,
                                  hidden=problem.hidden, loss="soft", precision=precision, **extra)
    data = jax.device_put(data)
    keys = jax.random.split(jax.random.key(0), seeds)
    hparams = Hyper.tile(seeds, 0.05)
    maps = [s for s in problem.seed_maps if s in ("vmap", "map") or int(s.split(":")[1]) < seeds]
    programs, compiled = Programs(), {}
    for seed_map in maps:  # compile (and run once, untimed: allocation, thread pools)
        start = time.perf_counter()
        init = programs.init(config, keys, hparams, seed_map=seed_map)
        state = init(keys, hparams)
        advance = programs.advance(config, state, hparams, data, seed_map=seed_map)
        compile_s = time.perf_counter() - start
        jax.block_until_ready(advance(state, hparams, data, np.int32(0), np.int32(1)))
        compiled[seed_map] = (init, advance, compile_s)
    samples = {s: [] for s in maps}
    foreign = ForeignLoad()
    before = foreign.snapshot()
    for r in range(rounds):
        order = maps[r % len(maps):] + maps[:r % len(maps)]
        for seed_map in order:
            init, advance, _ = compiled[seed_map]
            state = jax.block_until_ready(init(keys, hparams))  # advance donates its state: a fresh one
            _, seconds = timed(lambda advance=advance, state=state: jax.block_until_ready(
                advance(state, hparams, data, np.int32(0), np.int32(1))))
            samples[seed_map].append(seconds)
    other = foreign.fraction(before, foreign.snapshot())  # other processes' share of our cores meanwhile
    base = float(np.median(samples["vmap"]))
    rows = []
    for seed_map in maps:
        median = float(np.median(samples[seed_map]))
        rows.append({"model": problem.model, "conv": config.to_json().get("conv"), "precision": precision, "seeds": seeds,
                     "seed_map": seed_map, "compile_s": round(compiled[seed_map][2], 3), "samples_s": samples[seed_map],
                     "median_s": median, "per_seed_step_ms": 1e3 * median / (seeds * problem.steps),
                     "time_vs_vmap": median / base, "foreign_cpu_share": other})
        log(f"  {problem.model:6s} {rows[-1]['conv'] or '':6s} S={seeds:<3d} {seed_map:6s} "
            f"{rows[-1]['per_seed_step_ms']:9.2f} ms per seed-step  {median / base:5.2f}x vmap's time  "
            f"(compile {compiled[seed_map][2]:.1f} s)")
    return rows


#: ``--memory``: the CNN pair at the paper's batch (256 mosaics, m = 5), S = 16, im2col: compiled only.
MEMORY = dataclasses.replace(FULL["cnn"], n_train=512, n_test=256, batch_size=256, runs=(("im2col", (16,)),))


def memory(problem: Problem) -> list[dict]:
    """XLA's memory analysis of one epoch's program under each seed map (compiled, never run)."""
    import jax

    from attnjax.programs import Programs
    from attnjax.train import Hyper, TrainConfig, init_state

    data, info = load(problem)
    ((conv, (seeds,)),) = problem.runs
    config = TrainConfig.for_data(info, model=problem.model, epochs=1, batch_size=problem.batch_size, loss="soft",
                                  conv=conv)
    keys, hparams = jax.random.split(jax.random.key(0), seeds), Hyper.tile(seeds, 0.05)
    state = jax.eval_shape(jax.vmap(lambda k, h: init_state(config, k, h)), keys, hparams)
    rows = []
    for seed_map in problem.seed_maps:
        stats = Programs().advance(config, state, hparams, data, seed_map=seed_map).memory_analysis()
        rows.append({"model": problem.model, "conv": conv, "seeds": seeds, "batch_size": problem.batch_size,
                     "seed_map": seed_map, "temp_bytes": int(stats.temp_size_in_bytes),
                     "argument_bytes": int(stats.argument_size_in_bytes)})
        log(f"  {seed_map:6s} temporaries {rows[-1]['temp_bytes'] / 2**30:.2f} GiB, arguments "
            f"{rows[-1]['argument_bytes'] / 2**20:.0f} MiB")
    return rows


def best(rows: list[dict]) -> dict:
    """``{"model/conv/S": the fastest seed map}``."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(f"{row['model']}/{row['conv'] or '-'}/S={row['seeds']}", []).append(row)
    return {name: min(group, key=lambda r: r["median_s"])["seed_map"] for name, group in groups.items()}


def table(rows: list[dict]) -> str:
    """A Markdown table: one line per (model, conv, S), one column per seed map (time / vmap's, ms per seed-step)."""
    maps = list(dict.fromkeys(r["seed_map"] for r in rows))
    lines = ["| model | conv | S | " + " | ".join(maps) + " |", "|---|---|---|" + "---|" * len(maps)]
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["model"], row["conv"] or "—", row["seeds"]), {})[row["seed_map"]] = row
    for (model, conv, seeds), group in groups.items():
        cells = [f"{group[s]['time_vs_vmap']:.2f}x ({group[s]['per_seed_step_ms']:.3g} ms)" if s in group else "—"
                 for s in maps]
        lines.append(f"| {model} | {conv} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=None, help="comma-separated, of linear,mlp,cnn (default: all)")
    p.add_argument("--seeds", default=None, help="comma-separated seed counts (default: each model's)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per mapping (default: %(default)s)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: the code path only, in seconds")
    p.add_argument("--memory", action="store_true",
                   help="instead: XLA's memory analysis of the CNN's program at the paper's batch, per seed map")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)

    import jax

    problems = TINY if args.tiny else FULL
    names = args.models.split(",") if args.models else list(problems)
    doc = {"command": " ".join(["python", "benchmarks/seed_map.py", *(sys.argv[1:] if argv is None else argv)]),
           "machine": {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "jax": jax.__version__,
                       "backend": jax.default_backend(), "device": jax.devices()[0].device_kind},
           "what": "one epoch of Programs.advance (training steps and the evaluation of both splits), soft "
                   "attention; per_seed_step_ms = median epoch time / (S x steps); time_vs_vmap = median / vmap's "
                   "median, same rounds",
           "problems": {n: dataclasses.asdict(problems[n]) for n in names}, "rounds": args.rounds, "rows": []}
    log(f"machine: {doc['machine']}")
    start = time.perf_counter()
    if args.memory:
        doc.update(what="XLA's memory analysis of one epoch's Programs.advance, compiled, not run",
                   problems={"cnn": dataclasses.asdict(MEMORY)}, rows=memory(MEMORY))
        return finish(doc, args.json, start)
    for name in names:
        problem = problems[name]
        for conv, counts in problem.runs:
            for seeds in ([int(s) for s in args.seeds.split(",")] if args.seeds else counts):
                doc["rows"].extend(race(problem, seeds, conv, rounds=args.rounds))
                if args.json:  # each finished group at once: a long run keeps what it measured
                    write_json(args.json, doc)
    doc["fastest"] = best(doc["rows"])
    log("\n" + table(doc["rows"]) + f"\n\nfastest: {doc['fastest']}")
    return finish(doc, args.json, start)


if __name__ == "__main__":
    sys.exit(main())
