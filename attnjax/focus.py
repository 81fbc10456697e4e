"""Applying the models: parameters, the encoder, the focus logits (learned or frozen) and predictions.

``params`` is ``{"focus": ..., "classifier": ...}`` plus ``"encoder"`` when the models have
one (a fixed-focus run has no ``"focus"``). Segments are ``[B, m, *segment_shape]``; ``mask``
``[B, m]`` is True on real segments, and padding gets the logit -inf, so zero attention.
The encoder ([`attnjax.encoders`][]) maps segments to representations first; the focus,
the losses and the metrics then see the representations. Without an encoder they see the
segments themselves, through the very same operations as before encoders existed.
"""

from __future__ import annotations

from typing import Callable, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .config import Hyper, TrainConfig
from .metrics import Predictions, predict
from .models import make_models

__all__ = ["config_modules", "init_params", "make_apply", "make_encode", "fixed_focus_attention", "fixed_focus_logits",
           "make_focus_logits", "make_predict"]


def config_modules(config: TrainConfig):
    """The ``(encoder, focus, classifier)`` Flax modules: the user's, or a built-in family's (encoder None: none)."""
    if config.modules is not None:
        modules = tuple(config.modules)
        return modules if len(modules) == 3 else (None, *modules)
    return make_models(
        config.model, num_classes=config.num_classes, segment_shape=config.segment_shape,
        hidden=config.hidden, classifier_init=config.classifier_init, precision=config.precision,
        conv=config.conv, encoder=config.encoder, encoder_width=config.encoder_width,
        vocab_size=config.vocab_size, heads=config.heads, layers=config.layers,
    )


def init_params(config: TrainConfig, key: jax.Array) -> dict:
    """Initial ``{"focus": ..., "classifier": ...}`` parameters, and ``"encoder"`` when there is one.

    ``split(key)`` gives the focus's and the classifier's keys, whether or not there is an
    encoder; the encoder's is ``fold_in(key, 2)``. The heads are initialised on one
    representation's shape (the encoder's output, or the segment itself).
    """
    encoder, focus, classifier = config_modules(config)
    dtype = jnp.int32 if config.vocab_size is not None else jnp.float32
    segment = jnp.zeros((1,) + tuple(config.segment_shape), dtype)
    focus_key, classifier_key = jax.random.split(key)
    params = {}
    if encoder is not None:
        segments, mask = jnp.zeros((1, config.m) + tuple(config.segment_shape), dtype), jnp.ones((1, config.m), bool)
        params["encoder"] = encoder.init(jax.random.fold_in(key, 2), segments, mask)
        shape = jax.eval_shape(encoder.apply, params["encoder"], segments, mask).shape
        segment = jnp.zeros((1,) + tuple(shape[2:]), jnp.float32)
    params["focus"] = focus.init(focus_key, segment)
    params["classifier"] = classifier.init(classifier_key, segment)
    return params


def make_encode(config: TrainConfig):
    """``encode(params, segments [B, m, ...], mask [B, m]) -> representations [B, m, d]``.

    The encoder's output; without an encoder, ``segments`` themselves (no operation at all).
    """
    encoder = config_modules(config)[0]

    def encode(params, segments, mask):
        if encoder is None:
            return segments
        return cast(jax.Array, encoder.apply(params["encoder"], segments, mask))

    return encode


def make_apply(config: TrainConfig):
    """``(focus_fn, classify_fn)`` builders: ``focus_fn(params)`` maps representations ``[N, ...]`` to scores."""
    _, focus, classifier = config_modules(config)

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
    """Logits whose softmax is `fixed_focus_attention` (-inf where a weight is 0)."""
    return jnp.log(fixed_focus_attention(alpha, fg_pos, mask))


def make_focus_logits(config: TrainConfig):
    """``focus_logits(params, hparams, reps [B, m, ...], fg_pos [B], mask [B, m]) -> [B, m]``.

    ``reps`` are the representations ([`make_encode`][attnjax.focus.make_encode]'s output).

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
    """``predict(params, hparams, segments, fg_pos, mask) -> Predictions`` (all three rules), from raw segments."""
    focus_logits, encode = make_focus_logits(config), make_encode(config)
    _, classify_fn = make_apply(config)

    def predictions(params, hparams: Hyper, segments, fg_pos, mask) -> Predictions:
        reps = encode(params, segments, mask)
        logits = focus_logits(params, hparams, reps, fg_pos, mask)
        return predict(logits, reps, classify_fn(params))

    return predictions
