"""Independent reference implementations for the analytic tests: plain NumPy transcriptions
of the formulas in paper-notes section 3 and SciPy integrators. Nothing here imports the
package under test."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def alpha_beta(mu, nu, m, C):
    alpha = np.exp(nu) / (np.exp(nu) + m - 1)
    beta = np.exp(mu) / (np.exp(mu) + C - 1)
    return alpha, beta


def losses(kind, mu, nu, m, C):
    alpha, beta = alpha_beta(mu, nu, m, C)
    if kind == "soft":
        return np.log1p((C - 1) * np.exp(-alpha * mu))
    if kind == "hard":
        return alpha * np.log1p((C - 1) * np.exp(-mu)) + (1 - alpha) * np.log(C)
    return -np.log(alpha * beta + (1 - alpha) / C)


def printed_flow(kind, mu, nu, m, C):
    """The authors' ODEs exactly as printed."""
    alpha, beta = alpha_beta(mu, nu, m, C)
    if kind == "soft":
        d = np.exp(alpha * mu) + C - 1
        return alpha / d, alpha * (1 - alpha) * (C - 1) * mu / (C * d)
    if kind == "hard":
        return alpha / (np.exp(mu) + C - 1), alpha * (1 - alpha) * np.log(C * beta) / C
    Z = alpha * beta + (1 - alpha) / C
    return alpha * beta / (Z * (np.exp(mu) + C - 1)), (alpha / C) * (beta / Z - 1)


def solve(kind, ts, m, C, y0=(0.0, 0.0), t0=0.0, rtol=1e-12, atol=1e-14):
    """SciPy DOP853 solution of the printed ODEs, reported at ts (all >= t0)."""
    ts = np.asarray(ts, float)
    sol = solve_ivp(lambda t, y: printed_flow(kind, y[0], y[1], m, C), (t0, ts[-1]),
                    list(y0), method="DOP853", rtol=rtol, atol=atol, t_eval=ts)
    assert sol.success, sol.message
    return sol.y[0], sol.y[1]


def solve_hybrid_final(tau, T, m, C, rtol=1e-12, atol=1e-14):
    """(mu, nu) at T for soft attention until tau and hard attention after."""
    mu, nu = solve("soft", [tau], m, C, rtol=rtol, atol=atol) if tau > 0 else ([0.0], [0.0])
    y = (mu[-1], nu[-1])
    if T > tau:
        mu, nu = solve("hard", [T], m, C, y0=y, t0=tau, rtol=rtol, atol=atol)
        y = (mu[-1], nu[-1])
    return y


def fixed_focus_rhs(kind, alpha, C):
    """mu' = -(1/(C-1)) dL/dmu with alpha fixed, written out by hand."""

    def rhs(t, y):
        mu = y[0]
        beta = np.exp(mu) / (np.exp(mu) + C - 1)
        if kind == "soft":
            return [alpha / (np.exp(alpha * mu) + C - 1)]
        if kind == "hard":
            return [alpha / (np.exp(mu) + C - 1)]
        Z = alpha * beta + (1 - alpha) / C
        return [alpha * beta / (Z * (np.exp(mu) + C - 1))]

    return rhs


def solve_fixed(kind, alpha, ts, C):
    ts = np.asarray(ts, float)
    sol = solve_ivp(fixed_focus_rhs(kind, alpha, C), (0.0, ts[-1]), [0.0], method="DOP853",
                    rtol=1e-12, atol=1e-14, t_eval=ts)
    assert sol.success
    return sol.y[0]
