"""The host loop's chunks of epochs and its checkpoints give the whole-run scan's numbers, bit for bit.

The reference is ``jit(vmap(make_train(config)))``: every epoch in one ``lax.scan``, as
attnjax trained before the host loop existed. Chunking (any lengths, the last one short),
seed chunks, a resume from a checkpoint written mid-run or at a seed-chunk boundary must
all reproduce it exactly: every epoch is the same computation on the same carry, so any
difference is a bug (a key consumed twice, a baseline or an optimizer state not carried,
the hybrid's switch or reset misplaced at a chunk boundary). Several devices are checked
against the several-device whole run, in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from attnjax.checkpoint import Checkpoints
from attnjax.data import load_orthogonal
from attnjax.errors import ConfigError, DataError
from attnjax.experiments import train_seeds
from attnjax.loop import EpochChunks, HostLoop
from attnjax.train import TrainConfig, make_train

SEEDS = 3


@pytest.fixture(scope="module")
def data():
    return load_orthogonal(num_classes=4, m=3, n_train=16, n_test=8, noise=0.1, random_position=True, seed=2)


def _config(info, **kw):
    kw = {"epochs": 5, "batch_size": 4, "hidden": 8, "model": "mlp", **kw}
    return TrainConfig.for_data(info, **kw)


def _whole(config, runs, data):
    """The whole-run scan over the same keys and (float32) hyper-parameters."""
    keys = jax.random.split(jax.random.key(0), runs.hparams.learning_rate.shape[0])
    return jax.device_get(jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(keys, runs.hparams.traced(),
                                                                                        data))


def _assert_same(runs, ref):
    got = jax.tree_util.tree_leaves((runs.params, runs.history))
    want = jax.tree_util.tree_leaves((ref.params, ref.history))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# The hybrid switches at epoch 3 (inside the chunk [2, 4); switches that differ between seeds, so the
# hybrid's own program runs every epoch) and at epoch 2 (a chunk boundary; one switch: the soft phase
# runs the soft paradigm's program, tests/test_hybrid_reuse.py); hard-reinforce carries its baseline
# across chunks; fixed focus trains the classifier only.
CASES = [
    ("soft", {}, {}),
    ("hard", {}, {}),
    ("lvml", {}, {}),
    ("hybrid", {}, {"switch_epoch": [3, 1, 3]}),
    ("hybrid", {"hybrid_reset": True, "momentum": 0.9}, {"switch_epoch": 2}),
    ("hard-reinforce", {"momentum": 0.9}, {}),
    ("hard-gumbel", {}, {"temperature": 0.7}),
    ("lvml-em", {}, {}),
    ("soft", {"fixed_focus": True}, {"alpha": 0.6}),
]


@pytest.mark.parametrize("loss, options, seed_options", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_chunks_equal_the_whole_run_bitwise(data, loss, options, seed_options):
    data, info = data
    config = _config(info, loss=loss, **options)
    # The first chunk is one epoch (to time it); then chunks end at multiples of 2 and at 5.
    host = HostLoop(epochs=EpochChunks(every=2, seconds=float("inf")))
    seen = []
    host.on_chunk = lambda name, end: seen.append((end.rows, end.new))
    runs = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, host=host, chunk_size=2, **seed_options)
    # Two seed chunks (2 + 1 padded), the second in chunks of 2, 2 and 1 epochs.
    assert seen == [((0, 2), range(0, 1)), ((0, 2), range(1, 2)), ((0, 2), range(2, 4)), ((0, 2), range(4, 5)),
                    ((2, 3), range(0, 2)), ((2, 3), range(2, 4)), ((2, 3), range(4, 5))]
    _assert_same(runs, _whole(config, runs, data))
    # one program for every chunk, the short last one included (the hybrid's soft phase: the soft one's)
    assert set(host.programs.traces.values()) == {1} and runs.traces == len(host.programs.traces)


def test_one_program_serves_every_chunk_length(data):
    """Chunks of 1, 3 and 7 epochs and repeated calls: the training program is traced once."""
    data, info = data
    config = _config(info, loss="soft", epochs=11)
    host = HostLoop(epochs=EpochChunks(every=7, seconds=float("inf")))
    lengths = []
    host.on_chunk = lambda name, end: lengths.append(len(end.new))
    train_seeds(config, data, seeds=2, learning_rate=0.3, host=host)
    train_seeds(config, data, seeds=2, learning_rate=0.1, host=host)
    assert host.programs.traces[config] == 1
    assert lengths[:3] == [1, 6, 4]  # one epoch to time it, then up to the checkpoint rhythm, then the rest


class _Stop(Exception):
    pass


def _stop_after(n_checkpoints, checkpoints):
    """An ``on_chunk`` that stops training once ``n_checkpoints`` snapshots exist (a kill, in-process)."""
    def watch(name, end):
        if len(checkpoints.written) >= n_checkpoints:
            raise _Stop
    return watch


@pytest.mark.parametrize("chunk_size, stop_after, first", [(None, 2, ((0, 3), 4)), (2, 3, ((2, 3), 0))],
                         ids=["mid-run", "seed-chunk-boundary"])
def test_resume_from_a_checkpoint_is_bitwise(data, tmp_path, chunk_size, stop_after, first):
    """Stopped after the checkpoints at epochs 2 and 4, or at 2, 4 and the end of the first seed chunk."""
    data, info = data
    config = _config(info, loss="hard-reinforce", epochs=6, momentum=0.9)
    full = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, chunk_size=chunk_size)
    checkpoints = Checkpoints(tmp_path, every=2)
    with pytest.raises(_Stop):
        train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, chunk_size=chunk_size,
                    host=HostLoop(epochs=EpochChunks(every=2), checkpoints=checkpoints,
                                  on_chunk=_stop_after(stop_after, checkpoints)))
    steps = sorted(p.name for p in (tmp_path / "hard-reinforce").iterdir())
    assert len(steps) == 2 and all(s.startswith("step-") for s in steps)  # the newest two are kept
    again = Checkpoints(tmp_path, every=2, resume=True)
    seen = []
    resumed = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, chunk_size=chunk_size,
                          host=HostLoop(epochs=EpochChunks(every=2), checkpoints=again,
                                        on_chunk=lambda name, end: seen.append((end.rows, end.new.start))))
    assert seen[0] == first  # it went on from the checkpoint, not from the start
    _assert_same(resumed, full)
    assert resumed.chunk_size == chunk_size


def _interrupted(tmp_path, data, config, **kw):
    checkpoints = Checkpoints(tmp_path, every=2)
    with pytest.raises(_Stop):
        train_seeds(config, data, seeds=SEEDS, learning_rate=0.3,
                    host=HostLoop(epochs=EpochChunks(every=2), checkpoints=checkpoints,
                                  on_chunk=_stop_after(1, checkpoints)))
    return checkpoints.written[-1][2]


def _resume(tmp_path, data, config, **kw):
    return train_seeds(config, data, seeds=SEEDS, host=HostLoop(checkpoints=Checkpoints(tmp_path, resume=True)),
                       **{"learning_rate": 0.3, **kw})


def test_a_checkpoint_of_other_settings_is_refused(data, tmp_path):
    data, info = data
    config = _config(info, loss="soft", epochs=6)
    _interrupted(tmp_path, data, config)
    with pytest.raises(ConfigError, match=r"other settings \(hparams.learning_rate: \[0.3"):
        _resume(tmp_path, data, config, learning_rate=0.2)
    with pytest.raises(ConfigError, match="other settings"):
        _resume(tmp_path, data, config, seed=1)  # other keys
    with pytest.raises(ConfigError, match=r"config.epochs: 6 there, 7 now"):
        _resume(tmp_path, data, _config(info, loss="soft", epochs=7))


def test_another_layout_and_damage_are_refused(data, tmp_path):
    data, info = data
    config = _config(info, loss="soft", epochs=6)
    step = _interrupted(tmp_path, data, config)
    meta = json.loads((step / "meta.json").read_text())
    (step / "meta.json").write_text(json.dumps({**meta, "layout": 99}))
    with pytest.raises(ConfigError, match="layout 99"):
        _resume(tmp_path, data, config)
    (step / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match=f"checkpoint {step} is damaged \\(meta.json: "):
        _resume(tmp_path, data, config)
    (step / "meta.json").write_text(json.dumps(meta))
    for f in (step / "arrays").rglob("*"):  # every array file garbled
        if f.is_file() and f.stat().st_size > 0 and "METADATA" not in f.name:
            f.write_bytes(b"\0" * f.stat().st_size)
    with pytest.raises(DataError, match=f"checkpoint {step} is damaged"):
        _resume(tmp_path, data, config)


def test_a_write_a_kill_interrupted_is_ignored(data, tmp_path):
    """An ``incoming-*`` folder (the write was killed before its rename) is removed; the last complete step serves."""
    data, info = data
    config = _config(info, loss="soft", epochs=6)
    full = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3)
    step = _interrupted(tmp_path, data, config)
    half = tmp_path / "soft" / "incoming-00000004"
    shutil.copytree(step, half)
    (half / "meta.json").unlink()  # the write stopped before its metadata
    _assert_same(_resume(tmp_path, data, config), full)
    assert not half.exists()


DEVICES = textwrap.dedent(
    """
    import json, jax, numpy as np
    from attnjax.data import load_orthogonal
    from attnjax.experiments import train_seeds
    from attnjax.loop import EpochChunks, HostLoop
    from attnjax.parallel import run_seeds
    from attnjax.train import Hyper, TrainConfig, make_train

    data, info = load_orthogonal(num_classes=4, m=3, n_train=16, n_test=8, noise=0.1, random_position=True, seed=2)
    config = TrainConfig.for_data(info, loss="hybrid", model="mlp", hidden=8, epochs=5, batch_size=4)
    keys = jax.random.split(jax.random.key(0), 6)
    # switches that differ between seeds: the hybrid's own program runs every epoch, as in the whole
    # run (one switch for all would train the soft phase with the soft paradigm's program, whose last
    # bits on a mesh are its own: attnjax.experiments.first_phase)
    switch = [2, 3, 2, 3, 2, 3]
    whole = run_seeds(make_train(config), keys, Hyper.checked(6, learning_rate=0.3,
                      switch_epoch=switch).traced(), data, devices=2)
    runs = train_seeds(config, data, seeds=6, learning_rate=0.3, devices=2, chunk_size=4, switch_epoch=switch,
                       host=HostLoop(epochs=EpochChunks(every=2)))
    pairs = zip(jax.tree_util.tree_leaves((whole.params, whole.history)),
                jax.tree_util.tree_leaves((runs.params, runs.history)))
    print(json.dumps([[list(np.shape(a)), float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b))))]
                      for a, b in pairs]))
    """
)


def test_several_devices_chunked_equal_their_whole_run():
    """On a 2-device mesh: every parameter and metric bitwise; the epoch's mean loss to one float32 ulp.

    The several-device module is SPMD-partitioned, and XLA fuses the forward loss (not its
    gradient: the parameters agree bit for bit) a little differently in the chunk program,
    whose epoch sits inside a ``lax.cond``: the reported loss, near 1, can move by 1.2e-7.
    """
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", DEVICES], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    leaves = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(leaves) == 25  # 6 parameters, 19 history leaves (a_z, its entropy and a_z_half among them)
    loss = [i for i, (shape, _) in enumerate(leaves) if shape == [6, 5]][0]  # the first [S, epochs] leaf
    assert all(diff == 0 for i, (_, diff) in enumerate(leaves) if i != loss)
    assert leaves[loss][1] <= 2.4e-7


def test_automatic_checkpoints_start_after_the_time_rule(data, tmp_path):
    """Without ``every``: nothing before ``auto_seconds`` of training; after it, one per chunk that
    crosses the rhythm and one at every seed chunk's end; ``every=0``: never."""
    data, info = data
    config = _config(info, loss="soft", epochs=4)

    def written(**kw):
        checkpoints = Checkpoints(tmp_path / str(len(list(tmp_path.iterdir()))), **kw)
        train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, chunk_size=2,
                    host=HostLoop(epochs=EpochChunks(every=1), checkpoints=checkpoints))
        return [(name, step) for name, step, _ in checkpoints.written]

    assert written(auto_seconds=3600.0) == []  # a short run writes none
    assert written(every=0, auto_seconds=0.0) == []
    # Due at once: every chunk (one epoch each) of both seed chunks; steps count seed chunk * epochs + epoch.
    assert written(auto_seconds=0.0) == [("soft", s) for s in (1, 2, 3, 4, 5, 6, 7, 8)]
    assert written(every=3) == [("soft", 3), ("soft", 4), ("soft", 7), ("soft", 8)]


