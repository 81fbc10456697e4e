"""Your own bags of segments (attention multiple-instance learning): ``--dataset bags --data-file FILE.npz``.

The file is a NumPy ``.npz`` archive (``np.savez``) of plain arrays; it is read with
``allow_pickle=False``, so nothing in it is ever unpickled. ``N`` bags of ``m`` segments:

* ``segments`` ``[N, m, *shape]``: numbers (raw segments or precomputed feature vectors);
  ``shape`` has at least one axis. Real segments' values are finite in float32 and at most
  `MAX_VALUE` (1e12) in magnitude (standardize larger features).
* ``labels`` ``[N]``: integers ``0 .. K-1``, the bag's class; without ``class_names``, K (the
  largest label + 1) is at most N.
* ``mask`` (optional) ``[N, m]``: bool or 0/1, True on the segments that are real (bags of
  different sizes are padded to m); every bag needs at least one. Default: all real.
  The values of padding segments are ignored (replaced by zeros; they may be NaN).
* ``truth`` (optional) ``[N, m]``: bool or 0/1, the segments that carry the label (the
  "foreground", for the focus metrics); only on real segments. A bag may have none (it
  then never has a true focus), but the train bags and the test bags must each have some.
  Without ``truth`` the focus metrics are unavailable.
* ``split`` (optional) ``[N]``: 0 = train, 1 = test (integers), or the strings
  ``"train"`` / ``"test"``. Default: bag i is a test bag when ``i % 5 == 4``
  (`attnjax.protocol.BAGS_TEST_EVERY`), so every fifth bag tests and the split does
  not depend on ``--seed``.
* ``class_names`` (optional) ``[K]``: strings (UTF-8), the classes in label order (default
  ``"0" .. "K-1"`` with K = the largest label + 1).

Every malformed file is one [`DataError`][attnjax.errors.DataError] line naming the file and
the key at fault; sizes the file declares are checked against its bytes before anything is
allocated (`attnjax.data.fileio.read_npz`), and only a regular file is read. The user guide
is ``docs/bags.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..protocol import BAGS_TEST_EVERY
from .fileio import read_npz

__all__ = ["BAG_KEYS", "MAX_VALUE", "REQUIRED_KEYS", "read_bags", "load_bags"]

#: The keys a bags file may hold, the first two required.
BAG_KEYS = ("segments", "labels", "mask", "truth", "split", "class_names")
REQUIRED_KEYS = ("segments", "labels")
_SPLITS = ("train", "test")
#: The largest magnitude a real segment's value may have (see `read_bags`).
MAX_VALUE = 1e12


def _open(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive (`attnjax.data.fileio.read_npz`: sizes checked before
    anything is allocated, nothing unpickled)."""
    arrays = read_npz(path, what="a bags file", keys=BAG_KEYS)
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise DataError(f"{path}: missing key {key!r}; a bags file needs segments [N, m, ...] and labels [N]")
    return arrays


