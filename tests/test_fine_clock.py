"""The fine clock: evaluations inside an epoch, the attention metrics, flow time and paired statistics.

Each check compares with an independent computation:

* the in-epoch points against the parameters reached after the same number of steps by a plain
  Python loop over :func:`attnjax.train.make_step` (which step is evaluated, not what a step does);
* a_z, the normalised entropy and the a_z >= 0.5 share against NumPy on the attention the trained
  model gives (``softmax`` written out, ``-sum p log p / log n``);
* flow time against sums written by hand;
* the paired interval against ``scipy.stats.ttest_rel`` and against a t-quantile typed from a table.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.clock import ADAPTIVE_NOTE, flow_time_scale, flow_times
from attnjax.data import load_orthogonal
from attnjax.errors import ConfigError
from attnjax.stats import paired_difference
from attnjax.train import Hyper, TrainConfig, init_state, make_predict, make_step, make_train


@pytest.fixture(scope="module")
def data():
    # 40 training mosaics in batches of 4: 10 steps an epoch, so eval_every=3 gives points after
    # steps 3, 6 and 9 (P = (10 - 1) // 3 = 3), and eval_every=5 gives one point (step 5; 10 is the end).
    return load_orthogonal(num_classes=3, m=4, n_train=40, n_test=12, noise=0.1, random_position=True, seed=3)


def _config(info, **kw):
    return TrainConfig.for_data(info, **{"epochs": 2, "batch_size": 4, "hidden": 8, "model": "mlp", "loss": "soft",
                                         **kw})


def _run(config, data, seeds=2, lr=0.1):
    keys = jax.random.split(jax.random.key(0), seeds)
    return jax.device_get(jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(
        keys, Hyper.tile(seeds, learning_rate=lr), data[0]))


def test_epoch_records_unchanged_by_the_fine_clock(data):
    """Evaluating inside the epoch changes nothing it evaluates: params and epoch-end records are bit for bit equal."""
    info = data[1]
    plain, fine = _run(_config(info), data), _run(_config(info, eval_every=3), data)
    assert plain.history.points is None
    for name in ("loss", "train", "test", "train_attention", "test_attention"):
        for a, b in zip(jax.tree_util.tree_leaves(getattr(plain.history, name)),
                        jax.tree_util.tree_leaves(getattr(fine.history, name))):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree_util.tree_leaves(plain.params), jax.tree_util.tree_leaves(fine.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(fine.history.points.loss).shape == (2, 2, 3)  # [seeds, epochs, P]


def _numpy_attention(alpha, truth, mask):
    """a_z, normalised entropy and [a_z >= 0.5], each [N], written out in NumPy float64."""
    alpha, truth, mask = np.asarray(alpha, np.float64), np.asarray(truth), np.asarray(mask)
    a_z = (alpha * truth).sum(-1)
    n = mask.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(mask & (alpha > 0), alpha * np.log(alpha), 0.0).sum(-1)
    entropy = np.where(n > 1, h / np.log(np.maximum(n, 2)), 0.0)
    return a_z, entropy, (a_z >= 0.5).astype(float)


def test_points_evaluate_after_the_right_steps(data):
    """Point p holds the metrics of the parameters after (p + 1) * eval_every steps of the epoch, on the first
    eval_mosaics mosaics; compared with a host loop over single steps and NumPy's attention metrics."""
    ds, info = data
    config = _config(info, eval_every=3, eval_mosaics=7, epochs=1)
    result = _run(config, data, seeds=1)
    # the host loop: the same permutation and batch keys as make_epoch, one step at a time
    hp = Hyper.tile(1, learning_rate=0.1)
    hp1 = jax.tree_util.tree_map(lambda x: x[0], hp)
    key = jax.random.split(jax.random.key(0), 1)[0]
    state = init_state(config, key, hp1)
    step, predict = jax.jit(make_step(config), static_argnums=()), make_predict(config)
    _, perm_key = jax.random.split(state.key)
    batches = np.asarray(jax.random.permutation(perm_key, 40))[:40].reshape(10, 4)
    carry = (state.params, state.opt_state, state.paradigm_state)
    for i in range(9):
        carry, _ = step(carry, jnp.asarray(batches[i]), jax.random.fold_in(perm_key, i + 1), hp1, ds, 0)
        if (i + 1) % 3:
            continue
        p = (i + 1) // 3 - 1
        split = ds.test
        segs = ds.pool[np.asarray(split.index)[:7]]
        pred = predict(carry[0], hp1, segs, jnp.asarray(split.fg_pos)[:7], jnp.asarray(split.mask)[:7])
        a_z, entropy, half = _numpy_attention(pred.alpha, np.asarray(split.truth)[:7], np.asarray(split.mask)[:7])
        got = result.history.points.test_attention
        # float32 model outputs averaged over 7 mosaics: 1e-6 absolute covers the float32 sum's rounding
        np.testing.assert_allclose(np.asarray(got.a_z)[0, 0, p], a_z.mean(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.entropy)[0, 0, p], entropy.mean(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.a_z_half)[0, 0, p], 100 * half.mean(), atol=1e-4)
        focus = 100 * np.mean(np.asarray(pred.alpha).argmax(-1) == np.asarray(split.fg_pos)[:7])
        np.testing.assert_allclose(np.asarray(result.history.points.test.focus_accuracy)[0, 0, p], focus, atol=1e-4)


