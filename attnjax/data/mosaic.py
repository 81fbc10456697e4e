"""Mosaics over any labelled images (paper-notes section 4).

A mosaic is m images: one foreground image, from one of the foreground
classes, at a uniform random position, and m - 1 background images drawn from
the background classes. Its label is the index of the foreground's class within
the foreground classes.

The base images are split into a train pool and a test pool *before* any
mosaic is drawn, so no image appears in both splits.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .base import Dataset, DataInfo, MosaicSplit, as_split

# Above this many random keys (mosaics x background rows), _distinct_draws
# redraws repeats instead of sorting a random key per background row.
DENSE_DRAW_LIMIT = 20_000_000


def check_class_split(
    fg_classes: Sequence[int], bg_classes: Sequence[int], num_base_classes: int
) -> None:
    """Raise ConfigError unless the classes are non-empty, known and disjoint."""
    if len(fg_classes) == 0:
        raise ConfigError("the foreground class list is empty", field="fg")
    if len(bg_classes) == 0:
        raise ConfigError("the background class list is empty", field="bg")
    for role, field, classes in (("foreground", "fg", fg_classes), ("background", "bg", bg_classes)):
        unknown = [c for c in classes if not 0 <= c < num_base_classes]
        if unknown:
            raise ConfigError(
                f"unknown {role} class id(s) {unknown}; valid ids are 0..{num_base_classes - 1}", field=field
            )
        if len(set(classes)) != len(classes):
            raise ConfigError(f"the {role} classes contain duplicates: {list(classes)}", field=field)
    overlap = sorted(set(fg_classes) & set(bg_classes))
    if overlap:
        raise ConfigError(f"classes {overlap} are both foreground and background", field="fg_bg")


def sample_mosaics(
    rng: np.random.Generator,
    base_labels: np.ndarray,
    candidates: np.ndarray,
    *,
    fg_classes: Sequence[int],
    bg_classes: Sequence[int],
    m: int,
    n: int,
    bg_replacement: bool = False,
    fg_first: bool = False,
    m_range: tuple[int, int] | None = None,
    pad_row: int | None = None,
) -> MosaicSplit:
    """Draw n mosaics from the base images listed in ``candidates``.

    Arguments:
        rng: NumPy generator.
        base_labels: ``[P]`` class of every base image (the pool).
        candidates: pool rows this split may use.
        fg_classes, bg_classes: base class ids.
        m: segments per mosaic.
        n: number of mosaics.
        bg_replacement: draw each mosaic's m - 1 backgrounds independently
            (with replacement, as the authors' code); default: m - 1 distinct ones.
        fg_first: put the foreground at position 0 (the authors' fixed-focus
            runs); default: a uniform position.
        m_range: ``(low, high)``: each mosaic has a uniform number of real
            segments in [low, high] (``m`` must equal ``high``), the rest padding.
        pad_row: the pool row padding slots point at (needed with ``m_range``).

    Returns:
        A [`MosaicSplit`][attnjax.data.base.MosaicSplit] whose indices are pool rows.

    Raises:
        ConfigError: if the split lacks foreground images or has fewer than
            m - 1 background images.
    """
    cand_labels = base_labels[candidates]
    fg_rows = candidates[np.isin(cand_labels, fg_classes)]
    bg_rows = candidates[np.isin(cand_labels, bg_classes)]
    if len(fg_rows) == 0:
        raise ConfigError(f"no foreground images (classes {list(fg_classes)}) in this split", field="fg")
    if len(bg_rows) < m - 1:
        raise ConfigError(
            f"only {len(bg_rows)} background images in this split, fewer than m - 1 = {m - 1}", field="m"
        )
    fg_pick = fg_rows[rng.integers(0, len(fg_rows), n)]
    if bg_replacement:
        bg_pick = bg_rows[rng.integers(0, len(bg_rows), (n, m - 1))]
    else:
        bg_pick = _distinct_draws(rng, bg_rows, n, m - 1)
    label_of_class = {c: k for k, c in enumerate(fg_classes)}
    labels = np.array([label_of_class[c] for c in base_labels[fg_pick]], dtype=np.int64)
    if m_range is not None:
        return _variable_length(rng, fg_pick, bg_pick, labels, m_range, pad_row, fg_first)
    fg_pos = np.zeros(n, np.int64) if fg_first else rng.integers(0, m, n)
    is_fg = np.arange(m)[None, :] == fg_pos[:, None]
    index = np.empty((n, m), dtype=np.int64)
    index[is_fg] = fg_pick
    index[~is_fg] = bg_pick.ravel()  # row-major: each row's m - 1 slots in order
    return as_split(index, labels, fg_pos)


def _variable_length(rng, fg_pick, bg_pick, labels, m_range, pad_row, fg_first) -> MosaicSplit:
    """Mosaics of a uniform number of real segments in ``m_range``, padded to its high end.

    Row i has ``count_i`` real segments at positions ``0..count_i - 1`` (the
    foreground at a uniform one of them, the first ``count_i - 1`` of its drawn
    backgrounds in the others) and padding, pointing at ``pad_row``, after them.
    """
    low, high = m_range
    n = len(fg_pick)
    counts = rng.integers(low, high + 1, n)
    fg_pos = np.zeros(n, np.int64) if fg_first else rng.integers(0, counts)
    slots = np.arange(high)[None, :]
    real = slots < counts[:, None]
    is_fg = slots == fg_pos[:, None]
    is_bg = real & ~is_fg
    order = np.clip(np.cumsum(is_bg, axis=1) - 1, 0, high - 2)  # which drawn background fills a slot
    index = np.full((n, high), pad_row, dtype=np.int64)
    index[is_bg] = np.take_along_axis(bg_pick, order, axis=1)[is_bg]
    index[is_fg] = fg_pick
    return as_split(index, labels, fg_pos, real)


def _distinct_draws(rng: np.random.Generator, rows: np.ndarray, n: int, k: int) -> np.ndarray:
    """``[n, k]`` draws from ``rows``, the k in each row distinct (uniform without replacement)."""
    if n * len(rows) <= DENSE_DRAW_LIMIT:
        # The first k entries of a random permutation, for every row at once.
        return rows[np.argsort(rng.random((n, len(rows))), axis=1)[:, :k]]
    # Large pools: redraw rows with a repeat; repeats are rare when k << len(rows).
    picks = rows[rng.integers(0, len(rows), (n, k))]
    while True:
        ordered = np.sort(picks, axis=1)
        repeated = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
        if not repeated.any():
            return picks
        picks[repeated] = rows[rng.integers(0, len(rows), (int(repeated.sum()), k))]


def split_pools(
    rng: np.random.Generator,
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray | None,
    test_labels: np.ndarray | None,
    test_fraction: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The base images as one pool, split into disjoint train and test rows.

    Arguments:
        rng: NumPy generator (used only without an official test split).
        images, labels: the base images and their classes.
        test_images, test_labels: an official test split, or None (or empty).
        test_fraction: without an official split, the share of the base
            images held out for test, chosen at random.

    Returns:
        ``(pool, pool_labels, train_rows, test_rows)``: the rows are sorted,
        disjoint and together every row of the pool.

    Raises:
        ConfigError: a ``test_fraction`` outside (0, 1) where it is used.
    """
    if test_images is not None and len(test_images) > 0:
        pool = np.concatenate([images, test_images])
        pool_labels = np.concatenate([labels, np.asarray(test_labels)])
        return pool, pool_labels, np.arange(len(images)), np.arange(len(images), len(pool))
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = rng.permutation(len(images))
    n_held = int(round(test_fraction * len(images)))
    return images, labels, np.sort(perm[n_held:]), np.sort(perm[:n_held])


def build_mosaic_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    fg_classes: Sequence[int],
    bg_classes: Sequence[int],
    m: int,
    n_train: int,
    n_test: int,
    seed: int = 0,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    test_fraction: float = 0.3,
    name: str = "mosaic",
    class_names: Sequence[str] | None = None,
    default_model: str = "mlp",
    bg_replacement: bool = False,
    fg_first: bool = False,
    pixel_range: tuple[float, float] = (0.0, 1.0),
    m_range: tuple[int, int] | None = None,
) -> tuple[Dataset, DataInfo]:
    """Mosaics over labelled base images, with disjoint train and test pools.

    Arguments:
        images: ``[N, *segment_shape]`` float32 base images.
        labels: ``[N]`` integer base classes.
        fg_classes: non-empty list of the foreground's base class ids.
        bg_classes: non-empty list of the background's base class ids, disjoint
            from ``fg_classes``.
        m: segments per mosaic (at least 2).
        n_train: number of training mosaics (positive).
        n_test: number of test mosaics (positive).
        seed: data seed; the same seed gives the same mosaics.
        test_images: an official test split's images. If given, test mosaics
            draw from it only; otherwise the base images are split at random,
            ``test_fraction`` of them going to the test pool.
        test_labels: the official test split's classes (with ``test_images``).
        test_fraction: share of the base images held out when there is no
            official test split.
        name: data set name for [`DataInfo`][attnjax.data.base.DataInfo].
        class_names: names of the base classes.
        default_model: model family recorded in the info.
        bg_replacement: draw each mosaic's m - 1 backgrounds independently (with
            replacement, as the authors' code); default: m - 1 distinct ones.
        fg_first: put the foreground at position 0 instead of a uniform position.
        pixel_range: ``(low, high)``: base images given in [0, 1] are mapped
            affinely onto it (``(-1, 1)`` is the authors' Normalize(0.5, 0.5)).
        m_range: ``(low, high)`` with 2 <= low <= high = m: mosaics with a
            varying number of real segments, padded to m with an all-zero
            segment appended to the pool and masked (``MosaicSplit.mask``).

    Returns:
        ``(dataset, info)``; the labels are indices into ``fg_classes``.

    Raises:
        ConfigError: on bad sizes or class choices.
    """
    labels = np.asarray(labels)
    if m < 2:
        raise ConfigError(f"m must be at least 2 segments, got {m}")
    if n_train < 1 or n_test < 1:
        raise ConfigError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    num_base = len(class_names) if class_names is not None else int(labels.max()) + 1
    check_class_split(fg_classes, bg_classes, num_base)
    rng = np.random.default_rng(seed)
    pool, pool_labels, train_rows, test_rows = split_pools(
        rng, images, labels, test_images, test_labels, test_fraction
    )
    low, high = pixel_range
    if not low < high:
        raise ConfigError(f"pixel_range must have low < high, got {tuple(pixel_range)}")
    if m_range is not None and not 2 <= m_range[0] <= m_range[1] == m:
        raise ConfigError(f"the range of m must be LOW,HIGH with 2 <= LOW <= HIGH = m, got {tuple(m_range)}",
                          field="m_range")
    common: dict[str, Any] = dict(fg_classes=list(fg_classes), bg_classes=list(bg_classes), m=m,
                  bg_replacement=bg_replacement, fg_first=fg_first, m_range=m_range, pad_row=len(pool))
    train = sample_mosaics(rng, pool_labels, train_rows, n=n_train, **common)
    test = sample_mosaics(rng, pool_labels, test_rows, n=n_test, **common)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_base)]
    info = DataInfo(
        name=name,
        num_classes=len(fg_classes),
        m=m,
        segment_shape=tuple(pool.shape[1:]),
        class_names=tuple(names[c] for c in fg_classes),
        background_names=tuple(names[c] for c in bg_classes),
        default_model=default_model,
        settings=dict(
            n_train=n_train, n_test=n_test, seed=seed, bg_replacement=bool(bg_replacement),
            fg_position="first" if fg_first else "uniform", pixel_range=[float(low), float(high)],
            test_pool="official test split" if test_images is not None and len(test_images) > 0
            else f"random {test_fraction:g} of the base images",
            pools="disjoint: no base image is in both the train and the test pool",
            fg_classes=[names[c] for c in fg_classes], bg_classes=[names[c] for c in bg_classes],
            **({"m_range": list(m_range), "padding": "an all-zero segment, masked"} if m_range else {}),
        ),
    )
    pool = np.asarray(pool, dtype=np.float32)
    if (low, high) != (0.0, 1.0):
        pool = (low + (high - low) * pool).astype(np.float32)
    if m_range is not None:
        pool = np.concatenate([pool, np.zeros((1,) + pool.shape[1:], np.float32)])
    return Dataset(pool=pool, train=train, test=test), info