def test_a_finished_run_resumes_without_training(data, tmp_path):
    """Its last checkpoint is its end (epochs 6, every 4: the end is not a multiple): nothing is compiled
    or run again, and the result is the run's."""
    data, info = data
    config = _config(info, loss="hybrid", epochs=6)
    first = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3,
                        host=HostLoop(checkpoints=Checkpoints(tmp_path, every=4)))
    assert sorted(p.name for p in (tmp_path / "hybrid").iterdir()) == ["step-00000004", "step-00000006"]
    chunks = []
    again = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3,
                        host=HostLoop(checkpoints=Checkpoints(tmp_path, every=4, resume=True),
                                      on_chunk=lambda name, end: chunks.append(end)))
    assert chunks == [] and again.traces == 0
    _assert_same(again, first)


def test_an_out_of_memory_retry_starts_its_checkpoints_over(data, tmp_path, monkeypatch):
    """All seeds at once run out of memory after a checkpoint; the retry in smaller seed chunks
    removes that snapshot, so every one left is of the chunk size that finished."""
    from attnjax import experiments, parallel

    data, info = data
    config = _config(info, loss="soft", epochs=4)
    real, calls = experiments.run_chunked, []

    def flaky(*args, chunk_size, on_chunk, **kw):
        calls.append(chunk_size)
        if len(calls) > 1:
            return real(*args, chunk_size=chunk_size, on_chunk=on_chunk, **kw)

        def then_fail(end):
            on_chunk(end)
            if end.new.stop >= 2:
                raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 4000000000 bytes.")
        return real(*args, chunk_size=chunk_size, on_chunk=then_fail, **kw)

    monkeypatch.setattr(experiments, "run_chunked", flaky)
    monkeypatch.setattr(parallel, "available_memory", lambda device=None: 2**30)
    checkpoints = Checkpoints(tmp_path, every=2)
    runs = train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, auto_chunk=True,
                       host=HostLoop(checkpoints=checkpoints))
    assert calls == [None, 1] and runs.chunk_size == 1
    sizes = {json.loads((p / "meta.json").read_text())["chunk_size"] for p in (tmp_path / "soft").iterdir()}
    assert sizes == {1}
    # The same as a run in chunks of one seed from the start (one seed a program compiles to other
    # kernels than several, so the reference is that run, not the all-seeds scan).
    monkeypatch.setattr(experiments, "run_chunked", real)
    _assert_same(runs, train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, chunk_size=1))
