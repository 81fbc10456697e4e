"""Inference rules and metric counts against direct NumPy computations."""

import jax.numpy as jnp
import numpy as np

from attnjax.metrics import METRICS, count_metrics, predict, signature_histogram, to_percent


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_rules(focus, seg, W):
    """Attention and the three rules' probabilities of a linear classifier x -> W x, in NumPy."""
    B = focus.shape[0]
    alpha = np_softmax(focus)
    seg_p = np_softmax(seg @ W.T)
    rule1 = seg_p[np.arange(B), alpha.argmax(1)]
    rule2 = np.einsum("bm,bmk->bk", alpha, seg_p)
    rule3 = np_softmax(np.einsum("bm,bmd->bd", alpha, seg) @ W.T)
    return alpha, [rule1, rule2, rule3]


def test_rules_and_counts_match_numpy():
    rng = np.random.default_rng(0)
    B, m, D, K = 50, 4, 3, 5
    focus = rng.normal(size=(B, m)) * 3
    seg = rng.normal(size=(B, m, D))
    W = rng.normal(size=(K, D))
    labels = rng.integers(0, K, B)
    fg_pos = rng.integers(0, m, B)
    pred = predict(jnp.asarray(focus), jnp.asarray(seg), lambda x: x @ jnp.asarray(W).T)
    alpha, (rule1, rule2, rule3) = np_rules(focus, seg, W)
    for got, want in zip(np.asarray(pred.probs), [rule1, rule2, rule3]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    counts = count_metrics(pred, jnp.asarray(labels), jnp.asarray(fg_pos))
    focus_true = alpha.argmax(1) == fg_pos
    for r, probs in enumerate([rule1, rule2, rule3]):
        pred_true = probs.argmax(1) == labels
        assert counts.accuracy[r] == pred_true.sum()
        assert counts.ftpt[r] == (focus_true & pred_true).sum()
        assert counts.ffpt[r] == (~focus_true & pred_true).sum()
        assert counts.ftpf[r] == (focus_true & ~pred_true).sum()
        assert counts.ffpf[r] == (~focus_true & ~pred_true).sum()
    assert counts.focus_accuracy == focus_true.sum()


def test_signature_histogram_bins():
    a_z = np.array([0.0, 0.19, 0.2, 0.5, 0.99, 1.0])
    s_y = np.array([1.0, 0.0, 0.39, 0.61, 0.8, 0.05])
    hist = signature_histogram(a_z, s_y)
    assert hist.shape == (5, 5)
    expected = np.zeros((5, 5))
    for i, j in [(0, 4), (0, 0), (1, 1), (2, 3), (4, 4), (4, 0)]:
        expected[i, j] += 100 / 6
    np.testing.assert_allclose(hist, expected)


def test_padding_rows_with_zero_weight_do_not_count():
    """The chunked evaluation's padding: rows of weight 0 change no count; percent of the real rows."""
    rng = np.random.default_rng(1)
    n, pad, m, K = 13, 3, 4, 3
    focus = rng.normal(size=(n + pad, m)) * 3
    seg = rng.normal(size=(n + pad, m, 2))
    W = rng.normal(size=(K, 2))
    labels = rng.integers(0, K, n + pad)
    fg_pos = rng.integers(0, m, n + pad)
    weight = np.r_[np.ones(n), np.zeros(pad)].astype(np.float32)
    pred = predict(jnp.asarray(focus), jnp.asarray(seg), lambda x: x @ jnp.asarray(W).T)
    percent = to_percent(count_metrics(pred, jnp.asarray(labels), jnp.asarray(fg_pos), jnp.asarray(weight)), n)
    # NumPy on the n real rows only.
    alpha, probs = np_rules(focus[:n], seg[:n], W)
    focus_true = alpha.argmax(1) == fg_pos[:n]
    pred_true = np.stack([p.argmax(1) == labels[:n] for p in probs])
    want = {
        "accuracy": pred_true, "focus_accuracy": focus_true, "ftpt": focus_true & pred_true,
        "ffpt": ~focus_true & pred_true, "ftpf": focus_true & ~pred_true, "ffpf": ~focus_true & ~pred_true,
    }
    for name in METRICS:
        np.testing.assert_allclose(getattr(percent, name), 100.0 * want[name].mean(-1), rtol=1e-6,
                                   err_msg=name)
