"""The command line: a smoke run, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import pytest

from attnjax.cli import main

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
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--m", "1"], "m must be at least 2"),
        (["--seeds", "0"], "positive integer"),
        (["--losses", "soft,sparse"], "unknown loss"),
        (["--dataset", "imagenet"], "invalid choice"),
        (["--n-train", "0"], "--n-train: expected a positive integer"),
        (["--fg", "0,1", "--bg", "1,2"], "both foreground and background"),
        (["--fg", "0,banana"], "banana"),
        (["--fg", ""], "empty"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent"], "nonexistent"),
        (["--dataset", "cifar10"], "--data-dir"),
        (["--batch-size", "5000"], "--batch-size 5000 exceeds"),
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
