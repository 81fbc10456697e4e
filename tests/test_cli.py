"""The command line: a smoke run, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from attnjax.cli import main
from attnjax.data.sources import FASHION_MNIST_DIR as FASHION_DIR
from attnjax.files import MANIFEST

TINY = ["--dataset", "orthogonal", "--classes", "3", "--m", "3", "--n-train", "12", "--n-test", "6",
        "--seeds", "2", "--epochs", "2", "--batch-size", "4"]


def run_cli(*args, cwd=None):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "attnjax.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_compare_smoke(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("compare", *TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for loss in ("soft", "hard", "lvml", "hybrid"):
        assert loss in proc.stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["seeds"] == 2
    for loss in ("soft", "hard", "lvml", "hybrid"):
        res = doc["results"][loss]
        for split in ("train", "test"):
            assert set(res[split]) == {"accuracy", "focus_accuracy", "ftpt", "ffpt", "ftpf", "ffpf"}
            assert all(len(v) == 2 for v in res[split].values())
            cells = [sum(res[split][k][s] for k in ("ftpt", "ffpt", "ftpf", "ffpf")) for s in range(2)]
            assert cells == pytest.approx([100.0, 100.0], abs=1e-3)
        assert len(res["history"]["loss"]) == 2 and len(res["history"]["loss"][0]) == 2
    assert (out / "curves.png").stat().st_size > 0 and (out / "ftpt.png").stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary files left
    assert sorted(json.loads((out / MANIFEST).read_text())["files"]) == sorted(
        p.name for p in out.iterdir() if p.name != MANIFEST)  # the file list names exactly what was written


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--m", "1"], "m must be at least 2"),
        (["--seeds", "0"], "positive integer"),
        (["--losses", "soft,sparse"], "unknown loss"),
        (["--dataset", "imagenet"], "invalid choice"),
        (["--n-train", "0"], "--n-train: expected a positive integer"),
        (["--fg", "0,1", "--bg", "1,2"], "--fg/--bg: classes [1] are both foreground and background"),
        (["--fg", "0,banana"], "--fg: unknown class 'banana'"),
        (["--bg", "3,,4"], "--bg: empty entry in class list"),
        (["--fg", ""], "--fg: empty class list"),
        (["--m", "2000"], "--m: only "),
        (["--dataset", "orthogonal", "--classes", "1"], "--classes"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent"], "nonexistent"),
        (["--dataset", "cifar10"], "--data-dir"),
        (["--batch-size", "5000"], "--batch-size: the batch size 5000 exceeds"),
        (["--lr", "-1"], "positive"),
    ],
)
def test_bad_input_is_one_line(args, fragment, tmp_path, capsys):
    argv = ["compare", "--out", str(tmp_path / "x"), "--epochs", "1", "--seeds", "1", *args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("attnjax: error:") and fragment in err
    assert not (tmp_path / "x").exists()  # nothing written


def test_divergence_is_reported_not_saved(tmp_path):
    """A diverged paradigm is marked with its seed and epoch; the finished ones are kept; exit 1."""
    out = tmp_path / "run"
    proc = run_cli("compare", *TINY, "--model", "linear", "--losses", "soft,hard", "--lr", "1e30",
                   "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "diverged" in proc.stderr and "seed" in proc.stderr and "epoch" in proc.stderr
    doc = json.loads((out / "results.json").read_text())
    assert "soft" not in doc["results"]  # a non-finite loss is never saved as a result
    assert doc["diverged"]["soft"]["epoch"] >= 1 and doc["diverged"]["soft"]["seed"] in (0, 1)
    # hard attention's loss is a convex combination of per-segment cross-entropies: with
    # lr = 1e30 it stays finite but explodes, which must be warned about, not passed silently.
    assert "hard" in doc["results"]
    assert any(w.startswith("hard:") for w in doc["warnings"]) and "warning" in proc.stderr


def test_signature_and_fixed_focus_smoke(tmp_path):
    sig_out, ff_out = tmp_path / "sig", tmp_path / "ff"
    proc = run_cli("signature", *TINY, "--losses", "soft,hard", "--out", str(sig_out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((sig_out / "signature.json").read_text())
    assert set(doc["heatmaps"]) == {"soft", "hard"}
    for per_convention in doc["heatmaps"].values():
        assert set(per_convention) == {"own", "pooled"}
        for heatmap in per_convention.values():
            assert len(heatmap) == 5 and all(len(row) == 5 for row in heatmap)
            assert sum(map(sum, heatmap)) == pytest.approx(100.0, abs=1e-6)
    assert "orientation" in doc["bins"] and len(doc["bins"]["edges"]) == 6
    assert doc["shown"] == "own"  # the attnjax protocol's picture
    assert (sig_out / "signature.png").stat().st_size > 0
    # the same run's compare metrics ride along: the four focus x prediction cells partition
    # the test mosaics of each seed, and the accuracy is their prediction-true part
    for res in doc["results"].values():
        cells = np.array([res["test"][k] for k in ("ftpt", "ffpt", "ftpf", "ffpf")])
        assert np.allclose(cells.sum(axis=0), 100.0, atol=1e-3)
        assert np.allclose(cells[0] + cells[1], res["test"]["accuracy"], atol=1e-3)
    assert "FTPT" in proc.stdout and "seeds with shortcut" in proc.stdout
    assert (sig_out / "curves.png").stat().st_size > 0 and (sig_out / "ftpt.png").stat().st_size > 0

    proc = run_cli("fixed-focus", *TINY, "--alphas", "0.5,1.0", "--losses", "lvml",
                   "--out", str(ff_out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((ff_out / "fixed_focus.json").read_text())
    assert doc["alphas"] == [0.5, 1.0]
    per_alpha = doc["results"]["lvml"]
    assert set(per_alpha) == {"0.5", "1"}
    for v in per_alpha.values():
        assert len(v["loss"]) == 2 and len(v["loss"][0]) == 2  # seeds x epochs
    assert (ff_out / "fixed_focus.png").stat().st_size > 0


def test_bad_alphas_are_one_line(capsys, tmp_path):
    try:
        code = main(["fixed-focus", "--alphas", "0.5,1.5", "--out", str(tmp_path)])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "(0, 1]" in err


def test_non_finite_results_are_never_written(tmp_path):
    from attnjax.errors import NonFiniteResultError
    from attnjax.files import write_json_atomic

    target = tmp_path / "results.json"
    write_json_atomic(target, {"ok": [1.0]})
    with pytest.raises(NonFiniteResultError, match="NaN or infinity"):
        write_json_atomic(target, {"bad": [float("nan")]})
    assert json.loads(target.read_text()) == {"ok": [1.0]}  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_out_of_memory_picks_a_chunk_size_and_says_so(monkeypatch):
    """XLA's RESOURCE_EXHAUSTED names the failed allocation; the retry chunk follows from it."""
    from attnjax import experiments, parallel
    from attnjax.data import load_orthogonal
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    config = TrainConfig.for_data(info, loss="soft", epochs=1, batch_size=3)
    real = experiments.run_chunked
    calls = []

    def fake(*args, chunk_size, **kwargs):
        calls.append(chunk_size)
        if chunk_size is None:  # all 8 seeds at once "need" 4x the free memory
            raise RuntimeError(f"RESOURCE_EXHAUSTED: Out of memory allocating {4 * 2**30} bytes.")
        return real(*args, chunk_size=chunk_size, **kwargs)

    monkeypatch.setattr(experiments, "run_chunked", fake)
    monkeypatch.setattr(parallel, "available_memory", lambda device=None: 2**30)
    runs = experiments.train_seeds(config, data, seeds=8, learning_rate=0.1)
    # 8 seeds * half of 1 GiB free / 4 GiB needed = chunks of 1.
    assert calls == [None, 1] and runs.chunk_size == 1
    assert "chunks of 1" in runs.notes[0] and np.asarray(runs.history.loss).shape == (8, 1)
    assert parallel.out_of_memory_message(RuntimeError("RESOURCE_EXHAUSTED: x")).endswith(
        "; train the seeds in smaller chunks, or fewer seeds")
    assert parallel.smaller_chunk(ValueError("shape mismatch"), 8) is None


