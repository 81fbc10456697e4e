"""Only the command line knows its options: library errors name settings (``field``), the CLI maps them.

The library's error messages name settings in words and carry the setting at fault in ``field`` (and
the one their remedy changes in ``remedy``); `attnjax.cli.FIELD_FLAGS` is the one table of options, and
`attnjax.cli.error_line` names each option once.
"""

import ast
import re
from pathlib import Path

import pytest

import attnjax
from attnjax.errors import ConfigError, DataError

PACKAGE = Path(attnjax.__file__).parent
#: The command line's own modules: they may name options.
CLI_MODULES = {"cli.py", "cli_options.py", "cli_runs.py"}
#: Modules whose messages still name options, to be rewritten (none now; attnjax.plots was the last).
#: Strict: once a listed module is rewritten, the test says to remove it here.
NOT_YET: set[str] = set()
#: A command-line option: two dashes and a letter, not inside a word or an assignment
#: (``XLA_FLAGS=--xla_...`` is XLA's flag, not ours).
OPTION = re.compile(r"(?<![\w=-])--[a-z]")
#: Functions whose strings are messages, though not written inside a ``raise``.
MESSAGE_FUNCTIONS = re.compile(r"message|hint|advice|remedy|note")


def _library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).as_posix() not in CLI_MODULES)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _is_error_call(node: ast.AST) -> bool:
    """``SomethingError(...)`` built anywhere (returned to be raised later, as ``checkpoint._damaged`` does)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name.endswith("Error")


def option_names_in_messages(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each string constant (f-string parts included) of a message that names an option.

    A message's strings: those inside a ``raise`` statement or an error's construction, and those of a
    function whose name says it builds messages (``missing_message``, ``out_of_memory_message``, ``_remedy``),
    docstrings not included.
    """
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    roots = [node for node in ast.walk(tree)
             if isinstance(node, ast.Raise) or _is_error_call(node)
             or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and MESSAGE_FUNCTIONS.search(node.name)]
    found = set()
    for root in roots:
        for node in ast.walk(root):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and OPTION.search(node.value)):
                found.add((node.lineno, node.value))
    return sorted(found)


def test_the_scan_finds_options_in_each_kind_of_message():
    """The scan itself: a raise, an f-string part, an error built to be returned, a message function."""
    source = '''
def f(x):
    """Docstrings may describe ``--lr``."""
    if x:
        raise ValueError(f"--lr {x} is negative")
    return DataError("remove it, or " "--overwrite")

def missing_message(detail):
    return f"pass --data-dir ({detail})"

def other():
    return "--free text outside messages", "XLA_FLAGS=--xla_force_host_platform_device_count=2"
'''
    assert [text for _, text in option_names_in_messages(source)] == [
        "--lr ", "remove it, or --overwrite", "pass --data-dir ("]


def test_the_library_modules_are_scanned():
    names = {p.relative_to(PACKAGE).as_posix() for p in _library_modules()}
    assert {"config.py", "checkpoint.py", "models.py", "data/registry.py", "data/sources.py"} <= names
    assert not names & CLI_MODULES


@pytest.mark.parametrize("module", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="not rewritten yet"))
    if p.relative_to(PACKAGE).as_posix() in NOT_YET else p
    for p in _library_modules()], ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_library_messages_name_no_command_line_option(module):
    found = option_names_in_messages(module.read_text())
    assert found == [], f"{module.relative_to(PACKAGE)} names options in messages: {found}"


def test_each_field_maps_to_an_option_the_parser_has():
    """FIELD_FLAGS names real options (``--fg/--bg``: both), each setting to one option."""
    import argparse

    from attnjax.cli import FIELD_FLAGS, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    known = {option for command in commands.values() for action in command._actions
             for option in action.option_strings}
    for field, flag in FIELD_FLAGS.items():
        assert set(flag.split("/")) <= known, (field, flag)


ORTHO = ["--dataset", "orthogonal", "--classes", "3", "--m", "3", "--n-train", "12", "--n-test", "6",
         "--seeds", "1", "--epochs", "1"]


def _orthogonal():
    from attnjax.data import load_dataset

    return load_dataset("orthogonal", num_classes=3, m=3, n_train=12, n_test=6)


def _batch_size():
    from attnjax.experiments import paradigm_configs

    paradigm_configs(*_orthogonal(), ["soft"], batch_size=50)


def _data_dir(folder):
    from attnjax.data import load_dataset

    load_dataset("mnist", data_dir=folder)


