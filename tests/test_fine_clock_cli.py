"""The fine clock through the command: --eval-every, the attention metrics, flow time, the theory and the plots.

Independent references: the clock is written out by hand from the run's sizes; a_z and the normalised entropy
are recomputed in NumPy from ``attention.npz`` (``--save-attention``); the theory at t = 0 is the closed form
alpha = 1/m, and along the run it is compared with SGD within the ``sgd_follows_flow`` budget.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnjax.attention import read_attention
from conftest import run_cli


@pytest.fixture(scope="module")
def fine_run(tmp_path_factory):
    """digits, 2 seeds, 2 epochs of 400 // 20 = 20 steps, evaluated every 6 steps on the first 30 mosaics."""
    from attnjax.cli import main

    out = tmp_path_factory.mktemp("fine")
    code = main(["compare", "--seeds", "2", "--epochs", "2", "--n-train", "400", "--n-test", "60", "--batch-size",
                 "20", "--lr", "0.05", "--momentum", "0.5", "--losses", "soft,hard", "--eval-every", "6",
                 "--eval-mosaics", "30", "--save-attention", "--out", str(out), "--compile-cache", "off"])
    assert code == 0
    return out, json.loads((out / "results.json").read_text())


def test_the_clock_by_hand(fine_run):
    """Points after steps 6, 12, 18 of each 20-step epoch, then its end; flow time = step * 0.05 / (1 - 0.5)."""
    _, doc = fine_run
    fine = doc["results"]["soft"]["history"]["fine"]
    steps = [6, 12, 18, 20, 26, 32, 38, 40]
    assert fine["step"] == steps
    np.testing.assert_allclose(fine["epoch"], np.array(steps) / 20, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fine["flow_time"], [np.array(steps) * 0.1] * 2, rtol=1e-12)
    assert fine["whole_split"] == [False, False, False, True] * 2
    assert (fine["eval_every"], fine["eval_mosaics"]) == (6, 30)
    assert np.asarray(fine["test"]["a_z"]).shape == (2, 8)
    clock = doc["results"]["soft"]["history"]["clock"]
    assert clock["step"] == [20, 40] and clock["epoch"] == [1.0, 2.0]
    assert doc["config"]["paradigms"]["soft"]["eval_every"] == 6


def test_epoch_end_attention_metrics_against_the_saved_attention(fine_run):
    """The last epoch's test a_z, entropy and a_z >= 0.5, recomputed in NumPy from attention.npz."""
    out, doc = fine_run
    maps = read_attention(out)
    mask, truth = maps["mask"], maps["truth"]
    for name in ("soft", "hard"):
        alpha = np.asarray(maps["attention"][name], np.float64)  # [S, N, m]
        a_z = (alpha * truth).sum(-1)
        n = mask.sum(-1)
        plogp = np.where(mask & (alpha > 0), alpha * np.log(np.where(alpha > 0, alpha, 1.0)), 0.0)
        entropy = np.where(n > 1, -plogp.sum(-1) / np.log(np.maximum(n, 2)), 0.0)
        test = doc["results"][name]["history"]["test"]
        # float32 attention summed over 60 mosaics: 1e-6 covers the rounding of the float32 sums
        np.testing.assert_allclose(np.asarray(test["a_z"])[:, -1], a_z.mean(-1), atol=1e-6)
        np.testing.assert_allclose(np.asarray(test["entropy"])[:, -1], entropy.mean(-1), atol=1e-6)
        np.testing.assert_allclose(np.asarray(test["a_z_half"])[:, -1], 100 * (a_z >= 0.5).mean(-1), atol=1e-4)
        # the fine timeline's epoch ends are these whole-split values
        np.testing.assert_array_equal(np.asarray(doc["results"][name]["history"]["fine"]["test"]["a_z"])[:, 7],
                                      np.asarray(test["a_z"])[:, -1])


def test_plot_against_each_clock_and_paired(fine_run, capsys):
    out, _ = fine_run
    for x in ("step", "flow-time"):
        code, printed, err = run_cli(["plot", str(out), "--x", x], capsys)
        assert code == 0 and (out / f"curves-{x}.png").is_file(), err
    code, _, err = run_cli(["plot", str(out), "--paired", "soft,hard", "--metric", "a_z"], capsys)
    assert code == 0 and (out / "paired-soft-hard-a_z.png").is_file(), err
    code, _, err = run_cli(["plot", str(out), "--paired", "soft,hard", "--x", "flow-time"], capsys)
    assert code == 0 and (out / "paired-soft-hard-a_z-flow-time.png").is_file(), err  # the epoch one is kept
    code, _, err = run_cli(["plot", str(out), "--paired", "soft,lvml"], capsys)
    assert code == 2 and "'lvml' is not in this document" in err and "\n" not in err.strip()
    assert err.startswith("attnjax: error: --paired: ")
    code, _, err = run_cli(["plot", str(out), "--metric", "a_z"], capsys)
    assert code == 2 and "--metric applies only with --paired" in err


