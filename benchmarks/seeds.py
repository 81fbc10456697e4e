#!/usr/bin/env python
"""Race: S seeds of one mosaic task, four ways, side by side in one process.

(a) attnjax ``jit(vmap(train))``: every seed in one compiled program;
(b) PyTorch the way the authors train: a Python loop over seeds, eager mode,
    a ``DataLoader`` over a ``TensorDataset``, SGD momentum 0.9;
(c) PyTorch with ``torch.func`` (``stack_module_state`` + ``functional_call`` +
    ``vmap``) over the seeds;
(d) attnjax ``jit(train)`` compiled once and called S times from a Python loop.

All four train the same models on the same mosaics with the same loss, optimizer,
learning rate, batch size and number of steps, and all four evaluate the three
inference rules on the whole train and test splits at the end of every epoch
(attnjax does this inside its scan and cannot skip it, so the PyTorch side does
the same work; see benchmarks/README.md).

Two regimes:

* ``overhead``: the paper's simple setting (orthogonal data, linear focus and
  classifier), small batches: per-step overhead dominates.
* ``compute``: Fashion-MNIST mosaics with the MLP pair: matrix products dominate.
  Here the FLOPs per step are counted with XLA's cost analysis and the achieved
  FLOP/s is compared with a large matrix product measured in the same run.

The contenders are ``contenders.py`` (one class each); the clocks, memory and load probes,
machine description, FLOP counts and JSON writing are ``measure.py``. This file holds the
regimes, the timed rounds, the fairness check, the report and the command line.

Usage::

    python benchmarks/seeds.py                 # both regimes, full sizes (~2.5 min, 2 cores)
    python benchmarks/seeds.py --quick         # under a minute
    python benchmarks/seeds.py --json benchmarks/results/seeds.json

Only ratios measured in this one run are meaningful: the machines are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from attnjax.protocol import PRECISIONS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # this folder's modules, also when seeds is imported from elsewhere

from contenders import CONTENDERS, Problem  # noqa: E402 (after the sys.path line above)
from measure import (  # noqa: E402 (after the sys.path line above)
    ForeignLoad,
    PeakRSS,
    count_flops,
    device_peak,
    finish,
    log,
    machine_info,
    matmul_peak,
    mlp_matmul_flops,
    reset_device_peak,
    torch_device,
    write_json,
)


# ----------------------------------------------------------------------------- regimes


@dataclasses.dataclass(frozen=True)
class Regime:
    """One benchmark problem."""

    name: str
    dataset: str
    model: str
    m: int
    n_train: int
    n_test: int
    batch_size: int
    epochs: int
    learning_rate: float
    seeds: int
    num_classes: int | None = None  # orthogonal only
    hidden: int = 64
    loss: str = "soft"
    protocol: str = "attnjax"  # attnjax.protocol: pixel range, backgrounds, classifier init

    @property
    def steps_per_epoch(self) -> int:
        return self.n_train // self.batch_size

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


FULL = {
    "overhead": Regime(
        name="overhead", dataset="orthogonal", model="linear", num_classes=20, m=20,
        n_train=200, n_test=20, batch_size=4, epochs=20, learning_rate=0.5, seeds=64,
    ),
    "compute": Regime(
        name="compute", dataset="fashion-mnist", model="mlp", m=5, n_train=4096, n_test=512,
        batch_size=256, epochs=4, learning_rate=0.05, seeds=16,
    ),
}
# The CNN pair's compute regime (``--compute-model cnn``): the paper's batch (256
# mosaics, m = 5) and protocol (pixels in [-1, 1], backgrounds with replacement,
# Xavier-normal LeNet), 3072 training mosaics = 12 steps per seed per epoch, 2 epochs:
# 24 steps, enough to leave chance level (about 60 % test accuracy), so the two
# sides' final accuracies can be compared. Run at S = 1 and S = ``seeds`` (16); only (a)
# and (b) by default (see ``CNN_METHODS``).
CNN = dataclasses.replace(FULL["compute"], model="cnn", n_train=3072, n_test=512, epochs=2,
                          protocol="paper")
CNN_METHODS = ("attnjax_vmap", "torch_loop")

QUICK = {
    "overhead": dataclasses.replace(FULL["overhead"], epochs=3),
    "compute": dataclasses.replace(FULL["compute"], n_train=1024, n_test=256, epochs=1, seeds=4),
}


# ----------------------------------------------------------------------------- the fairness check


def summary(values) -> dict:
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "n": int(values.size)}


def agrees(a: dict, b: dict, *, slack: float) -> bool | None:
    """Means within 3 standard errors of their difference, plus ``slack`` (rounding of counts).

    None when either side has one seed: independent initialisations differ by the seed
    spread, which one seed cannot estimate (the S > 1 row of the same regime judges).
    """
    if a["n"] < 2 or b["n"] < 2:
        return None
    se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    return abs(a["mean"] - b["mean"]) <= 3.0 * se + slack


# ----------------------------------------------------------------------------- the four runs


METHODS = tuple(CONTENDERS)


def run_methods(problem: Problem, *, rounds: int, methods=METHODS) -> dict:
    """Time the contenders in interleaved rounds, so that bursts of load hit them all.

    Before the rounds, each contender's ``setup()`` (untimed, or timed apart): attnjax
    compiles both programs and runs each once (one-time costs: allocation, thread
    start-up); torch trains one seed for one epoch in each mode (thread pools, allocator,
    kernel selection).

    Each round runs the whole S-seed ``jit(vmap(train))`` and torch.func programs
    once, and the two Python loops over their share (S / rounds) of the seeds,
    timing every seed. The order of the four rotates from round to round.

    Estimates: a vmapped method's time is the median of its ``rounds`` runs; a
    loop's is S times the median seed. Every sample is kept in the JSON.

    ``methods``: the subset of ``METHODS`` to run. Each one's peak memory (sampled
    RSS, and device memory on a GPU) is recorded over all its runs.
    """
    S = problem.seeds
    contenders = [CONTENDERS[name](problem) for name in METHODS if name in methods]
    out = {c.name: {"samples_s": [], "peak_rss_bytes": 0, "rss_before_bytes": None}
           for c in contenders}
    for c in contenders:
        out[c.name].update(c.setup())

    loads = []
    blocks = np.array_split(np.arange(S), rounds)
    if S < rounds:  # too few seeds to share out: each round's loops train one again
        blocks = [np.array([r % S]) for r in range(rounds)]
    foreign = ForeignLoad()
    foreign_samples = {c.name: [] for c in contenders}
    for r, block in enumerate(blocks):
        k = r % len(contenders)
        order = contenders[k:] + contenders[:k]
        loads.append(os.getloadavg()[0])
        log(f"  round {r + 1}/{rounds}: " + ", ".join(c.name for c in order)
            + f" (load {loads[-1]:.1f})")
        for c in order:
            reset_device_peak(c.framework)
            before = foreign.snapshot()
            with PeakRSS() as rss:
                samples = c.run(block)
            share = foreign.fraction(before, foreign.snapshot())
            if share is not None:
                foreign_samples[c.name].append(share)
            row = out[c.name]
            row["samples_s"].extend(samples)
            row["peak_rss_bytes"] = max(row["peak_rss_bytes"], rss.peak)
            if row["rss_before_bytes"] is None:
                row["rss_before_bytes"] = rss.before
            device = device_peak(c.framework)
            if device is not None:
                row["device_peak_bytes"] = max(row.get("device_peak_bytes", 0), device)
    loads.append(os.getloadavg()[0])

    for c in contenders:
        row, values = out[c.name], foreign_samples[c.name]
        row["foreign_cpu_share"] = float(np.mean(values)) if values else None
        if c.per_seed:
            row["run_s"] = S * float(np.median(row["samples_s"]))
            row["sum_s"] = float(np.sum(row["samples_s"]))
        else:
            row["run_s"] = float(np.median(row["samples_s"]))
        with_compile = c.with_compile_s(row)
        if with_compile is not None:
            row["with_compile_s"] = with_compile
    return {"times": out, "contenders": contenders, "load_avg": loads}


# ----------------------------------------------------------------------------- one regime


def load_data(regime: Regime):
    from attnjax.data import load_dataset

    kwargs = dict(m=regime.m, n_train=regime.n_train, n_test=regime.n_test, seed=0,
                  protocol=regime.protocol)
    if regime.dataset == "orthogonal":
        kwargs["num_classes"] = regime.num_classes
    return load_dataset(regime.dataset, **kwargs)


def train_config(info, regime: Regime, precision: str):
    """attnjax's TrainConfig for a regime; ``precision`` goes to ``make_models`` through it."""
    from attnjax.train import TrainConfig

    return TrainConfig.for_data(info, loss=regime.loss, model=regime.model, hidden=regime.hidden,
                                epochs=regime.epochs, batch_size=regime.batch_size,
                                protocol=regime.protocol, precision=precision)


