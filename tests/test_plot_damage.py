"""``attnjax plot`` on damaged files: refused in one line naming the file, or drawn with a one-line warning.

The files are written out by hand here (a live ``history.jsonl`` in the layout
`attnjax.runlog` documents, and ``results.json``, ``fixed_focus.json`` and
``signature.json`` documents), each damaged in one way, so that what is refused
does not depend on the code that writes them.
"""

import copy
import json
import warnings

import numpy as np
import pytest

from attnjax.errors import DataError
from attnjax.files import load_results
from conftest import run_cli

SEEDS, EPOCHS = 2, 3


def _header(**paradigms):
    paradigms = paradigms or {"soft": {"epochs": EPOCHS, "loss": "soft"},
                              "hybrid": {"epochs": EPOCHS, "loss": "hybrid", "switch_epoch": 1}}
    return {"kind": "history", "command": "compare", "seeds": SEEDS,
            "data": {"name": "orthogonal", "m": 3, "has_truth": True}, "paradigms": paradigms,
            "pid": 1, "host": "elsewhere"}


def _lines():
    """Every paradigm's lines for seeds 0-1, epochs 1-3: loss 1/epoch, accuracies rising."""
    return [{"paradigm": name, "epoch": e, "seeds": [0, SEEDS], "loss": [1.0 / e, 1.1 / e],
             "train_accuracy": [40.0 + 10 * e, 45.0 + 10 * e], "test_accuracy": [30.0 + 10 * e, 35.0 + 10 * e],
             "test_focus_accuracy": [20.0 + 10 * e, 25.0 + 10 * e]}
            for name in ("soft", "hybrid") for e in range(1, EPOCHS + 1)]


def _write_history(folder, header, lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in [header, *lines]))
    return folder / "history.jsonl"


def _set(lines, field, value, *, name="soft", epoch=None):
    for line in lines:
        if line["paradigm"] == name and (epoch is None or line["epoch"] == epoch):
            line[field] = copy.deepcopy(value)


def _renumber(lines, epochs):
    soft = [x for x in lines if x["paradigm"] == "soft"]
    for line, e in zip(soft, epochs):
        line["epoch"] = e


HISTORY_DAMAGE = {
    "a line's unknown paradigm": (lambda h, ls: _set(ls, "paradigm", "bogus"),
                                  "a line names paradigm 'bogus', which the header does not (soft, hybrid)"),
    "the header's unknown paradigm": (lambda h, ls: h["paradigms"].update(bogus={"epochs": 3}),
                                      "the header names paradigm 'bogus'"),
    "empty per-seed lists": (lambda h, ls: [_set(ls, f, []) for f in ("loss", "train_accuracy", "test_accuracy",
                                                                        "test_focus_accuracy")],
                             "the soft line of epoch 1, seeds 0–1: loss must list one number per seed (2)"),
    "an empty seed chunk": (lambda h, ls: _set(ls, "seeds", [0, 0]), "seeds [0, 0] is not a chunk"),
    "one seed short": (lambda h, ls: _set(ls, "test_accuracy", [50.0], epoch=2),
                       "the soft line of epoch 2, seeds 0–1: test_accuracy must list one number per seed (2)"),
    "10**12 epochs": (lambda h, ls: h["paradigms"]["soft"].update(epochs=10**12),
                      "the header's paradigms.soft.epochs is 1,000,000,000,000; attnjax runs 1 to 2,000,000"),
    "no epochs": (lambda h, ls: h["paradigms"]["soft"].update(epochs=0), "paradigms.soft.epochs is 0"),
    "a switch past the epochs": (lambda h, ls: h["paradigms"]["hybrid"].update(switch_epoch=7),
                                 "paradigms.hybrid.switch_epoch is 7; attnjax runs 0 to 3"),
    "no seeds": (lambda h, ls: h.update(seeds=0), "the header's seeds is 0"),
    "negative epochs": (lambda h, ls: _renumber(ls, [-1, -2, -3]),
                        "the soft line of epoch -1, seeds 0–1: epochs must count 1, 2, 3"),
    "reversed epochs": (lambda h, ls: _renumber(ls, [3, 2, 1]), "the soft line of epoch 3"),
    "a repeated epoch": (lambda h, ls: _renumber(ls, [1, 1, 2]), "the soft line of epoch 1, seeds 0–1: epochs must"),
    "an epoch as text": (lambda h, ls: _renumber(ls, ["1", 2, 3]), "the soft line of epoch '1'"),
    "past the header's epochs": (lambda h, ls: h["paradigms"]["soft"].update(epochs=2),
                                 "the soft line of epoch 3, seeds 0–1: past the header's 2 epochs"),
    "a loss of 1e308": (lambda h, ls: _set(ls, "loss", [1e308, 1.0], epoch=2),
                        "the soft line of epoch 2, seeds 0–1: loss.0 holds 1e+308, beyond float32's range"),
    "a loss of true": (lambda h, ls: _set(ls, "loss", [True, 1.0], epoch=2), "loss holds a value that is not"),
    "a null loss": (lambda h, ls: _set(ls, "loss", [None, 1.0], epoch=2), "loss holds a value that is not"),
    "an accuracy of 250 %": (lambda h, ls: _set(ls, "test_accuracy", [250.0, 50.0], epoch=1),
                             "test_accuracy holds 250, not a percentage (0 to 100)"),
}


