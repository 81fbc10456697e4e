"""The shortcut rule on hand-built examples whose verdicts are known in advance."""

import numpy as np
import pytest

from attnjax.signatures import shortcut_report

# 20 test mosaics, 10 of class 0 then 10 of class 1 (K = 2), m = 4 slots: the foreground
# at slot 0, backgrounds at slots 1 and 2 (40 background segments), slot 3 padding.
N, M, K, RULE = 20, 4, 2, 1
LABELS = np.repeat([0, 1], 10)


def _seed(k, *, bg_as_k, focus_k, right_k, right_other):
    """One seed's ``(alpha [N, m], pred [3, N], segment_pred [N, m])``.

    Class k is the candidate shortcut class, the other one is found and classified well.
    bg_as_k: how many of the 40 background segments are classified k; focus_k: in how
    many of the 10 class-k mosaics the attention peaks on the foreground (else on slot 1);
    right_k, right_other: how many of the 10 mosaics of class k (resp. of the other
    class) are classified correctly under RULE.
    """
    other = 1 - k
    of_k = np.flatnonzero(LABELS == k)
    of_other = np.flatnonzero(LABELS == other)
    alpha = np.full((N, M), 0.1)
    alpha[:, 3] = 0.0  # padding gets no attention
    alpha[:, 0] = 0.7  # the focus finds the foreground...
    alpha[of_k[focus_k:], 0], alpha[of_k[focus_k:], 1] = 0.1, 0.7  # ...except here
    pred = np.empty((3, N), np.int64)
    pred[:] = LABELS  # the other rules are right everywhere: only RULE may count
    pred[RULE] = LABELS
    pred[RULE, of_k[right_k:]] = other
    pred[RULE, of_other[right_other:]] = k
    segment_pred = np.full((N, M), other)  # the foreground segments: never k
    segment_pred[:, 3] = k  # padding segments called k must not count as background
    bg = segment_pred[:, 1:3].reshape(-1).copy()  # the 40 background segments, row-major
    bg[:bg_as_k] = k
    segment_pred[:, 1:3] = bg.reshape(N, 2)
    return alpha, pred, segment_pred


# name: (k, bg_as_k, focus_k, right_k, right_other, verdict, background %, focus %, accuracy %)
CASES = {
    # All four conditions hold, three of them exactly at their (inclusive) thresholds:
    # 50% of background segments, 90% of class-k mosaics right, 90% of all mosaics right.
    "shortcut": (0, 20, 4, 9, 9, 0, 50.0, 40.0, 90.0),
    # Each of the next four fails exactly one condition, the others as in "shortcut".
    "too_few_backgrounds": (0, 19, 4, 9, 9, -1, 47.5, 40.0, 90.0),  # (i) 47.5% < 50%
    "focus_finds_half": (0, 20, 5, 9, 9, -1, 50.0, 50.0, 90.0),  # (ii) 50% is not under half
    "class_k_wrong": (0, 20, 4, 8, 10, -1, 50.0, 40.0, 80.0),  # (iii) 80% < 90% (overall 90%)
    "seed_inaccurate": (0, 20, 4, 9, 8, -1, 50.0, 40.0, 90.0),  # (iv) overall 85% < 90%
    # The shortcut on class 1, with margins on every condition.
    "shortcut_on_1": (1, 36, 2, 10, 10, 1, 90.0, 20.0, 100.0),
}


def _examples(cases):
    parts = [_seed(c[0], bg_as_k=c[1], focus_k=c[2], right_k=c[3], right_other=c[4]) for c in cases]
    truth = np.zeros((N, M), bool)
    truth[:, 0] = True
    mask = np.ones((N, M), bool)
    mask[:, 3] = False
    return {
        "labels": LABELS, "alpha": np.stack([p[0] for p in parts]), "pred": np.stack([p[1] for p in parts]),
        "segment_pred": np.stack([p[2] for p in parts]), "truth": truth, "mask": mask,
        "fg_pos": np.zeros(N, np.int64),
    }


def test_shortcut_verdicts_of_hand_built_seeds():
    """Each seed meets or misses the README's four conditions by construction.

    Catches the rule without one of its conditions (e.g. without "the seed classifies at
    least 90% of all test mosaics correctly": seed_inaccurate would then be a shortcut), a
    threshold on the wrong side of its inequality, the inference rule ignored, and padding
    counted as background.
    """
    cases = list(CASES.values())
    report = shortcut_report(_examples(cases), RULE, num_classes=K)
    verdicts = dict(zip(CASES, report["shortcut_class"].tolist()))
    assert verdicts == {name: c[5] for name, c in CASES.items()}
    assert report["seeds"] == len(CASES) and report["seeds_with_shortcut"] == 2
    per_class = report["per_class"]
    for s, (name, c) in enumerate(CASES.items()):
        k = c[0]
        assert per_class["background_share"][s, k] == c[6], name
        assert per_class["background_share"][s, 1 - k] == 100.0 - c[6], name
        assert per_class["focus_accuracy"][s, k] == c[7] and per_class["focus_accuracy"][s, 1 - k] == 100.0, name
        assert per_class["accuracy"][s, k] == c[8], name
        assert per_class["accuracy"][s, 1 - k] == 10.0 * c[4], name


@pytest.mark.parametrize("name", list(CASES))
def test_shortcut_verdict_of_each_seed_alone(name):
    """The same verdicts with one seed at a time (no seed's numbers leak into another's)."""
    report = shortcut_report(_examples([CASES[name]]), RULE, num_classes=K)
    assert report["shortcut_class"].tolist() == [CASES[name][5]]
    assert report["seeds_with_shortcut"] == int(CASES[name][5] >= 0)
