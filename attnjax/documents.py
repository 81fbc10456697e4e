"""The shape of each result document, checked when one is read back.

`check_document` is what [`attnjax.load_results`][attnjax.files.load_results] runs on every file
before anything draws from it, so a damaged file (a missing ``history``, a
ragged or textual metric list, the wrong ``kind``) is one line naming the file
and the field, never a ``KeyError`` deep in the plotting code.

A spec is a list of ``(path, expected)`` pairs. A path is dotted; ``*`` stands
for every key of a mapping (or every item of a list); a trailing ``?`` makes a
field optional (its sub-fields are then checked only when it is there).
``expected`` is a type (``dict``, ``list``, ``str``, ``int``, ``float`` for any
real number) or an integer n: a rectangular array of numbers with n axes; a pair
``(expected, None)`` also accepts null (JSON's ``null``: a focus metric of data
without truth, `focus_available`).

Beyond its shape, a document must be drawable (`check_document` refuses it
otherwise, in one line naming the file and the field): at least one seed and one
epoch per curve, every curve of a paradigm as long as its loss, recorded epoch
counts from 1 to `MAX_EPOCHS` (a hybrid's switch between 0 and its epochs),
percentages from 0 to 100, and every number within float32's range (attnjax records
float32 values; beyond it the figures overflow). A paradigm attnjax does not know
may be the library user's own (`attnjax.paradigms`): it is drawn, with a warning
(`document_warnings`). A live ``history.jsonl``, written only by the command
line, is checked line by line by `check_history`: there an unknown paradigm,
epochs that do not count 1, 2, 3, ... or a header claiming an impossible budget
are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, cast

import numpy as np

from .errors import DataError

__all__ = ["KINDS", "FOCUS_METRICS", "MAX_EPOCHS", "focus_available", "check_document", "result_kind",
           "document_warnings", "check_history"]

#: The metrics that read the truth (which segments carry the label): focus accuracy and the
#: four focus/prediction cells. A document of data without truth holds null for each.
FOCUS_METRICS = ("focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf")
#: The metrics that read the truth: the focus metrics and the attention on the truth (`attnjax.metrics`'s
#: ATTENTION_METRICS), null for data without truth.
TRUTH_METRICS = (*FOCUS_METRICS, "a_z", "entropy", "a_z_half")
#: The most epochs a paradigm's record may claim: ``--epochs`` is at most 10**6, and the paper
#: protocol runs each of the hybrid's two phases that long.
MAX_EPOCHS = 2 * 10**6
#: The largest magnitude a result may hold: attnjax records float32 values.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: How far past 0 and 100 a recorded percentage may lie: float32 rounding (100.00001, say).
PERCENT_SLACK = 1e-3
#: The kinds whose numbers are float32 recordings (the estimators' ratios are float64).
_RECORDED = ("compare", "signature", "fixed-focus", "sweep")
#: The most seeds a history may claim (a run of more would not fit in any memory attnjax runs in).
MAX_SEEDS = 1_000_000

#: The fields of a history line that hold percentages (the loss is the other).
_PERCENT_FIELDS = ("train_accuracy", "test_accuracy", "test_focus_accuracy")


def focus_available(data: Mapping | None) -> bool:
    """Whether a document's data (its ``config["data"]``, a ``DataInfo.to_json()``) has a truth.

    False only for data recorded with ``has_truth`` false (a bags file without ``truth``):
    its focus metrics are then null in the JSON and "n/a" in the tables. Documents written
    before the field existed have truth.
    """
    return bool((data or {}).get("has_truth", True))


_COMPARE = [
    ("config.data", dict), ("config.data.name", str), ("config.data.m", int), ("config.seeds", int),
    ("results", dict), ("results.*", dict), ("results.*.rule", str),
    ("results.*.train", dict), ("results.*.train.*", (1, None)), ("results.*.test", dict),
    ("results.*.test.*", (1, None)),
    ("results.*.history", dict), ("results.*.history.loss", 2),
    ("results.*.history.train", dict), ("results.*.history.train.*", (2, None)),
    ("results.*.history.test", dict), ("results.*.history.test.*", (2, None)),
    ("diverged?", dict),
]

#: Every kind of result document, and the fields its figures and tables read.
KINDS: dict[str, list[tuple[str, Any]]] = {
    "compare": _COMPARE,
    "signature": [
        ("config.data", dict), ("config.data.name", str), ("config.seeds", int), ("config.protocol.name", str),
        ("shown", str), ("bins", dict), ("bins.edges", 1), ("heatmaps", dict), ("heatmaps.*", dict),
        ("heatmaps.*.*", 2),
        # Files written before signature also reported compare's metrics have no results.
        *[(path.replace("results", "results?", 1), want) for path, want in _COMPARE if path.startswith("results")],
    ],
    "fixed-focus": [
        ("config.data", dict), ("config.data.name", str), ("config.data.m", int), ("config.seeds", int),
        ("incentive_step", float), ("alphas", 1), ("results", dict), ("results.*", dict), ("results.*.*", dict),
        ("results.*.*.loss", 2), ("results.*.*.incentive", 2), ("results.*.*.test_accuracy", 2),
    ],
    "sweep": [
        ("config.data", dict), ("config.data.name", str), ("seeds", int), ("grid", dict), ("grid.*", 1),
        ("rows", list), ("rows.*", dict), ("rows.*.loss", str),
    ],
    "estimators": [
        ("settings", dict), ("settings.num_draws", int), ("device", str), ("ms", 1),
        ("exact", dict), ("exact.seconds", 1), ("estimators", dict), ("estimators.*", dict),
        *[(f"estimators.*.{name}", 1) for name in ("bias", "bias_noise", "variance", "seconds", "cost_ratio")],
    ],
}


def result_kind(doc: dict) -> str:
    """The document's ``kind`` (inferred for files written before it was recorded)."""
    if "kind" in doc:
        return doc["kind"]
    return "signature" if "heatmaps" in doc else "fixed-focus" if "alphas" in doc else "compare"


