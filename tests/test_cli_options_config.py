"""Issue 29, items 5-7 and 12: ``--config`` values through the command line's own converters, every
output folder checked before anything runs, messages that name the option at fault, ``--max-len``
for text files, refusals for memory that name their cause, and the transformer's bounds.

Each refusal is one line on stderr, exit status 2, no traceback, nothing compiled.
"""

import argparse
import json
import os
from pathlib import Path

import pytest

from attnjax.cli import build_parser, main
from attnjax.errors import ConfigError
from conftest import run_cli

ORTHO = ["--dataset", "orthogonal", "--classes", "3", "--m", "3", "--seeds", "1", "--epochs", "1"]


def assert_one_line(code, err, fragment):
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("attnjax: error:") and fragment in err, err
    assert "Traceback" not in err


def _posts(lengths):
    """HateXplain-layout posts of the given token counts (labels alternate, every annotator agrees)."""
    labels = ["normal", "offensive", "hatespeech"]
    return {f"p{i}": {"post_id": f"p{i}", "annotators": [{"label": labels[i % 3]}] * 3, "rationales": [],
                      "post_tokens": [f"w{(i + j) % 7}" for j in range(n)]} for i, n in enumerate(lengths)}


# ----------------------------------------------------------------------------- --config values (item 5)

CONFIG_CASES = [
    # (TOML text, fragment after "--config FILE: ")
    ('m = "abc"', "m: invalid int value: 'abc'"),
    ("m = 2.5", "m: invalid int value: '2.5'"),
    ('data-file = "posts\\u0000.json"', "data-file: a path cannot hold a NUL character"),
    ('seed-map = "mix:²"', "seed-map: a seed map is vmap, map or mix:G"),
    ("data-file = {path = 'x.json'}", "data-file: expected a value, got a table"),
    ('tensorboard = ["a", "b"]', "tensorboard: expected one path, got a list"),
    ('tensorboard = ""', "tensorboard: expected a path, got ''"),
    ('model = "banana"', "model: invalid choice: 'banana'"),
    ("lr = [[0.1]]", "lr: expected a value, got a list of lists"),
    ("bg-replacement = 1", "bg-replacement: expected true or false"),
    ("seed = 1979-05-27", "seed: expected a value, got datetime.date"),
]


