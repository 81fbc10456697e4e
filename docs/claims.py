"""The paper's claims, one by one, against attnjax's committed runs: prints the claim table.

    python docs/claims.py                    # the table in docs/results.md and the README
    python docs/claims.py --json claims.json # the numbers behind it, too
    python docs/claims.py --write            # put it between the markers in docs/results.md and README.md
    python docs/claims.py --check            # silent; exit 1 if those copies are not what it prints now

The rule is the one written in docs/results.md ("The verdict rule") before runs E1-E4 were
started: for each claim, the paired difference between two paradigms, seed by seed, of the
statistic the claim names (a_z for claims about the attention); its two-sided 95% Student-t
interval (`attnjax.paired_difference`) decides:

* **reproduced**: the interval excludes 0 in the claimed direction;
* **contradicted**: it excludes 0 in the other direction;
* **unresolved**: otherwise, or with fewer than 2 seeds.

Every number comes from a committed file under ``docs/results/``: ``verify/verify.json`` (the
simple setting, exact), the runs E1-E4 of issue 32 and the paper-budget runs
``fashion-mlp-signature`` and ``fashion-mlp-fixed-focus``. A run that is not committed is
printed as a row that says so, not skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from attnjax.stats import paired_difference

RESULTS = Path(__file__).parent / "results"
CONFIDENCE = 0.95
EARLY_FRACTION = 0.1  # early: the history points with step <= 0.1 N
HALF = 0.5            # second-half gain: from the first point with step >= 0.5 N to the last

#: (folder, label) of the runs judged by the rule, in the table's order.
RUNS = (("e1-fashion-mlp-fine-clock", "E1: Fashion-MNIST, MLP pair, m = 5, 30,000/10,000, 20 epochs"),
        ("e2-fashion-mlp-m20", "E2: Fashion-MNIST, MLP pair, m = 20, 10,000/5,000, 40 epochs"),
        ("e3-fashion-cnn-further", "E3: Fashion-MNIST, the paper's CNN pair, 400 steps"))
PAPER_BUDGET = ("fashion-mlp-signature",
                "paper budget: Fashion-MNIST, MLP pair, 150 epochs (hybrid 150 + 150), once an epoch")
FIXED_FOCUS = (("e4-orthogonal-fixed-focus", "E4: orthogonal, C = m = 20, linear, 100 epochs, as the authors"),
               ("fashion-mlp-fixed-focus", "paper budget: Fashion-MNIST, MLP classifier, 100 epochs"))

SOURCE = {
    "early": 'abstract: "With the soft attention loss, the focus model improves quickly at initialization …"',
    "gain": 'abstract: "… and splutters later on. On the other hand, hard attention loss behaves in the '
            'opposite fashion."',
    "final": "the same sentences, as the simple setting's closed forms make them",
    "hybrid": 'abstract: "a simple hybrid approach that combines the advantages of the different loss functions"',
    "signature": 'abstract: "We observe a unique signature"; the authors\' Generate Heatmaps scripts',
    "fixed": 'abstract: "… when the focus model is fixed"; the authors\' Fixed Focus Setting scripts',
    "lvml": "attnjax's own question (the paper does not state it)",
}
CLAIM = {
    "early": "Soft attention's focus improves quickly early",
    "gain": "… and splutters later; hard attention the opposite",
    "final": "Hard attention ends with the sharper focus",
    "hybrid": "The hybrid combines the advantages",
    "signature": "Signature: soft attention is confident under diluted attention",
    "fixed": "Fixed focus: soft's incentive to sharpen falls as α grows, hard's rises",
    "lvml": "LVML sits between soft and hard attention",
}


# -- the rule ---------------------------------------------------------------------------------

def judge(a, b, sign: int) -> dict:
    """The rule on one paired difference ``a - b`` over seeds, claimed ``sign`` (+1: a > b, -1: a < b).

    Returns a dict with the verdict, the mean and interval of ``a - b``, the seed count and how
    many seeds have the claimed sign.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = paired_difference(a, b, CONFIDENCE)
    n = int(d.seeds)
    low, high, mean = float(d.low), float(d.high), float(d.mean)
    agree = int(np.sum(np.sign(a - b) == sign))
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        verdict = "unresolved"
    elif (low > 0 and sign > 0) or (high < 0 and sign < 0):
        verdict = "reproduced"
    elif (low > 0 and sign < 0) or (high < 0 and sign > 0):
        verdict = "contradicted"
    else:
        verdict = "unresolved"
    return {"verdict": verdict, "mean": mean, "low": low, "high": high, "seeds": n, "agree": agree}


