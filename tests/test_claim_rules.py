"""docs/claims.py's verdict rule with unequal seed spreads.

The rule: a claimed order counts only if the two means are further apart than the two seed
standard deviations (ddof 1) added. tests/test_claims.py checks it on two samples of equal
spread, where "the sum of the stds" cannot be told from twice either one, from twice the
larger, or from the root of the sum of squares. Here the spreads are 1 and 4, and each gap is
typed so that exactly one reading of the rule gives the verdict asserted:

======================  =====  ======================================
reading of the rule      bound  gap 4.5 / gap 5.5
======================  =====  ======================================
s_a + s_b (the rule)     5      within / apart
max(s_a, s_b)            4      apart / apart
sqrt(s_a^2 + s_b^2)      4.12   apart / apart
s_a + s_b with ddof 0    4.08   apart / apart
2 max(s_a, s_b)          8      within / within
2 s_a or 2 s_b           2, 8   apart, within / apart, within
======================  =====  ======================================
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("attnjax_docs_claims_rules", ROOT / "docs" / "claims.py")
claims = importlib.util.module_from_spec(spec)
spec.loader.exec_module(claims)

WITHIN = "not reproduced (the difference is within the seed spread)"
NARROW = np.array([9.0, 10.0, 11.0])  # mean 10, std (ddof 1) exactly 1


def _wide(mean):
    """Three seeds of mean ``mean`` and std (ddof 1) exactly 4."""
    return np.array([mean - 4.0, mean, mean + 4.0])


def test_the_spreads_are_as_typed():
    assert NARROW.std(ddof=1) == 1.0 and _wide(0.0).std(ddof=1) == 4.0


@pytest.mark.parametrize("gap,verdict", [(4.5, WITHIN), (5.5, "reproduced")])
def test_a_gap_counts_only_beyond_the_sum_of_two_unequal_spreads(gap, verdict):
    wide = _wide(10.0 + gap)
    # Either sample first, and either sample the larger: the rule is symmetric.
    assert claims._verdict(True, wide, NARROW) == verdict
    assert claims._verdict(True, NARROW, wide) == verdict
    wide_below = _wide(10.0 - gap)
    assert claims._verdict(True, NARROW, wide_below) == verdict
    assert claims._verdict(True, wide_below, NARROW) == verdict
    assert bool(claims._apart(wide, NARROW)) is (verdict == "reproduced")
    # A claim that does not hold is not reproduced, whatever the gap.
    assert claims._verdict(False, wide, NARROW) == "not reproduced"


def test_the_printed_spread_is_the_seed_std_with_ddof_1():
    """The number beside each verdict: mean ± std (ddof 1), one decimal, of unequal samples."""
    assert claims._ms(NARROW) == "10.0 ± 1.0"
    assert claims._ms(_wide(15.5)) == "15.5 ± 4.0"
    assert claims._ms([1.0, 2.0]) == "1.5 ± 0.7"  # ddof 0 would print 0.5
