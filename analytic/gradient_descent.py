"""The link between the reduced flow and real training: full-parameter gradient descent.

Plain full-batch gradient descent on the full parameters of the simple setting -- a
linear focus ``u`` (dimension C + 1, no bias) and a linear classifier ``W`` [C, C + 1],
``b`` [C] -- with attnjax's own losses (``attnjax.losses.LOSSES``) on the orthogonal data
(``attnjax.data.orthogonal.orthogonal_split``: one mosaic per class, foreground first, no
noise), from zero, on the mean loss over the C examples. The parameters are mapped back to
``mu = W[y,y] - W[k,y]`` and ``nu = u_y``. After ``n`` steps of size ``lr`` the state
approximates the gradient flow at time ``t = n * lr`` -- the time of
`analytic.solve_flow`, with no extra factor -- with an error of order ``lr``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attnjax.data.orthogonal import orthogonal_split
from attnjax.losses import LOSSES

from ._common import KINDS, as_float, check_size, float_dtype, kind_index
from .solve import solve_flow

__all__ = [
    "orthogonal_problem",
    "zero_parameters",
    "manifold_parameters",
    "full_mean_loss",
    "reduce_parameters",
    "full_gradient_velocity",
    "GDResult",
    "gradient_descent",
    "gd_convergence_order",
]


def orthogonal_problem(*, m, C, dtype=None):
    """The C examples of the simple setting, from ``orthogonal_split``.

    Arguments:
        m, C: segments and classes (integers >= 2), keyword-only.
        dtype: floating dtype of the segments (default: the default float type).

    Returns:
        ``(segments [C, m, C + 1], labels [C])``; example y has ``e_y`` at position 0.

    Raises:
        ValueError: for a bad m or C.
    """
    m = check_size("m", m)
    C = check_size("C", C)
    dtype = float_dtype() if dtype is None else dtype
    segments, labels, fg_pos = orthogonal_split(
        np.random.default_rng(0), C, num_classes=C, m=m, noise=0.0
    )
    assert np.all(fg_pos == 0) and np.array_equal(labels, np.arange(C))
    return jnp.asarray(segments, dtype), jnp.asarray(labels, jnp.int32)


def zero_parameters(*, C, dtype=None):
    """All-zero full parameters ``{"u": [C+1], "W": [C, C+1], "b": [C]}``."""
    C = check_size("C", C)
    dtype = float_dtype() if dtype is None else dtype
    return {
        "u": jnp.zeros((C + 1,), dtype),
        "W": jnp.zeros((C, C + 1), dtype),
        "b": jnp.zeros((C,), dtype),
    }


def manifold_parameters(mu, nu, *, C):
    """Full parameters on the symmetric manifold at the point (mu, nu).

    ``u = (nu, ..., nu, 0)``, ``W[:, :C] = mu * I`` (so ``W[y,y] - W[k,y] = mu``), last
    column of W and b zero.

    Arguments:
        mu, nu: scalars.
        C: number of classes (integer >= 2), keyword-only.

    Returns:
        The parameter dict.
    """
    C = check_size("C", C)
    dtype = float_dtype(mu, nu)
    mu, nu = as_float(mu, dtype), as_float(nu, dtype)
    u = jnp.concatenate([jnp.full((C,), nu, dtype), jnp.zeros((1,), dtype)])
    W = jnp.concatenate([mu * jnp.eye(C, dtype=dtype), jnp.zeros((C, 1), dtype)], axis=1)
    return {"u": u, "W": W, "b": jnp.zeros((C,), dtype)}


def _mean_loss(kind_idx, params, segments, labels):
    focus_logits = segments @ params["u"]  # [B, m]

    def classify(x):
        return x @ params["W"].T + params["b"]

    branches = [
        (lambda p, fn=LOSSES[k]: jnp.mean(fn(focus_logits, segments, labels, classify)))
        for k in KINDS
    ]
    return jax.lax.switch(kind_idx, branches, params)


def full_mean_loss(kind: str, params, segments, labels):
    """The training objective: mean over the examples of attnjax's per-example loss.

    Arguments:
        kind: "soft", "hard" or "lvml" (a key of ``attnjax.losses.LOSSES``).
        params: ``{"u", "W", "b"}`` as in `zero_parameters`.
        segments, labels: from `orthogonal_problem`.

    Returns:
        The scalar mean loss.

    Raises:
        ValueError: for an unknown kind.
    """
    return _mean_loss(kind_index(kind), params, segments, labels)


def _reduce(params):
    u, W, b = params["u"], params["W"], params["b"]
    C = W.shape[0]
    Wc = W[:, :C]
    diag = jnp.diag(Wc)
    off_mean = (jnp.sum(Wc, axis=0) - diag) / (C - 1)
    margins = diag[None, :] - Wc  # margins[k, y] = W[y,y] - W[k,y]
    off = ~jnp.eye(C, dtype=bool)
    mu = jnp.mean(diag - off_mean)
    nu = jnp.mean(u[:C])
    asym = jnp.max(
        jnp.stack(
            [
                jnp.max(jnp.abs(jnp.where(off, margins - mu, 0.0))),
                jnp.max(jnp.abs(u[:C] - nu)),
                jnp.abs(u[C]),  # the coordinate background noise would use
                jnp.max(jnp.abs(W[:, C])),
                jnp.max(jnp.abs(b - jnp.mean(b))),
            ]
        )
    )
    return mu, nu, asym


def reduce_parameters(params):
    """Map full parameters to the manifold coordinates.

    Arguments:
        params: ``{"u", "W", "b"}``.

    Returns:
        ``(mu, nu, asymmetry)``: the class-averaged margin ``W[y,y] - W[k,y]``, the
        class-averaged foreground score ``u_y``, and the largest deviation from the
        symmetric manifold (spread of the margins and scores, the unused last coordinate
        of u, the last column of W, and the spread of b -- all exactly 0 on it).
    """
    return _reduce(params)


@functools.partial(jax.jit, static_argnames=("C",))
def _velocity(kind_idx, mu, nu, segments, labels, *, C):
    params = manifold_parameters(mu, nu, C=C)
    grads = jax.grad(lambda p: _mean_loss(kind_idx, p, segments, labels))(params)
    neg = jax.tree_util.tree_map(lambda g: -g, grads)
    dmu, dnu, _ = _reduce(neg)  # the reduction is linear, so it maps velocities too
    return dmu, dnu


def full_gradient_velocity(kind: str, mu, nu, *, m, C):
    """(mu', nu') under gradient flow of the full parameters, at a point of the manifold.

    This is the numerical check of the time scaling: it must equal
    `analytic.reduced_flow` (``-(1/(C-1)) dL/dmu``, ``-(1/C) dL/dnu``).

    Arguments:
        kind: "soft", "hard" or "lvml".
        mu, nu: scalars.
        m, C: segments and classes (integers >= 2), keyword-only.

    Returns:
        ``(dmu_dt, dnu_dt)`` as scalars.

    Raises:
        ValueError: for an unknown kind or a bad m or C.
    """
    idx = kind_index(kind)
    m = check_size("m", m)
    C = check_size("C", C)
    dtype = float_dtype(mu, nu)
    segments, labels = orthogonal_problem(m=m, C=C, dtype=dtype)
    return _velocity(jnp.int32(idx), as_float(mu, dtype), as_float(nu, dtype), segments, labels, C=C)


class GDResult(NamedTuple):
    """Outcome of `gradient_descent` (scalars)."""

    mu: jax.Array
    nu: jax.Array
    asymmetry: jax.Array  # largest deviation from the symmetric manifold seen at the end
    loss: jax.Array  # final mean loss
    num_steps: int
    time: float  # num_steps * lr


@jax.jit
def _run_gd(kind_idx, lr, num_steps, segments, labels):
    C = labels.shape[0]
    params = zero_parameters(C=C, dtype=segments.dtype)
    grad_fn = jax.grad(lambda p: _mean_loss(kind_idx, p, segments, labels))

    def body(_, p):
        g = grad_fn(p)
        return jax.tree_util.tree_map(lambda x, dx: x - lr * dx, p, g)

    params = jax.lax.fori_loop(0, num_steps, body, params)
    mu, nu, asym = _reduce(params)
    return mu, nu, asym, _mean_loss(kind_idx, params, segments, labels)


def gradient_descent(kind: str, *, m, C, lr, t):
    """Full-batch gradient descent on the full parameters, from zero, up to time ``t``.

    Runs ``n = round(t / lr)`` steps ``theta <- theta - lr * grad(mean loss)`` (one jitted
    ``lax.fori_loop``; lr and n are traced, so changing them does not recompile).

    Arguments:
        kind: "soft", "hard" or "lvml".
        m, C: segments and classes (integers >= 2), keyword-only.
        lr: learning rate > 0.
        t: gradient-flow time to reach; must be a whole number of steps (to 1e-9).

    Returns:
        A `GDResult` with the reduced state after n steps.

    Raises:
        ValueError: for an unknown kind, a bad m or C, lr <= 0, or t not a multiple of lr.
    """
    idx = kind_index(kind)
    m = check_size("m", m)
    C = check_size("C", C)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    n = int(round(t / lr))
    if n < 0 or abs(n * lr - t) > 1e-9 * max(1.0, abs(t)):
        raise ValueError(f"t={t} is not a whole number of steps of lr={lr}")
    dtype = float_dtype()
    segments, labels = orthogonal_problem(m=m, C=C, dtype=dtype)
    mu, nu, asym, loss = _run_gd(jnp.int32(idx), jnp.asarray(lr, dtype), n, segments, labels)
    return GDResult(mu, nu, asym, loss, n, n * lr)


def gd_convergence_order(kind: str, *, m, C, t, lrs, rtol=None, atol=None):
    """Error of gradient descent against the flow at time ``t``, and its order in lr.

    Arguments:
        kind: "soft", "hard" or "lvml".
        m, C: segments and classes, keyword-only.
        t: comparison time.
        lrs: learning rates (each must divide t).
        rtol, atol: tolerances of the reference `analytic.solve_flow` (its defaults).

    Returns:
        dict with ``lrs``, ``errors`` (max of |d mu|, |d nu| at time t), ``order`` (the
        least-squares slope of log error against log lr), ``asymmetry`` (largest deviation
        from the manifold over the runs) and the reference ``mu``, ``nu``.

    Raises:
        ValueError: as `gradient_descent`.
    """
    mu_ref, nu_ref = solve_flow(kind, jnp.asarray([float(t)]), m=m, C=C, rtol=rtol, atol=atol)
    mu_ref, nu_ref = float(mu_ref[0]), float(nu_ref[0])
    errors, asym = [], 0.0
    for lr in lrs:
        res = gradient_descent(kind, m=m, C=C, lr=lr, t=t)
        errors.append(max(abs(float(res.mu) - mu_ref), abs(float(res.nu) - nu_ref)))
        asym = max(asym, float(res.asymmetry))
    order = float(np.polyfit(np.log(np.asarray(lrs, float)), np.log(errors), 1)[0])
    return {
        "lrs": [float(x) for x in lrs],
        "errors": errors,
        "order": order,
        "asymmetry": asym,
        "mu": mu_ref,
        "nu": nu_ref,
    }
