"""Mosaic and orthogonal data invariants."""

import numpy as np
import pytest

from attnjax.data import build_mosaic_dataset, load_dataset, load_orthogonal, mosaic
from attnjax.errors import ConfigError


def _base(n=300, classes=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    # Each image stores its own id in pixel (0, 0) and its class in pixel (0, 1).
    images = rng.random((n, 4, 4, 1)).astype(np.float32)
    images[:, 0, 0, 0] = np.arange(n)
    images[:, 0, 1, 0] = labels
    return images, labels


@pytest.mark.parametrize("official_test", [False, True])
def test_mosaic_invariants(official_test):
    images, labels = _base()
    fg, bg = [4, 1], [0, 2, 5]
    kwargs = dict(fg_classes=fg, bg_classes=bg, m=4, n_train=200, n_test=80, seed=1)
    if official_test:
        test_images, test_labels = _base(100, seed=9)
        test_images[:, 0, 0, 0] += 10_000
        kwargs.update(test_images=test_images, test_labels=test_labels)
    data, info = build_mosaic_dataset(images, labels, **kwargs)
    pool = np.asarray(data.pool)
    assert info.num_classes == 2 and info.m == 4
    for split in (data.train, data.test):
        segments = pool[np.asarray(split.index)]  # [N, m, 4, 4, 1]
        seg_class = segments[:, :, 0, 1, 0].astype(int)
        rows = np.arange(split.size)
        # The foreground is at the recorded position and its class gives the label.
        fg_class = seg_class[rows, split.fg_pos]
        np.testing.assert_array_equal(np.array(fg)[split.labels], fg_class)
        # Every other segment is background; and only one foreground per mosaic.
        is_fg = np.isin(seg_class, fg)
        np.testing.assert_array_equal(is_fg.sum(1), 1)
        assert np.all(np.isin(seg_class[~is_fg], bg))
        # Background images within a mosaic are distinct.
        ids = segments[:, :, 0, 0, 0]
        assert all(len(set(r)) == len(r) for r in ids)
    # No base image is in both splits.
    train_ids = set(pool[np.asarray(data.train.index)][..., 0, 0, 0].ravel())
    test_ids = set(pool[np.asarray(data.test.index)][..., 0, 0, 0].ravel())
    assert not train_ids & test_ids
    # Positions are spread over all slots.
    assert set(np.asarray(data.train.fg_pos)) == set(range(4))


def test_mosaics_are_deterministic_in_the_seed():
    images, labels = _base()
    kw = dict(fg_classes=[0], bg_classes=[1, 2], m=3, n_train=50, n_test=20)
    a, _ = build_mosaic_dataset(images, labels, seed=5, **kw)
    b, _ = build_mosaic_dataset(images, labels, seed=5, **kw)
    c, _ = build_mosaic_dataset(images, labels, seed=6, **kw)
    np.testing.assert_array_equal(a.train.index, b.train.index)
    assert not np.array_equal(a.train.index, c.train.index)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(fg_classes=[], bg_classes=[1]), "foreground class list is empty"),
        (dict(fg_classes=[0], bg_classes=[]), "background class list is empty"),
        (dict(fg_classes=[0, 1], bg_classes=[1, 2]), r"both foreground and background"),
        (dict(fg_classes=[0, 17], bg_classes=[1]), "unknown foreground class"),
        (dict(fg_classes=[0], bg_classes=[1], m=1), "m must be at least 2"),
        (dict(fg_classes=[0], bg_classes=[1], n_train=0), "must be positive"),
    ],
)
def test_bad_mosaic_options(kw, match):
    images, labels = _base()
    args = dict(m=3, n_train=10, n_test=10, class_names=[str(i) for i in range(6)])
    args.update(kw)
    with pytest.raises(ConfigError, match=match):
        build_mosaic_dataset(images, labels, **args)


