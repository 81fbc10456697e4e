"""Wright omega, the invariants and the fixed-focus closed forms against SciPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import lambertw, wrightomega

import analytic
from analytic_reference import printed_flow, solve, solve_fixed

KINDS = ("soft", "hard", "lvml")

# ----------------------------------------------------------------------------- Wright omega


def test_wright_omega_known_value():
    # omega(0) = W(1), the omega constant (a published value, not a number from our code).
    assert float(analytic.wright_omega(0.0)) == pytest.approx(0.5671432904097838, rel=2e-16)
    # omega(1) = 1 and omega(1 + e) = e, since w + log w = x there.
    assert float(analytic.wright_omega(1.0)) == pytest.approx(1.0, rel=2e-16)
    assert float(analytic.wright_omega(1.0 + math.e)) == pytest.approx(math.e, rel=4e-16)


def test_wright_omega_identity_and_scipy():
    x = np.concatenate([np.linspace(-700, -40.5, 300), np.linspace(-40.5, -1.5, 400),
                        np.linspace(-1.5, 1.5, 301), np.linspace(1.5, 60, 400),
                        np.logspace(1.8, 8, 300)])
    w = np.asarray(analytic.wright_omega(x))
    assert w.dtype == np.float64
    # The defining identity, relative to max(1, |x|): a few ulps.
    np.testing.assert_array_less(np.abs(w + np.log(w) - x) / np.maximum(1, np.abs(x)), 2e-15)
    # SciPy's independent implementation (Lawrence et al.): agreement to a few ulps.
    np.testing.assert_allclose(w, wrightomega(x), rtol=1e-14)
    # Lambert W of e^x where e^x is representable.
    xs = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(np.asarray(analytic.wright_omega(xs)),
                               lambertw(np.exp(xs)).real, rtol=1e-14)


def test_wright_omega_derivative_jit_vmap():
    x = jnp.linspace(-50.0, 1e3, 97)
    g = jax.jit(jax.vmap(jax.grad(analytic.wright_omega)))(x)
    w = wrightomega(np.asarray(x))
    np.testing.assert_allclose(np.asarray(g), w / (1 + w), rtol=1e-14)


# ----------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("C", [2, 3, 20, 1000])
def test_hard_potential_against_quadrature(C):
    a = C - 1

    def integrand(s):
        return (math.exp(s) + a) * (math.log(C) + s - np.logaddexp(s, math.log(a))) / C

    # Away from 0 the integrand is well conditioned in double precision.
    for mu in [0.7, math.log(a) - 1e-6, math.log(a) + 1e-6, 4.0, 13.0, 30.0, -1.5]:
        if abs(mu) < 0.5:
            continue
        ref = quad(integrand, 0.0, mu, epsabs=0, epsrel=1e-13, limit=200)[0]
        got = float(analytic.margin_potential("hard", mu, C=C))
        assert abs(got - ref) <= 1e-12 * abs(ref), (C, mu, got, ref)


@pytest.mark.parametrize("C", [2, 20, 1000])
def test_hard_potential_high_precision(C):
    """Against 30-digit quadrature, including tiny |mu| where Psi ~ (C-1) mu^2 / (2C)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    a = C - 1
    for mu in [1e-7, -3e-4, 0.02, 0.999, 1.001, math.log(a) + 0.5, 20.0]:
        f = lambda s: (mpmath.e**s + a) * mpmath.log(C * mpmath.e**s / (mpmath.e**s + a)) / C
        ref = float(mpmath.quad(f, [0, mu]))
        got = float(analytic.margin_potential("hard", mu, C=C))
        assert abs(got - ref) <= 1e-13 * abs(ref), (C, mu, got, ref)


@pytest.mark.parametrize("kind", ["soft", "lvml"])
def test_other_potentials_against_quadrature(kind):
    C = 20
    for mu in [1e-3, 0.3, 2.0, 9.0, -2.0]:
        # Psi' = (1 - alpha)^{-1} nu' / mu' from the printed ODEs (alpha cancels; any nu).
        def integrand(s):
            dmu, dnu = printed_flow(kind, s, 0.0, 20, C)
            return dnu / dmu / (1 - 1 / 20)

        ref = quad(integrand, 0.0, mu, epsabs=0, epsrel=1e-13)[0]
        got = float(analytic.margin_potential(kind, mu, C=C))
        assert abs(got - ref) <= 1e-12 * abs(ref) + 1e-17