def race(regime: Regime, *, loader: str, matmul: dict | None, rounds: int,
         matmul_sizes: dict, methods=METHODS, precision: str = "float32") -> dict:
    import jax
    import torch_reference as tr

    from attnjax.train import Hyper

    data, info = load_data(regime)
    config = train_config(info, regime, precision)
    device = torch_device()
    tconfig = tr.TorchConfig(
        loss=regime.loss, num_classes=info.num_classes, m=info.m,
        segment_shape=tuple(info.segment_shape), model=regime.model, hidden=regime.hidden,
        epochs=regime.epochs, batch_size=regime.batch_size, momentum=config.momentum,
        eval_batch_size=config.eval_chunk, device=device,
        precision=precision, classifier_init=config.classifier_init,
    )
    tr.set_precision(precision)
    tdata = tr.to_torch_data(np.asarray(data.pool), data.train, data.test,
                             channels_first=regime.model == "cnn", device=device)
    data = jax.device_put(data)  # on the device before the clock starts, like torch's tensors
    S = regime.seeds
    keys = jax.random.split(jax.random.key(0), S)
    hparams = Hyper.tile(S, regime.learning_rate)
    seed_steps = S * regime.steps
    log(f"\n== {regime.name}: {info.name}, {regime.model} models, {regime.loss} attention, "
        f"K={info.num_classes}, m={info.m}, segment {tuple(info.segment_shape)}, "
        f"{regime.n_train}/{regime.n_test} train/test mosaics, batch {regime.batch_size}, "
        f"{regime.epochs} epochs ({regime.steps} steps), lr {regime.learning_rate}, S={S} seeds, "
        f"{precision}, torch on {device}")

    problem = Problem(config=config, data=data, keys=keys, hparams=hparams, tconfig=tconfig,
                      tdata=tdata, learning_rate=regime.learning_rate, loader=loader)
    raced = run_methods(problem, rounds=rounds, methods=methods)
    runs = raced["times"]

    # Final accuracy (the paradigm's own rule) and loss per seed, for the fairness check.
    finals = {}
    for c in raced["contenders"]:
        acc, train_acc, loss = c.final(config.rule)
        finals[c.name] = {"test_accuracy": summary(acc), "train_accuracy": summary(train_acc),
                          "final_loss": summary(loss)}
    ref = finals["attnjax_vmap"]
    for f in finals.values():
        acc_ok = agrees(f["test_accuracy"], ref["test_accuracy"], slack=1.0)
        loss_ok = agrees(f["final_loss"], ref["final_loss"], slack=1e-3)
        f["agrees_with_attnjax_vmap"] = None if acc_ok is None else bool(acc_ok and loss_ok)

    a = runs["attnjax_vmap"]

    def ratio(other: str, key: str = "run_s") -> float | None:
        return runs[other]["run_s"] / a[key] if other in runs else None

    out: dict[str, Any] = {
        "regime": dataclasses.asdict(regime),
        "precision": precision,
        "rounds": rounds,
        "torch_device": device,
        "methods": list(runs),
        "data": {"name": info.name, "num_classes": info.num_classes, "m": info.m,
                 "segment_shape": list(info.segment_shape)},
        "torch_loader": loader,
        "eval": "every epoch, all three rules, whole train and test splits, on both sides",
        "seed_steps": seed_steps,
        "times_s": {k: {kk: vv for kk, vv in v.items()
                        if kk.endswith("_s") or kk == "foreign_cpu_share"}
                    for k, v in runs.items()},
        "load_avg_per_round": raced["load_avg"],
        "memory_bytes": {k: {kk: vv for kk, vv in v.items() if kk.endswith("_bytes")}
                         for k, v in runs.items()},
        "seed_steps_per_s": {
            **{name: seed_steps / run["run_s"] for name, run in runs.items()},
            "attnjax_vmap_with_compile": seed_steps / a["with_compile_s"],
        },
        "speedup_vs_torch_loop": ratio("torch_loop"),
        "speedup_vs_torch_loop_with_compile": ratio("torch_loop", "with_compile_s"),
        "speedup_vs_torch_vmap": ratio("torch_vmap"),
        "speedup_vs_torch_vmap_with_compile": ratio("torch_vmap", "with_compile_s"),
        "speedup_vs_attnjax_loop": ratio("attnjax_loop"),
        "accuracy": finals,
    }

    if regime.name == "compute":
        flops = count_flops(config, data, 1)  # per seed; the same under vmap
        per_seed_epoch = (regime.steps_per_epoch * flops["step_flops_per_seed"]
                          + flops["eval_flops_per_seed_epoch"])
        total = S * regime.epochs * per_seed_epoch
        train_only = S * regime.steps * flops["step_flops_per_seed"]
        flops.update({
            "total_flops": total,
            "train_step_flops_total": train_only,
            "mlp_matmul_flops_per_step_by_hand": mlp_matmul_flops(
                regime, int(np.prod(info.segment_shape)), info.num_classes)["step"]
            if regime.model == "mlp" else None,
        })
        after = matmul_peak(**matmul_sizes)
        log(f"large matmul after the race: jax {max(after['jax'].values()) / 1e9:.1f} GFLOP/s, "
            f"torch {max(after['torch'].values()) / 1e9:.1f} GFLOP/s")
        out["matmul"] = {"before": matmul, "after": after}
        achieved = {name: total / run["run_s"] for name, run in runs.items()}
        # The machine's limit: the best large matmul of either library, before or after.
        peak = max(matmul["best_flops"], after["best_flops"])
        flops["achieved_flops_per_s"] = achieved
        flops["fraction_of_matmul_peak"] = {k: v / peak for k, v in achieved.items()}
        flops["matmul_peak_flops_per_s"] = peak
        out["flops"] = flops
    return out