def test_orthogonal_setting():
    data, info = load_orthogonal(num_classes=5, m=3)
    segments = np.asarray(data.pool)[np.asarray(data.train.index)]
    assert segments.shape == (5, 3, 6)  # one mosaic per class, dimension C + 1
    np.testing.assert_array_equal(data.train.labels, np.arange(5))
    np.testing.assert_array_equal(segments[:, 0, :5], np.eye(5))  # foreground e_y at index 0
    np.testing.assert_array_equal(segments[:, 1:], 0.0)  # zero background
    noisy, _ = load_orthogonal(num_classes=5, m=3, noise=1e-3, random_position=True, n_train=40)
    seg = np.asarray(noisy.pool)[np.asarray(noisy.train.index)]
    rows = np.arange(40)
    np.testing.assert_array_equal(seg[rows, noisy.train.fg_pos, noisy.train.labels], 1.0)
    bg = np.ones(seg.shape[:2], bool)
    bg[rows, noisy.train.fg_pos] = False
    assert np.all(seg[bg][:, :5] == 0) and np.all(np.abs(seg[bg][:, 5]) < 0.01)


def test_digits_default_split():
    data, info = load_dataset("digits", m=5, n_train=100, n_test=50)
    assert info.class_names == ("0", "1", "2")
    assert info.background_names == tuple(str(i) for i in range(3, 10))
    assert info.segment_shape == (8, 8, 1)
    assert float(np.max(data.pool)) <= 1.0


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown data set"):
        load_dataset("imagenet")


# --------------------------------------------------------------------------
# The pools themselves, and the large-pool draws


def _assert_partition(train_rows, test_rows, pool_size):
    train_rows, test_rows = np.asarray(train_rows), np.asarray(test_rows)
    assert len(set(train_rows.tolist())) == len(train_rows)
    assert len(set(test_rows.tolist())) == len(test_rows)
    assert not set(train_rows.tolist()) & set(test_rows.tolist())
    assert sorted(train_rows.tolist() + test_rows.tolist()) == list(range(pool_size))


def test_split_pools_of_digits_are_disjoint_and_cover_every_image():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images.astype(np.float32), digits.target
    # Random hold-out: the pool is the base images, split 1797 = 1258 + 539.
    pool, pool_labels, train_rows, test_rows = mosaic.split_pools(
        np.random.default_rng(3), images, labels, None, None, 0.3
    )
    _assert_partition(train_rows, test_rows, 1797)
    assert len(test_rows) == 539
    np.testing.assert_array_equal(pool, images)
    np.testing.assert_array_equal(pool_labels, labels)
    # An official split: train rows hold exactly the train images, test rows the test ones.
    pool, pool_labels, train_rows, test_rows = mosaic.split_pools(
        np.random.default_rng(3), images[:1000], labels[:1000], images[1000:], labels[1000:], 0.3
    )
    _assert_partition(train_rows, test_rows, 1797)
    np.testing.assert_array_equal(pool[train_rows], images[:1000])
    np.testing.assert_array_equal(pool[test_rows], images[1000:])
    np.testing.assert_array_equal(pool_labels[test_rows], labels[1000:])


@pytest.mark.parametrize("official_test", [False, True])
def test_build_draws_each_split_from_its_own_pool(monkeypatch, official_test):
    """The candidate rows each split draws from, not only the rows it happened to draw."""
    images, labels = _base()
    kwargs = {}
    if official_test:
        test_images, test_labels = _base(100, seed=9)
        test_images[:, 0, 0, 0] += 10_000
        kwargs.update(test_images=test_images, test_labels=test_labels)
    seen = []
    real = mosaic.sample_mosaics

    def recording(rng, base_labels, candidates, **kw):
        seen.append(np.asarray(candidates))
        return real(rng, base_labels, candidates, **kw)

    monkeypatch.setattr(mosaic, "sample_mosaics", recording)
    data, _ = build_mosaic_dataset(
        images, labels, fg_classes=[4, 1], bg_classes=[0, 2, 5], m=4, n_train=20, n_test=10,
        seed=1, **kwargs,
    )
    train_rows, test_rows = seen
    pool = np.asarray(data.pool)
    _assert_partition(train_rows, test_rows, len(pool))
    ids = pool[:, 0, 0, 0]
    if official_test:
        assert sorted(ids[train_rows].tolist()) == list(range(300))
        assert sorted(ids[test_rows].tolist()) == list(range(10_000, 10_100))


