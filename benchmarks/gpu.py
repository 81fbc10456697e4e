#!/usr/bin/env python
"""The prepared GPU run of issue 19: the CNN and the MLP per seed-step, each convolution path, float32 and TF32.

One command, run once on a machine with a GPU (with ``PYTHONPATH=.``, no network, no data
beyond what is here: Fashion-MNIST is read from ``--data-dir`` if given, else random 28x28
images stand in)::

    python benchmarks/gpu.py --json benchmarks/results/gpu.json [--data-dir fashion]
    python benchmarks/gpu.py --tiny            # the same code path in seconds (tests/test_gpu_script.py, on CPU)

For float32 and TF32 (``precision="tensorfloat32"``), it times one epoch of the host loop's
own program (``benchmarks/seed_map.py``'s ``race``: every seed map compiled, then
interleaved rounds) for the paper's CNN pair at its batch of 256 mosaics (m = 5, 28x28) at
S = 1, 16 and 64 seeds, with ``im2col`` and with ``lax.conv``, and for the MLP up to 1024
seeds. The JSON names the device (``jax.devices()[0].device_kind``) and says whether the
target, the CNN at S = 64 in at most 0.5 ms per seed-step, was met.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seed_map  # noqa: E402
from measure import cpu_model, log, write_json  # noqa: E402

#: The issue's grid: the CNN at the paper's batch; the MLP up to 1024 seeds.
PLAN = {
    "cnn": dataclasses.replace(seed_map.FULL["cnn"], n_train=512, n_test=256, batch_size=256,
                               runs=(("im2col", (1, 16, 64)), ("lax", (1, 16, 64))), seed_maps=("vmap", "map")),
    "mlp": dataclasses.replace(seed_map.FULL["mlp"], n_train=1024, n_test=256, batch_size=256,
                               runs=(("", (1, 64, 256, 1024)),), seed_maps=("vmap", "map")),
}
#: The same loops at sizes a CPU runs in seconds.
TINY = {
    "cnn": dataclasses.replace(PLAN["cnn"], m=2, n_train=4, n_test=2, batch_size=2,
                               runs=(("im2col", (2,)), ("lax", (2,))), seed_maps=("vmap",)),
    "mlp": dataclasses.replace(PLAN["mlp"], m=2, n_train=8, n_test=4, batch_size=4, runs=(("", (2,)),)),
}
PRECISIONS = ("float32", "tensorfloat32")
TARGET_MS = 0.5  # the CNN at S = 64, per seed-step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny sizes: the code path only")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data-dir", type=Path, default=None, help="a folder with Fashion-MNIST's four .gz files")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.data_dir is not None:  # seed_map.load reads Debian's folder; point it at the one carried along
        import attnjax.data.sources as sources

        sources.FASHION_MNIST_DIR = str(args.data_dir)
    import jax

    plan = TINY if args.tiny else PLAN
    device = jax.devices()[0]
    rows = []
    for precision in PRECISIONS:
        for name, problem in plan.items():
            for conv, seed_counts in problem.runs:
                for seeds in seed_counts:
                    log(f"{precision} {name} {conv or '-'} S={seeds}")
                    rows += seed_map.race(problem, seeds, conv, rounds=1 if args.tiny else args.rounds,
                                          precision=precision)
    target = [r for r in rows if r["model"] == "cnn" and r["seeds"] == 64]
    doc = {"command": "python benchmarks/gpu.py" + (" --tiny" if args.tiny else ""),
           "device": {"platform": device.platform, "kind": getattr(device, "device_kind", ""), "cpu": cpu_model(),
                      "jax": jax.__version__},
           "rows": rows,
           "target": {"cnn_S64_ms_per_seed_step_at_most": TARGET_MS,
                      "best_ms": min((r["per_seed_step_ms"] for r in target), default=None),
                      "met": bool(target) and min(r["per_seed_step_ms"] for r in target) <= TARGET_MS}}
    print(seed_map.table(rows))
    if args.json is not None:
        write_json(args.json, doc)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
