"""The hybrid's best switch time: the exact flow against attnjax's own gradient descent.

`analytic.best_switch_time` finds the switch time tau* (soft -> hard attention)
that maximises the final foreground attention alpha(T) of the reduced gradient flow.
Here the same question is asked of real training: attnjax's hybrid
(``TrainConfig(loss="hybrid", model="linear")``) on the orthogonal data (one mosaic per
class, foreground first, zero background), from zero, with full-batch plain gradient
descent (batch = C, momentum 0, so optax's ``sgd`` with ``momentum=None``: one step
``theta <- theta - lr * grad`` per epoch). After ``n`` steps of size ``lr`` the state
approximates the flow at time ``t = n * lr`` (`analytic.gradient_descent`), so a
switch at epoch ``s`` is a switch at flow time ``s * lr``, and the run of
``E = round(T / lr)`` epochs ends at time T.

For each learning rate, one ``jit(vmap(train))`` program trains every switch epoch of a
grid (the grid is the seed axis; with zero initialisation the key is irrelevant). The
grid is a uniform cover of [0, E] plus a finer window around tau*/lr, since the optimum
is flat and asymmetric (alpha(T) falls much faster after tau* than before it). The best
switch epoch is the grid's argmax of the final focus score nu = log-odds of alpha plus
log(m - 1), refined by the parabola through the three best neighbouring grid points.

Precision: attnjax's training runs in float32 (what users run; held with
``jax.enable_x64(False)`` even inside an x64 context), the theory in float64 (under
``jax.enable_x64(True)``). Nothing here changes global JAX or matplotlib state.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._common import check_size
from .hybrid import best_switch_time
from .solve import solve_flow

__all__ = ["switch_theory_vs_sgd", "switch_figure", "theory_final_nu", "parabola_peak", "switch_grid"]


def theory_final_nu(switch_times, *, m, C, T):
    """nu(T) of the hybrid flow for each switch time (float64, one vmapped diffrax solve).

    Arguments:
        switch_times: 1-D switch times in [0, T].
        m, C: segments and classes; T: final time.

    Returns:
        ``[n]`` NumPy float64 array of nu(T) (``alpha(T) = attention(nu, m=m)``).

    Raises:
        RuntimeError: if a solve failed (NaN).
    """
    with jax.enable_x64(True):
        ts = jnp.asarray([float(T)], jnp.float64)
        taus = jnp.asarray(np.asarray(switch_times, np.float64))
        nus = np.asarray(_theory_batch(taus, ts, m=int(m), C=int(C)))
    if not np.all(np.isfinite(nus)):
        raise RuntimeError("a hybrid solve of the theory curve failed")
    return nus


@functools.partial(jax.jit, static_argnames=("m", "C"))
def _theory_batch(taus, ts, *, m, C):
    def one(tau):
        return solve_flow("hybrid", ts, m=m, C=C, switch_time=tau, on_failure="nan")[1][-1]

    return jax.vmap(one)(taus)


def _alpha(nu, m):
    """alpha = e^nu / (e^nu + m - 1), in float64 NumPy."""
    return 1.0 / (1.0 + (m - 1) * np.exp(-np.asarray(nu, np.float64)))


def parabola_peak(x, y):
    """Argmax of sampled values, refined by the parabola through the best point and its
    two grid neighbours.

    Arguments:
        x: increasing sample positions; y: values there.

    Returns:
        ``(x_peak, y_peak, index)``: the refined position and value (the grid point itself
        at either end of the grid, or when the three points are not concave), and the
        index of the best grid point.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    i = int(np.argmax(y))
    if i == 0 or i == len(x) - 1:
        return float(x[i]), float(y[i]), i
    xs, ys = x[i - 1:i + 2], y[i - 1:i + 2]
    a, b, c = np.polyfit(xs - xs[1], ys, 2)
    if not a < 0:
        return float(x[i]), float(y[i]), i
    dx = float(np.clip(-b / (2 * a), xs[0] - xs[1], xs[2] - xs[1]))
    return float(xs[1] + dx), float(a * dx * dx + b * dx + c), i


def switch_grid(epochs, center, *, n_coarse, n_fine, half_width):
    """Switch epochs: ``n_coarse`` uniform over [0, epochs], ``n_fine`` uniform over
    ``center +- half_width`` (clipped to [0, epochs]), and ``round(center)``; sorted, unique.
    """
    coarse = np.linspace(0, epochs, n_coarse)
    lo, hi = max(0.0, center - half_width), min(float(epochs), center + half_width)
    fine = np.linspace(lo, hi, n_fine)
    grid = np.concatenate([coarse, fine, [center]])
    return np.unique(np.clip(np.round(grid), 0, epochs).astype(np.int32))


