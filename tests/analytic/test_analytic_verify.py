"""The verify entry point: checks, JSON, plots and the CLI table."""

import json

import jax
import pytest

import analytic
from analytic.verify import Check, _write_json_atomic


@pytest.fixture
def keep_x64_setting():
    # run_verify switches x64 on globally (it is meant for the CLI); restore afterwards.
    before = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", before)


def test_run_verify_quick(tmp_path, keep_x64_setting):
    seen = []
    result = analytic.run_verify(tmp_path, progress=seen.append, quick=True)
    failed = [c for c in result["checks"] if not c["passed"]]
    assert not failed, failed
    assert result["passed"] and result["num_failed"] == 0 and seen
    names = {c["name"] for c in result["checks"]}
    for expected in ["flow_vs_authors[hard]", "time_scaling[lvml]", "start_identities",
                     "wright_omega", "invariant_drift[soft,m=20,C=20]", "fixed_focus[lvml]",
                     "gd_order[soft]", "paper_alpha_values", "paper_soft_leads_then_hard",
                     "hybrid_optimum_vs_grid", "hybrid_gradient_vs_fd"]:
        assert expected in names
    on_disk = json.loads((tmp_path / "verify.json").read_text())
    assert on_disk["checks"] == result["checks"]
    assert len(result["plots"]) == 3
    for path in result["plots"]:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".verify-*"))  # no temporary files left behind


def test_format_table():
    checks = [Check("a_check", 1.5e-12, 1e-10, True, "fine"),
              Check("another_one", float("nan"), 1e-3, False, "broken")]
    table = analytic.format_table(checks)
    lines = table.splitlines()
    assert lines[2].startswith("PASS") and "a_check" in lines[2] and "1.50e-12" in lines[2]
    assert lines[3].startswith("FAIL") and "nan" in lines[3]
    assert lines[-1] == "1 of 2 checks passed, 1 FAILED"
    # The dicts of run_verify's result format the same way.
    assert analytic.format_table([c._asdict() for c in checks]) == table


def test_json_write_is_atomic(tmp_path):
    target = tmp_path / "verify.json"
    target.write_text("old")
    with pytest.raises(ValueError):
        _write_json_atomic(target, {"bad": float("nan")})  # strict JSON refuses NaN
    assert target.read_text() == "old" and not list(tmp_path.glob(".verify-*"))
    _write_json_atomic(target, {"ok": 1})
    assert json.loads(target.read_text()) == {"ok": 1}
