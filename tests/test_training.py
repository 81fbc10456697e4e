"""One compiled program trains many seeds: equal to a loop, traced once, deterministic."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.data import load_orthogonal
from attnjax.errors import ConfigError, NonFiniteLossError
from attnjax.experiments import train_seeds
from attnjax.train import Hyper, TrainConfig, init_params, make_train

S = 4


@pytest.fixture(scope="module")
def tiny():
    data, info = load_orthogonal(num_classes=4, m=3, n_train=32, n_test=16, noise=0.05,
                                 random_position=True, seed=3)
    return data, info


def _config(info, **kw):
    kw.setdefault("epochs", 4)
    kw.setdefault("batch_size", 8)
    kw.setdefault("model", "mlp")
    kw.setdefault("hidden", 8)
    return TrainConfig.for_data(info, **kw)


def test_vmap_over_seeds_equals_python_loop(tiny):
    data, info = tiny
    train = make_train(_config(info, loss="hybrid", switch_epoch=2))
    keys = jax.random.split(jax.random.key(0), S)
    lrs = jnp.array([0.05, 0.1, 0.2, 0.4])  # a learning-rate grid vmaps like seeds
    batched = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, Hyper.tile(S, lrs), data)
    single = jax.jit(train)
    for s in range(S):
        one = single(keys[s], Hyper(learning_rate=lrs[s]), data)
        # Same arithmetic, different batching: XLA may reorder float32 sums, so allow rounding.
        chex.assert_trees_all_close(
            jax.tree_util.tree_map(lambda x: x[s], batched), one, rtol=1e-4, atol=1e-5
        )


def test_many_seeds_compile_once(tiny):
    data, info = tiny
    train = chex.assert_max_traces(make_train(_config(info, loss="lvml")), n=1)
    run = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))
    for n_seeds in (8, 8):  # a second call with the same shapes must not retrace
        keys = jax.random.split(jax.random.key(1), n_seeds)
        jax.block_until_ready(run(keys, Hyper.tile(n_seeds, 0.1), data))
    assert run._cache_size() == 1


def test_same_seed_same_numbers_different_seed_different(tiny):
    data, info = tiny
    config = _config(info, loss="soft")
    a = train_seeds(config, data, seeds=2, learning_rate=0.1, seed=7)
    b = train_seeds(config, data, seeds=2, learning_rate=0.1, seed=7)
    c = train_seeds(config, data, seeds=2, learning_rate=0.1, seed=8)
    chex.assert_trees_all_equal(a.params, b.params)
    np.testing.assert_array_equal(a.history.loss, b.history.loss)
    assert not np.allclose(a.history.loss, c.history.loss)
    # Two seeds inside one run differ too (different init and batch order).
    assert not np.allclose(a.history.loss[0], a.history.loss[1])


def test_history_shapes_and_percentages(tiny):
    data, info = tiny
    runs = train_seeds(_config(info, loss="hard", epochs=3), data, seeds=2, learning_rate=0.1)
    h = runs.history
    assert h.loss.shape == (2, 3)
    assert h.test.accuracy.shape == (2, 3, 3)  # seeds, epochs, inference rules
    cells = h.test.ftpt + h.test.ffpt + h.test.ftpf + h.test.ffpf
    np.testing.assert_allclose(cells, 100.0, atol=1e-3)
    np.testing.assert_allclose(h.test.ftpt + h.test.ftpf, np.broadcast_to(h.test.focus_accuracy[..., None], cells.shape), atol=1e-3)


def test_training_reduces_loss_and_learns(tiny):
    data, info = tiny
    runs = train_seeds(_config(info, loss="soft", epochs=30), data, seeds=2, learning_rate=0.2)
    assert np.all(runs.history.loss[:, -1] < 0.5 * runs.history.loss[:, 0])
    assert np.all(runs.history.test.accuracy[:, -1, 2] > 90)


def test_hybrid_first_epochs_equal_soft(tiny):
    """Before the switch the hybrid is soft attention, bit for bit (same keys)."""
    data, info = tiny
    soft = train_seeds(_config(info, loss="soft"), data, seeds=2, learning_rate=0.1)
    hybrid = train_seeds(_config(info, loss="hybrid", switch_epoch=2), data, seeds=2, learning_rate=0.1)
    np.testing.assert_allclose(hybrid.history.loss[:, :2], soft.history.loss[:, :2], rtol=1e-6)
    assert not np.allclose(hybrid.history.loss[:, 2:], soft.history.loss[:, 2:])


def test_non_finite_loss_is_reported_with_seed_and_epoch(tiny):
    data, info = tiny
    config = _config(info, loss="soft", model="linear", epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"seed \d+, epoch \d+"):
        train_seeds(config, data, seeds=2, learning_rate=1e30)


def test_fixed_focus_trains_only_classifier(tiny):
    data, info = tiny
    config = _config(info, loss="hard", fixed_focus=True)
    runs = train_seeds(config, data, seeds=2, learning_rate=0.1, alpha=0.6)
    assert set(runs.params) == {"classifier"}
    # The frozen attention puts 0.6 on the foreground, so argmax-focus is always right.
    np.testing.assert_allclose(runs.history.test.focus_accuracy, 100.0)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(loss="sparse"), "unknown loss"),
        (dict(model="transformer"), "unknown model"),
        (dict(m=1), "m must be at least 2"),
        (dict(epochs=0), "epochs must be positive"),
        (dict(switch_epoch=99), "switch_epoch"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw)


def test_batch_larger_than_data(tiny):
    data, info = tiny
    with pytest.raises(ConfigError, match="batch size"):
        train_seeds(_config(info, batch_size=1000), data, seeds=1)


def test_paper_cnn_sizes():
    """On 32x32x3 the paper's CNNs flatten to 1024 (focus) and 400 (classifier) features."""
    config = TrainConfig(model="cnn", num_classes=3, segment_shape=(32, 32, 3))
    params = jax.eval_shape(lambda key: init_params(config, key), jax.random.key(0))
    focus_dense = params["focus"]["params"]["Dense_0"]["kernel"]
    classifier_dense = params["classifier"]["params"]["Dense_0"]["kernel"]
    assert focus_dense.shape == (1024, 512)
    assert classifier_dense.shape == (400, 120)
    assert all("bias" not in layer for layer in params["focus"]["params"].values())
