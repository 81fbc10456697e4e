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

Usage::

    python benchmarks/seeds.py                 # both regimes, full sizes (~2.5 min, 2 cores)
    python benchmarks/seeds.py --quick         # under a minute
    python benchmarks/seeds.py --json benchmarks/results/seeds.json

Only ratios measured in this one run are meaningful: the machines are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from attnjax.protocol import PRECISIONS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


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
# sides' final accuracies can be compared. Run at S = 1 and S = 16; only (a) and (b)
# by default (see ``CNN_METHODS``).
CNN = dataclasses.replace(FULL["compute"], model="cnn", n_train=3072, n_test=512, epochs=2,
                          protocol="paper")
CNN_SEEDS = (1, 16)
CNN_METHODS = ("attnjax_vmap", "torch_loop")

QUICK = {
    "overhead": dataclasses.replace(FULL["overhead"], epochs=3),
    "compute": dataclasses.replace(FULL["compute"], n_train=1024, n_test=256, epochs=1, seeds=4),
}


# ----------------------------------------------------------------------------- helpers


def log(*args):
    print(*args, flush=True)


def timed(fn, *args, **kwargs):
    gc.collect()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def torch_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class PeakRSS:
    """Peak resident memory of this process while a block runs, sampled every ``period`` s.

    ``ru_maxrss`` is a lifetime maximum, so it cannot tell one benchmark row from the
    next; this samples ``/proc/self/statm`` from a thread instead. Both frameworks
    share the process, so ``before`` (RSS when the block started) is kept too: the
    row's own working set is about ``peak - before``. On a GPU, device memory is
    read from the frameworks instead (see ``device_peak``).
    """

    def __init__(self, period: float = 0.01):
        import threading

        self.period, self.page = period, os.sysconf("SC_PAGE_SIZE")
        self.before = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        except OSError:
            return 0

    def _run(self):
        while not self._stop.wait(self.period):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def device_peak(method: str) -> int | None:
    """Peak device memory (bytes) of one framework on a GPU; None on CPU.

    torch: ``max_memory_allocated`` since the last ``reset_peak_memory_stats`` (per
    row). JAX: ``attnjax.parallel.peak_memory()``, the device's peak since the
    process started (JAX cannot reset it), so JAX rows are cumulative.
    """
    if method.startswith("torch"):
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    from attnjax.parallel import peak_memory

    peak = peak_memory()
    return peak.bytes if peak.source == "device" else None


def machine_info(torch_threads: int) -> dict:
    import jax
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": len(jax.devices()),
        "torch": torch.__version__,
        "torch_threads": torch_threads,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_device": torch_device(),
        "torch_cuda_device": (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                              else None),
        "jax_device": str(jax.devices()[0].device_kind),
    }


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


def load_data(regime: Regime):
    from attnjax.data import load_dataset

    kwargs = dict(m=regime.m, n_train=regime.n_train, n_test=regime.n_test, seed=0,
                  protocol=regime.protocol)
    if regime.dataset == "orthogonal":
        kwargs["num_classes"] = regime.num_classes
    return load_dataset(regime.dataset, **kwargs)


# ----------------------------------------------------------------------------- matmul peak


def matmul_peak(sizes=(1024, 2048, 3072), repeats: int = 3) -> dict:
    """Best FLOP/s of large float32 square matrix products, in JAX and in PyTorch."""
    import jax
    import jax.numpy as jnp
    import torch

    out = {"jax": {}, "torch": {}}
    dot = jax.jit(jnp.dot)
    for n in sizes:
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        dot(a, b).block_until_ready()
        best = min(timed(lambda: dot(a, b).block_until_ready())[1] for _ in range(repeats))
        out["jax"][n] = 2 * n**3 / best
        ta, tb = torch.randn(n, n), torch.randn(n, n)
        ta @ tb
        best = min(timed(lambda: ta @ tb)[1] for _ in range(repeats))
        out["torch"][n] = 2 * n**3 / best
    out["best_flops"] = max(max(out["jax"].values()), max(out["torch"].values()))
    out["jax"] = {str(k): v for k, v in out["jax"].items()}
    out["torch"] = {str(k): v for k, v in out["torch"].items()}
    return out


# ----------------------------------------------------------------------------- FLOP counts