def _m_and_m_range():
    from attnjax.data import load_dataset

    load_dataset("digits", m=5, m_range=(2, 4))


def _samples():
    from attnjax.config import TrainConfig

    TrainConfig(loss="hard-reinforce", m=3, samples=5, sample_replace=False)


def _cnn_encoder_on_small_images():
    from attnjax.config import TrainConfig
    from attnjax.focus import config_modules

    config_modules(TrainConfig(model="mlp", encoder="cnn", segment_shape=(8, 8, 1)))


# (library call, its error class, field, remedy, words the message has, argv, the options the line names)
CASES = [
    (_batch_size, ConfigError, "batch_size", None, "the batch size 50 exceeds the 12 training mosaics",
     ["compare", *ORTHO, "--batch-size", "50"], {"--batch-size"}),
    (_data_dir, DataError, "data_dir", None, "MNIST not found",
     ["compare", "--dataset", "mnist", "--data-dir", "{tmp}", "--seeds", "1", "--epochs", "1"], {"--data-dir"}),
    (_m_and_m_range, ConfigError, "m", "m_range", "m = 5 and a range of m 2,4: give one of them",
     ["compare", "--dataset", "digits", "--m", "5", "--m-range", "2,4", "--seeds", "1", "--epochs", "1"],
     {"--m", "--m-range"}),
    (_samples, ConfigError, "samples", None, "the number of samples must be in 1..m=3 without replacement, got 5",
     ["compare", *ORTHO, "--losses", "hard-reinforce", "--samples", "5", "--no-sample-replace"], {"--samples"}),
    (_cnn_encoder_on_small_images, ConfigError, "encoder", None,
     "the cnn encoder needs image segments of at least 16x16 (H, W, C), got segment shape (8, 8, 1); use the mlp "
     "encoder", ["compare", "--dataset", "digits", "--model", "mlp", "--encoder", "cnn", "--seeds", "1", "--epochs",
                 "1"], {"--encoder"}),
]


def _options_in(line: str) -> list[str]:
    return re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line)


@pytest.mark.parametrize("call, error, field, remedy, words, argv, options", CASES,
                         ids=[c[2] for c in CASES])
def test_the_error_names_its_field_and_the_command_its_option_once(call, error, field, remedy, words, argv, options,
                                                                   tmp_path, capsys, compiles):
    from attnjax.cli import FIELD_FLAGS, main

    with pytest.raises(error) as info:
        call(tmp_path) if call is _data_dir else call()
    assert info.value.field == field and info.value.remedy == remedy
    assert words in str(info.value) and not OPTION.search(str(info.value))

    argv = [a.format(tmp=tmp_path) for a in argv] + ["--out", str(tmp_path / "out")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    line = err.strip()
    assert line.startswith(f"attnjax: error: {FIELD_FLAGS[field]}: "), line
    assert words in line, line
    named = _options_in(line.split("attnjax: error: ", 1)[1])
    for option in options:  # each option of the error, once
        assert named.count(option) == 1, (option, line)
    assert set(named) == options, line
    if remedy is not None:
        assert line.endswith(f" ({FIELD_FLAGS[remedy]})"), line
    assert compiles == []


def test_error_line_names_the_option_once_and_leaves_other_errors_alone():
    from attnjax.cli import error_line
    from attnjax.errors import AttnjaxError, OutOfMemoryError

    assert error_line(ConfigError("the learning rate must be positive, got -1", field="learning_rate")) == (
        "--lr: the learning rate must be positive, got -1")
    assert error_line(DataError("checkpoint c is damaged (x);\n remove it, or start over", field="resume",
                                remedy="overwrite")) == (
        "--resume: checkpoint c is damaged (x); remove it, or start over (--overwrite)")
    assert error_line(ConfigError("--metric applies only with --paired A,B")) == (
        "--metric applies only with --paired A,B")  # the command's own errors name their options themselves
    assert error_line(ConfigError("no such setting", field="not_a_setting")) == "no such setting"
    assert error_line(OutOfMemoryError("out of memory")) == "out of memory"
    assert error_line(AttnjaxError("x", field="model", remedy="model")) == "--model: x"
    assert error_line(ValueError("plain")) == "plain"


def test_the_errors_keep_their_classes_and_positional_use():
    err = ConfigError("bad")
    assert isinstance(err, ValueError) and err.args == ("bad",) and err.field is None and err.remedy is None
    err = DataError("missing", field="data_dir")
    assert isinstance(err, ValueError) and str(err) == "missing" and err.field == "data_dir"
