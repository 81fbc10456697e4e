"""Kill a training command, resume it, and get the uninterrupted run's ``results.json`` bit for bit.

The commands run in subprocesses through a small driver that makes ``attnjax`` wait, at a
chosen checkpoint, until this test has seen it: after the second checkpoint is complete,
or in the middle of the third one's write (its arrays written, its metadata and rename
not yet). The test then sends the signal itself, SIGKILL or SIGINT (Ctrl-C), and resumes
with ``--resume``. Every run shares one compilation cache folder, so only the first one
compiles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Two paradigms of the digits mosaics, 12 epochs, a checkpoint every 3: soft's checkpoints at
# epochs 3, 6, 9, 12, then the hybrid's.
RUN = ["compare", "--dataset", "digits", "--n-train", "200", "--n-test", "100", "--losses", "soft,hybrid",
       "--seeds", "3", "--epochs", "12", "--batch-size", "20", "--checkpoint-every", "3"]

# Waits in attnjax.checkpoint._commit: before (``inside``) or after the commit of checkpoint N.
DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import attnjax.checkpoint as checkpoint
    from attnjax.cli import main

    marker, n, inside, argv = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "inside", sys.argv[4:]
    real, count = checkpoint._commit, [0]

    def commit(incoming, final, meta):
        count[0] += 1
        if count[0] == n and inside:
            marker.write_text(str(incoming))
            time.sleep(600)  # killed here, between the arrays and the metadata
        real(incoming, final, meta)
        if count[0] == n:
            marker.write_text(str(final))
            time.sleep(600)  # killed here, with checkpoint n complete

    checkpoint._commit = commit
    sys.exit(main(argv))
    """
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("compile-cache")


def _env():
    return dict(os.environ, JAX_PLATFORMS="cpu")


def _attnjax(args, cache, **kw):
    return subprocess.run([sys.executable, "-m", "attnjax.cli", *args, "--compile-cache", str(cache)],
                          capture_output=True, text=True, env=_env(), timeout=600, **kw)


def _stopped(tmp_path, out, cache, n, *, inside=False, sig=signal.SIGKILL):
    """Run RUN into ``out`` until checkpoint ``n`` (or into its write), then send ``sig``."""
    marker = tmp_path / f"marker-{out.name}"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(marker), str(n), "inside" if inside else "after",
                             *RUN, "--out", str(out), "--compile-cache", str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the run never reached the checkpoint"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err, Path(marker.read_text())


def _numbers(doc):
    """A results document without what may differ between sessions: wall times, memory, notes."""
    doc = json.loads(json.dumps(doc))
    for res in doc["results"].values():
        for key in ("seconds", "compile_seconds", "train_seconds"):
            res.pop(key)
    doc.pop("peak_memory")
    assert doc["config"]["long_run"].pop("resumed") in (True, False)
    return doc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("whole") / "run"
    done = _attnjax([*RUN, "--out", str(out)], cache)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (out / "checkpoints").exists()  # removed once results.json is written
    return out, done.stdout


def test_sigkill_after_the_second_checkpoint_then_resume(tmp_path, cache, uninterrupted):
    out = tmp_path / "run"
    code, _, step = _stopped(tmp_path, out, cache, 2)
    assert code == -signal.SIGKILL
    assert step == out / "checkpoints" / "soft" / "step-00000006"
    lines = (out / "history.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # no torn line
    assert records[0]["kind"] == "history" and {r["epoch"] for r in records[1:]} >= {1, 2, 3, 4, 5, 6}

    drawn = subprocess.run([sys.executable, "-m", "attnjax.cli", "plot", str(out)], capture_output=True, text=True,
                           env=_env(), timeout=300)
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.startswith("interrupted: soft ") and "hybrid 0/12 epochs" in drawn.stdout
    assert (out / "progress.png").stat().st_size > 10_000

    resumed = _attnjax([*RUN, "--out", str(out), "--resume"], cache)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = json.loads((uninterrupted[0] / "results.json").read_text())
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(whole)
    assert not (out / "checkpoints").exists() and not (out / "progress.png").exists()
    # The live history ends as the results: every epoch, every seed.
    last = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()[1:]]
    soft = [r for r in last if r["paradigm"] == "soft"]
    assert [r["test_accuracy"] for r in soft] == [list(x) for x in zip(*whole["results"]["soft"]["history"]["test"]["accuracy"])]


def test_sigkill_during_a_checkpoint_write_then_resume(tmp_path, cache, uninterrupted):
    out = tmp_path / "run"
    code, _, incoming = _stopped(tmp_path, out, cache, 3, inside=True)
    assert code == -signal.SIGKILL and incoming.name == "incoming-00000009" and incoming.is_dir()
    assert not (incoming / "meta.json").exists()
    resumed = _attnjax([*RUN, "--out", str(out), "--resume"], cache)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = json.loads((uninterrupted[0] / "results.json").read_text())
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(whole)


def test_ctrl_c_half_way_then_resume_prints_the_same_table(tmp_path, cache, uninterrupted):
    out = tmp_path / "run"
    code, err, _ = _stopped(tmp_path, out, cache, 3, sig=signal.SIGINT)  # soft at epoch 9 of 12
    assert code == 130 and "Traceback" not in err
    note = err.strip().splitlines()[-1]
    assert note.startswith("attnjax: interrupted; the checkpoints in ") and note.endswith(" --resume")
    assert (out / "checkpoints" / "soft" / "step-00000009" / "meta.json").exists()
    resumed = _attnjax([*RUN, "--out", str(out), "--resume"], cache)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    table = lambda text: text.split("\n\ntime (compile + train)")[0]  # noqa: E731
    assert table(resumed.stdout) == table(uninterrupted[1])


def test_resume_refuses_other_settings_and_plain_reruns_refuse_checkpoints(tmp_path, cache):
    out = tmp_path / "run"
    _stopped(tmp_path, out, cache, 1)
    again = _attnjax([*RUN, "--out", str(out)], cache)
    assert again.returncode == 2 and "holds the checkpoints of an unfinished run: add --resume" in again.stderr
    other = _attnjax([*RUN, "--out", str(out), "--resume", "--lr", "0.2"], cache)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    error = other.stderr.strip().splitlines()[-1]  # after the data set's one-line description
    assert error.startswith("attnjax: error: --resume: checkpoint ") and "of other settings (hparams.learning_rate: " in error
    assert "[0.2, 0.2, 0.2] now" in error and error.endswith("or start over (--overwrite)")
    fresh = _attnjax([*RUN, "--out", str(out), "--overwrite"], cache)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert not (out / "checkpoints").exists()


def test_the_compile_cache_folder_receives_the_training_programs(cache, uninterrupted):
    """The chunk program has no host callback, so JAX stores it (it refused the old one)."""
    entries = [p.name for p in cache.iterdir()]
    assert any(name.startswith("jit_counted") for name in entries), entries
    doc = json.loads((uninterrupted[0] / "results.json").read_text())
    assert all(r["compile_seconds"] >= 0 and r["train_seconds"] > 0 for r in doc["results"].values())
