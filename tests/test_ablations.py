"""Ablations: your own Flax modules and optax optimizers, traced knobs, sweeps, TOML configs."""

import csv
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attnjax.cli import main
from attnjax.data import load_dataset, load_orthogonal
from attnjax.experiments import compare, train_seeds
from attnjax.loop import HostLoop
from attnjax.train import Hyper, TrainConfig, init_params, make_train


class TinyConvFocus(nn.Module):
    """A focus model defined here, not in attnjax: one 3x3 conv, mean pool, linear score."""

    @nn.compact
    def __call__(self, x):  # [N, 8, 8, 1] -> [N]
        h = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(1)(h.mean(axis=(1, 2)))[:, 0]


class TinyClassifier(nn.Module):
    num_classes: int

    @nn.compact
    def __call__(self, x):  # [N, 8, 8, 1] -> [N, K]
        return nn.Dense(self.num_classes)(nn.relu(nn.Dense(32)(x.reshape(x.shape[0], -1))))


def test_custom_flax_focus_with_adam_learns_on_digits():
    data, info = load_dataset("digits", n_train=600, n_test=300, seed=0)
    modules = (TinyConvFocus(), TinyClassifier(info.num_classes))
    runs = compare(data, info, losses=["soft"], seeds=4, learning_rate=3e-3, epochs=8, batch_size=32,
                   modules=modules, optimizer="adam")["soft"]
    # The parameter tree is the modules' own (a conv kernel 3x3x1x4 in the focus).
    assert runs.params["focus"]["params"]["Conv_0"]["kernel"].shape == (4, 3, 3, 1, 4)
    accuracy = np.asarray(runs.history.test.accuracy)[:, -1, runs.config.rule]
    # Chance is 1/3 (3 foreground classes): every one of the 4 vmapped seeds must beat it clearly.
    assert accuracy.min() > 60.0, accuracy
    assert runs.config.to_json()["modules"][0].endswith("TinyConvFocus")


def test_optax_factory_hyperparameters_are_traced_and_match_optax():
    """b1 of optax.adam comes from Hyper.optimizer per run; each run equals plain optax at its value."""
    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3, noise=0.1, seed=0)
    config = TrainConfig.for_data(info, loss="hard", model="mlp", hidden=4, epochs=2, batch_size=6,
                                  optimizer=optax.adam)
    b1 = jnp.array([0.5, 0.9])
    keys = jax.random.split(jax.random.key(0), 2)
    got = jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(
        keys, Hyper.tile(2, 0.01, optimizer={"b1": b1}), data)
    from attnjax.losses import LOSSES
    from attnjax.train import make_apply

    focus_fn, classify_fn = make_apply(config)
    for s in range(2):
        init_key, key = jax.random.split(keys[s])
        params = init_params(config, init_key)
        tx = optax.adam(0.01, b1=float(b1[s]))
        state = tx.init(params)
        seg = data.pool[data.train.index]
        for _ in range(2):  # full batch: the permutation does not change the mean loss
            def loss(p, seg=seg):
                logits = focus_fn(p)(seg.reshape(-1, seg.shape[-1])).reshape(seg.shape[:2])
                return jnp.mean(LOSSES["hard"](logits, seg, data.train.labels, classify_fn(p)))
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            params = optax.apply_updates(params, updates)
        jax.tree_util.tree_map(lambda a, b, s=s: np.testing.assert_allclose(a[s], b, rtol=1e-4, atol=1e-6),
                               got.params, params)


def test_grid_of_every_knob_times_seeds_compiles_once():
    """A 3 x 4 grid (learning rate x switch epoch) x 8 seeds, with momentum and init scale
    varying too, is one program: the training function is traced exactly once."""
    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3, seed=0)
    config = TrainConfig.for_data(info, loss="hybrid", epochs=3, batch_size=3, hidden=4, model="mlp")
    lr = np.repeat([0.01, 0.05, 0.1], 4 * 8)
    switch = np.tile(np.repeat([0, 1, 2, 3], 8), 3)
    momentum = np.resize([0.0, 0.5, 0.9], 96)
    scale = np.resize([0.5, 1.0, 2.0, 1.5], 96)
    host = HostLoop()  # its program cache counts the traces
    runs = train_seeds(config, data, seeds=96, learning_rate=lr, switch_epoch=switch, host=host,
                       init_scale=scale, optimizer={"momentum": momentum}, key_index=np.tile(np.arange(8), 12))
    assert runs.traces == 1 and host.programs.traces[config] == 1
    again = train_seeds(config, data, seeds=96, learning_rate=lr[::-1], switch_epoch=switch, host=host,
                        init_scale=scale, optimizer={"momentum": momentum}, key_index=np.tile(np.arange(8), 12))
    assert again.traces == 0  # the compiled program is reused, not rebuilt
    # The knobs really vary the runs: the same seed at two grid points differs.
    loss = np.asarray(runs.history.loss)
    assert not np.allclose(loss[0], loss[8 * 4])


def test_init_scale_scales_the_initial_parameters():
    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3, seed=0)
    config = TrainConfig.for_data(info, loss="soft", epochs=1, batch_size=6, hidden=4, model="mlp")
    key = jax.random.key(5)
    # lr tiny: after one step the parameters are the initial ones to ~1e-12.
    one = jax.jit(make_train(config))(key, Hyper(learning_rate=1e-12, init_scale=3.0), data).params
    init = init_params(config, jax.random.split(key)[0])
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, 3.0 * b, rtol=1e-5, atol=1e-9), one, init)


