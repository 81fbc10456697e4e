"""diffrax solutions of the reduced flow: accuracy, invariants, batching, stats, failures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analytic
from analytic import solve as solve_module
from analytic_reference import solve

KINDS = ("soft", "hard", "lvml")


@pytest.mark.parametrize("kind", KINDS)
def test_matches_scipy_on_printed_odes(kind):
    m, C = 20, 20
    ts = np.array([0.0, 1.0, 50.0, 500.0, 1500.0, 3000.0])
    mu, nu = analytic.solve_flow(kind, ts, m=m, C=C)
    mu_ref, nu_ref = solve(kind, ts, m, C)
    # Both solvers run at rtol 1e-12 on states of size <= 10: agreement to 1e-9.
    np.testing.assert_allclose(np.asarray(mu), mu_ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(np.asarray(nu), nu_ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_invariant_drift_authors_run(kind):
    """m = 100, C = 1000 out to the authors' t = 4e5: relative drift <= 1e-8."""
    m, C = 100, 1000
    # 15 times: the solver's steps do not depend on them, and all the tests here share one
    # compiled program this way (times are padded to 16).
    ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-2, np.log10(4e5), 14)])
    mu, nu = analytic.solve_flow(kind, ts, m=m, C=C)
    inv = analytic.invariant(kind, mu, nu, m=m, C=C)
    scale = jnp.maximum(1.0, jnp.abs(analytic.focus_potential(nu, m=m)))
    assert float(jnp.max(jnp.abs(inv - inv[0]) / scale)) <= 1e-8
    # And the end point agrees with SciPy (same printed ODEs, independent integrator).
    mu_ref, nu_ref = solve(kind, [4e5], m, C)
    assert abs(float(mu[-1]) - mu_ref[-1]) < 1e-8 and abs(float(nu[-1]) - nu_ref[-1]) < 1e-8


def test_paper_example_numbers():
    ts = jnp.array([500.0, 3000.0])
    alpha = {}
    for kind in ("soft", "hard"):
        _, nu = analytic.solve_flow(kind, ts, m=20, C=20)
        alpha[kind] = np.asarray(analytic.attention(nu, m=20))
    # The paper quotes three decimals: 0.175 vs 0.152 at t = 500, 0.961 vs 0.997 at 3000.
    np.testing.assert_allclose(alpha["soft"], [0.175, 0.961], atol=5e-4)
    np.testing.assert_allclose(alpha["hard"], [0.152, 0.997], atol=5e-4)
    assert alpha["soft"][0] > alpha["hard"][0] and alpha["hard"][1] > alpha["soft"][1]


def test_vmap_over_initial_states_equals_loop():
    ts = jnp.linspace(0.0, 800.0, 9)
    mu0 = jnp.array([0.0, 1.0, 3.0, -0.5])
    nu0 = jnp.array([0.0, -1.0, 2.0, 0.5])
    batch_mu, batch_nu = analytic.solve_flow("lvml", ts, m=10, C=5, mu0=mu0, nu0=nu0)
    vm_mu, vm_nu = jax.vmap(
        lambda a, b: analytic.solve_flow("lvml", ts, m=10, C=5, mu0=a, nu0=b))(mu0, nu0)
    assert batch_mu.shape == (4, 9)
    for i in range(4):
        mu, nu = analytic.solve_flow("lvml", ts, m=10, C=5, mu0=float(mu0[i]),
                                     nu0=float(nu0[i]))
        # The batched solve takes per-element steps, so it matches the loop to rounding
        # of the step-size controller (well inside the 1e-9 solver accuracy).
        np.testing.assert_allclose(batch_mu[i], mu, atol=1e-12)
        np.testing.assert_allclose(batch_nu[i], nu, atol=1e-12)
        np.testing.assert_allclose(vm_mu[i], mu, atol=1e-12)
        np.testing.assert_allclose(vm_nu[i], nu, atol=1e-12)


