"""The verify table, its JSON records and the CLI table (the end-to-end run of
``run_verify`` is in test_global_state.py)."""

import json
import math

import pytest

import analytic
from analytic.verify import CHECKS, Check, _record, _run, Entry
from analytic.checks import Measured
from attnjax.errors import NonFiniteResultError
from attnjax.files import write_json_atomic


def test_table_is_well_formed():
    names = [e.name for e in CHECKS]
    assert len(names) == len(set(names))
    assert all(0.0 < e.tolerance < 1.0 and callable(e.function) for e in CHECKS)
    # The checks that only compared library code with library code are tests now.
    assert not any(n.startswith("hybrid_optimum") for n in names)


def test_runner_applies_tolerance_and_side_conditions():
    table = [Entry("within", lambda quick: Measured(1e-9, "ok"), 1e-8),
             Entry("beyond", lambda quick: Measured(1e-7, "too big"), 1e-8),
             Entry("side", lambda quick: Measured(0.0, "side condition failed", ok=False), 1e-8),
             Entry("nan", lambda quick: Measured(math.nan, "solve failed"), 1e-8),
             Entry("slow", lambda quick: Measured(0.0, "skipped when quick"), 1e-8, True)]
    got = _run(table, quick=True, progress=None)
    assert [(c.name, c.passed) for c in got] == [
        ("within", True), ("beyond", False), ("side", False), ("nan", False)]


def test_non_finite_errors_are_written_explicitly(tmp_path):
    checks = [Check("fine", 1e-12, 1e-10, True, ""), Check("broken", math.nan, 1e-3, False, ""),
              Check("blown", math.inf, 1e-3, False, "")]
    records = [_record(c) for c in checks]
    assert [(r["error"], r["finite"]) for r in records] == [
        (1e-12, True), ("nan", False), ("inf", False)]
    path = write_json_atomic(tmp_path / "verify.json", {"checks": records})
    assert json.loads(path.read_text())["checks"] == records
    with pytest.raises(NonFiniteResultError):  # a raw NaN is refused, never nulled
        write_json_atomic(tmp_path / "other.json", {"error": math.nan})


def test_format_table():
    checks = [Check("a_check", 1.5e-12, 1e-10, True, "fine"),
              Check("another_one", float("nan"), 1e-3, False, "broken")]
    table = analytic.format_table(checks)
    lines = table.splitlines()
    assert lines[2].startswith("PASS") and "a_check" in lines[2] and "1.50e-12" in lines[2]
    assert lines[3].startswith("FAIL") and "nan" in lines[3]
    assert lines[-1] == "1 of 2 checks passed, 1 FAILED"
    # The JSON records of run_verify's result format the same way.
    assert analytic.format_table([_record(c) for c in checks]) == table
