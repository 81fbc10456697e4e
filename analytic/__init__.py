"""Exact theory of the paper's simple setting: reduced losses, gradient flows, closed forms.

The simple setting (paper-notes section 3; derivations in docs/theory.md) reduces the
full model -- linear focus u, linear classifier (W, b), one orthogonal mosaic per class --
to two numbers: the classifier margin ``mu`` and the foreground focus score ``nu``.
Everything here runs in float64 when ``jax_enable_x64`` is on, is jittable and vmappable,
and takes ``kind`` in {"soft", "hard", "lvml"} (plus "hybrid" for `solve_flow`).

Modules:
    setting: reduced losses and flows (``reduced_loss``, ``reduced_flow``, ...).
    closed_form: Wright omega, invariants, fixed-focus solutions and incentives.
    solve: diffrax solutions of the flow (``solve_flow``, ``solve_fixed_focus``).
    gradient_descent: full-parameter gradient descent with attnjax's losses.
    hybrid: the soft-then-hard schedule and its best switch time.
    switch_sgd: that best switch time against attnjax's own hybrid gradient descent.
    flow_clock: the flow at a run's flow times (``theory_at_flow_times``), and attnjax's
        minibatch SGD with momentum against it (``sgd_against_flow``).
    checks: the measurements behind ``attnjax verify`` (each against an independent reference).
    verify: the table of checks (name, measurement, tolerance), ``run_verify``, ``format_table``.
    plots: the figures of ``attnjax verify``.
"""

from ._common import KINDS
from .closed_form import (
    fixed_focus_incentive,
    fixed_focus_margin,
    fixed_focus_time,
    focus_potential,
    invariant,
    margin_potential,
    wright_omega,
)
from .flow_clock import sgd_against_flow, theory_at_flow_times
from .gradient_descent import (
    GDResult,
    full_gradient_velocity,
    full_mean_loss,
    gd_convergence_order,
    gradient_descent,
    manifold_parameters,
    orthogonal_problem,
    reduce_parameters,
    zero_parameters,
)
from .hybrid import HybridOptimum, best_switch_time, hybrid_final_score
from .setting import (
    attention,
    authors_flow,
    focus_loss,
    margin_probability,
    reduced_flow,
    reduced_loss,
)
from .solve import FlowStats, SolverFailure, solve_fixed_focus, solve_flow
from .switch_sgd import switch_figure, switch_theory_vs_sgd
from .verify import Check, format_table, run_checks, run_verify, verify_plots

__all__ = [
    "KINDS",
    # setting
    "attention",
    "margin_probability",
    "reduced_loss",
    "reduced_flow",
    "authors_flow",
    "focus_loss",
    # closed forms
    "wright_omega",
    "focus_potential",
    "margin_potential",
    "invariant",
    "fixed_focus_margin",
    "fixed_focus_time",
    "fixed_focus_incentive",
    # solvers
    "solve_flow",
    "solve_fixed_focus",
    "FlowStats",
    "SolverFailure",
    # gradient descent
    "orthogonal_problem",
    "zero_parameters",
    "manifold_parameters",
    "full_mean_loss",
    "reduce_parameters",
    "full_gradient_velocity",
    "gradient_descent",
    "gd_convergence_order",
    "GDResult",
    # hybrid
    "hybrid_final_score",
    "best_switch_time",
    "HybridOptimum",
    "switch_theory_vs_sgd",
    "switch_figure",
    # the flow on a run's clock
    "theory_at_flow_times",
    "sgd_against_flow",
    # verification
    "Check",
    "run_checks",
    "run_verify",
    "verify_plots",
    "format_table",
]
