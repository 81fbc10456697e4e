"""What the seed race measures with: clocks, memory, machine load, the machine, FLOPs, JSON.

Used by ``seeds.py`` and its contenders (``contenders.py``). JAX and PyTorch are imported
inside the functions, never here: ``seeds.py`` pins the process's cores before either
starts its thread pool.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import threading
import time
from pathlib import Path


def log(*args):
    print(*args, flush=True)


def timed(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds)``, after a garbage collection outside the clock."""
    gc.collect()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


# ----------------------------------------------------------------------------- memory


class PeakRSS:
    """Peak resident memory of this process while a block runs, sampled every ``period`` s.

    ``ru_maxrss`` is a lifetime maximum, so it cannot tell one benchmark row from the
    next; this samples ``/proc/self/statm`` from a thread instead. Both frameworks
    share the process, so ``before`` (RSS when the block started) is kept too: the
    row's own working set is about ``peak - before``. On a GPU, device memory is
    read from the frameworks instead (see ``device_peak``).
    """

    def __init__(self, period: float = 0.01):
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


def reset_device_peak(framework: str) -> None:
    """Start a new peak of torch's device memory (``framework == "torch"`` on a GPU only).

    JAX cannot reset its device peak, so there is nothing to do for ``"jax"``.
    """
    if framework == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()


def device_peak(framework: str) -> int | None:
    """Peak device memory (bytes) of one framework (``"torch"`` or ``"jax"``) on a GPU; None on CPU.

    torch: ``max_memory_allocated`` since the last ``reset_device_peak`` (per row). JAX:
    ``attnjax.parallel.peak_memory()``, the device's peak since the process started (JAX
    cannot reset it), so JAX rows are cumulative.
    """
    if framework == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    from attnjax.parallel import peak_memory

    peak = peak_memory()
    return peak.bytes if peak.source == "device" else None


# ----------------------------------------------------------------------------- other processes


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


# ----------------------------------------------------------------------------- the machine


def torch_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else ``platform.processor()``."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def jax_header(script: str) -> dict:
    """The fields every JAX benchmark document opens with: the CPU, its cores, jax, the backend and the
    command that ran ``benchmarks/<script>`` (with this process's arguments)."""
    import sys

    import jax

    return {"cpu": cpu_model(), "cores": len(ForeignLoad().cpus), "jax": jax.__version__,
            "backend": jax.default_backend(), "command": " ".join([f"python benchmarks/{script}", *sys.argv[1:]])}


def machine_info(torch_threads: int) -> dict:
    """The CPU, the software versions and both frameworks' devices and threads."""
    import jax
    import torch

    return {
        "cpu": cpu_model(),
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


# ----------------------------------------------------------------------------- FLOPs


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
        best = min(timed(lambda a=a, b=b: dot(a, b).block_until_ready())[1] for _ in range(repeats))
        out["jax"][n] = 2 * n**3 / best
        ta, tb = torch.randn(n, n), torch.randn(n, n)
        ta @ tb
        best = min(timed(lambda ta=ta, tb=tb: ta @ tb)[1] for _ in range(repeats))
        out["torch"][n] = 2 * n**3 / best
    out["best_flops"] = max(max(out["jax"].values()), max(out["torch"].values()))
    out["jax"] = {str(k): v for k, v in out["jax"].items()}
    out["torch"] = {str(k): v for k, v in out["torch"].items()}
    return out


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


def mlp_matmul_flops(regime, segment_dim: int, num_classes: int) -> dict:
    """Hand count of the matrix-product FLOPs of one MLP training step, per seed.

    ``regime`` gives ``batch_size``, ``m``, ``hidden`` and ``loss`` (a ``seeds.Regime``).
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


# ----------------------------------------------------------------------------- results


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


def finish(doc: dict, path: Path | None, start: float) -> int:
    """A script's end: the total wall time since ``start`` into ``doc`` and the log, ``doc`` written to
    ``path`` (if given); returns the exit status, 0."""
    doc["total_wall_s"] = time.perf_counter() - start
    log(f"\ntotal wall time {doc['total_wall_s']:.1f} s")
    if path:
        write_json(path, doc)
        log(f"wrote {path}")
    return 0
