"""``--resume`` through the command, in-process: the history across interruptions, and what it refuses.

A run is "killed" after its N-th checkpoint by a ``_commit`` that raises once the snapshot
is in place (what a SIGKILL then leaves on disk: the checkpoints, ``history.jsonl``, no
result). The references are an uninterrupted run's ``history.jsonl`` and ``results.json``.
Every damaged checkpoint is refused with one line that names the file (and the field),
exit status 2, no traceback, before anything compiles.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import attnjax.checkpoint as checkpoint
from attnjax.cli import main
from conftest import run_cli

# Two paradigms of small digits mosaics, 3 epochs, a checkpoint every epoch: soft's at steps 1-3, then hard's.
RUN = ["compare", "--dataset", "digits", "--n-train", "200", "--n-test", "100", "--losses", "soft,hard",
       "--seeds", "2", "--epochs", "3", "--batch-size", "20", "--checkpoint-every", "1"]


class _Killed(Exception):
    """Stands for a kill right after a checkpoint is complete."""


def _run_until(out: Path, n: int, *extra: str) -> None:
    """Run RUN into ``out`` (with ``extra``), stopping once this session has written ``n`` checkpoints."""
    real, count = checkpoint._commit, [0]

    def commit(incoming, final, meta):
        real(incoming, final, meta)
        count[0] += 1
        if count[0] == n:
            raise _Killed

    checkpoint._commit = commit
    try:
        with pytest.raises(_Killed):
            main([*RUN, "--out", str(out), *extra])
    finally:
        checkpoint._commit = real


def _history(out: Path) -> list[dict]:
    """The epoch lines of ``out``'s history, read with ``json``."""
    lines = (out / "history.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "history"
    return [json.loads(line) for line in lines[1:]]


def _epochs(records) -> list[tuple[str, int]]:
    return [(r["paradigm"], r["epoch"]) for r in records]


def _numbers(doc: dict) -> dict:
    """``results.json`` without what may differ between sessions (times, memory, the resumed flag)."""
    for res in doc["results"].values():
        for key in ("seconds", "compile_seconds", "train_seconds"):
            res.pop(key)
    doc.pop("peak_memory")
    doc["config"]["long_run"].pop("resumed")
    return doc


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("whole") / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A run killed after soft's second checkpoint (step 2 of 3)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    _run_until(out, 2)
    assert sorted(p.name for p in (out / "checkpoints" / "soft").iterdir()) == ["step-00000001", "step-00000002"]
    return out


@pytest.fixture
def damaged(stopped, tmp_path):
    """A copy of the stopped run to damage, and its newest step."""
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    return out, out / "checkpoints" / "soft" / "step-00000002"


def test_history_keeps_every_paradigm_across_two_interruptions(tmp_path, whole, capsys):
    """Killed after soft's 3 epochs and hard's first, resumed, killed after hard's second, resumed to the end:
    the history holds soft's epochs all along, and ends equal to the uninterrupted run's."""
    reference = _history(whole)
    assert _epochs(reference) == [("soft", e) for e in (1, 2, 3)] + [("hard", e) for e in (1, 2, 3)]
    out = tmp_path / "run"
    _run_until(out, 4)
    assert _epochs(_history(out)) == _epochs(reference)[:4]
    capsys.readouterr()

    _run_until(out, 1, "--resume")  # hard's checkpoint at epoch 2
    assert _history(out) == reference[:5]  # soft's three epochs are still there
    err = capsys.readouterr().err
    assert f"attnjax: note: --resume: soft finished in its checkpoint {out / 'checkpoints' / 'soft' / 'step-00000003'}: " \
           "not trained again" in err
    assert f"attnjax: note: --resume: hard continues at epoch 2 of 3, from its checkpoint " \
           f"{out / 'checkpoints' / 'hard' / 'step-00000001'}" in err
    code, status, _ = run_cli(["plot", str(out)], capsys)
    # "still running": the history's writer is this process
    assert code == 0 and status.split(": ", 1)[1].startswith("soft 3/3 epochs, hard 2/3 epochs\n")

    code, _, err = run_cli([*RUN, "--out", str(out), "--resume"], capsys)
    assert code == 0, err
    assert "hard continues at epoch 3 of 3" in err
    assert _history(out) == reference
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(
        json.loads((whole / "results.json").read_text()))


def _one_line_refusal(out, capsys, *extra, command=RUN):
    code, stdout, err = run_cli([*command, "--out", str(out), "--resume", *extra], capsys)
    assert code == 2 and "Traceback" not in err
    line = err.splitlines()[-1]
    assert line.startswith("attnjax: error: ")
    assert not (out / "results.json").exists()
    return line


META = [
    ("epoch", -5, "'epoch' is -5, outside [0, 2] (3 epochs)"),
    ("epoch", 3, "'epoch' is 3, outside [0, 2] (3 epochs)"),
    ("epoch", 1, "'seed_chunk' 0 and 'epoch' 1 make step 1, not the folder's"),
    ("epoch", "2", "'epoch' is \"2\", not an integer"),
    ("epoch", 2.0, "'epoch' is 2.0, not an integer"),
    ("epoch", True, "'epoch' is true, not an integer"),
    ("seed_chunk", -1, "'seed_chunk' is -1, outside [0, 1] (2 seed(s) in chunks of 2)"),
    ("seed_chunk", 2, "'seed_chunk' is 2, outside [0, 1]"),
    ("seed_chunk", None, "'seed_chunk' is null, not an integer"),
    ("chunk_size", 3, "'chunk_size' is 3, outside [1, 2] (2 seed(s) on 1 device(s))"),
    ("chunk_size", 1, "'shapes.state' leaf 0 is [[2, "),  # in range, but the arrays are of chunks of 2
    ("chunk_size", [2], "'chunk_size' is [2], not an integer"),
    ("seconds", "x", "'seconds' is \"x\", not a non-negative number"),
    ("seconds", -1, "'seconds' is -1, not a non-negative number"),
    ("seconds", None, "'seconds' is null, not a non-negative number"),
    ("layout", "2", "'layout' is \"2\", not an integer"),
    ("attnjax", 7, "'attnjax' is 7, not a version string"),
    ("shapes", {}, "'shapes' has parts []; seed chunk 0, epoch 2 of this run holds ['history', 'state']"),
    ("shapes", None, "'shapes' is null, not an object"),
    ("files", "x", "'files' is \"x\", not an object naming the array files"),
    ("arrays", 0, "'arrays' is 0, not a SHA-256"),
]


@pytest.mark.parametrize("key, value, fragment", META, ids=[f"{k}={json.dumps(v)}" for k, v, _ in META])
def test_damaged_metadata_is_refused_naming_the_file(damaged, capsys, compiles, key, value, fragment):
    out, step = damaged
    meta = json.loads((step / "meta.json").read_text())
    meta[key] = value
    (step / "meta.json").write_text(json.dumps(meta))
    line = _one_line_refusal(out, capsys)
    assert line.startswith(f"attnjax: error: --resume: checkpoint {step} is damaged (meta.json: ")
    assert fragment in line
    assert line.endswith("); remove step-00000002 to resume from the checkpoint before it, or start over (--overwrite)")
    assert compiles == []


def test_unreadable_metadata_is_refused(damaged, capsys):
    out, step = damaged
    for text, why in (("{not json", "JSONDecodeError"), ("[1, 2]", "it holds list, not an object")):
        (step / "meta.json").write_text(text)
        line = _one_line_refusal(out, capsys)
        assert line.startswith(f"attnjax: error: --resume: checkpoint {step} is damaged (meta.json: {why}")
    (step / "meta.json").unlink()
    assert f"checkpoint {step} is damaged (meta.json: FileNotFoundError" in _one_line_refusal(out, capsys)


def test_every_truncated_or_changed_array_file_is_refused_naming_it(damaged, capsys, compiles):
    """Each file orbax wrote, cut to half its size, then the same size with other bytes: one line naming the
    file, and orbax never reads it (its failed reads used to print tracebacks after the line)."""
    out, step = damaged
    files = sorted(p for p in (step / "arrays").rglob("*") if p.is_file())
    assert len(files) >= 5
    for f in files:
        good = f.read_bytes()
        f.write_bytes(good[: len(good) // 2])
        name = f.relative_to(step).as_posix()
        line = _one_line_refusal(out, capsys)
        assert line == (f"attnjax: error: --resume: checkpoint {step} is damaged ({name}: {len(good) // 2} bytes, meta.json says "
                        f"{len(good)}: truncated?); remove step-00000002 to resume from the checkpoint before it, or "
                        "start over (--overwrite)")
        f.write_bytes(bytes(255 - b for b in good))
        line = _one_line_refusal(out, capsys)
        assert f"damaged ({name}: not the file written: its SHA-256 differs from meta.json's)" in line
        f.unlink()
        assert f"damaged ({name}: missing)" in _one_line_refusal(out, capsys)
        f.write_bytes(good)
    (step / "arrays" / "extra").write_bytes(b"x")
    assert "damaged (arrays/extra: a file that meta.json does not list)" in _one_line_refusal(out, capsys)
    assert compiles == []


def test_arrays_that_orbax_reads_but_differ_are_refused(damaged, capsys, monkeypatch):
    """Should orbax read back other arrays than were written (files and metadata consistent), the arrays'
    own SHA-256 catches it."""
    out, step = damaged
    real = checkpoint._read_arrays

    def changed(path):
        flat = real(path)
        name = sorted(flat)[0]
        flat[name] = flat[name] + 1
        return flat

    monkeypatch.setattr(checkpoint, "_read_arrays", changed)
    line = _one_line_refusal(out, capsys)
    assert line.startswith(f"attnjax: error: --resume: checkpoint {step} is damaged (arrays: the arrays read back are not those "
                           "written")


def test_checkpoint_folders_that_are_files_are_refused(damaged, capsys, compiles):
    out, step = damaged
    shutil.rmtree(step)
    step.write_text("")
    assert _one_line_refusal(out, capsys) == (
        f"attnjax: error: --resume: checkpoint {step} is not a step folder (step-NNNNNNNN holding arrays/ and meta.json): "
        "remove it, or start over (--overwrite)")
    shutil.rmtree(step.parent)
    step.parent.write_text("")
    assert _one_line_refusal(out, capsys) == (
        f"attnjax: error: --resume: {step.parent} is a file, not a paradigm's folder of checkpoints: remove it, or "
        "start over (--overwrite)")
    step.parent.unlink()
    step.parent.parent.rmdir()
    (out / "checkpoints").write_text("")
    assert _one_line_refusal(out, capsys) == (
        f"attnjax: error: --resume: {out / 'checkpoints'} is a file, not the folder of an interrupted run's "
        "checkpoints: remove it, or start over (--overwrite)")
    assert compiles == []


def test_an_empty_checkpoint_folder_says_it_trains_from_the_first_epoch(tmp_path, stopped, whole, capsys):
    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    shutil.rmtree(out / "checkpoints")
    (out / "checkpoints").mkdir()
    code, _, err = run_cli([*RUN, "--out", str(out), "--resume"], capsys)
    assert code == 0, err
    assert f"attnjax: note: --resume: no checkpoint in {out / 'checkpoints'}: training from the first epoch" in err
    for name in ("soft", "hard"):
        assert (f"attnjax: note: --resume: {name}: no checkpoint in {out / 'checkpoints' / name}, so it trains "
                "from epoch 1") in err
    assert _history(out) == _history(whole)


def test_another_command_is_refused(damaged, capsys):
    """``signature --resume`` on ``compare``'s checkpoints (of equal settings) is refused."""
    out, step = damaged
    line = _one_line_refusal(out, capsys, command=["signature", *RUN[1:]])
    assert line == (f"attnjax: error: --resume: checkpoint {step} was written by 'attnjax compare', not 'attnjax signature': "
                    "resume it with the command that wrote it, or start over (--overwrite)")


@pytest.mark.parametrize("option", [["--pixel-range", "0,2"], ["--bg-replacement"]])
def test_other_data_of_the_same_shape_is_refused(damaged, capsys, option):
    out, step = damaged
    line = _one_line_refusal(out, capsys, *option)
    assert line.startswith(f"attnjax: error: --resume: checkpoint {step} was trained on other data (the SHA-256 of the data "
                           "set: ")
    assert line.endswith("now): resume on the data that wrote it (the same data set, data file, seed and data options), "
                         "or start over (--overwrite)")
