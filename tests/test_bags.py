"""Your own bags (``--dataset bags --data-file FILE.npz``) and the attention maps out (``--save-attention``).

Every expectation is computed here, in NumPy, from the file written or from the run's own
attention maps; none is a number the code under test produced about itself.
"""

import json

import jax
import numpy as np
import pytest

from attnjax.attention import read_attention
from attnjax.data import load_dataset
from attnjax.errors import DataError
from attnjax.files import load_results
from conftest import run_cli

K, D, M, N = 3, 6, 5, 40


def bags(seed=0, n=N, *, lo=2):
    """n bags of 2..5 feature vectors (D = 6), 3 classes; the truth segment carries the class in
    its first K features. Padding comes last in a bag and holds NaN (which the file may)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % K
    segments = rng.normal(0, 1, (n, M, D)).astype(np.float32)
    sizes = rng.integers(lo, M + 1, n)
    mask = np.arange(M)[None] < sizes[:, None]
    pos = np.array([rng.integers(0, s) for s in sizes])
    truth = np.zeros((n, M), bool)
    truth[np.arange(n), pos] = True
    segments[np.arange(n), pos, :K] += 3 * np.eye(K)[labels]
    segments[~mask] = np.nan
    return {"segments": segments, "labels": labels, "mask": mask, "truth": truth}


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


run = run_cli  # (exit status, stdout, stderr)


TINY = ["--seeds", "2", "--epochs", "3", "--batch-size", "8", "--compile-cache", "off"]


def test_a_bags_file_becomes_the_data_set(tmp_path):
    b = bags()
    path = write(tmp_path / "b.npz", **b, class_names=np.array(["cat", "dog", "emu"]))
    data, info = load_dataset("bags", data_file=path)
    test = np.arange(N) % 5 == 4  # the documented split without a 'split' array
    assert (info.name, info.num_classes, info.m, info.segment_shape, info.default_model) == ("bags", K, M, (D,), "mlp")
    assert info.class_names == ("cat", "dog", "emu") and info.has_truth
    pool = np.asarray(data.pool)
    for part, rows in ((data.train, ~test), (data.test, test)):
        np.testing.assert_array_equal(np.asarray(part.labels), b["labels"][rows])
        np.testing.assert_array_equal(np.asarray(part.mask), b["mask"][rows])
        np.testing.assert_array_equal(np.asarray(part.truth), b["truth"][rows])
        np.testing.assert_array_equal(np.asarray(part.fg_pos), np.argmax(b["truth"][rows], 1))
        seg = pool[np.asarray(part.index)]  # [n, m, D]
        real = b["mask"][rows]
        np.testing.assert_array_equal(seg[real], b["segments"][rows][real])
        assert np.all(seg[~real] == 0)  # the file's NaN padding is replaced by zeros
    assert info.settings["sizes"] == [int((~test).sum()), int(test.sum())]
    assert info.settings["segments_per_bag"] == [int(b["mask"].sum(1).min()), int(b["mask"].sum(1).max())]

    # An explicit split, as strings or as 0/1; 0/1 masks and truths; no truth.
    split = np.where(np.arange(N) < 30, "train", "test")
    write(path, **{**b, "mask": b["mask"].astype(np.int8), "truth": b["truth"].astype(np.float32)}, split=split)
    data, info = load_dataset("bags", data_file=path)
    assert np.asarray(data.test.labels).tolist() == b["labels"][30:].tolist()
    np.testing.assert_array_equal(np.asarray(data.test.truth), b["truth"][30:])
    write(path, segments=b["segments"][:, :, :2].reshape(N, M, 2, 1), labels=b["labels"], mask=b["mask"],
          split=(np.arange(N) >= 10).astype(np.int64))
    data, info = load_dataset("bags", data_file=path)
    assert data.test.size == 30 and info.segment_shape == (2, 1) and not info.has_truth
    assert not np.asarray(data.test.truth).any() and info.class_names == ("0", "1", "2")


def _focus_cells(attention, prediction, labels, truth):
    """[S] focus accuracy and FTPT/FFPT/FTPF/FFPF in percent, in NumPy: focus true when the most-attended
    segment is a truth segment."""
    top = attention.argmax(-1)  # [S, N]
    focus = np.take_along_axis(truth[None], top[..., None], -1)[..., 0]
    right = prediction == labels[None]
    pct = lambda x: 100 * x.mean(-1)  # noqa: E731
    return {"focus_accuracy": pct(focus), "ftpt": pct(focus & right), "ffpt": pct(~focus & right),
            "ftpf": pct(focus & ~right), "ffpf": pct(~focus & ~right)}


def test_compare_on_bags_saves_attention_that_matches_the_reported_metrics(tmp_path, capsys):
    b = bags()
    path = write(tmp_path / "b.npz", **b)
    out = tmp_path / "run"
    code, printed, err = run(["compare", "--dataset", "bags", "--data-file", str(path), *TINY,
                              "--losses", "soft,hard", "--save-attention", "--out", str(out)], capsys)
    assert code == 0, err
    doc = load_results(out)
    assert doc["config"]["data"]["name"] == "bags" and doc["config"]["data"]["has_truth"] is True
    assert doc["config"]["paradigms"]["soft"]["model"] == "mlp"  # the default model of bags
    assert doc["metrics"]["units"] == "percent of bags" and "test bags" in printed
    assert (out / "ftpt.png").is_file() and not (out / "attention.png").exists()  # feature vectors: no picture
    assert "attention.npz" in json.loads((out / ".attnjax-files.json").read_text())["files"]

    maps = read_attention(out)
    test = np.arange(N) % 5 == 4
    np.testing.assert_array_equal(maps["labels"], b["labels"][test])
    np.testing.assert_array_equal(maps["mask"], b["mask"][test])
    np.testing.assert_array_equal(maps["truth"], b["truth"][test])
    assert maps["paradigms"] == ["soft", "hard"] and maps["rules"] == {"soft": "pooled", "hard": "expected"}
    assert maps["settings"]["split"] == "test" and maps["settings"]["seeds"] == 2
    for name in maps["paradigms"]:
        alpha, pred = maps["attention"][name], maps["prediction"][name]
        assert alpha.shape == (2, int(test.sum()), M) and pred.shape == (2, int(test.sum()))
        np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-6)  # over the real segments ...
        assert np.all(alpha[:, ~maps["mask"]] == 0)  # ... as padding gets exactly none
        reported = doc["results"][name]["test"]
        np.testing.assert_allclose(100 * (pred == maps["labels"][None]).mean(-1), reported["accuracy"], atol=1e-4)
        for metric, values in _focus_cells(alpha, pred, maps["labels"], maps["truth"]).items():
            np.testing.assert_allclose(values, reported[metric], atol=1e-4, err_msg=f"{name} {metric}")


def test_focus_metrics_of_uniform_attention_are_known_by_hand(tmp_path, capsys):
    """The linear focus starts at zero and a learning rate of 1e-30 leaves it there, so every bag's
    attention is uniform over its real segments, 1 / (its size), and the most-attended segment is the
    first (argmax takes the first of equal values): focus accuracy is the share of test bags whose
    truth is segment 0."""
    b = bags(1)
    b["truth"][:, 0] |= np.arange(N) % 3 == 0  # some bags have two truth segments, one of them segment 0
    path = write(tmp_path / "b.npz", **b)
    out = tmp_path / "run"
    code, _, err = run(["compare", "--dataset", "bags", "--data-file", str(path), *TINY, "--model", "linear",
                        "--lr", "1e-30", "--losses", "soft", "--save-attention", "--out", str(out)], capsys)
    assert code == 0, err
    test = np.arange(N) % 5 == 4
    expected = 100 * b["truth"][test, 0].mean()
    assert 0 < expected < 100
    reported = load_results(out)["results"]["soft"]
    np.testing.assert_allclose(reported["test"]["focus_accuracy"], [expected] * 2, atol=1e-4)
    np.testing.assert_allclose(reported["train"]["focus_accuracy"], [100 * b["truth"][~test, 0].mean()] * 2, atol=1e-4)
    alpha = read_attention(out / "attention.npz")["attention"]["soft"]
    sizes = b["mask"][test].sum(1)
    np.testing.assert_allclose(alpha, np.broadcast_to(b["mask"][test] / sizes[:, None], alpha.shape), rtol=1e-6)


def test_without_truth_the_focus_metrics_are_unavailable(tmp_path, capsys, compiles):
    b = bags(2)
    path = write(tmp_path / "b.npz", segments=b["segments"], labels=b["labels"], mask=b["mask"])
    out = tmp_path / "run"
    code, printed, err = run(["compare", "--dataset", "bags", "--data-file", str(path), *TINY, "--model", "gated",
                              "--losses", "soft,lvml", "--save-attention", "--out", str(out)], capsys)
    assert code == 0, err
    doc = load_results(out)
    assert doc["config"]["data"]["has_truth"] is False
    for res in doc["results"].values():
        for part in (res["train"], res["test"], *(r["test"] for r in res["by_rule"].values())):
            assert {k for k, v in part.items() if v is None} == {"focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf"}
        # the history also holds the attention on the truth, which needs a truth too
        assert {k for k, v in res["history"]["test"].items() if v is None} == {
            "focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf", "a_z", "entropy", "a_z_half"}
        assert len(res["test"]["accuracy"]) == 2
    assert doc["metrics"]["unavailable"]["metrics"] == ["focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf"]
    rows = [line for line in printed.splitlines() if line.startswith(("soft ", "lvml "))]
    assert len(rows) == 2 and all(row.count("n/a") == 5 for row in rows), printed
    assert not (out / "ftpt.png").exists() and (out / "curves.png").is_file()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()[1:]]
    assert history and all(h["test_focus_accuracy"] == [None, None] for h in history)
    maps = read_attention(out)
    assert maps["truth"] is None and maps["settings"]["data"]["has_truth"] is False
    np.testing.assert_allclose(maps["attention"]["lvml"].sum(-1), 1.0, atol=1e-6)

    # A damaged document: only the focus metrics may be null, and only without truth.
    bad = json.loads((out / "results.json").read_text())
    bad["results"]["soft"]["test"]["accuracy"] = None
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="results.soft.test.accuracy is null"):
        load_results(tmp_path / "bad.json")
    bad = json.loads((out / "results.json").read_text())
    bad["config"]["data"]["has_truth"] = True
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="focus_accuracy is null"):
        load_results(tmp_path / "bad.json")

    # A sweep too: empty focus columns in sweep.csv, n/a in its table.
    code, printed, err = run(["sweep", "--dataset", "bags", "--data-file", str(path), *TINY, "--losses", "soft",
                              "--lr", "0.01,0.1", "--out", str(tmp_path / "sweep")], capsys)
    assert code == 0, err
    rows = [line.split(",") for line in (tmp_path / "sweep" / "sweep.csv").read_text().splitlines()]
    focus = [i for i, name in enumerate(rows[0]) if name in ("test_focus_accuracy", "test_ftpt", "test_ffpf")]
    assert len(rows) == 5 and len(focus) == 3 and all(row[i] == "" for row in rows[1:] for i in focus)
    assert all(r["test_accuracy"] is not None for r in load_results(tmp_path / "sweep")["rows"])
    assert sum("n/a" in line for line in printed.splitlines()) == 2

    # Redrawing works; signature and fixed-focus need the truth, and say so before compiling anything.
    assert run(["plot", str(out)], capsys)[0] == 0
    before = len(compiles)
    for command in ("signature", "fixed-focus"):
        code, _, err = run([command, "--dataset", "bags", "--data-file", str(path), *TINY, "--losses", "soft",
                            "--out", str(tmp_path / command)], capsys)
        assert code == 2 and len(err.splitlines()) == 1 and "'truth'" in err and str(path) in err, err
    assert len(compiles) == before


def test_gated_attention_is_ilse_et_al_formula():
    from attnjax.models import make_models

    _, focus, _ = make_models("gated", num_classes=K, segment_shape=(D,), hidden=7)
    x = np.random.default_rng(0).normal(size=(9, D)).astype(np.float32)
    params = focus.init(jax.random.key(0), x)
    p = jax.tree_util.tree_map(np.asarray, params["params"])
    v, u, w = p["V"]["kernel"], p["U"]["kernel"], p["w"]["kernel"]
    assert v.shape == u.shape == (D, 7) and w.shape == (7, 1) and set(p) == {"V", "U", "w"}  # no biases
    expected = (np.tanh(x @ v) * (1 / (1 + np.exp(-(x @ u))))) @ w
    np.testing.assert_allclose(np.asarray(focus.apply(params, x)), expected[:, 0], rtol=1e-5, atol=1e-6)


def test_attention_picture_of_image_mosaics(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run(["compare", "--dataset", "digits", "--m-range", "3,5", "--n-train", "32", "--n-test", "8",
                        *TINY, "--losses", "soft", "--save-attention", "--out", str(out)], capsys)
    assert code == 0, err
    from matplotlib.image import imread

    picture = imread(out / "attention.png")
    assert picture.ndim == 3 and picture.shape[0] > 400 and picture.shape[1] > 400
    maps = read_attention(out)
    assert (~maps["mask"]).any()  # --m-range pads some mosaics
    alpha = maps["attention"]["soft"]
    assert np.all(alpha[:, ~maps["mask"]] == 0)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-6)
    doc = load_results(out)
    np.testing.assert_allclose(100 * (maps["prediction"]["soft"] == maps["labels"]).mean(-1),
                               doc["results"]["soft"]["test"]["accuracy"], atol=1e-4)


def test_read_attention_refuses_other_files(tmp_path):
    write(tmp_path / "x.npz", labels=np.arange(3))
    with pytest.raises(DataError, match="not an attnjax attention file"):
        read_attention(tmp_path / "x.npz")
    with pytest.raises(DataError, match="no such file"):
        read_attention(tmp_path)
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(DataError, match="not an attnjax attention file"):
        read_attention(tmp_path / "t.npz")
    # a member cut short: named as truncated (np.load called it "holds Python objects" or gave a traceback)
    import zipfile

    arrays = {"attention": np.zeros((1, 4, 3), np.float32), "prediction": np.zeros((1, 4), np.int32)}
    np.savez(tmp_path / "whole.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "whole.npz") as src, zipfile.ZipFile(tmp_path / "cut.npz", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data[:-8] if info.filename == "attention.npy" else data)
    with pytest.raises(DataError, match="not an attnjax attention file.*truncated"):
        read_attention(tmp_path / "cut.npz")


def _case(name):
    """The arrays of one malformed file (a dict), or None for a case that writes its own file."""
    b = bags()
    n = N
    if name == "missing segments":
        return {"labels": b["labels"]}
    if name == "missing labels":
        return {"segments": b["segments"], "mask": b["mask"]}
    if name == "unknown key":
        return {**b, "truths": b["truth"]}
    if name == "segments of 2 axes":
        return {**b, "segments": b["segments"][:, :, 0], }
    if name == "segments of text":
        return {**b, "segments": np.full((n, M, D), "a")}
    if name == "one segment a bag":
        return {"segments": b["segments"][:, :1], "labels": b["labels"]}
    if name == "NaN in a real segment":
        b["segments"][3, 0, 2] = np.nan
        return b
    if name == "inf in float32":
        b["segments"] = b["segments"].astype(np.float64)
        b["segments"][3, 0, 2] = 1e300
        return b
    if name == "labels not integers":
        return {**b, "labels": b["labels"] + 0.5}
    if name == "labels of the wrong shape":
        return {**b, "labels": b["labels"][:-1]}
    if name == "negative label":
        b["labels"][5] = -1
        return b
    if name == "label out of class_names":
        return {**b, "class_names": np.array(["a", "b"])}
    if name == "one class":
        return {**b, "labels": np.zeros(n, int)}
    if name == "class_names twice":
        return {**b, "class_names": np.array(["a", "b", "a"])}
    if name == "mask of the wrong shape":
        return {**b, "mask": b["mask"][:, :-1]}
    if name == "mask not 0/1":
        return {**b, "mask": b["mask"] * 2}
    if name == "empty bag":
        b["mask"][7] = False
        b["truth"][7] = False
        return b
    if name == "truth of the wrong shape":
        return {**b, "truth": b["truth"].T}
    if name == "truth on padding":
        b["truth"][~b["mask"]] = True
        return b
    if name == "split without test":
        return {**b, "split": np.zeros(n, int)}
    if name == "split without train":
        return {**b, "split": np.full(n, "test")}
    if name == "split value 2":
        return {**b, "split": np.arange(n) % 3}
    if name == "split 'val'":
        return {**b, "split": np.where(np.arange(n) < 20, "train", "val")}
    if name == "default split of 4 bags":
        return {k: v[:4] for k, v in b.items()}
    if name == "pickled objects":
        return {**b, "split": np.array([None] * n, dtype=object)}
    return None


MALFORMED = [
    ("missing segments", "missing key 'segments'"), ("missing labels", "missing key 'labels'"),
    ("unknown key", "unknown key 'truths'"), ("segments of 2 axes", "'segments' has shape (40, 5)"),
    ("segments of text", "'segments' has dtype"), ("one segment a bag", "'segments' has m = 1"),
    ("NaN in a real segment", "'segments': segment 0 of bag 3 holds NaN"),
    ("inf in float32", "'segments': segment 0 of bag 3 holds NaN or infinity in float32"),
    ("labels not integers", "'labels' has dtype float64"), ("labels of the wrong shape", "'labels' has shape (39,)"),
    ("negative label", "'labels' holds -1 (bag 5)"), ("label out of class_names", "'labels' holds 2"),
    ("one class", "'labels' has 1 class"), ("class_names twice", "'class_names' lists a name twice"),
    ("mask of the wrong shape", "'mask' has shape (40, 4)"), ("mask not 0/1", "'mask' holds 2"),
    ("empty bag", "'mask': bag 7 is empty"), ("truth of the wrong shape", "'truth' has shape (5, 40)"),
    ("truth on padding", "'truth' marks segment"), ("split without test", "'split' puts no bag in test"),
    ("split without train", "'split' puts no bag in train"), ("split value 2", "'split' holds 2"),
    ("split 'val'", "'split' holds 'val'"), ("default split of 4 bags", "'split' puts no bag in test (4 bags)"),
    ("pickled objects", "key 'split' holds Python objects"),
    ("not an npz", "not an .npz archive"), ("an npy", "a single .npy array"), ("no such file", "no such file"),
]


@pytest.mark.parametrize("case,fragment", MALFORMED, ids=[c for c, _ in MALFORMED])
def test_each_malformed_file_is_one_line_naming_the_key(case, fragment, tmp_path, capsys, compiles):
    path = tmp_path / "bags.npz"
    arrays = _case(case)
    if arrays is not None:
        write(path, **arrays)
    elif case == "not an npz":
        path.write_text("segments,labels\n1,2\n")
    elif case == "an npy":
        np.save(tmp_path / "bags.npy", bags()["segments"])
        path = tmp_path / "bags.npy"
    with pytest.raises(DataError) as info:  # the library says the same line
        load_dataset("bags", data_file=path)
    assert fragment in str(info.value) and str(path) in str(info.value)
    code, _, err = run(["compare", "--dataset", "bags", "--data-file", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("attnjax: error:"), err
    assert fragment in err and str(path) in err and "Traceback" not in err
    assert compiles == []


OPTIONS = [
    ([], "--dataset bags needs --data-file"),
    (["--data-file", "{file}", "--m", "4"], "--m/--m-range do not apply to --dataset bags"),
    (["--data-file", "{file}", "--n-train", "10"], "--n-train/--n-test do not apply to --dataset bags"),
    (["--data-file", "{file}", "--fg", "0"], "--fg/--bg do not apply to --dataset bags"),
    (["--data-file", "{file}", "--data-dir", "x"], "--data-dir does not apply to --dataset bags"),
    (["--data-file", "{file}", "--model", "linear", "--hidden", "8"], "--hidden applies only to the mlp, gated"),
    (["--data-file", "{file}", "--model", "cnn"], "the paper's CNNs need image segments of at least 18x18"),
]


@pytest.mark.parametrize("extra,fragment", OPTIONS, ids=[f for _, f in OPTIONS])
def test_options_that_do_not_apply_to_bags(extra, fragment, tmp_path, capsys, compiles):
    file = write(tmp_path / "b.npz", **bags())
    argv = ["compare", "--dataset", "bags", *[a.format(file=file) for a in extra], "--out", str(tmp_path / "o")]
    code, _, err = run(argv, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err
    assert compiles == []
    code, _, err = run(["compare", "--dataset", "digits", "--data-file", str(file), "--out", str(tmp_path / "o")],
                       capsys)
    assert code == 2 and "--data-file applies only to --dataset text or bags" in err


def test_attention_from_the_library_leaves_matplotlib_alone(tmp_path):
    """attention_maps / save_attention as a library: the caller's backend and pyplot figures stay."""
    import matplotlib
    import matplotlib.pyplot as plt

    from attnjax.attention import attention_maps, save_attention
    from attnjax.experiments import compare

    backend = matplotlib.get_backend()
    matplotlib.use("pdf")
    fig = plt.figure()
    try:
        data, info = load_dataset("digits", m=3, n_train=24, n_test=6, seed=1)
        runs = compare(data, info, losses=["soft"], seeds=1, epochs=1, batch_size=8)
        maps = attention_maps(runs, data, info)
        written = save_attention(tmp_path, maps, data, info, examples=2)
        assert [p.name for p in written] == ["attention.npz", "attention.png"]
        assert matplotlib.get_backend() == "pdf" and plt.get_fignums() == [fig.number]
        back = read_attention(tmp_path)
        np.testing.assert_array_equal(back["attention"]["soft"], maps["attention"][0])
        np.testing.assert_array_equal(back["prediction"]["soft"], maps["prediction"][0])
        np.testing.assert_array_equal(back["labels"], np.asarray(data.test.labels))
        np.testing.assert_array_equal(back["truth"], np.asarray(data.test.truth))
        assert back["settings"]["data"]["name"] == "digits"
        # the foreground of a mosaic is its one truth segment
        assert (back["truth"].sum(1) == 1).all()
        np.testing.assert_array_equal(back["truth"].argmax(1), np.asarray(data.test.fg_pos))
    finally:
        plt.close(fig)
        matplotlib.use(backend)
