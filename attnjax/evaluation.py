"""The per-epoch evaluation: every metric over a whole split, in fixed-size chunks.

A split is evaluated ``config.eval_chunk`` mosaics at a time inside one
``lax.scan`` (the last chunk zero-padded and weighted 0), so evaluating needs no
more memory than a training step, and under ``vmap`` it runs for every seed at once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import Hyper, TrainConfig
from .data.base import Dataset, MosaicSplit
from .focus import fixed_focus_attention, make_apply, make_encode, make_predict
from .losses import loss_at_attention
from .metrics import AttentionMetrics, MetricCounts, attention_means, attention_sums, count_metrics, to_percent

__all__ = ["chunked_sum", "make_evaluate", "make_evaluate_split", "first_mosaics", "make_fixed_focus_losses"]


def chunked_sum(config: TrainConfig, data: Dataset, split: MosaicSplit, fn, zeros):
    """``sum fn(segments, labels, fg_pos, mask, truth, weight)`` over a split, in chunks of ``config.eval_chunk``.

    Arguments:
        fn: maps one chunk (``segments [c, m, ...]``, ``labels [c]``, ``fg_pos [c]``,
            ``mask [c, m]``, ``truth [c, m]``, ``weight [c]``: 1, or 0 on padding) to a pytree
            shaped like ``zeros``.
        zeros: the sum's starting value.
    """
    n = split.index.shape[0]
    chunk = min(config.eval_chunk, n)
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n

    def padded(x):
        return jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape((n_chunks, chunk) + x.shape[1:])

    def body(total, xs):
        index, labels, fg_pos, mask, truth, weight = xs
        part = fn(data.pool[index], labels, fg_pos, mask, truth, weight)
        return jax.tree_util.tree_map(jnp.add, total, part), None

    xs = (padded(split.index), padded(split.labels), padded(split.fg_pos),
          jnp.pad(split.mask, ((0, pad), (0, 0)), constant_values=True).reshape((n_chunks, chunk, -1)),
          padded(split.truth), padded(jnp.ones(n, jnp.float32)))
    total, _ = jax.lax.scan(body, zeros, xs)
    return total


def make_evaluate_split(config: TrainConfig):
    """``evaluate(params, hparams, data, split) -> (MetricCounts, AttentionMetrics)`` over a split, in one pass.

    The counts are in percent of the split's mosaics; the attention metrics are means
    (`attnjax.metrics.attention_sums`).
    """
    predictions = make_predict(config)

    def evaluate(params, hparams: Hyper, data: Dataset, split: MosaicSplit) -> tuple[MetricCounts, AttentionMetrics]:
        def counts(segments, labels, fg_pos, mask, truth, weight):
            pred = predictions(params, hparams, segments, fg_pos, mask)
            return (count_metrics(pred, labels, fg_pos, weight, truth=truth),
                    attention_sums(pred.alpha, truth, mask, weight))

        zeros = (MetricCounts(*(jnp.zeros(s) for s in [(3,), (), (3,), (3,), (3,), (3,)])),
                 AttentionMetrics(*(jnp.zeros(()) for _ in range(3))))
        total, attention = chunked_sum(config, data, split, counts, zeros)
        n = split.index.shape[0]
        return to_percent(total, n), attention_means(attention, n)

    return evaluate


def make_evaluate(config: TrainConfig):
    """``evaluate(params, hparams, data, split) -> MetricCounts`` in percent of the split's mosaics."""
    evaluate_split = make_evaluate_split(config)

    def evaluate(params, hparams: Hyper, data: Dataset, split: MosaicSplit) -> MetricCounts:
        return evaluate_split(params, hparams, data, split)[0]

    return evaluate


def first_mosaics(split: MosaicSplit, k: int | None) -> MosaicSplit:
    """The split's first ``k`` mosaics (all of them when ``k`` is None or at least the split's size)."""
    if k is None or k >= split.index.shape[0]:
        return split
    return MosaicSplit(*(x[:k] for x in split))


def make_fixed_focus_losses(config: TrainConfig):
    """``losses(params, hparams, data) -> [L(alpha), incentive]`` on the training set, the classifier as it is.

    The incentive is L(alpha) - L(alpha + d), d = ``config.incentive_step``; where
    alpha + d would leave the simplex (alpha = 1) it is the backward difference
    L(alpha - d) - L(alpha).
    """
    _, classify_fn = make_apply(config)
    encode = make_encode(config)
    from .paradigms import paradigm_name

    loss_name = paradigm_name(config.loss)

    def fixed_focus_losses(params, hparams: Hyper, data: Dataset):
        step = config.incentive_step
        lower = jnp.where(hparams.alpha + step <= 1.0, hparams.alpha, hparams.alpha - step)
        alphas = jnp.stack([hparams.alpha, lower, lower + step])

        def losses(segments, labels, fg_pos, mask, truth, weight):
            reps = encode(params, segments, mask)

            def at(alpha):
                attention = fixed_focus_attention(alpha, fg_pos, mask)
                per_example = loss_at_attention(loss_name, attention, reps, labels, classify_fn(params))
                return jnp.sum(weight * per_example)

            return jax.vmap(at)(alphas)

        total = chunked_sum(config, data, data.train, losses, jnp.zeros(3)) / data.train.index.shape[0]
        return jnp.stack([total[0], total[1] - total[2]])

    return fixed_focus_losses
