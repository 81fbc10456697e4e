"""Your own bags of precomputed features: write an .npz, train on it, read the attention maps back.

    python examples/own_bags.py          # 400 bags of 3-8 feature vectors, 8 seeds, 40 epochs
    python examples/own_bags.py --tiny   # what the test suite runs

The same file trains from the command line: ``attnjax compare --dataset bags --data-file bags.npz``
(docs/bags.md has the file format and every error).
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import attnjax
from attnjax.cli import main as attnjax_main


def write_bags(path: Path, n: int, seed: int = 0) -> dict:
    """``n`` bags of 3 to 8 feature vectors (D = 32, K = 3 classes); one instance a bag carries the label."""
    rng = np.random.default_rng(seed)
    m, d, k = 8, 32, 3
    features = rng.normal(size=(n, m, d)).astype(np.float32)  # e.g. from a pretrained encoder
    labels = rng.integers(0, k, n)
    sizes = rng.integers(3, m + 1, n)
    mask = np.arange(m)[None, :] < sizes[:, None]
    truth = np.zeros((n, m), bool)
    truth[np.arange(n), rng.integers(0, 3, n)] = True  # the instance that carries the label
    features[truth, :k] += 2 * np.eye(k, dtype=np.float32)[labels]
    split = np.where(np.arange(n) < int(0.8 * n), "train", "test")
    np.savez(path, segments=features, labels=labels, mask=mask, truth=truth, split=split)
    return {"labels": labels, "mask": mask, "truth": truth, "split": split}


def main(tiny: bool = False) -> dict:
    n, seeds, epochs = (40, 2, 2) if tiny else (400, 8, 40)
    with tempfile.TemporaryDirectory() as folder:
        path, out = Path(folder) / "bags.npz", Path(folder) / "run"
        written = write_bags(path, n)
        code = attnjax_main(["compare", "--dataset", "bags", "--data-file", str(path), "--losses", "soft,hard",
                             "--seeds", str(seeds), "--epochs", str(epochs), "--batch-size", "8",
                             "--save-attention", "--out", str(out)])
        maps = attnjax.read_attention(out)
    test = written["split"] == "test"
    focus = {name: 100 * (a.argmax(-1) == written["truth"][test].argmax(-1)).mean(-1)  # [seeds]
             for name, a in maps["attention"].items()}
    for name, f in focus.items():
        print(f"{name}: the most-attended instance carries the label in {f.mean():.1f}% of test bags")
    return {"code": code, "maps": maps, "written": written, "focus": focus}


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv)
