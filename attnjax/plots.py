"""Figures drawn from result documents alone (so ``attnjax plot`` can redraw them).

Every figure says how many seeds it shows, and is drawn on a plain
`matplotlib.figure.Figure` (no pyplot, no global backend).

How curves over epochs show the spread over seeds (`_spread`):

* the thick line is the mean over seeds (on a log-scale loss axis the
  geometric mean, the mean of log loss, so a band cannot reach zero);
* with at most `SEED_LINES` seeds every seed is drawn as its own thin,
  faint line in the paradigm's colour instead of a band: a standard deviation
  of two or three values says little, and two paradigms' bands over each other
  turned into one grey area;
* with more seeds a light band of ± one standard deviation (on log axes ×/÷
  exp(std of log loss)) with its edges drawn as thin lines in the paradigm's
  colour, so overlapping bands stay told apart;
* with at most `FEW_POINTS` epochs every point has a marker (a one-epoch
  run is then a point, not an invisible line), and epoch ticks are integers.

Each figure's title or axis label says which of these it shows. Paradigms that
diverged (the document's ``"diverged"``) are not drawn; a red note under the
figure names them with the seed, epoch and loss where they did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .documents import focus_available
from .paradigms import REGISTRY
from .files import new_figure, save_figure_atomic

__all__ = ["PALETTE", "plot_compare", "plot_progress", "plot_signature", "plot_fixed_focus", "plot_sweep",
           "unit_of", "size_words", "diverged_note", "hybrid_budget", "plot_paired", "plot_curves", "ClockError", "X_AXES",
           "PAIRED_METRICS"]

#: Each paradigm's colour and the name of its objective, from `attnjax.paradigms`.
PALETTE = {name: p.color for name, p in REGISTRY.items()}
OBJECTIVE = {name: p.objective for name, p in REGISTRY.items()}
#: Readable names of the sweep's grid axes (the JSON keeps the variable names).
AXIS_LABELS = {"learning_rate": "learning rate", "momentum": "momentum", "switch_epoch": "switch epoch",
               "init_scale": "init scale"}
#: Curves with at most this many epochs get a marker on every point.
FEW_POINTS = 15
#: With at most this many seeds each seed is drawn as a line instead of a band.
SEED_LINES = 3
#: The part of the colormap used for the alphas of the fixed-focus figure: plasma
#: from dark blue to orange, every colour at least 3:1 in contrast against white.
ALPHA_CMAP, ALPHA_RANGE = "plasma", (0.0, 0.65)
DIVERGED_COLOR = "tab:red"
#: The tick on the hybrid's curve at its switch: its height (points) and stroke, thinner than the
#: curve (1.8), so that it marks the point without reading as a bar of data.
SWITCH_TICK = (9.0, 1.2)


def unit_of(data: Mapping | None) -> str:
    """What one example of a data set is called: ``"posts"`` for text, ``"bags"`` for your own
    bags (``--dataset bags``), else ``"mosaics"``.

    Arguments:
        data: a document's ``config["data"]`` (its ``name``, and for text data
            ``settings["segments"]`` starting with ``"token"``).
    """
    data = data or {}
    name = str(data.get("name", ""))
    if name == "bags":
        return "bags"
    segments = str((data.get("settings") or {}).get("segments", ""))
    text = name in ("text", "hatexplain") or name.startswith("text") or segments.startswith("token")
    return "posts" if text else "mosaics"


def _unit(doc: dict) -> str:
    return unit_of(doc.get("config", {}).get("data"))


def size_words(data: Mapping) -> str:
    """How a figure's title gives the examples' size m, for a document's ``config["data"]``.

    ``"m = 5"``, except where m is only the most: text (every post padded to m tokens) gives
    ``"posts of up to 16 tokens"``, mosaics of a varying number of segments (``--m-range``) or
    bags of varying sizes give ``"3 to 5 segments per mosaic"`` (or ``per bag``).
    """
    m, settings = data["m"], data.get("settings") or {}
    unit = unit_of(data)
    if unit == "posts":
        return f"posts of up to {m} tokens"
    low, high = settings.get("m_range") or settings.get("segments_per_bag") or (m, m)
    if low != high:
        return f"{low} to {high} segments per {unit[:-1]}"
    return f"m = {m}"


def diverged_note(doc: dict) -> str | None:
    """The line naming the paradigms that diverged (not drawn), or None when none did."""
    diverged = doc.get("diverged") or {}
    if not diverged:
        return None
    where = "; ".join(f"{name} at seed {w.get('seed', '?')}, epoch {w.get('epoch', '?')} (loss {w.get('loss', '?')})"
                      for name, w in diverged.items())
    return f"not drawn, diverged: {where}"


def _note_diverged(fig, doc: dict) -> None:
    """Write `diverged_note` under the figure (after its layout; saved with bbox 'tight')."""
    note = diverged_note(doc)
    if note:
        fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=9, color=DIVERGED_COLOR, wrap=True)


def _spread(ax, values, label: str | None, color, *, limits=(-np.inf, np.inf), log: bool = False,
            shared: int = 1, x=None):
    """One paradigm's curve over epochs with its spread over seeds (see the module docstring).

    Arguments:
        values: ``[S, E]`` (seeds, epochs).
        limits: the band is clipped to these (e.g. 0 and 100 for percentages).
        log: the axis is log scale: geometric mean, band in log space (values must be > 0).
        shared: how many curves share the axis; bands get fainter the more there are, so
            that overlapping bands stay told apart by their edges instead of turning grey.
        x: ``[E]`` (or ``[S, E]``, drawn at the mean over seeds) positions of the points; None:
            epochs 1 .. E.

    Returns:
        The mean line.
    """
    values = np.asarray(values, np.float64)
    seeds, epochs_n = values.shape
    if x is None:
        epochs = np.arange(1, epochs_n + 1)
    else:
        x = np.asarray(x, np.float64)
        epochs = x.mean(0) if x.ndim == 2 else x
    marker = "o" if epochs_n <= FEW_POINTS else None
    if log:
        logs = np.log(values)
        centre = np.exp(logs.mean(0))
    else:
        centre = values.mean(0)
    line = ax.plot(epochs, centre, label=label, color=color, marker=marker, markersize=4, linewidth=1.8,
                   zorder=3)[0]
    color = line.get_color()
    if seeds == 1:
        return line
    if seeds <= SEED_LINES:
        for v in values:
            ax.plot(epochs, v, color=color, linewidth=0.8, alpha=0.45, marker=marker, markersize=2.5, zorder=2)
        return line
    if log:
        s = logs.std(0, ddof=1)
        low, high = centre * np.exp(-s), centre * np.exp(s)
    else:
        s = values.std(0, ddof=1)
        low, high = centre - s, centre + s
    low, high = np.clip(low, *limits), np.clip(high, *limits)
    if epochs_n == 1:
        ax.errorbar(epochs, centre, yerr=[centre - low, high - centre], color=color, capsize=4, linewidth=1,
                    zorder=2)
    else:
        ax.fill_between(epochs, low, high, color=color, alpha=0.12 / max(shared, 1), linewidth=0,
                        zorder=1)
        for edge in (low, high):
            ax.plot(epochs, edge, color=color, linewidth=0.7, alpha=0.8, zorder=2)
    return line


def _spread_words(seeds: int) -> str:
    """How `_spread` shows ``seeds`` seeds, for a title."""
    if seeds <= 1:
        return "one seed"
    if seeds <= SEED_LINES:
        return f"thick: mean over {seeds} seeds, thin: each seed"
    return f"mean ± std over {seeds} seeds"


def _log_words(seeds: int) -> str:
    """What a log-scale loss axis shows, for the title (the axis label says "log scale")."""
    if seeds <= 1:
        return "log-scale losses"
    if seeds <= SEED_LINES:
        return "log-scale losses: thick line the geometric mean"
    return "log-scale losses: geometric mean, band ×/÷ geometric std (exp of the std of log loss)"


def _is_log(*arrays) -> bool:
    """Log scale when the values (all > 0) span more than a factor of 10, else linear (readable ticks)."""
    values = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    return bool(values.size and values.min() > 0 and values.max() / values.min() > 10)


def _save(fig, doc: dict, title: str, out_dir, name: str) -> Path:
    """Title the figure with the data set and m, lay it out, note divergences, and write ``out_dir/name``."""
    data = doc["config"]["data"]
    fig.suptitle(f"{data['name']}, {size_words(data)}: {title}")
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    _note_diverged(fig, doc)
    return save_figure_atomic(fig, Path(out_dir) / name)


def _seeds(doc: dict) -> str:
    n = int(doc["config"]["seeds"])
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _epoch_axis(ax, epochs: int | None = None):
    """Label the x axis "epoch" with integer ticks (also for a one-epoch run)."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if epochs == 1:
        low, high = ax.get_xlim()
        ax.set_xlim(min(low, 0.5), max(high, 1.5))
    if isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter):
        ax.ticklabel_format(axis="y", useOffset=False)


