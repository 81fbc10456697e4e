"""The hybrid's soft phase taken from the soft run gives the numbers of training it again, bit for bit.

Under ``--protocol paper`` each hybrid phase has ``--epochs`` epochs, so the hybrid's soft phase
is the soft run: ``compare`` starts the hybrid's second phase from the soft run's final state
(`attnjax.experiments.soft_phase_start`). The reference is the hybrid trained on its own
(``--losses hybrid``, or ``reuse_soft_phase=False``/no ``soft_phase`` in the library), every
epoch through its own program: every number of its results and history must be equal, with
the fine clock and with seed chunks, after a resume at any point, and the run must say that it
reused the soft phase. Runs that differ in anything the soft phase depends on must not reuse it.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import attnjax.checkpoint as checkpoint
from attnjax.data import load_orthogonal
from attnjax.experiments import compare, soft_phase_start, train_seeds
from attnjax.train import Hyper, TrainConfig
from conftest import run_cli

# digits, 512 training mosaics: the paper's batch of 256 makes 2 steps an epoch; 2 epochs a phase.
RUN = ["compare", "--dataset", "digits", "--n-train", "512", "--n-test", "100", "--seeds", "2", "--epochs", "2",
       "--protocol", "paper"]
REUSED = "the soft phase (epochs 1-2) was taken from the soft run's final state"
AGAIN = "the soft phase was trained again"
TIMES = ("seconds", "compile_seconds", "train_seconds")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One compilation cache for the module: only the first run of each program compiles."""
    return str(tmp_path_factory.mktemp("compile-cache"))


def _run(args, out, cache, capsys):
    code, _, err = run_cli([*RUN, *args, "--compile-cache", cache, "--out", str(out)], capsys)
    assert code == 0, err
    return json.loads((out / "results.json").read_text()), err


def _numbers(doc, name):
    """A paradigm's results, every number but the times."""
    return {k: v for k, v in doc["results"][name].items() if k not in TIMES}


def _history(out, name):
    """history.jsonl's lines of one paradigm."""
    lines = (out / "history.jsonl").read_text().splitlines()[1:]
    return [line for line in lines if json.loads(line)["paradigm"] == name]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache):
    """soft then hybrid, reused, with a checkpoint every epoch (the resumes' reference)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    from attnjax.cli import main

    assert main([*RUN, "--losses", "soft,hybrid", "--checkpoint-every", "1", "--compile-cache", cache,
                 "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("extra", [[], ["--eval-every", "1", "--chunk-size", "1"]], ids=["plain", "fine-chunked"])
def test_the_reused_soft_phase_equals_training_the_hybrid_again(extra, tmp_path, cache, capsys):
    both, err = _run(["--losses", "soft,hybrid", *extra], tmp_path / "both", cache, capsys)
    alone, err_alone = _run(["--losses", "hybrid", *extra], tmp_path / "alone", cache, capsys)
    # every number of the hybrid's results (final metrics, every rule, the whole history, the clock)
    assert _numbers(both, "hybrid") == _numbers(alone, "hybrid")
    if extra:
        assert len(both["results"]["hybrid"]["history"]["fine"]["loss"][0]) == 8  # the fine clock: 2 points an epoch
    assert _history(tmp_path / "both", "hybrid") == _history(tmp_path / "alone", "hybrid")
    mine, theirs = both["config"]["paradigms"]["hybrid"], alone["config"]["paradigms"]["hybrid"]
    assert [n for n in mine.pop("notes") if n.startswith(REUSED)] and "notes" not in theirs
    assert mine == theirs
    assert f"note: hybrid: {REUSED}" in err and REUSED not in err_alone
    # the soft phase's epochs in the hybrid's history are the soft run's own
    soft, hybrid = both["results"]["soft"]["history"], both["results"]["hybrid"]["history"]
    assert [row[:2] for row in hybrid["loss"]] == soft["loss"]


class Stop(Exception):
    """Raised after a chosen checkpoint's commit: the run stops there, as if killed."""


def _stopped_after(n, monkeypatch):
    real, count = checkpoint._commit, [0]

    def commit(incoming, final, meta):
        real(incoming, final, meta)
        count[0] += 1
        if count[0] == n:
            raise Stop(str(final))

    monkeypatch.setattr(checkpoint, "_commit", commit)


