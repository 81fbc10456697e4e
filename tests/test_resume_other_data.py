"""``--resume`` refuses a checkpoint written on other data of the same shape.

A run on a bags file is stopped (the process exits at once) right after its first checkpoint
is complete. The file is then rewritten with bags drawn from another seed: the same sizes, the
same classes, the same options on the command line, so the models, the learning rate and the
training keys are all the same and only the data differ. The resume must refuse, naming the
data; resuming on the original file must go on. The commands run in subprocesses, as in
tests/test_resume_cli.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np

K, D, M, N = 3, 4, 4, 40

# Exits (as a kill would leave it) right after the first checkpoint's commit.
DRIVER = textwrap.dedent(
    """
    import os, sys
    import attnjax.checkpoint as checkpoint
    from attnjax.cli import main

    real = checkpoint._commit

    def commit(incoming, final, meta):
        real(incoming, final, meta)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(3)

    checkpoint._commit = commit
    sys.exit(main(sys.argv[1:]))
    """
)


def _bags(path, seed):
    """N bags of M segments (D features, none padded), K classes; the truth segment carries its class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % K
    segments = rng.normal(0, 1, (N, M, D)).astype(np.float32)
    pos = rng.integers(0, M, N)
    truth = np.zeros((N, M), bool)
    truth[np.arange(N), pos] = True
    segments[np.arange(N), pos, :K] += 3 * np.eye(K)[labels]
    np.savez(path, segments=segments, labels=labels, mask=np.ones((N, M), bool), truth=truth)
    return path


def _env():
    return dict(os.environ, JAX_PLATFORMS="cpu")


def test_resume_refuses_the_checkpoint_of_other_data_of_the_same_shape(tmp_path):
    data, out, cache = tmp_path / "bags.npz", tmp_path / "run", tmp_path / "cache"
    run = ["compare", "--dataset", "bags", "--data-file", str(data), "--losses", "soft", "--seeds", "2",
           "--epochs", "4", "--batch-size", "8", "--checkpoint-every", "1", "--out", str(out),
           "--compile-cache", str(cache)]
    _bags(data, seed=0)
    stopped = subprocess.run([sys.executable, "-c", DRIVER, *run], capture_output=True, text=True, env=_env(),
                             timeout=600)
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    steps = list((out / "checkpoints" / "soft").glob("step-*"))
    assert len(steps) == 1 and (steps[0] / "meta.json").is_file()

    _bags(data, seed=1)  # other numbers, the same shapes
    other = subprocess.run([sys.executable, "-m", "attnjax.cli", *run, "--resume"], capture_output=True, text=True,
                           env=_env(), timeout=600)
    last = (other.stderr.strip().splitlines() or [""])[-1]
    assert other.returncode == 2, f"the resume on other data exited {other.returncode}, not 2: {last}"
    assert "Traceback" not in other.stderr, other.stderr[-2000:]
    error = other.stderr.strip().splitlines()[-1]  # after the data set's one-line description
    assert error.startswith("attnjax: error: --resume: checkpoint ") and error.endswith(" (--overwrite)"), error
    # The difference it names is the data (not the keys, the config or the learning rate): "of other
    # settings (data: ...)" or "trained on other data (...)"; the folder's path is left out of the search.
    said = error.replace(str(tmp_path), "TMP")
    assert re.search(r"other settings \(data\b|on other data\b", said), error
    assert not re.search(r"\b(keys|learning_rate|config)\b", said), error
    assert (out / "checkpoints" / "soft").is_dir()  # the refusal leaves the checkpoints alone

    _bags(data, seed=0)  # the original data: the same checkpoint resumes
    same = subprocess.run([sys.executable, "-m", "attnjax.cli", *run, "--resume"], capture_output=True, text=True,
                          env=_env(), timeout=600)
    assert same.returncode == 0, same.stderr[-2000:]
    assert (out / "results.json").is_file() and not (out / "checkpoints").exists()