def judge_all(parts: list[dict]) -> str:
    """Several differences claimed together: reproduced if all are, contradicted if any is."""
    verdicts = [p["verdict"] for p in parts]
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "contradicted" if "contradicted" in verdicts else "unresolved"


def judge_between(first: dict, second: dict) -> str:
    """X between Y and Z, from ``X - Y`` and ``X - Z`` judged as claimed > 0: opposite sides of 0
    reproduce it, the same side contradicts it, anything else is unresolved."""
    sides = []
    for p in (first, second):
        sides.append(1 if p["low"] > 0 else -1 if p["high"] < 0 else 0)
    if 0 in sides or min(p["seeds"] for p in (first, second)) < 2:
        return "unresolved"
    return "reproduced" if sides[0] != sides[1] else "contradicted"


# -- the statistics ---------------------------------------------------------------------------

def points(history: dict) -> tuple[np.ndarray, np.ndarray]:
    """(steps [P], test a_z [seeds, P]): the fine clock's points, else the epoch ends."""
    fine = history.get("fine")
    if fine and "a_z" in fine.get("test", {}):
        return np.asarray(fine["step"], np.float64), np.asarray(fine["test"]["a_z"], np.float64)
    return np.asarray(history["clock"]["step"], np.float64), np.asarray(history["test"]["a_z"], np.float64)


def window_stats(history: dict) -> dict[str, np.ndarray]:
    """Per seed: the early mean of a_z, its second-half gain and its final whole-split value."""
    steps, a_z = points(history)
    total = float(history["clock"]["step"][-1])
    early = steps <= EARLY_FRACTION * total
    half = int(np.argmax(steps >= HALF * total))
    return {"early": a_z[:, early].mean(axis=1), "gain": a_z[:, -1] - a_z[:, half],
            "final": np.asarray(history["test"]["a_z"], np.float64)[:, -1], "steps": total,
            "early_points": int(early.sum())}


def _number(stats: dict, a: str, b: str, key: str, fmt: str = "{:.3f}") -> str:
    ma, mb = (float(np.mean(stats[k][key])) for k in (a, b))
    return f"{a} {fmt.format(ma)}, {b} {fmt.format(mb)}"


def _diff(part: dict, fmt: str = "{:+.3f}") -> str:
    return (f"{fmt.format(part['mean'])} [{fmt.format(part['low'])}, {fmt.format(part['high'])}]"
            if np.isfinite(part["low"]) else f"{fmt.format(part['mean'])} (no interval)")


def _row(key, run, measurement, number, parts, verdict) -> dict:
    return {"claim": CLAIM[key], "source": SOURCE[key], "run": run, "measurement": measurement,
            "number": number, "difference": "; ".join(f"{name}: {_diff(p)}" for name, p in parts),
            "seeds": ", ".join(f"{p['agree']}/{p['seeds']}" for _, p in parts), "verdict": verdict}


def _missing(key: str, run: str, why: str, verdict: str = "not run") -> dict:
    return {"claim": CLAIM[key], "source": SOURCE[key], "run": run, "measurement": why, "number": "-",
            "difference": "-", "seeds": "-", "verdict": verdict}


