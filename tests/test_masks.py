"""Variable-length inputs: padded, masked segments against unpadded references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.data import load_dataset
from attnjax.experiments import compare, evaluate_examples, signature
from attnjax.losses import LOSSES
from attnjax.metrics import count_metrics, predict
from attnjax.train import fixed_focus_attention

B, M, D, K = 12, 6, 5, 3


@pytest.fixture(scope="module")
def padded_problem():
    rng = np.random.default_rng(0)
    counts = rng.integers(2, M + 1, B)
    mask = np.arange(M)[None, :] < counts[:, None]
    segments = rng.normal(size=(B, M, D)).astype(np.float32)
    segments[~mask] = rng.normal(size=(int((~mask).sum()), D)) * 100  # padding content must not matter
    logits = rng.normal(size=(B, M)).astype(np.float32) * 2
    labels = rng.integers(0, K, B)
    W = rng.normal(size=(D, K)).astype(np.float32)
    fg_pos = rng.integers(0, counts)
    return segments, logits, mask, labels, W, counts, fg_pos


def _classify(W):
    return lambda x: x @ W


@pytest.mark.parametrize("name", list(LOSSES))
def test_masked_losses_equal_unpadded_losses(padded_problem, name):
    segments, logits, mask, labels, W, counts, _ = padded_problem
    masked = jnp.where(jnp.asarray(mask), jnp.asarray(logits), -jnp.inf)

    def total(W, logits_):
        return jnp.sum(LOSSES[name](logits_, jnp.asarray(segments), jnp.asarray(labels), _classify(W)))

    got = LOSSES[name](masked, jnp.asarray(segments), jnp.asarray(labels), _classify(jnp.asarray(W)))
    got_grad = jax.grad(total)(jnp.asarray(W), masked)
    want, want_grad = [], np.zeros_like(W)
    for i in range(B):  # one example at a time, with only its real segments
        c = counts[i]
        one = (jnp.asarray(logits[i:i + 1, :c]), jnp.asarray(segments[i:i + 1, :c]), jnp.asarray(labels[i:i + 1]))
        want.append(float(LOSSES[name](*one, _classify(jnp.asarray(W)))[0]))
        want_grad += np.asarray(
            jax.grad(lambda W_, one=one: jnp.sum(LOSSES[name](*one, _classify(W_))))(jnp.asarray(W)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_grad), want_grad, rtol=1e-4, atol=1e-5)
    # The gradient never reaches the padding's logits (and is finite everywhere).
    g_logits = np.asarray(jax.grad(total, argnums=1)(jnp.asarray(W), masked))
    assert np.all(np.isfinite(g_logits)) and np.all(g_logits[~mask] == 0)


def test_masked_predictions_and_metrics_equal_unpadded(padded_problem):
    segments, logits, mask, labels, W, counts, fg_pos = padded_problem
    masked = jnp.where(jnp.asarray(mask), jnp.asarray(logits), -jnp.inf)
    pred = predict(masked, jnp.asarray(segments), _classify(jnp.asarray(W)))
    assert np.all(np.asarray(pred.alpha)[~mask] == 0)
    for i in range(B):
        c = counts[i]
        one = predict(jnp.asarray(logits[i:i + 1, :c]), jnp.asarray(segments[i:i + 1, :c]), _classify(jnp.asarray(W)))
        np.testing.assert_allclose(np.asarray(pred.probs)[:, i], np.asarray(one.probs)[:, 0], rtol=1e-5, atol=1e-6)
    got = count_metrics(pred, jnp.asarray(labels), jnp.asarray(fg_pos))
    # Unpadded reference in NumPy: focus true iff the argmax of the real logits is fg_pos.
    focus = np.array([np.argmax(logits[i, :counts[i]]) == fg_pos[i] for i in range(B)])
    assert float(got.focus_accuracy) == focus.sum()


def test_fixed_focus_attention_skips_padding():
    mask = jnp.array([[True, True, True, False, False], [True, True, True, True, True]])
    w = np.asarray(fixed_focus_attention(0.4, jnp.array([1, 4]), mask))
    np.testing.assert_allclose(w, [[0.3, 0.4, 0.3, 0, 0], [0.15, 0.15, 0.15, 0.15, 0.4]], rtol=1e-6)


def test_variable_length_mosaics_and_training():
    data, info = load_dataset("digits", m_range=(3, 6), n_train=200, n_test=100, seed=1)
    assert info.m == 6 and info.settings["m_range"] == [3, 6]
    pool = np.asarray(data.pool)
    for split in (data.train, data.test):
        index, mask, fg = np.asarray(split.index), np.asarray(split.mask), np.asarray(split.fg_pos)
        counts = mask.sum(1)
        assert counts.min() >= 3 and counts.max() <= 6 and len(set(counts)) > 1
        assert np.all(mask == (np.arange(6)[None, :] < counts[:, None]))  # real segments first
        assert np.all(fg < counts)
        assert np.all(pool[index[~mask]] == 0) and index[~mask].min() == len(pool) - 1
        for row, m_row, f in zip(index, mask, fg):
            backgrounds = np.delete(row[m_row], f)
            assert len(set(backgrounds)) == len(backgrounds)  # distinct backgrounds
    runs = compare(data, info, losses=["hard"], seeds=2, epochs=2, batch_size=50)["hard"]
    examples = evaluate_examples(runs, data)
    assert np.all(examples["alpha"][:, ~np.asarray(data.test.mask)] == 0)
    np.testing.assert_allclose(examples["alpha"].sum(-1), 1.0, rtol=1e-5)
    sig = signature(runs, data)
    assert np.sum(sig["heatmap"]["own"]) == pytest.approx(100.0)