# A checkpoint every epoch: soft's at epochs 1 and 2 (commits 1, 2), then the hybrid's at its
# switch (2, the reused state: commit 3), 3 and 4. Stopped after 2, soft has finished and its
# checkpoint holds only its parameters: the resumed hybrid trains its soft phase again. Stopped
# after 3 or 4, the hybrid resumes from its own checkpoint.
@pytest.mark.parametrize("n, note", [(2, AGAIN), (3, None), (4, None)])
def test_a_resumed_run_equals_the_uninterrupted_one(n, note, tmp_path, cache, capsys, monkeypatch, uninterrupted):
    args = ["--losses", "soft,hybrid", "--checkpoint-every", "1"]
    _stopped_after(n, monkeypatch)
    with pytest.raises(Stop):
        run_cli([*RUN, *args, "--compile-cache", cache, "--out", str(tmp_path / "run")], capsys)
    monkeypatch.undo()
    capsys.readouterr()
    resumed, err = _run([*args, "--resume"], tmp_path / "run", cache, capsys)
    for name in ("soft", "hybrid"):
        assert _numbers(resumed, name) == _numbers(uninterrupted, name), name
    notes = resumed["config"]["paradigms"]["hybrid"].get("notes", [])
    if note is None:
        assert notes == []
    else:
        assert [x for x in notes if x.startswith(note)] and "earlier session" in err


# ----------------------------------------------------------------------------- the library's checks


@pytest.fixture(scope="module")
def tiny():
    return load_orthogonal(num_classes=3, m=4, n_train=12, n_test=6, noise=0.1, random_position=True, seed=2)


E, SEEDS = 3, 3


def _configs(info, **kw):
    """soft for E epochs and a hybrid of 2E (switch given to train_seeds); batches of 4: 3 steps."""
    common = {"batch_size": 4, "hidden": 8, "model": "mlp", "momentum": 0.9, **kw}
    return (TrainConfig.for_data(info, loss="soft", epochs=E, **common),
            TrainConfig.for_data(info, loss="hybrid", epochs=2 * E, **common))


_WHOLE = {}


def _whole(config, data, chunk_size=None):
    """The hybrid trained on its own (``SEEDS`` seeds, learning rate 0.3, switch at epoch E): the
    uninterrupted reference. Trained once per (config, chunk size) for the module, since several
    tests compare other runs with the same one; the runs are bit for bit the same each time (that
    is what the tests here check), so sharing it compares each test's run with what it compared before."""
    key = (config, chunk_size, id(data))
    if key not in _WHOLE:  # the data is kept with the run, so its id stays its own
        _WHOLE[key] = (data, train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E,
                                         chunk_size=chunk_size))
    return _WHOLE[key][1]


def _equal(a, b):
    got, want = (jax.tree_util.tree_leaves((r.params, r.history)) for r in (a, b))
    assert len(got) == len(want)
    for x, y in zip(got, want):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


# hybrid_reset False: the soft run's momentum carries on into the second phase, so the
# optimizer state handed over counts; hard-reinforce: the hybrid's paradigm state is a pair.
# Seed chunks: reused when both ran as many seeds a program call; otherwise trained again.
@pytest.mark.parametrize("options, soft_chunks, chunks, reused", [
    ({"hybrid_reset": False}, 2, 2, True), ({"hybrid_reset": True}, None, None, True),
    ({"hybrid_to": "hard-reinforce"}, None, None, True), ({}, 2, None, False)])
def test_train_seeds_from_the_soft_run_equals_the_whole_hybrid(tiny, options, soft_chunks, chunks, reused):
    data, info = tiny
    soft_config, hybrid_config = _configs(info, **options)
    soft = train_seeds(soft_config, data, seeds=SEEDS, learning_rate=0.3, keep_state=True, chunk_size=soft_chunks)
    run = train_seeds(hybrid_config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E, soft_phase=soft,
                      chunk_size=chunks)
    whole = _whole(hybrid_config, data, chunks)
    assert run.reused_epochs == (E if reused else 0) and whole.reused_epochs == 0 and not whole.notes
    if reused:
        assert any(n.startswith("the soft phase (epochs 1-3) was taken") for n in run.notes)
    else:
        assert any(n.startswith(AGAIN) and "2 seeds a program call, this run 3" in n for n in run.notes)
    _equal(run, whole)
    if reused:  # the hybrid's soft phase, trained, is the soft run's bit for bit
        for a, b in zip(jax.tree_util.tree_leaves(soft.history), jax.tree_util.tree_leaves(whole.history)):
            assert np.asarray(a).tobytes() == np.asarray(b)[:, :E].tobytes()


