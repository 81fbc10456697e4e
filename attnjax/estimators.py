"""Bias, variance and cost of the sampled hard-attention estimators against the exact gradient.

One fixed random problem per m: Gaussian segments (one per mosaic carries its
class mean), a random linear focus and a randomly initialised MLP classifier. At
those parameters the exact gradient of the batch-mean hard-attention loss is
compared with ``num_draws`` sampled gradients of each estimator (all parameters,
flattened):

* bias: ``|mean - exact| / |exact|``; ``bias_noise`` is its Monte Carlo floor
  ``sqrt(variance / num_draws)`` (a bias below it is not resolved);
* variance: ``mean |g - mean|^2 / |exact|^2``;
* cost: seconds (fastest of repeated timings) of a jitted ``value_and_grad`` on the batch, exact and
  estimator measured in the same run, and their ratio.
"""

from __future__ import annotations

import time
from typing import Callable, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .losses import hard_attention_loss
from .models import LinearFocus, MLPClassifier
from .sampled import gumbel_hard_loss, reinforce_hard_loss

__all__ = [
    "estimator_table", "ESTIMATORS", "estimator_diagnostics", "plot_estimators", "draw_bytes", "check_fits"]

#: name -> (surrogate, options); "baseline" is filled with the exact mean loss,
#: the fixed point of the authors' moving average at these parameters.
ESTIMATORS = {
    "reinforce": (reinforce_hard_loss, {}),
    "reinforce+baseline": (reinforce_hard_loss, {"baseline": None}),
    "reinforce k=4": (reinforce_hard_loss, {"num_samples": 4}),
    "reinforce k=4 w/o repl.": (reinforce_hard_loss, {"num_samples": 4, "replace": False}),
    "gumbel tau=1": (gumbel_hard_loss, {"temperature": 1.0}),
    "gumbel tau=0.5": (gumbel_hard_loss, {"temperature": 0.5}),
}


def _problem(m, *, batch, dim, num_classes, hidden, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, batch)
    segments = rng.normal(size=(batch, m, dim)).astype(np.float32)
    segments[np.arange(batch), rng.integers(0, m, batch)] += 2 * rng.normal(size=(num_classes, dim))[labels]
    focus, clf = LinearFocus(), MLPClassifier(num_classes, hidden=(hidden,))
    key_f, key_c = jax.random.split(jax.random.key(seed))
    f_params = focus.init(key_f, segments[:1, 0])
    f_params = jax.tree.map(lambda p: jax.random.normal(key_f, p.shape) / np.sqrt(dim), f_params)
    params = {"focus": f_params, "classifier": clf.init(key_c, segments[:1, 0])}
    segments, labels = jnp.asarray(segments), jnp.asarray(labels)

    def objective(loss, options):
        def f(p, key):
            logits = cast(jax.Array, focus.apply(p["focus"], segments.reshape(batch * m, dim))).reshape(batch, m)
            kw = options if loss is hard_attention_loss else dict(options, key=key)
            return jnp.mean(loss(logits, segments, labels, lambda x: clf.apply(p["classifier"], x), **kw))
        return f

    return params, objective


def _seconds(fn, params, key, repeats, inner=5, budget=2.0):
    """Fastest of up to ``repeats`` timings of ``inner`` calls, per call: the least
    disturbed by other processes on a shared machine. Timing stops once it has taken
    ``budget`` seconds (after at least one timing), so a large m is not timed 100 times."""
    start = time.perf_counter()
    jax.block_until_ready(fn(params, key))  # compile
    if time.perf_counter() - start > budget:  # one call is slow: time single calls
        inner = 1
    times, spent = [], 0.0
    while len(times) < repeats and (not times or spent < budget):
        start = time.perf_counter()
        for _ in range(inner):
            out = fn(params, key)
        jax.block_until_ready(out)
        elapsed = time.perf_counter() - start
        times.append(elapsed / inner)
        spent += elapsed
    return float(np.min(times))


#: Draws of one estimator computed together (vmapped) at most.
DRAW_CHUNK = 500


def draw_bytes(m: int, *, batch: int = 128, dim: int = 32, num_classes: int = 5, hidden: int = 64) -> int:
    """An estimate of the memory one sampled gradient needs at ``m`` segments (bytes).

    Float32 segments ``[B, m, dim]``, the classifier's hidden activations
    ``[B, m, hidden]`` and logits ``[B, m, K]``, and the focus scores, each
    kept for the backward pass and once more as its cotangent: ``2 * 4 * B * m *
    (dim + hidden + K + 1)``. An estimate for planning, not a measurement.
    """
    return 8 * batch * m * (dim + hidden + num_classes + 1)


