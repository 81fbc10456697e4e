"""A corpus of bad input: each case is one line on stderr, exit status 2, no traceback, and
nothing compiled (a listener on JAX's compile events counts every program built).

One case per defect a new user reported (issue 16), then more of our own. Each runs the real
``attnjax`` entry point in-process, so an unexpected exception fails the test with its traceback.
"""

import copy
import errno
import json
import os

import jax
import pytest

from attnjax.cli import main
from attnjax.files import MANIFEST
from conftest import run_cli

HATEXPLAIN_RECIPE = os.path.join(os.path.dirname(__file__), "..", "attnjax", "recipes", "hatexplain-compare.toml")
ORTHO = ["--dataset", "orthogonal", "--classes", "3", "--m", "3", "--seeds", "1", "--epochs", "1"]


def run(argv, capsys):
    code, _, err = run_cli(argv, capsys)
    return code, err


def assert_one_line(code, err, fragment):
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("attnjax: error:") and fragment in err, err
    assert "Traceback" not in err


def _posts(n):
    return {f"p{i}": {"post_id": f"p{i}", "annotators": [{"label": "normal"}] * 3, "rationales": [],
                      "post_tokens": ["a", "b", "c"]} for i in range(n)}


@pytest.fixture
def files(tmp_path):
    few = tmp_path / "few.json"
    few.write_text(json.dumps(_posts(3)))
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    return {"few": few, "nested": nested}


CASES = [
    # (command and options, fragment of the message)
    (["compare", "--dataset", "text", "--data-file", "{few}"], "3 decided posts split into 2 train / 1 val / 0 test"),
    (["compare", "--dataset", "text", "--data-file", "{nested}"], "nested too deeply"),
    (["sweep", *ORTHO], "sweep needs a grid"),
    (["compare", *ORTHO, "--seed", "99999999999999999999"], "--seed: expected a seed below 2**32"),
    (["compare", "--dataset", "digits", "--model", "cnn"], "--model cnn needs images of at least 18x18"),
    (["sweep", *ORTHO, "--losses", "hybrid", "--switch-epoch", "0,500"], "--switch-epoch must be at most"),
    (["compare", *ORTHO, "--losses", "hybrid", "--switch-epoch", "2"], "--switch-epoch must be at most"),
    (["compare", *ORTHO, "--lr", "1e39"], "float32 can represent"),
    (["compare", *ORTHO, "--lr", "1e-50"], "float32 can represent"),
    (["sweep", *ORTHO, "--init-scale", "1,1e39"], "float32 can represent"),
    (["compare", *ORTHO, "--losses", "hybrid", "--hybrid-epochs", "1,1"], "--epochs does not apply"),
    (["sweep", *ORTHO, "--lr", "0.01,,0.05"], "is empty"),
    (["sweep", *ORTHO, "--lr", "0.01,"], "is empty"),
    (["compare", *ORTHO, "--losses", "soft,,hard"], "is empty"),
    (["estimators", "--ms", "100000000", "--draws", "10"], "--ms: m = 100000000"),
    # our own
    (["compare", *ORTHO, "--momentum", "0.9999999999"], "float32 can represent"),
    (["compare", "--dataset", "text", "--model", "cnn"], "--model cnn does not take token ids"),
    (["compare", *ORTHO, "--model", "cnn"], "--model cnn needs images"),
    (["fixed-focus", *ORTHO, "--alphas", "0.5,,1"], "is empty"),
    (["compare", *ORTHO, "--pixel-range", "-1,1"], "--pixel-range does not apply to --dataset orthogonal"),
    (["compare", "--dataset", "digits", "--pixel-range", "1,-1"], "LOW < HIGH"),
    (["sweep", *ORTHO, "--losses", "soft", "--switch-epoch", "0,1"], "applies only when --losses includes hybrid"),
    (["estimators", "--seed", "-3"], "non-negative"),
    (["compare", *ORTHO, "--epochs", "2147483648"], "--epochs: expected at most 1,000,000"),
    (["compare", *ORTHO, "--model", "mlp", "--hidden", "3000000000"], "--hidden: expected at most 65,536"),
    (["compare", *ORTHO, "--n-train", "99999999999999"], "--n-train: expected at most"),
    (["estimators", "--draws", "1"], "--draws: expected an at-least-2 integer"),
    (["sweep", *ORTHO, "--lr", "0.1,0.2", "--switch-epoch", "0,1", "--losses", "soft,hybrid"],
     "a --switch-epoch grid applies only to --losses hybrid"),
    (["fixed-focus", *ORTHO, "--alphas", "1e-50"], "alphas must be in (0, 1] (in float32)"),
    (["compare", *ORTHO, "--resume", "--overwrite"], "--resume continues the run in --out and --overwrite starts"),
    (["compare", *ORTHO, "--checkpoint-every", "-1"], "--checkpoint-every: expected a non-negative integer"),
    (["compare", *ORTHO, "--compile-cache", "/dev/null/cache"], "--compile-cache /dev/null/cache: cannot create"),
    (["compare", *ORTHO, "--conv", "lax"], "--conv applies only to --model cnn, not linear"),
    (["sweep", "--dataset", "digits", "--lr", "0.1,0.2", "--conv", "im2col"], "--conv applies only to --model cnn, not mlp"),
    (["compare", "--dataset", "fashion-mnist", "--conv", "fft"], "--conv: invalid choice: 'fft'"),
    (["compare", *ORTHO, "--seed-map", "pmap"], "--seed-map: a seed map is vmap, map or mix:G"),
    (["fixed-focus", *ORTHO, "--seed-map", "mix:1"], "(mix:1 is map)"),
    (["compare", *ORTHO, "--seed-map", "mix:x"], "--seed-map: a seed map is vmap, map or mix:G"),
    (["compare", "--config", HATEXPLAIN_RECIPE], "this recipe needs --data-file"),
    (["compare", "--dataset", "text", "--data-file", "posts.json", "--n-train", "10"],
     "--n-train/--n-test do not apply to --dataset text with --data-file"),
    (["compare", "--dataset", "text", "--encoder", "mlp"], "--encoder does not apply to --dataset text"),
    (["compare", "--dataset", "digits", "--model", "transformer"], "--model transformer takes token ids"),
]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_input_fails_in_one_line_before_compiling(argv, fragment, files, tmp_path, capsys, compiles):
    argv = [a.format(**files) for a in argv] + ["--out", str(tmp_path / "out")]
    code, err = run(argv, capsys)
    assert_one_line(code, err, fragment)
    assert compiles == [], f"{len(compiles)} program(s) compiled before the error"
    assert not (tmp_path / "out").exists()


