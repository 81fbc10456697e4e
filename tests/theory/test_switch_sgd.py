"""The hybrid's best switch time: attnjax's gradient descent approaches the flow's tau*.

Small size (m = C = 5, T = 300: tau* ~ 51.8, alpha* ~ 0.98599) with lr = 1 and 0.5, so
E = 300 and 600 epochs. attnjax trains in float32 (checked inside the module even under
this package's x64 fixture); the theory is float64.
"""

import jax
import numpy as np
import pytest

import analytic
from analytic.switch_sgd import parabola_peak, switch_grid

M, C, T, LRS = 5, 5, 300.0, (1.0, 0.5)


@pytest.fixture(scope="module")
def result():
    # Module-scoped, so outside the function-scoped x64 fixture: hold the same context.
    with jax.enable_x64(True):
        return analytic.switch_theory_vs_sgd(m=M, C=C, T=T, lrs=LRS, n_switch=16, window=0.08,
                                             n_curve=5)


def test_theory_optimum(result):
    th = result["theory"]
    opt = analytic.best_switch_time(m=M, C=C, T=T)
    assert th["tau_star"] == opt.switch_time and 0 < th["tau_star"] < T
    # nu* from the batched solve agrees with the optimiser's alpha*.
    assert float(analytic.attention(th["nu_star"], m=M)) == pytest.approx(th["alpha_star"], abs=1e-12)
    assert result["settings"]["sgd_dtype"] == "float32"


def test_sgd_switch_approaches_theory(result):
    runs = result["runs"]
    gaps = np.array([r["gap_time"] for r in runs])
    tau_star = result["theory"]["tau_star"]
    for r in runs:
        assert r["epochs"] == round(T / r["lr"])
        # The grid and parabola alone, applied to the exact curve, miss tau* by ~0.1 flow
        # units (the peak is asymmetric): at most half the gap (measured <= 0.3 of it), so
        # the gap and its halving measure gradient descent, not the grid.
        assert r["grid_resolution_gap_time"] < 0.5 * r["gap_time"]
    # Euler's error is first order in lr: halving lr halves the gap, up to O(lr^2).
    assert gaps[1] < gaps[0]
    assert 0.35 < gaps[1] / gaps[0] < 0.65
    # At lr = 0.5 the GD optimum lies within 1 flow unit of tau* (2% of tau*; the fine
    # switch grid's spacing is about 5 flow units, so this is sub-grid agreement).
    assert gaps[1] < 1.0 and gaps[1] < 0.02 * tau_star


def test_alpha_at_tau_star_is_first_order(result):
    th = result["theory"]
    alpha_star = th["alpha_star"]
    gaps = []
    for r in result["runs"]:
        lr = r["lr"]
        assert abs(r["switch_epoch_at_tau_star"] - th["tau_star"] / lr) <= 0.5
        # Euler's global error in nu over [0, T] is c * lr; c ~ 3e-3 here, so 1e-2 * lr
        # bounds it with room. dalpha/dnu = alpha (1 - alpha) turns that into alpha.
        assert r["nu_gap_at_tau_star"] <= 1e-2 * lr
        assert r["alpha_gap_at_tau_star"] <= alpha_star * (1 - alpha_star) * 1e-2 * lr
        gaps.append(r["alpha_gap_at_tau_star"])
    assert 0.35 < gaps[1] / gaps[0] < 0.65  # first order in lr
    # The best GD alpha is within the same O(lr) of alpha*.
    for r in result["runs"]:
        assert r["alpha_gap_best"] <= alpha_star * (1 - alpha_star) * 1e-2 * r["lr"]


def test_parabola_peak_and_grid():
    x = np.arange(0.0, 10.0)
    y = -((x - 4.3) ** 2)
    peak, value, i = parabola_peak(x, y)
    assert i == 4 and peak == pytest.approx(4.3) and value == pytest.approx(0.0, abs=1e-12)
    assert parabola_peak(x, x)[0] == 9.0  # increasing: the end point
    grid = switch_grid(100, 37.4, n_coarse=5, n_fine=5, half_width=4)
    assert grid[0] == 0 and grid[-1] == 100 and 37 in grid and np.all(np.diff(grid) > 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="whole number"):
        analytic.switch_theory_vs_sgd(m=M, C=C, T=T, lrs=(0.7,))
    with pytest.raises(ValueError, match="distinct"):
        analytic.switch_theory_vs_sgd(m=M, C=C, T=T, lrs=(1.0, 1.0))
