"""jax-ml/jax#39103: XLA:CPU's YNNPACK fusion in jaxlib 0.10.2 computes "vmap a matrix-vector
product, then reduce" wrong under jit. attnjax excludes that release (pyproject.toml), and the
command applies XLA's workaround flag should a source checkout run on it anyway.

Both patterns are computed under ``jit`` and compared with NumPy in float64: the issue's own
reproducer, and the shape of attnjax's evaluation (per-seed weights vmapped over seeds, a
matrix product per segment, softmax-weighted pooling, a reduction over tens of thousands of
segment rows). The wrong release is off by 0.8% on the first (266342400 for 268435456), far
outside the float64 rounding these sums can carry (relative 1e-12 here).
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np



def test_the_reported_pattern_against_numpy():
    with jax.enable_x64(True):
        i = jnp.arange(16_385.0)
        x = jnp.stack((i, 0 * i, 0 * i), 1)
        m = jnp.eye(3)
        got = jax.jit(lambda x: jax.vmap(lambda r: jnp.sum((m @ r) ** 2))(x))(x)
    want = np.arange(16_385.0) ** 2  # (m @ r) = r, whose squares sum to i**2
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=0)


def test_a_seed_vmapped_evaluation_shape_against_numpy():
    """S seeds' weights, N mosaics of m segments of d features: pooled scores, reduced over rows."""
    seeds, n, m, d, k = 4, 8192, 5, 3, 3  # 40,960 segment rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, m, d))
    w = rng.normal(size=(seeds, d, k))
    v = rng.normal(size=(seeds, d))

    def one(w, v, x):
        scores = jax.nn.softmax(x @ v, axis=-1)                    # [n, m] attention
        logits = jnp.einsum("nm,nmk->nk", scores, x @ w)          # pooled class scores
        return jnp.sum(logits ** 2), jnp.sum(jax.vmap(lambda r: jnp.sum((w.T @ r) ** 2))(x.reshape(-1, d)))

    with jax.enable_x64(True):
        got = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(jnp.asarray(w), jnp.asarray(v), jnp.asarray(x))
    for s in range(seeds):
        e = np.exp(x @ v[s] - (x @ v[s]).max(-1, keepdims=True))
        scores = e / e.sum(-1, keepdims=True)
        pooled = np.einsum("nm,nmk->nk", scores, x @ w[s])
        np.testing.assert_allclose(float(got[0][s]), np.sum(pooled ** 2), rtol=1e-10)
        np.testing.assert_allclose(float(got[1][s]), np.sum((x.reshape(-1, d) @ w[s]) ** 2), rtol=1e-10)


def test_the_command_applies_the_workaround_on_the_wrong_release_only():
    """In a fresh interpreter (the flag must be set before JAX starts): 0.10.2 gets it, 0.10.1 does not,
    and a flag the user already set is left alone."""
    code = ("import os, sys; from attnjax import cli\n"
            "print(cli.guard_known_wrong_release(sys.argv[1]), repr(os.environ.get('XLA_FLAGS')))")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}

    def guard(version, **extra):
        out = subprocess.run([sys.executable, "-c", code, version], capture_output=True, text=True,
                             env={**env, **extra}, timeout=60)
        return out.stdout.strip()

    assert guard("0.10.2") == "True '--xla_cpu_experimental_ynn_fusion_type='"
    assert guard("0.10.1") == "False None"
    assert guard("0.10.2", XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=x") == (
        "False '--xla_cpu_experimental_ynn_fusion_type=x'")
    assert guard("0.10.2", XLA_FLAGS="--xla_force_host_platform_device_count=2") == (
        "True '--xla_force_host_platform_device_count=2 --xla_cpu_experimental_ynn_fusion_type='")
