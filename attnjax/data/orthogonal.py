"""The paper's simple setting (paper-notes section 3) as a data set.

C classes, m segments of dimension C + 1. The foreground of class i is the unit
vector e_i; every background segment is the zero vector, optionally with tiny
noise in the last coordinate (the one no foreground uses).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Dataset, DataInfo, as_split, default_model


def orthogonal_split(
    rng: np.random.Generator,
    n: int,
    *,
    num_classes: int,
    m: int,
    noise: float = 0.0,
    random_position: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample n orthogonal mosaics.

    Arguments:
        rng: NumPy generator (the only source of randomness).
        n: number of mosaics.
        num_classes: C.
        m: segments per mosaic.
        noise: standard deviation of the background's last coordinate.
        random_position: put the foreground at a uniform position instead of 0.

    Returns:
        ``segments [n, m, C + 1]`` float32, ``labels [n]`` and ``fg_pos [n]``;
        the labels cycle through the classes (``i % C``), so n = C gives
        exactly one mosaic per class.
    """
    labels = np.arange(n) % num_classes
    fg_pos = rng.integers(0, m, n) if random_position else np.zeros(n, dtype=np.int64)
    segments = np.zeros((n, m, num_classes + 1), dtype=np.float32)
    if noise > 0:
        segments[:, :, -1] = noise * rng.standard_normal((n, m))
    segments[np.arange(n), fg_pos] = 0.0
    segments[np.arange(n), fg_pos, labels] = 1.0
    return segments, labels, fg_pos


def load_orthogonal(
    *,
    num_classes: int = 20,
    m: int = 20,
    n_train: int | None = None,
    n_test: int | None = None,
    noise: float = 0.0,
    random_position: bool = False,
    seed: int = 0,
) -> tuple[Dataset, DataInfo]:
    """The simple setting as a [`Dataset`][attnjax.data.base.Dataset].

    Arguments:
        num_classes: C (at least 2).
        m: segments per mosaic (at least 2).
        n_train: training mosaics; default C, i.e. one per class, which makes the
            mean loss the population loss of paper-notes section 3.
        n_test: test mosaics; default C.
        noise: background noise in the last coordinate (0 means exact zeros).
        random_position: foreground at a random position instead of index 0.
        seed: data seed.

    Returns:
        ``(dataset, info)``.

    Raises:
        ConfigError: on sizes that make no sense.
    """
    n_train = num_classes if n_train is None else n_train
    n_test = num_classes if n_test is None else n_test
    if num_classes < 2:
        raise ConfigError(f"orthogonal data needs at least 2 classes, got {num_classes}", field="num_classes")
    if m < 2:
        raise ConfigError(f"m must be at least 2 segments, got {m}")
    if n_train < 1 or n_test < 1:
        raise ConfigError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    if noise < 0:
        raise ConfigError(f"noise must be non-negative, got {noise}")
    rng = np.random.default_rng(seed)
    splits = []
    pools = []
    offset = 0
    for n in (n_train, n_test):
        segments, labels, fg_pos = orthogonal_split(
            rng, n, num_classes=num_classes, m=m, noise=noise, random_position=random_position
        )
        # Every segment is its own pool row: with noise no two are equal.
        pools.append(segments.reshape(n * m, -1))
        splits.append(as_split(offset + np.arange(n * m).reshape(n, m), labels, fg_pos))
        offset += n * m
    data = Dataset(pool=np.concatenate(pools), train=splits[0], test=splits[1])
    info = DataInfo(
        name="orthogonal",
        num_classes=num_classes,
        m=m,
        segment_shape=(num_classes + 1,),
        class_names=tuple(f"e{i}" for i in range(num_classes)),
        background_names=("zero",),
        default_model=default_model("orthogonal"),
        settings=dict(
            n_train=n_train, n_test=n_test, seed=seed, noise_std=float(noise),
            fg_position="uniform" if random_position else "first",
        ),
    )
    return data, info
