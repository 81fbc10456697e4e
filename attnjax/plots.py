"""Figures drawn from result documents alone (so ``attnjax plot`` can redraw them).

Every figure says how many seeds it shows, and is drawn on a plain
:class:`matplotlib.figure.Figure` (no pyplot, no global backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import new_figure, save_figure_atomic

__all__ = ["PALETTE", "plot_compare", "plot_signature", "plot_fixed_focus", "plot_sweep"]

PALETTE = {"soft": "tab:blue", "hard": "tab:red", "lvml": "tab:green", "hybrid": "tab:purple",
           "hard-reinforce": "tab:orange", "hard-gumbel": "tab:brown", "lvml-em": "tab:olive"}
OBJECTIVE = {"soft": "soft-attention loss", "hard": "hard-attention loss (expected CE)",
             "lvml": "LVML loss (−log marginal likelihood)", "hybrid": "hybrid: soft, then second-phase loss",
             "hard-reinforce": "sampled CE (REINFORCE, mean over batch)",
             "hard-gumbel": "sampled CE (straight-through Gumbel)", "lvml-em": "LVML loss (trained by EM)"}


def _band(ax, values, label: str | None, color, *, limits=(-np.inf, np.inf)):
    """Mean over seeds as a line, ± one standard deviation as a band (clipped to ``limits``)."""
    values = np.asarray(values, np.float64)
    epochs = np.arange(1, values.shape[1] + 1)
    mean = values.mean(0)
    std = values.std(0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    ax.plot(epochs, mean, label=label, color=color)
    ax.fill_between(epochs, np.clip(mean - std, *limits), np.clip(mean + std, *limits), alpha=0.2,
                    color=color, linewidth=0)


def _loss_scale(ax, values):
    """Log scale when the loss spans more than a factor of 10, else linear (readable ticks)."""
    values = np.asarray(values, np.float64)
    if values.min() > 0 and values.max() / values.min() > 10:
        ax.set_yscale("log")


def _save(fig, doc: dict, title: str, out_dir, name: str) -> Path:
    """Title the figure with the data set and m, lay it out, and write ``out_dir/name``."""
    data = doc["config"]["data"]
    fig.suptitle(f"{data['name']}, m = {data['m']}: {title}")
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return save_figure_atomic(fig, Path(out_dir) / name)


def _seeds(doc: dict) -> str:
    n = int(doc["config"]["seeds"])
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _epoch_axis(ax):
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter):
        ax.ticklabel_format(axis="y", useOffset=False)


def _switch_epochs(doc: dict) -> list[int]:
    """The hybrid's switch epochs (one per distinct value over runs), or []."""
    hybrid = doc["config"].get("paradigms", {}).get("hybrid")
    if not hybrid or "switch_epoch" not in hybrid:
        return []
    return sorted({int(s) for s in np.atleast_1d(hybrid["switch_epoch"])})


def _mark_switch(ax, switches, *, label: bool = False):
    for k, s in enumerate(switches):
        ax.axvline(s + 0.5, color=PALETTE["hybrid"], linestyle="--", linewidth=1,
                   label="hybrid switch" if label and k == 0 else None)


