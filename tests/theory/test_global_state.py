"""Library code leaves global state alone: after calls into ``analytic`` the caller's
``jax_enable_x64``, matplotlib backend and rcParams are what they were, and pyplot is not
used. Also the end-to-end run of ``run_verify`` (quick), whose checks must all pass."""

import json
import sys

import jax
import matplotlib
import numpy as np
import pytest

import analytic


@pytest.fixture
def x64():
    """Overrides conftest's autouse fixture: these tests run with JAX's global default
    (float32), so that a global ``jax_enable_x64`` update would show."""
    yield


@pytest.fixture
def foreign_backend():
    """A non-Agg, non-interactive backend, as a caller might have chosen."""
    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    yield
    matplotlib.use(before)


def _state():
    return {"x64": jax.config.jax_enable_x64, "backend": matplotlib.get_backend(),
            "rc": dict(matplotlib.rcParams)}


def test_solvers_leave_x64_alone():
    before = _state()
    assert before["x64"] is False
    mu, nu = analytic.solve_flow("soft", [500.0, 3000.0], m=20, C=20)
    assert mu.dtype == np.float32  # the caller's precision, not float64
    analytic.reduced_flow("hard", 1.0, 0.5, m=20, C=20)
    assert _state() == before


def test_run_verify_leaves_global_state(tmp_path, foreign_backend):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    before = _state()
    assert before["x64"] is False and before["backend"] == "pdf"
    seen = []
    result = analytic.run_verify(tmp_path, progress=seen.append, quick=True)
    assert _state() == before
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules
    # The run itself: every check passes, the files are complete.
    failed = [c for c in result["checks"] if not c["passed"]]
    assert not failed, failed
    assert result["passed"] and result["num_failed"] == 0 and seen
    assert [c["name"] for c in result["checks"]] == [
        e.name for e in analytic.verify.CHECKS if not e.full_only]
    assert all(c["finite"] for c in result["checks"])
    on_disk = json.loads((tmp_path / "verify.json").read_text())
    assert on_disk["checks"] == result["checks"]
    assert 0.0 < on_disk["hybrid"]["switch_time"] < 3000.0
    assert len(result["plots"]) == 3
    for path in result["plots"]:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "attention_vs_time.png", "fixed_focus.png", "phase_portrait.png", "verify.json"]