@pytest.mark.parametrize("solver,per_step", [("tsit5", 6), ("dopri8", 13)])
def test_function_evaluation_count(solver, per_step, monkeypatch):
    calls = []
    original = solve_module._vector_field

    def counting(t, y, args):
        jax.debug.callback(lambda: calls.append(1))
        return original(t, y, args)

    monkeypatch.setattr(solve_module, "_vector_field", counting)
    # Tolerances used by no other test: they are static arguments, so this compiles a
    # fresh program that traces the counting vector field.
    ts = jnp.linspace(0.0, 700.0, 5)
    mu, nu, stats = analytic.solve_flow("hard", ts, m=3, C=4, solver=solver, rtol=1e-9,
                                        atol=1e-11, return_stats=True)
    jax.block_until_ready(mu)
    steps = int(stats.num_steps)
    assert steps == int(stats.num_accepted_steps) + int(stats.num_rejected_steps)
    # The callback sees the per-step stages and the first stage exactly; num_fev adds
    # the initial step-size selection's two evaluations.
    assert len(calls) == per_step * steps + 1
    assert int(stats.num_fev) == len(calls) + 2


def test_failure_is_reported():
    ts = jnp.array([0.0, 3000.0])
    with pytest.raises(analytic.SolverFailure, match="max_steps"):
        analytic.solve_flow("soft", ts, m=20, C=20, max_steps=5)
    mu, nu, stats = analytic.solve_flow("soft", ts, m=20, C=20, max_steps=5,
                                        on_failure="nan", return_stats=True)
    assert np.all(np.isnan(np.asarray(mu))) and not bool(stats.success)


def test_hybrid_limits_and_continuity():
    ts = jnp.array([0.0, 250.0, 600.0, 1200.0, 3000.0])
    hard = np.stack(analytic.solve_flow("hard", ts, m=20, C=20))
    soft = np.stack(analytic.solve_flow("soft", ts, m=20, C=20))
    at0 = np.stack(analytic.solve_flow("hybrid", ts, m=20, C=20, switch_time=0.0))
    late = np.stack(analytic.solve_flow("hybrid", ts, m=20, C=20, switch_time=5000.0))
    np.testing.assert_allclose(at0, hard, atol=1e-12)
    # Switching after T is soft attention throughout (the soft solve then runs past T,
    # so the interpolated outputs differ at the solver tolerance).
    np.testing.assert_allclose(late, soft, atol=1e-9)
    mid = np.stack(analytic.solve_flow("hybrid", ts, m=20, C=20, switch_time=600.0))
    np.testing.assert_allclose(mid[:, :3], soft[:, :3], atol=1e-9)  # identical up to tau
    from analytic_reference import solve_hybrid_final

    ref = solve_hybrid_final(600.0, 3000.0, 20, 20)
    np.testing.assert_allclose(mid[:, -1], ref, atol=1e-9)


def test_fixed_focus_ode_helper():
    ts = jnp.array([0.0, 10.0, 1e3])
    alphas = jnp.array([0.05, 0.3, 0.7, 1.0])  # batch of 4, as in the vmap test
    mu = analytic.solve_fixed_focus("hard", alphas, ts, C=20)
    assert mu.shape == (4, 3)
    np.testing.assert_allclose(mu, analytic.fixed_focus_margin("hard", alphas[:, None], ts, C=20),
                               atol=1e-9)


def test_argument_errors():
    ts = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="kind"):
        analytic.solve_flow("soft-ish", ts, m=20, C=20)
    with pytest.raises(ValueError, match="switch_time"):
        analytic.solve_flow("hybrid", ts, m=20, C=20)
    with pytest.raises(ValueError, match="switch_time"):
        analytic.solve_flow("soft", ts, m=20, C=20, switch_time=3.0)
    with pytest.raises(ValueError):
        analytic.solve_flow("soft", jnp.array([2.0, 1.0]), m=20, C=20)
    with pytest.raises(ValueError):
        analytic.solve_flow("soft", ts, m=0, C=20)
    with pytest.raises(ValueError, match="solver"):
        analytic.solve_flow("soft", ts, m=20, C=20, solver="euler")


def test_times_given_as_a_python_list():
    """The README's example: a list of times works like an array."""
    from analytic import solve_flow

    mu_list, nu_list = solve_flow("soft", [500.0, 3000.0], m=20, C=20)
    mu_arr, nu_arr = solve_flow("soft", np.array([500.0, 3000.0]), m=20, C=20)
    np.testing.assert_array_equal(np.asarray(nu_list), np.asarray(nu_arr))