def plot_compare(doc: dict, out_dir: Path) -> list[Path]:
    """``curves.png`` (test and focus accuracy, and one loss panel per objective) and ``ftpt.png``."""
    results = doc["results"]
    title = f"{doc['config']['data']['name']}, m = {doc['config']['data']['m']}, {_seeds(doc)} per loss"
    switches = _switch_epochs(doc) if "hybrid" in results else []
    n = 2 + len(results)
    fig = new_figure(figsize=(4.2 * min(n, 3), 3.6 * -(-n // 3)))
    axes = fig.subplots(-(-n // 3), min(n, 3), squeeze=False).ravel()
    for name, res in results.items():
        color = PALETTE.get(name)
        _band(axes[0], res["history"]["test"]["accuracy"], name, color, limits=(0, 100))
        _band(axes[1], res["history"]["test"]["focus_accuracy"], name, color, limits=(0, 100))
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("test focus accuracy (%)")
    for k, (name, res) in enumerate(results.items()):
        ax = axes[2 + k]
        _band(ax, res["history"]["loss"], name, PALETTE.get(name))
        ax.set_ylabel("training loss")
        ax.set_title(OBJECTIVE.get(name, name), fontsize=9)
        _loss_scale(ax, res["history"]["loss"])
        if name == "hybrid":
            _mark_switch(ax, switches, label=True)
            ax.legend(fontsize=8)
    for ax in axes[:2]:
        _mark_switch(ax, switches)
    for ax in axes[:n]:
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: mean ± std over seeds; each loss judged by its own inference rule"
                 + ("; dashed: hybrid switch" if switches else ""))
    fig.tight_layout()
    paths = [save_figure_atomic(fig, Path(out_dir) / "curves.png")]

    fig = new_figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    width = 0.8 / max(len(results), 1)
    for ax, cells in zip(axes, (["ftpt", "ffpt"], ["ftpf", "ffpf"])):
        for i, (name, res) in enumerate(results.items()):
            values = np.array([res["test"][c] for c in cells], np.float64)  # [2, S]
            mean = values.mean(1)
            std = values.std(1, ddof=1) if values.shape[1] > 1 else np.zeros(2)
            err = np.clip(np.stack([np.minimum(std, mean), np.minimum(std, 100 - mean)]), 0, None)  # in [0, 100]
            ax.bar(np.arange(2) + i * width, mean, width, yerr=err, label=name,
                   color=PALETTE.get(name), capsize=3)
        ax.set_xticks(np.arange(2) + width * (len(results) - 1) / 2)
        ax.set_xticklabels([c.upper() for c in cells])
        ax.set_ylabel("% of test mosaics")
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("prediction true")
    axes[1].set_title("prediction false (own scale)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: focus true/false × prediction true/false, final epoch (mean ± std)")
    fig.tight_layout()
    paths.append(save_figure_atomic(fig, Path(out_dir) / "ftpt.png"))
    return paths


def plot_signature(doc: dict, out_dir: Path) -> Path:
    """One annotated heatmap per loss, under the convention ``doc["shown"]``."""
    shown = doc["shown"]
    maps = {name: np.asarray(hm[shown]) for name, hm in doc["heatmaps"].items()}
    edges = np.asarray(doc["bins"]["edges"])
    bins = len(edges) - 1
    fig = new_figure(figsize=(3.6 * len(maps) + 1, 4.2), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)
    labels = [f"{edges[i]:.1f}–{edges[i + 1]:.1f}" for i in range(bins)]
    top = max(max(hm.max() for hm in maps.values()), 1e-9)  # one colour scale for every panel
    for ax, (name, hm) in zip(axes[0], maps.items()):
        image = ax.imshow(hm, origin="lower", cmap="viridis", vmin=0, vmax=top)
        for i in range(bins):
            for j in range(bins):
                ax.text(j, i, f"{hm[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if hm[i, j] < 0.6 * top else "black")
        ax.set_xticks(range(bins))
        ax.set_xticklabels(labels, rotation=45, fontsize=7)
        ax.set_yticks(range(bins))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel(f"s_y ({shown}): probability of the true label")
        ax.set_title(name)
    axes[0][0].set_ylabel("a_z: attention on the true segment")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="% of test mosaics")
    rule = ("each paradigm's own rule" if shown == "own"
            else "the pooled rule softmax(g(Σ α_j x_j)) for every paradigm")
    return _save(fig, doc, f"signature, % of test mosaics, mean over {_seeds(doc)}\ns_y under {rule} "
                 f"(protocol {doc['config']['protocol']['name']})", out_dir, "signature.png")


def plot_fixed_focus(doc: dict, out_dir: Path) -> Path:
    """L(alpha) and the incentive against epoch: one column per loss, one line per alpha.

    The incentive row shares one y-scale, since comparing paradigms is the point.
    """
    from matplotlib import colormaps

    results = doc["results"]
    step = doc["incentive_step"]
    fig = new_figure(figsize=(4.5 * len(results), 7))
    axes = fig.subplots(2, len(results), squeeze=False, sharey="row")
    cmap = colormaps["viridis"]
    for col, (name, per_alpha) in enumerate(results.items()):
        for k, (alpha, v) in enumerate(per_alpha.items()):
            color = cmap(k / max(len(per_alpha) - 1, 1))
            _band(axes[0][col], v["loss"], f"α = {alpha}", color)
            _band(axes[1][col], v["incentive"], f"α = {alpha}", color)
        axes[0][col].set_title(name)
        _loss_scale(axes[0][col], [v["loss"] for v in per_alpha.values()])
        for ax in axes[:, col]:
            _epoch_axis(ax)
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("L(α)")
    axes[1][0].set_ylabel(f"incentive L(α) − L(α + {step:g})\n(at α = 1: L({1 - step:g}) − L(1))")
    axes[0][0].legend(fontsize=8)
    return _save(fig, doc, f"classifier trained with the focus frozen (mean ± std over {_seeds(doc)} per α)",
                 out_dir, "fixed_focus.png")


def plot_sweep(doc: dict, out_dir: Path) -> Path:
    """Final test focus accuracy and test accuracy over the grid, mean ± std over seeds.

    One grid axis: a line with error bars. Two or more: a heatmap over the first
    two axes (averaged over the others, as the title says), cells annotated
    with mean ± std.
    """
    axes_names = list(doc["grid"])
    rows = doc["rows"]
    losses = list(dict.fromkeys(r["loss"] for r in rows))
    metrics = (("test_focus_accuracy", "test focus accuracy (%)"), ("test_accuracy", "test accuracy (%)"))
    fig = new_figure(figsize=(5.2 * len(metrics), 3.8 * max(len(losses), 1)))
    axes = fig.subplots(max(len(losses), 1), len(metrics), squeeze=False)
    for i, loss in enumerate(losses):
        mine = [r for r in rows if r["loss"] == loss]
        for j, (key, label) in enumerate(metrics):
            ax = axes[i][j]
            if len(axes_names) == 1:
                x_name = axes_names[0]
                xs = sorted({r[x_name] for r in mine})
                values = [[r[key] for r in mine if r[x_name] == x] for x in xs]
                mean = [np.mean(v) for v in values]
                std = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
                ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, color=PALETTE.get(loss))
                ax.set_xlabel(x_name)
                if x_name == "learning_rate":
                    ax.set_xscale("log")
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
            else:
                y_name, x_name = axes_names[:2]
                ys, xs = sorted({r[y_name] for r in mine}), sorted({r[x_name] for r in mine})
                mean = np.full((len(ys), len(xs)), np.nan)
                std = np.zeros_like(mean)
                for a, y in enumerate(ys):
                    for b, x in enumerate(xs):
                        v = [r[key] for r in mine if r[y_name] == y and r[x_name] == x]
                        mean[a, b] = np.mean(v)
                        std[a, b] = np.std(v, ddof=1) if len(v) > 1 else 0.0
                ax.imshow(mean, origin="lower", cmap="viridis", aspect="auto", vmin=0, vmax=100)
                for a in range(len(ys)):
                    for b in range(len(xs)):
                        ax.text(b, a, f"{mean[a, b]:.1f}\n±{std[a, b]:.1f}", ha="center", va="center",
                                fontsize=7, color="white" if mean[a, b] < 60 else "black")
                ax.set_xticks(range(len(xs)))
                ax.set_xticklabels([f"{x:g}" for x in xs])
                ax.set_yticks(range(len(ys)))
                ax.set_yticklabels([f"{y:g}" for y in ys])
                ax.set_xlabel(x_name)
                ax.set_ylabel(y_name)
                ax.set_title(label, fontsize=9)
            if j == 0:
                ax.annotate(loss, xy=(0, 1.02), xycoords="axes fraction", fontsize=10, weight="bold")
    rest = axes_names[2:]
    return _save(fig, doc, f"sweep, final epoch, mean ± std over {doc['seeds']} seed{'s' * (doc['seeds'] != 1)}"
                 + (f" (averaged over {', '.join(rest)})" if rest else ""), out_dir, "sweep.png")