def check_fits(ms, *, batch: int = 128, dim: int = 32, num_classes: int = 5, hidden: int = 64,
               available: int | None = None) -> None:
    """Refuse, before any compilation, an m whose single sampled gradient would not fit in memory.

    Raises:
        ConfigError: names the m and the estimated and available bytes (``field`` ``"ms"``).
    """
    from .errors import ConfigError
    from .parallel import available_memory

    available = available_memory() if available is None else available
    if available is None:
        return
    for m in ms:
        need = draw_bytes(m, batch=batch, dim=dim, num_classes=num_classes, hidden=hidden)
        if need > available // 2:
            raise ConfigError(f"m = {m}: one sampled gradient needs about {need / 2**30:.1f} GiB "
                              f"(batch {batch}), more than half of the {available / 2**30:.1f} GiB available", field="ms")


def estimator_diagnostics(
    *, ms=(5, 20, 100), num_draws: int = 2000, seed: int = 0, batch: int = 128,
    dim: int = 32, num_classes: int = 5, hidden: int = 64, repeats: int = 20,
    progress: Callable[[str, str], None] | None = None,
) -> dict:
    """Measure every estimator in `ESTIMATORS` at each m.

    Arguments:
        ms: segments per mosaic to test.
        num_draws: sampled gradients per estimator and m.
        seed: problem and sampling seed.
        batch, dim, num_classes, hidden: problem size (B, segment dimension, K, MLP width).
        repeats: timings per measurement at most (the fastest is reported;
            timing stops after about 2 s).
        progress: called ``("m", line)`` at each m (the exact gradient's measured time
            and what that implies for the draws), then ``("done", name)`` for each
            estimator finished there.

    Returns:
        A plain dict: ``settings``, ``device``, ``ms``, ``exact`` (``seconds``,
        ``grad_norm``, ``loss`` per m) and ``estimators`` (name -> lists per m of
        ``bias``, ``bias_noise``, ``variance``, ``seconds``, ``cost_ratio``).
    """
    dev = jax.devices()[0]
    doc = {
        "settings": dict(num_draws=num_draws, seed=seed, batch=batch, dim=dim,
                         num_classes=num_classes, hidden=hidden, repeats=repeats),
        "device": f"{dev.platform}: {dev.device_kind}", "ms": list(ms),
        "exact": {"seconds": [], "grad_norm": [], "loss": []},
        "estimators": {n: {k: [] for k in ("bias", "bias_noise", "variance", "seconds", "cost_ratio")}
                       for n in ESTIMATORS},
    }
    key = jax.random.key(seed)
    for m in ms:
        params, objective = _problem(m, batch=batch, dim=dim, num_classes=num_classes, hidden=hidden, seed=seed)
        exact_fn = jax.jit(jax.value_and_grad(objective(hard_attention_loss, {})))
        loss, grad = exact_fn(params, key)
        exact = np.asarray(ravel_pytree(grad)[0], np.float64)
        t_exact = _seconds(exact_fn, params, key, repeats)
        doc["exact"]["seconds"].append(t_exact)
        doc["exact"]["grad_norm"].append(float(np.linalg.norm(exact)))
        doc["exact"]["loss"].append(float(loss))
        chunk = min(num_draws, _draw_chunk(m, batch=batch, dim=dim, num_classes=num_classes, hidden=hidden))
        if progress is not None:
            took = f"{t_exact:.3g} s" if t_exact >= 1 else f"{t_exact * 1e3:.3g} ms"
            progress("m", f"m = {m}: one exact gradient takes {took}, so {len(ESTIMATORS)} estimators x "
                     f"{num_draws} draws (in chunks of {chunk}) take roughly "
                     f"{len(ESTIMATORS) * num_draws * t_exact:.3g} s plus compilation")
        for name, (loss_fn, options) in ESTIMATORS.items():
            options = {k: (float(loss) if v is None else v) for k, v in options.items()}
            if options.get("replace", True) is False:
                options["num_samples"] = min(options["num_samples"], m)  # k = m is exact
            step = jax.jit(jax.value_and_grad(objective(loss_fn, options)))
            draw = jax.jit(jax.vmap(lambda k, step=step, params=params: ravel_pytree(step(params, k)[1])[0]))
            keys = jax.random.split(jax.random.fold_in(key, m), num_draws)
            g = np.concatenate([np.asarray(draw(c), np.float64)
                                for c in np.array_split(keys, -(-num_draws // chunk))])
            mean, norm2 = g.mean(0), float(exact @ exact)
            variance = float(np.mean(np.sum((g - mean) ** 2, axis=1)) / norm2)
            t = _seconds(step, params, key, repeats)
            row = doc["estimators"][name]
            row["bias"].append(float(np.linalg.norm(mean - exact) / np.sqrt(norm2)))
            row["bias_noise"].append(float(np.sqrt(variance / num_draws)))
            row["variance"].append(variance)
            row["seconds"].append(t)
            row["cost_ratio"].append(t / t_exact)
            if progress is not None:
                progress("done", name)
    return doc


def _draw_chunk(m: int, **sizes) -> int:
    """Draws per vmapped call: at most `DRAW_CHUNK`, and at most a quarter of the free memory."""
    from .parallel import available_memory

    free = available_memory()
    fit = DRAW_CHUNK if free is None else free // 4 // draw_bytes(m, **sizes)
    return int(max(1, min(DRAW_CHUNK, fit)))


def _device_words(device: str) -> str:
    """``"cpu: cpu"`` -> ``"CPU"``, ``"gpu: NVIDIA H200"`` -> ``"NVIDIA H200 (GPU)"``, ``"tpu: TPU v4"`` -> ``"TPU v4"``."""
    platform, _, kind = str(device).partition(": ")
    if not kind or kind.lower() == platform.lower():
        return platform.upper()
    return kind if platform.lower() in kind.lower() else f"{kind} ({platform.upper()})"


def plot_estimators(doc: dict, path) -> None:
    """Variance (left) and bias (right) of each estimator against m, log-log.

    The x ticks are the m values measured; the legend is under both panels and the
    device is named once, in the title.

    Arguments:
        doc: the dict `estimator_diagnostics` returns (or its JSON).
        path: the image file to write (format from the suffix).
    """
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    from .files import new_figure, save_figure_atomic

    ms = list(doc["ms"])
    fig = new_figure(figsize=(10, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for name, row in doc["estimators"].items():
        line = axes[0].loglog(ms, row["variance"], "o-", label=name)[0]
        axes[1].loglog(ms, np.maximum(row["bias"], 1e-4), "o-", label=name, color=line.get_color())
        # The Monte Carlo floor: a bias at or below its dotted line is noise, not bias.
        axes[1].loglog(ms, np.maximum(row["bias_noise"], 1e-4), ":", color=line.get_color())
    titles = ("variance of the sampled gradient", "bias of the mean sampled gradient\n"
              "(dotted: each estimator's noise floor sqrt(variance / draws))")
    for ax, what, title in zip(axes, ("variance / |exact grad|²", "|mean − exact| / |exact grad|"), titles):
        ax.xaxis.set_major_locator(FixedLocator(ms))
        ax.xaxis.set_major_formatter(FixedFormatter([f"{m:g}" for m in ms]))
        ax.xaxis.set_minor_locator(NullLocator())
        if len(ms) == 1:
            ax.set_xlim(ms[0] / 1.5, ms[0] * 1.5)
        ax.set_xlabel("m (segments per mosaic)")
        ax.set_ylabel(what)
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=8)
    fig.suptitle(f"Sampled hard-attention gradients against the exact gradient: "
                 f"{doc['settings']['num_draws']} draws per estimator and m, on {_device_words(doc['device'])}")
    save_figure_atomic(fig, path)


def estimator_table(doc: dict) -> str:
    """One row per estimator and m: bias (with its noise floor), variance, cost."""
    from .files import format_table

    rows = []
    for name, row in doc["estimators"].items():
        for i, m in enumerate(doc["ms"]):
            rows.append([
                name, m, f"{row['bias'][i]:.3f} (±{row['bias_noise'][i]:.3f})", f"{row['variance'][i]:.3g}",
                f"{row['cost_ratio'][i]:.2f}", f"{row['seconds'][i] * 1e3:.3f}", f"{doc['exact']['seconds'][i] * 1e3:.3f}",
            ])
    header = ["estimator", "m", "bias (noise)", "variance", "cost ratio", "ms/step", "exact ms/step"]
    return format_table(header, rows, align="lrrrrrr") + f"\ndevice: {_device_words(doc['device'])}"
