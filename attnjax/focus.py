"""Applying the models: parameters, the focus logits (learned or frozen) and predictions.

``params`` is ``{"focus": ..., "classifier": ...}`` (only ``"classifier"`` in a
fixed-focus run). Segments are ``[B, m, *segment_shape]``; ``mask`` ``[B, m]`` is
True on real segments, and padding gets the logit -inf, so zero attention.
"""

from __future__ import annotations

from typing import Callable, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .config import Hyper, TrainConfig
from .metrics import Predictions, predict
from .models import make_models

__all__ = ["config_modules", "init_params", "make_apply", "fixed_focus_attention", "fixed_focus_logits",
           "make_focus_logits", "make_predict"]


def config_modules(config: TrainConfig):
    """The ``(focus, classifier)`` Flax modules: the user's, or a built-in family's."""
    if config.modules is not None:
        return tuple(config.modules)
    return make_models(
        config.model, num_classes=config.num_classes, segment_shape=config.segment_shape,
        hidden=config.hidden, classifier_init=config.classifier_init, precision=config.precision,
        conv=config.conv,
    )


def init_params(config: TrainConfig, key: jax.Array) -> dict:
    """Initial ``{"focus": ..., "classifier": ...}`` parameters."""
    focus, classifier = config_modules(config)
    dummy = jnp.zeros((1,) + tuple(config.segment_shape), jnp.float32)
    focus_key, classifier_key = jax.random.split(key)
    return {
        "focus": focus.init(focus_key, dummy),
        "classifier": classifier.init(classifier_key, dummy),
    }


def make_apply(config: TrainConfig):
    """``(focus_fn, classify_fn)`` builders: ``focus_fn(params)`` maps segments to scores."""
    focus, classifier = config_modules(config)

    # cast: flax types apply() as "output, or (output, state) when mutable=" and mutable is not used here
    def focus_fn(params) -> Callable[[jax.Array], jax.Array]:
        return lambda x: cast(jax.Array, focus.apply(params["focus"], x))

    def classify_fn(params) -> Callable[[jax.Array], jax.Array]:
        return lambda x: cast(jax.Array, classifier.apply(params["classifier"], x))

    return focus_fn, classify_fn


def fixed_focus_attention(alpha: ArrayLike, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, m]`` weights: alpha on the foreground, (1 - alpha)/(n - 1) on each of the other
    n - 1 real segments (``mask`` True), 0 on padding."""
    alpha = jnp.asarray(alpha, jnp.float32)
    others = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True) - 1, 1).astype(jnp.float32)
    is_fg = jnp.arange(mask.shape[-1])[None, :] == fg_pos[:, None]
    return jnp.where(is_fg, alpha, jnp.where(mask, (1.0 - alpha) / others, 0.0))


def fixed_focus_logits(alpha: ArrayLike, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
    """Logits whose softmax is :func:`fixed_focus_attention` (-inf where a weight is 0)."""
    return jnp.log(fixed_focus_attention(alpha, fg_pos, mask))


def make_focus_logits(config: TrainConfig):
    """``focus_logits(params, hparams, segments [B, m, ...], fg_pos [B], mask [B, m]) -> [B, m]``.

    The learned focus model, or the frozen attention of the fixed-focus
    experiment; padding (``mask`` False) gets the logit -inf, so zero attention.
    """
    focus_fn, _ = make_apply(config)

    def focus_logits(params, hparams: Hyper, segments, fg_pos, mask):
        if config.fixed_focus:
            return fixed_focus_logits(hparams.alpha, fg_pos, mask)
        batch, m = segments.shape[:2]
        flat = segments.reshape((batch * m,) + segments.shape[2:])
        return jnp.where(mask, focus_fn(params)(flat).reshape(batch, m), -jnp.inf)

    return focus_logits


def make_predict(config: TrainConfig):
    """``predict(params, hparams, segments, fg_pos, mask) -> Predictions`` (all three rules)."""
    focus_logits = make_focus_logits(config)
    _, classify_fn = make_apply(config)

    def predictions(params, hparams: Hyper, segments, fg_pos, mask) -> Predictions:
        logits = focus_logits(params, hparams, segments, fg_pos, mask)
        return predict(logits, segments, classify_fn(params))

    return predictions
