"""Full-parameter gradient descent with attnjax's losses against the reduced flow."""

import numpy as np
import pytest

import analytic
from analytic_reference import printed_flow

KINDS = ("soft", "hard", "lvml")


@pytest.mark.parametrize("kind", KINDS)
def test_gd_is_euler_on_the_reduced_flow(kind):
    """On the manifold, one GD step of size lr on (u, W, b) is one Euler step of size lr
    on the printed (mu, nu) ODEs -- the time of the flow is steps * lr, no extra factor."""
    m, C, lr, t = 20, 20, 0.5, 200.0
    res = analytic.gradient_descent(kind, m=m, C=C, lr=lr, t=t)
    mu = nu = 0.0
    for _ in range(int(t / lr)):
        dmu, dnu = printed_flow(kind, mu, nu, m, C)
        mu, nu = mu + lr * dmu, nu + lr * dnu
    assert res.num_steps == 400 and res.time == t
    # 400 steps of O(1)-conditioned updates: rounding accumulates to ~1e-13.
    assert abs(float(res.mu) - mu) < 1e-11 and abs(float(res.nu) - nu) < 1e-11
    assert float(res.asymmetry) < 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_gd_error_is_first_order_in_lr(kind):
    res = analytic.gd_convergence_order(kind, m=20, C=20, t=500.0, lrs=[1.0, 0.5, 0.25, 0.125])
    errors = np.asarray(res["errors"])
    assert np.all(np.diff(errors) < 0)  # halving lr shrinks the error
    # Euler's global error is c lr + O(lr^2): the fitted slope is 1 + O(lr); at these
    # learning rates the measured slopes are within 0.01 of 1, so 0.05 is a safe bound.
    assert abs(res["order"] - 1.0) < 0.05
    ratios = errors[:-1] / errors[1:]
    np.testing.assert_allclose(ratios, 2.0, rtol=0.03)
    assert res["asymmetry"] < 1e-12


def test_manifold_map_round_trip():
    params = analytic.manifold_parameters(2.5, -1.25, C=6)
    mu, nu, asym = analytic.reduce_parameters(params)
    assert float(mu) == 2.5 and float(nu) == -1.25 and float(asym) == 0.0
    segments, labels = analytic.orthogonal_problem(m=4, C=6)
    assert segments.shape == (6, 4, 7) and list(np.asarray(labels)) == list(range(6))
    # The mean loss of the full model on the manifold equals the reduced loss.
    for kind in KINDS:
        full = float(analytic.full_mean_loss(kind, params, segments, labels))
        reduced = float(analytic.reduced_loss(kind, 2.5, -1.25, m=4, C=6))
        assert full == pytest.approx(reduced, rel=1e-14)


def test_gd_arguments():
    with pytest.raises(ValueError, match="whole number"):
        analytic.gradient_descent("soft", m=20, C=20, lr=0.3, t=1.0)
    with pytest.raises(ValueError):
        analytic.gradient_descent("soft", m=20, C=20, lr=0.0, t=1.0)
    with pytest.raises(ValueError):
        analytic.gradient_descent("attention", m=20, C=20, lr=0.5, t=1.0)
