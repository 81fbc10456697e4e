"""Text data (HateXplain layout, synthetic), token models and rationale metrics,
against hand-computed expectations."""

import copy
import json

import numpy as np
import pytest

from attnjax.data.text import load_hatexplain, load_synthetic_text
from attnjax.errors import DataError
from rationale_reference import rationale_metrics


def _entry(pid, tokens, labels, rationales):
    return {"post_id": pid, "annotators": [{"label": x, "annotator_id": i} for i, x in enumerate(labels)],
            "rationales": rationales, "post_tokens": tokens}


DOC = {
    # 2 of 3 hatespeech; rationale votes [2, 3, 1] of 3 -> [1, 1, 0]
    "p1": _entry("p1", ["a", "b", "c"], ["hatespeech", "hatespeech", "offensive"],
                 [[1, 1, 0], [0, 1, 0], [1, 1, 1]]),
    "p2": _entry("p2", ["b", "d"], ["normal", "normal", "offensive"], []),  # no rationale: zeros
    "p3": _entry("p3", ["a", "e", "f", "g"], ["hatespeech", "offensive", "normal"], []),  # 1-1-1 tie
    # votes [1, 0, 1] of 2: a strict majority needs both -> all zero
    "p4": _entry("p4", ["b", "b", "x"], ["offensive", "offensive", "hatespeech"], [[1, 0, 0], [0, 0, 1]]),
    "p5": _entry("p5", ["y"], ["offensive", "offensive", "normal", "normal"], []),  # 2-2 tie
}
SPLIT = {"train": ["p1", "p4", "p3"], "val": ["p2"], "test": ["p5"]}


def _write(tmp_path, doc, name="posts.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_majority_rules_vocabulary_and_padding(tmp_path):
    data = load_hatexplain(_write(tmp_path, DOC), split_file=_write(tmp_path, SPLIT, "split.json"))
    assert data.class_names == ("hatespeech", "offensive", "normal")
    assert data.settings["undecided"] == 2
    assert data.vocabulary == ("<pad>", "<unk>", "b", "a", "c", "x")  # b x3, then a, c, x alphabetical
    tr = data.train
    assert tr.post_ids == ("p1", "p4")
    np.testing.assert_array_equal(tr.tokens, [[3, 2, 4], [2, 2, 5]])
    np.testing.assert_array_equal(tr.labels, [0, 1])
    np.testing.assert_array_equal(tr.rationale, [[1, 1, 0], [0, 0, 0]])
    assert tr.mask.all()
    np.testing.assert_array_equal(data.val.tokens, [[2, 1, 0]])  # d is unknown, then padding
    np.testing.assert_array_equal(data.val.mask, [[True, True, False]])
    np.testing.assert_array_equal(data.val.labels, [2])
    np.testing.assert_array_equal(data.val.rationale, [[0, 0, 0]])
    assert data.test.tokens.shape == (0, 3)


def test_random_split_is_seeded_and_disjoint(tmp_path):
    path = _write(tmp_path, DOC)
    a, b = load_hatexplain(path, seed=3), load_hatexplain(path, seed=3)
    ids = [i for s in a[:3] for i in s.post_ids]
    assert sorted(ids) == ["p1", "p2", "p4"]
    assert [s.post_ids for s in a[:3]] == [s.post_ids for s in b[:3]]


def _broken(change):
    doc = copy.deepcopy(DOC)
    change(doc["p4"])
    return doc


BROKEN = {
    "not json": ("{not json", None),
    "not an object": ([1, 2], None),
    "missing tokens": (_broken(lambda e: e.pop("post_tokens")), "p4"),
    "missing rationales": (_broken(lambda e: e.pop("rationales")), "p4"),
    "missing annotators": (_broken(lambda e: e.pop("annotators")), "p4"),
    "missing label": (_broken(lambda e: e["annotators"][0].pop("label")), "p4"),
    "rationale length": (_broken(lambda e: e["rationales"][1].append(0)), "p4"),
    "rationale value": (_broken(lambda e: e["rationales"][1].__setitem__(0, 2)), "p4"),
    "empty post": (_broken(lambda e: (e.__setitem__("post_tokens", []), e.__setitem__("rationales", []))), "p4"),
    "unknown label": (_broken(lambda e: e["annotators"][2].__setitem__("label", "toxic")), "p4"),
    "id mismatch": (_broken(lambda e: e.__setitem__("post_id", "p9")), "p4"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_malformed_file_is_one_line_data_error(tmp_path, case):
    doc, pid = BROKEN[case]
    path = _write(tmp_path, doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(DataError) as err:
        load_hatexplain(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert pid is None or repr(pid) in message


def test_split_file_errors(tmp_path):
    path = _write(tmp_path, DOC)
    for split in ({"train": ["p1"], "val": []}, {"train": ["p1", "zz"], "val": [], "test": []},
                  {"train": ["p1"], "val": ["p1"], "test": []}):
        with pytest.raises(DataError):
            load_hatexplain(path, split_file=_write(tmp_path, split, "split.json"))
    with pytest.raises(DataError, match="no such"):
        load_hatexplain(tmp_path / "absent.json")


def test_synthetic_rationale_marks_triggers_of_the_class():
    data = load_synthetic_text(num_classes=3, n_train=30, n_val=6, n_test=9, seed=1)
    again = load_synthetic_text(num_classes=3, n_train=30, n_val=6, n_test=9, seed=1)
    np.testing.assert_array_equal(data.train.tokens, again.train.tokens)
    for split in data[:3]:
        assert split.rationale.any(axis=1).all() and not (split.rationale * ~split.mask).any()
        for toks, label, rat, mask in zip(split.tokens, split.labels, split.rationale, split.mask):
            words = [data.vocabulary[t] for t in toks]
            for w, r, k in zip(words, rat, mask):
                is_trigger = w.startswith(f"c{label}t")
                assert (r == 1) == is_trigger and (w == "<pad>") == (not k)


def test_rationale_metrics_hand_example():
    attention = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.9], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    mask = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]], bool)
    rationale = np.array([[0, 1, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0], [0, 1, 0]])
    predictions, labels = np.array([1, 0, 2, 1, 0]), np.array([1, 1, 0, 1, 0])
    # post 0: FT PT; 1: top unmasked is 0 -> FF PF; 2: FT PF; 3: no rationale, correct; 4: FF PT
    got = rationale_metrics(attention, predictions, labels, rationale, mask)
    assert got == dict(n_with_rationale=4, ftpt=1, ffpt=1, ftpf=1, ffpf=1, focus_accuracy=50.0,
                       accuracy=50.0, n_without_rationale=1, accuracy_without_rationale=100.0,
                       accuracy_all=60.0)
