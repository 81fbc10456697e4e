"""Turning results into tables, plots and JSON files (written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .files import format_table, new_figure, save_figure_atomic, write_json_atomic
from .metrics import METRICS, RULES

__all__ = [
    "write_json_atomic",
    "save_figure_atomic",
    "mean_std",
    "format_table",
    "compare_results_json",
    "compare_table",
    "plot_compare",
    "signature_json",
    "signature_table",
    "plot_signature",
    "fixed_focus_json",
    "fixed_focus_table",
    "plot_fixed_focus",
]

PALETTE = {"soft": "tab:blue", "hard": "tab:red", "lvml": "tab:green", "hybrid": "tab:purple"}


def mean_std(values) -> str:
    values = np.asarray(values, np.float64)
    if values.size == 1:
        return f"{values.item():.1f}"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"


def _metrics_at(counts, rule: int, epoch: int | slice = -1) -> dict[str, np.ndarray]:
    """``{metric: [S, ...]}`` under one inference rule at an epoch (or epochs)."""
    out = {}
    for name in METRICS:
        value = np.asarray(getattr(counts, name))[:, epoch]
        out[name] = value if name == "focus_accuracy" else value[..., rule]
    return out


def run_summary(runs) -> dict:
    """JSON-ready results of one paradigm: final metrics per seed and the history."""
    rule = runs.config.rule
    history = runs.history
    return {
        "rule": RULES[rule],
        "learning_rate": runs.learning_rate,
        "seconds": round(runs.seconds, 3),
        "train": _metrics_at(history.train, rule),
        "test": _metrics_at(history.test, rule),
        "by_rule": {
            RULES[r]: {"train": _metrics_at(history.train, r), "test": _metrics_at(history.test, r)}
            for r in range(len(RULES))
        },
        "history": {
            "loss": np.asarray(history.loss),
            "train": _metrics_at(history.train, rule, slice(None)),
            "test": _metrics_at(history.test, rule, slice(None)),
        },
    }


def compare_results_json(config: Mapping[str, Any], runs: Mapping[str, Any]) -> dict:
    """The ``results.json`` document of ``attnjax compare``.

    ``{"config": {...}, "results": {LOSS: {"train": {METRIC: [per seed]}, "test": {...},
    "history": {"loss": [S][E], "train": {METRIC: [S][E]}, "test": ...}, "by_rule": ...}}}``;
    metrics are percentages under the paradigm's own inference rule (``"rule"``).
    """
    return {
        "config": dict(config),
        "metrics": {
            "units": "percent of mosaics",
            "names": list(METRICS),
            "ftpt": "focus true, prediction true",
            "ffpt": "focus false, prediction true",
            "ftpf": "focus true, prediction false",
            "ffpf": "focus false, prediction false",
        },
        "results": {name: run_summary(r) for name, r in runs.items()},
    }


def compare_table(results: Mapping[str, Any]) -> str:
    """Mean ± std over seeds of the final test metrics of each paradigm."""
    header = ["loss", "rule", "train acc", "test acc", "focus acc", "FTPT", "FFPT", "FTPF", "FFPF", "final loss"]
    rows = []
    for name, res in results.items():
        test = res["test"]
        rows.append([
            name, res["rule"], mean_std(res["train"]["accuracy"]), mean_std(test["accuracy"]),
            mean_std(test["focus_accuracy"]),
            *(mean_std(test[k]) for k in ("ftpt", "ffpt", "ftpf", "ffpf")),
            f"{np.mean(np.asarray(res['history']['loss'])[:, -1]):.4f}",
        ])
    return format_table(header, rows)


def _band(ax, values: np.ndarray, label: str, color: str | None):
    """Mean over seeds as a line, ± one standard deviation as a band."""
    values = np.asarray(values, np.float64)
    epochs = np.arange(1, values.shape[1] + 1)
    mean = values.mean(0)
    std = values.std(0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    ax.plot(epochs, mean, label=label, color=color)
    ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, color=color, linewidth=0)


def plot_compare(results: Mapping[str, Any], out_dir: Path, *, title: str = "") -> list[Path]:
    """Curves (test accuracy, focus accuracy against epoch) and the final FT/FF/PT/PF bars."""
    paths = []
    fig = new_figure(figsize=(15, 4))
    axes = fig.subplots(1, 3)
    for name, res in results.items():
        color = PALETTE.get(name)
        _band(axes[0], res["history"]["test"]["accuracy"], name, color)
        _band(axes[1], res["history"]["test"]["focus_accuracy"], name, color)
        _band(axes[2], res["history"]["loss"], name, color)
    for ax, label in zip(axes, ["test accuracy (%)", "test focus accuracy (%)", "training loss"]):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    axes[0].legend()
    fig.suptitle(f"{title} (mean ± std over seeds; each loss judged by its own inference rule)")
    paths.append(save_figure_atomic(fig, out_dir / "curves.png"))

    cells = ["ftpt", "ffpt", "ftpf", "ffpf"]
    fig = new_figure(figsize=(8, 4))
    ax = fig.subplots()
    width = 0.8 / max(len(results), 1)
    for i, (name, res) in enumerate(results.items()):
        values = np.array([res["test"][c] for c in cells], np.float64)  # [4, S]
        err = values.std(1, ddof=1) if values.shape[1] > 1 else None
        ax.bar(np.arange(4) + i * width, values.mean(1), width, yerr=err, label=name,
               color=PALETTE.get(name), capsize=3)
    ax.set_xticks(np.arange(4) + width * (len(results) - 1) / 2)
    ax.set_xticklabels([c.upper() for c in cells])
    ax.set_ylabel("% of test mosaics")
    ax.set_title(f"{title}: focus true/false × prediction true/false (final epoch)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    paths.append(save_figure_atomic(fig, out_dir / "ftpt.png"))
    return paths


def signature_json(config: Mapping[str, Any], signatures: Mapping[str, dict], *, bins: int = 5) -> dict:
    """The ``signature.json`` document (heatmaps in percent, orientation stated)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return {
        "config": dict(config),
        "bins": {
            "edges": edges,
            "orientation": (
                "heatmaps[LOSS][i][j] is the percent of test mosaics (mean over seeds) whose "
                "attention on the true segment a_z lies in [edges[i], edges[i+1]) and whose "
                "probability of the true label s_y lies in [edges[j], edges[j+1]); the last bin "
                "includes 1. Row 0 is the lowest a_z, column 0 the lowest s_y."
            ),
            "s_y": "probability of the true label under the paradigm's own rule: pooled (soft), expected (hard, lvml, hybrid)",
        },
        "heatmaps": {name: sig["heatmap"] for name, sig in signatures.items()},
        "heatmaps_std": {name: sig["heatmap_std"] for name, sig in signatures.items()},
        "summary": {
            name: {
                "mean_a_z": sig["mean_a_z"],
                "mean_s_y": sig["mean_s_y"],
                "low_a_z_high_s_y_percent": sig["low_a_z_high_s_y"],
                "low_a_z_high_s_y_definition": f"a_z < {edges[1]:.2f} and s_y >= {edges[-2]:.2f}",
                "shortcut": sig["shortcut"],
            }
            for name, sig in signatures.items()
        },
    }


