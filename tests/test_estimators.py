"""Estimator diagnostics on a tiny problem: structure, closed-form limits, and the plot."""

import numpy as np

from attnjax.estimators import ESTIMATORS, estimator_diagnostics, plot_estimators


def test_diagnostics_tiny(tmp_path):
    doc = estimator_diagnostics(ms=(3,), num_draws=256, batch=4, dim=4, num_classes=3, hidden=4, repeats=2)
    assert doc["ms"] == [3] and set(doc["estimators"]) == set(ESTIMATORS)
    for row in doc["estimators"].values():
        assert all(len(v) == 1 and np.isfinite(v).all() for v in row.values())
    # Without replacement with k >= m every segment is taken with weight alpha: the exact gradient.
    exact_row = doc["estimators"]["reinforce k=4 w/o repl."]
    assert exact_row["variance"][0] < 1e-10 and exact_row["bias"][0] < 1e-5
    # REINFORCE is unbiased: its bias is within a few Monte Carlo floors.
    plain = doc["estimators"]["reinforce"]
    assert plain["bias"][0] < 5 * plain["bias_noise"][0] and plain["variance"][0] > 0
    plot_estimators(doc, tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
