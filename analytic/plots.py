"""The three figures of ``attnjax verify``, drawn on pyplot-free Agg figures
(`attnjax.files.new_figure`) and written atomically; global matplotlib settings
are never touched."""

from __future__ import annotations

import math
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from attnjax.files import new_figure, save_figure_atomic

from .closed_form import fixed_focus_margin, invariant
from .setting import attention
from .solve import solve_fixed_focus, solve_flow

__all__ = ["verify_plots", "attention_figure", "phase_figure", "fixed_focus_figure"]

_NAMES = {"soft": "soft attention", "hard": "hard attention", "lvml": "LVML"}


def attention_figure(hybrid, *, m=20, C=20, T=3000.0):
    """alpha(t) from zero for soft, hard, LVML and the hybrid switched at
    ``hybrid.switch_time`` (a `analytic.HybridOptimum`); returns the Figure."""
    ts = jnp.logspace(0.0, math.log10(T), 255)
    fig = new_figure(figsize=(7, 4.5))
    ax = fig.subplots()
    runs = [(k, None, _NAMES[k]) for k in _NAMES] + [
        ("hybrid", hybrid.switch_time, f"hybrid (switch at t={hybrid.switch_time:.1f})")]
    for kind, tau, label in runs:
        _, nu = solve_flow(kind, ts, m=m, C=C, switch_time=tau)
        ax.plot(np.asarray(ts), np.asarray(attention(nu, m=m)), label=label,
                linestyle="--" if kind == "hybrid" else "-")
    for i, t in enumerate((500.0, 3000.0)):
        ax.axvline(t, color="0.7", linewidth=0.8, zorder=0,
                   label="t = 500, 3000: the paper's comparison times" if i == 0 else None)
    ax.set_xscale("log")
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel(r"foreground attention $\alpha(t)$")
    ax.set_title(f"Reduced gradient flow from zero, m = C = {m}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def phase_figure(*, m=20, C=20, T=3000.0):
    """(mu, nu) trajectories over the level curves of the invariant; returns the Figure.

    Each starting point has its own colour (the same in the three panels, named in the
    legend); a trajectory runs from its dot (t = 0) to its arrow head (t = ``T``, or where
    it leaves the frame).
    """
    starts = [(0.0, 0.0), (0.0, 3.0), (4.0, -2.0), (8.0, 0.0)]
    ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-1.0, math.log10(T), 254)])
    fig = new_figure(figsize=(13, 5.0), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    mu_grid, nu_grid = np.meshgrid(np.linspace(-0.5, 10.0, 220), np.linspace(-3.0, 9.5, 220))
    # Background level curves through evenly spaced points of the two axes.
    through = [(x, 0.0) for x in np.linspace(1.0, 10.0, 10)] + [
        (0.0, y) for y in np.linspace(-2.5, 9.0, 13)]
    for ax, kind in zip(axes, _NAMES):
        levels = []
        for i, (mu0, nu0) in enumerate(starts):
            mu, nu = solve_flow(kind, ts, m=m, C=C, mu0=mu0, nu0=nu0)
            mu, nu = np.asarray(mu), np.asarray(nu)
            ax.plot(mu, nu, linewidth=2.2, color=f"C{i}",
                    label=rf"start $(\mu_0, \nu_0) = ({mu0:g}, {nu0:g})$")
            ax.plot([mu0], [nu0], "o", color=f"C{i}", markeredgecolor="k", markersize=5, zorder=4)
            inside = (mu >= -0.5) & (mu <= 10.0) & (nu >= -3.0) & (nu <= 9.5)
            k = int(np.flatnonzero(inside)[-1]) if inside.any() else 0
            if k > 0:  # arrow head at the last point inside the frame, pointing along the flow
                ax.annotate("", xy=(mu[k], nu[k]), xytext=(mu[k - 1], nu[k - 1]),
                            arrowprops=dict(arrowstyle="-|>", color=f"C{i}", lw=0, mutation_scale=14))
            levels.append(float(invariant(kind, mu0, nu0, m=m, C=C)))
        inv = np.asarray(invariant(kind, mu_grid, nu_grid, m=m, C=C))
        background = sorted({float(invariant(kind, x, y, m=m, C=C)) for x, y in through})
        ax.contour(mu_grid, nu_grid, inv, levels=background, colors="0.75", linewidths=0.5,
                   linestyles="solid")
        ax.contour(mu_grid, nu_grid, inv, levels=sorted(set(levels)), colors="k",
                   linewidths=0.8, linestyles=":")
        ax.set_title(_NAMES[kind])
        ax.set_xlabel(r"classifier margin $\mu$")
        ax.set_xlim(-0.5, 10.0)
        ax.set_ylim(-3.0, 9.5)
    axes[0].set_ylabel(r"focus score $\nu$")
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="k", linewidth=0.8, linestyle=":"),
                Line2D([], [], color="0.75", linewidth=0.5)]
    labels += ["level curve through a start", "other level curves"]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
    fig.suptitle(f"Gradient-flow trajectories for t from 0 to {T:g}, m = C = {m}, over the level curves of the "
                 "invariant G(ν) − Ψ(μ)\ncolour: the starting point (dot); arrow head: where the trajectory "
                 f"ends at t = {T:g} or leaves the frame")
    return fig