def signature_table(doc: dict) -> str:
    header = ["loss", "mean a_z", "mean s_y", "low a_z & high s_y (%)", "seeds with shortcut"]
    rows = []
    for name, s in doc["summary"].items():
        short = s["shortcut"]
        rows.append([
            name, f"{np.mean(s['mean_a_z']):.3f}", f"{np.mean(s['mean_s_y']):.3f}",
            mean_std(s["low_a_z_high_s_y_percent"]),
            f"{short['seeds_with_shortcut']}/{short['seeds']}",
        ])
    return format_table(header, rows)


def plot_signature(doc: dict, out_dir: Path, *, title: str = "") -> Path:
    """One annotated 5x5 heatmap per loss: a_z on the vertical axis, s_y on the horizontal."""
    maps = doc["heatmaps"]
    edges = np.asarray(doc["bins"]["edges"])
    bins = len(edges) - 1
    fig = new_figure(figsize=(3.6 * len(maps), 3.6))
    axes = fig.subplots(1, len(maps), squeeze=False)
    labels = [f"{edges[i]:.1f}–{edges[i + 1]:.1f}" for i in range(bins)]
    for ax, (name, hm) in zip(axes[0], maps.items()):
        hm = np.asarray(hm)
        ax.imshow(hm, origin="lower", cmap="viridis", vmin=0, vmax=max(hm.max(), 1e-9))
        for i in range(bins):
            for j in range(bins):
                ax.text(j, i, f"{hm[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if hm[i, j] < 0.6 * hm.max() else "black")
        ax.set_xticks(range(bins))
        ax.set_xticklabels(labels, rotation=45, fontsize=7)
        ax.set_yticks(range(bins))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("s_y: probability of the true label")
        ax.set_title(name)
    axes[0][0].set_ylabel("a_z: attention on the true segment")
    fig.suptitle(f"{title} signature (% of test mosaics, mean over seeds)")
    return save_figure_atomic(fig, out_dir / "signature.png")


def fixed_focus_json(config: Mapping[str, Any], runs: Mapping[str, Any], alphas, seeds: int) -> dict:
    """The ``fixed_focus.json`` document: per loss and alpha, L(alpha) and the incentive per epoch."""
    alphas = [float(a) for a in alphas]
    results = {}
    for name, r in runs.items():
        losses = np.asarray(r.history.fixed_focus_loss, np.float64)  # [A*S, E, 2]
        losses = losses.reshape(len(alphas), seeds, *losses.shape[1:])
        results[name] = {
            f"{a:g}": {
                "loss": losses[i, :, :, 0],
                "incentive": losses[i, :, :, 1],
                "test_accuracy": np.asarray(r.history.test.accuracy)[i * seeds:(i + 1) * seeds, :, r.config.rule],
            }
            for i, a in enumerate(alphas)
        }
    return {
        "config": dict(config),
        "definition": (
            "loss[s][e] is the mean training loss L(alpha) of seed s after epoch e+1 with the focus "
            "frozen at alpha on the foreground and (1-alpha)/(m-1) elsewhere; incentive[s][e] is "
            "L(alpha) - L(alpha + 0.01) for the same classifier (at alpha = 1, where alpha + 0.01 "
            "is not an attention, the backward difference L(0.99) - L(1))"
        ),
        "alphas": alphas,
        "results": results,
    }


def fixed_focus_table(doc: dict) -> str:
    header = ["loss", *(f"α={a:g}: L / incentive" for a in doc["alphas"])]
    rows = []
    for name, per_alpha in doc["results"].items():
        rows.append([name, *(
            f"{np.mean(np.asarray(v['loss'])[:, -1]):.3f} / {np.mean(np.asarray(v['incentive'])[:, -1]):.4f}"
            for v in per_alpha.values()
        )])
    return format_table(header, rows)


def plot_fixed_focus(doc: dict, out_dir: Path, *, title: str = "") -> Path:
    """L(alpha) and the incentive against epoch: one column per loss, one line per alpha."""
    results = doc["results"]
    fig = new_figure(figsize=(4.5 * len(results), 7))
    axes = fig.subplots(2, len(results), squeeze=False)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for col, (name, per_alpha) in enumerate(results.items()):
        for k, (alpha, v) in enumerate(per_alpha.items()):
            color = cmap(k / max(len(per_alpha) - 1, 1))
            _band(axes[0][col], v["loss"], f"α = {alpha}", color)
            _band(axes[1][col], v["incentive"], f"α = {alpha}", color)
        axes[0][col].set_title(name)
        axes[0][col].set_yscale("log")
        axes[1][col].set_xlabel("epoch")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("L(α)")
    axes[1][0].set_ylabel("incentive L(α) − L(α + 0.01)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{title}: classifier trained with the focus frozen (mean ± std over seeds)")
    return save_figure_atomic(fig, out_dir / "fixed_focus.png")