def test_sweep_command_writes_table_plot_and_compiles_once(tmp_path):
    out = tmp_path / "sweep"
    code = main(["sweep", "--dataset", "digits", "--n-train", "300", "--n-test", "100", "--lr", "0.01,0.05",
                 "--switch-epoch", "1,2,3", "--seeds", "4", "--epochs", "3", "--losses", "hybrid",
                 "--out", str(out)])
    assert code == 0
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3 * 4
    assert {(r["learning_rate"], r["switch_epoch"]) for r in rows} == {
        (str(lr), str(s)) for lr in (0.01, 0.05) for s in (1, 2, 3)}
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["compiled_programs"] == {"hybrid": 1} and len(doc["rows"]) == 24
    assert (out / "sweep.png").stat().st_size > 0


def test_sweep_momentum_grid_with_the_default_optimizer(tmp_path):
    """--momentum as a grid axis without --optimizer (the default is sgd) was refused."""
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "orthogonal", "--classes", "3", "--m", "3", "--momentum", "0,0.9",
                 "--seeds", "1", "--epochs", "1", "--losses", "soft", "--out", str(out)]) == 0
    assert json.loads((out / "sweep.json").read_text())["grid"] == {"momentum": [0.0, 0.9]}


def test_config_file_sets_defaults_and_the_command_line_wins(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('dataset = "orthogonal"\nclasses = 3\nm = 3\nseeds = 2\nepochs = 2\n'
                    'losses = ["soft"]\nlr = 0.2\n')
    out = tmp_path / "run"
    assert main(["compare", "--config", str(toml), "--lr", "0.3", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["paradigms"]["soft"]["learning_rate"] == pytest.approx(0.3)
    assert doc["config"]["data"]["num_classes"] == 3 and doc["config"]["seeds"] == 2
    capsys.readouterr()
    bad = tmp_path / "bad.toml"
    for text, fragment in (("colour = 1\n", "unknown option 'colour'"), ("lr = -1\n", "lr"),
                           ("x = [\n", "not valid TOML")):
        bad.write_text(text)
        assert main(["compare", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err and str(bad) in err, err


def test_sweep_rows_equal_each_point_retrained_alone():
    """Every sweep row is labelled with the grid point and seed it was trained with.

    Catches a grid column expanded in the wrong order (``np.tile`` for ``np.repeat`` in
    sweep.py) or a wrong seed-key schedule: each row is checked against that one point
    retrained alone with plain ``jit(make_train(config))``, not against the sweep itself.
    """
    from attnjax.sweep import sweep, sweep_rows

    data, info = load_orthogonal(num_classes=3, m=3, n_train=12, n_test=9, noise=0.1,
                                 random_position=True, seed=0)
    options = dict(epochs=3, batch_size=4, hidden=4, model="mlp")
    lrs, moms, seeds, base = (0.05, 0.5), (0.0, 0.9), 2, 3
    points, runs = sweep(data, info, grid={"learning_rate": list(lrs), "momentum": list(moms)},
                         losses=["soft"], seeds=seeds, seed=base, **options)
    rows = sweep_rows(points, runs, seeds)
    config = TrainConfig.for_data(info, loss="soft", **options)
    assert runs["soft"].config == config
    # The documented schedule: run g * seeds + s trains grid point g (first axis slowest)
    # with the key of seed s, i.e. split(key(seed), G * seeds)[s] (train_seeds' keys at
    # key_index s).
    expected_points = [(lr, mom) for lr in lrs for mom in moms]
    keys = jax.random.split(jax.random.key(base), len(expected_points) * seeds)
    train = jax.jit(make_train(config))
    assert [(r["learning_rate"], r["momentum"], r["seed"]) for r in rows] == [
        (pytest.approx(lr), pytest.approx(mom), s) for lr, mom in expected_points for s in range(seeds)]
    rule = config.rule
    finals = {}
    for row in rows:
        alone = train(keys[row["seed"]], Hyper(learning_rate=jnp.float32(row["learning_rate"]),
                                                optimizer={"momentum": jnp.float32(row["momentum"])}), data)
        h = jax.device_get(alone.history)
        want = {f"test_{name}": float(np.asarray(getattr(h.test, name))[-1, rule])
                for name in ("accuracy", "ftpt", "ffpt", "ftpf", "ffpf")}
        want["test_focus_accuracy"] = float(np.asarray(h.test.focus_accuracy)[-1])
        want["train_accuracy"] = float(np.asarray(h.train.accuracy)[-1, rule])
        got = {k: v for k, v in row.items() if k not in ("loss", "learning_rate", "momentum", "seed")}
        assert set(got) == set(want) | {"final_loss"}
        where = (row["learning_rate"], row["momentum"], row["seed"])
        # vmap and a single run may round differently in the last bit: 1e-5 on the loss
        # (the grid points differ by >= 4e-3); percentages of 9 or 12 mosaics must agree exactly.
        assert row["final_loss"] == pytest.approx(float(h.loss[-1]), abs=1e-5), where
        assert got == {**want, "final_loss": got["final_loss"]}, where
        finals[where] = float(h.loss[-1])
    # The points really differ: a mislabelled row could not match its retrained loss.
    for s in range(seeds):
        losses = sorted(finals[(lr, mom, s)] for lr, mom in expected_points)
        assert min(np.diff(losses)) > 1e-3, losses