def _percent_axis(ax):
    """Keep an autoscaled percentage axis from running past 0 and 100 by more than a margin."""
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, -2.0), min(high, 102.0))


def _switch_epochs(doc: dict) -> list[int]:
    """The hybrid's switch epochs (one per distinct value over runs), or []."""
    hybrid = doc["config"].get("paradigms", {}).get("hybrid")
    if not hybrid or "switch_epoch" not in hybrid:
        return []
    return sorted({int(s) for s in np.atleast_1d(hybrid["switch_epoch"])})


def _epochs_of(doc: dict, name: str) -> int:
    """A paradigm's recorded epochs (its config), else the length of its loss history."""
    recorded = doc["config"].get("paradigms", {}).get(name, {}).get("epochs")
    if recorded is not None:
        return int(np.max(np.atleast_1d(recorded)))
    return int(np.asarray(doc["results"][name]["history"]["loss"]).shape[1])


def hybrid_budget(doc: dict) -> dict | None:
    """The hybrid's epochs against the other paradigms', or None without a hybrid and another paradigm.

    Returns:
        ``{"hybrid": E_h, "others": E_o, "ratio": E_h / E_o, "switch": [switch epochs],
        "second": name of the second phase}``, epochs as recorded in ``config.paradigms``
        (the paper protocol gives the hybrid ``epochs`` per phase, so twice the others').
    """
    results = doc.get("results", {})
    others = [n for n in results if n != "hybrid"]
    if "hybrid" not in results or not others:
        return None
    hybrid = _epochs_of(doc, "hybrid")
    other = max(_epochs_of(doc, n) for n in others)
    second = doc["config"].get("paradigms", {}).get("hybrid", {}).get("hybrid_to", "second phase")
    return {"hybrid": hybrid, "others": other, "ratio": hybrid / other if other else float("inf"),
            "switch": _switch_epochs(doc), "second": second}


