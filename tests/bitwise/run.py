"""Run a fixed set of attnjax commands on a base commit and on the work tree, and diff their results.

    python tests/bitwise/run.py --base 37c0526            # the quick set (compare, signature, fixed-focus)
    python tests/bitwise/run.py --base 37c0526 --set full # every kind of result

The base commit is checked out with ``git worktree`` into a temporary folder, and each command runs
as ``python -m attnjax.cli ...`` with ``PYTHONPATH`` set to one tree or the other (same Python, same
packages, same machine). For every result document the base run wrote, every value it holds must be
equal, to the bit, in the work tree's document; run-to-run measurements (wall-clock seconds, memory,
package versions, process ids) are left out. Keys only the work tree writes are listed as added: new
metrics may be added, but no number the base recorded may change.

Exit status 0 when every document matches, 1 otherwise; the report goes to standard output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: keys whose values are measurements of one run, not results
VOLATILE = {"seconds", "peak_memory", "versions", "pid", "host", "compile_seconds", "train_seconds", "elapsed", "timing", "timings"}
TINY = ["--seeds", "2", "--n-train", "200", "--n-test", "100"]
SETS = {
    "quick": {
        "compare": ["compare", *TINY, "--epochs", "2", "--losses", "soft,hard,lvml,hybrid"],
        "signature-paper": ["signature", "--protocol", "paper", "--seeds", "2", "--n-train", "512", "--n-test", "100",
                            "--epochs", "2", "--hybrid-epochs", "1,1"],
        "fixed-focus": ["fixed-focus", *TINY, "--epochs", "2"],
    },
}
SETS["full"] = {
    **SETS["quick"],
    "compare-all-seven": ["compare", *TINY, "--epochs", "2",
                          "--losses", "soft,hard,lvml,hybrid,hard-reinforce,hard-gumbel,lvml-em"],
    "fixed-focus-orthogonal": ["fixed-focus", "--dataset", "orthogonal", "--classes", "5", "--m", "5", "--seeds", "2",
                               "--epochs", "2"],
    "sweep": ["sweep", *TINY, "--epochs", "2", "--lr", "0.01,0.05"],
    "text-embed": ["compare", "--dataset", "text", "--model", "embed", "--seeds", "2", "--epochs", "2"],
    "text-transformer": ["compare", "--dataset", "text", "--model", "transformer", "--seeds", "2", "--epochs", "2"],
}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _diff(base, new, where=""):
    """(changed, added): paths where a base value differs or is missing, and paths only ``new`` has."""
    changed, added = [], []
    if isinstance(base, dict) and isinstance(new, dict):
        for k, v in base.items():
            if k not in new:
                changed.append(f"{where}.{k} (missing)")
            else:
                c, a = _diff(v, new[k], f"{where}.{k}")
                changed += c
                added += a
        added += [f"{where}.{k}" for k in new if k not in base]
    elif isinstance(base, list) and isinstance(new, list) and len(base) == len(new):
        for i, (a, b) in enumerate(zip(base, new)):
            c, d = _diff(a, b, f"{where}[{i}]")
            changed += c
            added += d
    elif base != new and not (base != base and new != new):  # NaN equals NaN here
        changed.append(f"{where}: {str(base)[:60]} -> {str(new)[:60]}")
    return changed, added


def _run(tree: Path, argv: list[str], out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(out.parent / "xdg")}
    proc = subprocess.run([sys.executable, "-m", "attnjax.cli", *argv, "--out", str(out), "--compile-cache", "off"],
                          cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")


def compare_commits(base: str, names=None, *, set_name: str = "quick", log=print) -> bool:
    """Run the set on ``base`` and on the work tree; report; True when no base value changed."""
    commands = SETS[set_name]
    names = list(commands) if names is None else names
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp / "base"), base],
                       check=True, capture_output=True)
        ok = True
        try:
            for name in names:
                outs = {side: tmp / side / "runs" / name for side in ("base-out", "new-out")}
                _run(tmp / "base", commands[name], outs["base-out"])
                _run(ROOT, commands[name], outs["new-out"])
                docs = sorted(p.name for p in outs["base-out"].glob("*.json"))
                if not docs:
                    raise RuntimeError(f"{name}: the base run wrote no JSON document")
                for doc in docs:
                    a = _strip(json.loads((outs["base-out"] / doc).read_text()))
                    b = _strip(json.loads((outs["new-out"] / doc).read_text()))
                    changed, added = _diff(a, b)
                    ok &= not changed
                    log(f"{name}/{doc}: {'IDENTICAL' if not changed else 'CHANGED'}"
                        + (f"; {len(added)} keys added ({', '.join(added[:6])}{' ...' if len(added) > 6 else ''})"
                           if added else ""))
                    for line in changed[:20]:
                        log(f"    changed {line}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "base")],
                           capture_output=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. 37c0526)")
    parser.add_argument("--set", default="quick", choices=sorted(SETS))
    parser.add_argument("--only", help="comma-separated command names of the set")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else None
    return 0 if compare_commits(args.base, names, set_name=args.set) else 1


if __name__ == "__main__":
    sys.exit(main())
