"""Inference rules, focus/prediction metrics and the signature histogram (paper-notes section 2).

The three inference rules turn a mosaic into class probabilities:

1. ``argmax``: classify the segment with the largest attention.
2. ``expected``: ``sum_j alpha_j softmax(g(x_j))``.
3. ``pooled``: ``softmax(g(sum_j alpha_j x_j))``.

Soft attention is judged by rule 3 (the way it trains); hard attention, LVML
and the hybrid by rule 2.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Bool, Float, Int  # shape annotations; not checked at run time

from .documents import FOCUS_METRICS

__all__ = [
    "RULES",
    "METRICS",
    "Predictions",
    "MetricCounts",
    "AttentionMetrics",
    "ATTENTION_METRICS",
    "predict",
    "count_metrics",
    "to_percent",
    "signature_histogram",
    "EDGE_TOLERANCE",
]

RULES = ("argmax", "expected", "pooled")
#: Metric names, all in percent of examples; all but accuracy read the truth (``FOCUS_METRICS``).
METRICS = ("accuracy", *FOCUS_METRICS)


class Predictions(NamedTuple):
    """Model outputs for a batch of mosaics.

    Attributes:
        alpha: ``[B, m]`` attention.
        probs: ``[3, B, K]`` class probabilities under rules 1, 2, 3.
        segment_pred: ``[B, m]`` class the classifier gives each segment alone.
    """

    alpha: Float[jax.Array, "B m"]
    probs: Float[jax.Array, "3 B K"]
    segment_pred: Int[jax.Array, "B m"]


class MetricCounts(NamedTuple):
    """Counts (or, after `to_percent`, percentages) of examples.

    ``accuracy`` and the four focus/prediction cells have a leading rule axis
    of size 3 (rules 1, 2, 3); ``focus_accuracy`` does not depend on the rule.
    FTPT: focus true and prediction true; FFPT: focus false, prediction true;
    FTPF: focus true, prediction false; FFPF: both false.
    """

    accuracy: jax.Array
    focus_accuracy: jax.Array
    ftpt: jax.Array
    ffpt: jax.Array
    ftpf: jax.Array
    ffpf: jax.Array


def predict(
    focus_logits: Float[jax.Array, "B m"],
    segments: Float[jax.Array, "B m *segment"],
    classify: Callable[[Float[jax.Array, " N *segment"]], Float[jax.Array, "N K"]],
) -> Predictions:
    """Attention and class probabilities under the three rules.

    Arguments:
        focus_logits: ``[B, m]`` focus scores.
        segments: ``[B, m, *segment_shape]``.
        classify: ``[N, *segment_shape] -> [N, K]`` logits.

    Returns:
        [`Predictions`][attnjax.metrics.Predictions].
    """
    batch, m = segments.shape[:2]
    flat = segments.reshape((batch * m,) + segments.shape[2:])
    alpha = jax.nn.softmax(focus_logits, axis=-1)
    seg_probs = jax.nn.softmax(classify(flat).reshape(batch, m, -1), axis=-1)  # [B, m, K]
    top = jnp.argmax(alpha, axis=-1)
    rule1 = jnp.take_along_axis(seg_probs, top[:, None, None], axis=1)[:, 0]
    rule2 = jnp.einsum("bm,bmk->bk", alpha, seg_probs)
    rule3 = jax.nn.softmax(classify(jnp.einsum("bm,bm...->b...", alpha, segments)), axis=-1)
    return Predictions(
        alpha=alpha, probs=jnp.stack([rule1, rule2, rule3]), segment_pred=seg_probs.argmax(-1)
    )


def count_metrics(
    pred: Predictions, labels: Int[jax.Array, " B"], fg_pos: Int[jax.Array, " B"],
    weight: Float[jax.Array, " B"] | None = None, *, truth: Bool[jax.Array, "B m"] | None = None,
) -> MetricCounts:
    """Count correct predictions and focus/prediction cells.

    Arguments:
        pred: model outputs for ``B`` mosaics.
        labels: ``[B]`` true labels.
        fg_pos: ``[B]`` foreground positions.
        weight: optional ``[B]`` 0/1 mask (padding rows get 0).
        truth: optional ``[B, m]`` bool, the segments whose selection is focus
            true (several for text rationales); default: ``fg_pos`` alone.

    Returns:
        `MetricCounts` of (weighted) example counts.
    """
    weight = jnp.ones(labels.shape, pred.probs.dtype) if weight is None else weight
    top = jnp.argmax(pred.alpha, axis=-1)
    if truth is None:
        focus_true = (top == fg_pos).astype(weight.dtype)
    else:
        focus_true = jnp.take_along_axis(truth, top[:, None], axis=-1)[:, 0].astype(weight.dtype)
    pred_true = (jnp.argmax(pred.probs, axis=-1) == labels[None]).astype(weight.dtype)  # [3, B]

    def total(x):
        return jnp.sum(x * weight, axis=-1)

    return MetricCounts(
        accuracy=total(pred_true),
        focus_accuracy=total(focus_true),
        ftpt=total(focus_true * pred_true),
        ffpt=total((1 - focus_true) * pred_true),
        ftpf=total(focus_true * (1 - pred_true)),
        ffpf=total((1 - focus_true) * (1 - pred_true)),
    )


#: The attention metrics' names in histories and result documents.
ATTENTION_METRICS = ("a_z", "entropy", "a_z_half")


class AttentionMetrics(NamedTuple):
    """What the attention itself does, summed (or, after `attention_means`, averaged) over examples.

    Attributes:
        a_z: the attention on the truth: ``alpha`` of the foreground segment (for bags and
            text, the attention mass on every truth segment), in [0, 1].
        entropy: the normalised entropy ``H(alpha) / log(n)``, n the example's real
            (unpadded) segments: 1 for uniform attention, 0 for attention on one segment
            (0 too when n = 1).
        a_z_half: the share of examples with ``a_z >= 0.5``, in percent.
    """

    a_z: jax.Array
    entropy: jax.Array
    a_z_half: jax.Array


def attention_sums(
    alpha: Float[jax.Array, "B m"], truth: Bool[jax.Array, "B m"], mask: Bool[jax.Array, "B m"],
    weight: Float[jax.Array, " B"],
) -> AttentionMetrics:
    """Weighted sums over a batch of each example's a_z, normalised entropy and ``a_z >= 0.5``.

    Arguments:
        alpha: ``[B, m]`` attention (0 on padding).
        truth: ``[B, m]`` the truth segments.
        mask: ``[B, m]`` True on real segments.
        weight: ``[B]`` 0/1 (padding rows of a chunk get 0).
    """
    a_z = jnp.sum(jnp.where(truth, alpha, 0.0), axis=-1)
    plogp = jnp.where(mask & (alpha > 0), alpha * jnp.log(jnp.where(alpha > 0, alpha, 1.0)), 0.0)
    n_real = jnp.sum(mask, axis=-1).astype(alpha.dtype)
    log_n = jnp.log(jnp.maximum(n_real, 1.0))
    entropy = jnp.where(n_real > 1, -jnp.sum(plogp, axis=-1) / jnp.where(n_real > 1, log_n, 1.0), 0.0)
    return AttentionMetrics(a_z=jnp.sum(weight * a_z), entropy=jnp.sum(weight * entropy),
                            a_z_half=jnp.sum(weight * (a_z >= 0.5).astype(alpha.dtype)))


def attention_means(sums: AttentionMetrics, n: int) -> AttentionMetrics:
    """`attention_sums` over n examples as means (``a_z_half`` in percent)."""
    return AttentionMetrics(a_z=sums.a_z / n, entropy=sums.entropy / n, a_z_half=100.0 * sums.a_z_half / n)


def to_percent(counts: MetricCounts, n: int) -> MetricCounts:
    """Counts over n examples as percentages."""
    return jax.tree_util.tree_map(lambda c: 100.0 * c / n, counts)


#: Values this close below a bin edge are counted as on the edge: a_z = 1/m at
#: uniform attention (0.2 for m = 5, an edge of the 5 x 5 grid) comes out of a
#: float32 softmax up to a few ulps (~1e-7) either side of it.
EDGE_TOLERANCE = 1e-6


def signature_histogram(
    a_z: Float[ArrayLike, " N"], s_y: Float[ArrayLike, " N"], *, bins: int = 5
) -> Float[np.ndarray, "bins bins"]:
    """The paper's signature: a 2-D histogram of (a_z, s_y) in percent.

    Arguments:
        a_z: ``[N]`` attention on the true (foreground) segment, in [0, 1].
        s_y: ``[N]`` probability of the true label, in [0, 1].
        bins: number of equal-width bins on [0, 1] per axis.

    Returns:
        ``[bins, bins]`` percentages; row i is the a_z bin, column j the s_y bin,
        both in increasing order from 0. The entries sum to 100. Bin i is
        ``[i/bins, (i+1)/bins)``: a value on an inner edge goes to the bin above
        it, 1 goes to the last bin, and a value less than ``EDGE_TOLERANCE``
        below an edge counts as on it.
    """
    a_z, s_y = np.asarray(a_z, np.float64), np.asarray(s_y, np.float64)
    rows, cols = _bin_index(a_z, bins), _bin_index(s_y, bins)
    hist = np.zeros((bins, bins))
    np.add.at(hist, (rows, cols), 1.0)
    return 100.0 * hist / max(len(a_z), 1)


def _bin_index(x: np.ndarray, bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, x + EDGE_TOLERANCE, side="right") - 1, 0, bins - 1)