@pytest.mark.parametrize("kind", KINDS)
def test_invariant_constant_along_scipy_solution(kind):
    """Independent trajectories (SciPy DOP853 on the printed ODEs) keep G - Psi fixed."""
    m, C = 20, 20
    ts = np.linspace(0, 3000, 31)
    for y0 in [(0.0, 0.0), (3.0, -1.0)]:
        mu, nu = solve(kind, ts, m, C, y0=y0)
        inv = np.asarray(analytic.invariant(kind, mu, nu, m=m, C=C))
        scale = np.maximum(1, np.abs(np.asarray(analytic.focus_potential(nu, m=m))))
        # DOP853 at rtol 1e-12 over ~10 units of state: drift ~1e-10 at most.
        assert np.max(np.abs(inv - inv[0]) / scale) < 1e-9


def test_invariant_zero_at_origin_and_focus_potential():
    for kind in KINDS:
        assert float(analytic.invariant(kind, 0.0, 0.0, m=100, C=1000)) == 0.0
    nu = np.array([-3.0, 0.0, 1e-8, 2.0, 30.0])
    np.testing.assert_allclose(np.asarray(analytic.focus_potential(nu, m=7)),
                               nu + np.expm1(nu) / 6, rtol=1e-15)


# ----------------------------------------------------------------------------- fixed focus


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("C", [2, 20, 1000])
def test_fixed_focus_margin_against_scipy(kind, C):
    ts = np.array([0.0, 0.3, 5.0, 60.0, 900.0, 2e4, 4e5])
    for alpha in [0.05, 0.2, 0.6, 1.0]:
        ref = solve_fixed(kind, alpha, ts, C)
        got = np.asarray(analytic.fixed_focus_margin(kind, alpha, ts, C=C))
        # DOP853 at rtol 1e-12 on mu up to ~140 (soft, alpha=0.05): 1e-9 absolute.
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
        assert got[0] == 0.0 or abs(got[0]) < 1e-15


@pytest.mark.parametrize("kind", KINDS)
def test_fixed_focus_time_is_the_inverse(kind):
    C = 20
    alpha = jnp.array([0.1, 0.4, 0.8, 1.0])[:, None]
    ts = jnp.array([1e-3, 1.0, 100.0, 1e5, 1e9])[None, :]
    mu = analytic.fixed_focus_margin(kind, alpha, ts, C=C)
    back = analytic.fixed_focus_time(kind, alpha, mu, C=C)
    np.testing.assert_allclose(np.asarray(back), np.broadcast_to(np.asarray(ts), back.shape),
                               rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_fixed_focus_derivative_is_the_ode(kind):
    """d mu / dt from autodiff of the closed form equals the fixed-focus vector field."""
    C, alpha = 20, 0.3
    ts = jnp.array([0.5, 10.0, 1e3, 1e6])
    mu = np.asarray(analytic.fixed_focus_margin(kind, alpha, ts, C=C))
    dmu = jax.vmap(jax.grad(lambda t: analytic.fixed_focus_margin(kind, alpha, t, C=C)))(ts)
    from analytic_reference import fixed_focus_rhs

    rhs = fixed_focus_rhs(kind, alpha, C)
    ref = np.array([rhs(0.0, [x])[0] for x in mu])
    np.testing.assert_allclose(np.asarray(dmu), ref, rtol=1e-10)


def test_fixed_focus_large_times_do_not_overflow():
    ts = jnp.array([1e10, 1e14, 1e18])
    for kind in KINDS:
        mu = np.asarray(analytic.fixed_focus_margin(kind, 0.5, ts, C=1000))
        assert np.all(np.isfinite(mu)) and np.all(np.diff(mu) > 0)
    # Hard attention: e^mu + (C-1) mu = 1 + alpha t, checked in log form.
    mu = np.asarray(analytic.fixed_focus_margin("hard", 0.5, ts, C=1000))
    lhs = mu + np.log1p(999 * mu * np.exp(-mu))
    np.testing.assert_allclose(lhs, np.log1p(0.5 * np.asarray(ts)), rtol=1e-14)


def test_fixed_focus_arguments():
    with pytest.raises(ValueError):
        analytic.fixed_focus_margin("softmax", 0.5, 1.0, C=20)
    with pytest.raises(ValueError):
        analytic.fixed_focus_margin("soft", 0.5, 1.0, C=1)
    assert float(analytic.fixed_focus_margin("lvml", 0.0, 10.0, C=20)) == 0.0
