"""The simple setting reduced to two numbers: losses and gradient flows in (mu, nu).

On the symmetric manifold of paper-notes section 3 the whole model is described by

* ``mu``: the foreground's correct-class logit margin ``W[y, y] - W[k, y]`` (k != y);
* ``nu``: the foreground's focus score ``u_y`` (background segments score 0).

With ``alpha = e^nu / (e^nu + m - 1)`` (attention on the foreground) and
``beta = e^mu / (e^mu + C - 1)`` (the classifier's probability of the true class on the
foreground) the population losses are

* soft:  ``log(1 + (C-1) e^{-alpha mu})``
* hard:  ``alpha log(1 + (C-1) e^{-mu}) + (1 - alpha) log C``
* lvml:  ``-log(alpha beta + (1 - alpha) / C)``

Gradient flow on the full parameters of the *mean* loss moves (mu, nu) as
``mu' = -(1/(C-1)) dL/dmu`` and ``nu' = -(1/C) dL/dnu`` (see docs/theory.md).

Every function here works elementwise on broadcastable arrays, in float64 when
``jax_enable_x64`` is on, and can be jitted and vmapped (``kind``, ``m`` and ``C`` are
Python values checked eagerly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._common import KINDS, as_float, check_size, float_dtype, kind_index, sigmoid

__all__ = [
    "attention",
    "margin_probability",
    "reduced_loss",
    "reduced_flow",
    "authors_flow",
    "focus_loss",
]


# ----------------------------------------------------------------------------- internals
# The underscored functions take m and C as (possibly traced) floats so one compiled
# solver serves every (m, C); the public wrappers validate and convert.


def _log_sizes(m, C):
    return jnp.log(m - 1.0), jnp.log(C - 1.0), jnp.log(C)


def _loss_soft(mu, nu, m, C):
    log_m1, log_c1, _ = _log_sizes(m, C)
    alpha = sigmoid(nu - log_m1)
    return jax.nn.softplus(log_c1 - alpha * mu)


def _loss_hard(mu, nu, m, C):
    log_m1, log_c1, log_c = _log_sizes(m, C)
    z = nu - log_m1
    # alpha and 1 - alpha as two sigmoids, so neither loses relative accuracy.
    return sigmoid(z) * jax.nn.softplus(log_c1 - mu) + sigmoid(-z) * log_c


def _loss_lvml(mu, nu, m, C):
    log_m1, log_c1, log_c = _log_sizes(m, C)
    z = nu - log_m1
    log_alpha_beta = jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(mu - log_c1)
    log_rest = jax.nn.log_sigmoid(-z) - log_c
    return -jnp.logaddexp(log_alpha_beta, log_rest)


_LOSS_NU = (_loss_soft, _loss_hard, _loss_lvml)


def _loss(kind: str, mu, nu, m, C):
    return _LOSS_NU[kind_index(kind)](mu, nu, m, C)


def _flow_of(loss_fn):
    """Vector field (mu', nu') of one reduced loss with the full-parameter time scaling."""

    def flow(mu, nu, m, C):
        mu, nu = jnp.broadcast_arrays(mu, nu)
        # The loss is elementwise, so the gradient of its sum is the elementwise derivative.
        total = lambda a, b: jnp.sum(loss_fn(a, b, m, C))
        g_mu, g_nu = jax.grad(total, argnums=(0, 1))(mu, nu)
        return -g_mu / (C - 1.0), -g_nu / C

    return flow


_FLOWS = tuple(_flow_of(f) for f in _LOSS_NU)


def _flow(kind: str, mu, nu, m, C):
    return _FLOWS[kind_index(kind)](mu, nu, m, C)


def _flow_switch(kind_idx, mu, nu, m, C):
    """Vector field selected by a (possibly traced) integer index into `KINDS`."""
    return jax.lax.switch(kind_idx, _FLOWS, mu, nu, m, C)


def _authors_flow(kind: str, mu, nu, m, C):
    """The ODEs exactly as printed in the authors' write-up (naive, for comparison)."""
    alpha = jnp.exp(nu) / (jnp.exp(nu) + m - 1.0)
    beta = jnp.exp(mu) / (jnp.exp(mu) + C - 1.0)
    if kind == "soft":
        denom = jnp.exp(alpha * mu) + C - 1.0
        return alpha / denom, alpha * (1.0 - alpha) * (C - 1.0) * mu / (C * denom)
    if kind == "hard":
        return alpha / (jnp.exp(mu) + C - 1.0), alpha * (1.0 - alpha) * jnp.log(C * beta) / C
    if kind == "lvml":
        Z = alpha * beta + (1.0 - alpha) / C
        return alpha * beta / (Z * (jnp.exp(mu) + C - 1.0)), (alpha / C) * (beta / Z - 1.0)
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def _focus_loss(kind: str, alpha, mu, C):
    """Reduced loss with the attention alpha itself as the focus variable."""
    log_c1 = jnp.log(C - 1.0)
    if kind == "soft":
        return jax.nn.softplus(log_c1 - alpha * mu)
    if kind == "hard":
        return alpha * jax.nn.softplus(log_c1 - mu) + (1.0 - alpha) * jnp.log(C)
    if kind == "lvml":
        beta = sigmoid(mu - log_c1)
        return -jnp.log(alpha * beta + (1.0 - alpha) / C)
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