def run_rows(doc: dict, run: str) -> list[dict]:
    """The dynamics rows of one compare run with a_z histories."""
    names = [k for k in ("soft", "hard", "lvml", "hybrid") if k in doc["results"]]
    stats = {k: window_stats(doc["results"][k]["history"]) for k in names}
    s, h = stats["soft"], stats["hard"]
    rows = []
    p = judge(s["early"], h["early"], +1)
    rows.append(_row("early", run, f"mean test a_z over the {s['early_points']} points in the first "
                     f"{EARLY_FRACTION:.0%} of {s['steps']:.0f} steps", _number(stats, "soft", "hard", "early"),
                     [("soft − hard", p)], p["verdict"]))
    p = judge(h["gain"], s["gain"], +1)
    rows.append(_row("gain", run, "test a_z gain over the run's second half",
                     _number(stats, "hard", "soft", "gain", "{:+.3f}"), [("hard − soft", p)], p["verdict"]))
    p = judge(h["final"], s["final"], +1)
    rows.append(_row("final", run, "final test a_z (whole split)", _number(stats, "hard", "soft", "final"),
                     [("hard − soft", p)], p["verdict"]))
    if "hybrid" in stats:
        y = stats["hybrid"]
        parts = [("hybrid − soft", judge(y["final"], s["final"], +1)),
                 ("hybrid − hard", judge(y["final"], h["final"], +1))]
        rows.append(_row("hybrid", run, "final test a_z, the same number of steps",
                         f"hybrid {np.mean(y['final']):.3f}, soft {np.mean(s['final']):.3f}, "
                         f"hard {np.mean(h['final']):.3f}", parts, judge_all([p for _, p in parts])))
    if "lvml" in stats:
        v = stats["lvml"]
        parts = [("lvml − soft", judge(v["final"], s["final"], +1)),
                 ("lvml − hard", judge(v["final"], h["final"], +1))]
        rows.append(_row("lvml", run, "final test a_z", f"lvml {np.mean(v['final']):.3f}, soft "
                         f"{np.mean(s['final']):.3f}, hard {np.mean(h['final']):.3f}", parts,
                         judge_between(*[p for _, p in parts])))
    return rows


def paper_budget_rows(doc: dict, run: str) -> list[dict]:
    """The paper-budget signature run: no a_z history, so final a_z, hybrid, LVML and signature."""
    summary = doc["summary"]
    final = {k: np.asarray(summary[k]["mean_a_z"], np.float64) for k in summary}
    rows = [_missing(k, run, "not measurable: this run predates the fine clock and recorded no a_z "
                     "history", "not measurable") for k in ("early", "gain")]
    p = judge(final["hard"], final["soft"], +1)
    rows.append(_row("final", run, "final test a_z", f"hard {final['hard'].mean():.3f}, soft "
                     f"{final['soft'].mean():.3f}", [("hard − soft", p)], p["verdict"]))
    parts = [("hybrid − soft", judge(final["hybrid"], final["soft"], +1)),
             ("hybrid − hard", judge(final["hybrid"], final["hard"], +1))]
    rows.append(_row("hybrid", run, "final test a_z; the hybrid trains twice the others' epochs",
                     f"hybrid {final['hybrid'].mean():.3f}", parts, judge_all([p for _, p in parts])))
    parts = [("lvml − soft", judge(final["lvml"], final["soft"], +1)),
             ("lvml − hard", judge(final["lvml"], final["hard"], +1))]
    rows.append(_row("lvml", run, "final test a_z", f"lvml {final['lvml'].mean():.3f}", parts,
                     judge_between(*[p for _, p in parts])))
    cells = {k: np.asarray(summary[k]["low_a_z_high_s_y_percent"]["pooled"], np.float64) for k in ("soft", "hard")}
    p = judge(cells["soft"], cells["hard"], +1)
    rows.append(_row("signature", run, "% of test mosaics with a_z < 0.2 and pooled s_y ≥ 0.8",
                     f"soft {cells['soft'].mean():.2f}%, hard {cells['hard'].mean():.2f}%",
                     [("soft − hard", p)], p["verdict"]))
    return rows


def fixed_focus_rows(docs: list[dict], run: str) -> list[dict]:
    """Incentive at α = 0.8 minus at α = 0.2, per seed, for soft (claimed < 0) and hard (> 0)."""
    results = {k: v for doc in docs for k, v in doc["results"].items()}
    rows = []
    for loss, sign in (("soft", -1), ("hard", +1)):
        inc = {a: np.asarray(results[loss][a]["incentive"], np.float64)[:, -1] for a in ("0.2", "0.8")}
        p = judge(inc["0.8"], inc["0.2"], sign)
        row = _row("fixed", run, f"{loss}: incentive L(α) − L(α + 0.01) at the last epoch",
                   f"α = 0.2: {inc['0.2'].mean():.4f}, α = 0.8: {inc['0.8'].mean():.4f}",
                   [(f"{loss}: 0.8 − 0.2", p)], p["verdict"])
        row["difference"] = f"{loss} 0.8 − 0.2: {_diff(p, '{:+.4f}')}"
        rows.append(row)
    return rows


