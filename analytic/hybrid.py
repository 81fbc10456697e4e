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
from .solve import DEFAULT_MAX_STEPS, _options as _solver_options, _solve

__all__ = ["HybridOptimum", "hybrid_final_score", "best_switch_time"]


def _final_nu(tau, T, m, C, **options):
    y0 = jnp.zeros((2,), T.dtype)
    ys, _ = _solve(-1, tau, y0, T[None], m, C, **options)
    return ys[-1, 1]


_STATIC = ("solver", "rtol", "atol", "max_steps", "adjoint")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _value_and_grad(tau, T, m, C, **options):
    f = functools.partial(_final_nu, T=T, m=m, C=C, **options)
    if options["adjoint"] == "reverse":
        return jax.value_and_grad(f)(tau)
    return jax.jvp(f, (tau,), (jnp.ones_like(tau),))


def _options(m, C, T, solver, rtol, atol, max_steps, mode):
    m = check_size("m", m)
    C = check_size("C", C)
    if not T > 0:
        raise ValueError(f"T must be positive, got {T}")
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    dtype = float_dtype()
    kw = _solver_options(solver, rtol, atol, max_steps, "nan", mode, dtype)
    return (jnp.asarray(T, dtype), jnp.asarray(m, dtype), jnp.asarray(C, dtype)), kw, m, dtype


def hybrid_final_score(switch_time, *, m, C, T, mode="reverse", solver="dopri8",
                       rtol=None, atol=None, max_steps=DEFAULT_MAX_STEPS):
    """Final focus score ``nu(T)`` of the hybrid run and its derivative in the switch time.

    Arguments:
        switch_time: scalar switch time >= 0.
        m, C: segments and classes (integers >= 2), keyword-only.
        T: final time > 0.
        mode: "reverse" (``jax.grad`` through the diffrax solves, checkpointed adjoint)
            or "forward" (``jax.jvp`` with diffrax's forward mode: same derivative,
            cheaper to compile and run for this one input).
        solver, rtol, atol, max_steps: as in `analytic.solve_flow`.

    Returns:
        ``(nu(T), d nu(T) / d switch_time)``; NaN where a solve failed. The attention is
        ``alpha(T) = attention(nu(T), m=m)``, increasing in ``nu(T)``.

    Raises:
        ValueError: for a bad m, C, T, solver or mode, or a non-scalar switch time.
    """
    (T_, m_, C_), kw, _, dtype = _options(m, C, T, solver, rtol, atol, max_steps, mode)
    tau = jnp.asarray(switch_time, dtype)
    if tau.ndim != 0:
        raise ValueError("switch_time must be a scalar")
    return _value_and_grad(tau, T_, m_, C_, **kw)


class HybridOptimum(NamedTuple):
    """Result of `best_switch_time`."""

    switch_time: float  # the maximiser of alpha(T)
    alpha: float  # alpha(T) there
    gradient: float  # d nu(T) / d switch_time there (about 0 for an interior optimum)
    iterations: int  # derivative evaluations of the secant search after the grid
    grid_switch_times: np.ndarray  # the coarse grid that seeded the search
    grid_alpha: np.ndarray  # alpha(T) on that grid


def best_switch_time(*, m=20, C=20, T=3000.0, grid_size=31, tol=1e-6, max_iter=40,
                     mode="forward", solver="dopri8", rtol=None, atol=None,
                     max_steps=DEFAULT_MAX_STEPS) -> HybridOptimum:
    """The switch time (soft -> hard attention) that maximises the final attention alpha(T).

    A coarse grid of switch times locates the best cell; the derivative
    ``d nu(T)/d tau``, by automatic differentiation through the diffrax solves, then
    brackets the stationary point, and a safeguarded secant (regula falsi, Illinois
    variant) on that derivative refines it until the bracket is narrower than
    ``tol * T`` or the derivative vanishes. A maximiser on the boundary (0 or T) is
    returned as such.

    Arguments:
        m, C: segments and classes (integers >= 2), keyword-only.
        T: the final time.
        grid_size: points of the seeding grid on [0, T] (>= 3).
        tol: relative bracket width at which to stop.
        max_iter: cap on derivative evaluations of the secant search.
        mode: "forward" (default, ``jax.jvp``) or "reverse" (``jax.grad``); both
            differentiate through the solver and agree to rounding.
        solver, rtol, atol, max_steps: as in `analytic.solve_flow`.

    Returns:
        A `HybridOptimum`.

    Raises:
        ValueError: on bad sizes or options.
        RuntimeError: if a solve fails or the optimum cannot be bracketed.
    """
    (T_, m_, C_), kw, m, dtype = _options(m, C, T, solver, rtol, atol, max_steps, mode)
    if grid_size < 3:
        raise ValueError(f"grid_size must be at least 3, got {grid_size}")

    def evaluate(tau):
        value, g = _value_and_grad(jnp.asarray(tau, dtype), T_, m_, C_, **kw)
        return float(value), float(g)

    grid = np.linspace(0.0, float(T), int(grid_size))
    evaluated = [evaluate(tau) for tau in grid]  # one compiled program, ~ms per call
    nus = np.array([v for v, _ in evaluated])
    grads = np.array([g for _, g in evaluated])
    if not np.all(np.isfinite(nus)) or not np.all(np.isfinite(grads)):
        raise RuntimeError("a hybrid solve failed on the seeding grid; raise max_steps")
    best = int(np.argmax(nus))
    last = len(grid) - 1
    iterations = 0
    if best == 0 and grads[0] <= 0.0:  # decreasing from the start: switch at once
        tau, value, g = grid[0], nus[0], grads[0]
    elif best == last and grads[last] >= 0.0:  # still increasing at T: never switch
        tau, value, g = grid[last], nus[last], grads[last]
    else:
        # The maximiser lies where the derivative changes sign next to the best point.
        if grads[best] > 0.0:
            lo, hi = best, min(best + 1, last)
        else:
            lo, hi = max(best - 1, 0), best
        ends = [(grid[i], nus[i], grads[i]) for i in (lo, hi)]
        (lo, _, g_lo), (hi, _, g_hi) = ends
        if not (g_lo >= 0.0 >= g_hi):
            raise RuntimeError(
                f"could not bracket the optimum: derivative {g_lo:.3g} at {lo:.6g} and "
                f"{g_hi:.3g} at {hi:.6g}"
            )
        side = 0
        # Until the search evaluates a point, the answer is a bracket end with its own
        # value and derivative: a stationary end if there is one, else the higher end.
        tau, value, g = max(ends, key=lambda e: (e[2] == 0.0, e[1]))
        while iterations < max_iter and hi - lo > tol * float(T) and g_lo != 0 and g_hi != 0:
            tau = hi - g_hi * (hi - lo) / (g_hi - g_lo)
            if not lo < tau < hi:
                tau = 0.5 * (lo + hi)
            value, g = evaluate(tau)
            iterations += 1
            if g == 0.0:
                break
            if g > 0.0:
                lo, g_lo = tau, g
                if side == -1:
                    g_hi *= 0.5  # Illinois: stop a stale end point from stalling the search
                side = -1
            else:
                hi, g_hi = tau, g
                if side == 1:
                    g_lo *= 0.5
                side = 1
    alpha = float(attention(value, m=m))
    grid_alpha = np.asarray(attention(jnp.asarray(nus), m=m))
    return HybridOptimum(float(tau), alpha, float(g), iterations, grid, grid_alpha)