def _describe(value) -> str:
    return type(value).__name__ if not isinstance(value, (dict, list)) else ("an object" if isinstance(value, dict)
                                                                           else "a list")


def _check_value(value, want: type | int | tuple, where: str) -> str | None:
    """Why ``value`` is not what ``want`` (a type, a list's nesting depth, or ``(either, None)``: null
    accepted too) describes, or None."""
    if isinstance(want, tuple):  # (expected, None): null is accepted too
        if value is None:
            return None
        want = want[0]
    if isinstance(want, int) and not isinstance(want, bool):
        try:
            array = np.asarray(value, dtype=float)
        except (ValueError, TypeError):
            return f"{where} must be a {'list' if want == 1 else 'rectangular list of lists'} of numbers"
        what = "list" if want == 1 else f"{want}-level nested list"
        if array.ndim != want:
            return f"{where} must be a {what} of numbers, got {array.ndim} level(s)"
        if any(isinstance(v, (str, bool)) for v in np.ravel(np.asarray(value, dtype=object))):
            return f"{where} must be a {what} of numbers, not of text or true/false"
        if not np.all(np.isfinite(array)):
            return f"{where} holds a number that is not finite (attnjax never saves one)"
        return None
    if want is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif want is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, cast(type, want))  # a type here: the depths were handled above
    names = {dict: "an object", list: "a list", str: "text", int: "an integer", float: "a number"}
    return None if ok else f"{where} must be {names[want]}, got {_describe(value)}"


def _walk(node, parts: list[str], want, where: str) -> str | None:
    if not parts:
        return _check_value(node, want, where)
    part, rest = parts[0], parts[1:]
    optional = part.endswith("?")
    part = part.rstrip("?")
    if part == "*":
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            problem = _walk(child, rest, want, f"{where}.{key}" if where else str(key))
            if problem:
                return problem
        return None
    here = f"{where}.{part}" if where else part
    if not isinstance(node, dict):
        return f"{where} must be an object, got {_describe(node)}"
    if part not in node:
        return None if optional else f"missing field {here!r}"
    return _walk(node[part], rest, want, here)


