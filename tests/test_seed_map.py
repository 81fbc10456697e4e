"""How the seeds are mapped (``vmap``, ``lax.map``, ``mix:G``) changes the speed, not the numbers.

The reference is ``vmap``, the mapping the host loop used before there was a choice (and which
``tests/test_chunks.py`` checks against the whole-run scan): every other mapping trains the same
seeds and must give its parameters and history. ``map_seeds`` itself is checked against a
Python loop over the seeds, on integer arithmetic so that equality is exact.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.cli import main
from attnjax.data import build_mosaic_dataset
from attnjax.errors import ConfigError
from attnjax.experiments import train_seeds
from attnjax.loop import HostLoop
from attnjax.programs import Programs, map_seeds, resolve_seed_map
from attnjax.protocol import SEED_MAP_DEFAULTS, parse_seed_map
from attnjax.train import Hyper, TrainConfig

MAPS = ("vmap", "map", "mix:2")


@pytest.mark.parametrize("seed_map", ["vmap", "map", "mix:2", "mix:3", "mix:5", "mix:8"])
def test_map_seeds_is_a_loop_over_the_seeds(seed_map):
    """5 seeds: mix:2 and mix:3 pad (to 6), mix:5 is one group, mix:8 more than the seeds; each traced once."""
    traced = []

    def one(x, w, shared):  # x [3], w [] per seed; shared [3]
        traced.append(1)
        return {"y": x * w + shared, "s": jnp.sum(x) * w}

    x = jnp.arange(15, dtype=jnp.int32).reshape(5, 3)
    w = jnp.array([2, -1, 3, 0, 5], jnp.int32)
    shared = jnp.array([7, 8, 9], jnp.int32)
    got = jax.jit(map_seeds(one, seed_map, (0, 0, None)))(x, w, shared)
    for s in range(5):
        want = {"y": np.asarray(x[s]) * int(w[s]) + np.asarray(shared), "s": int(np.sum(x[s])) * int(w[s])}
        np.testing.assert_array_equal(got["y"][s], want["y"])
        assert int(got["s"][s]) == want["s"]
    assert got["y"].shape == (5, 3) and len(traced) == 1


def test_map_seeds_in_blocks_maps_each_block():
    """``blocks``: the seed axis cut into equal blocks (one per device), each mapped inside."""
    x = jnp.arange(12, dtype=jnp.int32).reshape(6, 2)
    for seed_map in ("map", "mix:2"):
        got = jax.jit(map_seeds(lambda x, c: x * 3 + c, seed_map, (0, None), blocks=2))(x, jnp.int32(1))
        np.testing.assert_array_equal(got, np.asarray(x) * 3 + 1)


def test_seed_maps_are_spelled_one_way():
    assert [parse_seed_map(t) for t in ("vmap", " map", "mix:04")] == ["vmap", "map", "mix:4"]
    for bad in ("pmap", "mix", "mix:1", "mix:0", "mix:-2", "mix:2.5", ""):
        with pytest.raises(ConfigError, match="vmap, map or mix:G"):
            parse_seed_map(bad)
    with pytest.raises(ValueError, match="in_axes"):
        map_seeds(lambda x: x, "map", (1,))


def test_the_default_is_per_family_and_backend(monkeypatch):
    """None resolves from the measured table on CPU; an unmeasured backend and your own modules get vmap."""
    for family in ("linear", "mlp", "cnn"):
        assert resolve_seed_map(None, TrainConfig(model=family)) == SEED_MAP_DEFAULTS["cpu"][family]
    assert resolve_seed_map(None, TrainConfig(modules=(object(), object()))) == "vmap"
    assert resolve_seed_map("mix:03", TrainConfig()) == "mix:3"
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert {resolve_seed_map(None, TrainConfig(model=f)) for f in ("linear", "mlp", "cnn")} == {"vmap"}


def _assert_alike(ref, runs, *, exact: bool) -> None:
    """``runs`` trained what ``ref`` did: bit for bit, or every parameter and loss within 1e-6 of the leaf's
    largest magnitude (about 8 float32 ulps) and every metric count identical."""
    if exact:
        def trained(h):  # the attention metrics are sums of float32 attention weights: see below
            return h._replace(train_attention=None, test_attention=None)

        for a, b in zip(jax.tree_util.tree_leaves((ref.params, trained(ref.history))),
                        jax.tree_util.tree_leaves((runs.params, trained(runs.history)))):
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
        # The mean attention on the truth and the entropy add float32 weights over the split: XLA:CPU sums them
        # in another order under vmap than for one seed (as for the MLP below), so they agree to float32 rounding
        # even where the parameters they are computed from are bit for bit the same.
        for a, b in zip(jax.tree_util.tree_leaves((ref.history.train_attention, ref.history.test_attention)),
                        jax.tree_util.tree_leaves((runs.history.train_attention, runs.history.test_attention))):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
        return
    for a, b in zip(jax.tree_util.tree_leaves(ref.params), jax.tree_util.tree_leaves(runs.params)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.max(np.abs(a - b)) <= 1e-6 * np.max(np.abs(a))
    np.testing.assert_allclose(runs.history.loss, ref.history.loss, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves((ref.history.train_attention, ref.history.test_attention)),
                    jax.tree_util.tree_leaves((runs.history.train_attention, runs.history.test_attention))):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree_util.tree_leaves((ref.history.train, ref.history.test)),
                    jax.tree_util.tree_leaves((runs.history.train, runs.history.test))):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


#: Why the MLP and the CNN are compared to float32 rounding and not bit for bit (measured on XLA:CPU,
#: jax 0.10.1): XLA:CPU compiles one seed's computation to other kernels when a seed axis is there.
#: The focus MLP's last layer (hidden -> one score) is a matrix-vector product that XLA fuses into
#: its own loop for one seed (``maximum_dot_fusion``) but keeps as a batched ``dot`` under vmap; a
#: CNN bias gradient (``[3, 24, 120]`` summed over its middle axis) goes to YNNPACK under vmap and
#: stays in XLA's loop for one seed (``[24, 120]``). The kernels add in different orders, so the
#: last bit of some sums differs, and a few steps of training carry it to about one ulp of each
#: parameter (measured: at most 2e-7 of a leaf's largest magnitude; the tests allow 1e-6). A
#: mapping always gives the same bits run after run; only the choice between mappings moves them.
#: The linear models' products took the same kernels every time they were tried.
ALIKE = [("linear", "soft", True), ("linear", "hard-reinforce", True), ("mlp", "soft", False),
         ("mlp", "hard", False)]


@pytest.mark.parametrize("model, loss, exact", ALIKE, ids=[f"{m}-{loss}" for m, loss, _ in ALIKE])
def test_linear_and_mlp_train_alike_under_every_seed_map(tiny, model, loss, exact):
    """5 seeds (mix:2 pads them to 6), 3 epochs: vmap's parameters and history, bit for bit for the linear
    models, to float32 rounding for the MLP (:data:`ALIKE` says why)."""
    data, info = tiny
    config = TrainConfig.for_data(info, model=model, loss=loss, hidden=8, epochs=3, batch_size=4)
    runs = {m: train_seeds(config, data, seeds=5, learning_rate=0.3, host=HostLoop(seed_map=m)) for m in MAPS}
    for m in MAPS:
        assert runs[m].seed_map == m and runs[m].traces == 1
        _assert_alike(runs["vmap"], runs[m], exact=exact)


def test_the_cnn_trains_alike_to_float32_rounding_under_every_seed_map():
    """The paper's CNN pair (im2col, the CPU path), hard attention, 3 seeds, 2 epochs on random 28x28 images:
    vmap's parameters and loss within 1e-6 of each leaf's scale (measured: 1.3e-7, one ulp), its metric
    counts identical; :data:`ALIKE` says why not bit for bit."""
    rng = np.random.default_rng(0)
    images = rng.random((60, 28, 28, 1), dtype=np.float32)
    data, info = build_mosaic_dataset(images, np.arange(60) % 6, fg_classes=(0, 1, 2), bg_classes=(3, 4, 5), m=3,
                                      n_train=8, n_test=4, default_model="cnn")
    config = TrainConfig.for_data(info, model="cnn", conv="im2col", loss="hard", epochs=2, batch_size=4)
    runs = {m: train_seeds(config, data, seeds=3, learning_rate=0.1, host=HostLoop(seed_map=m)) for m in MAPS}
    for m in MAPS[1:]:
        _assert_alike(runs["vmap"], runs[m], exact=False)


def test_the_seed_map_is_part_of_the_program_cache_key(tiny):
    data, info = tiny
    config = TrainConfig.for_data(info, model="linear", epochs=2, batch_size=4)
    programs = Programs()
    keys, hparams = jax.random.split(jax.random.key(0), 2), Hyper.tile(2, 0.1)
    for seed_map in ("vmap", "map", "vmap"):
        state = programs.init(config, keys, hparams, seed_map=seed_map)(keys, hparams)
        programs.advance(config, state, hparams, data, seed_map=seed_map)
    assert programs.traces[config] == 2  # vmap's program reused, map's its own


def test_the_command_records_the_seed_map(tmp_path):
    argv = ["--dataset", "orthogonal", "--classes", "3", "--m", "3", "--seeds", "3", "--epochs", "1",
            "--losses", "soft"]
    for given, recorded in ((["--seed-map", "mix:2"], "mix:2"), ([], SEED_MAP_DEFAULTS["cpu"]["linear"])):
        out = tmp_path / f"run{len(given)}"
        assert main(["compare", *argv, *given, "--out", str(out)]) == 0
        entry = json.loads((out / "results.json").read_text())["config"]["paradigms"]["soft"]
        assert entry["seed_map"] == recorded and "conv" not in entry


DEVICES = textwrap.dedent(
    """
    import json, jax, numpy as np
    from attnjax.data import load_orthogonal
    from attnjax.experiments import train_seeds
    from attnjax.loop import HostLoop
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=4, m=3, n_train=16, n_test=8, noise=0.1, random_position=True, seed=2)
    config = TrainConfig.for_data(info, loss="soft", model="linear", epochs=3, batch_size=4)
    out = {}
    for seed_map in ("vmap", "map", "mix:2"):
        host = HostLoop(seed_map=seed_map)
        runs = train_seeds(config, data, seeds=6, learning_rate=0.3, devices=2, host=host)
        hlo = "".join(c.as_text() for c in host.programs._compiled.values())
        trained = runs.history._replace(train_attention=None, test_attention=None)
        attention = (runs.history.train_attention, runs.history.test_attention)
        out[seed_map] = {"leaves": [np.asarray(x).tolist() for x in jax.tree_util.tree_leaves((runs.params, trained))],
                         "attention": [np.asarray(x).tolist() for x in jax.tree_util.tree_leaves(attention)],
                         "collectives": [op for op in ("all-gather", "all-to-all", "collective-permute", "all-reduce")
                                         if op in hlo]}
    print(json.dumps(out))
    """
)


def test_on_two_devices_each_device_maps_its_own_seeds():
    """The linear models on a 2-device mesh, 6 seeds (3 a device; mix:2 pads each device's to 4): vmap's
    numbers bit for bit, and no collective in the programs, so no device waits for another's seeds."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", DEVICES], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = json.loads(out.stdout.strip().splitlines()[-1])
    for seed_map in MAPS:
        assert runs[seed_map]["collectives"] == [], seed_map
        for a, b in zip(runs["vmap"]["leaves"], runs[seed_map]["leaves"]):
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
        for a, b in zip(runs["vmap"]["attention"], runs[seed_map]["attention"]):  # float32 sums: _assert_alike
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)


def test_the_benchmark_runs_its_code_path_at_a_tiny_size(tmp_path):
    """``benchmarks/seed_map.py --tiny``: the script's whole path (data, programs, rounds, ratios, JSON) on
    whatever backend JAX has, so that it runs on a GPU as it is."""
    path = Path(__file__).parents[1] / "benchmarks" / "seed_map.py"
    spec = importlib.util.spec_from_file_location("seed_map_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.modules.pop(spec.name)
    out = tmp_path / "seed_map.json"
    assert bench.main(["--tiny", "--rounds", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["machine"]["backend"] == jax.default_backend() and doc["machine"]["cpu"]
    groups = {(r["model"], r["conv"], r["seeds"]) for r in doc["rows"]}
    assert groups == {("linear", None, 3), ("cnn", "lax", 2)}
    for row in doc["rows"]:
        assert row["median_s"] > 0 and row["per_seed_step_ms"] > 0
        assert (row["time_vs_vmap"] == 1.0) == (row["seed_map"] == "vmap")
    assert {r["seed_map"] for r in doc["rows"] if r["model"] == "linear"} == set(MAPS)