@pytest.mark.parametrize("name", HISTORY_DAMAGE)
def test_plot_refuses_a_damaged_history_in_one_line(name, tmp_path, capsys):
    change, fragment = HISTORY_DAMAGE[name]
    header, lines = _header(), _lines()
    change(header, lines)
    path = _write_history(tmp_path / "run", header, lines)
    code, out, err = run_cli(["plot", str(tmp_path / "run")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"attnjax: error: {path}: damaged history: ") and fragment in err, err
    assert not (tmp_path / "run" / "progress.png").exists()


def test_a_sound_history_is_drawn_without_a_warning(tmp_path, capsys):
    """The undamaged file of the cases above: drawn, nothing on stderr, no NumPy warning."""
    _write_history(tmp_path / "run", _header(), _lines())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(["plot", str(tmp_path / "run")], capsys)
    assert code == 0 and err == "", err
    assert (tmp_path / "run" / "progress.png").is_file()
    assert out.startswith("interrupted: soft 3/3 epochs, hybrid 3/3 epochs")


def test_a_history_in_progress_and_without_truth_is_still_drawn(tmp_path, capsys):
    """Not damage: a second seed chunk two epochs in, null focus accuracies of data without truth, and
    float32's rounding of 100 % (as training records it)."""
    header = _header()
    header.update(seeds=4, data={"name": "bags", "m": 3, "has_truth": False})
    lines = _lines()
    lines[0]["train_accuracy"] = [float(np.float32(100) * np.float32(1 + 2**-23)), 0.0]  # 100.0000153
    for line in lines:
        line["test_focus_accuracy"] = [None, None]
    lines += [{**line, "seeds": [2, 4]} for line in lines if line["epoch"] <= 2]
    _write_history(tmp_path / "run", header, lines)
    code, out, err = run_cli(["plot", str(tmp_path / "run")], capsys)
    assert code == 0 and err == "", err
    assert "soft 3/3 epochs (2 of 4 seeds)" in out


def _compare_doc(names=("soft", "hybrid")):
    """A ``results.json`` of 2 seeds and 3 epochs, written out by hand."""
    cells = ("accuracy", "focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf")
    curve = [[60.0, 70.0, 80.0], [65.0, 75.0, 85.0]]
    result = {"rule": "pooled", "train": {c: [25.0, 30.0] for c in cells}, "test": {c: [25.0, 30.0] for c in cells},
              "history": {"loss": [[1.0, 0.5, 0.25], [1.1, 0.6, 0.3]], "train": {c: curve for c in cells},
                          "test": {c: curve for c in cells}}}
    paradigms = {n: {"epochs": EPOCHS, "loss": n} for n in names}
    if "hybrid" in paradigms:
        paradigms["hybrid"].update(switch_epoch=1, hybrid_to="hard")
    return {"kind": "compare", "config": {"seeds": SEEDS, "data": {"name": "orthogonal", "m": 3},
                                          "paradigms": paradigms, "protocol": {"name": "attnjax"}},
            "results": {n: copy.deepcopy(result) for n in names}, "diverged": {}}


def _fixed_focus_doc():
    curve = [[1.0, 0.5, 0.25], [1.1, 0.6, 0.3]]
    return {"kind": "fixed-focus", "config": {"seeds": SEEDS, "data": {"name": "orthogonal", "m": 3}},
            "incentive_step": 0.01, "alphas": [0.5, 1.0],
            "results": {"hard": {a: {"loss": curve, "incentive": curve, "test_accuracy": curve}
                                 for a in ("0.5", "1")}}}


def _signature_doc():
    return {"kind": "signature", "shown": "own",
            "config": {"seeds": SEEDS, "data": {"name": "orthogonal", "m": 3}, "protocol": {"name": "attnjax"}},
            "bins": {"edges": [0.0, 0.5, 1.0]}, "heatmaps": {"soft": {"own": [[10.0, 20.0], [30.0, 40.0]]}}}


def _soft(doc):
    return doc["results"]["soft"]


RESULT_DAMAGE = {
    "no epoch": (_compare_doc, lambda d: _soft(d)["history"].update(
        loss=[[], []], train={"accuracy": [[], []]}, test={"accuracy": [[], []]}),
        "results.soft.history.loss holds no epoch"),
    "a curve an epoch short": (_compare_doc, lambda d: _soft(d)["history"]["test"].update(accuracy=[[1.0, 2.0]] * 2),
                               "results.soft.history.test.accuracy has 2 epoch(s), results.soft.history.loss 3"),
    "10**12 epochs": (_compare_doc, lambda d: d["config"]["paradigms"]["hybrid"].update(epochs=10**12),
                      "config.paradigms.hybrid.epochs is 1,000,000,000,000; attnjax runs 1 to 2,000,000"),
    "negative epochs": (_compare_doc, lambda d: d["config"]["paradigms"]["soft"].update(epochs=-3),
                        "config.paradigms.soft.epochs is -3"),
    "fewer epochs than its curves": (_compare_doc, lambda d: d["config"]["paradigms"]["soft"].update(epochs=2),
                                     "results.soft.history.loss has 3 epochs, config.paradigms.soft.epochs 2"),
    "a switch past the epochs": (_compare_doc, lambda d: d["config"]["paradigms"]["hybrid"].update(switch_epoch=4),
                                 "config.paradigms.hybrid.switch_epoch is 4; attnjax runs 0 to 3"),
    "no seeds": (_compare_doc, lambda d: d["config"].update(seeds=0), "config.seeds"),
    "a loss of 1e308": (_compare_doc, lambda d: _soft(d)["history"].update(loss=[[1e308, 1.0, 1.0], [1.0] * 3]),
                        "results.soft.history.loss.0.0 holds 1e+308, beyond float32's range"),
    "an accuracy of 150 %": (_compare_doc, lambda d: _soft(d)["test"].update(accuracy=[150.0, 50.0]),
                             "results.soft.test.accuracy holds 150, not a percentage"),
    "a negative curve": (_compare_doc, lambda d: _soft(d)["history"]["train"].update(ftpt=[[-1.0] * 3] * 2),
                         "results.soft.history.train.ftpt holds -1, not a percentage"),
    "fixed focus without epochs": (_fixed_focus_doc, lambda d: d["results"]["hard"]["1"].update(
        loss=[[], []], incentive=[[], []], test_accuracy=[[], []]), "results.hard.1.loss holds no epoch"),
    "fixed focus, ragged": (_fixed_focus_doc, lambda d: d["results"]["hard"]["1"].update(incentive=[[1.0]] * 2),
                            "results.hard.1.incentive is 2×1, its loss 2×3"),
    "fixed focus, a loss of 1e300": (_fixed_focus_doc, lambda d: d["results"]["hard"]["1"].update(
        loss=[[1e300, 1.0, 1.0], [1.0] * 3]), "results.hard.1.loss.0.0 holds 1e+300"),
    "an empty heatmap": (_signature_doc, lambda d: d["heatmaps"]["soft"].update(own=[[]]),
                         "heatmaps.soft.own is 1×0, bins.edges makes 2×2 bins"),
}


@pytest.mark.parametrize("name", RESULT_DAMAGE)
def test_plot_refuses_an_undrawable_result_in_one_line(name, tmp_path, capsys):
    make, change, fragment = RESULT_DAMAGE[name]
    doc = make()
    change(doc)
    file = {"compare": "results.json", "fixed-focus": "fixed_focus.json", "signature": "signature.json"}[doc["kind"]]
    path = tmp_path / file
    path.write_text(json.dumps(doc))
    code, out, err = run_cli(["plot", str(tmp_path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"attnjax: error: {path}: damaged ") and fragment in err, err
    assert not any(p.suffix == ".png" for p in tmp_path.iterdir())
    with pytest.raises(DataError, match="damaged"):  # the library's reader refuses it too
        load_results(path)


@pytest.mark.parametrize("make", [_compare_doc, _fixed_focus_doc, _signature_doc])
def test_the_sound_documents_are_drawn_without_a_word(make, tmp_path, capsys):
    (tmp_path / "r.json").write_text(json.dumps(make()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(["plot", str(tmp_path / "r.json")], capsys)
    assert code == 0 and err == "", err


def test_an_unknown_paradigm_is_drawn_with_a_one_line_warning(tmp_path, capsys):
    """A library user may train a paradigm of their own: drawn, but said."""
    doc = _compare_doc(("soft", "mine"))
    (tmp_path / "results.json").write_text(json.dumps(doc))
    code, out, err = run_cli(["plot", str(tmp_path)], capsys)
    assert code == 0, err
    assert err == (f"attnjax: warning: {tmp_path / 'results.json'}: paradigm 'mine' is not one of attnjax's "
                   "(soft, hard, lvml, hybrid, hard-reinforce, hard-gumbel, lvml-em): drawn in a default colour")
    assert (tmp_path / "curves.png").is_file()
    lines = []
    assert load_results(tmp_path, warn=lines.append) and len(lines) == 1 and "'mine'" in lines[0]


def test_float32s_largest_values_are_still_drawn(tmp_path, capsys):
    """The bound is float32's range because the figures draw up to it: a loss of 3.4e38 still plots."""
    doc = _compare_doc()
    big = float(np.finfo(np.float32).max)
    _soft(doc)["history"]["loss"] = [[big, 1.0, 1e-30], [big, big, -big]]
    (tmp_path / "results.json").write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(["plot", str(tmp_path)], capsys)
    assert code == 0 and err == "", err
