"""The theory of a run: the reduced gradient flow at the flow times a training run recorded.

`attach_theory` adds, to each paradigm of a ``compare`` or ``signature`` document whose run *is*
the paper's simple setting, a ``theory`` block: the reduced ODE's alpha(t) and mu(t) from zero
(paper-notes section 3; `analytic.theory_at_flow_times`) at the run's recorded flow times, so that
``curves.png`` draws the theory over the SGD curves. The command calls it (``attnjax`` imports
``analytic`` only from the command line).

A run is the simple setting when (`simple_setting`): the data is ``orthogonal`` without noise, with
a multiple of C training mosaics (every class weighted equally, so the training mean is the
population loss); the model is ``linear`` (focus without bias, zero initialisation); the optimizer
is SGD (with or without momentum: flow time is ``sum lr / (1 - momentum)``, `attnjax.clock`); every
seed has one learning rate; and the paradigm is soft, hard, LVML, or the hybrid from soft to hard
without a reset of its momentum. Momentum SGD trails the flow by about ``momentum / (1 - momentum)``
steps (``sgd_follows_flow`` in ``attnjax verify`` measures it), which the figure shows as a lag.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .flow_clock import theory_at_flow_times

__all__ = ["simple_setting", "attach_theory"]

KINDS = ("soft", "hard", "lvml", "hybrid")
SOURCE = ("the reduced gradient flow from mu = nu = 0 (paper-notes section 3), solved with diffrax in float64 "
          "at the run's flow times (seed 0's clock)")


def simple_setting(doc: dict, name: str) -> str | None:
    """None when paradigm ``name`` of ``doc`` ran in the simple setting, else why not (a phrase)."""
    config = doc.get("config", {})
    data = config.get("data", {})
    paradigm = config.get("paradigms", {}).get(name, {})
    if data.get("name") != "orthogonal":
        return "the data is not orthogonal"
    if float(data.get("settings", {}).get("noise_std", 1.0)) != 0.0:
        return "the background has noise"
    n_train, classes = data.get("settings", {}).get("n_train"), data.get("num_classes")
    if not n_train or not classes or n_train % classes:
        return "the training mosaics are not a multiple of the classes"
    if paradigm.get("model") != "linear" or "modules" in paradigm:
        return "the model is not linear"
    if paradigm.get("optimizer") != "sgd":
        return "the optimizer is not SGD"
    if name not in KINDS:
        return f"no theory for {name}"
    if name == "hybrid" and (paradigm.get("hybrid_to") != "hard" or paradigm.get("hybrid_reset")):
        return "the hybrid is not soft then hard without a momentum reset"
    if len({float(x) for x in np.atleast_1d(paradigm.get("learning_rate", np.nan))}) != 1:
        return "the seeds have different learning rates"
    return None


def _clock(history: dict) -> dict | None:
    source = history.get("fine") or history.get("clock")
    if source is None or source.get("flow_time") is None:
        return None
    return source


def attach_theory(doc: dict) -> dict:
    """``doc`` with ``results[name]["theory"]`` added where `simple_setting` holds (in place; also returned).

    The block holds ``flow_time``, ``step`` and ``epoch`` (seed 0's clock, with t = 0 first), ``alpha`` and
    ``mu`` of the flow at those times, ``m``, ``C`` and where it comes from.
    """
    data = doc.get("config", {}).get("data", {})
    for name, res in doc.get("results", {}).items():
        clock = _clock(res.get("history", {}))
        if clock is None or simple_setting(doc, name) is not None:
            continue
        flow = np.concatenate([[0.0], np.asarray(clock["flow_time"], np.float64)[0]])
        step = np.concatenate([[0.0], np.asarray(clock["step"], np.float64)])
        epoch = np.concatenate([[0.0], np.asarray(clock["epoch"], np.float64)])
        m, C = int(data["m"]), int(data["num_classes"])
        options: dict[str, Any] = {}
        if name == "hybrid":
            switch = int(np.atleast_1d(doc["config"]["paradigms"]["hybrid"]["switch_epoch"])[0])
            per_epoch = step[1] / epoch[1]
            options["switch_time"] = switch * per_epoch * flow[1] / step[1]
        theory = theory_at_flow_times(name, flow, m=m, C=C, **options)
        res["theory"] = {"flow_time": flow, "step": step, "epoch": epoch, "alpha": theory["alpha"],
                         "mu": theory["mu"], "m": m, "C": C, "source": SOURCE}
    return doc