def test_epoch_end_attention_matches_numpy(data):
    """The epoch-end a_z, entropy and a_z >= 0.5 (whole test split) against NumPy on the trained attention."""
    ds, info = data
    config = _config(info, epochs=3)
    result = _run(config, data, seeds=2)
    predict = make_predict(config)
    for s in range(2):
        params = jax.tree_util.tree_map(lambda x, s=s: x[s], result.params)
        pred = predict(params, Hyper(), ds.pool[ds.test.index], ds.test.fg_pos, ds.test.mask)
        a_z, entropy, half = _numpy_attention(pred.alpha, ds.test.truth, ds.test.mask)
        got = result.history.test_attention
        np.testing.assert_allclose(np.asarray(got.a_z)[s, -1], a_z.mean(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.entropy)[s, -1], entropy.mean(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.a_z_half)[s, -1], 100 * half.mean(), atol=1e-4)
        assert 0.0 < entropy.mean() < 1.0  # not a degenerate case where any formula would pass


def test_entropy_with_padding_and_one_segment():
    """Hand-made attention: uniform over 3 real segments of 4 gives entropy 1, one real segment gives 0."""
    from attnjax.metrics import attention_means, attention_sums

    alpha = jnp.array([[1 / 3, 1 / 3, 1 / 3, 0.0], [1.0, 0.0, 0.0, 0.0], [0.7, 0.1, 0.1, 0.1]])
    mask = jnp.array([[True, True, True, False], [True, False, False, False], [True] * 4])
    truth = jnp.array([[False, True, False, False], [True, False, False, False], [True, False, False, False]])
    got = attention_means(attention_sums(alpha, truth, mask, jnp.ones(3)), 3)
    h3 = -(0.7 * np.log(0.7) + 3 * 0.1 * np.log(0.1)) / np.log(4)
    np.testing.assert_allclose(float(got.entropy), (1.0 + 0.0 + h3) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(got.a_z), (1 / 3 + 1.0 + 0.7) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(got.a_z_half), 200 / 3, rtol=1e-6)


def test_eval_options_checked():
    info = load_orthogonal(num_classes=3, m=4, n_train=8, n_test=4, seed=0)[1]
    with pytest.raises(ConfigError, match="eval_every"):
        _config(info, eval_every=0)
    with pytest.raises(ConfigError, match="eval_every"):
        _config(info, eval_mosaics=5)
    assert "eval_every" not in _config(info).to_json()  # off: the settings are as before
    assert _config(info, eval_every=4).to_json()["eval_every"] == 4


