"""The hybrid's best switch time: the exact flow's tau* against attnjax's gradient descent.

For each learning rate, attnjax's hybrid (linear focus and classifier, orthogonal data,
one mosaic per class, zero init) trains with full-batch plain gradient descent (momentum
0, float32) for E = T / lr epochs, at every switch epoch of a grid, in one compiled
program; the best switch epoch times lr is compared with the flow's optimum tau*
(:func:`analytic.best_switch_time`, float64). The gap should shrink about linearly in lr.

    python docs/switch_theory_vs_sgd.py

Writes docs/results/switch/switch.json and switch.png; about 8 minutes on 2 CPU cores at
the defaults (m = C = 20, T = 3000, lr = 1, 0.5, 0.25).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analytic.switch_sgd import switch_figure, switch_theory_vs_sgd
from attnjax.files import format_table, save_figure_atomic, write_json_atomic

OUT = Path(__file__).resolve().parent / "results" / "switch"


def table(result) -> str:
    th = result["theory"]
    rows = [
        [f"{r['lr']:g}", str(r["epochs"]), f"{r['best_switch_epoch']:.1f}",
         f"{r['best_switch_time']:.2f}", f"{th['tau_star']:.2f}", f"{r['gap_time']:.3f}",
         f"{r['sgd_best_alpha']:.7f}", f"{r['sgd_alpha_at_tau_star']:.7f}", f"{th['alpha_star']:.7f}"]
        for r in result["runs"]
    ]
    header = ["lr", "E", "best switch epoch", "best tau (GD)", "tau*", "gap",
              "alpha GD best", "alpha GD at tau*", "alpha* theory"]
    return format_table(header, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=20)
    parser.add_argument("--C", type=int, default=20)
    parser.add_argument("--T", type=float, default=3000.0)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--n-switch", type=int, default=30)
    parser.add_argument("--window", type=float, default=0.04)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--replot", action="store_true",
                        help="redraw the figure and table from an existing switch.json")
    args = parser.parse_args(argv)
    if args.replot:
        result = json.loads((args.out / "switch.json").read_text())
    else:
        result = switch_theory_vs_sgd(m=args.m, C=args.C, T=args.T, lrs=tuple(args.lrs),
                                      n_switch=args.n_switch, window=args.window)
        write_json_atomic(args.out / "switch.json", result)
    save_figure_atomic(switch_figure(result), args.out / "switch.png")
    print(table(result))
    order = result["gap_order"]
    print(f"gap ~ lr^{order:.2f}" if order is not None else "gap order: n/a")
    print(f"wrote {args.out / 'switch.json'} and {args.out / 'switch.png'}")


if __name__ == "__main__":
    main()