def test_out_of_memory_that_no_retry_catches_is_one_line_naming_the_options(monkeypatch, tmp_path, capsys):
    """XLA's RESOURCE_EXHAUSTED outside the retried training: one line, naming --chunk-size and --seeds."""
    import attnjax.cli as cli

    def exhausted(args, **kwargs):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 123 bytes.\nmore")

    monkeypatch.setattr(cli, "_load_data", exhausted)
    code = main(["compare", *TINY, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("attnjax: error: --chunk-size: out of memory (RESOURCE_EXHAUSTED: Out of memory allocating "
                          "123 bytes.); train the seeds in smaller chunks, or fewer seeds (--seeds); use a smaller "
                          "--batch-size"), err


@pytest.mark.parametrize("delay", [4.0, 9.0])
def test_ctrl_c_exits_130_and_keeps_only_whole_files(tmp_path, delay):
    """SIGINT while loading, compiling or training: exit 130, no traceback (was: SIGSEGV), no result
    file; what the run had written (its live history, its file list) is whole and named."""
    import signal
    import time

    out = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "attnjax.cli", "compare", "--seeds", "4", "--epochs", "400",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a training process behind, whatever happened
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    left = {p.name for p in out.iterdir()} if out.exists() else set()
    assert left <= {"history.jsonl", ".attnjax-files.json"}
    if "history.jsonl" in left:
        assert "history.jsonl holds the epochs so far" in err
        lines = (out / "history.jsonl").read_text().splitlines()
        assert [json.loads(line)["kind"] for line in lines[:1]] == ["history"] and len(lines) > 1
        assert all(json.loads(line)["paradigm"] == "soft" for line in lines[1:])


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--seed", "-1"], "--seed: expected a non-negative integer"),
        (["--dataset", "digits", "--data-dir", "/tmp"], "--data-dir does not apply"),
        (["--dataset", "digits", "--classes", "3"], "--classes applies only"),
        (["--losses", "soft", "--switch-epoch", "3"], "--switch-epoch applies only"),
        (["--losses", "soft,hybrid", "--switch-epoch", "3", "--hybrid-epochs", "2,2"], "not both"),
        (["--protocol", "authors"], "invalid choice"),
        (["--momentum", "1.5"], "--momentum"),
    ],
)
def test_inapplicable_and_bad_options_are_refused(args, fragment, tmp_path, capsys):
    try:
        code = main(["compare", "--out", str(tmp_path / "x"), *args])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_fixed_focus_refuses_hybrid_options_and_duplicate_alphas(tmp_path, capsys):
    for args, fragment in ((["--switch-epoch", "3"], "unrecognized"), (["--hybrid-to", "lvml"], "unrecognized"),
                           (["--alphas", "0.5,0.5"], "distinct"), (["--losses", "hybrid"], "not the hybrid")):
        try:
            code = main(["fixed-focus", "--dataset", "orthogonal", "--out", str(tmp_path / "x"), *args])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and fragment in err, (args, err)
    assert not (tmp_path / "x").exists()


