"""Shared helpers for the analytic package: argument checks, dtypes, stable primitives."""

from __future__ import annotations

import numbers
from typing import SupportsInt, cast

import jax
import jax.core
import jax.numpy as jnp

from attnjax.losses import LOSSES

#: The three losses of the simple setting (attnjax's exact losses), in the order used by ``lax.switch``.
KINDS: tuple[str, ...] = tuple(LOSSES)


def kind_index(kind: str, *, allow_hybrid: bool = False) -> int:
    """Position of ``kind`` in `KINDS`.

    Arguments:
        kind: "soft", "hard" or "lvml" (or "hybrid" when ``allow_hybrid``).
        allow_hybrid: accept "hybrid" and return -1 for it.

    Returns:
        The index, or -1 for "hybrid".

    Raises:
        ValueError: for any other name.
    """
    if allow_hybrid and kind == "hybrid":
        return -1
    if not isinstance(kind, str) or kind not in KINDS:
        allowed = KINDS + (("hybrid",) if allow_hybrid else ())
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(allowed)}")
    return KINDS.index(kind)


def check_size(name: str, value, *, minimum: int = 2) -> int:
    """Validate a count such as m (segments) or C (classes).

    Arguments:
        name: the name used in the error message.
        value: a Python or NumPy integer (an integral float is accepted).
        minimum: the smallest allowed value.

    Returns:
        The value as ``int``.

    Raises:
        ValueError: if it is not an integer or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        if not float(value).is_integer():
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        out = int(cast(SupportsInt, value))  # numbers.Real declares no __int__; float and NumPy floats have one
    if out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return out


def float_dtype(*xs):
    """The floating dtype to compute in: float64 under ``jax_enable_x64`` for Python scalars,
    otherwise the promotion of the inputs with the default float type. Lists and tuples
    of numbers count as arrays."""
    xs = [jnp.asarray(x) if isinstance(x, (list, tuple)) else x for x in xs]
    return jnp.result_type(*xs, float)


def as_float(x, dtype=None):
    """``jnp.asarray`` in a floating dtype (Python numbers follow the default float)."""
    x = jnp.asarray(x)
    return x.astype(float_dtype(x) if dtype is None else dtype)


def is_concrete(*xs) -> bool:
    """True when no argument is a tracer (so Python-level checks and raising are possible)."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


@jax.custom_jvp
def sigmoid(z):
    """Logistic function whose derivative is computed as sigma(z) * sigma(-z).

    ``jax.nn.sigmoid``'s derivative is sigma(z) (1 - sigma(z)); once sigma(z) rounds to 1
    that loses all relative accuracy in the factor 1 - alpha, which the focus dynamics
    need (the score nu keeps growing while alpha saturates).
    """
    return jax.nn.sigmoid(z)


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    s = jax.nn.sigmoid(z)
    return s, dz * s * jax.nn.sigmoid(-z)


def expm1mx(x):
    """e^x - 1 - x without cancellation for small |x| (series below 1/2 in magnitude)."""
    x = jnp.asarray(x)
    small = jnp.abs(x) < 0.5
    xs = jnp.where(small, x, 0.0)
    # x^2/2 (1 + x/3 (1 + x/4 (1 + ...))) up to x^20/20!: the tail is below 1e-21 relative.
    acc = jnp.ones_like(xs)
    for k in range(20, 2, -1):
        acc = 1.0 + xs / k * acc
    series = 0.5 * xs * xs * acc
    return jnp.where(small, series, jnp.expm1(x) - x)
