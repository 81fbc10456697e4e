"""Closed forms of the simple setting: Wright omega, trajectory invariants, fixed focus.

Time is always the full-parameter gradient-flow time of `analytic.setting`
(``mu' = -(1/(C-1)) dL/dmu``, ``nu' = -(1/C) dL/dnu``); docs/theory.md derives
every formula here.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import spence

from ._common import as_float, check_size, expm1mx, float_dtype, kind_index
from .setting import _focus_loss

__all__ = [
    "wright_omega",
    "focus_potential",
    "margin_potential",
    "invariant",
    "fixed_focus_margin",
    "fixed_focus_time",
    "fixed_focus_incentive",
]


# ----------------------------------------------------------------------------- Wright omega

# Below this the answer is e^x to double precision (the next term is -e^{2x}).
_OMEGA_EXP_BELOW = -40.0


def _omega_iterations(x):
    """Initial guess plus three Fritsch-Shafer-Crowley steps (fourth order each)."""
    x = jnp.where(x < _OMEGA_EXP_BELOW, 0.0, x)  # the exp branch is taken there
    # Initial guesses: exponential tail, Taylor series at x = 1, asymptotic series.
    y = x - 1.0
    taylor = 1.0 + y / 2.0 + y * y / 16.0 - y * y * y / 192.0
    big = jnp.maximum(x, 1.0)
    log_big = jnp.log(big)
    asymptotic = big - log_big + log_big / big
    w = jnp.where(x < -2.0, jnp.exp(x), jnp.where(x < 1.0, taylor, asymptotic))
    for _ in range(3):
        r = x - w - jnp.log(w)
        q = 2.0 * (1.0 + w) * (1.0 + w + 2.0 * r / 3.0)
        w = w * (1.0 + r / (1.0 + w) * (q - r) / (q - 2.0 * r))
    return w


@jax.custom_jvp
def _wright_omega(x):
    return jnp.where(x < _OMEGA_EXP_BELOW, jnp.exp(x), _omega_iterations(x))


@_wright_omega.defjvp
def _wright_omega_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    w = _wright_omega(x)
    return w, dx * w / (1.0 + w)


_wright_omega_jit = jax.jit(_wright_omega)


def wright_omega(x):
    """Wright omega function: the solution w of ``w + log(w) = x`` (so ``w = W(e^x)``).

    Valid for every real x the float type can hold (e.g. -700 to 1e8 and beyond): below
    -40 it returns e^x (exact to double precision there), otherwise it refines a
    piecewise initial guess with three fourth-order Fritsch-Shafer-Crowley steps. The
    derivative ``omega / (1 + omega)`` is supplied exactly through ``jax.custom_jvp``.

    Arguments:
        x: real array, any shape.

    Returns:
        omega(x), same shape and floating dtype.
    """
    return _wright_omega_jit(as_float(x))


# ----------------------------------------------------------------------------- invariants


def _focus_potential(nu, m):
    return nu + jnp.expm1(nu) / (m - 1.0)


def _li2_neg(x):
    """Li2(-x) for 0 <= x <= 1 (spence's best-conditioned range, argument in [1, 2])."""
    return spence(1.0 + x)


# Gauss-Legendre rule for Psi_hard on short intervals (|mu| <= 1), where the closed form
# sums O(mu) terms to an O(mu^2) result. The integrand is entire apart from log
# singularities at distance >= pi from the real axis, so 12 nodes are exact to rounding.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)
_PSI_HARD_QUADRATURE_BELOW = 1.0


def _psi_hard_small(mu, C):
    a = C - 1.0
    mu_s = jnp.clip(mu, -_PSI_HARD_QUADRATURE_BELOW, _PSI_HARD_QUADRATURE_BELOW)
    s = 0.5 * mu_s[..., None] * (jnp.asarray(_GL_NODES, mu.dtype) + 1.0)
    # log(C beta(s)) = -log1p((C-1)(e^{-s} - 1)/C), accurate as s -> 0.
    integrand = (jnp.exp(s) + a) * -jnp.log1p(a * jnp.expm1(-s) / C) / C
    return 0.5 * mu_s * jnp.sum(jnp.asarray(_GL_WEIGHTS, mu.dtype) * integrand, axis=-1)


def _psi_hard(mu, C):
    small = jnp.abs(mu) <= _PSI_HARD_QUADRATURE_BELOW
    return jnp.where(small, _psi_hard_small(mu, C), _psi_hard_closed(mu, C))


def _psi_hard_closed(mu, C):
    a = C - 1.0
    log_a, log_c = jnp.log(a), jnp.log(C)
    log_den = jnp.logaddexp(mu, log_a)  # log(e^mu + C - 1)
    log_c_beta = log_c - jax.nn.softplus(log_a - mu)  # log(C beta)
    li2_tail = _li2_neg(1.0 / a)
    # Small mu (e^mu <= C - 1): the dilogarithm's argument -e^mu/(C-1) lies in [-1, 0).
    mu_lo = jnp.minimum(mu, log_a)
    lo = (
        jnp.exp(mu_lo) * log_c_beta
        + a * (log_c - log_den)
        + a * mu_lo * (log_c - log_a)
        + 0.5 * a * mu_lo * mu_lo
        + a * (_li2_neg(jnp.exp(mu_lo - log_a)) - li2_tail)
    )
    # Large mu: Li2(-x) = -pi^2/6 - log(x)^2/2 - Li2(-1/x) removes the mu^2 terms.
    mu_hi = jnp.maximum(mu, log_a)
    hi = (
        jnp.exp(mu_hi) * log_c_beta
        + a * (log_c - log_den)
        + a * mu_hi * log_c
        - 0.5 * a * log_a * log_a
        - a * math.pi**2 / 6.0
        - a * _li2_neg(jnp.exp(log_a - mu_hi))
        - a * li2_tail
    )
    return jnp.where(mu <= log_a, lo, hi) / C


def _psi(kind: str, mu, C):
    if kind == "soft":
        return (C - 1.0) * mu * mu / (2.0 * C)
    if kind == "hard":
        return _psi_hard(mu, C)
    if kind == "lvml":
        # e^mu + (C-1) e^{-mu} + (C-2) mu - C, written without cancellation near 0.
        return (C - 1.0) / (C * C) * (expm1mx(mu) + (C - 1.0) * expm1mx(-mu))
    kind_index(kind)


_focus_potential_jit = jax.jit(_focus_potential)
_psi_jit = jax.jit(_psi, static_argnums=0)


def focus_potential(nu, *, m):
    """``G(nu) = nu + (e^nu - 1)/(m - 1)``, the focus side of every invariant.

    It satisfies ``dG/dnu = 1 / (1 - alpha)``.

    Arguments:
        nu: focus score(s).
        m: number of segments (integer >= 2), keyword-only.

    Returns:
        G(nu), same shape.

    Raises:
        ValueError: for a bad m.
    """
    m = check_size("m", m)
    nu = as_float(nu)
    return _focus_potential_jit(nu, jnp.asarray(m, nu.dtype))


def margin_potential(kind: str, mu, *, C):
    """``Psi(mu)``, the classifier side of the invariant, with ``Psi(0) = 0``.

    * soft: ``(C-1) mu^2 / (2C)``
    * hard: ``(1/C) int_0^mu (e^s + C - 1) log(C e^s / (e^s + C - 1)) ds``, evaluated in
      closed form with one dilogarithm (``jax.scipy.special.spence``); two algebraically
      equal branches keep the dilogarithm's argument in [-1, 0], so it is accurate for
      any mu. For |mu| <= 1, where the closed form's terms cancel to O(mu^2), a 12-node
      Gauss-Legendre rule on the integral is used instead (exact to rounding there).
    * lvml: ``((C-1)/C^2) [e^mu + (C-1) e^{-mu} + (C-2) mu - C]``

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu: margin(s).
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        Psi(mu), same shape.

    Raises:
        ValueError: for an unknown kind or a bad C.
    """
    kind_index(kind)
    C = check_size("C", C)
    mu = as_float(mu)
    return _psi_jit(kind, mu, jnp.asarray(C, mu.dtype))


@functools.partial(jax.jit, static_argnums=0)
def _invariant(kind, mu, nu, m, C):
    return _focus_potential(nu, m) - _psi(kind, mu, C)


def invariant(kind: str, mu, nu, *, m, C):
    """The conserved quantity ``G(nu) - Psi(mu)`` of the reduced gradient flow.

    It is constant along every trajectory of `analytic.reduced_flow` (and zero on
    the trajectory that starts at the origin).

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu, nu: state(s); broadcast together.
        m, C: segments and classes (integers >= 2), keyword-only.

    Returns:
        The invariant's value, with the broadcast shape.

    Raises:
        ValueError: for an unknown kind or a bad m or C.
    """
    kind_index(kind)
    m = check_size("m", m)
    C = check_size("C", C)
    dtype = float_dtype(mu, nu)
    mu, nu = as_float(mu, dtype), as_float(nu, dtype)
    return _invariant(kind, mu, nu, jnp.asarray(m, dtype), jnp.asarray(C, dtype))


# ----------------------------------------------------------------------------- fixed focus


def _solve_exp_linear(rate_t, C):
    """y >= 0 solving e^y + (C-1) y = 1 + rate_t, via y = log((C-1) omega(x)).

    With a = C - 1 and y = R/a - w the equation becomes w e^w = e^{R/a}/a, so
    w = omega(R/a - log a); and R/a - omega(x) = log a + log omega(x) because
    omega + log omega = x. The log form neither overflows nor cancels.
    """
    a = C - 1.0
    x = (1.0 + rate_t) / a - jnp.log(a)
    y = jnp.log(a) + jnp.log(_wright_omega(x))
    # One Newton step on expm1(y) + a y - rate_t restores full relative accuracy when y
    # is small (a omega = 1 + O(y) only determines y to an absolute eps).
    return y - (jnp.expm1(y) + a * y - rate_t) / (jnp.exp(y) + a)


def _lvml_time(mu, alpha, C):
    """Fixed-focus LVML time to reach margin mu from 0 (monotone in mu)."""
    a = C - 1.0
    k = (1.0 - alpha) / (alpha * C)
    return jnp.expm1(mu) + a * mu + k * (jnp.expm1(mu) + 2.0 * a * mu - a * a * jnp.expm1(-mu))


def _lvml_time_derivative(mu, alpha, C):
    a = C - 1.0
    k = (1.0 - alpha) / (alpha * C)
    s = jnp.exp(mu) + a
    return s + k * s * s * jnp.exp(-mu)


_LVML_ITERATIONS = 64


def _lvml_margin(alpha, t, C):
    """Invert the LVML time by Newton's method safeguarded with bisection."""
    # The hard-attention curve with rate 1 bounds mu from above: the alpha-dependent
    # part of the time is nonnegative and increasing.
    hi0 = jnp.maximum(_solve_exp_linear(jnp.maximum(t, 0.0), C), 0.0) * (1.0 + 1e-9) + 1e-12
    lo0 = jnp.zeros_like(hi0)
    a_sg = jax.lax.stop_gradient(alpha)
    t_sg = jax.lax.stop_gradient(t)

    def body(_, state):
        lo, hi, x = state
        f = _lvml_time(x, a_sg, C) - t_sg
        lo = jnp.where(f <= 0.0, x, lo)
        hi = jnp.where(f > 0.0, x, hi)
        newton = x - f / _lvml_time_derivative(x, a_sg, C)
        inside = (newton > lo) & (newton < hi)
        x = jnp.where(inside, newton, 0.5 * (lo + hi))
        return lo, hi, x

    lo, hi, x = jax.lax.fori_loop(
        0, _LVML_ITERATIONS, body, (lo0, jax.lax.stop_gradient(hi0), jax.lax.stop_gradient(hi0))
    )
    x = jax.lax.stop_gradient(x)
    # One Newton step outside stop_gradient: its value is x (to rounding) and its
    # derivative is the implicit-function derivative dmu = -dF / F'(mu).
    return x - (_lvml_time(x, alpha, C) - t) / _lvml_time_derivative(x, a_sg, C)


@functools.partial(jax.jit, static_argnums=0)
def _fixed_focus_margin(kind, alpha, t, C):
    if kind == "hard":
        return _solve_exp_linear(alpha * t, C)
    if kind == "soft":
        safe = jnp.where(alpha > 0.0, alpha, 1.0)
        y = _solve_exp_linear(safe * safe * t, C)
        return jnp.where(alpha > 0.0, y / safe, 0.0)
    if kind == "lvml":
        safe = jnp.where(alpha > 0.0, alpha, 1.0)
        return jnp.where(alpha > 0.0, _lvml_margin(safe, t, C), 0.0)
    kind_index(kind)


def fixed_focus_margin(kind: str, alpha, ts, *, C):
    """Classifier margin mu(t) when the foreground attention is frozen at ``alpha``.

    Solves the fixed-focus flow ``mu' = -(1/(C-1)) dL/dmu`` with ``mu(0) = 0`` in closed
    form (same time as `analytic.solve_flow`):

    * hard: ``e^mu + (C-1) mu = 1 + alpha t``, i.e. ``mu = log((C-1) omega(x))`` with
      ``x = (1 + alpha t)/(C-1) - log(C-1)`` (Wright omega, no overflow for large t);
    * soft: the same equation for ``alpha mu`` with rate ``alpha^2``;
    * lvml: ``t(mu) = e^mu + (C-1) mu + k (e^mu + 2(C-1) mu - (C-1)^2 e^{-mu})`` minus its
      value at 0, ``k = (1-alpha)/(alpha C)``; inverted by safeguarded Newton (a fixed
      number of ``lax.fori_loop`` iterations), differentiable by the implicit function
      theorem.

    Arguments:
        kind: "soft", "hard" or "lvml".
        alpha: attention(s) in [0, 1]; alpha = 0 gives mu = 0. Broadcast against ``ts``.
        ts: time(s) >= 0.
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        mu at the given times, with the broadcast shape of ``alpha`` and ``ts``.

    Raises:
        ValueError: for an unknown kind or a bad C.
    """
    kind_index(kind)
    C = check_size("C", C)
    dtype = float_dtype(alpha, ts)
    alpha, ts = jnp.broadcast_arrays(as_float(alpha, dtype), as_float(ts, dtype))
    return _fixed_focus_margin(kind, alpha, ts, jnp.asarray(C, dtype))


def fixed_focus_time(kind: str, alpha, mu, *, C):
    """Inverse of `fixed_focus_margin`: the time at which the margin reaches ``mu``.

    Arguments:
        kind: "soft", "hard" or "lvml".
        alpha: attention(s) in (0, 1]; broadcast against ``mu``.
        mu: margin(s) >= 0.
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        t(mu), with the broadcast shape.

    Raises:
        ValueError: for an unknown kind or a bad C.
    """
    kind_index(kind)
    C = check_size("C", C)
    dtype = float_dtype(alpha, mu)
    alpha, mu = as_float(alpha, dtype), as_float(mu, dtype)
    return _fixed_focus_time(kind, alpha, mu, jnp.asarray(C, dtype))


@functools.partial(jax.jit, static_argnums=0)
def _fixed_focus_time(kind, alpha, mu, C):
    a = C - 1.0
    if kind == "hard":
        return (jnp.expm1(mu) + a * mu) / alpha
    if kind == "soft":
        y = alpha * mu
        return (jnp.expm1(y) + a * y) / (alpha * alpha)
    return _lvml_time(mu, alpha, C)


def fixed_focus_incentive(kind: str, alpha, mu, *, C):
    """The focus model's incentive ``-dL/dalpha`` with the classifier margin held at ``mu``.

    Closed forms (derived from the reduced losses, here by ``jax.grad``):
    soft ``(C-1) mu / (e^{alpha mu} + C - 1)``; hard ``log(C beta)``;
    lvml ``(beta - 1/C) / (alpha beta + (1-alpha)/C)``.

    Arguments:
        kind: "soft", "hard" or "lvml".
        alpha: attention(s) in [0, 1]; broadcast against ``mu``.
        mu: margin(s).
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        -dL/dalpha, with the broadcast shape.

    Raises:
        ValueError: for an unknown kind or a bad C.
    """
    kind_index(kind)
    C = check_size("C", C)
    dtype = float_dtype(alpha, mu)
    alpha, mu = jnp.broadcast_arrays(as_float(alpha, dtype), as_float(mu, dtype))
    return _incentive(kind, alpha, mu, jnp.asarray(C, dtype))


@functools.partial(jax.jit, static_argnums=0)
def _incentive(kind, alpha, mu, C):
    # The loss is elementwise, so the gradient of its sum is the elementwise derivative.
    total = lambda a: jnp.sum(_focus_loss(kind, a, mu, C))
    return -jax.grad(total)(alpha)