def check_document(doc: Any, path: str | Path) -> dict:
    """Check that ``doc`` has every field its kind's figures and tables read.

    Arguments:
        doc: the parsed JSON document.
        path: its file, for the message.

    Returns:
        ``doc``, unchanged.

    Raises:
        DataError: one line naming ``path`` and the first missing or bad field.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise DataError(f"{path}: not an attnjax result file (no 'config' field)")
    kind = result_kind(doc)
    if not isinstance(kind, str) or kind not in KINDS:
        raise DataError(f"{path}: unknown kind {kind!r}; attnjax writes {', '.join(KINDS)}")
    for field, want in KINDS[kind]:
        problem = _walk(doc, field.split("."), want, "")
        if problem:
            raise DataError(f"{path}: damaged {kind} result: {problem}")
    problem = _seed_counts(doc) or _nulls(doc) or _drawable(doc, kind)
    if problem:
        raise DataError(f"{path}: damaged {kind} result: {problem}")
    return doc


def _nulls(doc: dict) -> str | None:
    """Only the focus metrics may be null, and only of data without truth."""
    focus = focus_available(doc["config"].get("data"))
    for name, res in (doc.get("results") or {}).items():
        if not isinstance(res, dict) or "history" not in res:
            continue
        for where, metrics in (("train", res["train"]), ("test", res["test"]), ("history.train", res["history"]["train"]),
                               ("history.test", res["history"]["test"])):
            for metric, values in metrics.items():
                if values is None and (focus or metric not in TRUTH_METRICS):
                    why = "the data has a truth" if metric in TRUTH_METRICS else "only the focus metrics may be"
                    return f"results.{name}.{where}.{metric} is null ({why})"
    return None


def _seed_counts(doc: dict) -> str | None:
    """Every per-seed list of a paradigm has one entry per seed (``config.seeds``)."""
    seeds = doc["config"].get("seeds")
    for name, res in (doc.get("results") or {}).items():
        if not isinstance(res, dict) or "history" not in res:
            continue
        lists = {"history.loss": res["history"]["loss"],
                 **{f"{s}.{m}": v for s in ("train", "test") for m, v in res[s].items()},
                 **{f"history.{s}.{m}": v for s in ("train", "test") for m, v in res["history"][s].items()}}
        for where, values in lists.items():
            if isinstance(seeds, int) and values is not None and len(values) != seeds:
                return f"results.{name}.{where} has {len(values)} seed(s), config.seeds says {seeds}"
    return None


def _epoch_counts(value, where: str, low: int = 1, high: int = MAX_EPOCHS) -> tuple[str | None, list[int]]:
    """``(why value is not one or more epoch counts in [low, high] or None, the counts)``."""
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        return f"{where} must be an integer (or a list of integers), got {value!r}", []
    bad = [v for v in values if not low <= v <= high]
    if bad:
        return f"{where} is {bad[0]:,}; attnjax runs {low:,} to {high:,}", []
    return None, values


def _too_large(value, where: str) -> str | None:
    """Where a number beyond float32's range sits in ``value`` (nested objects and lists), or None."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        big = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > FLOAT32_MAX
        return f"{where} holds {value:g}, beyond float32's range (attnjax records float32 values)" if big else None
    for key, child in items:
        problem = _too_large(child, f"{where}.{key}" if where else str(key))
        if problem:
            return problem
    return None


def _percent(values, where: str) -> str | None:
    """Why ``values`` (numbers, nulls allowed) are not percentages, or None."""
    array = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], np.float64)
    bad = array[(array < -PERCENT_SLACK) | (array > 100 + PERCENT_SLACK)]
    return f"{where} holds {bad[0]:g}, not a percentage (0 to 100)" if bad.size else None


def _drawable(doc: dict, kind: str) -> str | None:
    """Why a document of the right shape cannot be drawn faithfully (see the module docstring), or None."""
    if kind not in _RECORDED:
        return None
    for field in ("results", "heatmaps", "rows"):
        problem = _too_large(doc.get(field), field)
        if problem:
            return problem
    if kind == "fixed-focus":
        return _fixed_focus_drawable(doc)
    if kind == "signature":
        bins = len(doc["bins"]["edges"]) - 1
        for name, maps in doc["heatmaps"].items():
            for shown, hm in maps.items():
                if bins < 1 or np.shape(hm) != (bins, bins):
                    return (f"heatmaps.{name}.{shown} is {'×'.join(map(str, np.shape(hm)))}, bins.edges makes "
                            f"{bins}×{bins} bins")
    if kind in ("compare", "signature") and doc.get("results"):
        return _curves_drawable(doc)
    return None