def _orthogonal(m, C):
    from attnjax.data import load_orthogonal

    return load_orthogonal(num_classes=C, m=m, n_train=C, n_test=C, noise=0.0, random_position=False)


def _sgd_final_nu(*, m, C, lr, epochs, grid):
    """Train attnjax's hybrid (float32, full-batch GD) at each switch epoch of ``grid``.

    Returns:
        ``(nu [G], alpha [G], seconds, config)``: the final foreground focus score and the
        mean final foreground attention over the training mosaics, per switch epoch.
    """
    from attnjax.experiments import train_seeds
    from attnjax.train import TrainConfig, make_apply

    with jax.enable_x64(False):
        data, info = _orthogonal(m, C)
        config = TrainConfig.for_data(
            info, loss="hybrid", model="linear", epochs=int(epochs), batch_size=C, momentum=0.0
        )
        runs = train_seeds(config, data, seeds=len(grid), learning_rate=lr, switch_epoch=grid)
        dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves(runs.params)}
        if dtypes != {np.dtype(np.float32)}:
            raise RuntimeError(f"attnjax trained in {dtypes}, expected float32")
        focus_fn, _ = make_apply(config)
        segments = data.pool[data.train.index]  # [C, m, C + 1], foreground at position 0
        fg = np.asarray(data.train.fg_pos)

        @jax.jit
        @jax.vmap
        def scores(params):
            flat = segments.reshape((-1,) + segments.shape[2:])
            return focus_fn(params)(flat).reshape(segments.shape[:2])

        s = np.asarray(scores(runs.params), np.float64)  # [G, C, m] float32 scores
    assert s.dtype == np.float64 and np.all(fg == 0)
    fg_score = s[:, :, 0]
    bg = s[:, :, 1:]
    top = bg.max(-1, keepdims=True)
    bg_lse = top[..., 0] + np.log(np.exp(bg - top).sum(-1))
    # nu = score_fg - log mean exp(score_bg): the score u_y when the background scores 0.
    nu_per_example = fg_score - bg_lse + np.log(m - 1)
    alpha = 1.0 / (1.0 + np.exp(bg_lse - fg_score))  # softmax weight of the foreground
    return nu_per_example.mean(1), alpha.mean(1), runs.seconds, config


