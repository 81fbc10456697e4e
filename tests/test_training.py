"""One compiled program trains many seeds: equal to a loop, traced once, deterministic.

The training loop, its per-epoch metrics and the fixed-focus losses are checked against
hand-written references: a plain optax loop over the documented key schedule, and
NumPy (float64) transcriptions of the inference rules, the metric cells and the losses,
which use the library only to apply the focus and classifier networks.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.data import load_orthogonal
from attnjax.errors import ConfigError, NonFiniteLossError
from attnjax.experiments import train_seeds
from attnjax.losses import LOSSES, loss_at_attention
from attnjax.metrics import METRICS
from reference_loop import reference_run
from attnjax.train import Hyper, TrainConfig, init_params, make_apply, make_train

S = 4


# Not conftest's tiny: the loss and 90 % accuracy thresholds below were set on these 32 / 16 mosaics.
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
            jax.tree_util.tree_map(lambda x, s=s: x[s], batched), one, rtol=1e-4, atol=1e-5
        )


def test_many_seeds_compile_once(tiny):
    data, info = tiny
    train = make_train(_config(info, loss="lvml"))
    traces = []

    def counted(*args):
        traces.append(1)  # runs only while JAX traces, never in the compiled program
        return train(*args)

    run = jax.jit(jax.vmap(counted, in_axes=(0, 0, None)))
    for lr in (0.1, 0.2):  # a second call with the same shapes must not retrace
        keys = jax.random.split(jax.random.key(1), 8)
        jax.block_until_ready(run(keys, Hyper.tile(8, lr), data))
    assert len(traces) == 1
    # The counter does see a retrace: another seed count is another shape.
    jax.block_until_ready(run(jax.random.split(jax.random.key(1), 4), Hyper.tile(4, 0.1), data))
    assert len(traces) == 2


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


def _np_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _segments(data, split):
    part = getattr(data, split)
    segments = np.asarray(data.pool)[np.asarray(part.index)]  # [N, m, ...]
    return segments, np.asarray(part.labels), np.asarray(part.fg_pos)


def _logits(net, x):
    """The library's network applied to a NumPy batch (float32 in, float64 out)."""
    return np.asarray(net(jnp.asarray(x, jnp.float32)), np.float64)


def _numpy_metrics(config, params, data, split):
    """Percent of mosaics per metric, transcribed in NumPy from the paper's definitions.

    The library only applies the networks: focus scores and logits of each segment,
    and logits of the attention-pooled segment.
    """
    focus_fn, classify_fn = make_apply(config)
    segments, labels, fg_pos = _segments(data, split)
    n, m = segments.shape[:2]
    flat = segments.reshape((n * m,) + segments.shape[2:])
    alpha = _np_softmax(_logits(focus_fn(params), flat).reshape(n, m))
    seg_probs = _np_softmax(_logits(classify_fn(params), flat).reshape(n, m, -1))
    pooled = np.einsum("bm,bm...->b...", alpha, segments)
    probs = [
        seg_probs[np.arange(n), alpha.argmax(1)],       # argmax: the most-attended segment alone
        np.einsum("bm,bmk->bk", alpha, seg_probs),      # expected: attention-weighted probabilities
        _np_softmax(_logits(classify_fn(params), pooled)),  # pooled: classify the weighted segment
    ]
    focus_true = alpha.argmax(1) == fg_pos
    pred_true = np.stack([p.argmax(1) == labels for p in probs])  # [3, N]
    percent = lambda x: 100.0 * np.mean(x, axis=-1)
    return {
        "accuracy": percent(pred_true), "focus_accuracy": percent(focus_true),
        "ftpt": percent(focus_true & pred_true), "ffpt": percent(~focus_true & pred_true),
        "ftpf": percent(focus_true & ~pred_true), "ffpf": percent(~focus_true & ~pred_true),
    }


def test_final_epoch_metrics_match_numpy(tiny):
    """history.train/test[-1] against a NumPy recomputation from the final parameters."""
    data, info = tiny
    config = _config(info, loss="hard", epochs=3)
    runs = train_seeds(config, data, seeds=2, learning_rate=0.1)
    h = runs.history
    assert h.loss.shape == (2, 3)
    assert h.test.accuracy.shape == (2, 3, 3)  # seeds, epochs, inference rules
    assert h.test.focus_accuracy.shape == (2, 3)
    for s in range(2):
        params = jax.tree_util.tree_map(lambda x, s=s: x[s], runs.params)
        for split in ("train", "test"):
            want = _numpy_metrics(config, params, data, split)
            got = getattr(h, split)
            for name in METRICS:
                np.testing.assert_allclose(
                    np.asarray(getattr(got, name))[s, -1], want[name], atol=1e-4,
                    err_msg=f"seed {s}, {split} {name}",
                )


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


def _reference_run(config, key, lr, data, *, alpha=None, reuse_first_permutation=False):
    """``make_train`` written out by hand (``tests/reference_loop.py``): ``(params, per-epoch loss)``.

    With ``alpha`` the focus is frozen at weights built here (alpha on the foreground,
    (1 - alpha) / (m - 1) elsewhere) and only the classifier learns, through
    ``loss_at_attention``. ``reuse_first_permutation`` is the planted bug to tell apart.
    """
    focus_fn, classify_fn = make_apply(config)
    m = config.m

    def batch_loss(p, segments, labels, fg_pos, epoch, sample_key, baseline):
        if alpha is None:
            flat = segments.reshape((-1,) + segments.shape[2:])
            logits = focus_fn(p)(flat).reshape(segments.shape[:2])
            return jnp.mean(LOSSES[config.loss](logits, segments, labels, classify_fn(p)))
        weights = jnp.where(jnp.arange(m)[None, :] == fg_pos[:, None], alpha, (1 - alpha) / (m - 1))
        return jnp.mean(loss_at_attention(config.loss, weights, segments, labels, classify_fn(p)))

    return reference_run(config, key, lr, data, batch_loss, momentum=config.momentum,
                         classifier_only=alpha is not None, reuse_first_permutation=reuse_first_permutation)