def _fixed_focus_drawable(doc: dict) -> str | None:
    """Each alpha's curves: at least one seed and one epoch, the three of the same shape."""
    for name, per_alpha in doc["results"].items():
        for alpha, curves in per_alpha.items():
            shape = np.shape(curves["loss"])
            if 0 in shape:
                return f"results.{name}.{alpha}.loss holds no {'seed' if shape[0] == 0 else 'epoch'}"
            for field in ("incentive", "test_accuracy"):
                if np.shape(curves[field]) != shape:
                    return (f"results.{name}.{alpha}.{field} is {'×'.join(map(str, np.shape(curves[field])))}, "
                            f"its loss {'×'.join(map(str, shape))} (seeds × epochs)")
    return None


def _curves_drawable(doc: dict) -> str | None:
    """The compare results' curves: seeds, epochs, lengths, percentages and recorded epoch counts."""
    seeds = doc["config"]["seeds"]
    if seeds < 1:
        return f"config.seeds is {seeds}: no seed to draw"
    paradigms = doc["config"].get("paradigms")
    paradigms = paradigms if isinstance(paradigms, dict) else {}
    for name, res in doc["results"].items():
        loss = np.shape(res["history"]["loss"])
        if loss[1] == 0:
            return f"results.{name}.history.loss holds no epoch"
        for split in ("train", "test"):
            for metric, values in res[split].items():
                problem = values is not None and _percent(values, f"results.{name}.{split}.{metric}")
                if problem:
                    return problem
            for metric, values in res["history"][split].items():
                where = f"results.{name}.history.{split}.{metric}"
                if values is not None and np.shape(values) != loss:
                    return f"{where} has {np.shape(values)[1]} epoch(s), results.{name}.history.loss {loss[1]}"
                problem = values is not None and _percent(values, where)
                if problem:
                    return problem
        spec = paradigms.get(name)
        if isinstance(spec, dict) and "epochs" in spec:
            problem, epochs = _epoch_counts(spec["epochs"], f"config.paradigms.{name}.epochs")
            if not problem and loss[1] > max(epochs):
                problem = f"results.{name}.history.loss has {loss[1]} epochs, config.paradigms.{name}.epochs {max(epochs)}"
            if not problem and "switch_epoch" in spec:
                problem, _ = _epoch_counts(spec["switch_epoch"], f"config.paradigms.{name}.switch_epoch", 0,
                                           max(epochs))
            if problem:
                return problem
    return None


def _paradigm_names(doc: dict) -> list[str]:
    """The paradigms a document's figures are drawn for."""
    kind = result_kind(doc)
    if kind == "sweep":
        return list(dict.fromkeys(r["loss"] for r in doc.get("rows", [])))
    if kind == "estimators":
        return []
    return list(dict.fromkeys([*(doc.get("results") or {}), *(doc.get("heatmaps") or {})]))


def document_warnings(doc: dict, path: str | Path) -> list[str]:
    """One line per thing a checked document (`check_document`) holds that is drawn but unusual.

    A paradigm attnjax does not know (a library user's own `attnjax.paradigms.Paradigm`,
    or a hand-edited name) is drawn in a default colour, its name standing for its objective.

    Returns:
        The lines, each naming ``path`` (none when there is nothing to say).
    """
    from .paradigms import REGISTRY

    return [f"{path}: paradigm {name!r} is not one of attnjax's ({', '.join(REGISTRY)}): drawn in a default "
            f"colour" for name in _paradigm_names(doc) if name not in REGISTRY]


def check_history(header: Any, records: list, path: str | Path) -> None:
    """Check a live ``history.jsonl`` (`attnjax.runlog`) before anything is drawn from it.

    Only the command line writes one, so everything in it is known: the header's paradigms
    are attnjax's, each with 1 to `MAX_EPOCHS` epochs (the hybrid's switch between 0 and
    those), and its ``seeds`` is at least 1; each line names one of the header's paradigms and
    a seed chunk ``[first, stop)`` within the header's seeds, lists one value per seed in
    every field, the loss within float32's range and the accuracies percentages; and the
    lines of each paradigm and seed chunk count their epochs 1, 2, 3, ... up to its budget.

    Arguments:
        header: the parsed first line (its ``"kind"`` already checked).
        records: the parsed lines after it.
        path: the file, for the message.

    Raises:
        DataError: one line naming ``path`` and the first problem.
    """
    problem = _history_header(header) or _history_lines(header, records)
    if problem:
        raise DataError(f"{path}: damaged history: {problem}")


