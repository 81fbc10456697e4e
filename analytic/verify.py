"""Numerical checks of the analytic package, and the plots that go with them.

:func:`run_verify` is what ``attnjax verify`` calls: it switches on float64, runs every
check of :func:`run_checks`, draws three figures and writes ``verify.json``.
Each check compares two independent computations (a closed form and an ODE solve, the
automatic-differentiation flow and the authors' printed ODEs, full-parameter gradient
descent and the reduced flow, ...) and passes when the discrepancy is within a stated
tolerance.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import tempfile
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Check", "run_checks", "verify_plots", "run_verify", "format_table", "PAPER_ALPHAS"]

#: The paper's example (m = C = 20, from zero): foreground attention at two times.
PAPER_ALPHAS = {("soft", 500.0): 0.175, ("hard", 500.0): 0.152,
                ("soft", 3000.0): 0.961, ("hard", 3000.0): 0.997}


class Check(NamedTuple):
    """One verification result.

    Attributes:
        name: short identifier, e.g. ``invariant_drift[hard,m=100,C=1000]``.
        error: the measured discrepancy (its meaning is in ``detail``).
        tolerance: the largest acceptable error.
        passed: ``error <= tolerance`` (and every side condition in ``detail`` held).
        detail: what was measured, in words and numbers.
    """

    name: str
    error: float
    tolerance: float
    passed: bool
    detail: str


def _check(name, error, tolerance, detail, extra_ok=True) -> Check:
    error = float(error)
    passed = bool(math.isfinite(error) and error <= tolerance and extra_ok)
    return Check(name, error, float(tolerance), passed, detail)


# ----------------------------------------------------------------------------- the checks


class _Context:
    """Results shared between checks and plots (so nothing is solved twice)."""

    def __init__(self):
        self.hybrid = None


def _hybrid_optimum(ctx, m=20, C=20, T=3000.0):
    from .hybrid import best_switch_time

    if ctx.hybrid is None:
        ctx.hybrid = best_switch_time(m=m, C=C, T=T, mode="forward")
    return ctx.hybrid


def _check_flow_vs_authors(quick):
    from .setting import authors_flow, reduced_flow

    out = []
    rng = np.random.default_rng(0)
    n = 400
    for kind in ("soft", "hard", "lvml"):
        worst = 0.0
        for m, C in ((20, 20), (100, 1000)):
            # nu <= 8 keeps the printed formula's 1 - alpha well conditioned.
            mu, nu = rng.uniform(-2.0, 15.0, n), rng.uniform(-4.0, 8.0, n)
            ours = np.stack([np.asarray(v) for v in reduced_flow(kind, mu, nu, m=m, C=C)])
            theirs = np.stack([np.asarray(v) for v in authors_flow(kind, mu, nu, m=m, C=C)])
            worst = max(worst, float(np.max(np.abs(ours - theirs) / np.abs(theirs))))
        out.append(_check(
            f"flow_vs_authors[{kind}]", worst, 1e-10,
            f"max relative difference of (mu', nu') from jax.grad of the reduced loss vs the "
            f"authors' printed ODEs at {n} random points each for (m,C)=(20,20),(100,1000), "
            "mu in [-2,15], nu in [-4,8]",
        ))
    return out


def _check_time_scaling(quick):
    from .gradient_descent import full_gradient_velocity
    from .setting import reduced_flow

    out = []
    points = [(0.0, 0.0), (1.3, -0.4), (5.0, 3.0)] + ([] if quick else [(9.0, 7.5)])
    for kind in ("soft", "hard", "lvml"):
        worst = 0.0
        for m, C in ((20, 20), (4, 6)):
            for mu, nu in points:
                full = np.array([float(v) for v in full_gradient_velocity(kind, mu, nu, m=m, C=C)])
                red = np.array([float(v) for v in reduced_flow(kind, mu, nu, m=m, C=C)])
                worst = max(worst, float(np.max(np.abs(full - red)) / np.max(np.abs(red))))
        out.append(_check(
            f"time_scaling[{kind}]", worst, 1e-10,
            "max relative difference between -grad of the mean loss over the full parameters "
            "(attnjax.losses, mapped to mu' = dW[y,y]-dW[k,y], nu' = du_y) and "
            "(-(1/(C-1)) dL/dmu, -(1/C) dL/dnu) of the reduced loss, at points of the "
            "manifold for (m,C)=(20,20),(4,6)",
        ))
    return out


def _check_invariants(quick):
    from .closed_form import focus_potential, invariant
    from .solve import solve_flow

    out = []
    settings = [(20, 20, 3000.0)] + ([] if quick else [(100, 1000, 4e5)])
    for m, C, T in settings:
        # 63 report times (the solver's steps do not depend on them).
        ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-2.0, math.log10(T), 62)])
        for kind in ("soft", "hard", "lvml"):
            mu, nu, stats = solve_flow(kind, ts, m=m, C=C, return_stats=True)
            inv = invariant(kind, mu, nu, m=m, C=C)
            scale = jnp.maximum(1.0, jnp.abs(focus_potential(nu, m=m)))
            drift = float(jnp.max(jnp.abs(inv - inv[0]) / scale))
            out.append(_check(
                f"invariant_drift[{kind},m={m},C={C}]", drift, 1e-8,
                f"max |I(t)-I(0)| / max(1, |G(nu)|) of G(nu)-Psi(mu) at 63 log-spaced times "
                f"along the Dopri8 solve "
                f"to t={T:g} ({int(stats.num_steps)} steps, {int(stats.num_fev)} evaluations); "
                f"final mu={float(mu[-1]):.6f}, nu={float(nu[-1]):.6f}",
            ))
    return out


def _check_hard_potential(quick):
    """Psi_HA's dilogarithm closed form against Gauss-Legendre quadrature (numpy only)."""
    from .closed_form import margin_potential

    nodes, weights = np.polynomial.legendre.leggauss(120)
    worst = 0.0
    for C in (2, 20, 1000):
        for mu in (0.5, 3.0, math.log(C - 1) + 0.25, 12.0, 25.0):
            # Integrand of Psi' on [0, mu], split in 8 panels for the e^s growth.
            total = 0.0
            edges = np.linspace(0.0, mu, 9)
            for a, b in zip(edges[:-1], edges[1:]):
                s = 0.5 * (b - a) * nodes + 0.5 * (a + b)
                log_den = np.logaddexp(s, math.log(C - 1))
                f = np.exp(log_den) * (math.log(C) + s - log_den) / C
                total += 0.5 * (b - a) * float(np.sum(weights * f))
            got = float(margin_potential("hard", mu, C=C))
            worst = max(worst, abs(got - total) / abs(total))
    return [_check(
        "hard_potential_vs_quadrature", worst, 1e-12,
        "max relative difference of the dilogarithm closed form of Psi_hard(mu) from "
        "120-point Gauss-Legendre quadrature (8 panels) of (1/C) int (e^s+C-1) log(C beta) ds, "
        "C in {2,20,1000}, mu up to 25",
    )]


