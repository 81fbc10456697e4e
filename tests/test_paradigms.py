"""Paradigms as objects: a paradigm defined outside the library trains through every layer.

The toy is hard attention with a temperature on the focus logits, built here from the public
:class:`attnjax.paradigms.Paradigm` interface without editing or registering anything in the
library. It goes through ``make_train``, ``compare`` and the command's result document and table.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnjax import report
from attnjax.experiments import compare
from attnjax.focus import init_params, make_apply
from attnjax.paradigms import REGISTRY, Paradigm, get_paradigm
from attnjax.protocol import PARADIGMS
from attnjax.train import Hyper, TrainConfig, make_train


def hard_with_temperature(temperature: float) -> Paradigm:
    def make_loss(config, hparams, epoch):
        def loss(logits, segments, labels, classify, key, state):
            # E_{z ~ softmax(f / T)} CE(g(x_z), y), written out here rather than calling the library
            alpha = jax.nn.softmax(logits / temperature, axis=-1)
            flat = segments.reshape((-1,) + segments.shape[2:])
            log_p = jax.nn.log_softmax(classify(flat), axis=-1).reshape(segments.shape[:2] + (-1,))
            ce = -jnp.take_along_axis(log_p, labels[:, None, None], axis=-1)[..., 0]
            return jnp.sum(alpha * ce, axis=-1)

        return loss

    return Paradigm("hard-temp", make_loss, rule="expected", objective=f"hard attention at T = {temperature}")


def _run(config, data, seeds=2):
    keys = jax.random.split(jax.random.key(4), seeds)
    return jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(keys, Hyper.tile(seeds, 0.3), data)


def test_a_toy_paradigm_trains_through_make_train(tiny):
    data, info = tiny
    toy = hard_with_temperature(1.0)
    config = TrainConfig.for_data(info, loss=toy, epochs=3, batch_size=4)
    assert config.rule == 1 and config.to_json()["loss"] == "hard-temp" and "hard-temp" not in PARADIGMS
    # at T = 1 the toy is hard attention: the same numbers as the built-in paradigm
    ours, hard = _run(config, data), _run(TrainConfig.for_data(info, loss="hard", epochs=3, batch_size=4), data)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(hard)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # at T = 4 the first step is plain SGD on the tempered loss: check it against a direct optax step
    config4 = TrainConfig.for_data(info, loss=hard_with_temperature(4.0), epochs=1, batch_size=12, momentum=0.0)
    key = jax.random.key(4)
    init_key, loop_key = jax.random.split(key)
    params = init_params(config4, init_key)
    focus, classify = make_apply(config4)
    segments = data.pool[data.train.index]
    _, perm_key = jax.random.split(loop_key)
    rows = jax.random.permutation(perm_key, 12)

    def mean_loss(p):
        x = segments[rows]
        logits = focus(p)(x.reshape((-1,) + x.shape[2:])).reshape(x.shape[:2])
        return jnp.mean(hard_with_temperature(4.0).make_loss(config4, None, 0)(
            logits, x, data.train.labels[rows], classify(p), None, ()))

    grads = jax.grad(mean_loss)(params)
    expected = optax.apply_updates(params, jax.tree_util.tree_map(lambda g: -0.3 * g, grads))
    got = jax.jit(make_train(config4))(key, Hyper(learning_rate=0.3), data)
    for a, b in zip(jax.tree_util.tree_leaves(got.params), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_a_toy_paradigm_runs_through_compare_and_the_commands_table(tiny):
    data, info = tiny
    runs = compare(data, info, losses=["soft", hard_with_temperature(2.0)], seeds=2, epochs=2, batch_size=4,
                   learning_rate=0.3)
    assert list(runs) == ["soft", "hard-temp"]
    doc = report.compare_results_json({"paradigms": {}}, runs)
    assert doc["results"]["hard-temp"]["rule"] == "expected"
    table = report.compare_table(doc["results"])
    assert table.splitlines()[3].startswith("hard-temp  expected")
    assert len(doc["results"]["hard-temp"]["history"]["loss"][0]) == 2


def test_the_registry_says_what_each_built_in_paradigm_is():
    assert tuple(REGISTRY) == PARADIGMS
    assert get_paradigm("soft").rule == "pooled" and all(p.rule == "expected" for n, p in REGISTRY.items() if n != "soft")
    assert set(get_paradigm("hard-reinforce").options) == {"samples", "sample_replace", "baseline_decay"}
    assert get_paradigm("hard-gumbel").hyper == ("temperature",)
    assert not get_paradigm("soft").second_phase and get_paradigm("lvml").second_phase
