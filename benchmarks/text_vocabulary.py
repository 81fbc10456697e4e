"""Text training's time and memory against the vocabulary size: token ids against one-hot rows.

A synthetic task with an exact vocabulary: 2,000 posts (1,600 train / 200 val / 200 test) of
20-40 tokens, 3 classes, one trigger token of the post's class among filler tokens; the
training posts use every filler token, so the vocabulary is ``<pad>``, ``<unk>``, 9 triggers
and the filler. Each size runs soft attention, 2 seeds, one epoch (batch 64, the attnjax
protocol), compile included, in a fresh process: wall seconds and the process's peak resident
memory (``ru_maxrss``).

With ``--onehot-tree DIR`` (a checkout of commit 623b6d6, the last whose text segments were
one-hot rows of the vocabulary), the same runs are measured with that code in the same
invocation, so the two paths are compared on one machine; it refuses vocabularies over 20,000.

    git worktree add /tmp/onehot 623b6d6
    python benchmarks/text_vocabulary.py --onehot-tree /tmp/onehot     # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1011, 5011, 18046, 28041)
#: The one-hot path's cap (attnjax.data.text before the encoder stage).
ONEHOT_CAP = 20000

CHILD = r"""
import json, resource, sys, time
import numpy as np

start = time.perf_counter()
from attnjax.data.text import Post, build_text_data, text_dataset
from attnjax.experiments import compare

vocab, seed = int(sys.argv[1]), 0
rng = np.random.default_rng(seed)
k, triggers = 3, 3
filler = vocab - 2 - k * triggers
n_train, n_val, n_test = 1600, 200, 200
lengths = rng.integers(20, 41, n_train + n_val + n_test)
slots = int((lengths[:n_train] - 1).sum())  # a post: n - 1 filler tokens and its trigger
assert slots >= filler, "too few training tokens to use every filler token"
cycle = np.concatenate([rng.permutation(filler), rng.integers(0, filler, slots - filler)])
posts, used = [], 0
for i, n in enumerate(lengths):
    label = i % k
    if i < n_train:
        words = cycle[used:used + n - 1]
        used += n - 1
    else:
        words = rng.integers(0, filler, n - 1)
    tokens = [f"w{w}" for w in words]
    pos = int(rng.integers(0, n))
    tokens.insert(pos, f"c{label}t{rng.integers(triggers)}")
    rationale = np.zeros(n, np.int32)
    rationale[pos] = 1
    posts.append(Post(f"p{i}", tuple(tokens), label, rationale))
splits = [posts[:n_train], posts[n_train:n_train + n_val], posts[n_train + n_val:]]
text = build_text_data(splits, ["a", "b", "c"], settings={"source": "benchmark"})
data, info = text_dataset(text)
runs = compare(data, info, losses=["soft"], seeds=2, epochs=1, learning_rate=0.01)
wall = time.perf_counter() - start
print(json.dumps({"vocabulary": len(text.vocabulary), "seconds": round(wall, 2),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "pool_bytes": int(np.asarray(data.pool).nbytes),
                  "test_accuracy": float(np.asarray(runs["soft"].history.test.accuracy)[:, -1, 2].mean())}))
"""


def measure(tree: Path, vocab: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", CHILD, str(vocab)], capture_output=True, text=True, env=env,
                          cwd="/")
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onehot-tree", type=Path, default=None,
                        help="a checkout of commit 623b6d6 (one-hot text segments) to measure alongside")
    parser.add_argument("--sizes", type=lambda t: [int(x) for x in t.split(",")], default=list(SIZES))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "text_vocabulary.json")
    opts = parser.parse_args()
    import jax

    doc = {"cpu": cpu_model(), "jax": jax.__version__, "task": "2,000 posts (1,600 train) of 20-40 tokens, "
           "soft attention, 2 seeds, one epoch, batch 64, compile included", "rows": []}
    for vocab in opts.sizes:
        row = {"vocabulary": vocab, "token_ids": measure(ROOT, vocab)}
        if row["token_ids"].get("vocabulary", vocab) != vocab:
            raise SystemExit(f"built a vocabulary of {row['token_ids']['vocabulary']}, not {vocab}")
        if opts.onehot_tree is not None:
            row["one_hot"] = measure(opts.onehot_tree, vocab) if vocab <= ONEHOT_CAP else {
                "error": f"refused: over the one-hot path's cap of {ONEHOT_CAP:,} tokens"}
        doc["rows"].append(row)
        print(json.dumps(row), file=sys.stderr)
    write_json(opts.json, doc)
    print("| vocabulary | token ids: time | peak memory | one-hot: time | peak memory |")
    print("|---|---|---|---|---|")
    for row in doc["rows"]:
        ids, hot = row["token_ids"], row.get("one_hot", {})

        def cells(r):
            if not r:
                return "", ""
            if "error" in r:
                return r["error"], ""
            return f"{r['seconds']:.1f} s", f"{r['peak_rss_bytes'] / 2**20:.0f} MiB"

        print(f"| {row['vocabulary']:,} | {' | '.join(cells(ids))} | {' | '.join(cells(hot))} |")
    print(f"CPU: {doc['cpu']}; wrote {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