def simple_rows(verify: dict) -> list[dict]:
    """The simple setting, exact float64 (no seeds): the sign is the verdict."""
    detail = next(c["detail"] for c in verify["checks"] if c["name"] == "paper_alpha_values")
    alpha = {(k, int(t)): float(v) for k, t, v in re.findall(r"(soft|hard|lvml)@(\d+): ([0-9.]+)", detail)}
    hybrid = verify["hybrid"]
    run = "simple setting, m = C = 20, exact gradient flow (`attnjax verify`)"
    rows = []

    def row(key, measurement, number, holds):
        rows.append({"claim": CLAIM[key], "source": SOURCE[key], "run": run, "measurement": measurement,
                     "number": number, "difference": "exact", "seeds": "-",
                     "verdict": "reproduced" if holds else "contradicted"})

    row("early", "α at t = 500", f"soft {alpha[('soft', 500)]:.3f}, hard {alpha[('hard', 500)]:.3f}",
        alpha[("soft", 500)] > alpha[("hard", 500)])
    row("final", "α at t = 3000", f"hard {alpha[('hard', 3000)]:.3f}, soft {alpha[('soft', 3000)]:.3f}",
        alpha[("hard", 3000)] > alpha[("soft", 3000)])
    row("hybrid", f"α at t = 3000, the best switch (t = {hybrid['switch_time']:.0f})",
        f"hybrid {hybrid['alpha']:.5f}, hard {hybrid['hard_only_alpha']:.5f}, soft {hybrid['soft_only_alpha']:.5f}",
        hybrid["alpha"] > max(hybrid["hard_only_alpha"], hybrid["soft_only_alpha"]))
    lo, hi = sorted((alpha[("soft", 3000)], alpha[("hard", 3000)]))
    row("lvml", "α at t = 3000", f"lvml {alpha[('lvml', 3000)]:.3f} (soft {alpha[('soft', 3000)]:.3f}, "
        f"hard {alpha[('hard', 3000)]:.3f}); at t = 500 lvml {alpha[('lvml', 500)]:.3f}, above both",
        lo <= alpha[("lvml", 3000)] <= hi)
    return rows


def theory_rows(results: Path = RESULTS) -> list[dict]:
    """E4 against the fixed-focus closed forms at the flow-time clock (`analytic.run_theory`): per loss,
    the largest gap over every alpha and epoch between the seeds' mean and the closed form."""
    rows = []
    for path in sorted(results.glob(FIXED_FOCUS[0][0] + "*/fixed_focus.json")):
        doc = json.loads(path.read_text())
        for name, theory in doc.get("theory", {}).items():
            run = doc["results"][name]
            loss_gap, inc_gap, inc_top, last_gap = 0.0, 0.0, 0.0, 0.0
            for alpha, closed in theory["alphas"].items():
                got_loss = np.mean(np.asarray(run[alpha]["loss"], np.float64), axis=0)
                got_inc = np.mean(np.asarray(run[alpha]["incentive"], np.float64), axis=0)
                want_loss = np.asarray(closed["loss"], np.float64)
                want_inc = np.asarray(closed["incentive"], np.float64)
                loss_gap = max(loss_gap, float(np.max(np.abs(got_loss - want_loss) / want_loss)))
                last_gap = max(last_gap, float(abs(got_loss[-1] - want_loss[-1]) / want_loss[-1]))
                inc_gap = max(inc_gap, float(np.max(np.abs(got_inc - want_inc))))
                inc_top = max(inc_top, float(np.max(np.abs(want_inc))))
            paradigm = doc["config"]["paradigms"][name]
            rows.append({"loss": name, "run": f"docs/results/{path.parent.name}",
                         "lr": float(np.atleast_1d(paradigm["learning_rate"])[0]),
                         "flow_time": float(theory["flow_time"][-1]), "seeds": int(doc["config"]["seeds"]),
                         "loss_gap": loss_gap, "last_loss_gap": last_gap, "incentive_gap": inc_gap,
                         "incentive_top": inc_top})
    return rows


