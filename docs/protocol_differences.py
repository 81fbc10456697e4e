"""Measure the effect of each difference between attnjax's protocol and the authors' code.

Trains the attnjax protocol once as the baseline, then once per difference with
only that difference switched to the authors' choice, on the same data seed and
training keys, and reports how far each paradigm's final test focus accuracy and
test accuracy move (mean over seeds, and the seed spread for scale). The s_y
convention of the signature needs no training of its own: both conventions are
scored on the baseline's models, and the largest heatmap cell difference is
reported.

    python docs/protocol_differences.py --json docs/results/protocol-differences/differences.json

Defaults: digits mosaics (m = 5, 2000 / 1000), the MLP pair, 8 seeds, 30 epochs;
about 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from attnjax.data import load_dataset
from attnjax.experiments import compare, signature
from attnjax.files import format_table, write_json_atomic
from attnjax.protocol import PROTOCOLS

BASE = PROTOCOLS["attnjax"]
PAPER = PROTOCOLS["paper"]

#: name -> (what the authors do, data options, training options)
DIFFERENCES = {
    "backgrounds with replacement": ("m - 1 backgrounds drawn with replacement", {"bg_replacement": True}, {}),
    "pixels in [-1, 1]": ("Normalize(0.5, 0.5)", {"pixel_range": (-1.0, 1.0)}, {}),
    "Xavier-normal classifier": ("Xavier-normal weights, zero biases", {}, {"classifier_init": "xavier"}),
    "hybrid as a second run": (
        "soft for E epochs, then E epochs of hard attention with a fresh optimizer", {},
        {"hybrid_reset": True, "hybrid_epochs": "each"},
    ),
    "the paper's batch and learning rate": (
        f"batch {PAPER.batch_size}, lr {PAPER.learning_rate}", {},
        {"batch_size": PAPER.batch_size, "learning_rate": PAPER.learning_rate},
    ),
}


def _final(runs, metric):
    out = {}
    for name, r in runs.items():
        values = np.asarray(getattr(r.history.test, metric))[:, -1]
        out[name] = values if metric == "focus_accuracy" else values[:, r.config.rule]
    return out


def run(args) -> dict:
    common = dict(seeds=args.seeds, seed=args.seed)
    data_args = dict(m=5, n_train=args.n_train, n_test=args.n_test, seed=args.seed)

    def train(data_options, train_options):
        data, info = load_dataset(args.dataset, **data_args, **data_options)
        options = dict(train_options)
        lr = options.pop("learning_rate", BASE.learning_rate)
        epochs = args.epochs
        if options.pop("hybrid_epochs", None) == "each":
            options["hybrid_epochs"] = (epochs, epochs)
        start = time.perf_counter()
        runs = compare(data, info, learning_rate=lr, epochs=epochs, **common, **options)
        return data, runs, time.perf_counter() - start

    data, base, seconds = train({}, {})
    print(f"baseline: {seconds:.0f} s")
    rows, doc = [], {"baseline": {}, "differences": {}}
    base_focus, base_acc = _final(base, "focus_accuracy"), _final(base, "accuracy")
    doc["baseline"] = {n: {"focus_accuracy": base_focus[n], "accuracy": base_acc[n]} for n in base}

    sigs = {n: signature(r, data) for n, r in base.items()}
    cell = {n: float(np.max(np.abs(s["heatmap"]["own"] - s["heatmap"]["pooled"]))) for n, s in sigs.items()}
    doc["differences"]["pooled s_y in the signature"] = {"max_cell_change_points": cell}
    rows.append(["pooled s_y in the signature", "s_y = softmax(g(Σ α x)) for every paradigm",
                 *(f"heatmap cell ≤ {cell[n]:.1f} pts" for n in base)])

    for name, (authors, data_options, train_options) in DIFFERENCES.items():
        _, runs, seconds = train(data_options, train_options)
        print(f"{name}: {seconds:.0f} s")
        focus, acc = _final(runs, "focus_accuracy"), _final(runs, "accuracy")
        entry = {}
        cells = []
        for n in base:
            d_focus = float(focus[n].mean() - base_focus[n].mean())
            d_acc = float(acc[n].mean() - base_acc[n].mean())
            spread = float(base_focus[n].std(ddof=1))
            entry[n] = {"focus_accuracy": focus[n], "accuracy": acc[n], "delta_focus_accuracy": d_focus,
                        "delta_accuracy": d_acc, "baseline_focus_std": spread}
            cells.append(f"{d_focus:+.1f} / {d_acc:+.1f}")
        doc["differences"][name] = entry
        rows.append([name, authors, *cells])
    table = format_table(["difference", "the authors' code", *base], rows)
    print()
    print(table)
    print("(change of the final test focus accuracy / test accuracy, percentage points, mean over "
          f"{args.seeds} seeds, against the attnjax protocol; seed spread of the baseline's focus "
          "accuracy: " + ", ".join(f"{n} ±{base_focus[n].std(ddof=1):.1f}" for n in base) + ")")
    doc["table"] = table
    doc["settings"] = {**vars(args), "protocol_attnjax": BASE.to_json(), "protocol_paper": PAPER.to_json()}
    return doc


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--n-train", type=int, default=BASE.n_train)
    p.add_argument("--n-test", type=int, default=BASE.n_test)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    doc = run(args)
    if args.json:
        write_json_atomic(args.json, doc)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