def _flags(path: Path, key: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A bool array of ``shape`` from bools or 0/1 numbers."""
    if value.shape != shape:
        raise DataError(f"{path}: {key!r} has shape {value.shape}; expected {shape} ([N, m] as 'segments')")
    if value.dtype == bool:
        return value
    if value.dtype.kind not in "iuf":
        raise DataError(f"{path}: {key!r} has dtype {value.dtype}; expected bool or 0/1 numbers")
    bad = ~((value == 0) | (value == 1))
    if bad.any():
        raise DataError(f"{path}: {key!r} holds {value[bad].flat[0].item()!r} ({_where(bad)}); "
                        "expected bool or 0/1 values")
    return value == 1


def _check_truth(path: Path, truth: np.ndarray, test: np.ndarray) -> None:
    """A ``truth`` that marks no segment (of every bag, or of a split's bags) would make every focus
    metric 0 and put every bag at a_z = 0 in the signature: refused, as a file without the key
    is by the commands that need it."""
    if not truth.any():
        raise DataError(f"{path}: 'truth' marks no segment in any bag; a file without truth leaves the key out "
                        "(compare then reports the focus metrics unavailable; signature and fixed-focus need one)")
    for name, part in (("train", ~test), ("test", test)):
        if not truth[part].any():
            raise DataError(f"{path}: 'truth' marks no segment in any of the {int(part.sum())} {name} bags; "
                            "the focus metrics, signature and fixed-focus need truth in both splits")


def _texts(path: Path, key: str, value: np.ndarray) -> tuple[str, ...]:
    """A 1-D array of strings (``U``, or ``S`` bytes in UTF-8) as Python strings that encode as UTF-8."""
    out = []
    for i, x in enumerate(value):
        try:
            text = bytes(x).decode("utf-8") if value.dtype.kind == "S" else str(x)
            text.encode("utf-8")
        except (UnicodeError, ValueError) as err:
            raise DataError(f"{path}: {key!r} entry {i} is not UTF-8 text ({_brief(err)})") from None
        out.append(text)
    return tuple(out)


def _brief(err: BaseException) -> str:
    return " ".join(str(err).split())[:100]


def _where(flags: np.ndarray) -> str:
    """``"bag i"`` or ``"segment j of bag i"``: the first True entry of ``flags``."""
    first = tuple(int(i) for i in np.argwhere(flags)[0])
    return f"bag {first[0]}" if len(first) == 1 else f"segment {first[1]} of bag {first[0]}"


def read_bags(path) -> dict:
    """Read and check a bags file.

    Arguments:
        path: the ``.npz`` file (see the module docstring for its keys).

    Returns:
        ``{"segments": [N, m, *shape] float32 (padding zeroed), "labels": [N] int32,
        "mask": [N, m] bool, "truth": [N, m] bool or None, "test": [N] bool (True: a test bag),
        "split": "file" or the rule used, "class_names": K strings}``.

    Raises:
        DataError: one line naming ``path`` and the key at fault: not a regular file or not an
            .npz file, a damaged or truncated member, an unknown or missing key, wrong shapes or
            dtypes, NaN, infinity or a value beyond ``MAX_VALUE`` in a real segment, labels that
            are not integers in 0..K-1 (K at most N without ``class_names``), strings that are not
            UTF-8, an empty bag, truth on padding or truth marking no segment of the train or
            test bags, or a split without training or test bags.
    """
    path = Path(path)
    arrays = _open(path)
    segments = arrays["segments"]
    if segments.dtype.kind not in "iuf":
        raise DataError(f"{path}: 'segments' has dtype {segments.dtype}; expected numbers (float or int)")
    if segments.ndim < 3:
        raise DataError(f"{path}: 'segments' has shape {segments.shape}; expected [N, m, *shape] with at least "
                        "3 axes (one feature vector per segment: [N, m, D])")
    n, m = segments.shape[:2]
    if n < 2:
        raise DataError(f"{path}: 'segments' holds {n} bag(s); training needs at least one train and one test bag")
    if m < 2:
        raise DataError(f"{path}: 'segments' has m = {m} segment(s) per bag; attention needs at least 2")
    if 0 in segments.shape[2:]:
        raise DataError(f"{path}: 'segments' has shape {segments.shape}: a segment holds no number")

    labels = arrays["labels"]
    if labels.shape != (n,):
        raise DataError(f"{path}: 'labels' has shape {labels.shape}; expected ({n},), one per bag of 'segments'")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: 'labels' has dtype {labels.dtype}; expected integers 0..K-1")
    if labels.min() < 0:
        raise DataError(f"{path}: 'labels' holds {int(labels.min())} ({_where(labels < 0)}); expected 0..K-1")

    names = arrays.get("class_names")
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{path}: 'class_names' must be a 1-D array of strings, got shape {names.shape} "
                            f"dtype {names.dtype}")
        names = _texts(path, "class_names", names)
        if len(set(names)) != len(names):
            raise DataError(f"{path}: 'class_names' lists a name twice")
        k = len(names)
    else:
        k = int(labels.max()) + 1
        if k > n:  # K from a number in the file: bounded by the file before K names are made
            raise DataError(f"{path}: 'labels' holds {k - 1} ({_where(labels == k - 1)}), so without 'class_names' "
                            f"there would be {k} classes for {n} bags ({len(np.unique(labels))} distinct labels); "
                            "number the classes 0..K-1, or name all K in 'class_names'")
        names = tuple(str(c) for c in range(k))
    if int(labels.max()) >= k:
        raise DataError(f"{path}: 'labels' holds {int(labels.max())} ({_where(labels >= k)}); 'class_names' "
                        f"names {k} classes, so labels are 0..{k - 1}")
    if k < 2:
        raise DataError(f"{path}: 'labels' has {k} class; classification needs at least 2")

    mask = np.ones((n, m), bool) if "mask" not in arrays else _flags(path, "mask", arrays["mask"], (n, m))
    empty = np.asarray(~mask.any(1))
    if empty.any():
        raise DataError(f"{path}: 'mask': {_where(empty)} is empty (no real segment; its mask row is all false)")

    real = segments[mask]  # [real segments, *shape]
    with np.errstate(over="ignore", invalid="ignore"):
        single = real.astype(np.float32)
    bad = ~np.isfinite(single).reshape(len(single), -1).all(1)
    if bad.any():
        where = np.argwhere(mask)[np.argmax(bad)]
        raise DataError(f"{path}: 'segments': segment {int(where[1])} of bag {int(where[0])} holds NaN or infinity "
                        "in float32 (padding segments, mask false, may; real ones may not)")
    large = np.abs(single).reshape(len(single), -1).max(1) > MAX_VALUE
    if large.any():
        first = int(np.argmax(large))
        where, row = np.argwhere(mask)[first], single[first].ravel()
        value = row[np.argmax(np.abs(row))]
        raise DataError(f"{path}: 'segments': segment {int(where[1])} of bag {int(where[0])} holds {float(value):.3g}; "
                        f"values beyond +-{MAX_VALUE:.0e} are refused, as a network's initial loss is of their order "
                        "whatever the learning rate: standardize the features (mean 0, std 1)")
    pool = np.zeros(segments.shape, np.float32)
    pool[mask] = single

    truth = None
    if "truth" in arrays:
        truth = _flags(path, "truth", arrays["truth"], (n, m))
        outside = truth & ~mask
        if outside.any():
            raise DataError(f"{path}: 'truth' marks {_where(outside)}, which 'mask' marks as padding")

    if "split" in arrays:
        split = arrays["split"]
        if split.shape != (n,):
            raise DataError(f"{path}: 'split' has shape {split.shape}; expected ({n},), one per bag")
        if split.dtype.kind in "US":
            text = np.array(_texts(path, "split", split), dtype=str)
            known = np.isin(text, _SPLITS)
            if not known.all():
                raise DataError(f"{path}: 'split' holds {str(text[~known][0])!r} ({_where(~known)}); "
                                "expected 'train' or 'test' (or 0 / 1)")
            test = text == "test"
        elif split.dtype.kind in "iu":
            known = (split == 0) | (split == 1)
            if not known.all():
                raise DataError(f"{path}: 'split' holds {int(split[~known][0])} ({_where(~known)}); "
                                "expected 0 (train) or 1 (test)")
            test = split == 1
        else:
            raise DataError(f"{path}: 'split' has dtype {split.dtype}; expected integers 0 (train) / 1 (test) "
                            "or the strings 'train' / 'test'")
        rule = "file"
    else:
        test = np.arange(n) % BAGS_TEST_EVERY == BAGS_TEST_EVERY - 1
        rule = f"bag i tests when i % {BAGS_TEST_EVERY} == {BAGS_TEST_EVERY - 1} (no 'split' in the file)"
    for name, part in (("train", ~test), ("test", test)):
        if not part.any():
            why = ("" if rule == "file" else f"; without 'split', every {BAGS_TEST_EVERY}th bag tests, "
                   f"which needs at least {BAGS_TEST_EVERY} bags")
            raise DataError(f"{path}: 'split' puts no bag in {name} ({n} bags){why}")
    if truth is not None:
        _check_truth(path, truth, test)
    return {"segments": pool, "labels": labels.astype(np.int32), "mask": mask, "truth": truth, "test": test,
            "split": rule, "class_names": names}


def load_bags(path) -> tuple:
    """A bags file as attnjax's ``(Dataset, DataInfo)``.

    The pool holds every segment of the file (``[N * m, *shape]``, padding zeroed) and bag
    i's index row is ``i * m .. i * m + m - 1``; ``mask`` and ``truth`` are the file's
    (``truth`` all false and ``DataInfo.has_truth`` False when the file has none, so the
    focus metrics are reported unavailable); ``fg_pos`` is a bag's first truth segment (0
    without one), which only the fixed-focus experiment reads.

    Arguments:
        path: the ``.npz`` file.

    Returns:
        ``(dataset, info)``; ``info.name`` is ``"bags"``, its default model ``mlp``.

    Raises:
        DataError: as `read_bags`.
    """
    from .base import Dataset, DataInfo, as_split, default_model

    bags = read_bags(path)
    segments, mask, labels, test = bags["segments"], bags["mask"], bags["labels"], bags["test"]
    n, m = segments.shape[:2]
    truth = bags["truth"] if bags["truth"] is not None else np.zeros((n, m), bool)
    index = np.arange(n * m, dtype=np.int32).reshape(n, m)

    def split(rows):
        return as_split(index[rows], labels[rows], np.argmax(truth[rows], axis=1), mask[rows], truth[rows])

    sizes = mask.sum(1)
    settings = dict(
        source=str(path), split=bags["split"], sizes=[int((~test).sum()), int(test.sum())],
        segments_per_bag=[int(sizes.min()), int(sizes.max())],
        truth="the file's 'truth' array" if bags["truth"] is not None else None,
        bags_without_truth=None if bags["truth"] is None else int((~truth.any(1)).sum()),
    )
    info = DataInfo(
        name="bags", num_classes=len(bags["class_names"]), m=int(m), segment_shape=tuple(segments.shape[2:]),
        class_names=bags["class_names"], background_names=(), default_model=default_model("bags"),
        settings=settings, has_truth=bags["truth"] is not None,
    )
    pool = segments.reshape((n * m,) + segments.shape[2:])
    return Dataset(pool=pool, train=split(~test), test=split(test)), info
