#!/usr/bin/env python
"""Soft attention's pooling, two ways, side by side: a batched dot against a product and a sum.

``sum_j alpha_j x_j`` over m = 5 segments of 784 pixels, for S = 16 seeds of a batch of 256,
then a linear classifier; the gradient with respect to the weights and the attention, under
``jit(vmap(grad))``. attnjax writes it as ``einsum("bm,bm...->b...")`` (XLA: tiny batched dot
products); the alternative is ``sum(alpha[..., None] * x, axis=1)`` (one fused loop). Rounds
alternate; the ratio of medians is what counts. Also printed: how far the two gradients are apart.

    python benchmarks/pooling.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model  # noqa: E402


def main() -> None:
    import jax
    import jax.numpy as jnp

    S, B, m, d, K = 16, 256, 5, 784, 3
    key = jax.random.key(0)
    alpha = jax.nn.softmax(jax.random.normal(key, (S, B, m)), -1)
    x = jax.random.normal(jax.random.fold_in(key, 1), (S, B, m, d))
    w = jax.random.normal(jax.random.fold_in(key, 2), (S, d, K)) * 0.01
    ways = {"einsum (attnjax)": lambda w, a, x: jnp.sum(jnp.einsum("bm,bm...->b...", a, x) @ w),
            "product and sum": lambda w, a, x: jnp.sum(jnp.sum(a[..., None] * x, axis=1) @ w)}
    fns = {n: jax.jit(jax.vmap(jax.grad(f, argnums=(0, 1)))) for n, f in ways.items()}
    grads = {n: jax.block_until_ready(f(w, alpha, x)) for n, f in fns.items()}
    (a_w, a_alpha), (b_w, b_alpha) = grads.values()
    times = {n: [] for n in fns}
    for r in range(5):
        for n in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            start = time.perf_counter()
            for _ in range(20):
                jax.block_until_ready(fns[n](w, alpha, x))
            times[n].append((time.perf_counter() - start) / 20)
    base = np.median(times["einsum (attnjax)"])
    print(f"{cpu_model()}, jax {jax.__version__}")
    for n, t in times.items():
        print(f"  {n:18s} {1e3 * np.median(t):7.2f} ms  ({np.median(t) / base:.2f}x einsum's time)")
    print(f"  gradients apart: weights {float(jnp.max(jnp.abs(a_w - b_w))):.1e}, "
          f"attention {float(jnp.max(jnp.abs(a_alpha - b_alpha))):.1e}")


if __name__ == "__main__":
    main()