# Jitted entry points for the public wrappers (kind static; m, C traced): one compiled
# program per kind and input shape instead of dozens of eagerly dispatched operations.
_loss_jit = jax.jit(_loss, static_argnums=0)
_flow_jit = jax.jit(_flow, static_argnums=0)
_authors_flow_jit = jax.jit(_authors_flow, static_argnums=0)
_focus_loss_jit = jax.jit(_focus_loss, static_argnums=0)


def _prepare(kind, m, C, *arrays):
    kind_index(kind)
    m = check_size("m", m)
    C = check_size("C", C)
    dtype = float_dtype(*arrays)
    return m, C, tuple(as_float(a, dtype) for a in arrays), dtype


# ----------------------------------------------------------------------------- public API


def attention(nu, *, m):
    """Foreground attention ``alpha = e^nu / (e^nu + m - 1)``.

    Arguments:
        nu: foreground focus score(s), any shape.
        m: number of segments (integer >= 2), keyword-only.

    Returns:
        alpha, same shape as ``nu``, computed as a sigmoid (no overflow).

    Raises:
        ValueError: if m is not an integer >= 2.
    """
    m = check_size("m", m)
    nu = as_float(nu)
    return sigmoid(nu - jnp.log(jnp.asarray(m - 1.0, nu.dtype)))


def margin_probability(mu, *, C):
    """The classifier's probability of the true class, ``beta = e^mu / (e^mu + C - 1)``.

    Arguments:
        mu: logit margin(s), any shape.
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        beta, same shape as ``mu``.

    Raises:
        ValueError: if C is not an integer >= 2.
    """
    C = check_size("C", C)
    mu = as_float(mu)
    return sigmoid(mu - jnp.log(jnp.asarray(C - 1.0, mu.dtype)))


def reduced_loss(kind: str, mu, nu, *, m, C):
    """Population loss of the simple setting on the symmetric manifold.

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu: classifier margin(s) ``W[y,y] - W[k,y]``; broadcast against ``nu``.
        nu: foreground focus score(s) ``u_y``.
        m: number of segments (integer >= 2), keyword-only.
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        The loss, with the broadcast shape of ``mu`` and ``nu``. Computed with
        softplus / log-sigmoid / logaddexp forms, so it stays finite for large |mu|, |nu|.

    Raises:
        ValueError: for an unknown kind or a bad m or C.
    """
    m, C, (mu, nu), dtype = _prepare(kind, m, C, mu, nu)
    return _loss_jit(kind, mu, nu, jnp.asarray(m, dtype), jnp.asarray(C, dtype))


def reduced_flow(kind: str, mu, nu, *, m, C):
    """Gradient-flow velocity on the manifold, from ``jax.grad`` of `reduced_loss`.

    The time is that of gradient flow on the full parameters (u, W, b) of the *mean*
    loss over the C classes: ``mu' = -(1/(C-1)) dL/dmu``, ``nu' = -(1/C) dL/dnu``.

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu, nu: the state(s); broadcast together.
        m, C: segments and classes (integers >= 2), keyword-only.

    Returns:
        ``(dmu_dt, dnu_dt)``, each with the broadcast shape.

    Raises:
        ValueError: for an unknown kind or a bad m or C.
    """
    m, C, (mu, nu), dtype = _prepare(kind, m, C, mu, nu)
    mu, nu = jnp.broadcast_arrays(mu, nu)
    return _flow_jit(kind, mu, nu, jnp.asarray(m, dtype), jnp.asarray(C, dtype))


def authors_flow(kind: str, mu, nu, *, m, C):
    """The authors' printed ODEs (paper-notes section 3), written out term by term.

    This is a naive transcription (plain exponentials, no stabilisation), kept as the
    reference that `reduced_flow` is checked against; prefer ``reduced_flow``.

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu, nu: the state(s); broadcast together.
        m, C: segments and classes (integers >= 2), keyword-only.

    Returns:
        ``(dmu_dt, dnu_dt)``.

    Raises:
        ValueError: for an unknown kind or a bad m or C.
    """
    m, C, (mu, nu), dtype = _prepare(kind, m, C, mu, nu)
    return _authors_flow_jit(kind, mu, nu, jnp.asarray(m, dtype), jnp.asarray(C, dtype))


def focus_loss(kind: str, alpha, mu, *, C):
    """Reduced loss as a function of the attention ``alpha`` itself (focus held fixed).

    Arguments:
        kind: "soft", "hard" or "lvml".
        alpha: foreground attention(s) in [0, 1]; broadcast against ``mu``.
        mu: classifier margin(s).
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        The loss with the broadcast shape.

    Raises:
        ValueError: for an unknown kind or a bad C.
    """
    m, C, (alpha, mu), dtype = _prepare(kind, 2, C, alpha, mu)
    return _focus_loss_jit(kind, alpha, mu, jnp.asarray(C, dtype))