def test_eval_mosaics_needs_eval_every(tmp_path, capsys, compiles):
    code, _, err = run_cli(["compare", "--eval-mosaics", "10", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--eval-mosaics" in err and "--eval-every" in err and "\n" not in err
    assert compiles == []


def test_adam_has_no_flow_time(tmp_path, capsys):
    out = tmp_path / "adam"
    code, _, err = run_cli(["compare", "--seeds", "1", "--epochs", "1", "--n-train", "100", "--n-test", "50",
                            "--losses", "soft", "--optimizer", "adam", "--out", str(out), "--compile-cache", "off"],
                           capsys)
    assert code == 0, err
    clock = json.loads((out / "results.json").read_text())["results"]["soft"]["history"]["clock"]
    assert clock["flow_time"] is None and "gradient history" in clock["flow_time_note"]
    code, _, err = run_cli(["plot", str(out), "--x", "flow-time"], capsys)
    assert code == 2 and err.startswith("attnjax: error: --x: ") and "flow-time: no flow time" in err
    assert "\n" not in err.strip()


def test_simple_setting_run_carries_the_theory(tmp_path, capsys):
    """Orthogonal data, linear models, SGD with momentum: the document holds the reduced flow's alpha(t).

    At t = 0 the closed form is alpha = 1/m. Along the run SGD's a_z (the attention on the foreground) trails the
    flow by momentum's lag; 0.06 is the budget ``sgd_follows_flow`` justifies for lr 0.01, momentum 0.9."""
    out = tmp_path / "simple"
    code, _, err = run_cli(["compare", "--dataset", "orthogonal", "--classes", "4", "--m", "5", "--n-train", "32",
                            "--batch-size", "4", "--lr", "0.01", "--seeds", "2", "--epochs", "125", "--eval-every", "4",
                            "--losses", "soft,hard,lvml", "--out", str(out), "--compile-cache", "off"], capsys)
    assert code == 0, err
    doc = json.loads((out / "results.json").read_text())
    for name in ("soft", "hard", "lvml"):
        theory = doc["results"][name]["theory"]
        assert theory["flow_time"][0] == 0.0 and theory["alpha"][0] == pytest.approx(1 / 5, abs=1e-12)
        fine = doc["results"][name]["history"]["fine"]
        np.testing.assert_allclose(theory["flow_time"][1:], fine["flow_time"][0], rtol=1e-12)
        sgd = np.asarray(fine["test"]["a_z"]).mean(0)
        assert np.max(np.abs(sgd - np.asarray(theory["alpha"][1:]))) < 0.06
        assert theory["alpha"][-1] > 0.25  # the focus has moved: the comparison is not of two constants


def test_a_resumed_fine_clock_run_equals_the_uninterrupted_one(tmp_path):
    """Killed after its third checkpoint (soft, epoch 3 of 3... then hard's first), resumed: the same results.json
    (the fine timeline included) and history.jsonl lines (their in-epoch points included) as the uninterrupted run."""
    import test_resume_checks as rc

    extra = ["--eval-every", "3", "--eval-mosaics", "40"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    from attnjax.cli import main

    assert main([*rc.RUN, "--out", str(whole), *extra]) == 0
    rc._run_until(resumed, 4, *extra)
    assert main([*rc.RUN, "--out", str(resumed), "--resume", *extra]) == 0
    a, b = (rc._numbers(json.loads((o / "results.json").read_text())) for o in (whole, resumed))
    assert a["results"]["soft"]["history"]["fine"]["step"] == [3, 6, 9, 10, 13, 16, 19, 20, 23, 26, 29, 30]
    assert a == b
    lines = rc._history(whole)
    assert lines == rc._history(resumed)
    first = lines[0]
    assert first["points"]["after_step"] == [3, 6, 9] and np.asarray(first["points"]["test_a_z"]).shape == (2, 3)
    np.testing.assert_array_equal(first["test_a_z"], np.asarray(a["results"]["soft"]["history"]["test"]["a_z"])[:, 0])
    np.testing.assert_array_equal(np.asarray(first["points"]["test_a_z"]),
                                  np.asarray(a["results"]["soft"]["history"]["fine"]["test"]["a_z"])[:, :3])


def test_tensorboard_gets_a_z_and_the_points(tmp_path):
    """The event files hold test_a_z per epoch and the in-epoch points at thousandths of an epoch, equal to the
    results' values (read back by the TFRecord framing, as tests/test_runlog.py does)."""
    from test_runlog import _events

    from attnjax.cli import main

    out = tmp_path / "tb"
    assert main(["compare", "--seeds", "2", "--epochs", "2", "--n-train", "200", "--n-test", "60", "--batch-size",
                 "20", "--losses", "soft", "--eval-every", "4", "--out", str(out), "--tensorboard",
                 str(tmp_path / "events"), "--compile-cache", "off"]) == 0
    events = _events(tmp_path / "events")
    doc = json.loads((out / "results.json").read_text())
    fine = doc["results"]["soft"]["history"]["fine"]
    a_z = np.asarray(fine["test"]["a_z"]).mean(0)
    # 10 steps an epoch: points after steps 4 and 8 (epochs 0.4 and 0.8, then 1.4 and 1.8)
    assert sorted(events["soft/points/test_a_z"]) == [400, 800, 1400, 1800]
    np.testing.assert_allclose([events["soft/points/test_a_z"][k] for k in (400, 800, 1400, 1800)],
                               a_z[[0, 1, 3, 4]], rtol=1e-6)
    np.testing.assert_allclose([events["soft/test_a_z"][e] for e in (1, 2)], a_z[[2, 5]], rtol=1e-6)