def fixed_focus_figure(*, C=20, T=1e4):
    """Fixed-focus mu(t): closed form (lines) against the ODE (circles); returns the Figure."""
    from matplotlib.lines import Line2D

    ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-1.0, math.log10(T), 300)])
    marks = jnp.logspace(0.0, math.log10(T), 14)
    fig = new_figure(figsize=(13, 4.4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, kind in zip(axes, _NAMES):
        for i, alpha in enumerate((0.2, 0.4, 0.6, 0.8, 1.0)):
            closed = fixed_focus_margin(kind, alpha, ts, C=C)
            ax.plot(np.asarray(ts[1:]), np.asarray(closed[1:]), color=f"C{i}",
                    label=rf"$\alpha$={alpha}")
            ode = solve_fixed_focus(kind, alpha, marks, C=C)
            ax.plot(np.asarray(marks), np.asarray(ode), "o", color=f"C{i}", markersize=3.5,
                    markerfacecolor="none")
        ax.set_xscale("log")
        ax.set_xlabel("t")
        ax.set_title(_NAMES[kind])
    axes[0].set_ylabel(r"margin $\mu(t)$, focus fixed")
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3"), Line2D([], [], color="0.3", marker="o", linestyle="none",
                                                    markersize=3.5, markerfacecolor="none")]
    labels += ["closed form", "ODE solution"]
    axes[0].legend(handles, labels, loc="upper left", fontsize=8)
    fig.suptitle(f"Fixed focus, C = {C}: closed form (lines) against the ODE (circles)")
    return fig


def verify_plots(out_dir, *, progress: Callable[[str], None] | None = None,
                 hybrid=None) -> list[str]:
    """Write ``attention_vs_time.png``, ``phase_portrait.png`` and ``fixed_focus.png``.

    Runs inside ``jax.enable_x64(True)``.

    Arguments:
        out_dir: directory to write into (created if needed).
        progress: optional callable receiving ``"plot <file>"`` before each figure.
        hybrid: the `analytic.HybridOptimum` for m = C = 20, T = 3000 (computed
            with `analytic.best_switch_time` when None).

    Returns:
        The paths written, as strings.

    Raises:
        OSError: if a file cannot be written.
    """
    out_dir = pathlib.Path(out_dir)
    paths = []
    with jax.enable_x64(True):
        if hybrid is None:
            from .hybrid import best_switch_time

            hybrid = best_switch_time(m=20, C=20, T=3000.0, mode="forward")
        jobs = [("attention_vs_time.png", lambda: attention_figure(hybrid), 120),
                ("phase_portrait.png", phase_figure, 110),
                ("fixed_focus.png", fixed_focus_figure, 110)]
        for name, draw, dpi in jobs:
            if progress is not None:
                progress(f"plot {name}")
            paths.append(str(save_figure_atomic(draw(), out_dir / name, dpi=dpi)))
    return paths
