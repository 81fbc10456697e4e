"""Attention maps out: every test example's attention over its segments, per paradigm and seed.

``attnjax compare --save-attention`` (and ``signature``) writes ``attention.npz`` in ``--out``:
a NumPy archive of plain arrays (no pickles), P paradigms, S seeds, N test examples of m
segments:

* ``paradigms`` ``[P]`` and ``rules`` ``[P]``: names, and the inference rule each paradigm's
  prediction uses (``pooled`` for soft attention, ``expected`` for the others);
* ``attention`` ``[P, S, N, m]`` float32: alpha, summing to 1 over an example's real segments,
  exactly 0 on padding;
* ``prediction`` ``[P, S, N]`` int32: the predicted class under the paradigm's own rule
  (what the reported test accuracy counts);
* ``labels`` ``[N]``, ``mask`` ``[N, m]`` (True on real segments) and, when the data has a
  truth, ``truth`` ``[N, m]`` (the segments that carry the label);
* ``settings``: a JSON text (a 0-d string array): the split, seeds, data set and shapes.

[`read_attention`][attnjax.attention.read_attention] reads it back; `plot_attention` draws a few test examples of
image data with each segment's attention (``attention.png``). Nothing here sets a
matplotlib backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import ConfigError, DataError
from .files import atomic_write, new_figure, save_figure_atomic

__all__ = ["ATTENTION_FILE", "ATTENTION_PICTURE", "attention_maps", "write_attention", "read_attention",
           "is_image", "plot_attention", "save_attention"]

#: The file names in ``--out``.
ATTENTION_FILE = "attention.npz"
ATTENTION_PICTURE = "attention.png"
_ARRAYS = ("paradigms", "rules", "attention", "prediction", "labels", "mask", "settings")


def attention_maps(runs: Mapping, data, info, *, split: str = "test") -> dict:
    """Each example's attention and prediction, for every seed of every paradigm.

    Arguments:
        runs: ``{name: SeedRuns}`` of finished paradigms, all with the same number of seeds S.
        data: the [`Dataset`][attnjax.data.Dataset] they trained on.
        info: its [`DataInfo`][attnjax.data.DataInfo].
        split: ``"test"`` (default) or ``"train"``.

    Returns:
        ``{"paradigms": [P] names, "rules": [P], "attention": [P, S, N, m] float32,
        "prediction": [P, S, N] int32 (own rule), "labels": [N] int32, "mask": [N, m] bool,
        "truth": [N, m] bool or None (data without truth), "settings": dict}``.

    Raises:
        ConfigError: no paradigm, or paradigms with different numbers of seeds.
    """
    from .metrics import RULES
    from .signatures import evaluate_examples

    if not runs:
        raise ConfigError("no finished paradigm to take attention maps from")
    names, rules, alpha, pred = [], [], [], []
    for name, r in runs.items():
        ex = evaluate_examples(r, data, split=split)
        names.append(name)
        rules.append(RULES[r.config.rule])
        alpha.append(np.asarray(ex["alpha"], np.float32))
        pred.append(np.asarray(ex["pred"][:, r.config.rule], np.int32))
    if len({a.shape for a in alpha}) != 1:
        raise ConfigError(f"the paradigms have different numbers of seeds ({[a.shape[0] for a in alpha]})")
    part = getattr(data, split)
    settings = {
        "kind": "attention", "split": split, "seeds": int(alpha[0].shape[0]),
        "data": {"name": info.name, "num_classes": info.num_classes, "m": info.m,
                 "segment_shape": list(info.segment_shape), "class_names": list(info.class_names),
                 "has_truth": bool(info.has_truth), "source": info.settings.get("source")},
        "arrays": {"attention": "[P, S, N, m] alpha per segment (0 on padding)",
                   "prediction": "[P, S, N] predicted class under each paradigm's own rule",
                   "labels": "[N]", "mask": "[N, m] True on real segments",
                   "truth": "[N, m] segments that carry the label" if info.has_truth else None},
    }
    return {"paradigms": names, "rules": rules, "attention": np.stack(alpha), "prediction": np.stack(pred),
            "labels": np.asarray(part.labels, np.int32), "mask": np.asarray(part.mask, bool),
            "truth": np.asarray(part.truth, bool) if info.has_truth else None, "settings": settings}


def write_attention(path, maps: dict) -> Path:
    """Write `attention_maps`'s result as ``.npz`` (compressed), atomically.

    Arguments:
        path: the file (``attention.npz``).
        maps: `attention_maps`'s dict.

    Returns:
        ``path``.
    """
    arrays = {"paradigms": np.asarray(maps["paradigms"], str), "rules": np.asarray(maps["rules"], str),
              "attention": np.asarray(maps["attention"], np.float32),
              "prediction": np.asarray(maps["prediction"], np.int32),
              "labels": np.asarray(maps["labels"], np.int32), "mask": np.asarray(maps["mask"], bool),
              "settings": np.asarray(json.dumps(maps["settings"]))}
    if maps.get("truth") is not None:
        arrays["truth"] = np.asarray(maps["truth"], bool)

    def write(tmp: Path):
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


def read_attention(path) -> dict:
    """Read an ``attention.npz`` (never unpickling).

    Arguments:
        path: the file, or the run folder holding it.

    Returns:
        ``{"paradigms": [P] names, "rules": {name: rule}, "attention": {name: [S, N, m]},
        "prediction": {name: [S, N]}, "labels": [N], "mask": [N, m], "truth": [N, m] or None,
        "settings": dict}``.

    Raises:
        DataError: no such file, not an attention file, or arrays of inconsistent shapes.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ATTENTION_FILE
    from .data.fileio import read_npz  # every size checked against the file before allocating

    try:
        arrays = read_npz(path, what="an attnjax attention file")
    except DataError as err:
        why = str(err).removeprefix(f"{path}: ")
        raise DataError(f"{path}: {why}" if why.endswith("no such file") else
                        f"{path}: not an attnjax attention file: {why}") from None
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"{path}: not an attnjax attention file (no {', '.join(map(repr, missing))})")
    attention, prediction = arrays["attention"], arrays["prediction"]
    names = [str(n) for n in arrays["paradigms"]]
    labels, mask, truth = arrays["labels"], arrays["mask"], arrays.get("truth")
    p = len(names)
    if attention.ndim != 4 or attention.shape[0] != p:
        raise DataError(f"{path}: 'attention' has shape {attention.shape}; expected [{p}, S, N, m]")
    _, s, n, m = attention.shape
    for key, value, shape in (("prediction", prediction, (p, s, n)), ("labels", labels, (n,)), ("mask", mask, (n, m)),
                              ("rules", arrays["rules"], (p,)), ("truth", truth, (n, m))):
        if value is not None and value.shape != shape:
            raise DataError(f"{path}: {key!r} has shape {value.shape}; expected {shape}")
    try:
        settings = json.loads(str(arrays["settings"]))
    except ValueError:
        raise DataError(f"{path}: 'settings' is not JSON text") from None
    return {"paradigms": names, "rules": dict(zip(names, (str(r) for r in arrays["rules"]))),
            "attention": dict(zip(names, attention)), "prediction": dict(zip(names, prediction)),
            "labels": labels, "mask": mask, "truth": truth, "settings": settings}