def _hybrid_label(budget: dict | None) -> str:
    """The hybrid's legend entry: its phases, and its budget when it differs from the others'."""
    if budget is None:
        return "hybrid"
    label = "hybrid"
    if len(budget["switch"]) == 1:
        s = budget["switch"][0]
        label += f": {s} soft + {budget['hybrid'] - s} {budget['second']} epochs"
    if budget["hybrid"] != budget["others"]:
        size = "doubled budget" if budget["ratio"] == 2 else f"budget {budget['ratio']:.3g}×"
        label += f"\n({size}: {budget['hybrid']} epochs vs the others' {budget['others']})"
    return label


def _mark_switch(ax, switches, *, line=None, label: bool = False, at=None):
    """A dashed line between the last soft epoch and the first second-phase epoch and, when
    ``line`` (the hybrid's mean line) is given, a thin vertical tick (`SWITCH_TICK`) on that
    curve at the switch. With ``label`` one legend entry names both: its key is the dashed line
    crossed by the tick where there is one. ``at(s)`` is where switch epoch s sits on the x axis
    (default ``s + 0.5``, between the points of epochs s and s + 1)."""
    at = (lambda e: e + 0.5) if at is None else at
    text = None
    if label and switches:
        text = f"hybrid switch (after epoch {switches[0]})" if len(switches) == 1 else "hybrid switch"
    for s in switches:  # the label goes on the first switch's tick, else its dashed line
        ticked = False
        if line is not None:
            x, y = line.get_data()
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            if x.size and x.min() <= at(s) <= x.max():
                # Where the drawn (straight, in display space) segment crosses the switch. Its
                # dashes are never drawn (one point) but give the legend key the dashed line.
                log = ax.get_yscale() == "log"
                y_at = np.interp(at(s), x, np.log(y) if log else y)
                size, stroke = SWITCH_TICK
                ax.plot([at(s)], [np.exp(y_at) if log else y_at], marker="|", markersize=size,
                        markeredgewidth=stroke, linestyle="--", linewidth=0.9, color=line.get_color(), zorder=4,
                        label=text)
                ticked = True
        ax.axvline(at(s), color=PALETTE["hybrid"], linestyle="--", linewidth=0.9, alpha=0.6,
                   label=None if ticked else text)
        text = None


def plot_compare(doc: dict, out_dir: Path, *, x_axis: str = "epoch") -> list[Path]:
    """``curves.png`` (test and focus accuracy, and one loss panel per objective) and ``ftpt.png``.

    Data without truth (`attnjax.documents.focus_available`) has no focus metrics: the
    focus-accuracy panel says so and there is no ``ftpt.png``.

    Seeds are shown as the module docstring says. The hybrid's switch is a dashed line in
    every panel with a thin vertical tick on the hybrid's curve, the two named by one legend
    entry; when the hybrid ran more epochs than the others (the paper protocol runs each
    phase for ``epochs``), its legend entry gives the ratio from the recorded epochs and the
    accuracy panels shade the epochs past the others' budget. A ``ftpt.png`` panel whose every
    value is 0 says so on a 0-100 scale instead of standing empty. Titles give the examples'
    size with `size_words` (text: posts of up to m tokens).
    """
    curves = _curves(doc, Path(out_dir) / "curves.png", x_axis=x_axis)
    if not focus_available(doc["config"].get("data")):
        return [curves]
    return [curves, _focus_prediction_bars(doc, out_dir)]