@pytest.mark.parametrize("toml, fragment", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_values_go_through_the_command_line_s_converters(toml, fragment, tmp_path, capsys, compiles):
    config = tmp_path / "c.toml"
    config.write_text(toml + "\n", encoding="utf-8")
    code, _, err = run_cli(["compare", *ORTHO, "--config", str(config), "--out", str(tmp_path / "out")], capsys)
    assert_one_line(code, err, f"--config {config}: {fragment}")
    assert compiles == [] and not (tmp_path / "out").exists()


def test_a_good_config_value_is_converted_as_on_the_command_line(tmp_path):
    """The same converters: a TOML list is the comma-separated value, a number its text."""
    from attnjax.cli_options import apply_config_file

    config = tmp_path / "c.toml"
    config.write_text('losses = ["soft", "hard"]\nm = 4\nlr = 0.5\ndata-dir = "imgs"\nseed-map = "mix:3"\n')
    parser = build_parser()
    argv = ["compare", "--config", str(config)]
    apply_config_file(parser, argv)
    args = parser.parse_args(argv)
    assert (args.losses, args.m, args.lr, args.data_dir, args.seed_map) == (["soft", "hard"], 4, 0.5, "imgs", "mix:3")


def test_a_seed_map_with_a_non_ascii_digit_is_one_line_with_no_internal_name(capsys, tmp_path):
    """'²'.isdigit() is true but int('²') fails: the library refuses it as a ConfigError, and the
    command line's message names the option, not its converter (``invalid _seed_map value``)."""
    from attnjax.protocol import parse_seed_map

    with pytest.raises(ConfigError, match="mix:G"):
        parse_seed_map("mix:²")
    assert parse_seed_map("mix:12") == "mix:12"
    code, _, err = run_cli(["compare", *ORTHO, "--seed-map", "mix:²", "--out", str(tmp_path / "o")], capsys)
    assert_one_line(code, err, "--seed-map: a seed map is vmap, map or mix:G")
    assert "_seed_map" not in err


# ----------------------------------------------------------------------------- folders (item 6)

@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("where, fragment", [
    ("{file}", "--tensorboard {file} is a file, not a folder"),
    ("{file}/tb", "--tensorboard {file}/tb: cannot create it: {file} is a file, not a folder"),
    ("/proc/attnjax-tb", "--tensorboard /proc/attnjax-tb: cannot write in /proc"),
    ("", "argument --tensorboard: expected a path, got ''"),
    ("tb\0x", "argument --tensorboard: a path cannot hold a NUL character"),
])
def test_tensorboard_is_checked_before_anything_runs_and_named(where, fragment, a_file, tmp_path, capsys,
                                                                compiles):
    where, fragment = (s.format(file=a_file) for s in (where, fragment))
    code, _, err = run_cli(["compare", *ORTHO, "--tensorboard", where, "--out", str(tmp_path / "out")], capsys)
    assert_one_line(code, err, fragment)
    assert "--out" not in err.split("error:")[1].split("(see")[0]
    assert compiles == [] and not (tmp_path / "out").exists()


def test_compile_cache_and_out_share_the_folder_check(a_file, tmp_path, capsys, compiles):
    for option, fragment in (("--compile-cache", f"--compile-cache {a_file} is a file, not a folder"),
                             ("--out", f"--out {a_file}/run: cannot create it: {a_file} is a file")):
        argv = ["compare", *ORTHO, option, str(a_file if option == "--compile-cache" else a_file / "run")]
        if option == "--compile-cache":
            argv += ["--out", str(tmp_path / "out")]
        code, _, err = run_cli(argv, capsys)
        assert_one_line(code, err, fragment)
    assert compiles == []


def test_an_os_error_names_the_option_whose_path_it_is():
    """A failed write under --tensorboard is not blamed on --out; a failed read names --data-file."""
    from attnjax.cli import _os_error_line

    args = argparse.Namespace(out=Path("runs/x"), tensorboard=Path("/tmp/tb"), data_file=Path("posts.json"),
                              data_dir=None, compile_cache="off")
    full = OSError(28, "No space left on device", "/tmp/tb/events.out")
    assert _os_error_line(args, full) == "--tensorboard: cannot write /tmp/tb/events.out: No space left on device"
    denied = PermissionError(13, "Permission denied", "posts.json")
    assert _os_error_line(args, denied) == "--data-file: cannot read posts.json: Permission denied"
    result = OSError(28, "No space left on device", "runs/x/results.json")
    assert _os_error_line(args, result) == "--out: cannot write runs/x/results.json: No space left on device"
    assert _os_error_line(args, OSError(5, "I/O error", "/elsewhere")) == "cannot use /elsewhere: I/O error"


# ----------------------------------------------------------------------------- --max-len, memory (item 6)

def test_max_len_truncates_a_text_file_s_posts(tmp_path):
    """One 3000-token post pads every post to 3000 tokens; --max-len 8 truncates to 8 (one post cut)."""
    from attnjax.cli import _load_data

    posts = tmp_path / "posts.json"
    posts.write_text(json.dumps(_posts([3000] + [5] * 29)))
    for argv, length, truncated in (([], 3000, 0), (["--max-len", "8"], 8, 1)):
        args = build_parser().parse_args(["compare", "--dataset", "text", "--data-file", str(posts), *argv])
        data, info = _load_data(args)
        assert info.m == length and data.train.index.shape[1] == length
        assert info.settings["truncated"] == truncated


@pytest.mark.parametrize("argv, fragment", [
    (["--dataset", "text", "--max-len", "8"], "--max-len applies only to --dataset text with --data-file"),
    (["--dataset", "digits", "--max-len", "8"], "--max-len applies only to --dataset text with --data-file"),
    (["--dataset", "text", "--data-file", "p.json", "--max-len", "0"], "--max-len: expected a positive integer"),
])
def test_max_len_is_refused_where_it_does_not_apply(argv, fragment, tmp_path, capsys, compiles):
    code, _, err = run_cli(["compare", *argv, "--out", str(tmp_path / "out")], capsys)
    assert_one_line(code, err, fragment)
    assert compiles == []


def test_a_refusal_for_memory_names_the_padded_post_length_and_max_len(tmp_path, capsys, monkeypatch):
    """XLA's memory analysis against (patched) 1 KiB of memory: one seed cannot fit. The message says
    every post is padded to the long post's 3,000 tokens and suggests --max-len, never --n-train (refused
    with a text file)."""
    from attnjax import parallel

    posts = tmp_path / "posts.json"
    posts.write_text(json.dumps(_posts([3000] + [5] * 29)))
    monkeypatch.setattr(parallel, "available_memory", lambda device=None: 1024)
    code, _, err = run_cli(["compare", "--dataset", "text", "--data-file", str(posts), "--losses", "soft",
                            "--seeds", "1", "--epochs", "1", "--compile-cache", "off", "--out", str(tmp_path / "o")],
                           capsys)
    line = err.splitlines()[-1]
    assert code == 2 and "Traceback" not in err, err
    assert line.startswith("attnjax: error: one seed needs about"), line
    assert "every post padded to 3,000 tokens" in line and "--max-len" in line, line
    assert "--n-train" not in line, line


def test_memory_advice_names_only_the_options_that_apply():
    from attnjax.cli import memory_advice

    def advice(**kw):
        return memory_advice(argparse.Namespace(**{"data_file": None, "model": None, **kw}))

    assert "--n-train" not in advice(dataset="bags", data_file=Path("b.npz"))
    assert "--n-train" not in advice(dataset="text", data_file=Path("p.json"))
    assert "--max-len" in advice(dataset="text", data_file=Path("p.json"))
    assert "--n-train" in advice(dataset="digits") and "--max-len" not in advice(dataset="digits")
    assert "--heads, --layers" in advice(dataset="text", model="transformer")
    assert memory_advice(argparse.Namespace(ms=[5])) == ""  # estimators: no training data


def test_memory_cause_names_the_transformer_s_heads_and_the_padding():
    from attnjax.experiments import memory_cause
    from attnjax.train import TrainConfig

    config = TrainConfig(loss="soft", num_classes=3, m=300_000, segment_shape=(), vocab_size=50,
                         model="transformer", heads=64, layers=2, batch_size=32)
    cause = memory_cause(config)
    assert "batches of 32" in cause and "every post padded to 300,000 tokens" in cause
    assert "64 heads x 2 layers" in cause


# ----------------------------------------------------------------------------- transformer bounds (item 7)

@pytest.mark.parametrize("option, value, fragment", [
    ("--layers", "100000", "--layers: expected at most 32, got 100,000"),
    ("--heads", "100000", "--heads: expected at most 64, got 100,000"),
    ("--layers", "33", "--layers: expected at most 32"),
])
def test_the_transformer_s_size_is_bounded_before_compiling(option, value, fragment, tmp_path, capsys, compiles):
    code, _, err = run_cli(["compare", "--dataset", "text", "--model", "transformer", option, value,
                            "--out", str(tmp_path / "out")], capsys)
    assert_one_line(code, err, fragment)
    assert compiles == []


def test_the_bounds_and_their_reason_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "self-attention layers, at most 32: each layer is compiled anew" in text
    assert "heads of width 50, at most 64" in text


# ----------------------------------------------------------------------------- sweep's output (item 12)

def test_sweep_names_sweep_csv_once(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, _ = run_cli(["sweep", *ORTHO, "--losses", "soft", "--lr", "0.1,0.2", "--compile-cache", "off",
                               "--out", str(out)], capsys)
    assert code == 0
    assert sum(line.count(str(out / "sweep.csv")) for line in stdout.splitlines()) == 1, stdout
    assert "sweep.csv has 2 rows" in stdout
    assert (out / "sweep.csv").is_file()
    assert os.path.getsize(out / "sweep.csv") > 0