def is_image(segment_shape) -> bool:
    """Whether segments of this shape are images `plot_attention` can draw: ``(H, W, 1)`` or ``(H, W, 3)``."""
    shape = tuple(segment_shape)
    return len(shape) == 3 and shape[2] in (1, 3) and min(shape[:2]) >= 2


def plot_attention(maps: dict, segments: np.ndarray, path, *, seed: int = 0, title: str | None = None,
                   class_names=None) -> Path:
    """``attention.png``: a few test examples, each segment drawn with its attention.

    One panel per example (one above the other); in it one row per paradigm, one column per
    segment. Each segment's title is its alpha; its frame is as thick as alpha is large and
    coloured by alpha (dark blue 0 to yellow 1, viridis); the most-attended segment's alpha is
    bold. A segment of the truth is labelled "truth" below it; padding is left blank. Each
    row names the paradigm and its prediction, green when right and red when wrong.

    Arguments:
        maps: `attention_maps`'s (or [`read_attention`][attnjax.attention.read_attention]'s) dict.
        segments: ``[E, m, H, W, C]`` the first E test examples' segments (C 1 or 3), drawn
            scaled to [0, 1] by their joint minimum and maximum.
        path: the PNG file.
        seed: which seed's attention to draw.
        title: the figure's title (default: what it shows).
        class_names: names of the classes, in label order (default: the label numbers).

    Returns:
        ``path``.
    """
    from matplotlib import colormaps

    names = list(maps["paradigms"])
    attention = maps["attention"]
    attention = np.stack([attention[n] for n in names]) if isinstance(attention, dict) else np.asarray(attention)
    prediction = maps["prediction"]
    prediction = np.stack([prediction[n] for n in names]) if isinstance(prediction, dict) else np.asarray(prediction)
    segments = np.asarray(segments, np.float64)
    n_ex, m = segments.shape[:2]
    mask = np.asarray(maps["mask"])[:n_ex]
    truth = None if maps.get("truth") is None else np.asarray(maps["truth"])[:n_ex]
    labels = np.asarray(maps["labels"])[:n_ex]
    real = segments[mask]
    low, high = (real.min(), real.max()) if real.size else (0.0, 1.0)
    shown = np.clip((segments - low) / max(high - low, 1e-12), 0, 1)
    cmap = colormaps["viridis"]
    name_of = (lambda k: str(class_names[k])) if class_names is not None else str

    fig = new_figure(figsize=(max(1.2 * m + 1.2, 6.5), n_ex * (1.3 * len(names) + 0.5) + 0.4), layout="constrained")
    panels = np.atleast_1d(np.asarray(fig.subfigures(n_ex, 1, hspace=0.03), dtype=object))  # one or an array
    for e, panel in enumerate(panels):
        axes = panel.subplots(len(names), m, squeeze=False)
        panel.suptitle(f"test example {e}: label {name_of(int(labels[e]))}", fontsize=10)
        for p, name in enumerate(names):
            alpha = attention[p, seed, e]
            top = int(np.argmax(alpha))
            for j in range(m):
                ax = axes[p][j]
                ax.set_xticks([])
                ax.set_yticks([])
                if not mask[e, j]:
                    ax.text(0.5, 0.5, "padding", ha="center", va="center", fontsize=7, color="0.5",
                            transform=ax.transAxes)
                    for spine in ax.spines.values():
                        spine.set_visible(False)
                    continue
                image = shown[e, j]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
                for spine in ax.spines.values():
                    spine.set_edgecolor(cmap(float(alpha[j])))
                    spine.set_linewidth(1 + 5 * float(alpha[j]))
                ax.set_title(f"α={alpha[j]:.2f}", fontsize=8, weight="bold" if j == top else "normal")
                if truth is not None and truth[e, j]:
                    ax.set_xlabel("truth", fontsize=7, color="tab:green")
            guess = int(prediction[p, seed, e])
            axes[p][0].set_ylabel(f"{name}\npred {name_of(guess)}", fontsize=8,
                                  color="tab:green" if guess == int(labels[e]) else "tab:red")
    fig.suptitle(title or f"test attention, seed {seed}\nframe thickness and colour = α (viridis), bold = most "
                          "attended\nrow label: prediction (green right, red wrong)", fontsize=10)
    return save_figure_atomic(fig, path)


def save_attention(out, maps: dict, data, info, *, examples: int = 3) -> list[Path]:
    """Write ``attention.npz`` in ``out`` and, for image segments, ``attention.png`` of the first test examples.

    Arguments:
        out: the run folder.
        maps: `attention_maps`'s dict (its split is the test split).
        data, info: the data set (the picture draws its segments).
        examples: test examples the picture shows.

    Returns:
        The paths written.
    """
    out = Path(out)
    written = [write_attention(out / ATTENTION_FILE, maps)]
    if is_image(info.segment_shape):
        k = min(examples, int(np.shape(data.test.index)[0]))
        segments = np.asarray(data.pool)[np.asarray(data.test.index)[:k]]
        written.append(plot_attention(maps, segments, out / ATTENTION_PICTURE,
                                      class_names=info.class_names))
    return written