def switch_theory_vs_sgd(*, m=20, C=20, T=3000.0, lrs=(1.0, 0.5, 0.25), n_switch=30,
                         window=0.04, n_curve=121):
    """Best hybrid switch time: the flow's tau* against attnjax gradient descent at each lr.

    Arguments:
        m, C: segments and classes (integers >= 2).
        T: final flow time; each lr trains ``E = round(T / lr)`` epochs (T / lr must be
            a whole number).
        lrs: learning rates of full-batch plain gradient descent.
        n_switch: switch epochs trained per lr: a third uniform over [0, E], the rest
            uniform over ``tau*/lr +- window * T / lr`` (plus ``round(tau*/lr)``).
        window: half-width of the fine window as a fraction of T.
        n_curve: points of the theory curve alpha(T; tau) on [0, T] for the figure.

    Returns:
        A JSON-ready dict: ``settings``, ``theory`` (tau*, alpha*, nu*, the curve) and
        ``runs`` (one dict per lr: the switch epochs, their flow times, SGD and theory
        nu/alpha there, the best switch epoch and time, and the gaps), plus
        ``gap_order`` (least-squares slope of log gap against log lr).

    Raises:
        ValueError: on bad sizes, a non-positive lr, or T / lr not a whole number.
        RuntimeError: if the best SGD switch lies at the edge of the fine window (widen it).
    """
    m, C = check_size("m", m), check_size("C", C)
    T = float(T)
    lrs = [float(lr) for lr in lrs]
    if not T > 0 or not lrs or min(lrs) <= 0:
        raise ValueError(f"need T > 0 and positive learning rates, got T={T}, lrs={lrs}")
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"learning rates must be distinct, got {lrs}")
    if n_switch < 6:
        raise ValueError(f"n_switch must be at least 6, got {n_switch}")
    epochs = {lr: int(round(T / lr)) for lr in lrs}
    for lr, E in epochs.items():
        if abs(E * lr - T) > 1e-9 * T:
            raise ValueError(f"T={T} is not a whole number of steps of lr={lr}")
    with jax.enable_x64(True):
        opt = best_switch_time(m=m, C=C, T=T)
        tau_star, alpha_star = opt.switch_time, opt.alpha
    n_coarse = max(3, n_switch // 3)
    grids = {
        lr: (E, switch_grid(E, tau_star / lr, n_coarse=n_coarse, n_fine=n_switch - n_coarse,
                            half_width=window * T / lr))
        for lr, E in epochs.items()
    }
    # Every theory point in one vmapped solve (one compiled program): the plotted curve,
    # tau* itself, and each lr's switch times.
    curve_tau = np.linspace(0.0, T, n_curve)
    parts = [curve_tau, [tau_star]] + [grid * lr for lr, (_, grid) in grids.items()]
    all_nu = np.split(theory_final_nu(np.concatenate(parts), m=m, C=C, T=T),
                      np.cumsum([len(p) for p in parts])[:-1])
    curve_nu, nu_star = all_nu[0], float(all_nu[1][0])
    runs = []
    for (lr, (E, grid)), theory_nu in zip(grids.items(), all_nu[2:]):
        center = tau_star / lr
        nu, alpha, seconds, config = _sgd_final_nu(m=m, C=C, lr=lr, epochs=E, grid=grid)
        best_epoch, best_nu, i = parabola_peak(grid, nu)
        fine = (grid >= center - window * T / lr) & (grid <= center + window * T / lr)
        inside = np.flatnonzero(fine)
        if not inside[0] < i < inside[-1] and 0 < tau_star < T:
            raise RuntimeError(
                f"lr={lr}: the best SGD switch epoch {grid[i]} is at the edge of the fine "
                f"window [{grid[inside[0]]}, {grid[inside[-1]]}]; raise `window`"
            )
        times = grid * lr
        # The same grid and parabola applied to the theory: the part of the gap that is
        # the grid's resolution rather than gradient descent.
        grid_tau, _, _ = parabola_peak(times, theory_nu)
        at = int(np.flatnonzero(grid == int(round(center)))[0])
        best_tau = best_epoch * lr
        best_alpha = float(_alpha(best_nu, m))
        runs.append({
            "lr": lr,
            "epochs": E,
            "switch_epochs": grid,
            "switch_times": times,
            "sgd_nu": nu,
            "sgd_alpha": alpha,
            "theory_nu": theory_nu,
            "theory_alpha": _alpha(theory_nu, m),
            "best_switch_epoch": best_epoch,
            "best_switch_grid_epoch": int(grid[i]),
            "best_switch_time": best_tau,
            "tau_star_epochs": center,
            "gap_time": abs(best_tau - tau_star),
            "grid_resolution_gap_time": abs(grid_tau - tau_star),
            "sgd_best_nu": best_nu,
            "sgd_best_alpha": best_alpha,
            "alpha_gap_best": abs(best_alpha - alpha_star),
            "nu_gap_best": abs(best_nu - nu_star),
            "switch_epoch_at_tau_star": int(grid[at]),
            "sgd_alpha_at_tau_star": float(alpha[at]),
            "alpha_gap_at_tau_star": abs(float(alpha[at]) - alpha_star),
            "nu_gap_at_tau_star": abs(float(nu[at]) - nu_star),
            "seconds": seconds,
            "train_config": config.to_json(),
        })
    gaps = np.array([r["gap_time"] for r in runs])
    order = (float(np.polyfit(np.log(lrs), np.log(gaps), 1)[0])
             if len(lrs) > 1 and np.all(gaps > 0) else None)
    return {
        "settings": {
            "m": m, "C": C, "T": T, "lrs": lrs, "n_switch": n_switch, "window": window,
            "n_curve": n_curve, "data": "load_orthogonal(noise=0, random_position=False, "
            "n_train=n_test=C)", "optimizer": "full-batch gradient descent, momentum 0",
            "sgd_dtype": "float32", "theory_dtype": "float64",
            "switch_time": "switch_epoch * lr (epochs before the switch are soft)",
        },
        "theory": {
            "tau_star": tau_star, "alpha_star": alpha_star, "nu_star": nu_star,
            "gradient_at_tau_star": opt.gradient,
            "curve_switch_times": curve_tau, "curve_nu": curve_nu,
            "curve_alpha": _alpha(curve_nu, m),
        },
        "runs": runs,
        "gap_order": order,
    }


def switch_figure(result, *, figsize=(12.0, 4.8)):
    """Final alpha against the switch time (theory curve, SGD points), and gap against lr.

    Arguments:
        result: the dict of `switch_theory_vs_sgd` (or its JSON).

    Returns:
        A matplotlib Figure (drawn on ``attnjax.files.new_figure``; no pyplot).
    """
    from attnjax.files import new_figure

    s, th, runs = result["settings"], result["theory"], result["runs"]
    fig = new_figure(figsize=figsize)
    ax, ax_gap = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1.0]})
    tau_star, T = th["tau_star"], s["T"]
    # The theory at the plotted grid and at every switch time trained: a smooth curve.
    pts = sorted(zip(np.concatenate([th["curve_switch_times"]] + [r["switch_times"] for r in runs]),
                     np.concatenate([th["curve_alpha"]] + [r["theory_alpha"] for r in runs])))
    ax.plot(*zip(*pts), color="black", lw=1.5,
            label="flow (theory)", zorder=3)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    # The lrs differ by ~1e-7 in alpha: decreasing marker sizes, hollow, keep each visible.
    for k, (r, color) in enumerate(zip(runs, colors * len(runs))):
        ax.plot(r["switch_times"], r["sgd_alpha"], "o", ms=max(3.0, 10.0 - 3.0 * k),
                mfc="none", mew=1.3, color=color,
                label=f"GD lr={r['lr']:g} (E={r['epochs']}), best tau {r['best_switch_time']:.2f}")
        ax.axvline(r["best_switch_time"], color=color, ls=":", lw=1.2)
    ax.axvline(tau_star, color="black", ls="--", lw=1.2, label=f"tau* = {tau_star:.1f}")
    # Zoom on the top of the curve, where the optimum is; the whole range is in the inset.
    zoom = s["window"] * T

    def near(times, values):
        times, values = np.asarray(times), np.asarray(values)
        return values[np.abs(times - tau_star) <= zoom]

    lo = min([near(r["switch_times"], r["sgd_alpha"]).min() for r in runs]
             + [near(th["curve_switch_times"], th["curve_alpha"]).min()])
    hi = max([np.max(r["sgd_alpha"]) for r in runs] + [th["alpha_star"]])
    pad = 0.05 * (hi - lo)
    ax.set_xlim(max(0.0, tau_star - zoom), min(T, tau_star + zoom))
    ax.set_ylim(lo - pad, hi + 4 * pad)
    ax.set_xlabel("switch time tau = switch epoch x lr (flow units)")
    ax.set_ylabel("final foreground attention alpha(T)")
    ax.set_title("final alpha against the switch time (zoom on the optimum)")
    ax.legend(fontsize=8, loc="lower center")
    ax.ticklabel_format(axis="y", useOffset=False)
    inset = ax.inset_axes([0.035, 0.62, 0.28, 0.28])
    inset.plot(th["curve_switch_times"], th["curve_alpha"], color="black", lw=1)
    for r, color in zip(runs, colors * len(runs)):
        inset.plot(r["switch_times"], r["sgd_alpha"], "o", ms=2, color=color)
    inset.axvline(tau_star, color="black", ls="--", lw=0.8)
    inset.set_title("whole range [0, T]", fontsize=7)
    inset.tick_params(labelsize=6)

    lrs = np.array([r["lr"] for r in runs])
    gaps = np.array([r["gap_time"] for r in runs])
    res = np.array([r["grid_resolution_gap_time"] for r in runs])
    ax_gap.loglog(lrs, gaps, "o-", color="tab:blue", label="|best tau (GD) - tau*|")
    ax_gap.loglog(lrs, res, "x", color="gray", label="same grid on the theory curve")
    ref = gaps[0] * lrs / lrs[0]
    ax_gap.loglog(lrs, ref, "k--", lw=0.8, label="slope 1")
    if result.get("gap_order") is not None:
        ax_gap.set_title(f"switch-time gap against lr (fitted slope {result['gap_order']:.2f})")
    else:
        ax_gap.set_title("switch-time gap against lr")
    ax_gap.set_xlabel("learning rate lr")
    ax_gap.set_ylabel("gap in flow time")
    ax_gap.legend(fontsize=8)
    fig.suptitle(
        f"Hybrid soft->hard: best switch, flow against attnjax full-batch GD "
        f"(m={s['m']}, C={s['C']}, T={s['T']:g}; GD float32, theory float64)"
    )
    fig.tight_layout()
    return fig
