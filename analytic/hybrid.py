"""The hybrid schedule: soft attention until a switch time, then hard attention.

The final foreground attention ``alpha(T)`` depends smoothly on the switch time ``tau``;
its derivative comes from ``jax.grad`` through the two chained diffrax solves. Since
``alpha = sigmoid(nu - log(m-1))`` is increasing in ``nu``, maximising ``alpha(T)`` is
maximising ``nu(T)``, which is the better-scaled objective near alpha = 1.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._common import check_size, float_dtype
from .setting import attention
from .solve import DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, SOLVERS, _solve_one

__all__ = ["HybridOptimum", "hybrid_final_score", "best_switch_time"]


def _final_nu(tau, T, m, C, *, solver, rtol, atol, max_steps):
    y0 = jnp.zeros((2,), T.dtype)
    ys, stats = _solve_one(
        jnp.int32(0), tau, y0, T[None], m, C,
        hybrid=True, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
    )
    return ys[-1, 1]


_STATIC = ("solver", "rtol", "atol", "max_steps")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _value_and_grad(tau, T, m, C, **kw):
    return jax.value_and_grad(_final_nu)(tau, T, m, C, **kw)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _values(taus, T, m, C, **kw):
    return jax.vmap(lambda tau: _final_nu(tau, T, m, C, **kw))(taus)


def _options(m, C, T, solver, rtol, atol, max_steps):
    m = check_size("m", m)
    C = check_size("C", C)
    if not T > 0:
        raise ValueError(f"T must be positive, got {T}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    dtype = float_dtype()
    kw = dict(solver=solver, rtol=float(rtol), atol=float(atol), max_steps=int(max_steps))
    return (jnp.asarray(T, dtype), jnp.asarray(m, dtype), jnp.asarray(C, dtype)), kw, m, dtype


def hybrid_final_score(switch_time, *, m, C, T, solver="dopri8", rtol=DEFAULT_RTOL,
                       atol=DEFAULT_ATOL, max_steps=DEFAULT_MAX_STEPS, with_grad=False):
    """Final focus score ``nu(T)`` of the hybrid run, for one or many switch times.

    Arguments:
        switch_time: scalar or 1-D array of switch times in [0, T] (arrays are vmapped).
        m, C: segments and classes (integers >= 2), keyword-only.
        T: final time > 0.
        solver, rtol, atol, max_steps: as in :func:`analytic.solve_flow`.
        with_grad: also return ``d nu(T) / d switch_time`` (scalar switch_time only).

    Returns:
        ``nu(T)`` (NaN where a solve failed), or ``(nu(T), gradient)`` with ``with_grad``.

    Raises:
        ValueError: for a bad m, C, T or solver, or ``with_grad`` with an array.
    """
    (T_, m_, C_), kw, _, dtype = _options(m, C, T, solver, rtol, atol, max_steps)
    tau = jnp.asarray(switch_time, dtype)
    if with_grad:
        if tau.ndim != 0:
            raise ValueError("with_grad needs a scalar switch_time")
        return _value_and_grad(tau, T_, m_, C_, **kw)
    if tau.ndim == 0:
        return _values(tau[None], T_, m_, C_, **kw)[0]
    return _values(tau.reshape(-1), T_, m_, C_, **kw).reshape(tau.shape)


class HybridOptimum(NamedTuple):
    """Result of :func:`best_switch_time`."""

    switch_time: float  # the maximiser of alpha(T)
    alpha: float  # alpha(T) there
    gradient: float  # d nu(T) / d switch_time there (about 0 for an interior optimum)
    iterations: int  # gradient evaluations of the bracketing secant search
    grid_switch_times: np.ndarray  # the coarse grid that seeded the search
    grid_alpha: np.ndarray  # alpha(T) on that grid


def best_switch_time(*, m=20, C=20, T=3000.0, grid_size=31, tol=1e-6, max_iter=40,
                     solver="dopri8", rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL,
                     max_steps=DEFAULT_MAX_STEPS) -> HybridOptimum:
    """The switch time (soft -> hard attention) that maximises the final attention alpha(T).

    A coarse grid of switch times (one vmapped solve) locates the best cell; the
    derivative ``d nu(T)/d tau`` from ``jax.grad`` through the diffrax solves then
    brackets the stationary point, and a safeguarded secant (regula falsi, Illinois
    variant) on that derivative refines it until the bracket is narrower than
    ``tol * T`` or the derivative vanishes to rounding. A maximiser on the boundary
    (0 or T) is returned as such.

    Arguments:
        m, C: segments and classes (integers >= 2), keyword-only.
        T: the final time.
        grid_size: points of the seeding grid on [0, T] (>= 3).
        tol: relative bracket width at which to stop.
        max_iter: cap on gradient evaluations.
        solver, rtol, atol, max_steps: as in :func:`analytic.solve_flow`.

    Returns:
        A :class:`HybridOptimum`.

    Raises:
        ValueError: on bad sizes or options.
    """
    (T_, m_, C_), kw, m, dtype = _options(m, C, T, solver, rtol, atol, max_steps)
    if grid_size < 3:
        raise ValueError(f"grid_size must be at least 3, got {grid_size}")
    grid = np.linspace(0.0, float(T), int(grid_size))
    nus = np.asarray(_values(jnp.asarray(grid, dtype), T_, m_, C_, **kw))
    if not np.all(np.isfinite(nus)):
        raise RuntimeError("a hybrid solve failed on the seeding grid; raise max_steps")
    best = int(np.argmax(nus))

    def grad_at(tau):
        value, g = _value_and_grad(jnp.asarray(tau, dtype), T_, m_, C_, **kw)
        return float(value), float(g)

    lo = grid[max(best - 1, 0)]
    hi = grid[min(best + 1, len(grid) - 1)]
    _, g_lo = grad_at(lo)
    _, g_hi = grad_at(hi)
    iterations = 2
    if g_lo <= 0.0 and best == 0:  # decreasing from the start: switch at once
        tau, g = lo, g_lo
    elif g_hi >= 0.0 and best == len(grid) - 1:  # still increasing at T: never switch
        tau, g = hi, g_hi
    else:
        if not (g_lo > 0.0 > g_hi):
            raise RuntimeError(
                f"could not bracket the optimum: derivative {g_lo:.3g} at {lo:.6g} and "
                f"{g_hi:.3g} at {hi:.6g}"
            )
        side = 0
        tau, g = lo, g_lo
        while iterations < max_iter and hi - lo > tol * float(T):
            tau = hi - g_hi * (hi - lo) / (g_hi - g_lo)
            if not lo < tau < hi:
                tau = 0.5 * (lo + hi)
            _, g = grad_at(tau)
            iterations += 1
            if g == 0.0:
                break
            if g > 0.0:
                lo, g_lo = tau, g
                if side == -1:
                    g_hi *= 0.5  # Illinois: keep the stale end from stalling the search
                side = -1
            else:
                hi, g_hi = tau, g
                if side == 1:
                    g_lo *= 0.5
                side = 1
    value, g = grad_at(tau)
    alpha = float(attention(value, m=m))
    grid_alpha = np.asarray(attention(jnp.asarray(nus), m=m))
    return HybridOptimum(float(tau), alpha, g, iterations, grid, grid_alpha)