def print_regime(r: dict) -> None:
    t = r["times_s"]
    a = t["attnjax_vmap"]
    log(f"  attnjax vmap : compile {a['compile_s']:.2f} s, first run {a['first_run_s']:.2f} s, "
        f"run {a['run_s']:.3f} s (with compile {a['with_compile_s']:.2f} s)")
    if "attnjax_loop" in t:
        d = t["attnjax_loop"]
        log(f"  attnjax loop : compile {d['compile_s']:.2f} s, {r['regime']['seeds']} calls "
            f"{d['run_s']:.3f} s (S x median call; raw sum {d['sum_s']:.3f} s)")
    if "torch_loop" in t:
        log(f"  torch loop   : {t['torch_loop']['run_s']:.3f} s (S x median seed; raw sum "
            f"{t['torch_loop']['sum_s']:.3f} s)")
    if "torch_vmap" in t:
        log(f"  torch.func   : {t['torch_vmap']['run_s']:.3f} s")
    log("  peak RSS while running (GiB; RSS when it started): " + ", ".join(
        f"{k} {v['peak_rss_bytes'] / 2**30:.2f} ({v['rss_before_bytes'] / 2**30:.2f})"
        for k, v in r["memory_bytes"].items()))
    log("  1-min load average at each round: "
        + ", ".join(f"{x:.1f}" for x in r["load_avg_per_round"]))
    shares = {k: v.get("foreign_cpu_share") for k, v in r["times_s"].items()}
    if all(v is not None for v in shares.values()):
        log("  CPU used by other processes while timing (share of all cores): "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items()))
    log("  seed-steps/s : " + ", ".join(f"{k} {v:,.0f}" if v >= 100 else f"{k} {v:.3g}"
                                        for k, v in r["seed_steps_per_s"].items()))
    log("  speedup of attnjax vmap (excluding compile / including compile):")
    for key, name in (("torch_loop", "torch loop "), ("torch_vmap", "torch.func ")):
        if r[f"speedup_vs_{key}"] is not None:
            log(f"    vs {name}   {r[f'speedup_vs_{key}']:7.2f}x / "
                f"{r[f'speedup_vs_{key}_with_compile']:.2f}x")
    if r["speedup_vs_attnjax_loop"] is not None:
        log(f"    vs attnjax loop {r['speedup_vs_attnjax_loop']:6.2f}x")
    log("  final test accuracy (paradigm's rule) and final epoch loss, mean +- std over seeds:")
    for name, f in r["accuracy"].items():
        acc, loss = f["test_accuracy"], f["final_loss"]
        log(f"    {name:13s} {acc['mean']:6.2f} +- {acc['std']:5.2f} %   loss {loss['mean']:.4f} "
            f"+- {loss['std']:.4f}   "
            + {True: "agrees", False: "DIFFERS", None: "(one seed: no spread to judge by)"}[
                f["agrees_with_attnjax_vmap"]])
    if "flops" in r:
        fl = r["flops"]
        log(f"  FLOPs per training step per seed (XLA cost analysis): "
            f"{fl['step_flops_per_seed'] / 1e6:.1f} M"
            + (f" (matmuls by hand: {fl['mlp_matmul_flops_per_step_by_hand'] / 1e6:.1f} M)"
               if fl.get("mlp_matmul_flops_per_step_by_hand") else ""))
        log(f"  evaluation FLOPs per seed-epoch: {fl['eval_flops_per_seed_epoch'] / 1e6:.1f} M; "
            f"total {fl['total_flops'] / 1e9:.1f} GFLOP")
        log(f"  large-matmul FLOP/s in this run: {fl['matmul_peak_flops_per_s'] / 1e9:.1f} G")
        for k, v in fl["achieved_flops_per_s"].items():
            share = 100 * fl["fraction_of_matmul_peak"][k]
            log(f"    {k:13s} {v / 1e9:6.1f} GFLOP/s = {share:5.1f}% of the matmul")


