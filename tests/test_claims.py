"""docs/claims.py: the verdict rule of docs/results.md, on hand-made numbers.

The rule: the paired difference a - b over seeds, its two-sided 95% Student-t interval;
reproduced if it excludes 0 in the claimed direction, contradicted if it excludes 0 the
other way, unresolved otherwise (and with fewer than 2 seeds). The t quantiles below are
typed from a printed t table, not computed by scipy: t_{0.975, 3} = 3.182446,
t_{0.975, 1} = 12.706205.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("attnjax_docs_claims", ROOT / "docs" / "claims.py")
claims = importlib.util.module_from_spec(spec)
spec.loader.exec_module(claims)

# Four seeds whose levels differ a lot (1 to 13) but whose differences are steady: an unpaired
# rule (two means 6 ± 5.2 apart by 0.15) could not see what the paired one does.
LEVELS = np.array([1.0, 5.0, 9.0, 13.0])
STEADY = np.array([0.1, 0.2, 0.1, 0.2])  # mean 0.15, sd 0.0577350, half-width 3.182446 * sd / 2


def test_steady_paired_differences_are_reproduced_where_the_seeds_spread_widely():
    out = claims.judge(LEVELS + STEADY, LEVELS, +1)
    half = 3.182446 * np.std(STEADY, ddof=1) / 2.0
    assert out["verdict"] == "reproduced"
    assert out["mean"] == pytest.approx(0.15, abs=1e-12)
    assert out["low"] == pytest.approx(0.15 - half, rel=1e-6) and out["high"] == pytest.approx(0.15 + half, rel=1e-6)
    assert (out["seeds"], out["agree"]) == (4, 4)


def test_the_other_direction_is_contradicted():
    out = claims.judge(LEVELS + STEADY, LEVELS, -1)
    assert out["verdict"] == "contradicted" and out["agree"] == 0


def test_an_interval_across_zero_is_unresolved():
    # differences 1, -1, 2, -1.5: mean 0.125, the interval spans 0 in either direction
    b = LEVELS - np.array([1.0, -1.0, 2.0, -1.5])
    assert claims.judge(LEVELS, b, +1)["verdict"] == "unresolved"
    assert claims.judge(LEVELS, b, -1)["verdict"] == "unresolved"
    assert claims.judge(LEVELS, b, +1)["agree"] == 2


def test_two_seeds_need_a_large_steady_effect_and_one_seed_is_never_enough():
    # differences 1.0 and 1.2: mean 1.1, sd 0.141421, half-width 12.706205 * 0.1 = 1.2706 > 1.1
    assert claims.judge(np.array([1.0, 1.2]), np.zeros(2), +1)["verdict"] == "unresolved"
    # differences 1.0 and 1.01: half-width 12.706205 * 0.005 = 0.0635 < 1.005
    assert claims.judge(np.array([1.0, 1.01]), np.zeros(2), +1)["verdict"] == "reproduced"
    assert claims.judge(np.array([5.0]), np.array([1.0]), +1)["verdict"] == "unresolved"


def test_the_hybrid_needs_both_and_falls_with_either():
    up, down = claims.judge(LEVELS + STEADY, LEVELS, +1), claims.judge(LEVELS - STEADY, LEVELS, +1)
    across = claims.judge(LEVELS, LEVELS - np.array([1.0, -1.0, 2.0, -1.5]), +1)
    assert claims.judge_all([up, up]) == "reproduced"
    assert claims.judge_all([up, across]) == "unresolved"
    assert claims.judge_all([up, down]) == "contradicted"


def test_between_needs_opposite_sides():
    up, down = claims.judge(LEVELS + STEADY, LEVELS, +1), claims.judge(LEVELS - STEADY, LEVELS, +1)
    across = claims.judge(LEVELS, LEVELS - np.array([1.0, -1.0, 2.0, -1.5]), +1)
    assert claims.judge_between(up, down) == "reproduced"
    assert claims.judge_between(up, up) == "contradicted" and claims.judge_between(down, down) == "contradicted"
    assert claims.judge_between(up, across) == "unresolved"


def test_the_windows_are_fractions_of_the_run():
    """A hand-made history of 2 seeds and 100 steps: points every 10 steps, epoch ends at 50 and 100."""
    steps = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    a = np.array([np.linspace(0.1, 1.0, 10), np.linspace(0.2, 0.65, 10)])
    history = {"clock": {"step": [50, 100]}, "fine": {"step": steps, "test": {"a_z": a.tolist()}},
               "test": {"a_z": [[0.5, 0.99], [0.4, 0.66]]}}
    stats = claims.window_stats(history)
    # early: step <= 10 (one point); second-half gain: from step 50 (index 4) to the last point
    np.testing.assert_allclose(stats["early"], [0.1, 0.2])
    np.testing.assert_allclose(stats["gain"], [1.0 - 0.5, 0.65 - 0.4])
    np.testing.assert_allclose(stats["final"], [0.99, 0.66])  # the epoch end, not the fine point
    assert stats["early_points"] == 1 and stats["steps"] == 100


def test_the_table_reads_the_committed_runs():
    rows = claims.claims()
    verdicts = {"reproduced", "contradicted", "unresolved", "not run", "not measurable"}
    assert rows and all(r["verdict"] in verdicts for r in rows)
    text = claims.markdown(rows)
    assert text.count("\n| ") == len(rows)  # one table line per row after the header


def test_the_tables_in_the_docs_are_what_claims_py_prints(capsys):
    """docs/results.md and README.md carry the table between markers; a stale copy fails here."""
    assert claims.main(["--check"]) == 0, capsys.readouterr().err


def test_a_stale_copy_is_found(tmp_path):
    text = f"intro\n{claims.BEGIN}\nold table\n{claims.END}\nrest\n"
    assert claims._spliced(text, "new") == f"intro\n{claims.BEGIN}\nnew\n{claims.END}\nrest\n"
    assert claims._spliced("no markers", "new") is None
