"""JAX's persistent compilation cache through the command: a second identical run against the first.

Runs each command twice in fresh processes with one new, empty cache folder
(``--compile-cache DIR``), then once more with the cache off, and reads the compile and
train seconds each paradigm's ``results.json`` records (:class:`attnjax.experiments.SeedRuns`:
tracing, lowering and compiling the init and chunk programs, against the rest). The
ratios compare runs of one invocation on one machine; the CPU model is recorded.

    python benchmarks/compile_cache.py                      # quick start + the CNN, ~6 min on 2 cores
    python benchmarks/compile_cache.py --only quickstart    # just the quick start's `attnjax compare`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model, write_json  # noqa: E402

COMMANDS = {
    # The README's quick start, as it is.
    "quickstart": ["compare"],
    # The paper's CNN on Fashion-MNIST, a short run: compilation is what is measured.
    "cnn": ["compare", "--dataset", "fashion-mnist", "--model", "cnn", "--losses", "soft,hard", "--seeds", "2",
            "--epochs", "2", "--n-train", "512", "--n-test", "256"],
}


def run(args: list[str], cache: str, out: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "attnjax.cli", *args, "--out", str(out), "--compile-cache", cache],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"attnjax {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    results = json.loads((out / "results.json").read_text())["results"]
    return {"wall_seconds": round(wall, 2),
            "compile_seconds": {n: r["compile_seconds"] for n, r in results.items()},
            "train_seconds": {n: r["train_seconds"] for n, r in results.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(COMMANDS), default=None)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "compile_cache.json")
    opts = parser.parse_args()
    import jax

    doc = {"cpu": cpu_model(), "jax": jax.__version__, "commands": {}}
    for name, args in COMMANDS.items():
        if opts.only and name != opts.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            cache = str(tmp / "cache")
            first = run(args, cache, tmp / "first")
            second = run(args, cache, tmp / "second")
            off = run(args, "off", tmp / "off")
        total = lambda r: sum(r["compile_seconds"].values())  # noqa: E731
        entry = {"args": args, "first (empty cache)": first, "second (cached)": second, "cache off": off,
                 "compile ratio second / first": round(total(second) / total(first), 3)}
        doc["commands"][name] = entry
        print(f"{name}: compile {total(first):.2f} s first, {total(second):.2f} s cached, {total(off):.2f} s "
              f"with the cache off (ratio {entry['compile ratio second / first']}); wall {first['wall_seconds']} s "
              f"-> {second['wall_seconds']} s", flush=True)
    write_json(opts.json, doc)
    print(f"wrote {opts.json} ({doc['cpu']})")


if __name__ == "__main__":
    main()
