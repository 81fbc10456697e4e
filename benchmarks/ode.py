#!/usr/bin/env python
"""The authors' gradient-flow run, solved three ways, side by side in one process.

The simple setting's reduced flow (paper-notes section 3) at the authors' sizes:
m = 100 segments, C = 1000 classes, from mu = nu = 0 over t in [0, 4e5].

* diffrax: ``analytic.solve_flow`` (adaptive Dopri8, PID step-size control);
* forward Euler at step 1e-2, as the authors integrated it (4e7 steps), written
  as a compiled JAX ``lax.fori_loop`` so that it is a fast, fair version of their
  method;
* scipy ``solve_ivp`` (DOP853 and LSODA) with the vector field in plain Python
  floats (the fastest way to feed scipy).

All three integrate the same vector field (``analytic.reduced_flow``; the scipy
copy is checked against it at start-up). Each is judged by the closed-form
invariant ``analytic.invariant`` (G(nu) - Psi(mu), zero along the trajectory from
the origin): its worst drift over 41 equally spaced times.

Then a batch of 1024 random initial states: one vmapped diffrax solve against a
Python loop of scipy solves.

Usage::

    python benchmarks/ode.py                # full: 4e7 Euler steps per loss (~40 s, 2 cores)
    python benchmarks/ode.py --quick        # Euler 4e5 steps, time extrapolated (~10 s)
    python benchmarks/ode.py --json benchmarks/results/ode.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# JAX is imported in main(), after --cores has pinned the process (XLA sizes its thread
# pool from the CPU affinity when it starts), and with float64 switched on first.
jax = jnp = analytic = None


def _start_jax() -> None:
    global jax, jnp, analytic
    import jax as _jax

    _jax.config.update("jax_enable_x64", True)  # before any array exists
    import jax.numpy as _jnp

    import analytic as _analytic

    jax, jnp, analytic = _jax, _jnp, _analytic


M, C, T_END, EULER_DT = 100, 1000, 4.0e5, 1.0e-2
N_SAVE = 41  # times 0, 1e4, ..., 4e5


def log(*args):
    print(*args, flush=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


# ----------------------------------------------------------------------------- invariant


def drift(kind, mu, nu, *, reference=None) -> dict:
    """Worst |I(t) - I(0)| of the invariant I = G(nu) - Psi(mu), absolute and relative.

    ``reference`` is I(0) (zero from the origin). The relative drift divides by the
    size of the terms, max(|G(nu)|, 1), which both grow along the trajectory.
    """
    mu, nu = jnp.asarray(mu), jnp.asarray(nu)
    inv = analytic.invariant(kind, mu, nu, m=M, C=C)
    ref = inv[..., :1] if reference is None else reference
    err = jnp.abs(inv - ref)
    scale = jnp.maximum(jnp.abs(analytic.focus_potential(nu, m=M)), 1.0)
    return {"abs": float(jnp.max(err)), "rel": float(jnp.max(err / scale))}


# ----------------------------------------------------------------------------- scipy's field


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


LOG_M1, LOG_C1, LOG_C = math.log(M - 1.0), math.log(C - 1.0), math.log(C)


def flow_py(kind: str):
    """(mu', nu') of the reduced flow in Python floats: the derivatives of the stable
    reduced losses of ``analytic.setting``, with alpha and 1 - alpha as two sigmoids."""

    def soft(t, y):
        mu, nu = y
        alpha, rest = _sigmoid(nu - LOG_M1), _sigmoid(LOG_M1 - nu)
        s = _sigmoid(LOG_C1 - alpha * mu)  # (C-1) / (e^{alpha mu} + C - 1)
        return [alpha * s / (C - 1.0), alpha * rest * mu * s / C]

    def hard(t, y):
        mu, nu = y
        alpha, rest = _sigmoid(nu - LOG_M1), _sigmoid(LOG_M1 - nu)
        s = _sigmoid(LOG_C1 - mu)
        return [alpha * s / (C - 1.0), alpha * rest * (LOG_C - _softplus(LOG_C1 - mu)) / C]

    def lvml(t, y):
        mu, nu = y
        alpha, rest = _sigmoid(nu - LOG_M1), _sigmoid(LOG_M1 - nu)
        beta, not_beta = _sigmoid(mu - LOG_C1), _sigmoid(LOG_C1 - mu)
        z = alpha * beta + rest / C
        return [alpha * beta * not_beta / (z * (C - 1.0)),
                alpha * rest * (beta - 1.0 / C) / (C * z)]

    return {"soft": soft, "hard": hard, "lvml": lvml}[kind]


def check_flow_py(kind: str) -> float:
    """Largest relative difference between the Python-float field and analytic.reduced_flow."""
    rng = np.random.default_rng(0)
    mu = rng.uniform(-2.0, 20.0, 64)
    nu = rng.uniform(-5.0, 15.0, 64)
    ref = np.stack(analytic.reduced_flow(kind, mu, nu, m=M, C=C), -1)
    mine = np.array([flow_py(kind)(0.0, (a, b)) for a, b in zip(mu, nu)])
    return float(np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1e-300)))


# ----------------------------------------------------------------------------- solvers


def run_diffrax(kind, ts, *, rtol, atol, repeats=3) -> dict:
    def solve():
        mu, nu, stats = analytic.solve_flow(kind, ts, m=M, C=C, rtol=rtol, atol=atol,
                                            return_stats=True)
        return jax.block_until_ready((mu, nu, stats))

    _, first = timed(solve)  # compiles (once for every kind: the kind is traced)
    samples = []
    for _ in range(repeats):
        (mu, nu, stats), t = timed(solve)
        samples.append(t)
    return {
        "first_call_s": first, "run_s": float(np.median(samples)), "samples_s": samples,
        "evals": int(stats.num_fev), "steps": int(stats.num_steps),
        "accepted_steps": int(stats.num_accepted_steps),
        "final": [float(mu[-1]), float(nu[-1])],
        "invariant_drift": drift(kind, mu, nu, reference=0.0),
        "_trajectory": (np.asarray(mu), np.asarray(nu)),
    }


def make_euler(kind: str):
    """Forward Euler in one compiled program: ``segments`` blocks of ``per_segment`` steps,
    the state saved after each block."""

    def field(y):
        return jnp.stack(analytic.reduced_flow(kind, y[0], y[1], m=M, C=C))

    def run(y0, dt, per_segment, segments):
        def block(y, _):
            y = jax.lax.fori_loop(0, per_segment, lambda i, y: y + dt * field(y), y)
            return y, y

        _, ys = jax.lax.scan(block, y0, None, length=segments)
        return jnp.concatenate([y0[None], ys])

    return jax.jit(run, static_argnums=(2, 3))


def run_euler(kind, *, t_end, segments=N_SAVE - 1) -> dict:
    steps = int(round(t_end / EULER_DT))
    per_segment = steps // segments
    program = make_euler(kind)
    y0 = jnp.zeros(2)
    compiled, t_compile = timed(
        lambda: program.lower(y0, EULER_DT, per_segment, segments).compile())
    ys, t_run = timed(lambda: jax.block_until_ready(compiled(y0, EULER_DT)))
    mu, nu = np.asarray(ys[:, 0]), np.asarray(ys[:, 1])
    return {
        "compile_s": t_compile, "run_s": t_run, "t_end": t_end, "steps": per_segment * segments,
        "evals": per_segment * segments, "final": [float(mu[-1]), float(nu[-1])],
        "invariant_drift": drift(kind, mu, nu, reference=0.0),
        "_trajectory": (mu, nu),
    }


def run_scipy(kind, ts, method, *, rtol, atol, y0=(0.0, 0.0)) -> dict:
    from scipy.integrate import solve_ivp

    sol, t = timed(solve_ivp, flow_py(kind), (0.0, float(ts[-1])), list(y0), method=method,
                   t_eval=np.asarray(ts), rtol=rtol, atol=atol)
    out = {"run_s": t, "evals": int(sol.nfev), "success": bool(sol.success),
           "message": sol.message}
    if method == "LSODA":
        out["jacobian_evals"] = int(sol.njev)
    if sol.success:
        out["final"] = [float(sol.y[0, -1]), float(sol.y[1, -1])]
        out["invariant_drift"] = drift(kind, sol.y[0], sol.y[1], reference=0.0)
        out["_trajectory"] = (sol.y[0], sol.y[1])
    return out


# ----------------------------------------------------------------------------- batch


def run_batch(kind, n, ts, *, rtol, atol, scipy_states: int, seed: int = 0) -> dict:
    """n random initial states: one vmapped diffrax solve vs Python loops of scipy solves
    (DOP853 and LSODA; the speed-up is quoted against the faster loop)."""
    from scipy.integrate import solve_ivp

    rng = np.random.default_rng(seed)
    mu0 = rng.uniform(0.0, 3.0, n)
    nu0 = rng.uniform(-3.0, 3.0, n)
    i0 = analytic.invariant(kind, mu0, nu0, m=M, C=C)[:, None]

    def solve():
        out = analytic.solve_flow(kind, ts, m=M, C=C, mu0=mu0, nu0=nu0, rtol=rtol, atol=atol,
                                  return_stats=True)
        return jax.block_until_ready(out)

    _, first = timed(solve)
    (mu, nu, stats), t_run = timed(solve)
    d_drift = drift(kind, mu, nu, reference=i0)

    field = flow_py(kind)
    k = min(scipy_states, n)
    loops = {}
    for method in ("DOP853", "LSODA"):
        finals, nfev, samples = [], 0, []
        for j in range(k):
            sol, t = timed(solve_ivp, field, (0.0, float(ts[-1])), [mu0[j], nu0[j]],
                           method=method, t_eval=np.asarray(ts), rtol=rtol, atol=atol)
            samples.append(t)
            nfev += sol.nfev
            finals.append(sol.y[:, -1])
        diffrax_finals = np.stack([np.asarray(mu)[:k, -1], np.asarray(nu)[:k, -1]], -1)
        loops[method] = {
            "run_s": float(np.sum(samples)) * n / k, "measured_states": k, "extrapolated": k < n,
            "measured_s": float(np.sum(samples)), "evals_total_measured": int(nfev),
            "max_final_state_difference": float(np.max(np.abs(np.array(finals) - diffrax_finals))),
        }
    fastest = min(loops, key=lambda name: loops[name]["run_s"])
    scipy_total = loops[fastest]["run_s"]
    return {
        "kind": kind, "states": n, "t_end": float(ts[-1]), "saved_times": int(len(ts)),
        "diffrax": {"first_call_s": first, "run_s": t_run,
                    "evals_total": int(np.sum(stats.num_fev)),
                    "evals_max": int(np.max(stats.num_fev)),
                    "all_success": bool(np.all(stats.success)), "invariant_drift": d_drift},
        "scipy_loops": loops,
        "scipy_fastest": fastest,
        "speedup_vs_scipy_loop": scipy_total / t_run,
        "speedup_vs_scipy_loop_with_compile": scipy_total / first,
        "speedup_vs_each_scipy_loop": {m: v["run_s"] / t_run for m, v in loops.items()},
    }


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="Euler over [0, 4e3] only (time extrapolated x100), a smaller scipy batch")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--kinds", default="soft,hard,lvml", help="losses to solve (comma-separated)")
    p.add_argument("--rtol", type=float, default=1e-13, help="diffrax and scipy relative tolerance")
    p.add_argument("--atol", type=float, default=1e-15, help="diffrax and scipy absolute tolerance")
    p.add_argument("--batch", type=int, default=1024, help="initial states in the batch")
    p.add_argument("--batch-kind", default="soft", help="loss of the batch")
    p.add_argument("--cores", type=int, default=None,
                   help="run on this many cores only (CPU affinity); default all")
    args = p.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if args.cores:
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[: max(1, min(args.cores, len(available)))]))
    _start_jax()

    start = time.perf_counter()
    ts = jnp.linspace(0.0, T_END, N_SAVE)
    euler_t_end = T_END / 100 if args.quick else T_END
    machine = {"cpu": platform.processor(), "cores": os.cpu_count(),
               "cores_used": len(os.sched_getaffinity(0)), "jax": jax.__version__,
               "python": platform.python_version(), "load_avg_start": os.getloadavg()[0]}
    try:
        with open("/proc/cpuinfo") as f:
            machine["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                                  if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import scipy

    machine["scipy"] = scipy.__version__
    doc = {"quick": args.quick, "machine": machine,
           "problem": {"m": M, "C": C, "t_end": T_END, "initial": [0.0, 0.0],
                       "euler_dt": EULER_DT, "saved_times": N_SAVE},
           "tolerances": {"rtol": args.rtol, "atol": args.atol}, "single": {}}
    log(f"machine: {machine}")
    log(f"m = {M}, C = {C}, t in [0, {T_END:g}], from (0, 0); diffrax Dopri8 and scipy at "
        f"rtol {args.rtol:g}, atol {args.atol:g}; forward Euler at dt = {EULER_DT:g}")

    for kind in kinds:
        log(f"\n== {kind}")
        err = check_flow_py(kind)
        log(f"  scipy's Python-float field vs analytic.reduced_flow: max rel diff {err:.1e}")
        res = {"python_field_max_rel_diff": err}
        res["diffrax"] = run_diffrax(kind, ts, rtol=args.rtol, atol=args.atol)
        res["euler"] = run_euler(kind, t_end=euler_t_end)
        full_steps = int(round(T_END / EULER_DT))
        e = res["euler"]
        if args.quick:
            e["extrapolated_run_s"] = e["run_s"] * full_steps / e["steps"]
            e["full_evals"] = full_steps
        else:
            e["full_evals"] = e["evals"]
        for method in ("DOP853", "LSODA"):
            res[f"scipy_{method.lower()}"] = run_scipy(kind, ts, method, rtol=args.rtol,
                                                       atol=args.atol)
        d = res["diffrax"]
        res["evals_ratio_vs_euler"] = e["full_evals"] / d["evals"]
        euler_time = e.get("extrapolated_run_s", e["run_s"])
        res["speedup_vs_euler"] = euler_time / d["run_s"]
        # Agreement of the solutions at t = 4e5 (Euler only when it ran that far).
        others = {name: res[name] for name in ("scipy_dop853", "scipy_lsoda")
                  if "final" in res[name]}
        if not args.quick:
            others["euler"] = e
        res["final_state_difference_vs_diffrax"] = {
            name: float(np.max(np.abs(np.array(o["final"]) - np.array(d["final"]))))
            for name, o in others.items()}
        for part in res.values():
            if isinstance(part, dict):
                part.pop("_trajectory", None)
        doc["single"][kind] = res

        log(f"  diffrax   : {d['evals']:>10,d} evals, first call {d['first_call_s']:.2f} s, "
            f"run {d['run_s'] * 1e3:.2f} ms, invariant drift {d['invariant_drift']['abs']:.1e} "
            f"(rel {d['invariant_drift']['rel']:.1e}), final (mu, nu) = "
            f"({d['final'][0]:.6f}, {d['final'][1]:.6f})")
        tag = (f" [QUICK: {e['steps']:,d} steps to t = {e['t_end']:g}; time x"
               f"{full_steps // e['steps']} = {e['extrapolated_run_s']:.1f} s extrapolated to "
               f"{full_steps:,d} steps; drift is at t = {e['t_end']:g}]" if args.quick else "")
        log(f"  Euler     : {e['full_evals']:>10,d} evals, compile {e['compile_s']:.2f} s, "
            f"run {e['run_s']:.2f} s, invariant drift {e['invariant_drift']['abs']:.1e} "
            f"(rel {e['invariant_drift']['rel']:.1e}){tag}")
        for name in ("scipy_dop853", "scipy_lsoda"):
            s = res[name]
            if not s["success"]:
                log(f"  {name:10s}: FAILED ({s['message']})")
                continue
            jac = f" (+{s['jacobian_evals']} Jacobians)" if "jacobian_evals" in s else ""
            log(f"  {name:10s}: {s['evals']:>10,d} evals{jac}, run {s['run_s'] * 1e3:.1f} ms, "
                f"invariant drift {s['invariant_drift']['abs']:.1e} "
                f"(rel {s['invariant_drift']['rel']:.1e})")
        log(f"  Euler evals / diffrax evals = {res['evals_ratio_vs_euler']:,.0f}; "
            f"diffrax is {res['speedup_vs_euler']:,.0f}x faster than compiled Euler (excluding "
            f"compile)")
        log("  |final state - diffrax's|: " + ", ".join(
            f"{k} {v:.1e}" for k, v in res["final_state_difference_vs_diffrax"].items()))

    log(f"\n== batch: {args.batch} random initial states ({args.batch_kind}), t in [0, {T_END:g}]")
    scipy_states = 32 if args.quick else args.batch
    b = run_batch(args.batch_kind, args.batch, ts, rtol=args.rtol, atol=args.atol,
                  scipy_states=scipy_states)
    doc["batch"] = b
    bd = b["diffrax"]
    log(f"  diffrax vmap: first call {bd['first_call_s']:.2f} s (compiles), "
        f"run {bd['run_s']:.3f} s, "
        f"{bd['evals_total']:,d} evals ({bd['evals_max']:,d} for the slowest state), invariant "
        f"drift {bd['invariant_drift']['abs']:.1e}")
    for method, bs in b["scipy_loops"].items():
        extra = (f" [EXTRAPOLATED from {bs['measured_states']} states: {bs['measured_s']:.2f} s]"
                 if bs["extrapolated"] else "")
        log(f"  scipy {method:6s} loop: {bs['run_s']:.2f} s{extra}, max |final state - diffrax's| "
            f"{bs['max_final_state_difference']:.1e}")
    log(f"  speedup vs the faster scipy loop ({b['scipy_fastest']}): "
        f"{b['speedup_vs_scipy_loop']:,.0f}x excluding compile, "
        f"{b['speedup_vs_scipy_loop_with_compile']:,.1f}x including it")

    singles = doc["single"].values()
    doc["evals_ratio_vs_euler"] = min(r["evals_ratio_vs_euler"] for r in singles)
    doc["invariant_error"] = max(r["diffrax"]["invariant_drift"]["abs"] for r in singles)
    doc["invariant_error_relative"] = max(r["diffrax"]["invariant_drift"]["rel"] for r in singles)
    doc["euler_invariant_error"] = max(r["euler"]["invariant_drift"]["abs"] for r in singles)
    doc["euler_invariant_error_t_end"] = euler_t_end
    doc["batch_speedup_vs_scipy_loop"] = b["speedup_vs_scipy_loop"]
    doc["times_s"] = {kind: {"diffrax": r["diffrax"]["run_s"],
                             "diffrax_first_call": r["diffrax"]["first_call_s"],
                             "euler": r["euler"]["run_s"],
                             "euler_full_extrapolated": r["euler"].get("extrapolated_run_s"),
                             "scipy_dop853": r["scipy_dop853"]["run_s"],
                             "scipy_lsoda": r["scipy_lsoda"]["run_s"]}
                      for kind, r in doc["single"].items()}
    doc["times_s"]["batch"] = {"diffrax": bd["run_s"], "diffrax_first_call": bd["first_call_s"],
                               **{f"scipy_{m.lower()}_loop": v["run_s"]
                                  for m, v in b["scipy_loops"].items()}}
    doc["total_wall_s"] = time.perf_counter() - start
    doc["machine"]["load_avg_end"] = os.getloadavg()[0]
    log(f"\nsummary: Euler/diffrax evaluations >= {doc['evals_ratio_vs_euler']:,.0f}x; diffrax "
        f"invariant drift <= {doc['invariant_error']:.1e} (Euler's: "
        f"{doc['euler_invariant_error']:.1e} at t = {euler_t_end:g}); batch "
        f"{doc['batch_speedup_vs_scipy_loop']:,.0f}x faster than the scipy loop")
    log(f"total wall time {doc['total_wall_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