def count_flops(config, data, seeds: int) -> dict:
    """FLOPs of one vmapped training step and of one end-of-epoch evaluation (XLA cost analysis).

    XLA's cost analysis counts a loop body once, whatever its trip count, so the
    training program cannot be costed as a whole; its step (``attnjax.train.make_step``)
    and its evaluation (``attnjax.evaluation.make_evaluate``, chunked as in training)
    are the very functions ``make_train`` runs, costed on their own for all ``seeds``
    at once.
    """
    import jax
    import jax.numpy as jnp

    from attnjax.evaluation import make_evaluate
    from attnjax.train import Hyper, init_state, make_step

    import dataclasses

    # One evaluation chunk per split: the cost analysis would count a scan's body once.
    whole = max(data.train.index.shape[0], data.test.index.shape[0])
    step, evaluate = make_step(config), make_evaluate(dataclasses.replace(config, eval_batch_size=whole))
    keys = jax.random.split(jax.random.key(0), seeds)
    hparams = Hyper.tile(seeds, 0.05)
    state = jax.vmap(lambda k, h: init_state(config, k, h))(keys, hparams)
    carry = (state.params, state.opt_state, state.paradigm_state)
    rows = jnp.zeros((seeds, config.batch_size), jnp.int32)

    def flops(fn, *args):
        cost = jax.jit(fn).lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost["flops"])

    def one_step(carry, rows, key, hparams, data):
        return step(carry, rows, key, hparams, data, jnp.int32(0))

    step_flops = flops(jax.vmap(one_step, in_axes=(0, 0, 0, 0, None)), carry, rows, keys, hparams, data)
    eval_v = jax.vmap(evaluate, in_axes=(0, 0, None, None))
    eval_train = flops(lambda p, h, d: eval_v(p, h, d, d.train), state.params, hparams, data)
    eval_test = flops(lambda p, h, d: eval_v(p, h, d, d.test), state.params, hparams, data)
    return {
        "step_flops_all_seeds": step_flops,
        "step_flops_per_seed": step_flops / seeds,
        "eval_flops_per_seed_epoch": (eval_train + eval_test) / seeds,
    }


def mlp_matmul_flops(regime: Regime, segment_dim: int, num_classes: int) -> dict:
    """Hand count of the matrix-product FLOPs of one MLP training step, per seed.

    B mosaics of m segments of dimension D, hidden width H, K classes; a product of
    an [a, b] and a [b, c] matrix counts 2abc. The focus MLP (D->H->1) runs on all
    B*m segments. Soft attention pools first (2BmD) and classifies the B pooled
    segments; hard attention and LVML classify all B*m segments. Backward: weight
    gradients of every layer, input gradients of every hidden layer, and, for soft
    attention only, the classifier's input gradient and the attention's gradient
    through the pooling (the segments themselves need no gradient).
    """
    b, m, d, h, k = regime.batch_size, regime.m, segment_dim, regime.hidden, num_classes
    focus_fwd = 2 * b * m * (d * h + h)
    focus_bwd = 2 * b * m * d * h + 2 * b * m * h + 2 * b * m * h  # dW1, dW2, d(hidden)
    if regime.loss == "soft":
        n = b  # classified rows
        pool_fwd, pool_bwd = 2 * b * m * d, 2 * b * m * d
        cls_bwd = 2 * n * d * h + 2 * n * d * h + 2 * n * h * k + 2 * n * h * k  # dW1 dx dW2 dh
    else:
        n = b * m
        pool_fwd = pool_bwd = 0
        cls_bwd = 2 * n * d * h + 2 * n * h * k + 2 * n * h * k  # dW1, dW2, d(hidden)
    cls_fwd = 2 * n * (d * h + h * k)
    forward = focus_fwd + pool_fwd + cls_fwd
    backward = focus_bwd + pool_bwd + cls_bwd
    return {"forward": forward, "backward": backward, "step": forward + backward}


# ----------------------------------------------------------------------------- the four runs


METHODS = ("attnjax_vmap", "attnjax_loop", "torch_loop", "torch_vmap")


class ForeignLoad:
    """How much CPU other processes used while we measured (Linux ``/proc/stat``).

    ``foreign = (busy CPU time of the whole machine) - (this process's CPU time)``,
    as a fraction of the machine's capacity (wall time x cores). Near 0: we had the
    machine to ourselves; 0.5 on 2 cores: another process kept one core busy.
    """

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.cpus = {f"cpu{c}" for c in os.sched_getaffinity(0)}  # only the cores we run on
        self.cores = len(self.cpus)

    def snapshot(self):
        busy = 0.0
        try:
            with open("/proc/stat") as f:
                for line in f:
                    name, *fields = line.split()
                    if name in self.cpus:
                        values = [int(v) for v in fields[:8]]
                        busy += (sum(values) - values[3] - values[4]) / self.tick  # not idle
        except OSError:
            return None
        mine = os.times()
        return busy, mine.user + mine.system, time.perf_counter()

    def fraction(self, before, after) -> float | None:
        if before is None or after is None:
            return None
        busy, mine, wall = (a - b for a, b in zip(after, before))
        return max(0.0, (busy - mine) / max(wall * self.cores, 1e-9))


