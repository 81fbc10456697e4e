"""The array containers: image sets as read from files, and the mosaic data sets
every data set is turned into.

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

from ..errors import DataError
# The data sets' default models live in attnjax.protocol (free of JAX, for the CLI); re-exported here.
from ..protocol import DEFAULT_MODEL, NOT_FOR_CNN, default_model  # noqa: F401


class CoarseLabels(NamedTuple):
    """CIFAR-100's superclass labels, kept beside the fine labels.

    Attributes:
        train_labels: ``[N_train]`` int32 coarse label of each training image.
        test_labels: ``[N_test]`` int32 coarse label of each test image.
        class_names: the 20 superclass names, in label order.
        fine_to_coarse: ``[num_fine]`` int32 superclass of each fine class as
            seen in the files (-1 for a fine class no image has).
    """

    train_labels: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    fine_to_coarse: np.ndarray


class ImageSet(NamedTuple):
    """A labelled image data set with its official train/test split.

    Attributes:
        train_images: ``[N_train, H, W, C]`` float32 in ``[0, 1]``.
        train_labels: ``[N_train]`` int32 in ``[0, len(class_names))``.
        test_images: ``[N_test, H, W, C]`` float32 (``N_test`` may be 0).
        test_labels: ``[N_test]`` int32.
        class_names: the class names, in label order.
        coarse: CIFAR-100's superclass labels; None for every other set.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    coarse: CoarseLabels | None = None


def check_labels(labels: np.ndarray, num_classes: int, path: str, what: str = "label") -> None:
    """Raise DataError, naming ``path`` and the first bad record, unless every
    label (an unsigned array) is below ``num_classes``."""
    if labels.size and int(labels.max()) >= num_classes:
        where = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{path}: {what} {int(labels[where])} (record {where}) is out of range; "
            f"expected 0..{num_classes - 1}"
        )


class MosaicSplit(NamedTuple):
    """One split (train or test) of mosaics.

    Attributes:
        index: ``[N, m]`` int32 rows of the pool that make each mosaic's segments.
        labels: ``[N]`` int32 label of each mosaic, in ``[0, K)``.
        fg_pos: ``[N]`` int32 position of the foreground segment, in ``[0, m)``.
        mask: ``[N, m]`` bool: True for a real segment, False for padding (a
            mosaic with fewer than m segments). Padding gets zero attention
            everywhere: in the losses, the metrics and the signature.
        truth: ``[N, m]`` bool: the segments whose selection counts as *focus
            true*: the foreground for mosaics, the human rationale tokens for
            text (``fg_pos`` is then the first of them).
    """

    index: jax.Array | np.ndarray
    labels: jax.Array | np.ndarray
    fg_pos: jax.Array | np.ndarray
    mask: jax.Array | np.ndarray
    truth: jax.Array | np.ndarray

    @property
    def size(self) -> int:
        return int(self.index.shape[0])


class Dataset(NamedTuple):
    """A pytree of arrays passed to ``train``; contains no Python metadata.

    Attributes:
        pool: ``[P, *segment_shape]`` float32 distinct segments (for text, ``[V]`` int32: token id
            i is entry i, so a mosaic's index row is its token ids).
        train: the training mosaics.
        test: the held-out mosaics (their pool rows are disjoint from train's
            for image data).
    """

    pool: jax.Array | np.ndarray
    train: MosaicSplit
    test: MosaicSplit




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
        settings: how the mosaics were built, resolved (sizes, seed, the
            background draw, pixel range, foreground position, noise, pools).
        has_truth: whether the splits' ``truth`` says which segments carry the label. False
            for a bags file without a ``truth`` array: the focus metrics (focus accuracy,
            FTPT/FFPT/FTPF/FFPF, a_z) are then unavailable and reported as null / "n/a".
        vocab_size: V when the segments are token ids in ``[0, V)`` (text, ``segment_shape == ()``);
            None when they are arrays of numbers.
    """

    name: str
    num_classes: int
    m: int
    segment_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    background_names: tuple[str, ...] = ()
    default_model: str = "mlp"
    settings: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)
    has_truth: bool = True
    vocab_size: int | None = None

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        if self.vocab_size is None:  # not token ids: nothing to record
            out.pop("vocab_size")
        return out


def as_split(index: np.ndarray, labels: np.ndarray, fg_pos: np.ndarray, mask: np.ndarray | None = None,
             truth: np.ndarray | None = None) -> MosaicSplit:
    """A [`MosaicSplit`][attnjax.data.base.MosaicSplit] with the stored dtypes; ``mask`` defaults to all segments real
    and ``truth`` to the foreground position alone."""
    index = np.asarray(index, dtype=np.int32)
    fg_pos = np.asarray(fg_pos, dtype=np.int32)
    mask = np.ones(index.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if truth is None:
        truth = np.arange(index.shape[1])[None, :] == fg_pos[:, None]
    return MosaicSplit(index=index, labels=np.asarray(labels, dtype=np.int32), fg_pos=fg_pos, mask=mask,
                       truth=np.asarray(truth, dtype=bool) & mask)
