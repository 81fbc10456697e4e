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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, cast

import numpy as np

from .errors import DataError

__all__ = ["KINDS", "FOCUS_METRICS", "focus_available", "check_document", "result_kind"]

#: The metrics that read the truth (which segments carry the label): focus accuracy and the
#: four focus/prediction cells. A document of data without truth holds null for each.
FOCUS_METRICS = ("focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf")


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
    problem = _seed_counts(doc) or _nulls(doc)
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
                if values is None and (focus or metric not in FOCUS_METRICS):
                    why = "the data has a truth" if metric in FOCUS_METRICS else "only the focus metrics may be"
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