def plot_curves(doc: dict, path: Path, *, x_axis: str = "epoch") -> Path:
    """The curves figure of a compare or signature document alone, written to ``path``, against ``x_axis``
    (`X_AXES`: ``epoch``, ``step`` or ``flow-time``).

    Raises:
        ClockError: the document records no steps, or no flow time (an adaptive optimizer), for ``x_axis``.
    """
    return _curves(doc, Path(path), x_axis=x_axis)


def plot_progress(doc: dict, out_dir: Path, status: str) -> Path:
    """``progress.png``: the curves of a run that is still going or was interrupted.

    Arguments:
        doc: `attnjax.runlog.history_document` of its ``history.jsonl``.
        status: what the figure's title says of the run ("interrupted at ...").
    """
    return _curves(doc, Path(out_dir) / "progress.png", status=status)


#: The x axes ``attnjax plot --x`` offers, and their labels.
X_AXES = {"epoch": "epoch", "step": "minibatch step",
          "flow-time": "flow time t = Σ lr / (1 − momentum)"}


class ClockError(ValueError):
    """The document cannot be drawn as asked (no steps or no flow time recorded, or no such pair or metric).

    ``field`` names the setting it is about (``x_axis``, ``paired``, ``metric``), as `attnjax.errors` does.
    """

    def __init__(self, *args, field: str | None = None):
        super().__init__(*args)
        self.field = field


def _timeline(res: dict, x_axis: str, *, fine: bool):
    """``(x, source)`` of one paradigm's curves: the fine timeline (in-epoch points and epoch ends) when
    ``fine`` and recorded, else the epoch ends; ``x`` in the unit of ``x_axis`` (``[P]`` or ``[S, P]``)."""
    history = res["history"]
    source = history.get("fine") if fine else None
    clock = source if source is not None else history.get("clock")
    source = history if source is None else source
    if x_axis == "epoch":
        return (None if clock is None or source is history else np.asarray(clock["epoch"], np.float64)), source
    if clock is None:
        raise ClockError(f"{x_axis}: this document records no clock (written before attnjax recorded steps)",
                         field="x_axis")
    if x_axis == "step":
        return np.asarray(clock["step"], np.float64), source
    if clock.get("flow_time") is None:
        raise ClockError(f"flow-time: {clock.get('flow_time_note', 'no flow time recorded')}", field="x_axis")
    return np.asarray(clock["flow_time"], np.float64), source


def _switch_at(res: dict, x_axis: str, *, coarse: bool):
    """Where the hybrid's switch epoch s sits on the x axis: between epochs s and s + 1 on the coarse epoch
    axis, else at the end of epoch s (its step, or its flow time)."""
    if x_axis == "epoch":
        return (lambda s: s + 0.5) if coarse else (lambda s: float(s))
    clock = res["history"]["clock"]
    steps = np.asarray(clock["step"], np.float64)
    per_epoch = steps[0] / np.asarray(clock["epoch"], np.float64)[0]
    if x_axis == "step":
        return lambda s: s * per_epoch
    scale = np.mean(np.asarray(clock["flow_time"], np.float64)[:, 0]) / steps[0]
    return lambda s: s * per_epoch * scale


def _x_axis(ax, x_axis: str, longest: int, coarse: bool):
    if x_axis == "epoch" and coarse:
        _epoch_axis(ax, longest)
    else:
        ax.set_xlabel(X_AXES[x_axis])