def _check_fixed_focus(quick):
    from .closed_form import fixed_focus_margin
    from .solve import solve_fixed_focus

    out = []
    alphas = (0.2, 0.6, 1.0) if quick else (0.2, 0.4, 0.6, 0.8, 1.0)
    for kind in ("soft", "hard", "lvml"):
        worst, zero = 0.0, 0.0
        for C, T in ((20, 1e4), (1000, 4e5)):
            ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-1.0, math.log10(T), 60)])
            for alpha in alphas:
                closed = fixed_focus_margin(kind, alpha, ts, C=C)
                ode = solve_fixed_focus(kind, alpha, ts, C=C)
                worst = max(worst, float(jnp.max(jnp.abs(closed - ode))))
                zero = max(zero, abs(float(closed[0])))
        out.append(_check(
            f"fixed_focus[{kind}]", worst, 1e-8,
            f"max |mu_closed(t) - mu_ode(t)| for alpha in {list(alphas)}, (C, t_max) = "
            f"(20, 1e4), (1000, 4e5) (Wright omega / implicit LVML inversion vs Dopri8); "
            f"|mu(0)| <= {zero:.1e}",
            extra_ok=zero <= 1e-12,
        ))
    return out


@functools.partial(jax.jit, static_argnums=0)
def _start_slope(kind, m, C):
    from .setting import _flow

    return jax.grad(lambda x: _flow(kind, x, jnp.zeros_like(x), m, C)[1])(jnp.zeros_like(m))


