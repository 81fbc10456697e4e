"""One pure, compiled training run per seed; ``vmap`` makes it many.

In the style of purejaxrl: [`make_train`][attnjax.train.make_train] takes a static
[`TrainConfig`][attnjax.train.TrainConfig] and returns a pure function ``train(key, hparams, data)``.
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

from .config import Hyper, TrainConfig
from .data.base import Dataset
from .errors import ConfigError
from .evaluation import first_mosaics, make_evaluate_split, make_fixed_focus_losses
from .focus import (config_modules, fixed_focus_attention, fixed_focus_logits, init_params, make_apply,
                    make_encode, make_focus_logits, make_predict)
from .metrics import AttentionMetrics, MetricCounts
from .optim import OPTIMIZERS, make_optimizer
from .paradigms import get_paradigm
from .protocol import PARADIGMS

__all__ = [
    "PARADIGMS",
    "TrainConfig",
    "Hyper",
    "TrainState",
    "EpochMetrics",
    "PointMetrics",
    "TrainResult",
    "make_train",
    "make_epoch",
    "make_chunk",
    "make_step",
    "make_batch_loss",
    "init_state",
    "make_apply",
    "make_encode",
    "make_focus_logits",
    "make_predict",
    "init_params",
    "config_modules",
    "fixed_focus_attention",
    "fixed_focus_logits",
    "OPTIMIZERS",
]


class TrainState(NamedTuple):
    """The scan carry: parameters, optimizer state, the run's PRNG key and the paradigm's own state."""

    params: Any
    opt_state: Any
    key: jax.Array
    paradigm_state: Any  # attnjax.paradigms: REINFORCE's baseline; () for the exact losses


class PointMetrics(NamedTuple):
    """The evaluations inside one epoch (``TrainConfig.eval_every``): each field has a leading axis of P.

    Point p is taken after step ``(p + 1) * eval_every`` of the epoch (counted from the epoch's
    start), for ``p = 0 .. P - 1`` with ``P = (n_batches - 1) // eval_every``: every multiple of
    ``eval_every`` strictly inside the epoch (its end is the epoch's own record). Each split is
    evaluated on its first ``TrainConfig.eval_mosaics`` mosaics (all of them when None).

    Attributes:
        loss: ``[P]`` mean training loss over the ``eval_every`` steps before the point.
        train: `MetricCounts` of the training split's first mosaics, in percent, each field ``[P, ...]``.
        test: the same for the test split.
        train_attention: `AttentionMetrics` of the training split's first mosaics, each field ``[P]``.
        test_attention: the same for the test split.
    """

    loss: jax.Array
    train: MetricCounts
    test: MetricCounts
    train_attention: AttentionMetrics
    test_attention: AttentionMetrics


class EpochMetrics(NamedTuple):
    """One epoch's record (one entry per epoch in the history).

    Attributes:
        loss: mean training loss over the epoch's minibatches.
        train: `MetricCounts` of the training split in percent after the epoch, each
            field with a leading rule axis of 3 (``focus_accuracy`` has none).
        test: the same for the test split.
        fixed_focus_loss: fixed-focus runs only: ``[2]``, the mean training
            loss L(alpha) after the epoch and the focus model's incentive
            L(alpha) - L(alpha + incentive_step) (backward difference at
            alpha = 1); None otherwise.
        train_attention: `AttentionMetrics` after the epoch over the whole training split (a_z, the
            normalised entropy, the percentage with a_z >= 0.5).
        test_attention: the same over the test split.
        points: with ``TrainConfig.eval_every``, the evaluations inside the epoch
            (`PointMetrics`); None otherwise.
    """

    loss: jax.Array
    train: MetricCounts
    test: MetricCounts
    fixed_focus_loss: jax.Array | None = None
    train_attention: AttentionMetrics | None = None
    test_attention: AttentionMetrics | None = None
    points: PointMetrics | None = None


class TrainResult(NamedTuple):
    """What ``train`` returns: final parameters and the per-epoch history."""

    params: Any
    history: EpochMetrics


def init_state(config: TrainConfig, key: jax.Array, hparams: Hyper) -> TrainState:
    """A run's starting carry: ``init_params`` times ``hparams.init_scale``, a fresh optimizer, the loop key.

    The key is split in two: the first initialises the parameters, the second drives the epochs.
    """
    init_key, loop_key = jax.random.split(key)
    params = jax.tree_util.tree_map(lambda p: p * hparams.init_scale, init_params(config, init_key))
    if config.fixed_focus:  # the focus is frozen: the classifier (and any encoder) learn
        params = {k: v for k, v in params.items() if k != "focus"}
    return TrainState(params, make_optimizer(config)(hparams).init(params), loop_key,
                      get_paradigm(config.loss).init_state(config))


def make_batch_loss(config: TrainConfig):
    """``batch_loss(params, hparams, segments, fg_pos, mask, labels, key, state, epoch) -> scalar``.

    The paradigm's per-example loss averaged over the batch: the segments ``[B, m, ...]`` are
    encoded ([`attnjax.focus.make_encode`][]; without an encoder they are used as they are),
    the focus scores the representations (``-inf`` on padding), and the paradigm's loss
    ([`attnjax.paradigms.Paradigm`][]) sees logits, representations, labels and the classifier.
    """
    paradigm = get_paradigm(config.loss)
    _, classify_fn = make_apply(config)
    focus_logits, encode = make_focus_logits(config), make_encode(config)

    def batch_loss(params, hparams: Hyper, segments, fg_pos, mask, labels, key, state, epoch):
        reps = encode(params, segments, mask)
        logits = focus_logits(params, hparams, reps, fg_pos, mask)
        loss_fn = paradigm.make_loss(config, hparams, epoch)
        return jnp.mean(loss_fn(logits, reps, labels, classify_fn(params), key, state))

    return batch_loss


def make_step(config: TrainConfig):
    """``step(carry, rows, key, hparams, data, epoch) -> (carry, loss)``: one minibatch update.

    ``carry`` is ``(params, opt_state, paradigm_state)``; ``rows`` ``[batch_size]`` indexes
    ``data.train``; ``key`` drives the sampled losses' draws; ``epoch`` (traced) is the epoch
    index, which the hybrid compares with its switch. The loss is [`make_batch_loss`][attnjax.train.make_batch_loss]'s;
    the optimizer is [`attnjax.optim.make_optimizer`][]'s.
    """
    paradigm = get_paradigm(config.loss)
    tx = make_optimizer(config)
    batch_loss = make_batch_loss(config)

    def step(carry, rows, key, hparams: Hyper, data: Dataset, epoch):
        params, opt_state, state = carry
        split = data.train
        loss, grads = jax.value_and_grad(batch_loss)(
            params, hparams, data.pool[split.index[rows]], split.fg_pos[rows], split.mask[rows], split.labels[rows],
            key, state, epoch)
        updates, opt_state = tx(hparams).update(grads, opt_state, params)
        state = paradigm.update_state(state, loss, config, hparams, epoch)
        return (optax.apply_updates(params, updates), opt_state, state), loss

    return step


def make_epoch(config: TrainConfig):
    """``epoch(state, hparams, data, index) -> (state, EpochMetrics)``: one epoch, then its evaluation.

    The epoch draws a fresh permutation of the training mosaics from the run's key
    (``key, perm_key = split(key)``), takes ``n_train // batch_size`` full batches of it,
    gives batch i the key ``fold_in(perm_key, i + 1)``, runs [`make_step`][attnjax.train.make_step] on each,
    then evaluates both splits ([`attnjax.evaluation.make_evaluate`][]). ``index``
    (traced) is the epoch's number, which the hybrid compares with its switch.

    Raises:
        ConfigError: (when traced) the batch size exceeds the training mosaics.
    """
    paradigm, tx, step = get_paradigm(config.loss), make_optimizer(config), make_step(config)
    evaluate = make_evaluate_split(config)
    fixed_focus_losses = make_fixed_focus_losses(config) if config.fixed_focus else None
    every = config.eval_every

    def epoch(state: TrainState, hparams: Hyper, data: Dataset, index) -> tuple[TrainState, EpochMetrics]:
        n_train = data.train.index.shape[0]
        n_batches = n_train // config.batch_size
        if n_batches == 0:
            raise ConfigError(f"batch size {config.batch_size} exceeds the {n_train} training mosaics")
        opt_state, reset = state.opt_state, paradigm.reset_optimizer(config, hparams, index)
        if reset is not None:  # a fresh optimizer state, as when the next phase is its own run
            fresh = tx(hparams).init(state.params)
            opt_state = jax.tree_util.tree_map(lambda new, old: jnp.where(reset, new, old), fresh, opt_state)
        key, perm_key = jax.random.split(state.key)
        perm = jax.random.permutation(perm_key, n_train)
        batches = perm[: n_batches * config.batch_size].reshape(n_batches, config.batch_size)

        def batch(carry, xs):
            rows, i = xs
            return step(carry, rows, jax.random.fold_in(perm_key, i + 1), hparams, data, index)

        carry, steps = (state.params, opt_state, state.paradigm_state), jnp.arange(n_batches)
        points = None
        if every is None:
            carry, losses = jax.lax.scan(batch, carry, (batches, steps))
        else:  # P groups of `every` steps, each followed by an evaluation, then the rest of the epoch
            n_points = (n_batches - 1) // every
            inside = n_points * every
            train_head, test_head = (first_mosaics(s, config.eval_mosaics) for s in (data.train, data.test))

            def group(carry, xs):
                carry, group_losses = jax.lax.scan(batch, carry, xs)
                (train, train_att), (test, test_att) = (evaluate(carry[0], hparams, data, s)
                                                        for s in (train_head, test_head))
                return carry, (PointMetrics(jnp.mean(group_losses), train, test, train_att, test_att), group_losses)

            carry, (points, group_losses) = jax.lax.scan(
                group, carry, (batches[:inside].reshape(n_points, every, config.batch_size), steps[:inside].reshape(n_points, every)))
            carry, rest = jax.lax.scan(batch, carry, (batches[inside:], steps[inside:]))
            losses = jnp.concatenate([group_losses.reshape(-1), rest])
        params, opt_state, paradigm_state = carry
        (train, train_att), (test, test_att) = (evaluate(params, hparams, data, s) for s in (data.train, data.test))
        record = EpochMetrics(
            loss=jnp.mean(losses), train=train, test=test,
            fixed_focus_loss=None if fixed_focus_losses is None else fixed_focus_losses(params, hparams, data),
            train_attention=train_att, test_attention=test_att, points=points,
        )
        return TrainState(params, opt_state, key, paradigm_state), record

    return epoch


def make_train(
    config: TrainConfig, *, progress: Callable[[int], None] | None = None
) -> Callable[[jax.Array, Hyper, Dataset], TrainResult]:
    """Build the pure training function for one configuration: every epoch in one ``lax.scan``.

    ``train(key, hparams, data)`` is `init_state` followed by `make_epoch`'s
    epoch for ``index = 0 .. epochs - 1``. A long run is better driven from the host in
    chunks ([`make_chunk`][attnjax.train.make_chunk], [`attnjax.experiments.train_seeds`][]): same numbers, bit
    for bit, with checkpoints and progress in between.

    Arguments:
        config: the static settings.
        progress: optional host callback, called with the index of each finished epoch
            through ``io_callback`` (under vmap once per seed of the program: count each index
            once). It does not change the numbers, but JAX never stores a program holding a
            host callback in its persistent compilation cache.

    Returns:
        ``train(key, hparams, data) -> TrainResult``, pure and jittable. The
        history's leaves have a leading epoch axis.
    """
    epoch = make_epoch(config)

    def train(key: jax.Array, hparams: Hyper, data: Dataset) -> TrainResult:
        def one_epoch(state, index):
            state, record = epoch(state, hparams, data, index)
            if progress is not None:
                # The record is an argument so that the call waits for the epoch's work.
                io_callback(lambda i, _record, progress=progress: progress(i), None, index, record)
            return state, record

        state, history = jax.lax.scan(one_epoch, init_state(config, key, hparams), jnp.arange(config.epochs))
        return TrainResult(params=state.params, history=history)

    return train


def make_chunk(config: TrainConfig, length: int | None = None):
    """``advance(state, hparams, data, start, stop) -> (state, EpochMetrics)``: epochs ``start .. stop - 1``.

    The host loop's one program. It scans ``length`` (default ``config.epochs``) steps; step
    i runs epoch ``start + i`` when that is below ``stop`` and otherwise passes the state
    through (a ``lax.cond`` on an unbatched predicate, so under vmap it stays a branch and
    costs nothing). ``start`` and ``stop`` are traced integers, so one compiled program runs
    chunks of any size up to ``length``, the last short one included. Chaining chunks from
    `init_state` gives [`make_train`][attnjax.train.make_train]'s numbers bit for bit.

    Returns:
        ``advance``; its history has ``length`` entries, of which the first ``stop - start``
        are the epochs run (the rest are zeros).
    """
    epoch, length = make_epoch(config), config.epochs if length is None else length

    def advance(state: TrainState, hparams: Hyper, data: Dataset, start, stop):
        def skip(state, index):
            shapes = jax.eval_shape(lambda: epoch(state, hparams, data, index)[1])
            return state, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        def one(state, i):
            index = start + i
            return jax.lax.cond(index < stop, lambda s: epoch(s, hparams, data, index),
                                lambda s: skip(s, index), state)

        return jax.lax.scan(one, state, jnp.arange(length))

    return advance