def test_large_pool_draws_have_distinct_backgrounds(monkeypatch):
    """The redraw branch of the background draws (forced by a zero threshold)."""
    monkeypatch.setattr(mosaic, "DENSE_DRAW_LIMIT", 0)
    # 5 foreground images (class 0) and 5 background images (class 1), m - 1 = 4:
    # a random 4 of 5 repeats a row 81% of the time, so most rows need redrawing.
    base_labels = np.array([0, 1] * 5)
    bg_rows = [1, 3, 5, 7, 9]
    split = mosaic.sample_mosaics(
        np.random.default_rng(0), base_labels, np.arange(10),
        fg_classes=[0], bg_classes=[1], m=5, n=2000,
    )
    index = np.asarray(split.index)
    fg_pos = np.asarray(split.fg_pos)
    subsets = {}
    for row, pos in zip(index, fg_pos):
        backgrounds = np.delete(row, pos)
        assert len(set(backgrounds.tolist())) == 4, row
        assert set(backgrounds.tolist()) <= set(bg_rows)
        left_out = (set(bg_rows) - set(backgrounds.tolist())).pop()
        subsets[left_out] = subsets.get(left_out, 0) + 1
    # Uniform without replacement: each background is left out of ~1/5 of the mosaics.
    assert sorted(subsets) == bg_rows
    assert all(300 < c < 500 for c in subsets.values()), subsets


@pytest.mark.parametrize("fg_first", [True, False])
def test_variable_length_mosaics_read_from_their_pixels(fg_first):
    """Variable-length mosaics (``m_range``) decoded from pixel-coded images.

    Every base image is constant, its value its class + 1 (0 is the padding segment), so
    each slot's class is read from the pixels. Catches ``fg_first`` ignored when
    ``m_range`` is set (the foreground must be at slot 0 in both splits) and a wrong
    number of real segments (it must take every value in [low, high]).
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 240)
    images = np.broadcast_to((labels + 1.0)[:, None, None, None], (240, 2, 2, 1)).astype(np.float32)
    fg, bg = [4, 1], [0, 2, 5]
    data, info = build_mosaic_dataset(images, labels, fg_classes=fg, bg_classes=bg, m=5,
                                      m_range=(3, 5), n_train=150, n_test=100, seed=2,
                                      fg_first=fg_first)
    assert info.settings["fg_position"] == ("first" if fg_first else "uniform")
    pool = np.asarray(data.pool)
    for split in (data.train, data.test):
        pixels = pool[np.asarray(split.index)]  # [N, 5, 2, 2, 1]
        assert np.all(pixels == pixels[:, :, :1, :1])  # each slot holds one whole image
        slot_class = pixels[:, :, 0, 0, 0].astype(int) - 1  # -1: padding
        labels_, fg_pos, mask = np.asarray(split.labels), np.asarray(split.fg_pos), np.asarray(split.mask)
        counts = (slot_class >= 0).sum(1)
        assert sorted(set(counts.tolist())) == [3, 4, 5]
        np.testing.assert_array_equal(mask, np.arange(5)[None, :] < counts[:, None])
        if fg_first:
            np.testing.assert_array_equal(fg_pos, 0)
            np.testing.assert_array_equal(slot_class[:, 0], np.array(fg)[labels_])
        else:
            assert set(fg_pos.tolist()) == {0, 1, 2, 3, 4}
        rows = np.arange(split.size)
        np.testing.assert_array_equal(slot_class[rows, fg_pos], np.array(fg)[labels_])
        others = mask.copy()
        others[rows, fg_pos] = False
        assert np.all(np.isin(slot_class[others], bg))  # every other real slot is a background
        assert set(labels_.tolist()) == {0, 1}