def _check_start(quick):
    from .closed_form import fixed_focus_margin, invariant
    from .setting import reduced_flow, reduced_loss

    worst = 0.0
    for m, C in ((20, 20), (100, 1000), (2, 2)):
        for kind in ("soft", "hard", "lvml"):
            dmu, dnu = (float(v) for v in reduced_flow(kind, 0.0, 0.0, m=m, C=C))
            loss = float(reduced_loss(kind, 0.0, 0.0, m=m, C=C))
            # Second order: d nu'/d mu at 0 is alpha(1-alpha)(C-1)/C^2 for all three.
            slope = float(_start_slope(kind, float(m), float(C)))
            expect = (1.0 / m) * (1.0 - 1.0 / m) * (C - 1.0) / C**2
            worst = max(
                worst,
                abs(dmu * m * C - 1.0),
                abs(dnu),
                abs(loss - math.log(C)) / math.log(C),
                abs(slope - expect) / expect,
                abs(float(invariant(kind, 0.0, 0.0, m=m, C=C))),
                abs(float(fixed_focus_margin(kind, 0.5, 0.0, C=C))),
            )
    return [_check(
        "start_identities", worst, 1e-13,
        "at mu = nu = 0 every loss equals log C, every flow is (1/(mC), 0), d nu'/d mu equals "
        "alpha(1-alpha)(C-1)/C^2 for all three (first-order agreement), the invariant is 0 and "
        "the fixed-focus closed forms give mu(0) = 0; (m,C) in {(20,20),(100,1000),(2,2)}",
    )]


def _check_gd_order(quick):
    from .gradient_descent import gd_convergence_order

    out = []
    lrs = [1.0, 0.5, 0.25] if quick else [1.0, 0.5, 0.25, 0.125]
    for kind in ("soft", "hard", "lvml"):
        res = gd_convergence_order(kind, m=20, C=20, t=500.0, lrs=lrs)
        errs = ", ".join(f"{e:.3e}" for e in res["errors"])
        out.append(_check(
            f"gd_order[{kind}]", abs(res["order"] - 1.0), 0.05,
            f"full-parameter gradient descent (attnjax losses, orthogonal data, m=C=20) for "
            f"t/lr steps vs the reduced flow at t=500 (GD time = steps*lr): errors {errs} for "
            f"lr={lrs}; fitted order {res['order']:.4f} (error = |order - 1|); max deviation "
            f"from the symmetric manifold {res['asymmetry']:.1e}",
            extra_ok=res["asymmetry"] <= 1e-10,
        ))
    return out


def _check_hybrid(ctx, quick):
    from .hybrid import hybrid_final_score
    from .setting import attention

    m = C = 20
    T = 3000.0
    opt = _hybrid_optimum(ctx, m, C, T)
    out = []
    # (1) The optimum against a fine grid around it and the coarse grid.
    half = opt.grid_switch_times[1] - opt.grid_switch_times[0]
    fine = np.linspace(max(opt.switch_time - half, 0.0), min(opt.switch_time + half, T),
                       11 if quick else 41)
    fine_nu = np.array([float(hybrid_final_score(t, m=m, C=C, T=T, mode="forward")[0])
                        for t in fine])
    fine_alpha = np.asarray(attention(jnp.asarray(fine_nu), m=m))
    best_grid = max(float(fine_alpha.max()), float(opt.grid_alpha.max()))
    excess = max(0.0, best_grid - opt.alpha)
    spacing = fine[1] - fine[0]
    near = abs(fine[int(np.argmax(fine_alpha))] - opt.switch_time) <= spacing
    out.append(_check(
        "hybrid_optimum_vs_grid", excess, 1e-12,
        f"best switch time soft->hard (m=C=20, T=3000) by gradient-bracketed secant: "
        f"tau*={opt.switch_time:.4f}, alpha(T)={opt.alpha:.10f}, d nu(T)/d tau={opt.gradient:.2e} "
        f"after {opt.iterations} refinements; error = how much the best of a {len(fine)}-point "
        f"grid (spacing {spacing:.2f}) and the {len(opt.grid_alpha)}-point coarse grid beats it; "
        f"grid argmax within one spacing: {near}; hard only (tau=0) {opt.grid_alpha[0]:.7f}, "
        f"soft only (tau=T) {opt.grid_alpha[-1]:.7f}",
        extra_ok=bool(near),
    ))
    # (2) The derivative: forward and reverse mode against central finite differences.
    worst = 0.0
    pieces = []
    for tau in (300.0, 1000.0):
        _, g_fwd = hybrid_final_score(tau, m=m, C=C, T=T, mode="forward")
        value = lambda t: float(hybrid_final_score(t, m=m, C=C, T=T, mode="forward")[0])
        # Central differences at h = 1 and 2, Richardson-extrapolated (removes the h^2 term).
        d1, d2 = ((value(tau + h) - value(tau - h)) / (2 * h) for h in (1.0, 2.0))
        fd = (4 * d1 - d2) / 3
        worst = max(worst, abs(float(g_fwd) - fd) / abs(fd))
        pieces.append(f"tau={tau:g}: jvp {float(g_fwd):.9e}, FD {fd:.9e}")
        if not quick:
            _, g_rev = hybrid_final_score(tau, m=m, C=C, T=T, mode="reverse")
            worst = max(worst, abs(float(g_rev) - fd) / abs(fd))
            pieces.append(f"grad {float(g_rev):.9e}")
    out.append(_check(
        "hybrid_gradient_vs_fd", worst, 1e-6,
        "max relative difference of d nu(T)/d tau by autodiff through the diffrax solves "
        + ("(jax.jvp forward mode" + ("" if quick else " and jax.grad reverse mode") + ") ")
        + "from Richardson-extrapolated central differences (h = 1, 2): "
        + "; ".join(pieces),
    ))
    return out


