"""Every text file attnjax reads back (a --config file, a result file, a history) must be a regular file of a
bounded size: a FIFO with no writer is refused at once instead of blocking, a device is never read, and each
refusal is one line naming the file, exit status 2, no traceback. A history's header must be the data set's
record, and its a_z an attention weight."""

from __future__ import annotations

import json
import os
import signal

import pytest

from attnjax.errors import DataError
from attnjax.runlog import _earlier_lines, read_history
from conftest import run_cli


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    old = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("blocked on a FIFO")))
    signal.alarm(20)  # a hang fails the test instead of blocking the suite
    yield path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("where", ["fifo", "device"])
def test_config_must_be_a_regular_file(where, fifo, capsys, compiles):
    path = str(fifo) if where == "fifo" else "/dev/zero"
    code, _, err = run_cli(["compare", "--config", path, "--seeds", "1"], capsys)
    assert code == 2 and err.startswith(f"attnjax: error: --config {path}:") and "not a regular file" in err
    assert "\n" not in err and compiles == []


def test_config_size_is_bounded(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\nseeds = 1\n")
    code, _, err = run_cli(["compare", "--config", str(big)], capsys)
    assert code == 2 and "more than the 1,048,576" in err and "\n" not in err


@pytest.mark.parametrize("where", ["fifo", "device"])
def test_plot_reads_only_regular_files(where, fifo, capsys):
    path = str(fifo) if where == "fifo" else "/dev/zero"
    code, _, err = run_cli(["plot", path], capsys)
    assert code == 2 and "not a regular file" in err and "\n" not in err


def test_a_fifo_history_neither_blocks_a_resume_nor_is_read(fifo):
    assert _earlier_lines(fifo, {"soft": {}}) == {}
    with pytest.raises(DataError, match="not a regular file"):
        read_history(fifo)


def _history(tmp_path, header_change=None, line_change=None):
    header = {"kind": "history", "command": "compare", "seeds": 1, "data": {"name": "digits", "m": 5,
                                                                            "has_truth": True},
              "paradigms": {"soft": {"epochs": 1}}}
    line = {"paradigm": "soft", "epoch": 1, "seeds": [0, 1], "loss": [1.0], "train_accuracy": [50.0],
            "test_accuracy": [50.0], "test_focus_accuracy": [40.0], "test_a_z": [0.3]}
    header.update(header_change or {})
    line.update(line_change or {})
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize("data", [None, "digits", {}, {"name": "digits"}, {"m": 5}])
def test_a_history_header_without_its_data_record_is_refused(tmp_path, data, capsys):
    path = _history(tmp_path, {"data": data})
    code, _, err = run_cli(["plot", str(path)], capsys)
    assert code == 2 and "the header's data is" in err and "\n" not in err


def test_history_claims_are_bounded(tmp_path, capsys):
    code, _, err = run_cli(["plot", str(_history(tmp_path, {"seeds": 10**9}))], capsys)
    assert code == 2 and "the header's seeds is 1000000000" in err
    code, _, err = run_cli(["plot", str(_history(tmp_path, line_change={"test_a_z": [5.0]}))], capsys)
    assert code == 2 and "test_a_z must list one attention weight" in err
    code, _, err = run_cli(["plot", str(_history(tmp_path))], capsys)
    assert code == 0, err


@pytest.mark.parametrize("value", ["-4.6e18,4.6e18", "0,1e12", "-1021,0"])
def test_pixel_range_is_bounded_before_it_can_blame_the_learning_rate(value, capsys, compiles):
    """Inputs of 4.6e18 made the first loss of their order and the warning blamed the learning rate."""
    code, _, err = run_cli(["compare", f"--pixel-range={value}", "--seeds", "1"], capsys)
    assert code == 2 and "--pixel-range" in err and "±1020" in err and "\n" not in err and compiles == []


def test_the_bags_divergence_hint_names_the_inputs_scale():
    import argparse

    from attnjax.cli import _divergence_hint

    hint = _divergence_hint(argparse.Namespace(init_scale=None, dataset="bags"))
    assert "standardise" in hint and "--lr" in hint
    assert _divergence_hint(argparse.Namespace(init_scale=None, dataset="digits")) == "try a smaller --lr"