def test_flow_time_by_hand():
    """t_k = k lr / (1 - mu): lr 0.05, momentum 0.9 gives 0.5 a step; 117 steps (one epoch of 30,000 mosaics in
    batches of 256) is 58.5; plain SGD at 0.1 is 0.1 a step; Adam has none."""
    scale, why = flow_time_scale("sgd", 0.05, 0.9)
    assert why is None
    np.testing.assert_allclose(flow_times([1, 117, 234], scale), [0.5, 58.5, 117.0], rtol=1e-12)
    scale, _ = flow_time_scale("sgd", [0.1, 0.01], 0.0)
    np.testing.assert_allclose(flow_times([10, 20], scale), [[1.0, 2.0], [0.1, 0.2]], rtol=1e-12)
    assert flow_time_scale("adam", 0.01, None) == (None, ADAPTIVE_NOTE)


# -- paired statistics -------------------------------------------------------------------------------

def test_paired_difference_by_hand():
    """Differences 1, 2, 3, 6 (a and b of unequal spreads): mean 3, sd sqrt(14/3), t_{0.975, 3} = 3.182446305
    (a t table), so the interval is 3 -+ 3.182446305 * sqrt(14/3) / 2; 4 of 4 seeds have a > b."""
    a = np.array([11.0, 22.0, 33.0, 46.0])  # spread about 14.6
    b = np.array([10.0, 20.0, 30.0, 40.0])  # spread about 12.9
    got = paired_difference(a, b)
    half = 3.182446305 * np.sqrt(14 / 3) / 2
    np.testing.assert_allclose(got.mean, 3.0, rtol=1e-12)
    np.testing.assert_allclose([got.low, got.high], [3 - half, 3 + half], rtol=1e-8)
    assert int(got.greater) == 4 and got.seeds == 4
    # the paired interval is far narrower than the two samples' stds added (27.9), the old unpaired rule's yardstick
    assert got.high - got.low < 0.3 * (a.std(ddof=1) + b.std(ddof=1))


def test_paired_difference_against_scipy():
    """Against scipy.stats.ttest_rel's confidence interval, per column, at 90% and 99%, one side negative."""
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (7, 3))
    b = a - np.array([0.5, -0.2, 0.0]) + rng.normal(0.0, [0.1, 0.5, 2.0], (7, 3))  # unequal spreads per column
    for level in (0.9, 0.99):
        got = paired_difference(a, b, confidence=level)
        for j in range(3):
            ci = stats.ttest_rel(a[:, j], b[:, j]).confidence_interval(confidence_level=level)
            np.testing.assert_allclose([got.low[j], got.high[j]], [ci.low, ci.high], rtol=1e-10)
            assert got.greater[j] == np.sum(a[:, j] > b[:, j])
    with pytest.raises(ValueError, match="one shape"):
        paired_difference(a, b[:3])


def test_seeds_share_init_and_order_across_paradigms(data):
    """What a seed shares across paradigms: initial focus and classifier parameters, and the loop key that
    draws every epoch's minibatch order and sampling keys (it is the same after each epoch)."""
    info = data[1]
    key = jax.random.key(7)
    hp = Hyper()
    states = {loss: init_state(_config(info, loss=loss), key, hp) for loss in ("soft", "hard", "lvml", "hybrid")}
    ref = states["soft"]
    for state in states.values():
        for a, b in zip(jax.tree_util.tree_leaves(ref.params), jax.tree_util.tree_leaves(state.params)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(jax.random.key_data(ref.key), jax.random.key_data(state.key))


def test_eval_every_past_the_epoch_gives_no_points(data):
    """10 steps an epoch: eval_every 10 or 25 leaves no step strictly inside the epoch (P = 0), and trains as usual."""
    info = data[1]
    plain = _run(_config(info), data)
    for every in (10, 25):
        fine = _run(_config(info, eval_every=every), data)
        assert np.asarray(fine.history.points.loss).shape == (2, 2, 0)
        np.testing.assert_array_equal(np.asarray(fine.history.loss), np.asarray(plain.history.loss))