def _curves(doc: dict, path: Path, *, status: str | None = None, x_axis: str = "epoch") -> Path:
    results = doc["results"]
    seeds = int(doc["config"]["seeds"])
    title = f"{doc['config']['data']['name']}, {size_words(doc['config']['data'])}, {_seeds(doc)} per loss"
    switches = _switch_epochs(doc) if "hybrid" in results else []
    budget = hybrid_budget(doc)
    longest = max((np.asarray(r["history"]["loss"]).shape[1] for r in results.values()), default=1)
    fine = any("fine" in r["history"] for r in results.values())
    coarse = not fine and x_axis == "epoch"
    n = 3 + len(results)
    fig = new_figure(figsize=(4.2 * min(n, 3), 3.6 * -(-n // 3)))
    axes = fig.subplots(-(-n // 3), min(n, 3), squeeze=False).ravel()
    hybrid_lines = {}
    any_log = False
    focus = focus_available(doc["config"].get("data"))
    panels = ("accuracy", "focus_accuracy", "a_z") if focus else ("accuracy",)
    has_a_z = False
    for name, res in results.items():
        label = _hybrid_label(budget) if name == "hybrid" else name
        x, source = _timeline(res, x_axis, fine=fine)
        for i, key in enumerate(panels):
            values = source["test"].get(key)
            if values is None:
                continue
            has_a_z |= key == "a_z"
            line = _spread(axes[i], values, label, PALETTE.get(name), limits=(0, 1) if key == "a_z" else (0, 100),
                           shared=len(results), x=x)
            if name == "hybrid":
                hybrid_lines[i] = line
        theory = res.get("theory")
        if theory is not None and focus and theory.get("alpha") is not None:
            tx = {"flow-time": theory["flow_time"], "step": theory.get("step"),
                  "epoch": theory.get("epoch")}[x_axis]
            if tx is not None:
                axes[2].plot(np.asarray(tx, np.float64), np.asarray(theory["alpha"], np.float64),
                             color=PALETTE.get(name), linestyle=(0, (1, 1.2)), linewidth=2.2, zorder=5,
                             label=f"{name}: gradient-flow ODE α(t)")
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("test focus accuracy (%)")
    axes[2].set_ylabel("test a_z: attention on the truth")
    for k, (name, res) in enumerate(results.items()):
        ax = axes[3 + k]
        loss = res["history"]["loss"]
        log = _is_log(loss)
        any_log |= log
        if log:
            ax.set_yscale("log")
        x, _ = _timeline(res, x_axis, fine=False)
        line = _spread(ax, loss, name, PALETTE.get(name), log=log, x=x)
        ax.set_ylabel("training loss (epoch mean)" + (" (log scale)" if log else ""))
        ax.set_title(OBJECTIVE.get(name, name), fontsize=9)
        if name == "hybrid":
            _mark_switch(ax, switches, line=line, label=True,
                         at=_switch_at(res, x_axis, coarse=x_axis == "epoch" and x is None))
            ax.legend(fontsize=8)
        _x_axis(ax, x_axis, np.asarray(loss).shape[1], x_axis == "epoch" and x is None)
    past = budget is not None and budget["hybrid"] > budget["others"]
    at = _switch_at(results["hybrid"], x_axis, coarse=coarse) if "hybrid" in results else None
    for i, ax in enumerate(axes[:len(panels)]):
        _mark_switch(ax, switches, line=hybrid_lines.get(i), label=i == 0, at=at)
        if past:
            assert budget is not None and at is not None  # past says so
            ax.axvspan(at(budget["others"]), at(budget["hybrid"]), color="0.93", zorder=0, linewidth=0,
                       label=f"past the others' {budget['others']} epochs" if i == 0 else None)
        _x_axis(ax, x_axis, longest, coarse)
        if i < 2:
            _percent_axis(ax)
    for ax in axes[:n]:
        ax.grid(alpha=0.3)

    def say(ax, ylabel, text):  # an empty panel that says why, rather than a curve of zeros
        ax.clear()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(ylabel)
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.35")

    if not focus:
        for ax, ylabel in ((axes[1], "test focus accuracy (%)"), (axes[2], "test a_z: attention on the truth")):
            say(ax, ylabel, "n/a: the data has no truth\n(which segments carry the label)")
    elif not has_a_z:
        say(axes[2], "test a_z: attention on the truth", "n/a: this document was written\nbefore attnjax recorded a_z")
    else:
        axes[2].set_ylim(-0.02, 1.02)
        if any(r.get("theory") for r in results.values()):
            axes[2].legend(fontsize=7.5)
    for ax in axes[n:]:
        ax.set_visible(False)
    for name in doc.get("diverged") or {}:  # in the legend too, where the missing curve is looked for
        axes[0].plot([], [], color=PALETTE.get(name, DIVERGED_COLOR), marker="x", linestyle="none",
                     label=f"{name}: diverged, not drawn")
    axes[0].legend(fontsize=7.5)
    clock_words = ""
    if fine:
        every = {r["history"]["fine"]["eval_every"] for r in results.values() if "fine" in r["history"]}
        mosaics = {r["history"]["fine"]["eval_mosaics"] for r in results.values() if "fine" in r["history"]}
        k = mosaics.pop() if len(mosaics) == 1 else None
        clock_words = (f"\nevaluated every {', '.join(str(e) for e in sorted(every))} steps"
                       + (f" on the first {k} mosaics of each split" if k else "")
                       + " and at every epoch end on the whole split")
    fig.suptitle((f"{status}\n" if status else "")
                 + f"{title}: {_spread_words(seeds)}\neach loss judged by its own inference rule"
                 + ("; dashed: hybrid switch" if switches else "") + (f"; {_log_words(seeds)}" if any_log else "")
                 + clock_words)
    fig.tight_layout()
    _note_diverged(fig, doc)
    return save_figure_atomic(fig, path)


def _focus_prediction_bars(doc: dict, out_dir: Path) -> Path:
    results = doc["results"]
    unit = _unit(doc)
    title = f"{doc['config']['data']['name']}, {size_words(doc['config']['data'])}, {_seeds(doc)} per loss"
    fig = new_figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    width = 0.8 / max(len(results), 1)
    titles = ("prediction true", "prediction false (own scale)")
    for ax, cells, heading, wrong in zip(axes, (["ftpt", "ffpt"], ["ftpf", "ffpf"]), titles, ("right", "wrong")):
        ax.set_title(heading)
        everything = []
        for i, (name, res) in enumerate(results.items()):
            values = np.array([res["test"][c] for c in cells], np.float64)  # [2, S]
            everything.append(values)
            mean = values.mean(1)
            std = values.std(1, ddof=1) if values.shape[1] > 1 else np.zeros(2)
            err = np.clip(np.stack([np.minimum(std, mean), np.minimum(std, 100 - mean)]), 0, None)  # in [0, 100]
            ax.bar(np.arange(2) + i * width, mean, width, yerr=err, label=name,
                   color=PALETTE.get(name), capsize=3)
        ax.set_xticks(np.arange(2) + width * (len(results) - 1) / 2)
        ax.set_xticklabels([c.upper() for c in cells])
        ax.set_ylabel(f"% of test {unit}")
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))
        ax.grid(axis="y", alpha=0.3)
        if not np.any(np.concatenate(everything, axis=None)):  # no bar to see: say why, on the 0-100 scale
            ax.set_ylim(0, 100)
            ax.set_title(heading.replace(" (own scale)", ""))
            ax.text(0.5, 0.5, f"0 % for every paradigm and seed:\nno test {unit[:-1]} was predicted {wrong}",
                    ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.35")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: focus true/false × prediction true/false, final epoch (mean ± std)")
    fig.tight_layout()
    _note_diverged(fig, doc)
    return save_figure_atomic(fig, Path(out_dir) / "ftpt.png")


def plot_signature(doc: dict, out_dir: Path) -> Path:
    """One annotated heatmap per loss, under the convention ``doc["shown"]``."""
    shown = doc["shown"]
    unit = _unit(doc)
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
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label=f"% of test {unit}")
    rule = ("each paradigm's own rule" if shown == "own"
            else "the pooled rule softmax(g(Σ α_j x_j)) for every paradigm")
    return _save(fig, doc, f"signature, % of test {unit}, mean over {_seeds(doc)}\ns_y under {rule} "
                 f"(protocol {doc['config']['protocol']['name']})", out_dir, "signature.png")


def plot_fixed_focus(doc: dict, out_dir: Path) -> Path:
    """L(alpha) and the incentive against epoch: one column per loss, one line per alpha.

    Where the document carries the closed forms (``theory``, orthogonal data with a linear
    classifier: `analytic.run_theory.attach_fixed_focus_theory`), they are drawn dotted in the
    alpha's colour at each epoch end.

    Each row shares one y-scale, since comparing paradigms is the point (the loss row is
    log scale, with geometric means, when its values span more than a factor of 10). The
    alphas are coloured from the dark part of `ALPHA_CMAP` so that every line,
    alpha = 1 included, stays visible on white.
    """
    from matplotlib import colormaps

    results = doc["results"]
    seeds = int(doc["config"]["seeds"])
    step = doc["incentive_step"]
    fig = new_figure(figsize=(4.5 * len(results), 7))
    axes = fig.subplots(2, len(results), squeeze=False, sharey="row")
    cmap = colormaps[ALPHA_CMAP]
    low, high = ALPHA_RANGE
    log = _is_log(*(v["loss"] for per_alpha in results.values() for v in per_alpha.values()))
    theory = doc.get("theory") or {}
    if log:
        for ax in axes[0]:
            ax.set_yscale("log")
    for col, (name, per_alpha) in enumerate(results.items()):
        epochs = 1
        for k, (alpha, v) in enumerate(per_alpha.items()):
            color = cmap(low + (high - low) * k / max(len(per_alpha) - 1, 1))
            _spread(axes[0][col], v["loss"], f"α = {alpha}", color, log=log, shared=len(per_alpha))
            _spread(axes[1][col], v["incentive"], f"α = {alpha}", color, shared=len(per_alpha))
            epochs = max(epochs, np.asarray(v["loss"]).shape[-1])
            closed = theory.get(name, {}).get("alphas", {}).get(alpha)
            if closed is not None:  # the closed forms at each epoch end's flow time: dotted, on top
                x = np.arange(1, len(closed["loss"]) + 1)
                for row, key in ((0, "loss"), (1, "incentive")):
                    axes[row][col].plot(x, np.asarray(closed[key], np.float64), color=color,
                                        linestyle=(0, (1, 1.2)), linewidth=2.2, zorder=5)
        axes[0][col].set_title(name)
        for ax in axes[:, col]:
            _epoch_axis(ax, epochs)
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("L(α)" + (" (log scale)" if log else ""))
    axes[1][0].set_ylabel(f"incentive L(α) − L(α + {step:g})\n(at α = 1: L({1 - step:g}) − L(1))")
    if theory:
        axes[0][0].plot([], [], color="0.3", linestyle=(0, (1, 1.2)), linewidth=2.2,
                        label="closed form at the flow time")
    axes[0][0].legend(fontsize=8)
    return _save(fig, doc, f"classifier trained with the focus frozen; per α, {_spread_words(seeds)}"
                 + (f"\n{_log_words(seeds)}" if log else ""),
                 out_dir, "fixed_focus.png")


def _axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name.replace("_", " "))


def _log_axis(name: str, values) -> bool:
    values = np.asarray(values, np.float64)
    return name in ("learning_rate", "init_scale") and values.size > 1 and values.min() > 0 \
        and values.max() / values.min() >= 10


def plot_sweep(doc: dict, out_dir: Path) -> Path:
    """Final test focus accuracy and test accuracy over the grid, mean ± std over seeds.

    Only grid axes with more than one value are drawn (the others are named in the
    title). No such axis (a one-point grid): one bar per loss. One: a line with error
    bars per loss, ticks at the grid values. Two or more: a heatmap per loss over the
    first two (averaged over the others, as the title says), cells annotated with
    mean ± std, with a colour bar.
    """
    rows = doc["rows"]
    losses = list(dict.fromkeys(r["loss"] for r in rows))
    values = {a: sorted({r[a] for r in rows if a in r}) for a in doc["grid"]}
    varying = [a for a, v in values.items() if len(v) > 1]
    fixed = [a for a, v in values.items() if len(v) == 1]
    metrics = (("test_focus_accuracy", "test focus accuracy (%)"), ("test_accuracy", "test accuracy (%)"))
    if not focus_available(doc["config"].get("data")):  # no truth: no focus accuracy to draw
        metrics = metrics[1:]

    def stats(v):
        v = np.asarray(v, np.float64)
        return (float(v.mean()) if v.size else np.nan), (float(v.std(ddof=1)) if v.size > 1 else 0.0)

    if not varying:
        fig = new_figure(figsize=(4.2 * len(metrics), 3.8))
        axes = fig.subplots(1, len(metrics), squeeze=False)
        for j, (key, label) in enumerate(metrics):
            ax = axes[0][j]
            for i, loss in enumerate(losses):
                mean, std = stats([r[key] for r in rows if r["loss"] == loss])
                ax.bar(i, mean, 0.7, yerr=[[min(std, mean)], [min(std, 100 - mean)]], capsize=3,
                       color=PALETTE.get(loss))
                ax.text(i, mean / 2, f"{mean:.1f}\n±{std:.1f}", ha="center", va="center", fontsize=8,
                        color="white")
            ax.set_xticks(range(len(losses)))
            ax.set_xticklabels(losses)
            ax.set_ylim(0, 105)
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
    else:
        heat = len(varying) >= 2
        fig = new_figure(figsize=((5.6 if heat else 5.2) * len(metrics), 3.6 * max(len(losses), 1)),
                         layout="constrained" if heat else None)
        axes = fig.subplots(max(len(losses), 1), len(metrics), squeeze=False)
    image = None
    for i, loss in enumerate(losses if varying else []):
        mine = [r for r in rows if r["loss"] == loss]
        for j, (key, label) in enumerate(metrics):
            ax = axes[i][j]
            if len(varying) == 1:
                x_name = varying[0]
                xs = values[x_name]
                mean, std = zip(*(stats([r[key] for r in mine if r[x_name] == x]) for x in xs))
                ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, color=PALETTE.get(loss))
                if _log_axis(x_name, xs):
                    ax.set_xscale("log")
                from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

                ax.xaxis.set_major_locator(FixedLocator(xs))
                ax.xaxis.set_major_formatter(FixedFormatter([f"{x:g}" for x in xs]))
                ax.xaxis.set_minor_locator(NullLocator())
                ax.set_xlabel(_axis_label(x_name))
                ax.set_ylabel(label)
                _percent_axis(ax)
                ax.grid(alpha=0.3)
            else:
                y_name, x_name = varying[:2]
                ys, xs = values[y_name], values[x_name]
                mean = np.full((len(ys), len(xs)), np.nan)
                std = np.zeros_like(mean)
                for a, y in enumerate(ys):
                    for b, x in enumerate(xs):
                        mean[a, b], std[a, b] = stats([r[key] for r in mine if r[y_name] == y and r[x_name] == x])
                image = ax.imshow(mean, origin="lower", cmap="viridis", aspect="auto", vmin=0, vmax=100)
                for a in range(len(ys)):
                    for b in range(len(xs)):
                        text = "–" if np.isnan(mean[a, b]) else f"{mean[a, b]:.1f}\n±{std[a, b]:.1f}"
                        ax.text(b, a, text, ha="center", va="center", fontsize=8.5,
                                color="white" if not mean[a, b] >= 60 else "black")
                ax.set_xticks(range(len(xs)))
                ax.set_xticklabels([f"{x:g}" for x in xs])
                ax.set_yticks(range(len(ys)))
                ax.set_yticklabels([f"{y:g}" for y in ys])
                ax.set_xlabel(_axis_label(x_name))
                ax.set_ylabel(_axis_label(y_name))
                ax.set_title(label, fontsize=9)
            if j == 0:
                ax.annotate(loss, xy=(0, 1.02), xycoords="axes fraction", fontsize=10, weight="bold")
    if image is not None:  # every heatmap has the scale 0-100 %: one colour bar for all
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=min(0.9, 0.35 + 0.15 * len(losses)), aspect=30,
                     label=f"% of test {_unit(doc)} (both columns)")
    rest = [_axis_label(a) for a in varying[2:]]
    at = ", ".join(f"{_axis_label(a)} = {values[a][0]:g}" for a in fixed)
    seeds = doc["seeds"]
    return _save(fig, doc, f"sweep, final epoch, mean ± std over {seeds} seed{'s' * (seeds != 1)}"
                 + (f" (averaged over {', '.join(rest)})" if rest else "")
                 + (f"\nat {at}" if at else ""), out_dir, "sweep.png")


