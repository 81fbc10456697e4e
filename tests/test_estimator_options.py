"""The sampled estimators' own options change what they compute: REINFORCE's baseline decay
(``--baseline-decay``) and the Gumbel-softmax temperature (``--temperature``).

Each expectation is written out here by hand (the moving average) or in NumPy (the
straight-through weights and their gradient), never read from the code under test. Every
test uses two values of the option, neither or only one of them the default, so an option
that is silently ignored (always 0.9, or no division by tau) cannot pass.
"""

from __future__ import annotations

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.config import Hyper, TrainConfig
from attnjax.paradigms import HARD_REINFORCE, HYBRID
from attnjax.sampled import gumbel_hard_loss, reinforce_hard_loss, update_baseline
from attnjax.train import make_apply, make_batch_loss, make_train
from conftest import run_cli

DECAYS = (0.5, 0.9)
TEMPERATURES = (0.5, 2.0)


# --------------------------------------------------------------------------- REINFORCE's baseline decay


@pytest.mark.parametrize("decay", DECAYS)
def test_the_baseline_update_is_the_moving_average_at_each_decay(decay):
    """b <- d b + (1 - d) L, typed by hand: at d = 0.5 from b = 2, L = 1: 1.5; at d = 0.9: 1.9."""
    b, batch_loss = 2.0, 1.0
    want = {0.5: 1.5, 0.9: 1.9}[decay]
    assert want == pytest.approx(decay * b + (1 - decay) * batch_loss)
    # float32 arithmetic on numbers of order 1: relative 1e-6.
    assert float(update_baseline(jnp.float32(b), jnp.float32(batch_loss), decay)) == pytest.approx(want, rel=1e-6)
    # The paradigm's own update reads the decay from the config (what --baseline-decay sets) ...
    config = TrainConfig(loss="hard-reinforce", baseline_decay=decay)
    got = HARD_REINFORCE.update_state(jnp.float32(b), jnp.float32(batch_loss), config, Hyper(), jnp.int32(0))
    assert float(got) == pytest.approx(want, rel=1e-6)
    # ... and so does the hybrid's second phase (switch at epoch 0: the second phase's state moves).
    config = TrainConfig(loss="hybrid", hybrid_to="hard-reinforce", baseline_decay=decay)
    first, second = HYBRID.update_state(((), jnp.float32(b)), jnp.float32(batch_loss), config,
                                        Hyper(switch_epoch=jnp.int32(0)), jnp.int32(0))
    assert float(second) == pytest.approx(want, rel=1e-6)


def test_training_at_two_decays_follows_the_hand_written_loop_at_each(tiny, monkeypatch):
    """The same key at decays 0.5 and 0.9: each run is the hand-written loop (tests/reference_loop.py,
    its moving average typed here rather than attnjax's update_baseline) at its decay, and the two
    runs' focus parameters differ, so the decay reaches the training."""
    import reference_loop

    monkeypatch.setattr(reference_loop, "update_baseline", lambda b, loss, d: d * b + (1 - d) * loss)
    data, info = tiny
    key, lr = jax.random.key(4), 0.2
    focus = {}
    for decay in DECAYS:
        config = TrainConfig.for_data(info, loss="hard-reinforce", model="mlp", hidden=6, epochs=3, batch_size=4,
                                      momentum=0.9, baseline_decay=decay)
        got = jax.jit(make_train(config))(key, Hyper(learning_rate=lr), data)
        focus_fn, classify_fn = make_apply(config)

        def batch_loss(p, seg, labels, fg_pos, epoch, sample_key, baseline, focus_fn=focus_fn,
                       classify_fn=classify_fn):
            logits = focus_fn(p)(seg.reshape((-1,) + seg.shape[2:])).reshape(seg.shape[:2])
            return jnp.mean(reinforce_hard_loss(logits, seg, labels, classify_fn(p), key=sample_key,
                                                baseline=baseline))

        params, losses = reference_loop.reference_run(config, key, lr, data, batch_loss, momentum=0.9, baseline_decay=decay)
        # float32 training, 9 steps of the same operations in another order: relative 1e-4 (as in
        # tests/test_sampled_training.py).
        np.testing.assert_allclose(got.history.loss, losses, rtol=1e-4)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                               got.params, params)
        focus[decay] = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(got.params["focus"])])
    # Far above the 1e-6 agreement above: the decays train different focus models.
    assert np.max(np.abs(focus[0.5] - focus[0.9])) > 1e-3


def test_the_command_trains_at_the_decay_it_is_given(tmp_path, capsys):
    """--baseline-decay 0.5 and 0.9 on the same seed: each is recorded, and the runs differ."""
    histories = {}
    for decay in DECAYS:
        out = tmp_path / f"d{decay}"
        code, _, err = run_cli(["compare", "--dataset", "digits", "--n-train", "40", "--n-test", "20",
                                "--losses", "hard-reinforce", "--seeds", "1", "--epochs", "2", "--batch-size", "8",
                                "--lr", "0.1", "--baseline-decay", str(decay), "--compile-cache", "off",
                                "--out", str(out)], capsys)
        assert code == 0, err
        doc = json.loads((out / "results.json").read_text())
        assert doc["config"]["paradigms"]["hard-reinforce"]["baseline_decay"] == pytest.approx(decay)
        histories[decay] = np.asarray(doc["results"]["hard-reinforce"]["history"]["loss"], np.float64)
    # The first step has baseline 0 either way; from the second on, the baselines differ.
    assert not np.array_equal(histories[0.5], histories[0.9])


