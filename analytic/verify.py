"""``attnjax verify``: the table of numerical checks, its runner and its result file.

`CHECKS` lists each check as (name, measurement, tolerance); the measurements are in
`analytic.checks`, the figures in `analytic.plots`. Everything runs inside
``jax.enable_x64(True)`` and draws on figures of its own, so the caller's JAX and matplotlib
settings are left as they were.
"""

from __future__ import annotations

import functools
import math
import pathlib
import time
from typing import Callable, NamedTuple

import jax

from attnjax.files import format_table as _format_rows, write_json_atomic

from . import checks as _m
from ._common import KINDS
from .checks import PAPER_ALPHAS

__all__ = ["Check", "Entry", "CHECKS", "PAPER_ALPHAS", "run_checks", "run_verify",
           "format_table", "verify_plots"]


class Entry(NamedTuple):
    """One row of `CHECKS`: ``function(quick=...)`` returns a
    `analytic.checks.Measured`; the check passes when its error is finite, at most
    ``tolerance`` and its side condition holds. ``full_only`` rows are skipped by quick runs."""

    name: str
    function: Callable[..., _m.Measured]
    tolerance: float
    full_only: bool = False


class Check(NamedTuple):
    """One verification result: ``passed`` is ``error <= tolerance`` (error finite) and
    every side condition in ``detail`` held."""

    name: str
    error: float
    tolerance: float
    passed: bool
    detail: str


def _each(name, function, tolerance, values=KINDS):
    return [Entry(f"{name}[{v}]", functools.partial(function, v), tolerance) for v in values]


#: The checks, in the order they run. Tolerances: float64 rounding is ~1e-16; the ODE
#: solves run at rtol 1e-12 (Dopri8) on states of size <= ~100.
CHECKS: list[Entry] = [
    # Two float64 evaluations of O(1)-conditioned formulas; the printed form loses
    # ~e^8 ulps to its 1 - alpha at nu = 8: 1e-10 leaves 100x margin.
    *_each("flow_vs_authors", _m.flow_vs_authors, 1e-10),
    *_each("time_scaling", _m.time_scaling, 1e-10),
    # Exact identities; the largest term is O(1): a few ulps, 1e-13 allows 1000.
    Entry("start_identities", _m.start_identities, 1e-13),
    # Wright omega is accurate to a few ulps (scipy likewise): 1e-13.
    Entry("wright_omega", _m.wright_omega_check, 1e-13),
    # 120-point Gauss-Legendre on 8 panels is exact to rounding for these smooth integrands.
    Entry("hard_potential_vs_quadrature", _m.hard_potential_quadrature, 1e-12),
    # rtol 1e-12 per step over ~1e3-1e4 steps accumulates to ~1e-10: 1e-8 is 100x that.
    *(Entry(f"invariant_drift[{k},m={m},C={C}]",
            functools.partial(_m.invariant_drift, k, m, C, T), 1e-8, full_only=m > 20)
      for m, C, T in ((20, 20, 3000.0), (100, 1000, 4e5)) for k in KINDS),
    # mu reaches ~20 (C=1000, 4e5); rtol 1e-12 on it plus step accumulation: 1e-8.
    *_each("fixed_focus", _m.fixed_focus, 1e-8),
    # Euler's global error is c lr + O(lr^2): the fitted slope is within 0.01 of 1 at these
    # learning rates, so |order - 1| <= 0.05 is safe and still rejects order 0 or 2.
    *_each("gd_order", _m.gd_order, 0.05),
    # The paper prints three decimals: rounding error up to 5e-4.
    Entry("paper_alpha_values", _m.paper_alphas, 5e-4),
    # Richardson-extrapolated differences leave O(h^4) ~1e-9 and solver noise ~1e-10/h.
    Entry("hybrid_gradient_vs_fd", _m.hybrid_gradient_fd, 1e-6),
    # Momentum's delay of 9 steps, doubled along mu -> nu, gives ~0.04 at lr = 0.01:
    # 0.06 is 4 single-delay estimates (see `analytic.checks.sgd_follows_flow`). Quick: soft.
    *(Entry(f"sgd_follows_flow[{k}]", functools.partial(_m.sgd_follows_flow, k), 0.06,
            full_only=k != "soft") for k in KINDS),
]