def _compare_doc(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "run"
    assert main(["compare", *ORTHO, "--seeds", "2", "--losses", "soft", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def good_docs(tmp_path_factory):
    compare = _compare_doc(tmp_path_factory)
    out = tmp_path_factory.mktemp("good") / "sweep"
    assert main(["sweep", *ORTHO, "--losses", "soft", "--lr", "0.1,0.2", "--out", str(out)]) == 0
    return compare, json.loads((out / "sweep.json").read_text())


def _damage(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


DAMAGE = {
    "no history": (0, lambda d: d["results"]["soft"].pop("history"), "missing field 'results.soft.history'"),
    "no data": (0, lambda d: d["config"].pop("data"), "missing field 'config.data'"),
    "ragged": (0, lambda d: d["results"]["soft"]["history"].update(loss=[[1.0], [2.0, 3.0]]),
               "results.soft.history.loss must be a rectangular"),
    "flat history": (0, lambda d: d["results"]["soft"]["history"].update(loss=[1.0, 2.0]),
                     "results.soft.history.loss must be a 2-level nested list of numbers, got 1 level(s)"),
    "strings": (0, lambda d: d["results"]["soft"]["test"].update(accuracy=["a", "b"]),
                "results.soft.test.accuracy must be a list of numbers"),
    "wrong kind": (0, lambda d: d.update(kind="sweep"), "damaged sweep result: missing field 'seeds'"),
    "unknown kind": (0, lambda d: d.update(kind="banana"), "unknown kind 'banana'"),
    "no grid": (1, lambda d: d.pop("grid"), "missing field 'grid'"),
    "grid of text": (1, lambda d: d["grid"].update(learning_rate="fast"), "grid.learning_rate must be"),
    "rows not a list": (1, lambda d: d.update(rows={}), "rows must be a list"),
    "infinite loss": (0, lambda d: d["results"]["soft"]["history"].update(loss=[[1e400], [1.0]]), "not finite"),
    "a seed short": (0, lambda d: d["results"]["soft"]["history"].update(loss=[[1.0]]),
                     "results.soft.history.loss has 1 seed(s), config.seeds says 2"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_plot_refuses_a_damaged_document_in_one_line(name, good_docs, tmp_path, capsys, compiles):
    which, change, fragment = DAMAGE[name]
    doc = _damage(good_docs[which], change)
    path = tmp_path / ("results.json" if which == 0 else "sweep.json")
    path.write_text(json.dumps(doc))
    code, err = run(["plot", str(path)], capsys)
    assert_one_line(code, err, fragment)
    assert str(path) in err
    assert compiles == []


def test_overwrite_replaces_the_earlier_runs_files_and_only_those(tmp_path, capsys):
    """compare --overwrite over a signature folder: no signature file survives, yours all do."""
    out = tmp_path / "run"
    assert main(["signature", *ORTHO, "--losses", "soft", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    first = set(json.loads((out / MANIFEST).read_text())["files"])
    assert {"signature.json", "signature.png"} <= first
    assert main(["compare", *ORTHO, "--losses", "soft", "--out", str(out), "--overwrite"]) == 0
    names = {p.name for p in out.iterdir()}
    assert "signature.json" not in names and "signature.png" not in names
    assert {"results.json", "curves.png", "notes.txt", "sub"} <= names
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == names - {"notes.txt", "sub", MANIFEST}
    capsys.readouterr()
    assert main(["plot", str(out)]) == 0  # one result file: the folder can be redrawn


@pytest.mark.parametrize("name", ["results.json", "curves.png"])
def test_overwrite_refuses_a_folder_whose_files_it_cannot_tell_apart(name, tmp_path, capsys, compiles):
    out = tmp_path / "run"
    out.mkdir()
    (out / name).write_text("mine")  # a file attnjax might write, without attnjax's file list
    code, err = run(["compare", *ORTHO, "--out", str(out), "--overwrite"], capsys)
    assert_one_line(code, err, "cannot be told from yours")
    assert compiles == [] and (out / name).read_text() == "mine"


def _disk_full_at(monkeypatch, name: str) -> None:
    """Every write of ``name`` fails as on a full disk (at the rename of its temporary file)."""
    real = os.replace

    def full(src, dst):
        if str(dst).endswith(name):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full)


def test_a_full_disk_names_the_file(tmp_path, capsys, monkeypatch):
    _disk_full_at(monkeypatch, "results.json")
    out = tmp_path / "run"
    code = main(["compare", *ORTHO, "--losses", "soft", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err == f"attnjax: error: --out: cannot write {out / 'results.json'}: No space left on device"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_hybrid_epochs_beside_epochs_is_said(tmp_path, capsys, compiles):
    assert main(["compare", *ORTHO, "--losses", "soft,hybrid", "--hybrid-epochs", "1,1",
                 "--out", str(tmp_path / "o")]) == 0
    assert "the hybrid runs 1 + 1 epochs (--hybrid-epochs); --epochs 1 applies to soft" in capsys.readouterr().err
    assert compiles  # the listener the corpus relies on does see programs being compiled


def test_a_divergence_from_the_init_scale_names_it(tmp_path, capsys):
    code = main(["compare", "--dataset", "digits", "--n-train", "60", "--n-test", "30", "--seeds", "1",
                 "--epochs", "1", "--losses", "soft", "--init-scale", "1e30", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "soft diverged" in err and "--init-scale 1e+30 multiplies every initial parameter" in err


def test_learning_rates_are_recorded_as_given(tmp_path):
    out = tmp_path / "o"
    assert main(["sweep", *ORTHO, "--losses", "soft", "--lr", "0.01,0.03", "--out", str(out)]) == 0
    doc = json.loads((out / "sweep.json").read_text())
    assert set(doc["config"]["paradigms"]["soft"]["learning_rate"]) == {0.01, 0.03}
    assert sorted({r["learning_rate"] for r in doc["rows"]}) == [0.01, 0.03]
    assert "0.009999999776482582" not in (out / "sweep.csv").read_text()


def test_seeds_that_do_not_fit_are_chunked_before_they_run(monkeypatch):
    """XLA's memory analysis of the all-seeds program, read before it runs, picks the chunks.

    With the memory available set to half of what XLA says the 8 seeds need, the run is
    chunked up front (no out-of-memory error is ever raised), says so, and trains the same
    numbers as the run that fit.
    """
    import numpy as np

    from attnjax import experiments, parallel
    from attnjax.data import load_orthogonal
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    config = TrainConfig.for_data(info, loss="soft", epochs=2, batch_size=3)
    whole = experiments.train_seeds(config, data, seeds=8, learning_rate=0.1)
    assert whole.chunk_size is None and not whole.notes
    keys = jax.random.split(jax.random.key(0), 8)
    hparams = experiments.Hyper.tile(8, 0.1)
    state = jax.eval_shape(jax.vmap(lambda k, h: experiments.init_state(config, k, h)), keys, hparams)
    stats = experiments.Programs().advance(config, state, hparams, data).memory_analysis()
    need = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    monkeypatch.setattr(parallel, "available_memory", lambda device=None: need // 2)
    notes = []

    def progress(epoch):
        pass

    progress.note = notes.append
    chunked = experiments.train_seeds(config, data, seeds=8, learning_rate=0.1, progress=progress)
    assert chunked.chunk_size is not None and 1 <= chunked.chunk_size < 8
    assert notes == chunked.notes and "XLA's memory analysis" in notes[0] and "chunks of" in notes[0]
    for a, b in zip(jax.tree_util.tree_leaves(whole.history), jax.tree_util.tree_leaves(chunked.history)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_failed_write_still_lists_every_file_the_run_wrote(tmp_path, capsys, monkeypatch):
    """The disk fills up at the second figure: the file list names the JSON, the first figure and
    the live history, so a later --overwrite removes them; the error names the file that failed."""
    _disk_full_at(monkeypatch, "ftpt.png")
    out = tmp_path / "run"
    assert main(["compare", *ORTHO, "--losses", "soft", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"cannot write {out / 'ftpt.png'}: No space left on device")
    listed = set(json.loads((out / MANIFEST).read_text())["files"])
    assert listed == {p.name for p in out.iterdir()} - {MANIFEST} == {"results.json", "curves.png", "history.jsonl"}