@pytest.mark.parametrize("n", [1, 2, 4])  # stopped inside the soft phase (epochs 1, 2 of 3) or after it (4)
def test_a_hybrid_resumed_inside_either_phase_equals_the_whole_run(tiny, n, tmp_path, monkeypatch):
    """The checkpoints hold the hybrid's own carry in both phases (the soft phase's program has
    its own): a resume inside the soft phase goes back to the soft program, bit for bit."""
    from attnjax.checkpoint import Checkpoints
    from attnjax.loop import EpochChunks, HostLoop

    data, info = tiny
    _, config = _configs(info, hybrid_to="hard-reinforce")
    whole = _whole(config, data)

    def host(resume):
        return HostLoop(epochs=EpochChunks(every=1), checkpoints=Checkpoints(tmp_path, every=1, resume=resume))

    _stopped_after(n, monkeypatch)
    with pytest.raises(Stop):
        train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E, host=host(False))
    monkeypatch.undo()
    _equal(train_seeds(config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E, host=host(True)), whole)


def test_a_soft_run_that_differs_is_not_reused(tiny):
    data, info = tiny
    soft_config, hybrid_config = _configs(info)
    soft = train_seeds(soft_config, data, seeds=SEEDS, learning_rate=0.3, keep_state=True)
    # another init scale: the soft phase is trained again, and says why
    other = train_seeds(hybrid_config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E, init_scale=0.5,
                        soft_phase=soft)
    assert other.reused_epochs == 0 and any("init_scale" in n for n in other.notes)
    _equal(other, train_seeds(hybrid_config, data, seeds=SEEDS, learning_rate=0.3, switch_epoch=E, init_scale=0.5))

    def start(config=hybrid_config, seeds=SEEDS, seed=0, learning_rate=0.3, switch=E, soft=soft, data=data):
        given = Hyper.checked(seeds, learning_rate=learning_rate, switch_epoch=switch)
        keys = jax.random.split(jax.random.key(seed), seeds)
        return soft_phase_start(soft, config, given, keys, data, seed_map="vmap")

    assert start()[0] is not None and start()[0].epoch == E
    assert start(switch=E - 1) == (None, None)  # the switch is not at the soft run's end: silent
    assert start(switch=[E, E, E - 1]) == (None, None)
    assert start(config=soft_config) == (None, None)  # not a hybrid
    for why, kw in [("learning_rate", {"learning_rate": 0.2}), ("keys", {"seed": 1}),
                    ("data", {"data": load_orthogonal(num_classes=3, m=4, n_train=12, n_test=6, noise=0.1,
                                                      random_position=True, seed=3)[0]}),
                    ("hidden", {"config": _configs(info, hidden=9)[1]}),
                    ("momentum", {"config": _configs(info, momentum=0.5)[1]})]:
        begin, text = start(**kw)
        assert begin is None and why in text, (why, text)
    # a soft run kept without its final state (as after a resume): trained again
    no_state = train_seeds(soft_config, data, seeds=SEEDS, learning_rate=0.3)
    assert start(soft=no_state)[0] is None and "not at hand" in start(soft=no_state)[1]


def test_compare_reuses_only_a_soft_run_before_the_hybrid(tiny):
    data, info = tiny
    common = dict(seeds=2, protocol="paper", epochs=2, batch_size=4, hidden=8, learning_rate=0.3)
    runs = compare(data, info, losses=["soft", "hybrid"], **common)
    assert runs["hybrid"].reused_epochs == 2
    assert runs["soft"].final_state is None  # dropped once used
    assert compare(data, info, losses=["hybrid", "soft"], **common)["hybrid"].reused_epochs == 0
    assert compare(data, info, losses=["soft", "hybrid"], reuse_soft_phase=False, **common)["hybrid"].reused_epochs == 0
    _equal(runs["hybrid"], compare(data, info, losses=["hybrid"], **common)["hybrid"])
