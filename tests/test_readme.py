"""The README's and the documentation's command lines go through the real parser exactly as printed.

Three sources, all read from README.md and the pages of docs/ themselves so that a new example is
tested too:
every ``attnjax ...`` line of a code block (backslash continuations joined), every
inline ``--option VALUE`` span with a concrete value, and every concrete value printed
in the options table beside its option (``--pixel-range`` ... ``-1,1``).
"""

import re
import shlex
from pathlib import Path

import pytest

from attnjax.cli import build_parser

ROOT = Path(__file__).parents[1]
README = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
COMMANDS = ("compare", "signature", "fixed-focus", "sweep", "estimators", "plot", "verify", "recipes")
#: A value as a user would type it: numbers, names, comma-separated lists, a leading minus sign.
CONCRETE = re.compile(r"^-?[a-z0-9.][a-z0-9.,_/-]*$")


def _code_blocks() -> list[str]:
    """The text of every fenced block marked bash (or unmarked)."""
    blocks, current, language = [], None, None
    for line in README.splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in ("", "bash"):
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _code_block_commands() -> list[str]:
    lines = []
    for block in _code_blocks():
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("attnjax "):
                lines.append(line)
            elif "&& attnjax " in line:
                lines.append("attnjax " + line.split("&& attnjax ", 1)[1])
    # and the commands printed inline in the prose (``attnjax compare --dataset ...``)
    inline = re.findall(r"`(attnjax [^`]+)`", README.replace("\n", " "))
    # (a bare ``attnjax plot`` in a sentence names the command; it needs its RUN argument)
    return lines + [" ".join(c.split()) for c in inline if c.split()[1] in COMMANDS and c.split() != ["attnjax", "plot"]]


def _inline_options() -> list[str]:
    spans = re.findall(r"`(--[a-z][a-z-]* [^`]+)`", README)
    # A single letter (``--samples k``) is a placeholder, not a value.
    return sorted({s for s in spans if CONCRETE.match(s.split(" ", 1)[1]) and len(s.split(" ", 1)[1]) > 1})


def _table_values() -> list[str]:
    out = set()
    for row in README.splitlines():
        cells = row.split("|")
        if len(cells) < 4 or not cells[1].strip().startswith("`--"):
            continue
        options = re.findall(r"`(--[a-z][a-z-]*)`", cells[1])
        values = [v for cell in cells[2:] for v in re.findall(r"`([^`]+)`", cell) if CONCRETE.match(v)]
        for option in options[:1]:
            # A table cell also names commands and protocols in code spans: take numbers and lists,
            # and names only where the option offers them as choices.
            choices = build_parser().commands[_command_for(option)]._option_string_actions[option].choices or ()
            out.update(f"{option} {v}" for v in values if re.search(r"[0-9,]", v) or v in choices)
    return sorted(out)


def _parse(words: list[str]):
    parser = build_parser()
    try:
        return parser.parse_args(words)
    except SystemExit as exc:  # pragma: no cover - the failure message is the point
        raise AssertionError(f"the parser refused {' '.join(words)!r} (exit {exc.code})") from None


def _command_for(option: str) -> str:
    """The first command that takes ``option``."""
    parser = build_parser()
    for name in COMMANDS:
        if option in parser.commands[name]._option_string_actions:
            return name
    raise AssertionError(f"no command takes {option}, which the README prints")


def test_the_readme_prints_commands_to_check():
    assert len(_code_block_commands()) >= 12 and len(_inline_options()) >= 5 and len(_table_values()) >= 5


@pytest.mark.parametrize("line", _code_block_commands())
def test_every_command_line_of_the_readme_parses(line):
    words = shlex.split(line)[1:]
    if words and words[0] == "--version":
        return
    args = _parse(words)
    assert args.command in COMMANDS


@pytest.mark.parametrize("span", _inline_options() + _table_values())
def test_every_option_value_the_readme_prints_parses(span):
    option, value = span.split(" ", 1)
    if option == "--model" and value == "cnn":
        words = ["compare", "--dataset", "fashion-mnist", option, value]
    else:
        command = _command_for(option)
        words = [command, *(["RUN"] if command == "plot" else []), option, value]  # plot takes a run folder
    _parse(words)


def test_negative_values_parse_as_printed():
    """argparse alone reads ``-1,1`` as an option; the README prints ``--pixel-range -1,1``."""
    assert _parse(["compare", "--pixel-range", "-1,1"]).pixel_range == (-1.0, 1.0)
    assert _parse(["sweep", "--init-scale", "-1,0.5"]).init_scale == [-1.0, 0.5]
    assert _parse(["compare", "--init-scale", "-.5"]).init_scale == -0.5
    assert _parse(["compare", "--pixel-range=-1,1"]).pixel_range == (-1.0, 1.0)


def _api_block() -> str:
    """The README's Python API example, as printed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The Python API", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_the_readme_python_api_example_runs_with_its_commented_alternatives():
    """The block runs as printed (at a small size), and so does every alternative its comments
    offer (``# or a grid: Hyper.tile(8, ...)``): a name one of them uses must be imported."""
    import jax

    small = (_api_block().replace("n_train=2000, n_test=1000", "n_train=64, n_test=32")
             .replace("epochs=40", "epochs=2"))
    assert "n_train=64" in small and "epochs=2" in small, "the example's sizes changed: update this test"
    scope: dict = {}
    exec(compile(small, "README.md", "exec"), scope)  # the README's own example
    assert scope["result"].history.test.accuracy.shape == (8, 2, 3)
    assert scope["result"].history.test.focus_accuracy.shape == (8, 2)
    alternatives = 0
    for line in small.splitlines():
        code, _, comment = line.partition("#")
        alternative = re.match(r"\s*or [^:]*:\s*(.+)$", comment)
        if alternative and "=" in code:
            name = code.split("=", 1)[0].strip()
            value = eval(alternative.group(1), dict(scope))  # what a reader would paste in its place
            printed = scope[name]
            assert jax.tree_util.tree_structure(value) == jax.tree_util.tree_structure(printed), line
            assert [x.shape for x in jax.tree_util.tree_leaves(value)] == \
                [x.shape for x in jax.tree_util.tree_leaves(printed)], line
            alternatives += 1
    assert alternatives >= 1