def run_methods(config, tconfig, data, tdata, keys, hparams, lr, *, loader: str,
                rounds: int, methods=METHODS) -> dict:
    """Time the four methods in interleaved rounds, so that bursts of load hit them all.

    Before the rounds (untimed, or timed apart): attnjax compiles both programs and
    runs each once (one-time costs: allocation, thread start-up); torch trains one
    seed for one epoch in each mode (thread pools, allocator, kernel selection).

    Each round runs the whole S-seed ``jit(vmap(train))`` and torch.func programs
    once, and the two Python loops over their share (S / rounds) of the seeds,
    timing every seed. The order of the four rotates from round to round.

    Estimates: a vmapped method's time is the median of its ``rounds`` runs; a
    loop's is S times the median seed. Every sample is kept in the JSON.

    ``methods``: the subset of ``METHODS`` to run. Each one's peak memory (sampled
    RSS, and device memory on a GPU) is recorded over all its runs.
    """
    import jax

    import torch_reference as tr
    from attnjax.train import Hyper, make_train

    S = int(keys.shape[0])
    methods = tuple(name for name in METHODS if name in methods)
    out = {name: {"samples_s": [], "peak_rss_bytes": 0, "rss_before_bytes": None}
           for name in methods}
    vmap_result = None

    if "attnjax_vmap" in methods:
        program = jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))
        vmapped, t = timed(lambda: program.lower(keys, hparams, data).compile())
        out["attnjax_vmap"]["compile_s"] = t
        vmap_result, t = timed(lambda: jax.device_get(vmapped(keys, hparams, data)))
        out["attnjax_vmap"]["first_run_s"] = t

    if "attnjax_loop" in methods:
        one = jax.tree_util.tree_map(lambda x: x[0], hparams)
        single, t = timed(
            lambda: jax.jit(make_train(config)).lower(keys[0], one, data).compile())
        out["attnjax_loop"]["compile_s"] = t
        _, t = timed(lambda: jax.device_get(single(keys[0], one, data)))
        out["attnjax_loop"]["first_run_s"] = t

    if "torch_loop" in methods:
        tr.train_loop(dataclasses.replace(tconfig, epochs=1), tdata, [10_000], lr, loader=loader)
    if "torch_vmap" in methods:
        tr.train_vmap(dataclasses.replace(tconfig, epochs=1), tdata, list(range(S)), lr)

    loop_results: list = [None] * S
    torch_parts, torch_vmap_result = [], None
    loads = []

    def attnjax_vmap(block):
        nonlocal vmap_result
        vmap_result, t = timed(lambda: jax.device_get(vmapped(keys, hparams, data)))
        out["attnjax_vmap"]["samples_s"].append(t)

    def attnjax_loop(block):
        gc.collect()
        for s in block:
            hp = jax.tree_util.tree_map(lambda x, s=s: x[s], hparams)
            t0 = time.perf_counter()
            loop_results[s] = jax.device_get(single(keys[s], hp, data))
            out["attnjax_loop"]["samples_s"].append(time.perf_counter() - t0)

    def torch_loop(block):
        gc.collect()
        res = tr.train_loop(tconfig, tdata, [int(s) for s in block], lr, loader=loader)
        out["torch_loop"]["samples_s"].extend(float(x) for x in res.seconds)
        torch_parts.append(res)

    def torch_vmap(block):
        nonlocal torch_vmap_result
        torch_vmap_result, t = timed(tr.train_vmap, tconfig, tdata, list(range(S)), lr)
        out["torch_vmap"]["samples_s"].append(t)

    steps = {"attnjax_vmap": attnjax_vmap, "attnjax_loop": attnjax_loop,
             "torch_loop": torch_loop, "torch_vmap": torch_vmap}
    blocks = np.array_split(np.arange(S), rounds)
    if S < rounds:  # too few seeds to share out: each round's loops train one again
        blocks = [np.array([r % S]) for r in range(rounds)]
    foreign = ForeignLoad()
    foreign_samples = {name: [] for name in methods}
    for r, block in enumerate(blocks):
        k = r % len(methods)
        order = methods[k:] + methods[:k]
        loads.append(os.getloadavg()[0])
        log(f"  round {r + 1}/{rounds}: " + ", ".join(order) + f" (load {loads[-1]:.1f})")
        for name in order:
            if name.startswith("torch") and tconfig.device == "cuda":
                import torch

                torch.cuda.reset_peak_memory_stats()
            before = foreign.snapshot()
            with PeakRSS() as rss:
                steps[name](block)
            share = foreign.fraction(before, foreign.snapshot())
            if share is not None:
                foreign_samples[name].append(share)
            row = out[name]
            row["peak_rss_bytes"] = max(row["peak_rss_bytes"], rss.peak)
            if row["rss_before_bytes"] is None:
                row["rss_before_bytes"] = rss.before
            device = device_peak(name)
            if device is not None:
                row["device_peak_bytes"] = max(row.get("device_peak_bytes", 0), device)
    loads.append(os.getloadavg()[0])
    for name in methods:
        values = foreign_samples[name]
        out[name]["foreign_cpu_share"] = float(np.mean(values)) if values else None

    for name in ("attnjax_vmap", "torch_vmap"):
        if name in methods:
            out[name]["run_s"] = float(np.median(out[name]["samples_s"]))
    for name in ("attnjax_loop", "torch_loop"):
        if name in methods:
            samples = out[name]["samples_s"]
            out[name]["run_s"] = S * float(np.median(samples))
            out[name]["sum_s"] = float(np.sum(samples))
    if "attnjax_vmap" in methods:
        out["attnjax_vmap"]["with_compile_s"] = (out["attnjax_vmap"]["compile_s"]
                                                 + out["attnjax_vmap"]["first_run_s"])
    if "attnjax_loop" in methods:
        out["attnjax_loop"]["with_compile_s"] = (out["attnjax_loop"]["compile_s"]
                                                 + out["attnjax_loop"]["run_s"])
    results = {
        "attnjax_vmap": vmap_result,
        "attnjax_loop": (jax.tree_util.tree_map(lambda *xs: np.stack(xs), *loop_results)
                         if "attnjax_loop" in methods else None),
        "torch_loop": (tr.TorchResult(*(np.concatenate(xs)[:S] for xs in zip(*torch_parts)))
                       if "torch_loop" in methods else None),
        "torch_vmap": torch_vmap_result,
    }
    results = {name: results[name] for name in methods}
    return {"times": out, "results": results, "load_avg": loads}