def _check_paper(quick):
    from .setting import attention
    from .solve import solve_flow

    m = C = 20
    ts = jnp.asarray([500.0, 3000.0])
    alphas = {}
    for kind in ("soft", "hard"):
        _, nu = solve_flow(kind, ts, m=m, C=C)
        a = np.asarray(attention(nu, m=m))
        alphas[(kind, 500.0)], alphas[(kind, 3000.0)] = float(a[0]), float(a[1])
    err = max(abs(alphas[k] - v) for k, v in PAPER_ALPHAS.items())
    claim = alphas[("soft", 500.0)] > alphas[("hard", 500.0)] and (
        alphas[("hard", 3000.0)] > alphas[("soft", 3000.0)])
    listing = ", ".join(f"{k}@{t:g}: {alphas[(k, t)]:.5f} (paper {v})"
                        for (k, t), v in PAPER_ALPHAS.items())
    return [
        _check("paper_alpha_values", err, 5e-4,
               f"alpha at m=C=20 from zero: {listing}; error = max deviation (3 decimals)"),
        _check("paper_soft_leads_then_hard", 0.0 if claim else 1.0, 0.0,
               "soft attention's alpha leads at t=500 and hard attention's leads at t=3000: "
               f"{claim}"),
    ]


def _check_wright_omega(quick):
    from .closed_form import wright_omega

    x = np.concatenate([np.linspace(-700.0, -30.0, 200), np.linspace(-30.0, 30.0, 2001),
                        np.logspace(1.5, 8.0, 200)])
    w = np.asarray(wright_omega(x))
    identity = float(np.max(np.abs(w + np.log(w) - x) / np.maximum(1.0, np.abs(x))))
    known = abs(float(wright_omega(0.0)) - 0.5671432904097838)  # W(1), the omega constant
    worst = max(identity, known)
    detail = (f"max |omega + log omega - x| / max(1,|x|) = {identity:.1e} on x in [-700, 1e8], "
              f"|omega(0) - W(1)| = {known:.1e}")
    try:
        from scipy.special import wrightomega
    except ImportError:  # scipy is optional at run time
        detail += "; scipy not installed, comparison skipped"
    else:
        ref = wrightomega(x)
        rel = float(np.max(np.abs(w - ref) / ref))
        worst = max(worst, rel)
        detail += f", max relative difference from scipy.special.wrightomega {rel:.1e}"
    return [_check("wright_omega", worst, 1e-13, detail)]


def _all_checks(ctx, quick, progress):
    groups = [
        ("reduced flow vs the authors' ODEs", lambda: _check_flow_vs_authors(quick)),
        ("time scaling from the full parameters", lambda: _check_time_scaling(quick)),
        ("identities at the start", lambda: _check_start(quick)),
        ("Wright omega", lambda: _check_wright_omega(quick)),
        ("hard-attention potential vs quadrature", lambda: _check_hard_potential(quick)),
        ("invariant drift", lambda: _check_invariants(quick)),
        ("fixed-focus closed forms vs ODE", lambda: _check_fixed_focus(quick)),
        ("gradient descent order", lambda: _check_gd_order(quick)),
        ("paper's numbers", lambda: _check_paper(quick)),
        ("hybrid switch time", lambda: _check_hybrid(ctx, quick)),
    ]
    checks = []
    for label, fn in groups:
        if progress is not None:
            progress(label)
        checks.extend(fn())
    return checks