def _table(header: list[str], cells: list[list[str]]) -> list[str]:
    """Markdown table lines: the header, its rule, one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(c) + " |" for c in cells)]


def theory_markdown(rows: list[dict]) -> str:
    header = ["loss", "lr", "flow time at epoch 100", "largest relative gap in L(α), any α and epoch", "at epoch 100",
              "largest gap in the incentive (its largest value)"]
    return "\n".join(_table(header, [[r["loss"], f"{r['lr']:g}", f"{r['flow_time']:.0f}", f"{r['loss_gap']:.1%}",
                                      f"{r['last_loss_gap']:.2%}", f"{r['incentive_gap']:.5f} ({r['incentive_top']:.4f})"]
                                     for r in rows]))


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def claims(results: Path = RESULTS) -> list[dict]:
    rows = simple_rows(json.loads((results / "verify" / "verify.json").read_text()))
    for folder, label in RUNS:
        doc = _load(results / folder / "results.json")
        if doc is None:
            rows += [_missing(k, label, f"not committed: docs/results/{folder}") for k in ("early", "gain", "final")]
        else:
            rows += run_rows(doc, label)
    doc = _load(results / PAPER_BUDGET[0] / "signature.json")
    if doc is not None:
        rows += paper_budget_rows(doc, PAPER_BUDGET[1])
    for folder, label in FIXED_FOCUS:
        docs = [d for d in (_load(p / "fixed_focus.json") for p in sorted(results.glob(folder + "*")) if p.is_dir())
                if d]
        losses = {k for d in docs for k in d["results"]}
        if {"soft", "hard"} <= losses:
            rows += fixed_focus_rows(docs, label)
        else:
            rows.append(_missing("fixed", label, f"not committed: docs/results/{folder}"))
    return rows


def markdown(rows: list[dict]) -> str:
    """The table: one line per claim and run, the claims' sources listed once below it."""
    header = ["claim", "run", "measurement", "means", "paired difference, 95% interval", "seeds with the claimed sign",
              "verdict"]
    out = _table(header, [[r["claim"], r["run"], r["measurement"], r["number"], r["difference"], r["seeds"],
                           f"**{r['verdict']}**"] for r in rows])
    out += ["", "Sources of the claims:", ""]
    out += [f"- {CLAIM[k]}: {SOURCE[k]}" for k in CLAIM]
    return "\n".join(out)


BEGIN, END = "<!-- claims-table: begin (python docs/claims.py --write) -->", "<!-- claims-table: end -->"
TARGETS = (Path(__file__).parent / "results.md", Path(__file__).parents[1] / "README.md")


def _spliced(text: str, table: str) -> str | None:
    """``text`` with the block between the markers replaced by ``table``; None without markers."""
    if BEGIN not in text or END not in text:
        return None
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the folder of committed runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--write", action="store_true", help="replace the tables in docs/results.md and README.md")
    parser.add_argument("--check", action="store_true",
                        help="print nothing, and exit 1 with one line per stale copy if those tables are stale")
    args = parser.parse_args(argv)
    rows = claims(args.results)
    theory = theory_rows(args.results)
    table = markdown(rows)
    if theory:
        table += ("\n\nE4 against the fixed-focus closed forms at each epoch's flow time lr · steps / (1 − momentum), "
                  "mean over seeds:\n\n" + theory_markdown(theory))
    if not args.check:
        print(table)
    stale = []
    for path in TARGETS if (args.write or args.check) else ():
        text = path.read_text(encoding="utf-8")
        new = _spliced(text, table)
        if new is None:
            stale.append(f"{path}: no claims-table markers")
        elif new != text:
            if args.write:
                path.write_text(new, encoding="utf-8")
            else:
                stale.append(f"{path}: the table is not what docs/claims.py prints")
    for line in stale:
        print(line, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"claims": rows, "fixed_focus_theory": theory}, indent=1) + "\n")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