def test_out_is_checked_before_training_and_never_overwritten(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("keep")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "results.json").write_text("{}")
    for out, fragment in ((a_file, "is a file"), (earlier, "--overwrite")):
        code = main(["compare", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and fragment in err and "--out" in err, err
    assert a_file.read_text() == "keep" and (earlier / "results.json").read_text() == "{}"


def test_orthogonal_defaults_work_for_fixed_focus(tmp_path):
    """The protocol's batch size is clipped to the 20 orthogonal training mosaics (was an error)."""
    code = main(["fixed-focus", "--dataset", "orthogonal", "--seeds", "1", "--epochs", "2",
                 "--alphas", "0.5", "--out", str(tmp_path / "ff")])
    assert code == 0
    doc = json.loads((tmp_path / "ff" / "fixed_focus.json").read_text())
    assert doc["config"]["paradigms"]["soft"]["batch_size"] == 20


def test_plot_redraws_from_json_and_version(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["compare", *TINY, "--losses", "soft,hybrid", "--out", str(out)]) == 0
    (out / "curves.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "curves.png").stat().st_size > 0
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("attnjax ")


def test_progress_counts_every_chunk():
    """With chunks, the epoch callback fires once per epoch of every chunk (the bar counts
    epochs x chunks), never once per seed: the exact list, repeats not merged (merging them
    accepted a hook that reported each epoch once per seed)."""
    from attnjax.data import load_orthogonal
    from attnjax.experiments import train_seeds
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    config = TrainConfig.for_data(info, loss="soft", epochs=3, batch_size=3)
    seen = []
    train_seeds(config, data, seeds=5, learning_rate=0.1, chunk_size=2, progress=lambda e: seen.append(int(e)))
    assert seen == [0, 1, 2] * 3  # 3 chunks (2 + 2 + 1 seeds) x 3 epochs


def test_progress_counts_every_chunk_of_a_one_epoch_run():
    """One epoch, 3 chunks: the bar's total is 1 x 3, so the callback must fire 3 times (it fired
    once: the hook dropped a call whose epoch equalled the previous chunk's)."""
    from attnjax.data import load_orthogonal
    from attnjax.experiments import train_seeds
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    config = TrainConfig.for_data(info, loss="soft", epochs=1, batch_size=3)
    seen = []
    train_seeds(config, data, seeds=5, learning_rate=0.1, chunk_size=2, progress=lambda e: seen.append(int(e)))
    assert seen == [0, 0, 0]


def test_progress_reports_each_epoch_once():
    """4 seeds in one program: each epoch index exactly once, in order.

    Catches the progress hook forwarding every seed's call (``[0, 0, 0, 0, 1, ...]``).
    """
    from attnjax.data import load_orthogonal
    from attnjax.experiments import train_seeds
    from attnjax.train import TrainConfig

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    config = TrainConfig.for_data(info, loss="soft", epochs=3, batch_size=3)
    seen = []
    train_seeds(config, data, seeds=4, learning_rate=0.1, progress=lambda e: seen.append(int(e)))
    assert seen == [0, 1, 2]
    seen.clear()  # and again, through the cached program
    train_seeds(config, data, seeds=4, learning_rate=0.1, progress=lambda e: seen.append(int(e)))
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("chunk_size, chunks", [(None, 1), (3, 2)])
def test_progress_factory_total_equals_its_calls(chunk_size, chunks):
    """compare's ``progress(name, total)``: total is epochs x chunks, and the callback it
    returns is called exactly that many times, with each chunk's epochs in order."""
    from attnjax.data import load_orthogonal
    from attnjax.experiments import compare

    data, info = load_orthogonal(num_classes=3, m=3, n_train=6, n_test=3)
    made, calls = [], {}

    def factory(name, total):
        made.append((name, total))
        calls[name] = []
        return lambda e: calls[name].append(int(e))

    compare(data, info, losses=["soft", "hard"], seeds=5, epochs=2, batch_size=3,
            chunk_size=chunk_size, progress=factory)
    assert made == [("soft", 2 * chunks), ("hard", 2 * chunks)]
    assert calls == {"soft": [0, 1] * chunks, "hard": [0, 1] * chunks}


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason=f"{FASHION_DIR} missing (apt-get install dataset-fashion-mnist)")
def test_progress_fires_after_each_epochs_work():
    """The epoch callback waits for its epoch: the last one arrives as training ends.

    Progress is reported from the host after each chunk of epochs (here one epoch a chunk),
    so an epoch is counted only once its work is done: the bar never reaches E/E before the
    run does (it did, when an ``io_callback`` inside the compiled scan reported it).
    """
    import time

    from attnjax.data import load_dataset
    from attnjax.experiments import train_seeds
    from attnjax.loop import EpochChunks, HostLoop
    from attnjax.train import TrainConfig

    data, info = load_dataset("fashion-mnist", n_train=2000, n_test=100)
    config = TrainConfig.for_data(info, loss="soft", model="mlp", epochs=3, batch_size=8)
    host = HostLoop(epochs=EpochChunks(every=1))
    train_seeds(config, data, seeds=2, learning_rate=0.01, host=host)  # compile first
    stamps = []
    train_seeds(config, data, seeds=2, learning_rate=0.01, host=host,
                progress=lambda e: stamps.append((int(e), time.perf_counter())))
    end = time.perf_counter()
    assert [e for e, _ in stamps] == [0, 1, 2]
    epoch_time = stamps[2][1] - stamps[1][1]
    # end - last call: conversions to NumPy only (milliseconds) when the call waits for
    # the epoch; a whole epoch (250 steps, a few hundred ms) when it does not.
    assert end - stamps[-1][1] < 0.5 * epoch_time, (end - stamps[-1][1], epoch_time)


def test_help_imports_no_jax():
    """The command line's parser (``--help`` of every command) reads only jax-free tables."""
    code = ("import sys\nfrom attnjax.cli import build_parser\np = build_parser()\n"
            "for c in p.commands:\n    try:\n        p.parse_args([c, '--help'])\n    except SystemExit:\n        pass\n"
            "print('jax' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "False", proc.stderr