# ----------------------------------------------------------------------------- one regime


def train_config(info, regime: Regime, precision: str):
    """attnjax's TrainConfig for a regime; ``precision`` goes to ``make_models`` through it.

    ``TrainConfig.precision`` is passed on to ``make_models`` by ``attnjax.train``; with an
    attnjax that predates it only ``"float32"`` can be measured.
    """
    from attnjax.train import TrainConfig

    kwargs = dict(loss=regime.loss, model=regime.model, hidden=regime.hidden,
                  epochs=regime.epochs, batch_size=regime.batch_size, protocol=regime.protocol)
    if "precision" in {f.name for f in dataclasses.fields(TrainConfig)}:
        kwargs["precision"] = precision
    elif precision != "float32":
        raise SystemExit(f"this attnjax's TrainConfig has no precision field; "
                         f"--precision {precision} needs it")
    return TrainConfig.for_data(info, **kwargs)


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
        eval_batch_size=getattr(config, "eval_chunk", config.eval_batch_size), device=device,
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

    raced = run_methods(config, tconfig, data, tdata, keys, hparams, regime.learning_rate,
                        loader=loader, rounds=rounds, methods=methods)
    runs = raced["times"]

    # Final accuracy (the paradigm's own rule) and loss per seed, for the fairness check.
    rule = config.rule
    finals = {}
    for name, res in raced["results"].items():
        if name.startswith("attnjax"):
            acc = np.asarray(res.history.test.accuracy)[:, -1, rule]
            train_acc = np.asarray(res.history.train.accuracy)[:, -1, rule]
            loss = np.asarray(res.history.loss)[:, -1]
        else:
            acc, train_acc, loss = res.test[:, -1, rule], res.train[:, -1, rule], res.loss[:, -1]
        finals[name] = {"test_accuracy": summary(acc), "train_accuracy": summary(train_acc),
                        "final_loss": summary(loss)}
    ref = finals["attnjax_vmap"]
    for name, f in finals.items():
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


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


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
    doc["total_wall_s"] = time.perf_counter() - start
    log(f"\ntotal wall time {doc['total_wall_s']:.1f} s")
    if args.json:
        write_json(args.json, doc)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
