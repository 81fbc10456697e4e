"""Result documents (JSON-ready dicts) and the tables printed from them.

Each training command's document records the resolved settings (every value
used, after the protocol's defaults), the results of the paradigms that
finished, and which paradigms diverged. Figures are drawn from these documents
alone (`attnjax.plots`), so ``attnjax plot`` can redraw them later.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .experiments import Diverged, finished
from .files import format_table
from .clock import flow_time_scale, flow_times
from .metrics import ATTENTION_METRICS, EDGE_TOLERANCE, METRICS, RULES
from .documents import FOCUS_METRICS, focus_available, result_kind
from .paradigms import hyper_of
from .plots import unit_of
from .protocol import SIGNATURE_CONVENTIONS, get_protocol

__all__ = [
    "mean_std",
    "settings_json",
    "compare_results_json",
    "compare_table",
    "COMPARE_FOOTNOTE",
    "signature_json",
    "signature_table",
    "fixed_focus_json",
    "fixed_focus_table",
    "fixed_focus_footnote",
    "compare_footnote",
    "signature_footnote",
    "metric_notes",
    "unit_of",
    "sweep_json",
    "sweep_table",
    "plot_any",
]

#: A finished run whose final loss is above this many times chance level's
#: cross-entropy log K is reported as exploding.
EXPLODING_FACTOR = 2.0


#: What a table shows for a metric the data cannot give (a focus metric without truth).
UNAVAILABLE = "n/a"


def mean_std(values) -> str:
    """``"mean ± std"`` over seeds (one value: itself); `UNAVAILABLE` for None (or a None among them)."""
    if values is None or any(v is None for v in np.ravel(np.asarray(values, dtype=object))):
        return UNAVAILABLE
    values = np.asarray(values, np.float64)
    if values.size == 1:
        return f"{values.item():.1f}"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"


def _one_or_list(values):
    values = np.asarray(values)
    return values[0].item() if values.size and np.all(values == values[0]) else values


def _versions() -> dict:
    import flax
    import jax
    import optax

    from . import __version__

    return {"attnjax": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__}


def settings_json(args, info, runs: Mapping[str, Any], **extra) -> dict:
    """The resolved settings of a training command: every value it used.

    Arguments:
        args: the parsed command line (command, seeds, seed, devices, chunk size).
        info: the data set's [`DataInfo`][attnjax.data.DataInfo] (its ``settings`` hold
            the resolved data options).
        runs: ``{loss: SeedRuns | Diverged}``: each paradigm's resolved
            [`TrainConfig`][attnjax.train.TrainConfig] (its ``conv`` resolved for the backend), learning
            rate, switch epoch, seed chunks and seed map.
        **extra: further command-specific values (alphas, the signature's s_y).
    """
    import jax

    paradigms = {}
    for name, r in runs.items():
        entry = r.config.to_json()
        lr = getattr(r, "learning_rate", None)
        entry["learning_rate"] = args.lr if lr is None else _one_or_list(lr)
        if getattr(r, "switch_epoch", None) is not None:
            entry["switch_epoch"] = _one_or_list(r.switch_epoch)
        for name_, values in (("init_scale", getattr(r, "init_scale", None)),
                              ("temperature", getattr(r, "temperature", None))):
            if values is not None and (name_ == "init_scale" or name_ in hyper_of(r.config)):
                entry[name_] = _one_or_list(values)
        entry["chunk_size"] = getattr(r, "chunk_size", None) or args.chunk_size or args.seeds
        if getattr(r, "seed_map", None) is not None:
            entry["seed_map"] = r.seed_map
        if getattr(r, "notes", None):
            entry["notes"] = list(r.notes)
        paradigms[name] = entry
    return {
        "command": args.command,
        "protocol": get_protocol(args.protocol).for_data(info.vocab_size is not None).to_json(),
        "data": {**info.to_json(), **({"data_dir": str(args.data_dir)} if args.data_dir else {})},
        "seeds": args.seeds,
        "seed": args.seed,
        "devices": args.devices or 1,
        "long_run": _long_run(args),
        "paradigms": paradigms,
        **extra,
        "versions": _versions(),
        "backend": jax.default_backend(),
    }


def _long_run(args) -> dict | None:
    """How a training command ran its chunks: checkpoint rhythm, a resumed run, the compilation cache."""
    if not hasattr(args, "checkpoint_every"):
        return None
    every = args.checkpoint_every
    from .protocol import CHECKPOINT_SECONDS

    return {"checkpoint_every": f"auto ({CHECKPOINT_SECONDS:g} s)" if every is None else every,
            "resumed": bool(args.resume), "compile_cache": args.compile_cache or "off"}


def _metrics_at(counts, rule: int, epoch: int | slice = -1, *, focus: bool = True) -> dict[str, np.ndarray | None]:
    """``{metric: [S, ...]}`` under one inference rule at an epoch (or epochs); without ``focus``
    (data without truth) the focus metrics are None."""
    out = {}
    for name in METRICS:
        if not focus and name in FOCUS_METRICS:
            out[name] = None
            continue
        value = np.asarray(getattr(counts, name))[:, epoch]
        out[name] = value if name == "focus_accuracy" else value[..., rule]
    return out


def _attention_at(attention, epoch: int | slice = -1, *, focus: bool = True) -> dict[str, np.ndarray | None]:
    """``{a_z, entropy, a_z_half: [S, ...]}`` at an epoch (or epochs); None without truth or without a record."""
    if attention is None or not focus:
        return {name: None for name in ATTENTION_METRICS}
    return {name: np.asarray(getattr(attention, name))[:, epoch] for name in ATTENTION_METRICS}


def _flow_scale(runs) -> tuple[np.ndarray | None, str | None]:
    """Flow time per step of each seed's run, or None and why (`attnjax.clock`)."""
    optimizer = runs.config.optimizer if isinstance(runs.config.optimizer, str) else "custom"
    momentum = (runs.hparams.optimizer or {}).get("momentum", runs.config.momentum)
    return flow_time_scale(optimizer, runs.hparams.learning_rate, momentum)


def _clock(runs, steps) -> dict:
    """The history's clock at the given step counts: step, fractional epoch and flow time ``[S][P]``."""
    per_epoch = runs.steps_per_epoch
    scale, why = _flow_scale(runs)
    steps = np.asarray(steps, np.int64)
    out = {"step": steps, "epoch": steps / per_epoch,
           "flow_time": None if scale is None else flow_times(steps, scale)}
    if why is not None:
        out["flow_time_note"] = why
    return out


def _fine(runs, rule: int, focus: bool) -> dict | None:
    """The fine clock's timeline: every in-epoch point and every epoch end, in order (``TrainConfig.eval_every``)."""
    history, config, per_epoch = runs.history, runs.config, runs.steps_per_epoch
    points = getattr(history, "points", None)
    if points is None or per_epoch is None:
        return None
    epochs, n_points = np.asarray(points.loss).shape[1:3]
    inside = [(p + 1) * config.eval_every for p in range(n_points)]
    steps = [e * per_epoch + s for e in range(epochs) for s in (*inside, per_epoch)]
    full = [s == per_epoch for _ in range(epochs) for s in (*inside, per_epoch)]

    def merge(point_values, end_values):
        """[S, E, P, ...] and [S, E, ...] -> [S, E * (P + 1), ...] in time order."""
        if point_values is None or end_values is None:
            return None
        point_values, end_values = np.asarray(point_values), np.asarray(end_values)
        both = np.concatenate([point_values, end_values[:, :, None]], axis=2)
        return both.reshape((both.shape[0], -1) + both.shape[3:])

    def split(name):
        counts, attention = getattr(points, name), getattr(points, f"{name}_attention")
        end_counts, end_attention = getattr(history, name), getattr(history, f"{name}_attention")
        out = {}
        for metric in ("accuracy", "focus_accuracy"):
            if metric == "focus_accuracy" and not focus:
                out[metric] = None
                continue
            value = merge(getattr(counts, metric), getattr(end_counts, metric))
            out[metric] = value if metric == "focus_accuracy" or value is None else value[..., rule]
        for metric in ATTENTION_METRICS:
            out[metric] = merge(getattr(attention, metric), getattr(end_attention, metric)) if focus else None
        return out

    return {"eval_every": config.eval_every, "eval_mosaics": config.eval_mosaics, **_clock(runs, steps),
            "whole_split": full, "loss": merge(points.loss, history.loss), "train": split("train"),
            "test": split("test")}


def run_summary(runs, *, focus: bool = True) -> dict:
    """JSON-ready results of one paradigm: final metrics per seed and the history.

    Arguments:
        runs: the paradigm's `SeedRuns`.
        focus: False for data without truth (``DataInfo.has_truth``): the focus metrics
            (``FOCUS_METRICS``) are then None (null in the JSON), not the zeros the program
            counted against an empty truth.
    """
    rule = runs.config.rule
    history = runs.history
    return {
        "rule": RULES[rule],
        "learning_rate": runs.learning_rate,
        "seconds": round(runs.seconds, 3),
        "compile_seconds": round(runs.compile_seconds, 3),
        "train_seconds": round(runs.train_seconds, 3),
        "train": _metrics_at(history.train, rule, focus=focus),
        "test": _metrics_at(history.test, rule, focus=focus),
        "by_rule": {
            RULES[r]: {"train": _metrics_at(history.train, r, focus=focus),
                       "test": _metrics_at(history.test, r, focus=focus)}
            for r in range(len(RULES))
        },
        "history": _history(runs, rule, focus),
    }


def _history(runs, rule: int, focus: bool) -> dict:
    """A run's history: epoch-end metrics (attention metrics included) ``[S][E]``, its clock, and the fine points."""
    history = runs.history
    out: dict[str, Any] = {
        "loss": np.asarray(history.loss),
        "train": {**_metrics_at(history.train, rule, slice(None), focus=focus),
                  **_attention_at(getattr(history, "train_attention", None), slice(None), focus=focus)},
        "test": {**_metrics_at(history.test, rule, slice(None), focus=focus),
                 **_attention_at(getattr(history, "test_attention", None), slice(None), focus=focus)},
    }
    if runs.steps_per_epoch is not None:
        epochs = np.asarray(history.loss).shape[1]
        out["clock"] = _clock(runs, runs.steps_per_epoch * np.arange(1, epochs + 1))
    fine = _fine(runs, rule, focus)
    if fine is not None:
        out["fine"] = fine
    return out


def _health(runs: Mapping[str, Any]) -> dict:
    """``{"diverged": {loss: {seed, epoch, loss}}, "warnings": [...]}`` for a document."""
    diverged = {
        name: {"seed": r.seed, "epoch": r.epoch, "loss": r.loss}
        for name, r in runs.items() if isinstance(r, Diverged)
    }
    warnings = []
    for name, r in finished(runs).items():
        final = np.asarray(r.history.loss)[:, -1]
        limit = EXPLODING_FACTOR * math.log(r.config.num_classes)
        bad = np.flatnonzero(final > limit)
        if bad.size:
            warnings.append(
                f"{name}: the training loss ended above {EXPLODING_FACTOR:g} x log K = {limit:.3g} "
                f"(chance level's cross-entropy is log K) in {bad.size} of {final.size} runs "
                f"(largest {final.max():.3g}); the learning rate is probably too large, or the inputs far from "
                "unit scale (standardise them)"
            )
    return {"diverged": diverged, "warnings": warnings}


def metric_notes(unit: str = "mosaics", *, focus: bool = True) -> dict:
    """The ``"metrics"`` entry of a document; ``unit`` names the examples (`unit_of`);
    without ``focus`` (data without truth) it says why the focus metrics are null."""
    notes = {
        "units": f"percent of {unit}",
        "names": list(METRICS),
        "accuracy": "the predicted class is the label",
        "focus_accuracy": ("the most-attended segment is a truth segment" if unit == "bags"
                           else "the most-attended segment is the foreground"),
        "ftpt": "focus true, prediction true",
        "ffpt": "focus false, prediction true",
        "ftpf": "focus true, prediction false",
        "ffpf": "focus false, prediction false",
    }
    if not focus:
        notes["unavailable"] = {"metrics": list(FOCUS_METRICS),
                                "why": "the data has no truth (which segments carry the label), so these are null"}
    return notes


#: `metric_notes` of image and orthogonal data (mosaics).
METRIC_NOTES = metric_notes()


def _unit(settings: Mapping[str, Any]) -> str:
    """``"posts"``, ``"bags"`` or ``"mosaics"``, from a document's (or its settings') recorded data."""
    return unit_of((settings.get("config", settings) or {}).get("data"))


def _focus(settings: Mapping[str, Any]) -> bool:
    """Whether a document's (or its settings') data has a truth (`attnjax.documents.focus_available`)."""
    return focus_available((settings.get("config", settings) or {}).get("data"))


def compare_results_json(settings: Mapping[str, Any], runs: Mapping[str, Any]) -> dict:
    """The ``results.json`` document of ``attnjax compare``.

    ``{"kind": "compare", "config": {resolved settings}, "metrics": {...},
    "results": {LOSS: {"rule", "train": {METRIC: [per seed]}, "test", "by_rule",
    "history": {"loss": [S][E], "train": {METRIC: [S][E]}, "test"}}},
    "diverged": {LOSS: {"seed", "epoch", "loss"}}, "warnings": [...]}``;
    metrics are percentages under the paradigm's own inference rule (``"rule"``).
    """
    return {
        "kind": "compare",
        "config": dict(settings),
        "metrics": metric_notes(_unit(settings), focus=_focus(settings)),
        "results": {name: run_summary(r, focus=_focus(settings)) for name, r in finished(runs).items()},
        **_health(runs),
    }


def compare_footnote(doc: Mapping[str, Any] | None = None) -> str:
    """The note under `compare_table`, naming the examples after the document's data."""
    unit = _unit(doc) if doc else "mosaics"
    focus = _focus(doc) if doc else True
    truth = {"posts": "token is a rationale token", "bags": "segment is a truth segment"}.get(
        unit, "segment is the foreground")
    return (
        "(final epoch, mean ± std over seeds. rule: the inference rule each loss is judged by "
        "(pooled: softmax(g(Σ α_j x_j)); expected: Σ α_j softmax(g(x_j))). train/test acc: % of "
        f"{unit} classified right. focus acc: % whose most-attended {truth}. "
        f"FTPT/FFPT/FTPF/FFPF: focus true/false × prediction true/false, % of test {unit}. "
        + ("" if focus else f"{UNAVAILABLE}: the data has no truth (which segments carry the label). ") +
        "final loss: mean training loss of the last epoch, each under its own objective.)"
    )


#: `compare_footnote` of image and orthogonal data (mosaics).
COMPARE_FOOTNOTE = compare_footnote()


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


def signature_json(settings: Mapping[str, Any], signatures: Mapping[str, dict], runs: Mapping[str, Any],
                   *, bins: int = 5) -> dict:
    """The ``signature.json`` document: both s_y conventions, edges and their rule stated.

    It also holds ``"metrics"`` and ``"results"`` exactly as `compare_results_json`
    writes them (accuracy, FTPT/FFPT/FTPF/FFPF and the history of the same runs), so one
    ``attnjax signature`` run reports everything ``attnjax compare`` does.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    shown = settings.get("signature_s_y", "own")
    unit = _unit(settings)
    return {
        "kind": "signature",
        "config": dict(settings),
        "metrics": metric_notes(unit, focus=_focus(settings)),
        "results": {name: run_summary(r, focus=_focus(settings)) for name, r in finished(runs).items()},
        "bins": {
            "edges": edges,
            "orientation": (
                f"heatmaps[LOSS][CONVENTION][i][j] is the percent of test {unit} (mean over seeds) "
                "whose attention on the true segment a_z is in bin i and whose probability of the "
                "true label s_y is in bin j. Row 0 is the lowest a_z, column 0 the lowest s_y."
            ),
            "edge_rule": (
                f"bin i is [edges[i], edges[i+1]): a value on an inner edge goes to the bin above it, "
                f"1 goes to the last bin, and a value less than {EDGE_TOLERANCE:g} below an edge counts "
                "as on it (a_z = 1/m = 0.2 at uniform attention, m = 5, lies on an edge and comes out "
                "of a float32 softmax a few ulps either side)"
            ),
            "edge_tolerance": EDGE_TOLERANCE,
        },
        "conventions": {
            "own": "s_y under the paradigm's own rule: pooled (soft), expected (hard, lvml, hybrid)",
            "pooled": "s_y = softmax(g(Σ_j α_j x_j))_y for every paradigm (the authors' heatmap scripts)",
        },
        "shown": shown,
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
        **_health(runs),
    }


def signature_footnote(doc: Mapping[str, Any] | None = None) -> str:
    """The note under `signature_table`, naming the examples after the document's data."""
    unit = _unit(doc) if doc else "mosaics"
    return (
        f"(test {unit}, mean over seeds. a_z: attention on the "
        f"{'truth segments' if unit == 'bags' else 'foreground segment'}. s_y: probability "
        "of the true label, under the paradigm's own rule (own) or softmax(g(Σ α_j x_j)) (pooled). "
        f"low a_z & high s_y: % of {unit} with a_z < 0.2 and s_y ≥ 0.8, mean ± std. seeds with shortcut: "
        "seeds whose classifier labels most backgrounds as one class it then fails to locate, see docs/results.md)"
    )


def signature_table(doc: dict) -> str:
    header = ["loss", "mean a_z", *(f"mean s_y ({c})" for c in SIGNATURE_CONVENTIONS),
              *(f"low a_z & high s_y % ({c})" for c in SIGNATURE_CONVENTIONS), "seeds with shortcut"]
    rows = []
    for name, s in doc["summary"].items():
        short = s["shortcut"]
        rows.append([
            name, f"{np.mean(s['mean_a_z']):.3f}",
            *(f"{np.mean(s['mean_s_y'][c]):.3f}" for c in SIGNATURE_CONVENTIONS),
            *(mean_std(s["low_a_z_high_s_y_percent"][c]) for c in SIGNATURE_CONVENTIONS),
            f"{short['seeds_with_shortcut']}/{short['seeds']}",
        ])
    return format_table(header, rows)


def fixed_focus_json(settings: Mapping[str, Any], runs: Mapping[str, Any], alphas, seeds: int) -> dict:
    """The ``fixed_focus.json`` document: per loss and alpha, L(alpha) and the incentive per epoch."""
    alphas = [float(a) for a in alphas]
    results = {}
    step = None
    for name, r in finished(runs).items():
        step = r.config.incentive_step
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
    step = step if step is not None else next(iter(runs.values())).config.incentive_step
    return {
        "kind": "fixed-focus",
        "config": dict(settings),
        "definition": (
            "loss[s][e] is the mean training loss L(alpha) of seed s after epoch e+1 with the focus "
            "frozen at alpha on the foreground and (1-alpha)/(m-1) elsewhere; incentive[s][e] is "
            f"L(alpha) - L(alpha + {step:g}) for the same classifier (where alpha + {step:g} > 1, "
            f"which is not an attention, the backward difference L(alpha - {step:g}) - L(alpha))"
        ),
        "incentive_step": step,
        "alphas": alphas,
        "results": results,
        **_health(runs),
    }


def fixed_focus_footnote(doc: dict) -> str:
    d = doc["incentive_step"]
    return (f"(final epoch, mean over seeds: training loss L(α) / incentive L(α) − L(α + {d:g}); "
            f"at α = 1 the backward difference L({1 - d:g}) − L(1))")


def fixed_focus_table(doc: dict) -> str:
    header = ["loss", *(f"α={a:g}: L / incentive" for a in doc["alphas"])]
    rows = []
    for name, per_alpha in doc["results"].items():
        rows.append([name, *(
            f"{np.mean(np.asarray(v['loss'])[:, -1]):.3f} / {np.mean(np.asarray(v['incentive'])[:, -1]):.4f}"
            for v in per_alpha.values()
        )])
    return format_table(header, rows)


def sweep_json(settings: Mapping[str, Any], grid: Mapping[str, Any], points, runs, rows: list, seeds: int) -> dict:
    """The ``sweep.json`` document: the grid, the tidy rows, and how many programs were compiled."""
    return {
        "kind": "sweep",
        "config": dict(settings),
        "grid": {k: list(v) for k, v in grid.items()},
        "points": points,
        "seeds": seeds,
        "runs_per_loss": len(next(iter(points.values()))) * seeds if points else seeds,
        "compiled_programs": {name: r.traces for name, r in finished(runs).items()},
        "compiled_programs_definition": (
            "times each loss's training function was traced (compiled) for this sweep: 1 means the "
            "whole grid times seeds ran as one program (0: a program cached earlier in the process)"
        ),
        "metrics": metric_notes(_unit(settings), focus=_focus(settings)),
        "rows": rows,
        **_health(runs),
    }


def sweep_table(doc: dict) -> str:
    """Mean ± std over seeds of the final test focus accuracy and accuracy at every grid point."""
    axes = list(doc["grid"])
    groups: dict = {}
    for r in doc["rows"]:
        groups.setdefault((r["loss"], *(r[a] for a in axes)), []).append(r)
    rows = [[*(f"{v:g}" if not isinstance(v, str) else v for v in key),
             mean_std([r["test_focus_accuracy"] for r in rs]), mean_std([r["test_accuracy"] for r in rs])]
            for key, rs in groups.items()]
    return format_table(["loss", *axes, "focus acc", "test acc"], rows)


def plot_any(doc: dict, out_dir, *, x_axis: str = "epoch") -> list:
    """Draw the figures of any result document (``doc["kind"]``) into ``out_dir``; ``x_axis`` is the curves' x axis
    (``epoch``, ``step`` or ``flow-time``: `attnjax.plots.X_AXES`)."""
    from . import plots

    draw = {"compare": plots.plot_compare, "signature": plots.plot_signature,
            "fixed-focus": plots.plot_fixed_focus, "sweep": plots.plot_sweep}.get(result_kind(doc))
    from pathlib import Path

    from .errors import DataError

    if not any(doc.get(k) for k in ("results", "heatmaps", "rows", "estimators")):
        raise DataError("nothing to draw: no paradigm of this run finished (see its 'diverged' entry)")
    if result_kind(doc) == "estimators":
        from .estimators import plot_estimators

        plot_estimators(doc, Path(out_dir) / "estimators.png")
        return [Path(out_dir) / "estimators.png"]
    assert draw is not None, f"no figures for a {result_kind(doc)!r} document"  # KINDS' other four
    if x_axis != "epoch":  # only the curves have another x axis
        if result_kind(doc) not in ("compare", "signature") or not doc.get("results"):
            raise DataError(f"the x axis {x_axis}: only compare and signature results have curves over time",
                            field="x_axis")
        return [plots.plot_curves(doc, Path(out_dir) / f"curves-{x_axis}.png", x_axis=x_axis)]
    paths = draw(doc, out_dir)
    paths = paths if isinstance(paths, list) else [paths]
    if result_kind(doc) == "signature" and doc.get("results"):  # signature files also hold compare's results
        paths += plots.plot_compare(doc, out_dir)
    return paths