# --------------------------------------------------------------------------- the Gumbel temperature


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _straight_through_focus_grad(f, gumbel, segments, labels, W, b, tau):
    """d/df of the summed straight-through loss, in NumPy (float64).

    weights w = onehot(argmax(f + G)) + s - stop_gradient(s), s = softmax((f + G) / tau); the
    classifier g(x) = x W + b sees x = sum_j w_j x_j (= x_z forward). With
    c_j = grad_x CE(g(x_z), y) . x_j and ds_j/df_i = s_j (delta_ij - s_i) / tau:
    dL/df_i = s_i (c_i - sum_j s_j c_j) / tau.
    """
    z = np.argmax(f + gumbel, -1)
    s = _softmax((f + gumbel) / tau)
    x_z = segments[np.arange(len(z)), z]  # [B, D]
    p = _softmax(x_z @ W + b)
    grad_x = (p - np.eye(W.shape[1])[labels]) @ W.T  # [B, D]
    c = np.einsum("bd,bmd->bm", grad_x, segments)
    return s * (c - np.sum(s * c, -1, keepdims=True)) / tau


B, M, D, K = 4, 5, 3, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(11)
    return dict(f=rng.normal(size=(B, M)), segments=rng.normal(size=(B, M, D)), labels=rng.integers(0, K, B),
                W=rng.normal(size=(D, K)), b=rng.normal(size=K), u=rng.normal(size=D))


def test_the_focus_gradient_is_the_straight_through_weights_at_each_temperature(problem):
    """One fixed Gumbel draw (the key's), the focus gradient at tau = 0.5 and tau = 2 against NumPy."""
    key = jax.random.key(5)
    grads = {}
    with jax.enable_x64(True):
        f, segments = jnp.asarray(problem["f"]), jnp.asarray(problem["segments"])
        labels = jnp.asarray(problem["labels"], jnp.int32)
        W, b = jnp.asarray(problem["W"]), jnp.asarray(problem["b"])
        gumbel = np.asarray(jax.random.gumbel(key, f.shape, f.dtype))  # the draw the estimator makes with key
        for tau in TEMPERATURES:
            def total(f, tau=tau):
                return jnp.sum(gumbel_hard_loss(f, segments, labels, lambda x: x @ W + b, key=key, temperature=tau))

            got = np.asarray(jax.grad(total)(f))
            want = _straight_through_focus_grad(problem["f"], gumbel, problem["segments"], problem["labels"],
                                                problem["W"], problem["b"], tau)
            # float64 on both sides, numbers of order 1: agreement to rounding, 1e-10 relative.
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
            grads[tau] = got
    # The temperatures give different gradients (by far more than the tolerance above).
    assert np.max(np.abs(grads[0.5] - grads[2.0])) > 1e-2 * np.max(np.abs(grads[2.0]))


class _Linear(nn.Module):
    """``x @ kernel (+ bias)`` in the input's own dtype: float64 under x64 (attnjax's dense layers compute
    in float32), so the paradigm's gradient can be checked to rounding."""

    features: int
    bias: bool
    squeeze: bool = False

    @nn.compact
    def __call__(self, x):
        y = x @ self.param("kernel", nn.initializers.zeros, (x.shape[-1], self.features), jnp.float64)
        if self.bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float64)
        return y[:, 0] if self.squeeze else y


def test_the_hard_gumbel_paradigm_trains_at_the_temperature_it_is_given(problem):
    """Through the training loop's batch loss: Hyper.temperature (what --temperature sets) reaches the
    estimator. A linear focus f = x . u: dL/du = mean_b sum_i dL_b/df_bi x_bi, with dL_b/df from NumPy."""
    key = jax.random.key(8)
    config = TrainConfig(loss="hard-gumbel", num_classes=K, m=M, segment_shape=(D,),
                         modules=(_Linear(1, False, True), _Linear(K, True)))
    x, labels = problem["segments"], problem["labels"]
    f = x @ problem["u"]
    grads = {}
    with jax.enable_x64(True):
        params = {"focus": {"params": {"kernel": jnp.asarray(problem["u"])[:, None]}},
                  "classifier": {"params": {"kernel": jnp.asarray(problem["W"]), "bias": jnp.asarray(problem["b"])}}}
        gumbel = np.asarray(jax.random.gumbel(key, (B, M), jnp.float64))
        loss = make_batch_loss(config)
        for tau in TEMPERATURES:
            got = jax.grad(loss)(params, Hyper(temperature=jnp.float64(tau)), jnp.asarray(x), jnp.zeros(B, jnp.int32),
                                 jnp.ones((B, M), bool), jnp.asarray(labels, jnp.int32), key, (), jnp.int32(0))
            got = np.asarray(got["focus"]["params"]["kernel"])[:, 0]
            df = _straight_through_focus_grad(f, gumbel, x, labels, problem["W"], problem["b"], tau)
            want = np.einsum("bm,bmd->d", df, x) / B
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)  # float64 rounding, as above
            grads[tau] = got
    assert np.max(np.abs(grads[0.5] - grads[2.0])) > 1e-2 * np.max(np.abs(grads[2.0]))
