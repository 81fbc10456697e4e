"""Without the fine clock's options every number is what it was before it existed, bit for bit.

``tests/bitwise/run.py`` checks out the commit before the fine clock (37c0526) with ``git worktree``, runs
compare, signature under ``--protocol paper`` and fixed-focus there and in the work tree, on the same machine,
and compares every value of the older result documents with the new ones (new keys, such as the attention
metrics and the clock, may be added; timings, memory and versions are left out). Skipped outside a git
checkout that holds that commit (a source archive).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = "37c0526"


def _has_base() -> bool:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{BASE}^{{commit}}"],
                              capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _has_base(), reason=f"not a git checkout holding {BASE}")
def test_results_are_bit_for_bit_those_of_the_commit_before_the_fine_clock():
    sys.path.insert(0, str(ROOT / "tests" / "bitwise"))
    try:
        from run import compare_commits
    finally:
        sys.path.pop(0)
    lines: list[str] = []
    assert compare_commits(BASE, log=lines.append), "\n".join(lines)
    assert any(line.startswith("compare/results.json: IDENTICAL") for line in lines), lines
    assert any(line.startswith("signature-paper/signature.json: IDENTICAL") for line in lines), lines
    assert any(line.startswith("fixed-focus/fixed_focus.json: IDENTICAL") for line in lines), lines
