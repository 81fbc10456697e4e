"""docs/claims.py: the claim table's rules, on hand-made numbers and on a committed run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("attnjax_docs_claims", ROOT / "docs" / "claims.py")
claims = importlib.util.module_from_spec(spec)
spec.loader.exec_module(claims)

VERDICTS = ("reproduced", "not reproduced", "not reproduced (the difference is within the seed spread)",
            "reproduced at 30 epochs", "reproduced at 100 epochs", "reproduced late, not early")


def test_a_difference_counts_only_beyond_the_seed_spread():
    a, b = np.array([10.0, 12.0]), np.array([5.0, 7.0])  # means 11 and 6, stds 1.41 each
    assert claims._verdict(True, a, b) == "reproduced"
    assert claims._verdict(False, a, b) == "not reproduced"
    near = np.array([9.0, 11.0])  # mean 10: 1 apart, less than 2.83
    assert claims._verdict(True, a, near).startswith("not reproduced (the difference is within")


def test_the_crossing_is_where_hard_attention_stays_ahead():
    soft = np.array([[5.0], [6.0], [7.0], [8.0], [9.0]])
    hard = np.array([[1.0], [7.0], [6.0], [9.0], [10.0]])  # ahead at epoch 2, behind at 3, ahead from 4 on
    assert claims._crossing(hard, soft) == 4
    assert claims._crossing(soft, hard) is None


def test_the_table_reads_a_committed_run():
    rows = claims.claims(ROOT / "docs" / "results" / "fashion-signature")
    assert len(rows) == 11 and all(r["verdict"] in VERDICTS for r in rows)
    assert claims.markdown(rows).count("\n") == 12
