"""The hybrid schedule's switch-time derivative and its optimum."""

import jax
import numpy as np
import pytest

import analytic
from analytic_reference import printed_flow, solve, solve_hybrid_final

M, C, T = 20, 20, 3000.0


def _scipy_nu(tau):
    return solve_hybrid_final(tau, T, M, C)[1]


def _public_final_nu(tau):
    """nu(T) through the public solver; differentiable in the switch time."""
    return analytic.solve_flow("hybrid", jax.numpy.array([T]), m=M, C=C, switch_time=tau)[1][-1]


# jax.grad straight through the public solve_flow(kind="hybrid"), reverse mode.
_reverse = jax.jit(jax.value_and_grad(_public_final_nu))


@pytest.mark.parametrize("tau", [300.0, 1000.0])
def test_switch_time_derivative(tau):
    value, g_rev = _reverse(tau)
    _, g_fwd = analytic.hybrid_final_score(tau, m=M, C=C, T=T, mode="forward")
    assert float(value) == pytest.approx(_scipy_nu(tau), abs=1e-9)
    # Reverse mode (jax.grad) and forward mode (jax.jvp) differentiate the same solves.
    assert float(g_rev) == pytest.approx(float(g_fwd), rel=1e-10)
    # Central differences of the independent SciPy solution, Richardson-extrapolated from
    # h = 1 and 2: the h^2 truncation term (~3e-6 relative at h = 1) cancels, leaving
    # O(h^4) and solver noise (~1e-11 / h), both below 1e-7 relative.
    d = {h: (_scipy_nu(tau + h) - _scipy_nu(tau - h)) / (2 * h) for h in (1.0, 2.0)}
    fd = (4 * d[1.0] - d[2.0]) / 3
    assert float(g_rev) == pytest.approx(fd, rel=1e-6)
    # The adjoint formula: d nu(T)/d tau = [J(T, tau) (f_soft - f_hard)(y(tau))]_nu, with
    # the Jacobian of the hard flow from SciPy finite differences.
    mu_t, nu_t = solve("soft", [tau], M, C)
    y = np.array([mu_t[-1], nu_t[-1]])
    jump = np.array(printed_flow("soft", *y, M, C)) - np.array(printed_flow("hard", *y, M, C))
    # Central differences in the state with eps = 1e-4: truncation ~eps^2 ~ 1e-8 relative,
    # solver noise ~1e-11 / eps ~ 1e-7 relative.
    eps = 1e-4
    end = lambda y0: solve("hard", [T], M, C, y0=tuple(y0), t0=tau)[1][-1]
    dnu_dy = [(end(y + eps * e) - end(y - eps * e)) / (2 * eps) for e in np.eye(2)]
    assert float(g_rev) == pytest.approx(float(np.dot(dnu_dy, jump)), rel=1e-5)


def test_best_switch_time_beats_a_grid():
    opt = analytic.best_switch_time(m=M, C=C, T=T)
    assert 0.0 < opt.switch_time < T and abs(opt.gradient) < 1e-9
    # An independent grid (SciPy solves) around the optimum, spacing 10.
    grid = np.linspace(opt.switch_time - 50, opt.switch_time + 50, 11)
    nus = np.array([_scipy_nu(t) for t in grid])
    alphas = np.exp(nus) / (np.exp(nus) + M - 1)
    assert abs(grid[np.argmax(alphas)] - opt.switch_time) <= 10.0
    # alpha(T) is within solver noise of the grid's best (and the coarse grid's best).
    assert opt.alpha >= alphas.max() - 1e-10
    assert opt.alpha >= opt.grid_alpha.max() - 1e-12
    # Pure hard attention and pure soft attention both do worse.
    assert opt.alpha > opt.grid_alpha[0] and opt.alpha > opt.grid_alpha[-1]


@pytest.mark.parametrize("options", [dict(tol=1.0), dict(max_iter=0)])
def test_best_switch_time_without_refinement_is_consistent(options):
    """When the secant loop never runs (bracket already under tol, or no evaluations
    allowed), the returned alpha must still be alpha(T) at the returned switch time."""
    opt = analytic.best_switch_time(m=M, C=C, T=T, **options)
    assert opt.iterations == 0
    assert opt.switch_time in opt.grid_switch_times  # a bracket end of the 31-point grid
    # alpha(T) at the returned tau from the independent SciPy solution (solver noise ~1e-10).
    nu = _scipy_nu(opt.switch_time)
    assert opt.alpha == pytest.approx(np.exp(nu) / (np.exp(nu) + M - 1), abs=1e-9)
    _, g = analytic.hybrid_final_score(opt.switch_time, m=M, C=C, T=T, mode="forward")
    assert opt.gradient == pytest.approx(float(g), rel=1e-10)
