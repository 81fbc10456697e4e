"""Every script of examples/ runs at its tiny size, so that no example can rot.

Each check is independent of the code it runs: shapes and ranges any correct run has, the
numbers the paper prints for the theory (three decimals), one trace for a grid.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).parents[1] / "examples"


def _run(name: str, **kwargs):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(**kwargs)


def test_every_example_is_tested():
    tested = {"api", "own_modules", "sweep", "fixed_focus", "theory", "own_bags"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} <= tested


def test_the_api_example():
    out = _run("api", tiny=True)
    assert out["accuracy"].shape == (2,) and np.all((0 <= out["accuracy"]) & (out["accuracy"] <= 100))
    assert np.isfinite(np.asarray(out["loss"])).all()


def test_your_own_modules_example():
    out = _run("own_modules", tiny=True)
    assert out["accuracy"].shape == (4,) and np.all((0 <= out["accuracy"]) & (out["accuracy"] <= 100))


def test_the_sweep_example_is_one_program():
    out = _run("sweep", tiny=True)
    # the whole grid in one program per phase: the hybrid's soft phase is the soft paradigm's own program
    # (attnjax.experiments.first_phase), its second phase the hybrid's
    assert out["focus_accuracy"].shape == (5, 2) and out["traces"] == 2


def test_the_fixed_focus_example():
    out = _run("fixed_focus", tiny=True)
    assert set(out) == {"soft", "hard", "lvml"}
    for final in out.values():  # [alphas, (L, L(alpha) - L(alpha + 0.01))]; an untrained L is near log 3
        assert final.shape == (5, 2) and np.all(np.abs(final[:, 0] - np.log(3)) < 0.5)


def test_the_theory_example_prints_the_paper_s_numbers():
    out = _run("theory")
    paper = {"soft": (0.175, 0.961), "hard": (0.152, 0.997)}
    for kind, values in paper.items():
        np.testing.assert_allclose(out[kind], values, atol=5e-4)  # the paper prints three decimals


def test_your_own_bags_example():
    """The attention read back is an attention over each bag's real instances (rows sum to 1, padding 0)."""
    out = _run("own_bags", tiny=True)
    assert out["code"] == 0
    test = out["written"]["split"] == "test"
    mask = out["written"]["mask"][test]
    for attention in out["maps"]["attention"].values():  # [S, N, m]
        np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
        assert np.all(attention[:, ~mask] == 0)
    assert set(out["focus"]) == {"soft", "hard"}
