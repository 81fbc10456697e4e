"""Sampled estimators: unbiasedness against jax.grad of the exact hard loss, the EM
identity against lvml_loss, and values against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.losses import hard_attention_loss, lvml_loss
from attnjax.sampled import gumbel_hard_loss, lvml_em_losses, reinforce_hard_loss, update_baseline

B, M, D, K = 3, 4, 3, 3
DRAWS = 10_000


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    params = dict(
        focus=jnp.asarray(rng.normal(size=(B, M)), jnp.float32),
        W=jnp.asarray(rng.normal(size=(K, D)), jnp.float32),
        b=jnp.asarray(rng.normal(size=K), jnp.float32),
    )
    segments = jnp.asarray(rng.normal(size=(B, M, D)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, K, B))
    return params, segments, labels


def _mean_loss(loss, params, segments, labels, **kw):
    classify = lambda x: x @ params["W"].T + params["b"]  # noqa: E731
    return jnp.mean(loss(params["focus"], segments, labels, classify, **kw))


def _flat(tree):
    return jnp.concatenate([x.ravel() for x in jax.tree_util.tree_leaves(tree)])


def _sampled_grads(loss, problem, **kw):
    params, segments, labels = problem
    grad = jax.grad(lambda p, key: _mean_loss(loss, p, segments, labels, key=key, **kw))
    keys = jax.random.split(jax.random.key(7), DRAWS)
    return np.asarray(jax.jit(jax.vmap(lambda k: _flat(grad(params, k))))(keys), np.float64)


def _exact(problem):
    params, segments, labels = problem
    return np.asarray(_flat(jax.grad(_mean_loss, argnums=1)(hard_attention_loss, params, segments, labels)))


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(baseline=1.3), dict(baseline=jnp.array([0.5, -2.0, 4.0])),
     dict(num_samples=3), dict(num_samples=2, replace=False, baseline=0.7)],
    ids=["plain", "baseline", "per-example-baseline", "k3", "k2-without-replacement"],
)
def test_reinforce_unbiased(problem, kw):
    g = _sampled_grads(reinforce_hard_loss, problem, **kw)
    se = g.std(axis=0, ddof=1) / np.sqrt(DRAWS)
    z = np.abs(g.mean(axis=0) - _exact(problem)) / se
    print(f"reinforce {kw}: max |mean - exact| = {z.max():.2f} standard errors")
    assert z.max() < 4.0, (kw, z.max())


def test_without_replacement_all_segments_is_exact(problem):
    g = _sampled_grads(reinforce_hard_loss, problem, num_samples=M, replace=False)[:10]
    np.testing.assert_allclose(g, np.broadcast_to(_exact(problem), g.shape), rtol=1e-5, atol=1e-6)


def _np_ce(segments, labels, W, b):
    logits = segments @ W.T + b
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[:, None, None], axis=-1)[..., 0]  # [B, m]


@pytest.mark.parametrize("loss", [reinforce_hard_loss, gumbel_hard_loss])
def test_value_is_ce_of_the_only_possible_segment(problem, loss):
    params, segments, labels = problem
    z = np.array([2, 0, 3])
    focus = jnp.where(jax.nn.one_hot(z, M) > 0, 0.0, -jnp.inf)
    classify = lambda x: x @ params["W"].T + params["b"]  # noqa: E731
    got = loss(focus, segments, labels, classify, key=jax.random.key(0))
    ce = _np_ce(np.asarray(segments, np.float64), np.asarray(labels),
                np.asarray(params["W"], np.float64), np.asarray(params["b"], np.float64))
    np.testing.assert_allclose(np.asarray(got), ce[np.arange(B), z], rtol=1e-5)


def test_gumbel_traced_temperature_and_classifier_unbiased(problem):
    """The classifier sees an exact sample, so its gradient is unbiased; the focus's is not."""
    params, segments, labels = problem
    f = jax.jit(lambda t, k: _mean_loss(gumbel_hard_loss, params, segments, labels, key=k, temperature=t))
    assert np.isfinite(float(f(jnp.float32(0.5), jax.random.key(0))))
    g = _sampled_grads(gumbel_hard_loss, problem, temperature=1.0)
    exact = _exact(problem)
    z = np.abs(g.mean(0) - exact) / (g.std(0, ddof=1) / np.sqrt(DRAWS))
    nc = K * D + K  # the flat vector is W, b, then the focus logits (sorted keys)
    assert z[:nc].max() < 4.0
    bias = np.linalg.norm(g.mean(0)[nc:] - exact[nc:]) / np.linalg.norm(exact[nc:])
    print(f"gumbel tau=1 relative focus-gradient bias: {bias:.3f}, max z {z[nc:].max():.1f}")


def test_em_gradient_equals_lvml_gradient(problem):
    params, segments, labels = problem
    # One masked segment: -inf logit must give exactly zero and no NaN.
    params = dict(params, focus=params["focus"].at[1, 2].set(-jnp.inf))
    em = jax.grad(_mean_loss, argnums=1)(lvml_em_losses, params, segments, labels)
    ref = jax.grad(_mean_loss, argnums=1)(lvml_loss, params, segments, labels)
    for a, r in zip(jax.tree_util.tree_leaves(em), jax.tree_util.tree_leaves(ref)):
        assert np.all(np.isfinite(np.asarray(a)))
        np.testing.assert_allclose(np.asarray(a), np.asarray(r), rtol=1e-5, atol=1e-7)


def test_em_value_is_lvml_plus_posterior_entropy(problem):
    params, segments, labels = problem
    to64 = lambda x: np.asarray(x, np.float64)  # noqa: E731
    f = to64(params["focus"])
    log_alpha = f - f.max(-1, keepdims=True)
    log_alpha -= np.log(np.exp(log_alpha).sum(-1, keepdims=True))
    joint = log_alpha - _np_ce(to64(segments), np.asarray(labels), to64(params["W"]), to64(params["b"]))
    lvml = -np.log(np.exp(joint).sum(-1))
    q = np.exp(joint + lvml[:, None])
    expected = lvml - (q * np.log(q)).sum(-1)
    classify = lambda x: x @ params["W"].T + params["b"]  # noqa: E731
    got = lvml_em_losses(params["focus"], segments, labels, classify)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_update_baseline_is_pure_moving_average():
    b = update_baseline(jnp.float32(2.0), jnp.float32(1.0))
    np.testing.assert_allclose(float(b), 0.9 * 2.0 + 0.1 * 1.0, rtol=1e-6)
    b = jax.vmap(update_baseline, in_axes=(0, 0, None))(jnp.array([0.0, 1.0]), jnp.array([1.0, 3.0]), 0.5)
    np.testing.assert_allclose(np.asarray(b), [0.5, 2.0], rtol=1e-6)


def test_bad_num_samples(problem):
    params, segments, labels = problem
    with pytest.raises(ValueError):
        _mean_loss(reinforce_hard_loss, params, segments, labels, key=jax.random.key(0),
                   num_samples=M + 1, replace=False)
