"""Accurate solutions of the reduced gradient flow with diffrax.

One compiled solver serves every loss and every (m, C): the loss is picked inside the
vector field by ``lax.switch`` on a traced index, and m, C travel as traced floats.
The hybrid schedule (soft attention until ``switch_time``, then hard attention) is two
chained solves, so the result is differentiable with respect to ``switch_time``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ._common import as_float, check_size, float_dtype, is_concrete, kind_index
from .setting import _flow_switch

__all__ = ["FlowStats", "SolverFailure", "solve_flow", "solve_fixed_focus", "SOLVERS"]

#: Solvers by name, with the number of *new* vector-field evaluations per attempted step
#: (both are first-same-as-last methods: Tsit5 has 7 stages, Dopri8 14).
SOLVERS = {"tsit5": (diffrax.Tsit5, 6), "dopri8": (diffrax.Dopri8, 13)}

# Evaluations outside the steps: one for the first stage of the first step (the
# first-same-as-last value) and two in diffrax's initial step-size selection. A counting
# callback in the vector field sees the stage evaluations and the first one; the tests
# check that part exactly.
_INITIAL_EVALUATIONS = 3

#: Default tolerances in float64; float32 solves default to (1e-6, 1e-8).
DEFAULT_RTOL = 1e-12
DEFAULT_ATOL = 1e-14
_FLOAT32_TOLERANCES = (1e-6, 1e-8)
DEFAULT_MAX_STEPS = 8192


class SolverFailure(RuntimeError):
    """diffrax did not finish a solve (maximum steps reached, step size underflow, ...)."""


class FlowStats(NamedTuple):
    """Work done by one `solve_flow` call (arrays, batched like the initial state).

    Attributes:
        num_steps: attempted steps (accepted plus rejected), over all chained solves.
        num_accepted_steps: accepted steps.
        num_rejected_steps: rejected steps.
        num_fev: vector-field evaluations: ``new-stages-per-step * num_steps + 3`` per
            solve (the 3: the first stage of the first step, and two evaluations in the
            initial step-size selection).
        success: True where every chained solve finished.
    """

    num_steps: jax.Array
    num_accepted_steps: jax.Array
    num_rejected_steps: jax.Array
    num_fev: jax.Array
    success: jax.Array


def _vector_field(t, y, args):
    kind_idx, m, C, focus_rate = args
    dmu, dnu = _flow_switch(kind_idx, y[0], y[1], m, C)
    # focus_rate = 0 freezes the focus (fixed-focus runs); `where` keeps a non-finite
    # focus velocity from leaking in through 0 * inf.
    return jnp.stack([dmu, jnp.where(focus_rate == 0.0, 0.0, focus_rate * dnu)])


_ADJOINTS = {
    # jax.grad / jax.vjp. One checkpoint per allowed step: the state is tiny, and this
    # compiles markedly faster than diffrax's default (binomial) checkpointing.
    "reverse": lambda max_steps: diffrax.RecursiveCheckpointAdjoint(checkpoints=max_steps),
    # jax.jvp / jax.jacfwd: cheaper to compile and run for a few inputs.
    "forward": lambda max_steps: diffrax.ForwardMode(),
}


def _segment(kind_idx, y0, t0, t1, ts, m, C, focus_rate, *, solver, rtol, atol, max_steps,
             adjoint):
    """One diffrax solve from (t0, y0) to t1, saving at ts (which must lie in [t0, t1])."""
    solver_cls, per_step = SOLVERS[solver]
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field),
        solver_cls(),
        t0,
        t1,
        None,
        y0,
        args=(kind_idx, m, C, focus_rate),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
        adjoint=_ADJOINTS[adjoint](max_steps),
    )
    ok = sol.result == diffrax.RESULTS.successful
    steps = sol.stats["num_steps"]
    stats = FlowStats(
        num_steps=steps,
        num_accepted_steps=sol.stats["num_accepted_steps"],
        num_rejected_steps=sol.stats["num_rejected_steps"],
        num_fev=per_step * steps + _INITIAL_EVALUATIONS,
        success=ok,
    )
    assert sol.ys is not None  # saveat=SaveAt(ts=ts) always saves
    ys = jnp.where(ok, sol.ys, jnp.nan)  # flag failures visibly under jit/vmap/grad
    return ys, stats


_STATIC = ("solver", "rtol", "atol", "max_steps", "adjoint")

# One compiled program per (options, shapes); the loss, m, C, times and the initial
# state are all traced, so every kind and size reuses it.
_segment_single = jax.jit(_segment, static_argnames=_STATIC)


def _segment_batch(kind_idx, y0, t0, t1, ts, m, C, focus_rate, **options):
    # vmap of the jitted single solve: this is also what a user's jax.vmap over
    # solve_flow produces, so the two share one compiled batched program.
    one = functools.partial(_segment_single, **options)
    return jax.vmap(one, in_axes=(None, 0, None, None, None, None, None, None))(
        kind_idx, y0, t0, t1, ts, m, C, focus_rate
    )


def _combine(a: FlowStats, b: FlowStats) -> FlowStats:
    return FlowStats(
        a.num_steps + b.num_steps,
        a.num_accepted_steps + b.num_accepted_steps,
        a.num_rejected_steps + b.num_rejected_steps,
        a.num_fev + b.num_fev,
        a.success & b.success,
    )


def _solve(kind_idx, switch_time, y0, ts, m, C, focus_rate=1.0, **options):
    """Solve from time 0; y0 is [2] or [B, 2]; ts is 1-D and sorted. kind_idx -1 = hybrid.

    Every segment saves at ``len(ts) + 1`` times (the requested ones, clipped to the
    segment, plus its end point), so plain and hybrid solves share one compiled program.
    """
    segment = _segment_single if y0.ndim == 1 else _segment_batch
    n = ts.shape[0]
    ts = _pad_times(ts)
    ys, stats = _solve_padded(segment, kind_idx, switch_time, y0, ts, m, C, focus_rate,
                              **options)
    return ys[..., :n, :], stats


def _pad_times(ts):
    """Repeat the last time up to a bucket size (16, 64, 256, ...; counting the end point
    each segment appends) so that different lengths share compiled programs."""
    size = 16
    while size < ts.shape[0] + 1:
        size *= 4
    return jnp.concatenate([ts, jnp.broadcast_to(ts[-1], (size - 1 - ts.shape[0],))])


def _solve_padded(segment, kind_idx, switch_time, y0, ts, m, C, focus_rate, **options):
    dtype = ts.dtype
    m, C = jnp.asarray(m, dtype), jnp.asarray(C, dtype)
    rate = jnp.asarray(focus_rate, dtype)
    zero = jnp.zeros((), dtype)
    t_end = ts[-1]
    if kind_idx >= 0:
        ts_all = jnp.concatenate([ts, t_end[None]])
        ys, stats = segment(jnp.int32(kind_idx), y0, zero, t_end, ts_all, m, C, rate, **options)
        return ys[..., :-1, :], stats
    tau = jnp.asarray(switch_time, dtype)
    # Soft attention on [0, tau]; the end point hands the state over.
    ts_soft = jnp.concatenate([jnp.clip(ts, 0.0, tau), tau[None]])
    ys_soft, st_soft = segment(jnp.int32(0), y0, zero, tau, ts_soft, m, C, rate, **options)
    # Hard attention from tau on (a zero-length solve when tau is past the last time).
    t1 = jnp.maximum(t_end, tau)
    ts_hard = jnp.concatenate([jnp.clip(ts, tau, t1), t1[None]])
    ys_hard, st_hard = segment(
        jnp.int32(1), ys_soft[..., -1, :], tau, t1, ts_hard, m, C, rate, **options
    )
    ys = jnp.where((ts <= tau)[:, None], ys_soft[..., :-1, :], ys_hard[..., :-1, :])
    return ys, _combine(st_soft, st_hard)


def _check_ts(ts):
    if ts.ndim != 1 or ts.shape[0] == 0:
        raise ValueError(f"ts must be a non-empty 1-D array of times, got shape {ts.shape}")
    if is_concrete(ts):
        host = np.asarray(ts)
        if not np.all(np.isfinite(host)) or host[0] < 0 or np.any(np.diff(host) < 0):
            raise ValueError("ts must be finite, non-negative and non-decreasing")


def solve_flow(
    kind: str,
    ts,
    *,
    m,
    C,
    mu0=0.0,
    nu0=0.0,
    switch_time=None,
    solver: str = "dopri8",
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    return_stats: bool = False,
    on_failure: str = "raise",
    adjoint: str = "reverse",
) -> tuple[Any, ...]:
    """Integrate the reduced gradient flow from time 0 and report (mu, nu) at ``ts``.

    The vector field is `analytic.reduced_flow` (full-parameter time). Adaptive
    Runge-Kutta (``Dopri8`` by default, or ``Tsit5``) with a PID step-size controller;
    the defaults keep the invariant's relative drift near 1e-10 out to t = 4e5 at
    m = 100, C = 1000.

    Arguments:
        kind: "soft", "hard", "lvml", or "hybrid" (soft attention until ``switch_time``,
            then hard attention).
        ts: 1-D non-decreasing times >= 0 at which to report the state; the solve runs
            from 0 to ``ts[-1]``.
        m, C: segments and classes (integers >= 2), keyword-only.
        mu0, nu0: initial state at t = 0, scalars or arrays (broadcast together); arrays
            give a batch of trajectories, solved with ``jax.vmap``.
        switch_time: the hybrid's switch time (required for, and only for, "hybrid").
            The result is differentiable with respect to it.
        solver: "dopri8" or "tsit5".
        rtol, atol: tolerances of the PID controller (default 1e-12 and 1e-14 in
            float64, 1e-6 and 1e-8 in float32).
        max_steps: step budget of each solve.
        return_stats: also return a `FlowStats` (steps and function evaluations).
        on_failure: "raise" to raise `SolverFailure` when a solve fails (only
            possible outside jit/vmap/grad), or "nan": failed trajectories are NaN (always
            the case under tracing).
        adjoint: how autodiff goes through the solver: "reverse" (default; diffrax's
            ``RecursiveCheckpointAdjoint``, for ``jax.grad``) or "forward" (diffrax's
            ``ForwardMode``, for ``jax.jvp`` / ``jax.jacfwd``; compiles and runs faster
            when differentiating with respect to a few inputs such as ``switch_time``).

    Returns:
        ``(mu, nu)`` with shape ``batch_shape + ts.shape``, plus ``stats`` if requested.

    Raises:
        ValueError: for an unknown kind/solver, bad m or C, bad ts, a missing or spurious
            switch_time, or bad options.
        SolverFailure: a solve did not finish and ``on_failure == "raise"``.
    """
    idx = kind_index(kind, allow_hybrid=True)
    hybrid = idx < 0
    m = check_size("m", m)
    C = check_size("C", C)
    if hybrid and switch_time is None:
        raise ValueError("kind='hybrid' needs switch_time")
    if not hybrid and switch_time is not None:
        raise ValueError(f"switch_time only applies to kind='hybrid', not {kind!r}")

    dtype = float_dtype(ts, mu0, nu0, *(() if switch_time is None else (switch_time,)))
    kw = _options(solver, rtol, atol, max_steps, on_failure, adjoint, dtype)
    ts = as_float(ts, dtype)
    _check_ts(ts)
    tau = as_float(0.0 if switch_time is None else switch_time, dtype)
    if tau.ndim != 0:
        raise ValueError("switch_time must be a scalar")
    if is_concrete(tau) and not float(tau) >= 0.0:
        raise ValueError(f"switch_time must be >= 0, got {float(tau)}")
    mu0, nu0 = jnp.broadcast_arrays(as_float(mu0, dtype), as_float(nu0, dtype))
    batch_shape = mu0.shape
    y0 = jnp.stack([mu0.reshape(-1), nu0.reshape(-1)], axis=-1)

    ys, stats = _solve(idx, tau, y0[0] if batch_shape == () else y0, ts, m, C, **kw)
    if batch_shape != ():
        ys = ys.reshape(batch_shape + ys.shape[1:])
        stats = FlowStats(*(s.reshape(batch_shape) for s in stats))

    if on_failure == "raise":
        _raise_if_failed(stats, f"kind={kind!r}, m={m}, C={C}", ts, max_steps)
    mu, nu = ys[..., 0], ys[..., 1]
    return (mu, nu, stats) if return_stats else (mu, nu)


def solve_fixed_focus(
    kind: str,
    alpha,
    ts,
    *,
    C,
    mu0=0.0,
    solver: str = "dopri8",
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    return_stats: bool = False,
    on_failure: str = "raise",
    adjoint: str = "reverse",
):
    """Numerical fixed-focus margin: ``mu' = -(1/(C-1)) dL/dmu`` with alpha held fixed.

    The reference for `analytic.fixed_focus_margin`. It reuses the compiled solver
    of `solve_flow` with the focus velocity switched off and m = 2, so that the
    focus score ``nu = logit(alpha)`` gives attention alpha.

    Arguments:
        kind: "soft", "hard" or "lvml".
        alpha: attention(s) in (0, 1]; an array gives a batch of solves.
        ts: 1-D non-decreasing times >= 0 (the solve starts at 0).
        C: number of classes (integer >= 2), keyword-only.
        mu0: initial margin.
        solver, rtol, atol, max_steps, return_stats, on_failure, adjoint: as in
            `solve_flow`.

    Returns:
        ``mu`` at ``ts`` (shape ``alpha.shape + ts.shape``), plus stats if requested.

    Raises:
        ValueError: for an unknown kind, a bad C, bad ts or options.
        SolverFailure: a solve did not finish and ``on_failure == "raise"``.
    """
    idx = kind_index(kind)
    C = check_size("C", C)
    dtype = float_dtype(ts, alpha, mu0)
    kw = _options(solver, rtol, atol, max_steps, on_failure, adjoint, dtype)
    ts = as_float(ts, dtype)
    _check_ts(ts)
    alpha, mu0 = jnp.broadcast_arrays(as_float(alpha, dtype), as_float(mu0, dtype))
    batch_shape = alpha.shape
    # logit(alpha), capped so that alpha = 1 maps to a finite score with sigmoid = 1.
    nu = jnp.clip(jnp.log(alpha) - jnp.log1p(-alpha), -700.0, 700.0)
    y0 = jnp.stack([mu0.reshape(-1), nu.reshape(-1)], axis=-1)
    ys, stats = _solve(idx, None, y0[0] if batch_shape == () else y0, ts, 2, C,
                       focus_rate=0.0, **kw)
    if batch_shape != ():
        ys = ys.reshape(batch_shape + ys.shape[1:])
        stats = FlowStats(*(s.reshape(batch_shape) for s in stats))
    if on_failure == "raise":
        _raise_if_failed(stats, f"fixed focus, kind={kind!r}, C={C}", ts, max_steps)
    return (ys[..., 0], stats) if return_stats else ys[..., 0]


def _options(solver, rtol, atol, max_steps, on_failure, adjoint, dtype):
    if rtol is None or atol is None:
        wide = jnp.finfo(dtype).bits >= 64
        rtol = (DEFAULT_RTOL if wide else _FLOAT32_TOLERANCES[0]) if rtol is None else rtol
        atol = (DEFAULT_ATOL if wide else _FLOAT32_TOLERANCES[1]) if atol is None else atol
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    if on_failure not in ("raise", "nan"):
        raise ValueError(f"on_failure must be 'raise' or 'nan', got {on_failure!r}")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive, got {rtol} and {atol}")
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps}")
    if adjoint not in _ADJOINTS:
        raise ValueError(f"adjoint must be 'reverse' or 'forward', got {adjoint!r}")
    return dict(solver=solver, rtol=float(rtol), atol=float(atol), max_steps=int(max_steps),
                adjoint=adjoint)


def _raise_if_failed(stats: FlowStats, what: str, ts, max_steps):
    if not is_concrete(stats.success):
        return  # under jit/vmap/grad the failed trajectories are NaN instead
    success = np.asarray(stats.success)
    if not success.all():
        bad = int(success.size - success.sum())
        raise SolverFailure(
            f"{bad} of {success.size} diffrax solve(s) failed ({what}, up to "
            f"t={float(np.asarray(ts)[-1])}, max_steps={max_steps}); raise max_steps or "
            "loosen rtol/atol, or pass on_failure='nan'"
        )