#: The metrics ``attnjax plot --paired`` can difference, and their axis words.
PAIRED_METRICS = {"a_z": "a_z: attention on the truth", "entropy": "normalised attention entropy",
                  "a_z_half": "% of test examples with a_z ≥ 0.5", "focus_accuracy": "test focus accuracy (%)",
                  "accuracy": "test accuracy (%)"}


def plot_paired(doc: dict, out_dir: Path, pair: tuple[str, str], *, metric: str = "a_z", x_axis: str = "epoch",
                confidence: float = 0.95) -> Path:
    """``paired-A-B-METRIC.png`` (``paired-A-B-METRIC-step.png``, ``-flow-time.png`` against those axes): the
    paired difference A − B over seeds against time, with its t-interval.

    Seed s of every paradigm shares its initialisation, minibatch order and sampling keys
    (`attnjax.stats`), so the difference is taken seed by seed and its interval is the paired
    Student-t interval (`attnjax.stats.paired_difference`). The fine timeline is used where the run
    recorded one (``--eval-every``); the right-hand axis counts the seeds where A > B.

    Raises:
        ClockError: the two paradigms were not recorded, or not on one clock, or lack the metric.
    """
    from .stats import paired_difference

    a, b = pair
    results = doc["results"]
    for name in pair:
        if name not in results:
            raise ClockError(f"{name!r} is not in this document (it holds {', '.join(results)})", field="paired")
    fine = all("fine" in results[n]["history"] for n in pair)
    (xa, sa), (xb, sb) = (_timeline(results[n], x_axis, fine=fine) for n in pair)
    va, vb = sa["test"].get(metric), sb["test"].get(metric)
    if va is None or vb is None:
        raise ClockError(f"{metric}: not recorded for {a if va is None else b} in this document", field="metric")
    va, vb = np.asarray(va, np.float64), np.asarray(vb, np.float64)
    if va.shape != vb.shape:
        raise ClockError(f"{a},{b}: their histories differ in shape ({va.shape} and {vb.shape}); "
                         "pair paradigms of one run with one budget", field="paired")
    x = np.arange(1, va.shape[1] + 1, dtype=np.float64) if xa is None else np.asarray(xa, np.float64)
    x = x.mean(0) if x.ndim == 2 else x
    d = paired_difference(va, vb, confidence=confidence)
    fig = new_figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    color = PALETTE.get(a)
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.fill_between(x, d.low, d.high, color=color, alpha=0.18, linewidth=0,
                    label=f"{confidence:.0%} paired t-interval ({d.seeds} seeds)")
    ax.plot(x, d.mean, color=color, linewidth=1.8, marker="o" if x.size <= FEW_POINTS else None, markersize=4,
            label=f"mean of {a} − {b}, seed by seed")
    ax.set_ylabel(f"{a} − {b}: {PAIRED_METRICS.get(metric, metric)}")
    ax.set_xlabel(X_AXES[x_axis])
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(x, d.greater, color="0.45", linewidth=0.9, linestyle=(0, (3, 2)), label=f"seeds where {a} > {b}")
    right.set_ylim(-0.3, d.seeds + 0.3)
    right.set_ylabel(f"seeds where {a} > {b} (of {d.seeds})", color="0.35")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    clock = ("fine clock: in-epoch points and epoch ends" if fine else "one point per epoch")
    return _save(fig, doc, f"paired difference {a} − {b} on test {metric}, {clock}", out_dir,
                 f"paired-{a}-{b}-{metric}{'' if x_axis == 'epoch' else '-' + x_axis}.png")
