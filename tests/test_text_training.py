"""Text attention through the training commands: tokens as segments, rationales as the truth."""

import json

import numpy as np
import pytest

from attnjax.cli import main
from attnjax.data import load_dataset
from attnjax.experiments import compare, evaluate_examples
from rationale_reference import rationale_metrics


def test_text_metrics_match_the_rationale_reference():
    """Focus true = the most-attended token is a rationale token; checked against the NumPy
    reference ``rationale_metrics`` (an independent transcription) on trained models."""
    data, info = load_dataset("text", n_train=120, n_test=60, seed=0)
    assert info.default_model == "embed" and info.segment_shape == () and info.vocab_size == len(np.asarray(data.pool))
    runs = compare(data, info, losses=["soft", "hard"], seeds=2, learning_rate=0.1, epochs=3, batch_size=20)
    for run in runs.values():
        ex = evaluate_examples(run, data)
        split = data.test
        for s in range(2):
            ref = rationale_metrics(ex["alpha"][s], ex["pred"][s, run.config.rule], ex["labels"],
                                    np.asarray(split.truth), np.asarray(split.mask))
            assert ref["n_without_rationale"] == 0  # every synthetic post has a trigger
            n = ref["n_with_rationale"]
            final = {k: float(np.asarray(getattr(run.history.test, k))[s, -1][..., run.config.rule])
                     for k in ("ftpt", "ffpt", "ftpf", "ffpf")}
            for k in final:
                assert final[k] == pytest.approx(100 * ref[k] / n, abs=1e-3), (run.config.loss, s, k)
            focus = float(np.asarray(run.history.test.focus_accuracy)[s, -1])
            assert focus == pytest.approx(ref["focus_accuracy"], abs=1e-3)
        # Padding tokens get no attention; a_z is the attention on the rationale tokens.
        assert np.all(ex["alpha"][:, ~np.asarray(data.test.mask)] == 0)
        np.testing.assert_allclose(ex["a_z"], (ex["alpha"] * np.asarray(data.test.truth)).sum(-1))


def _post(pid, tokens, labels, rationales):
    return {"post_id": pid, "annotators": [{"label": x} for x in labels], "rationales": rationales,
            "post_tokens": tokens}


def _write_posts(path, *, seed, length, fillers, extra_votes=()):
    """60 posts in the HateXplain layout: filler tokens with one label word (its rationale, marked by
    two annotators) at position i % length; two annotators give the label, then ``extra_votes``."""
    rng = np.random.default_rng(seed)
    posts = {}
    for i in range(60):
        label = ("hatespeech", "offensive", "normal")[i % 3]
        tokens = [f"w{j}" for j in rng.integers(0, fillers, length)]
        tokens[i % length] = f"{label}-word"
        marks = [[int(k == i % length) for k in range(length)]] * 2
        posts[f"p{i}"] = _post(f"p{i}", tokens, [label, label, *extra_votes], marks)
    path.write_text(json.dumps(posts))
    return path


def test_compare_on_a_hatexplain_file(tmp_path, capsys):
    path = _write_posts(tmp_path / "posts.json", seed=0, length=6, fillers=20, extra_votes=("normal",))
    out = tmp_path / "run"
    code = main(["compare", "--dataset", "text", "--data-file", str(path), "--seeds", "2", "--epochs", "3",
                 "--batch-size", "8", "--losses", "soft,hard-reinforce,lvml-em", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["data"]["name"] == "hatexplain"
    assert set(doc["results"]) == {"soft", "hard-reinforce", "lvml-em"}
    # Text examples are posts: the printed table's notes, the announcement and the document say so.
    printed = capsys.readouterr()
    assert doc["metrics"]["units"] == "percent of posts"
    assert "% of test posts" in printed.out and "test posts" in printed.err
    assert "mosaic" not in printed.out + printed.err
    path.write_text(json.dumps({"p0": {"post_id": "p0", "annotators": []}}))
    assert main(["compare", "--dataset", "text", "--data-file", str(path), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err


def test_a_hatexplain_file_trains_the_authors_simple_model_under_the_paper_protocol(tmp_path, capsys):
    """--protocol paper for text is the authors' simple-model run (HateXplain/Simple): SGD at lr 0.1 with
    momentum 0.9, batch 256 (here clipped to the 48 training posts), 550 epochs unless given, a
    100-wide shared embedding and 200-wide MLP heads; the JSON records each."""
    path = _write_posts(tmp_path / "posts.json", seed=1, length=8, fillers=30)
    out = tmp_path / "run"
    code = main(["compare", "--dataset", "text", "--data-file", str(path), "--protocol", "paper", "--seeds", "2",
                 "--epochs", "2", "--losses", "soft,hard,lvml", "--out", str(out), "--compile-cache", "off"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    protocol = doc["config"]["protocol"]
    assert (protocol["epochs"], protocol["learning_rate"], protocol["batch_size"]) == (550, 0.1, 256)
    for name in ("soft", "hard", "lvml"):
        p = doc["config"]["paradigms"][name]
        assert p["learning_rate"] == pytest.approx(0.1) and p["momentum"] == pytest.approx(0.9)
        assert (p["model"], p["encoder"], p["encoder_width"], p["hidden"]) == ("embed", "embed", 100, 200)
        assert p["batch_size"] == 48 and p["epochs"] == 2 and p["optimizer"] == "sgd"
        assert 2 + 3 <= p["vocab_size"] <= 2 + 30 + 3  # <pad>, <unk>, the training posts' tokens (30 fillers, 3 label words)
    from attnjax.config import TrainConfig
    from attnjax.data import load_dataset

    _, info = load_dataset("text", data_file=path)
    config = TrainConfig.for_data(info, protocol="paper", loss="soft")
    assert (config.epochs, config.batch_size, config.momentum, config.hidden) == (550, 256, pytest.approx(0.9), 200)