def _run(entries, quick, progress) -> list[Check]:
    out = []
    for entry in entries:
        if quick and entry.full_only:
            continue
        if progress is not None:
            progress(entry.name)
        res = entry.function(quick=quick)
        error = float(res.error)
        passed = math.isfinite(error) and error <= entry.tolerance and bool(res.ok)
        out.append(Check(entry.name, error, float(entry.tolerance), passed, res.detail))
    return out


def run_checks(*, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Check]:
    """Run every entry of `CHECKS` inside ``jax.enable_x64(True)``.

    Arguments:
        quick: fewer points, no m=100, C=1000 solves, no reverse-mode derivative.
        progress: optional callable receiving each check's name before it runs.

    Returns:
        The list of `Check` results.
    """
    with jax.enable_x64(True):
        return _run(CHECKS, quick, progress)


def verify_plots(out_dir, *, progress: Callable[[str], None] | None = None) -> list[str]:
    """Draw the verification figures; see `analytic.plots.verify_plots`."""
    from .plots import verify_plots as draw

    return draw(out_dir, progress=progress)


def _record(check: Check) -> dict:
    """A check as JSON: a non-finite error is written as the string "nan", "inf" or "-inf",
    with ``finite: false`` (strict JSON has no NaN)."""
    finite = math.isfinite(check.error)
    return {"name": check.name, "error": check.error if finite else str(check.error),
            "finite": finite, "tolerance": check.tolerance, "passed": check.passed,
            "detail": check.detail}


def run_verify(out_dir, *, progress: Callable[[str], None] | None = None,
               quick: bool = False) -> dict:
    """Run every check, draw the figures and write ``out_dir/verify.json``.

    Arguments:
        out_dir: output directory (created if needed).
        progress: optional callable receiving a short label before each stage.
        quick: see `run_checks`.

    Returns:
        ``{"checks": [{"name", "error", "finite", "tolerance", "passed", "detail"}, ...],
        "plots": [paths], "passed": bool, "num_failed": int, "hybrid": {...}, "quick",
        "jax_version", "wall_time_s", "json": path}``, the content of ``verify.json``.

    Raises:
        OSError: if the files cannot be written.
    """
    from .hybrid import best_switch_time
    from .plots import verify_plots as draw

    start = time.perf_counter()
    out_dir = pathlib.Path(out_dir)
    with jax.enable_x64(True):
        checks = _run(CHECKS, quick, progress)
        opt = best_switch_time(m=20, C=20, T=3000.0, mode="forward")
        plots = draw(out_dir, progress=progress, hybrid=opt)
    json_path = out_dir / "verify.json"
    payload = {
        "checks": [_record(c) for c in checks],
        "plots": plots,
        "passed": all(c.passed for c in checks),
        "num_failed": sum(not c.passed for c in checks),
        "hybrid": {"m": 20, "C": 20, "T": 3000.0, "switch_time": opt.switch_time,
                   "alpha": opt.alpha, "gradient": opt.gradient,
                   "hard_only_alpha": float(opt.grid_alpha[0]),
                   "soft_only_alpha": float(opt.grid_alpha[-1])},
        "quick": quick,
        "jax_version": jax.__version__,
        "wall_time_s": round(time.perf_counter() - start, 3),
        "json": str(json_path),
    }
    write_json_atomic(json_path, payload)
    return payload


def format_table(checks) -> str:
    """Plain-text table of check results for the command line.

    Arguments:
        checks: `Check` tuples or the dicts of `run_verify`'s ``"checks"``.

    Returns:
        One row per check (status, name, error, tolerance) and a closing summary line.
    """
    rows = []
    for c in checks:
        c = c._asdict() if isinstance(c, Check) else dict(c)
        err = float(c["error"])  # float("nan") reads the string form of a non-finite error
        rows.append(("PASS" if c["passed"] else "FAIL", c["name"],
                     f"{err:.2e}" if math.isfinite(err) else str(err), f"{c['tolerance']:.1e}"))
    failed = sum(r[0] == "FAIL" for r in rows)
    summary = f"{len(rows) - failed} of {len(rows)} checks passed" + (
        f", {failed} FAILED" if failed else "")
    return _format_rows(("", "check", "error", "tolerance"), rows, align="llrr") + "\n" + summary