def run_checks(*, quick: bool = False) -> list[Check]:
    """Run every numerical check.

    Runs inside ``jax.enable_x64(True)``: the tolerances assume float64.

    Arguments:
        quick: fewer points and no m=100, C=1000 solves and no reverse-mode derivative.

    Returns:
        The list of :class:`Check` results.
    """
    with jax.enable_x64(True):
        return _all_checks(_Context(), quick, None)


# ----------------------------------------------------------------------------- plots


def _plot_attention(ctx, path, m=20, C=20, T=3000.0):
    import matplotlib.pyplot as plt

    from .setting import attention
    from .solve import solve_flow

    opt = _hybrid_optimum(ctx, m, C, T)
    ts = jnp.logspace(0.0, math.log10(T), 255)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = [("soft", None, "soft attention"), ("hard", None, "hard attention"),
            ("lvml", None, "LVML"),
            ("hybrid", opt.switch_time, f"hybrid (switch at t={opt.switch_time:.1f})")]
    for kind, tau, label in runs:
        _, nu = solve_flow(kind, ts, m=m, C=C, switch_time=tau)
        ax.plot(np.asarray(ts), np.asarray(attention(nu, m=m)), label=label,
                linestyle="--" if kind == "hybrid" else "-")
    for t in (500.0, 3000.0):
        ax.axvline(t, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel(r"foreground attention $\alpha(t)$")
    ax.set_title(f"Reduced gradient flow from zero, m = C = {m}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_phase(path, m=20, C=20, T=3000.0):
    import matplotlib.pyplot as plt

    from .closed_form import invariant
    from .solve import solve_flow

    starts = [(0.0, 0.0), (0.0, 3.0), (4.0, -2.0), (8.0, 0.0)]
    ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-1.0, math.log10(T), 254)])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), sharey=True)
    mu_grid, nu_grid = np.meshgrid(np.linspace(-0.5, 10.0, 220), np.linspace(-3.0, 9.5, 220))
    for ax, kind in zip(axes, ("soft", "hard", "lvml")):
        levels = []
        for mu0, nu0 in starts:
            mu, nu = solve_flow(kind, ts, m=m, C=C, mu0=mu0, nu0=nu0)
            ax.plot(np.asarray(mu), np.asarray(nu), linewidth=2.2)
            ax.plot([mu0], [nu0], "ko", markersize=3)
            levels.append(float(invariant(kind, mu0, nu0, m=m, C=C)))
        inv = np.asarray(invariant(kind, mu_grid, nu_grid, m=m, C=C))
        # Background level curves through evenly spaced points of the two axes.
        through = [(x, 0.0) for x in np.linspace(1.0, 10.0, 10)] + [
            (0.0, y) for y in np.linspace(-2.5, 9.0, 13)]
        background = sorted({float(invariant(kind, x, y, m=m, C=C)) for x, y in through})
        ax.contour(mu_grid, nu_grid, inv, levels=background, colors="0.75", linewidths=0.5)
        ax.contour(mu_grid, nu_grid, inv, levels=sorted(set(levels)), colors="k",
                   linewidths=0.8, linestyles=":")
        ax.set_title(f"{kind} attention" if kind != "lvml" else "LVML")
        ax.set_xlabel(r"classifier margin $\mu$")
        ax.set_xlim(-0.5, 10.0)
        ax.set_ylim(-3.0, 9.5)
    axes[0].set_ylabel(r"focus score $\nu$")
    fig.suptitle(f"Trajectories (colour, t up to {T:g}) on the level curves of the invariant "
                 f"G(nu) - Psi(mu) (dotted: through the starting points), m = C = {m}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_fixed_focus(path, C=20, T=1e4):
    import matplotlib.pyplot as plt

    from .closed_form import fixed_focus_margin
    from .solve import solve_fixed_focus

    ts = jnp.concatenate([jnp.zeros(1), jnp.logspace(-1.0, math.log10(T), 300)])
    marks = jnp.logspace(0.0, math.log10(T), 14)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, kind in zip(axes, ("soft", "hard", "lvml")):
        for i, alpha in enumerate((0.2, 0.4, 0.6, 0.8, 1.0)):
            color = f"C{i}"
            closed = fixed_focus_margin(kind, alpha, ts, C=C)
            ax.plot(np.asarray(ts[1:]), np.asarray(closed[1:]), color=color,
                    label=rf"$\alpha$={alpha}")
            ode = solve_fixed_focus(kind, alpha, marks, C=C)
            ax.plot(np.asarray(marks), np.asarray(ode), "o", color=color, markersize=3.5,
                    markerfacecolor="none")
        ax.set_xscale("log")
        ax.set_xlabel("t")
        ax.set_title(f"{kind}: closed form (lines) vs ODE (circles)")
    axes[0].set_ylabel(r"margin $\mu(t)$, focus fixed")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Fixed focus, C = {C}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plots(ctx, out_dir: pathlib.Path, progress=None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("attention_vs_time.png", lambda p: _plot_attention(ctx, p)),
        ("phase_portrait.png", _plot_phase),
        ("fixed_focus.png", _plot_fixed_focus),
    ]
    paths = []
    for name, fn in jobs:
        if progress is not None:
            progress(f"plot {name}")
        path = out_dir / name
        fn(path)
        paths.append(str(path))
    return paths


def verify_plots(out_dir) -> list[str]:
    """Draw the three verification figures (PNG, matplotlib's Agg backend).

    * ``attention_vs_time.png``: alpha(t) on a log time axis for soft, hard, LVML and the
      best hybrid (m = C = 20);
    * ``phase_portrait.png``: (mu, nu) trajectories over the invariants' level curves;
    * ``fixed_focus.png``: fixed-focus mu(t), closed form (lines) against ODE (circles).

    Arguments:
        out_dir: directory to write into (created if needed).

    Returns:
        The paths written, as strings.
    """
    with jax.enable_x64(True):
        return _plots(_Context(), pathlib.Path(out_dir))


# ----------------------------------------------------------------------------- entry point


def _finite(x):
    return x if isinstance(x, float) and math.isfinite(x) else None


def _write_json_atomic(path: pathlib.Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".verify-", suffix=".json.tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def run_verify(out_dir: pathlib.Path, *, progress: Callable[[str], None] | None = None,
               quick: bool = False) -> dict:
    """Run every check, draw the plots and write ``out_dir/verify.json``.

    Switches ``jax_enable_x64`` on first (the checks' tolerances assume float64).

    Arguments:
        out_dir: output directory (created if needed).
        progress: optional callable receiving a short label before each stage.
        quick: see :func:`run_checks`.

    Returns:
        ``{"checks": [{"name", "error", "tolerance", "passed", "detail"}, ...],
        "plots": [paths], "passed": bool, "num_failed": int, "hybrid": {...},
        "wall_time_s": float, "json": path}`` -- the same content as ``verify.json``.
    """
    start = time.perf_counter()
    jax.config.update("jax_enable_x64", True)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Context()
    checks = _all_checks(ctx, quick, progress)
    plots = _plots(ctx, out_dir, progress)
    opt = _hybrid_optimum(ctx)
    json_path = out_dir / "verify.json"
    payload = {
        "checks": [
            {"name": c.name, "error": _finite(c.error), "tolerance": c.tolerance,
             "passed": c.passed, "detail": c.detail}
            for c in checks
        ],
        "plots": plots,
        "passed": all(c.passed for c in checks),
        "num_failed": sum(not c.passed for c in checks),
        "hybrid": {"m": 20, "C": 20, "T": 3000.0, "switch_time": opt.switch_time,
                   "alpha": opt.alpha, "gradient": opt.gradient},
        "quick": quick,
        "jax_version": jax.__version__,
        "wall_time_s": round(time.perf_counter() - start, 3),
        "json": str(json_path),
    }
    _write_json_atomic(json_path, payload)
    return payload


def format_table(checks) -> str:
    """Plain-text table of check results for the command line.

    Arguments:
        checks: :class:`Check` tuples or the dicts of :func:`run_verify`'s ``"checks"``.

    Returns:
        A multi-line string: one row per check (status, name, error, tolerance) and a
        closing summary line.
    """
    rows = []
    for c in checks:
        c = c._asdict() if isinstance(c, Check) else dict(c)
        err = c.get("error")
        err_s = "nan" if err is None or not math.isfinite(err) else f"{err:.2e}"
        rows.append(("PASS" if c["passed"] else "FAIL", c["name"], err_s,
                     f"{c['tolerance']:.1e}"))
    head = ("", "check", "error", "tolerance")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    fmt = "{:<%d}  {:<%d}  {:>%d}  {:>%d}" % tuple(widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    failed = sum(r[0] == "FAIL" for r in rows)
    lines.append(f"{len(rows) - failed} of {len(rows)} checks passed"
                 + (f", {failed} FAILED" if failed else ""))
    return "\n".join(lines)