def default_rounds(args, cnn: bool, seeds: int) -> int:
    """``--rounds``, else 3; 2 with ``--quick`` and for the CNN at S = 1; 1 for the CNN at S > 1."""
    if args.rounds:
        return args.rounds
    if cnn:
        return 2 if seeds == 1 else 1
    return 2 if args.quick else 3


def targets(doc: dict) -> dict:
    """The issue's targets against this run's measurements (excluding compile time)."""
    out = {}
    r = doc["regimes"]
    if "overhead" in r:
        out["overhead: speedup vs torch loop"] = (30.0, r["overhead"]["speedup_vs_torch_loop"])
    for name, c in r.items():
        if not name.startswith("compute"):
            continue
        if c["regime"]["model"] == "cnn":  # issue 9: at least PyTorch's speed, aim for 1.5x
            out[f"{name}: speedup vs torch loop"] = (1.0, c["speedup_vs_torch_loop"])
            continue
        out[f"{name}: speedup vs torch loop"] = (2.0, c["speedup_vs_torch_loop"])
        out[f"{name}: speedup vs torch.func"] = (1.5, c["speedup_vs_torch_vmap"])
        out[f"{name}: fraction of matmul FLOP/s"] = (
            0.6, c["flops"]["fraction_of_matmul_peak"]["attnjax_vmap"])
    return {k: {"target": t, "measured": m, "met": bool(m is not None and m >= t)}
            for k, (t, m) in out.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--regime", choices=("overhead", "compute", "both"), default="both")
    p.add_argument("--loss", choices=("soft", "hard", "lvml"), default="soft",
                   help="attention paradigm for both regimes (default soft)")
    p.add_argument("--seeds", type=lambda v: tuple(int(x) for x in v.split(",")),
                   help="override S for every regime; a comma list (1,16) races each S in turn "
                        "(default 1,16 for --compute-model cnn)")
    p.add_argument("--methods", type=lambda v: tuple(v.split(",")),
                   help=f"comma list of the methods to race, from {','.join(METHODS)} "
                        f"(attnjax_vmap is always run); default all, "
                        f"{','.join(CNN_METHODS)} for --compute-model cnn")
    p.add_argument("--precision", choices=PRECISIONS,
                   default="float32",
                   help="arithmetic of both sides' convolutions and dense layers (attnjax: "
                        "make_models(precision=...); torch: TF32 switches and bfloat16 autocast)")
    p.add_argument("--compute-data", choices=("fashion-mnist", "digits"),
                   help="data set of the compute-bound regime (default fashion-mnist)")
    p.add_argument("--compute-model", choices=("mlp", "cnn"),
                   help="models of the compute-bound regime (default mlp); cnn races the "
                        "paper's CNN pair at its own sizes (CNN above)")
    p.add_argument("--batch-size", type=int, help="override the batch size of every regime")
    p.add_argument("--n-train", type=int, help="override the training mosaics of every regime")
    p.add_argument("--n-test", type=int, help="override the test mosaics of every regime")
    p.add_argument("--epochs", type=int, help="override the epochs of every regime")
    p.add_argument("--loader", choices=("dataloader", "index"), default="dataloader",
                   help="torch loop batches: DataLoader (the authors' way) or randperm indexing")
    p.add_argument("--cores", type=int, default=None,
                   help="run on this many cores only (CPU affinity, for both JAX and torch); "
                        "default all")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: the number of cores used; XLA sizes "
                        "its thread pool from the same affinity)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved timing rounds (each vmapped program runs once per round; "
                        "the loops share the seeds out over the rounds); default 3; 2 with --quick "
                        "and for the CNN at S = 1; 1 for the CNN at S > 1")
    args = p.parse_args(argv)

    available = sorted(os.sched_getaffinity(0))
    cores = min(args.cores or len(available), len(available))
    if cores < len(available):  # before torch and JAX start their thread pools
        os.sched_setaffinity(0, set(available[:cores]))
    threads = args.threads or cores

    import torch

    torch.set_num_threads(threads)

    regimes = QUICK if args.quick else FULL
    matmul_sizes = ({"sizes": (1024, 2048), "repeats": 2} if args.quick
                    else {"sizes": (1024, 2048, 3072), "repeats": 3})
    names = ("overhead", "compute") if args.regime == "both" else (args.regime,)
    start = time.perf_counter()
    doc: dict[str, Any] = {"quick": args.quick, "machine": machine_info(threads),
                           "precision": args.precision, "command": " ".join(sys.argv),
                           "regimes": {}}
    doc["machine"]["cores_used"] = cores
    log(f"machine: {doc['machine']}")
    matmul = None
    for name in names:
        base = regimes[name]
        cnn = name == "compute" and args.compute_model == "cnn"
        if cnn:
            base = dataclasses.replace(CNN, n_train=base.n_train // 2, n_test=base.n_test // 2,
                                       seeds=4) if args.quick else CNN
        regime = dataclasses.replace(base, loss=args.loss)
        if args.epochs:
            regime = dataclasses.replace(regime, epochs=args.epochs)
        for field in ("batch_size", "n_train", "n_test"):
            if getattr(args, field):
                regime = dataclasses.replace(regime, **{field: getattr(args, field)})
        if name == "compute" and args.compute_data:
            regime = dataclasses.replace(regime, dataset=args.compute_data)
        if name == "compute" and args.compute_model:
            regime = dataclasses.replace(regime, model=args.compute_model)
        if name == "compute":
            matmul = matmul_peak(**matmul_sizes)
            log(f"large matmul before the race: jax {max(matmul['jax'].values()) / 1e9:.1f} "
                f"GFLOP/s, torch {max(matmul['torch'].values()) / 1e9:.1f} GFLOP/s")
        methods = ("attnjax_vmap",) + (args.methods or (CNN_METHODS if cnn else METHODS))
        seed_counts = args.seeds or ((1, regime.seeds) if cnn else (regime.seeds,))
        for S in seed_counts:
            label = name if len(seed_counts) == 1 else f"{name}_S{S}"
            result = race(dataclasses.replace(regime, seeds=S), loader=args.loader,
                          matmul=matmul, rounds=default_rounds(args, cnn, S),
                          matmul_sizes=matmul_sizes, methods=methods,
                          precision=args.precision)
            doc["regimes"][label] = result
            if args.json:  # each finished row at once: a long run keeps what it measured
                write_json(args.json, doc)
            print_regime(result)
    # Top-level summary keys, each a {regime: value} mapping.
    for key in ("speedup_vs_torch_loop", "speedup_vs_torch_vmap",
                "speedup_vs_torch_loop_with_compile", "speedup_vs_torch_vmap_with_compile"):
        doc[key] = {name: r[key] for name, r in doc["regimes"].items()}
    doc["times_s"] = {name: r["times_s"] for name, r in doc["regimes"].items()}
    doc["fraction_of_matmul_peak"] = {
        name: r["flops"]["fraction_of_matmul_peak"]["attnjax_vmap"]
        for name, r in doc["regimes"].items() if "flops" in r}
    doc["targets"] = targets(doc)
    log("\ntargets:")
    for name, t in doc["targets"].items():
        measured = "n/a" if t["measured"] is None else f"{t['measured']:8.2f}"
        log(f"  {name:45s} target {t['target']:>6}  measured {measured:>8}  "
            f"{'met' if t['met'] else 'MISSED'}")
    return finish(doc, args.json, start)


if __name__ == "__main__":
    sys.exit(main())