def _max_gap(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_each_epoch_draws_a_new_minibatch_order(tiny):
    """The loss trajectory follows the documented key schedule, not a repeated permutation."""
    data, info = tiny
    config = _config(info, loss="soft", epochs=4, hidden=4)
    key, lr = jax.random.key(5), 0.2
    got = jax.jit(make_train(config))(key, Hyper(learning_rate=lr), data)
    params, losses = _reference_run(config, key, lr, data)
    np.testing.assert_allclose(got.history.loss, losses, rtol=1e-4)
    assert _max_gap(got.params, params) < 1e-4
    _, stale = _reference_run(config, key, lr, data, reuse_first_permutation=True)
    np.testing.assert_allclose(stale[0], losses[0], rtol=1e-6)  # same first epoch...
    assert np.all(np.abs(got.history.loss[1:] - stale[1:]) > 1e-3 * np.abs(stale[1:]))  # ...then not


def _np_fixed_focus_loss(kind, alpha, config, params, data):
    """Mean training loss at frozen attention alpha, transcribed in NumPy (float64)."""
    _, classify_fn = make_apply(config)
    classify = classify_fn(params)
    segments, labels, fg_pos = _segments(data, "train")
    n, m = segments.shape[:2]
    w = np.where(np.arange(m)[None, :] == fg_pos[:, None], alpha, (1.0 - alpha) / (m - 1))
    if kind == "soft":
        log_p = np.log(_np_softmax(_logits(classify, np.einsum("bm,bm...->b...", w, segments))))
        return -np.mean(log_p[np.arange(n), labels])
    seg_p = _np_softmax(_logits(classify, segments.reshape((n * m,) + segments.shape[2:]))).reshape(n, m, -1)
    p_y = seg_p[np.arange(n), :, labels]  # [N, m]
    if kind == "hard":
        return np.mean(-np.sum(w * np.log(p_y), axis=1))
    return np.mean(-np.log(np.sum(w * p_y, axis=1)))  # lvml


@pytest.mark.parametrize("kind, alpha", [("soft", 0.6), ("hard", 0.6), ("lvml", 1.0)])
def test_fixed_focus_equals_classifier_only_sgd(tiny, kind, alpha):
    """Frozen attention: the classifier a hand-written optax loop trains, and L(alpha) and
    the incentive of the record recomputed in NumPy from it (backward difference at 1)."""
    data, info = tiny
    config = _config(info, loss=kind, fixed_focus=True, model="linear", epochs=3)
    key, lr = jax.random.key(2), 0.2
    got = jax.jit(make_train(config))(key, Hyper(learning_rate=lr, alpha=alpha), data)
    assert set(got.params) == {"classifier"}
    params, losses = _reference_run(config, key, lr, data, alpha=alpha)
    assert _max_gap(got.params, params) < 1e-5
    np.testing.assert_allclose(got.history.loss, losses, rtol=1e-5)
    d = config.incentive_step
    at = lambda a: _np_fixed_focus_loss(kind, a, config, params, data)
    incentive = at(alpha) - at(alpha + d) if alpha + d <= 1 else at(alpha - d) - at(alpha)
    loss_alpha, got_incentive = np.asarray(got.history.fixed_focus_loss[-1], np.float64)
    np.testing.assert_allclose(loss_alpha, at(alpha), rtol=1e-5)
    # A difference of two losses ~1: float32 rounding of each is ~1e-7 absolute.
    np.testing.assert_allclose(got_incentive, incentive, rtol=1e-3, atol=1e-6)
    assert abs(incentive) > 1e-4  # the two sides of the difference do differ


@pytest.mark.parametrize("kind, fixed", [("soft", False), ("hard", True)])
def test_chunked_evaluation_equals_one_chunk(kind, fixed):
    """18 test and 30 train mosaics in chunks of 4 (zero-weight padding rows) or in one chunk."""
    data, info = load_orthogonal(num_classes=4, m=3, n_train=30, n_test=18, noise=0.1,
                                 random_position=True, seed=4)
    histories = []
    for eval_batch_size in (4, 1024):
        config = _config(info, loss=kind, fixed_focus=fixed, epochs=3, hidden=4,
                         eval_batch_size=eval_batch_size)
        assert config.eval_chunk == eval_batch_size
        run = jax.jit(make_train(config))(jax.random.key(0), Hyper(learning_rate=0.2, alpha=0.6), data)
        histories.append(run.history)
    chunked, whole = histories
    assert (chunked.fixed_focus_loss is not None) == fixed
    assert jax.tree_util.tree_structure(chunked) == jax.tree_util.tree_structure(whole)
    pairs = zip(jax.tree_util.tree_leaves_with_path(chunked), jax.tree_util.tree_leaves(whole))
    for (path, a), b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(loss="sparse"), "unknown loss"),
        (dict(model="resnet"), "unknown model"),
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