def _history_header(header: dict) -> str | None:
    """Why a history's header is not one the command line writes, or None."""
    from .paradigms import REGISTRY

    seeds, paradigms, data = header.get("seeds"), header.get("paradigms"), header.get("data")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        return f"the header's seeds is {seeds!r}, not an integer from 1 to {MAX_SEEDS:,}"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("m"), int):
        return f"the header's data is {_describe(data)}, not the data set's record (with its name and m)"
    if not isinstance(paradigms, dict) or not paradigms:
        return "the header names no paradigm"
    for name, spec in paradigms.items():
        if name not in REGISTRY:
            return f"the header names paradigm {name!r}; attnjax writes {', '.join(REGISTRY)}"
        if not isinstance(spec, dict):
            return f"the header's paradigms.{name} must be an object, got {_describe(spec)}"
        problem, epochs = _epoch_counts(spec.get("epochs"), f"the header's paradigms.{name}.epochs")
        if not problem and "switch_epoch" in spec:
            problem, _ = _epoch_counts(spec["switch_epoch"], f"the header's paradigms.{name}.switch_epoch", 0,
                                       max(epochs))
        if problem:
            return problem
    return None


def _history_lines(header: dict, records: list) -> str | None:
    """Why a history's lines (after a checked header) are not ones the command line writes, or None."""
    seeds, paradigms = header["seeds"], header["paradigms"]
    nulls = not focus_available(header.get("data"))  # data without truth: a null focus accuracy
    last: dict[tuple, int] = {}
    for r in records:
        if not isinstance(r, dict):
            return f"a line is {_describe(r)}, not an object"
        name, epoch, chunk = r.get("paradigm"), r.get("epoch"), r.get("seeds")
        if name not in paradigms:
            return f"a line names paradigm {name!r}, which the header does not ({', '.join(paradigms)})"
        line = f"the {name} line of epoch {epoch!r}"
        if (not isinstance(chunk, list) or len(chunk) != 2
                or any(isinstance(c, bool) or not isinstance(c, int) for c in chunk)
                or not 0 <= chunk[0] < chunk[1] <= seeds):
            return f"{line}: seeds {chunk!r} is not a chunk [first, stop) of the header's {seeds} seeds"
        line += f", seeds {chunk[0]}–{chunk[1] - 1}"
        done = last.get((name, *chunk), 0)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch != done + 1:
            return f"{line}: epochs must count 1, 2, 3, ... per paradigm and seed chunk (this one after {done})"
        budget = max(_epoch_counts(paradigms[name]["epochs"], "")[1])
        if epoch > budget:
            return f"{line}: past the header's {budget} epochs"
        last[(name, *chunk)] = epoch
        for field in ("loss", *_PERCENT_FIELDS):
            values = r.get(field)
            if not isinstance(values, list) or len(values) != chunk[1] - chunk[0]:
                return f"{line}: {field} must list one number per seed ({chunk[1] - chunk[0]})"
            if any(not (v is None and nulls and field == "test_focus_accuracy")
                   and (isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)) for v in values):
                return f"{line}: {field} holds a value that is not a finite number"
            problem = _too_large(values, f"{line}: {field}") or (field in _PERCENT_FIELDS
                                                                 and _percent(values, f"{line}: {field}"))
            if problem:
                return problem
        a_z = r.get("test_a_z")  # the attention on the truth (absent from files written before it existed)
        if a_z is not None and (not isinstance(a_z, list) or len(a_z) != chunk[1] - chunk[0] or any(
                not (v is None and nulls) and (isinstance(v, bool) or not isinstance(v, (int, float))
                                               or not -PERCENT_SLACK / 100 <= v <= 1 + PERCENT_SLACK / 100)
                for v in a_z)):
            return f"{line}: test_a_z must list one attention weight (0 to 1) per seed"
    return None
