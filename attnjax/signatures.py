"""Looking inside trained runs: per-example attention, the signature, the shortcut.

Each function takes `SeedRuns` and returns plain
NumPy results (nothing prints).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .data.base import Dataset
from .metrics import RULES, signature_histogram
from .protocol import SIGNATURE_CONVENTIONS
from .train import make_predict

__all__ = ["evaluate_examples", "shortcut_report", "signature"]


def evaluate_examples(runs, data: Dataset, *, split: str = "test") -> dict[str, Any]:
    """Per-example attention and true-label probability for every seed.

    Arguments:
        runs: trained seeds.
        data: the mosaics.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``{"a_z": [S, N], "s_y": [S, N] (the paradigm's own rule), "s_y_by_rule": [S, 3, N],
        "alpha": [S, N, m], "pred": [S, 3, N] (predicted class per rule),
        "segment_pred": [S, N, m] (class of each segment alone), "labels": [N], "fg_pos": [N],
        "mask": [N, m] (real segments), "truth": [N, m] (focus-true segments)}``;
        a_z is the attention on the truth (the foreground; for text, the rationale tokens).
    """
    config = runs.config
    part = getattr(data, split)
    predictions = make_predict(config)

    def one(params, hparams, data):
        part = getattr(data, split)

        def one_example(rows):
            index, fg_pos, mask = rows  # [m], [], [m]: lax.map vmaps this over chunks of examples
            pred = predictions(params, hparams, data.pool[index][None], fg_pos[None], mask[None])
            return jax.tree_util.tree_map(lambda x: x[0], pred._replace(probs=pred.probs[:, 0][None]))

        return jax.lax.map(one_example, (part.index, part.fg_pos, part.mask), batch_size=config.eval_chunk)

    hparams = runs.hparams.traced()
    pred = jax.device_get(jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(runs.params, hparams, data))
    labels, fg_pos = np.asarray(part.labels), np.asarray(part.fg_pos)
    alpha, probs = np.asarray(pred.alpha), np.asarray(pred.probs)  # [S,N,m], [S,N,3,K]
    n = labels.shape[0]
    s_y_by_rule = probs[:, np.arange(n), :, labels].transpose(1, 2, 0)  # [S, 3, N]
    return {
        "a_z": np.sum(alpha * np.asarray(part.truth)[None], axis=-1),
        "s_y": s_y_by_rule[:, config.rule],
        "s_y_by_rule": s_y_by_rule,
        "alpha": alpha,
        "pred": probs.argmax(-1).transpose(0, 2, 1),
        "segment_pred": np.asarray(pred.segment_pred),
        "labels": labels,
        "fg_pos": fg_pos,
        "mask": np.asarray(part.mask),
        "truth": np.asarray(part.truth),
        "rules": RULES,
    }


def shortcut_report(examples: dict, rule: int, *, num_classes: int) -> dict:
    """Detect the mosaic shortcut: one class predicted from *any* segment.

    Hard attention and LVML can settle where the classifier assigns some class k
    to background segments, so a class-k mosaic is classified right wherever the
    attention goes, and the focus only learns to locate the other classes.

    A seed has the shortcut on class k when, on the test mosaics,
    (i) at least half of all background segments are classified as k,
    (ii) the focus finds the foreground in fewer than half of the class-k mosaics, and
    (iii) at least 90% of the class-k mosaics are still classified correctly, and
    (iv) the seed classifies at least 90% of all test mosaics correctly (an
    untrained classifier that calls most things k is not taking a shortcut).

    Arguments:
        examples: output of `evaluate_examples`.
        rule: the paradigm's inference rule.
        num_classes: K.

    Returns:
        ``{"seeds_with_shortcut": int, "seeds": S, "shortcut_class": [S] (-1 if none),
        "per_class": {"focus_accuracy": [S][K], "accuracy": [S][K], "background_share": [S][K]}}``
        with percentages.
    """
    labels = examples["labels"]
    alpha, pred, seg_pred = examples["alpha"], examples["pred"][:, rule], examples["segment_pred"]
    n_seeds, n, m = alpha.shape
    truth = examples["truth"]
    focus_true = np.take_along_axis(truth[None], alpha.argmax(-1)[..., None], axis=-1)[..., 0]  # [S, N]
    is_bg = ~truth & examples["mask"]  # [N, m], real segments that are not the truth
    focus_acc = np.zeros((n_seeds, num_classes))
    acc = np.zeros((n_seeds, num_classes))
    bg_share = np.zeros((n_seeds, num_classes))
    for k in range(num_classes):
        of_k = labels == k
        if of_k.any():
            focus_acc[:, k] = 100 * focus_true[:, of_k].mean(1)
            acc[:, k] = 100 * (pred[:, of_k] == k).mean(1)
        bg_share[:, k] = 100 * (seg_pred[:, is_bg] == k).mean(1)
    overall = 100 * (pred == labels[None]).mean(1)  # [S]
    hit = (bg_share >= 50) & (focus_acc < 50) & (acc >= 90) & (overall[:, None] >= 90)
    return {
        "seeds_with_shortcut": int(hit.any(1).sum()),
        "seeds": int(n_seeds),
        "shortcut_class": np.where(hit.any(1), hit.argmax(1), -1),
        "per_class": {"focus_accuracy": focus_acc, "accuracy": acc, "background_share": bg_share},
    }


def signature(runs, data: Dataset, *, bins: int = 5, split: str = "test") -> dict:
    """The paper's signature of one paradigm: where examples sit in (a_z, s_y).

    s_y is computed under both conventions of ``SIGNATURE_CONVENTIONS``:
    ``own`` (the paradigm's own inference rule) and ``pooled``
    (softmax(g(sum_j alpha_j x_j)), the authors' heatmap scripts). For soft
    attention they coincide, since its own rule is the pooled one.

    Arguments:
        runs: trained seeds.
        data: the mosaics.
        bins: histogram bins per axis (see [`attnjax.metrics.signature_histogram`][]
            for the edges).
        split: which mosaics to use.

    Returns:
        ``{"heatmap": {CONVENTION: [bins, bins]}`` mean over seeds (percent; rows
        a_z, columns s_y, both increasing), ``"heatmap_std": {CONVENTION: ...}``,
        ``"mean_a_z": [S]``, ``"mean_s_y": {CONVENTION: [S]}``,
        ``"low_a_z_high_s_y": {CONVENTION: [S]}`` (percent with a_z in the lowest
        bin and s_y in the highest), ``"shortcut": shortcut_report(...)}``.
    """
    examples = evaluate_examples(runs, data, split=split)
    rule_of = {"own": runs.config.rule, "pooled": RULES.index("pooled")}
    out = {"heatmap": {}, "heatmap_std": {}, "mean_s_y": {}, "low_a_z_high_s_y": {}}
    for convention in SIGNATURE_CONVENTIONS:
        s_y = examples["s_y_by_rule"][:, rule_of[convention]]
        maps = np.stack([signature_histogram(a, s, bins=bins) for a, s in zip(examples["a_z"], s_y)])
        out["heatmap"][convention] = maps.mean(0)
        out["heatmap_std"][convention] = maps.std(0, ddof=1) if len(maps) > 1 else np.zeros_like(maps[0])
        out["mean_s_y"][convention] = s_y.mean(1)
        out["low_a_z_high_s_y"][convention] = maps[:, 0, -1]
    out["mean_a_z"] = examples["a_z"].mean(1)
    out["shortcut"] = shortcut_report(examples, runs.config.rule, num_classes=runs.config.num_classes)
    return out
