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

import jax
import numpy as np

from .closed_form import fixed_focus_margin
from .flow_clock import theory_at_flow_times
from .setting import focus_loss

__all__ = ["simple_setting", "attach_theory", "fixed_focus_setting", "attach_fixed_focus_theory"]

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


FIXED_FOCUS_SOURCE = ("the fixed-focus closed forms (paper-notes section 3: mu(t) from mu(0) = 0, "
                      "analytic.fixed_focus_margin; L = analytic.focus_loss) in float64 at each epoch end's "
                      "flow time lr * steps / (1 - momentum)")


def fixed_focus_setting(doc: dict, name: str) -> str | None:
    """None when paradigm ``name`` of a fixed-focus document has closed forms, else why not (a phrase).

    The closed forms hold for orthogonal data with the foreground at position 0, the linear classifier
    (zero initialisation) and SGD, for soft, hard and LVML. Background noise and unequal class counts
    are allowed and named in the block's ``caveats``: they move the run off the closed forms by an amount
    the comparison measures.
    """
    config = doc.get("config", {})
    data = config.get("data", {})
    paradigm = config.get("paradigms", {}).get(name, {})
    if data.get("name") != "orthogonal":
        return "the data is not orthogonal"
    if data.get("settings", {}).get("fg_position") != "first":
        return "the foreground is not at position 0"
    if paradigm.get("model") != "linear" or "modules" in paradigm:
        return "the model is not linear"
    if paradigm.get("optimizer") != "sgd":
        return "the optimizer is not SGD"
    if name not in ("soft", "hard", "lvml"):
        return f"no closed form for {name}"
    if len({float(x) for x in np.atleast_1d(paradigm.get("learning_rate", np.nan))}) != 1:
        return "the seeds have different learning rates"
    return None


def attach_fixed_focus_theory(doc: dict) -> dict:
    """``doc`` (a fixed-focus document) with ``theory[name]`` added for each paradigm where
    `fixed_focus_setting` holds (in place; also returned).

    Epoch ``e`` of a run with learning rate ``lr``, momentum ``b`` and ``n_train // batch_size`` steps an
    epoch sits at flow time ``t_e = lr * e * steps / (1 - b)``. The block holds ``flow_time`` (``[E]``),
    and per alpha (the document's keys) the closed form's ``loss`` L(alpha) at mu(t_e) and its
    ``incentive`` L(alpha) - L(alpha + h) at the same mu (h the document's ``incentive_step``; at
    alpha + h > 1 the backward difference, as the run's), plus ``C``, ``caveats`` and where it comes from.
    """
    data = doc.get("config", {}).get("data", {})
    settings = data.get("settings", {})
    h = float(doc.get("incentive_step", 0.01))
    for name, per_alpha in doc.get("results", {}).items():
        if fixed_focus_setting(doc, name) is not None:
            continue
        paradigm = doc["config"]["paradigms"][name]
        lr = float(np.atleast_1d(paradigm["learning_rate"])[0])
        momentum = float(np.atleast_1d(paradigm.get("momentum", 0.0))[0])
        steps = int(settings["n_train"]) // int(paradigm["batch_size"])
        epochs = np.asarray(next(iter(per_alpha.values()))["loss"], np.float64).shape[-1]
        flow = lr * steps * np.arange(1, epochs + 1, dtype=np.float64) / (1.0 - momentum)
        C = int(data["num_classes"])
        theory: dict[str, Any] = {"flow_time": flow, "C": C, "source": FIXED_FOCUS_SOURCE, "alphas": {}}
        caveats = []
        if float(settings.get("noise_std", 0.0)) != 0.0:
            caveats.append(f"background noise of std {settings['noise_std']} in the last coordinate")
        caveats.append("the classes' counts among the training mosaics are drawn, not equal")
        theory["caveats"] = caveats
        for key in per_alpha:
            alpha = float(key)
            other = alpha + h if alpha + h <= 1.0 else alpha - h
            with jax.enable_x64(True):
                mu = np.asarray(fixed_focus_margin(name, np.float64(alpha), flow, C=C), np.float64)
                loss = np.asarray(focus_loss(name, np.float64(alpha), mu, C=C), np.float64)
                moved = np.asarray(focus_loss(name, np.float64(other), mu, C=C), np.float64)
            incentive = loss - moved if alpha + h <= 1.0 else moved - loss
            theory["alphas"][key] = {"mu": mu, "loss": loss, "incentive": incentive}
        doc.setdefault("theory", {})[name] = theory
    return doc
