"""Paired statistics across seeds: what one paradigm gains over another, seed by seed.

Within one run of attnjax every paradigm's seed ``s`` starts from the same key, so the runs
of two paradigms at seed ``s`` share (as far as the two paradigms have them):

* the focus model's initial parameters and the classifier's (``split(key)`` of the seed's
  init key, `attnjax.train.init_state`);
* the minibatch order (each epoch's permutation comes from the seed's loop key, which no
  paradigm consumes differently);
* the sampling keys of the sampled losses (``fold_in(perm_key, batch + 1)``).

The paradigms differ only in their loss (and the hybrid in its switch), so differences
between them at one seed are *paired*: the seed-to-seed spread of initialisation and data
order cancels. `paired_difference` is the paired t-interval on those differences.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PairedDifference", "paired_difference"]


class PairedDifference(NamedTuple):
    """The paired difference ``a - b`` over seeds (each field shaped like one seed's values).

    Attributes:
        mean: the mean of ``a[s] - b[s]`` over seeds.
        low: the lower end of the two-sided Student-t confidence interval of that mean,
            ``mean - t_{(1+confidence)/2, n-1} * sd / sqrt(n)``; NaN with one seed.
        high: its upper end, ``mean + t_{(1+confidence)/2, n-1} * sd / sqrt(n)``; NaN with one seed.
        greater: the number of seeds where ``a[s] > b[s]``.
        seeds: the number of seeds n.
        confidence: the interval's confidence level.
    """

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    greater: np.ndarray
    seeds: int
    confidence: float


def paired_difference(a, b, confidence: float = 0.95) -> PairedDifference:
    """The mean of ``a - b`` over seeds (axis 0) with its paired t-interval.

    Arguments:
        a: ``[seeds, ...]`` values of one paradigm.
        b: the other paradigm's, of ``a``'s shape: seed ``s`` of ``a`` is paired with seed ``s`` of ``b``.
        confidence: the interval's level, in (0, 1).

    Returns:
        A `PairedDifference`; its arrays have the shape of ``a[0]``. The interval comes
        from ``scipy.stats.t`` on the differences' sample standard deviation (ddof 1); where
        every difference is equal it has zero width.

    Raises:
        ValueError: the shapes differ, there are no seeds, or ``confidence`` is outside (0, 1).
    """
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: a and b must have one shape, got {a.shape} and {b.shape}")
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError("paired_difference: need a leading seed axis with at least one seed")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"paired_difference: confidence must be in (0, 1), got {confidence}")
    diff = a - b
    n = diff.shape[0]
    mean = diff.mean(axis=0)
    if n < 2:
        nan = np.full(mean.shape, np.nan)
        return PairedDifference(mean, nan, nan.copy(), np.sum(diff > 0, axis=0), n, confidence)
    half = stats.t.ppf(0.5 + confidence / 2, df=n - 1) * diff.std(axis=0, ddof=1) / np.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, np.sum(diff > 0, axis=0), n, confidence)
