"""One pure, compiled training run per seed; ``vmap`` makes it many.

In the style of purejaxrl: :func:`make_train` takes a static
:class:`TrainConfig` and returns a pure function ``train(key, hparams, data)``.
The whole run, every epoch and minibatch plus the per-epoch evaluation, is one
``lax.scan``, so::

    train = make_train(config)
    keys = jax.random.split(jax.random.key(0), 8)
    hparams = Hyper(learning_rate=jnp.full(8, 0.05))
    result = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, hparams, data)

trains 8 seeds in one program. The learning rate is an array argument, so a
grid of learning rates vmaps exactly like seeds. The data is an argument
rather than a closed-over constant so that it is not baked into the compiled
program (a closed-over array becomes an HLO literal as large as the data).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.experimental import io_callback

from .config import OPTIMIZERS, Hyper, TrainConfig
from .data.base import Dataset, MosaicSplit
from .errors import ConfigError
from .losses import LOSSES, loss_at_attention
from .metrics import MetricCounts, Predictions, count_metrics, predict, to_percent
from .models import make_models
from .protocol import PARADIGMS
from .sampled import gumbel_hard_loss, lvml_em_losses, reinforce_hard_loss, update_baseline

__all__ = [
    "PARADIGMS",
    "TrainConfig",
    "Hyper",
    "TrainState",
    "EpochMetrics",
    "TrainResult",
    "make_train",
    "make_apply",
    "make_focus_logits",
    "make_predict",
    "init_params",
    "config_modules",
    "OPTIMIZERS",
]



class TrainState(NamedTuple):
    """The scan carry."""

    params: Any
    opt_state: Any
    key: jax.Array
    baseline: jax.Array  # hard-reinforce's moving-average baseline (0 otherwise)


class EpochMetrics(NamedTuple):
    """One epoch's record (one entry per epoch in the history).

    Attributes:
        loss: mean training loss over the epoch's minibatches.
        train, test: :class:`MetricCounts` in percent after the epoch, each
            field with a leading rule axis of 3 (``focus_accuracy`` has none).
        fixed_focus_loss: fixed-focus runs only: ``[2]``, the mean training
            loss L(alpha) after the epoch and the focus model's incentive
            L(alpha) - L(alpha + incentive_step) (backward difference at
            alpha = 1); None otherwise.
    """

    loss: jax.Array
    train: MetricCounts
    test: MetricCounts
    fixed_focus_loss: jax.Array | None = None


class TrainResult(NamedTuple):
    """What ``train`` returns: final parameters and the per-epoch history."""

    params: Any
    history: EpochMetrics


def config_modules(config: TrainConfig):
    """The ``(focus, classifier)`` Flax modules: the user's, or a built-in family's."""
    if config.modules is not None:
        return tuple(config.modules)
    return make_models(
        config.model, num_classes=config.num_classes, segment_shape=config.segment_shape,
        hidden=config.hidden, classifier_init=config.classifier_init, precision=config.precision,
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

    def focus_fn(params):
        return lambda x: focus.apply(params["focus"], x)

    def classify_fn(params):
        return lambda x: classifier.apply(params["classifier"], x)

    return focus_fn, classify_fn


def fixed_focus_attention(alpha: jax.Array, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, m]`` weights: alpha on the foreground, (1 - alpha)/(n - 1) on each of the other
    n - 1 real segments (``mask`` True), 0 on padding."""
    alpha = jnp.asarray(alpha, jnp.float32)
    others = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True) - 1, 1).astype(jnp.float32)
    is_fg = jnp.arange(mask.shape[-1])[None, :] == fg_pos[:, None]
    return jnp.where(is_fg, alpha, jnp.where(mask, (1.0 - alpha) / others, 0.0))


