"""Reduced losses and flows against NumPy transcriptions of the printed formulas."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analytic
from analytic_reference import losses, printed_flow

KINDS = ("soft", "hard", "lvml")
SIZES = [(20, 20), (100, 1000), (2, 2), (5, 3)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m,C", SIZES)
def test_reduced_loss_matches_formula(kind, m, C):
    rng = np.random.default_rng(1)
    mu, nu = rng.uniform(-3, 12, 500), rng.uniform(-4, 8, 500)
    ours = np.asarray(analytic.reduced_loss(kind, mu, nu, m=m, C=C))
    # Both are O(1)-conditioned here (losses stay away from 0 for nu <= 8 and
    # mu >= -3); 1e-12 relative leaves room for log1p vs softplus rounding.
    np.testing.assert_allclose(ours, losses(kind, mu, nu, m, C), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_reduced_loss_is_finite_at_extremes(kind):
    big = jnp.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    mu, nu = jnp.meshgrid(big, big)
    value = analytic.reduced_loss(kind, mu, nu, m=20, C=20)
    grads = jax.grad(lambda a, b: jnp.sum(analytic.reduced_loss(kind, a, b, m=20, C=20)),
                     argnums=(0, 1))(mu, nu)
    assert np.all(np.isfinite(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m,C", SIZES)
def test_reduced_flow_matches_printed_odes(kind, m, C):
    rng = np.random.default_rng(2)
    mu, nu = rng.uniform(-2, 15, 400), rng.uniform(-4, 8, 400)
    ours = np.stack([np.asarray(v) for v in analytic.reduced_flow(kind, mu, nu, m=m, C=C)])
    ref = np.stack(printed_flow(kind, mu, nu, m, C))
    # The printed forms compute 1 - alpha as a difference, which costs up to
    # eps / (1 - alpha) ~ 1e-16 * e^8 ~ 3e-13 relative at nu = 8; 1e-11 covers it.
    # Near beta = 1/C (mu ~ log((C-1)/(C-1)) = 0 for the focus velocity) both forms
    # cancel terms of size ~|velocity|, so allow an absolute 1e-14 of the largest value.
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    np.testing.assert_allclose(ours / scale, ref / scale, rtol=1e-11, atol=1e-14)


def test_reduced_flow_stays_accurate_when_alpha_saturates():
    """At nu = 30, 1 - alpha ~ 1e-12: the printed formula loses ~4 digits, ours does not."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    m, C = 100, 1000
    for mu, nu in [(5.0, 30.0), (12.0, 25.0), (0.5, 35.0)]:
        a = mpmath.e**nu / (mpmath.e**nu + m - 1)
        b = mpmath.e**mu / (mpmath.e**mu + C - 1)
        exact = a * (1 - a) * mpmath.log(C * b) / C  # hard attention's nu'
        ours = float(analytic.reduced_flow("hard", mu, nu, m=m, C=C)[1])
        assert abs(ours - float(exact)) <= 1e-14 * abs(float(exact))


@pytest.mark.parametrize("m,C", [(20, 20), (100, 1000), (2, 2)])
def test_identities_at_start(m, C):
    slopes = []
    for kind in KINDS:
        assert float(analytic.reduced_loss(kind, 0.0, 0.0, m=m, C=C)) == pytest.approx(
            math.log(C), rel=1e-15)
        dmu, dnu = analytic.reduced_flow(kind, 0.0, 0.0, m=m, C=C)
        assert float(dmu) == pytest.approx(1.0 / (m * C), rel=1e-14)
        assert abs(float(dnu)) <= 1e-17
        slopes.append(float(jax.grad(
            lambda x, k=kind: analytic.reduced_flow(k, x, 0.0, m=m, C=C)[1])(0.0)))
    # First-order agreement: d nu'/d mu at the origin is alpha(1-alpha)(C-1)/C^2 for all.
    expect = (1 / m) * (1 - 1 / m) * (C - 1) / C**2
    np.testing.assert_allclose(slopes, expect, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_full_parameter_time_scaling(kind):
    """-grad of attnjax's mean loss over (u, W, b), read on the manifold, is the reduced flow."""
    for m, C in [(20, 20), (4, 6)]:
        for mu, nu in [(0.7, -0.3), (6.0, 4.0)]:
            full = np.array(analytic.full_gradient_velocity(kind, mu, nu, m=m, C=C))
            ref = np.array(printed_flow(kind, mu, nu, m, C))
            np.testing.assert_allclose(full, ref, rtol=1e-11)


@pytest.mark.parametrize("kind", KINDS)
def test_incentive_closed_forms(kind):
    C = 20
    alpha = np.array([0.05, 0.2, 0.5, 0.9, 1.0])[:, None]
    mu = np.array([0.0, 0.5, 3.0, 9.0])[None, :]
    ours = np.asarray(analytic.fixed_focus_incentive(kind, alpha, mu, C=C))
    beta = np.exp(mu) / (np.exp(mu) + C - 1)
    if kind == "soft":
        ref = (C - 1) * mu / (np.exp(alpha * mu) + C - 1)
    elif kind == "hard":
        ref = np.log(C * beta) + 0 * alpha
    else:
        ref = (beta - 1 / C) / (alpha * beta + (1 - alpha) / C)
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-15)


def test_jit_and_vmap():
    f = jax.jit(jax.vmap(lambda a, b: jnp.stack(analytic.reduced_flow("lvml", a, b, m=7, C=9))))
    mu, nu = jnp.linspace(0, 5, 11), jnp.linspace(-1, 3, 11)
    got = f(mu, nu)
    assert got.dtype == jnp.float64 and got.shape == (11, 2)
    np.testing.assert_allclose(got.T, np.stack(printed_flow("lvml", np.asarray(mu),
                                                            np.asarray(nu), 7, 9)),
                               rtol=1e-12, atol=1e-16)  # nu' = 0 exactly at mu = 0


@pytest.mark.parametrize("bad", [dict(kind="sa"), dict(m=1), dict(C=1), dict(C=2.5),
                                 dict(m=True), dict(C="20")])
def test_bad_arguments_raise(bad):
    args = dict(kind="soft", m=20, C=20) | bad
    kind = args.pop("kind")
    with pytest.raises(ValueError):
        analytic.reduced_loss(kind, 0.0, 0.0, **args)
    with pytest.raises(ValueError):
        analytic.reduced_flow(kind, 0.0, 0.0, **args)
    with pytest.raises(ValueError):
        analytic.invariant(kind, 0.0, 0.0, **args)
