"""The array containers every data set is turned into.

A mosaic data set is stored as a *pool* of distinct segments plus integer indices
into it, so ``segments = pool[index]``. Mosaics share base images, so this keeps
memory at the size of the base data set rather than m times it, and the indices
make the "no image in both train and test" property checkable.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import numpy as np


class MosaicSplit(NamedTuple):
    """One split (train or test) of mosaics.

    Attributes:
        index: ``[N, m]`` int32 rows of the pool that make each mosaic's segments.
        labels: ``[N]`` int32 label of each mosaic, in ``[0, K)``.
        fg_pos: ``[N]`` int32 position of the foreground segment, in ``[0, m)``.
    """

    index: jax.Array
    labels: jax.Array
    fg_pos: jax.Array

    @property
    def size(self) -> int:
        return int(self.index.shape[0])


class Dataset(NamedTuple):
    """A pytree of arrays passed to ``train``; contains no Python metadata.

    Attributes:
        pool: ``[P, *segment_shape]`` float32 distinct segments.
        train: the training mosaics.
        test: the held-out mosaics (their pool rows are disjoint from train's
            for image data).
    """

    pool: jax.Array
    train: MosaicSplit
    test: MosaicSplit

    def segments(self, split: MosaicSplit) -> jax.Array:
        """``[N, m, *segment_shape]`` segments of a split (materialised)."""
        return self.pool[split.index]


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Static description of a data set (kept out of the traced pytree).

    Attributes:
        name: the data set's name, e.g. ``"digits"``.
        num_classes: K, the number of foreground classes (the label range).
        m: segments per mosaic.
        segment_shape: shape of one segment, e.g. ``(8, 8, 1)`` or ``(C + 1,)``.
        class_names: names of the K foreground classes, in label order.
        background_names: names of the background classes (empty for orthogonal).
        default_model: the model family used when none is chosen.
    """

    name: str
    num_classes: int
    m: int
    segment_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    background_names: tuple[str, ...] = ()
    default_model: str = "mlp"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def as_split(index: np.ndarray, labels: np.ndarray, fg_pos: np.ndarray) -> MosaicSplit:
    return MosaicSplit(
        index=np.asarray(index, dtype=np.int32),
        labels=np.asarray(labels, dtype=np.int32),
        fg_pos=np.asarray(fg_pos, dtype=np.int32),
    )