def fixed_focus_logits(alpha: jax.Array, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
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


def make_train(
    config: TrainConfig, *, progress: Callable[[int], None] | None = None
) -> Callable[[jax.Array, Hyper, Dataset], TrainResult]:
    """Build the pure training function for one configuration.

    Arguments:
        config: the static settings.
        progress: optional host callback, called with the index of each
            finished epoch, after that epoch's training and evaluation (the
            epoch's record is an argument of the call, so XLA cannot run it
            earlier). Under vmap the record is batched, so it is called once
            per seed of the program, one seed after another: count each index
            once. It does not change the numbers.

    Returns:
        ``train(key, hparams, data) -> TrainResult``, pure and jittable. The
        history's leaves have a leading epoch axis.
    """
    _, classify_fn = make_apply(config)
    focus_logits = make_focus_logits(config)
    predictions = make_predict(config)
    factory = OPTIMIZERS[config.optimizer] if isinstance(config.optimizer, str) else config.optimizer
    opt = optax.inject_hyperparams(factory)

    def report_epoch(index, _record) -> None:
        progress(index)

    def chunked_sum(data: Dataset, split: MosaicSplit, fn, zeros):
        """Sum ``fn(segments, labels, fg_pos, mask, truth, weight)`` over a split in fixed-size chunks."""
        n = split.index.shape[0]
        chunk = min(config.eval_chunk, n)
        n_chunks = -(-n // chunk)
        pad = n_chunks * chunk - n

        def padded(x):
            return jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(
                (n_chunks, chunk) + x.shape[1:]
            )

        def body(total, xs):
            index, labels, fg_pos, mask, truth, weight = xs
            part = fn(data.pool[index], labels, fg_pos, mask, truth, weight)
            return jax.tree_util.tree_map(jnp.add, total, part), None

        xs = (padded(split.index), padded(split.labels), padded(split.fg_pos),
              jnp.pad(split.mask, ((0, pad), (0, 0)), constant_values=True).reshape((n_chunks, chunk, -1)),
              padded(split.truth), padded(jnp.ones(n, jnp.float32)))
        total, _ = jax.lax.scan(body, zeros, xs)
        return total

    def evaluate(params, hparams, data: Dataset, split: MosaicSplit) -> MetricCounts:
        def counts(segments, labels, fg_pos, mask, truth, weight):
            pred = predictions(params, hparams, segments, fg_pos, mask)
            return count_metrics(pred, labels, fg_pos, weight, truth=truth)

        zeros = MetricCounts(*(jnp.zeros(s) for s in [(3,), (), (3,), (3,), (3,), (3,)]))
        return to_percent(chunked_sum(data, split, counts, zeros), split.index.shape[0])

    def fixed_focus_losses(loss_name, params, hparams, data: Dataset):
        """``[L(alpha), incentive]`` on the training set, the classifier as it is now.

        The incentive is L(alpha) - L(alpha + d); where alpha + d would leave the
        simplex (alpha = 1) it is the backward difference L(alpha - d) - L(alpha).
        """
        step = config.incentive_step
        lower = jnp.where(hparams.alpha + step <= 1.0, hparams.alpha, hparams.alpha - step)
        alphas = jnp.stack([hparams.alpha, lower, lower + step])

        def losses(segments, labels, fg_pos, mask, truth, weight):
            def at(alpha):
                attention = fixed_focus_attention(alpha, fg_pos, mask)
                per_example = loss_at_attention(
                    loss_name, attention, segments, labels, classify_fn(params)
                )
                return jnp.sum(weight * per_example)

            return jax.vmap(at)(alphas)

        total = chunked_sum(data, data.train, losses, jnp.zeros(3)) / data.train.index.shape[0]
        return jnp.stack([total[0], total[1] - total[2]])

    def switch_of(hparams: Hyper):
        if hparams.switch_epoch is None:
            return jnp.int32(config.default_switch_epoch)
        return hparams.switch_epoch

    def one_loss(name: str, hparams: Hyper):
        """``loss(logits, segments, labels, classify, key, baseline) -> [B]`` for one paradigm."""
        if name == "hard-reinforce":
            return lambda lg, seg, lab, cl, key, b: reinforce_hard_loss(
                lg, seg, lab, cl, key=key, baseline=b, num_samples=config.samples,
                replace=config.sample_replace)
        if name == "hard-gumbel":
            return lambda lg, seg, lab, cl, key, b: gumbel_hard_loss(
                lg, seg, lab, cl, key=key, temperature=hparams.temperature)
        if name == "lvml-em":
            # EM's gradient is LVML's; its value exceeds LVML's by H(q), so the
            # recorded value is LVML's (a stop-gradient shift, no gradient change).
            def em(lg, seg, lab, cl, key, b):
                surrogate = lvml_em_losses(lg, seg, lab, cl)
                return surrogate + jax.lax.stop_gradient(LOSSES["lvml"](lg, seg, lab, cl) - surrogate)

            return em
        return lambda lg, seg, lab, cl, key, b: LOSSES[name](lg, seg, lab, cl)

    def paradigm_loss(second_phase, hparams: Hyper):
        """The per-example loss; the hybrid picks its phase's loss with ``lax.cond``."""
        if config.loss != "hybrid":
            return one_loss(config.loss, hparams)
        first, second = one_loss("soft", hparams), one_loss(config.hybrid_to, hparams)

        def loss(*args):
            return jax.lax.cond(second_phase, lambda: second(*args), lambda: first(*args))

        return loss

    reinforce_active = (
        (lambda second_phase: True) if config.loss == "hard-reinforce"
        else (lambda second_phase: second_phase) if config.loss == "hybrid" and config.hybrid_to == "hard-reinforce"
        else None
    )

    def make_epoch(hparams: Hyper, data: Dataset):
        split = data.train
        n_train = split.index.shape[0]
        n_batches = n_train // config.batch_size
        if n_batches == 0:
            raise ConfigError(
                f"batch size {config.batch_size} exceeds the {n_train} training mosaics"
            )
        switch = switch_of(hparams)

        def epoch(state: TrainState, epoch_index):
            second_phase = epoch_index >= switch
            loss_fn = paradigm_loss(second_phase, hparams)

            def batch_loss(params, rows, key, baseline):
                segments = data.pool[split.index[rows]]
                labels, fg_pos = split.labels[rows], split.fg_pos[rows]
                logits = focus_logits(params, hparams, segments, fg_pos, split.mask[rows])
                return jnp.mean(loss_fn(logits, segments, labels, classify_fn(params), key, baseline))

            def step(carry, xs):
                params, opt_state, baseline = carry
                rows, index = xs
                key = jax.random.fold_in(perm_key, index + 1)  # the sampled losses' draws
                loss, grads = jax.value_and_grad(batch_loss)(params, rows, key, baseline)
                updates, opt_state = opt_tx(hparams).update(grads, opt_state, params)
                if reinforce_active is not None:
                    baseline = jnp.where(reinforce_active(second_phase),
                                         update_baseline(baseline, loss, config.baseline_decay), baseline)
                return (optax.apply_updates(params, updates), opt_state, baseline), loss

            opt_state = state.opt_state
            if config.loss == "hybrid" and config.hybrid_reset:
                # A fresh optimizer at the switch, as when the second phase is its own run.
                fresh = opt_tx(hparams).init(state.params)
                opt_state = jax.tree_util.tree_map(
                    lambda new, old: jnp.where(epoch_index == switch, new, old), fresh, opt_state
                )
            key, perm_key = jax.random.split(state.key)
            perm = jax.random.permutation(perm_key, n_train)
            batches = perm[: n_batches * config.batch_size].reshape(n_batches, config.batch_size)
            (params, opt_state, baseline), losses = jax.lax.scan(
                step, (state.params, opt_state, state.baseline), (batches, jnp.arange(n_batches))
            )
            record = EpochMetrics(
                loss=jnp.mean(losses),
                train=evaluate(params, hparams, data, data.train),
                test=evaluate(params, hparams, data, data.test),
                fixed_focus_loss=(
                    fixed_focus_losses(config.loss, params, hparams, data)
                    if config.fixed_focus else None
                ),
            )
            if progress is not None:
                # The record is an argument so that the call waits for the epoch's work: with
                # the index alone XLA may (and on CPU does) run it as the epoch starts. Under
                # vmap io_callback loops over the seeds at one call site, where
                # jax.debug.callback would put S copies of itself into the program.
                io_callback(report_epoch, None, epoch_index, record)
            return TrainState(params, opt_state, key, baseline), record

        return epoch

    def opt_tx(hparams: Hyper):
        options = dict(hparams.optimizer or {})
        if config.optimizer == "sgd":
            options.setdefault("momentum", config.momentum)
        return opt(learning_rate=hparams.learning_rate, **options)

    def train(key: jax.Array, hparams: Hyper, data: Dataset) -> TrainResult:
        init_key, loop_key = jax.random.split(key)
        params = init_params(config, init_key)
        params = jax.tree_util.tree_map(lambda p: p * hparams.init_scale, params)
        if config.fixed_focus:
            params = {"classifier": params["classifier"]}  # only the classifier learns
        state = TrainState(params, opt_tx(hparams).init(params), loop_key, jnp.zeros((), jnp.float32))
        # One scan over every epoch; the hybrid compares the epoch index with its
        # (traced) switch epoch inside the scan.
        state, history = jax.lax.scan(make_epoch(hparams, data), state, jnp.arange(config.epochs))
        return TrainResult(params=state.params, history=history)

    return train
