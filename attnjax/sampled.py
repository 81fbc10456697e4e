r"""Sampled hard-attention estimators and LVML by EM, as per-example surrogate losses.

Same signature as `attnjax.losses` plus a keyword-only PRNG key::

    loss(focus_logits [B, m], segments [B, m, ...], labels [B], classify, *, key) -> [B]

Each returns a *surrogate*: differentiate its mean to get the estimator; its
value is stated per function. With ``alpha = softmax(f)``, ``CE_j = -log
softmax(g(x_j))_y`` and the exact hard-attention loss ``L = sum_j alpha_j CE_j``:

* `reinforce_hard_loss`: unbiased for ``grad L`` (score function).
* `gumbel_hard_loss`: straight-through Gumbel-softmax; biased for the
  focus (unbiased for the classifier), measured in `attnjax.estimators`.
* `lvml_em_losses`: the EM surrogate, whose gradient *equals* the
  gradient of [`attnjax.losses.lvml_loss`][] (no sampling; no key).

Masked segments (focus logit ``-inf``) are never sampled and get zero weight.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .losses import Classifier, _check_shapes, segment_log_probs

__all__ = ["reinforce_hard_loss", "gumbel_hard_loss", "lvml_em_losses", "update_baseline"]

_sg = jax.lax.stop_gradient


def _gather(segments: jax.Array, z: jax.Array) -> jax.Array:
    """``segments[b, z[b, s]]`` for ``z [B, k]``: ``[B, k, *segment_shape]``."""
    return jax.vmap(lambda seg, idx: seg[idx])(segments, z)


def _without_replacement(key, log_alpha, k):
    """Gumbel-top-k sample and unbiased priority-sampling weights ``alpha_i / q_i(kappa)``.

    kappa is the (k+1)-th largest perturbed log-probability and
    ``q_i = P(log alpha_i + G > kappa) = 1 - exp(-exp(log alpha_i - kappa))``;
    conditioned on kappa each of the others is kept independently, which makes
    ``sum_{i in S} alpha_i / q_i h(i)`` unbiased for ``sum_i alpha_i h(i)``
    (Duffield et al. 2007; Kool et al. 2019). With k = m, kappa = -inf and q = 1.
    """
    perturbed = log_alpha + jax.random.gumbel(key, log_alpha.shape, log_alpha.dtype)
    top, z = jax.lax.top_k(perturbed, min(k + 1, log_alpha.shape[-1]))
    z = z[:, :k]
    if k == log_alpha.shape[-1]:
        return z, jnp.take_along_axis(jnp.exp(log_alpha), z, axis=-1)
    kappa = top[:, k:]
    log_a = jnp.take_along_axis(log_alpha, z, axis=-1)
    log_q = jnp.log(-jnp.expm1(-jnp.exp(log_a - kappa)))
    # k above the number of unmasked segments: picks of -inf segments weigh 0.
    return z, jnp.where(jnp.isfinite(log_a), jnp.exp(log_a - log_q), 0.0)


def reinforce_hard_loss(
    focus_logits, segments, labels, classify: Classifier, *, key, baseline=0.0,
    num_samples: int = 1, replace: bool = True,
) -> jax.Array:
    r"""REINFORCE (score function) estimator of the hard-attention gradient.

    Draws k segments per example and returns
    $\sum_s w_s [\mathrm{CE}_{z_s} + \mathrm{sg}(\mathrm{CE}_{z_s} - b)
    (\log\alpha_{z_s} - \mathrm{sg}\log\alpha_{z_s})]$, whose gradient is
    $\sum_s w_s [\nabla\mathrm{CE}_{z_s} + (\mathrm{CE}_{z_s}-b)\nabla\log\alpha_{z_s}]$.

    * ``replace=True``: z_s i.i.d. from alpha, ``w_s = 1/k``; the value is the
      mean sampled CE. Unbiased for any constant (or stop-gradient, sample-
      independent) baseline b, since $E[\nabla\log\alpha_z] = 0$.
    * ``replace=False``: k distinct segments by Gumbel-top-k, ``w_s`` the
      priority-sampling weights (see ``_without_replacement``); value and
      gradient are unbiased (not self-normalised, which would be biased).

    Arguments:
        focus_logits, segments, labels, classify: as in `attnjax.losses`.
        key: PRNG key for this batch.
        baseline: scalar b, or ``[B]`` per example (stop-gradient is applied).
        num_samples: k >= 1 (at most m when ``replace=False``).
        replace: sample with or without replacement.

    Returns:
        ``[B]`` surrogate losses.

    Raises:
        ValueError: bad shapes, k < 1, or k > m without replacement.
    """
    _check_shapes(focus_logits, segments, labels)
    batch, m = focus_logits.shape
    if num_samples < 1 or (not replace and num_samples > m):
        raise ValueError(f"num_samples must be in 1..{m if not replace else 'inf'}, got {num_samples}")
    log_alpha = jax.nn.log_softmax(focus_logits, axis=-1)
    if replace:
        z = jax.random.categorical(key, focus_logits, axis=-1, shape=(num_samples, batch)).T
        weights = jnp.full(z.shape, 1.0 / num_samples, log_alpha.dtype)
    else:
        z, weights = _without_replacement(key, _sg(log_alpha), num_samples)
    ce = -segment_log_probs(_gather(segments, z), labels, classify)  # [B, k]
    log_a = jnp.take_along_axis(log_alpha, z, axis=-1)
    log_a = jnp.where(jnp.isfinite(log_a), log_a, 0.0)  # masked picks (weight 0) only
    advantage = _sg(ce - jnp.reshape(jnp.asarray(baseline, ce.dtype), (-1, 1)))
    return jnp.sum(_sg(weights) * (ce + advantage * (log_a - _sg(log_a))), axis=-1)


def update_baseline(b, batch_loss, decay: float = 0.9):
    """The authors' moving-average baseline: ``b <- decay * b + (1 - decay) * L``.

    Arguments:
        b: current baseline (scalar array; lives in the training loop's carry).
        batch_loss: the batch's mean (sampled) loss L; gradients are stopped.
        decay: weight of the old value.

    Returns:
        The new baseline, same shape as ``b``.
    """
    return decay * b + (1.0 - decay) * _sg(batch_loss)


def gumbel_hard_loss(focus_logits, segments, labels, classify: Classifier, *, key, temperature=1.0):
    r"""Straight-through Gumbel-softmax estimator of hard attention.

    With $G_j$ i.i.d. Gumbel, $h = \mathrm{onehot}(\arg\max_j f_j + G_j)$
    (an exact sample from alpha) and $s = \mathrm{softmax}((f + G)/\tau)$, the
    weights are $w = h + s - \mathrm{sg}(s)$: forward one-hot, backward
    relaxed. The classifier sees the selected segment $\sum_j w_j x_j$
    (= x_z in the forward pass), so the value is the sampled CE and the
    classifier gradient is unbiased; the focus gradient
    $\nabla_x \mathrm{CE}(g(x_z))\cdot\sum_j x_j \partial s_j/\partial f$
    is a first-order (Taylor) guess, biased at every tau > 0 (the alternative
    $\sum_j w_j \mathrm{CE}_j$ is not used). Needs a classifier that is
    differentiable in its input (for tokens: pass embeddings).

    Arguments:
        focus_logits, segments, labels, classify: as in `attnjax.losses`.
        key: PRNG key for this batch.
        temperature: tau > 0; may be a traced array (annealing schedules).

    Returns:
        ``[B]`` surrogate losses (value: CE of one sampled segment).
    """
    _check_shapes(focus_logits, segments, labels)
    perturbed = focus_logits + jax.random.gumbel(key, focus_logits.shape, focus_logits.dtype)
    soft = jax.nn.softmax(perturbed / temperature, axis=-1)
    hard = jax.nn.one_hot(jnp.argmax(perturbed, axis=-1), focus_logits.shape[-1], dtype=soft.dtype)
    weights = hard + soft - _sg(soft)
    pooled = jnp.einsum("bm,bm...->b...", weights, segments)
    return -segment_log_probs(pooled[:, None], labels, classify)[:, 0]


def lvml_em_losses(focus_logits, segments, labels, classify: Classifier) -> jax.Array:
    r"""LVML by EM: M-step losses at the E-step posterior.

    E-step: $q_j \propto \alpha_j\,\mathrm{softmax}(g(x_j))_y$ (stop-gradient).
    M-step: focus $-\sum_j q_j\log\alpha_j$ plus classifier
    $\sum_j q_j\,\mathrm{CE}_j$. Their gradient equals that of
    [`attnjax.losses.lvml_loss`][] (Fisher's identity); the value exceeds it by
    the posterior entropy $H(q)$. Masked segments (q = 0, log alpha = -inf)
    contribute exactly 0.

    Arguments / Returns: as in `attnjax.losses` (no key); ``[B]``.
    """
    _check_shapes(focus_logits, segments, labels)
    log_alpha = jax.nn.log_softmax(focus_logits, axis=-1)
    log_p = segment_log_probs(segments, labels, classify)
    q = _sg(jax.nn.softmax(log_alpha + log_p, axis=-1))
    joint = jnp.where(q > 0, log_alpha + log_p, 0.0)  # safe where: no 0 * -inf
    return -jnp.sum(q * joint, axis=-1)
