"""The prepared GPU benchmark (``benchmarks/gpu.py``) runs its whole code path on CPU at a tiny size,
so that it is known to work on a GPU without edits: both convolution paths, float32 and TF32,
the CNN and the MLP, and a JSON that names the device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_script_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--tiny", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["device"]["platform"] == "cpu"
    seen = {(r["model"], r["conv"], r["precision"], r["seed_map"]) for r in doc["rows"]}
    for precision in ("float32", "tensorfloat32"):
        assert {("cnn", conv, precision, "vmap") for conv in ("im2col", "lax")} <= seen
        assert {("mlp", None, precision, m) for m in ("vmap", "map")} <= seen
    assert all(r["per_seed_step_ms"] > 0 for r in doc["rows"])
    assert doc["target"]["met"] is False and doc["target"]["best_ms"] is None  # no S = 64 at the tiny size
