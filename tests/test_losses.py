"""The three losses against an independent NumPy implementation, plus their limits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.losses import LOSSES, hard_attention_loss, lvml_loss, soft_attention_loss

B, M, D, K = 7, 5, 6, 4


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_losses(focus, segments, labels, W, b):
    """Direct transcription of paper-notes section 1 in float64 NumPy (no log-space tricks)."""
    alpha = np_softmax(focus)  # [B, m]
    pooled = np.einsum("bm,bmd->bd", alpha, segments)
    p_pooled = np_softmax(pooled @ W.T + b)  # [B, K]
    p_seg = np_softmax(segments @ W.T + b)  # [B, m, K]
    rows = np.arange(len(labels))
    soft = -np.log(p_pooled[rows, labels])
    hard = np.sum(alpha * -np.log(p_seg[rows, :, labels]), axis=1)
    lvml = -np.log(np.sum(alpha * p_seg[rows, :, labels], axis=1))
    return {"soft": soft, "hard": hard, "lvml": lvml}


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return dict(
        focus=rng.normal(size=(B, M)),
        segments=rng.normal(size=(B, M, D)),
        labels=rng.integers(0, K, B),
        W=rng.normal(size=(K, D)),
        b=rng.normal(size=K),
    )


@pytest.mark.parametrize("name", ["soft", "hard", "lvml"])
def test_matches_numpy(problem, name):
    p = problem
    expected = np_losses(p["focus"], p["segments"], p["labels"], p["W"], p["b"])[name]
    W, b = jnp.asarray(p["W"], jnp.float32), jnp.asarray(p["b"], jnp.float32)
    got = LOSSES[name](
        jnp.asarray(p["focus"], jnp.float32), jnp.asarray(p["segments"], jnp.float32),
        jnp.asarray(p["labels"]), lambda x: x @ W.T + b,
    )
    assert got.shape == (B,)
    # float32 against float64 on O(1) inputs: a few ulps of values of size ~1-10.
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-5, atol=2e-5)


def test_ordering_between_paradigms(problem):
    """Jensen: LVML <= HA (log of a mean >= mean of logs), independently of the implementation."""
    p = problem
    W, b = jnp.asarray(p["W"], jnp.float32), jnp.asarray(p["b"], jnp.float32)
    args = (jnp.asarray(p["focus"], jnp.float32), jnp.asarray(p["segments"], jnp.float32),
            jnp.asarray(p["labels"]), lambda x: x @ W.T + b)
    assert np.all(np.asarray(lvml_loss(*args)) <= np.asarray(hard_attention_loss(*args)) + 1e-6)


@pytest.mark.parametrize("name", ["soft", "hard", "lvml"])
def test_one_hot_attention_is_cross_entropy_of_focused_segment(problem, name):
    p = problem
    z = np.array([0, 3, 1, 4, 2, 2, 0])
    focus = np.full((B, M), -1e4)
    focus[np.arange(B), z] = 1e4  # softmax is exactly one-hot in float32
    W, b = p["W"], p["b"]
    logits = p["segments"][np.arange(B), z] @ W.T + b
    expected = -np.log(np_softmax(logits)[np.arange(B), p["labels"]])
    got = LOSSES[name](
        jnp.asarray(focus, jnp.float32), jnp.asarray(p["segments"], jnp.float32),
        jnp.asarray(p["labels"]), lambda x: x @ jnp.asarray(W.T, jnp.float32) + jnp.asarray(b, jnp.float32),
    )
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", ["soft", "hard", "lvml"])
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_extreme_logits_stay_finite(problem, name, scale):
    """Focus and classifier logits of magnitude 1e4: values and gradients finite."""
    rng = np.random.default_rng(1)
    focus = jnp.asarray(scale * rng.choice([-1.0, 1.0], size=(B, M)), jnp.float32)
    segments = jnp.asarray(problem["segments"], jnp.float32)
    labels = jnp.asarray(problem["labels"])
    W = jnp.asarray(scale * rng.normal(size=(K, D)), jnp.float32)

    def total(focus, W):
        return jnp.sum(LOSSES[name](focus, segments, labels, lambda x: x @ W.T))

    value, grads = jax.value_and_grad(total, argnums=(0, 1))(focus, W)
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_gradients_match_finite_differences(problem):
    """d loss / d focus from autodiff against central differences (float64 NumPy reference)."""
    p = problem
    eps = 1e-6
    for name in ("soft", "hard", "lvml"):
        W, b = jnp.asarray(p["W"], jnp.float32), jnp.asarray(p["b"], jnp.float32)
        seg, lab = jnp.asarray(p["segments"], jnp.float32), jnp.asarray(p["labels"])
        grad = jax.grad(
            lambda f, name=name, seg=seg, lab=lab, W=W, b=b: LOSSES[name](f, seg, lab, lambda x: x @ W.T + b).sum())(
            jnp.asarray(p["focus"], jnp.float32)
        )
        numeric = np.zeros((B, M))
        for j in range(M):
            step = np.zeros((B, M))
            step[:, j] = eps
            up = np_losses(p["focus"] + step, p["segments"], p["labels"], p["W"], p["b"])[name]
            down = np_losses(p["focus"] - step, p["segments"], p["labels"], p["W"], p["b"])[name]
            numeric[:, j] = (up - down) / (2 * eps)
        # float32 autodiff against a float64 difference quotient (error ~1e-9): float32 rounding dominates.
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-4, atol=1e-5)


def test_shape_errors_are_clear():
    classify = lambda x: x @ jnp.ones((D, K))
    with pytest.raises(ValueError, match="segments must have shape"):
        soft_attention_loss(jnp.zeros((B, M)), jnp.zeros((B, M + 1, D)), jnp.zeros(B, int), classify)
    with pytest.raises(AssertionError):
        hard_attention_loss(jnp.zeros((B, M)), jnp.zeros((B, M, D)), jnp.zeros(B + 1, int), classify)
