"""One entry point from a data set name to a [`Dataset`][attnjax.data.base.Dataset]."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from ..errors import ConfigError
from ..protocol import DATASETS, M, ORTHOGONAL_CLASSES, TEXT_SIZES, Protocol, get_protocol
from .base import Dataset, DataInfo, default_model
from .mosaic import build_mosaic_dataset
from .orthogonal import load_orthogonal




def load_dataset(
    name: str,
    *,
    m: int | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    fg: str | None = None,
    bg: str | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    num_classes: int | None = None,
    protocol: str | Protocol | None = None,
    noise: float | None = None,
    bg_replacement: bool | None = None,
    pixel_range: tuple[float, float] | None = None,
    fg_first: bool | None = None,
    m_range: tuple[int, int] | None = None,
    data_file: str | Path | None = None,
    max_len: int | None = None,
) -> tuple[Dataset, DataInfo]:
    """Build the mosaics of a named data set.

    Arguments:
        name: one of ``DATASETS``.
        m: segments per mosaic (at least 2; default 5).
        n_train: training mosaics (default: the protocol's for image data;
            one per class for orthogonal).
        n_test: test mosaics (default: as for ``n_train``).
        fg: foreground classes as comma-separated names or ids (default: the
            paper's split for the data set).
        bg: background classes, the same way (default: the paper's split; given
            only ``fg``, every other class).
        seed: data seed.
        data_dir: folder with the user's MNIST/CIFAR files (or Fashion-MNIST).
        num_classes: orthogonal only: C (default 20).
        protocol: ``"attnjax"`` (default) or ``"paper"``: the default of every
            option below and of the sizes.
        noise: orthogonal only: standard deviation of the background noise.
        bg_replacement: image data: draw backgrounds with replacement.
        pixel_range: image data: ``(low, high)`` the pixels are scaled to.
        fg_first: foreground at position 0 (default: uniform, or the
            protocol's choice for fixed-focus runs, which the caller passes).
        m_range: image data: ``(low, high)``, a varying number of real
            segments per mosaic, padded (and masked) to ``m = high``.
        data_file: text: your JSON file in the HateXplain layout; without
            it, the bundled synthetic task (``n_train``/``n_test`` posts).
            bags (required): your ``.npz`` file of bags (`attnjax.data.bags`,
            ``docs/bags.md``); the file decides m, the classes and the split, so
            the other options do not apply.
        max_len: text with ``data_file``: posts truncated to this many tokens (default: none;
            every post is padded to the longest).

    Returns:
        ``(dataset, info)``.

    Raises:
        ConfigError: unknown data set, bad sizes or classes.
        DataError: missing or malformed files.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    p = get_protocol(protocol)
    if m_range is not None:
        if m is not None and m != m_range[1]:
            raise ConfigError(f"m = {m} and a range of m {m_range[0]},{m_range[1]}: give one of them", field="m",
                              remedy="m_range")
        m = m_range[1]
    m = M if m is None else m
    if name == "bags":
        if data_file is None:
            raise ConfigError("the bags data set needs a data file, FILE.npz (docs/bags.md)", field="data_file")
        from .bags import load_bags

        return load_bags(data_file)
    if name == "text":
        from .text import load_hatexplain, load_synthetic_text, text_dataset

        if data_file is not None:
            return text_dataset(load_hatexplain(data_file, seed=seed, max_len=max_len), name="hatexplain")
        sizes = dict(n_train=TEXT_SIZES["n_train"] if n_train is None else n_train,
                     n_test=TEXT_SIZES["n_test"] if n_test is None else n_test)
        return text_dataset(load_synthetic_text(seed=seed, **sizes), name="text (synthetic)")
    if name == "orthogonal":
        if m_range is not None:
            raise ConfigError("a range of m applies to image data sets, not orthogonal", field="m_range")
        if fg is not None or bg is not None:
            raise ConfigError("foreground and background classes do not apply to the orthogonal data set", field="fg_bg")
        return load_orthogonal(
            num_classes=ORTHOGONAL_CLASSES if num_classes is None else num_classes, m=m, n_train=n_train,
            n_test=n_test, noise=p.orthogonal_noise if noise is None else noise,
            random_position=not fg_first, seed=seed,
        )
    from .classes import default_classes, parse_classes
    from .sources import load_images

    images = load_images(name, data_dir)
    names = images.class_names
    fg_ids, bg_ids = default_classes(name, names, images.coarse)
    if fg is not None:
        fg_ids = parse_classes(fg, names, field="fg")
        if bg is None:
            bg_ids = tuple(c for c in range(len(names)) if c not in fg_ids)
    if bg is not None:
        bg_ids = parse_classes(bg, names, field="bg")
    return build_mosaic_dataset(
        images.train_images, images.train_labels,
        test_images=images.test_images, test_labels=images.test_labels,
        fg_classes=fg_ids, bg_classes=bg_ids, m=m,
        n_train=p.n_train if n_train is None else n_train,
        n_test=p.n_test if n_test is None else n_test,
        seed=seed, name=name, class_names=names,
        default_model=default_model(name),
        bg_replacement=p.bg_replacement if bg_replacement is None else bg_replacement,
        pixel_range=p.pixel_range if pixel_range is None else cast("tuple[float, float]", tuple(pixel_range)),
        fg_first=bool(fg_first), m_range=None if m_range is None else cast("tuple[int, int]", tuple(m_range)),
    )
