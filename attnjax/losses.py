"""The three attention paradigms as pure, per-example losses.

Every loss has one signature, in the spirit of ``optax`` losses::

    loss(focus_logits, segments, labels, classify) -> per_example_loss

Arguments (all losses):
    focus_logits: ``[B, m]`` focus scores f(x_j); the attention is
        ``alpha = softmax(focus_logits, axis=-1)``.
    segments: ``[B, m, *segment_shape]`` the m segments of each example.
    labels: ``[B]`` integer class labels in ``[0, K)``.
    classify: a function mapping ``[N, *segment_shape]`` to logits ``[N, K]``.

Returns:
    ``[B]`` unreduced losses. Average them yourself (the paper uses the mean).

All three are computed in log space, so values and gradients stay finite for
logits of magnitude 1e4. When the attention is one-hot on segment z, all three
equal the cross-entropy of ``classify(x_z)`` at the label.
"""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
from jaxtyping import Float, Int  # shape annotations for the reader and the type checker; not checked at run time

#: ``[N, *segment_shape] -> [N, K]`` logits.
Classifier = Callable[[Float[jax.Array, " N *segment"]], Float[jax.Array, "N K"]]

__all__ = [
    "soft_attention_loss",
    "hard_attention_loss",
    "lvml_loss",
    "segment_log_probs",
    "loss_at_attention",
    "LOSSES",
]


def _check_shapes(focus_logits, segments, labels):
    chex.assert_rank(focus_logits, 2)
    chex.assert_rank(labels, 1)
    batch, m = focus_logits.shape
    if segments.ndim < 3 or segments.shape[:2] != (batch, m):
        raise ValueError(
            f"segments must have shape [B, m, ...] = [{batch}, {m}, ...] to match "
            f"focus_logits, got {segments.shape}"
        )
    chex.assert_shape(labels, (batch,))


def _label_log_prob(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """log softmax(logits)_y for logits ``[..., K]`` and labels broadcastable to ``[...]``."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]


def segment_log_probs(
    segments: Float[jax.Array, "B m *segment"], labels: Int[jax.Array, " B"], classify: Classifier
) -> Float[jax.Array, "B m"]:
    """log softmax(g(x_j))_y for every segment.

    Arguments:
        segments: ``[B, m, *segment_shape]``.
        labels: ``[B]`` integer labels.
        classify: ``[N, *segment_shape] -> [N, K]``.

    Returns:
        ``[B, m]`` log-probability of the true label when each segment is classified alone.
    """
    batch, m = segments.shape[:2]
    logits = classify(segments.reshape((batch * m,) + segments.shape[2:]))
    logits = logits.reshape(batch, m, -1)
    return _label_log_prob(logits, labels[:, None])


def soft_attention_loss(
    focus_logits: Float[jax.Array, "B m"], segments: Float[jax.Array, "B m *segment"], labels: Int[jax.Array, " B"],
    classify: Classifier,
) -> Float[jax.Array, " B"]:
    r"""Soft attention: the classifier sees the attention-weighted average segment.

    .. math::
        L = -\log \mathrm{softmax}\big(g(\textstyle\sum_j \alpha_j x_j)\big)_y,
        \qquad \alpha = \mathrm{softmax}(f)

    Shapes as in the module docstring; returns ``[B]``.
    """
    _check_shapes(focus_logits, segments, labels)
    alpha = jax.nn.softmax(focus_logits, axis=-1)
    pooled = jnp.einsum("bm,bm...->b...", alpha, segments)
    return -_label_log_prob(classify(pooled), labels)


def hard_attention_loss(
    focus_logits: Float[jax.Array, "B m"], segments: Float[jax.Array, "B m *segment"], labels: Int[jax.Array, " B"],
    classify: Classifier,
) -> Float[jax.Array, " B"]:
    r"""Hard attention: the exact expectation of the per-segment cross-entropy.

    .. math::
        L = \sum_j \alpha_j \, \big(-\log \mathrm{softmax}(g(x_j))_y\big)

    This is the expected loss of classifying one segment sampled from alpha,
    computed without sampling. Shapes as in the module docstring; returns ``[B]``.
    """
    _check_shapes(focus_logits, segments, labels)
    alpha = jax.nn.softmax(focus_logits, axis=-1)
    return -jnp.sum(alpha * segment_log_probs(segments, labels, classify), axis=-1)


def lvml_loss(
    focus_logits: Float[jax.Array, "B m"], segments: Float[jax.Array, "B m *segment"], labels: Int[jax.Array, " B"],
    classify: Classifier,
) -> Float[jax.Array, " B"]:
    r"""Latent-variable marginal likelihood: the segment is a latent variable.

    .. math::
        L = -\log \sum_j \alpha_j \,\mathrm{softmax}(g(x_j))_y
          = -\mathrm{logsumexp}_j\big(\log\alpha_j + \log\mathrm{softmax}(g(x_j))_y\big)

    Shapes as in the module docstring; returns ``[B]``.
    """
    _check_shapes(focus_logits, segments, labels)
    log_alpha = jax.nn.log_softmax(focus_logits, axis=-1)
    return -jax.nn.logsumexp(log_alpha + segment_log_probs(segments, labels, classify), axis=-1)


#: The losses by their command-line names (the hybrid is a schedule of these, see ``train``).
LOSSES = {
    "soft": soft_attention_loss,
    "hard": hard_attention_loss,
    "lvml": lvml_loss,
}


def loss_at_attention(
    kind: str, attention: Float[jax.Array, "B m"], segments: Float[jax.Array, "B m *segment"],
    labels: Int[jax.Array, " B"], classify: Classifier,
) -> Float[jax.Array, " B"]:
    r"""A paradigm's loss at explicit attention weights instead of focus logits.

    Used by the fixed-focus experiment, which needs L(alpha) and L(alpha + 0.01)
    with the focus frozen (weights given directly, so alpha = 1 needs no
    infinite logits):

    * soft: $-\log\mathrm{softmax}(g(\sum_j w_j x_j))_y$
    * hard: $\sum_j w_j\,(-\log\mathrm{softmax}(g(x_j))_y)$
    * lvml: $-\log \sum_j w_j\,\mathrm{softmax}(g(x_j))_y$, computed as
      $-\mathrm{logsumexp}_j(\log w_j + \log\mathrm{softmax}(g(x_j))_y)$
      with ``w_j = 0`` contributing exactly nothing

    Arguments:
        kind: ``"soft"``, ``"hard"`` or ``"lvml"``.
        attention: ``[B, m]`` weights w (summing to one).
        segments: ``[B, m, *segment_shape]``, as for the other losses.
        labels: ``[B]`` integer labels, as for the other losses.
        classify: ``[N, *segment_shape] -> [N, K]``, as for the other losses.

    Returns:
        ``[B]`` losses; equal to the logit-based losses when ``w = softmax(f)``.
    """
    _check_shapes(attention, segments, labels)
    if kind == "soft":
        pooled = jnp.einsum("bm,bm...->b...", attention, segments)
        return -_label_log_prob(classify(pooled), labels)
    log_p = segment_log_probs(segments, labels, classify)
    if kind == "hard":
        return -jnp.sum(attention * log_p, axis=-1)
    if kind == "lvml":
        # In log space: -log sum_j w_j exp(log p_j). Weights of exactly zero drop
        # out of the sum (logsumexp's ``b``), so a confident classifier with
        # log p = -120 gives 120, not -log(0) = inf.
        return -jax.nn.logsumexp(log_p, b=attention, axis=-1)
    raise ValueError(f"unknown loss kind {kind!r}")
