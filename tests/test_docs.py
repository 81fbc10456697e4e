"""The documentation site: its command-line reference is the parser's, its API reference has
every public name, every page is in the navigation. (``mkdocs build --strict`` itself runs in
``.ci/run``, with the ``docs`` extra.)"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import attnjax
from attnjax.cli import build_parser

ROOT = Path(__file__).parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("attnjax_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_has_every_command_and_option():
    hooks = _hooks()
    page = hooks.cli_reference()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 8
    for name, command in sub.choices.items():
        section = page.split(f"## `attnjax {name}`", 1)[1].split("\n## ", 1)[0]
        for action in command._actions:
            for option in action.option_strings:
                assert f"`{option}`" in section, (name, option)
    assert (ROOT / "docs" / "cli.md").read_text().count(hooks.MARKER) == 1
    assert hooks.on_page_markdown(f"a\n{hooks.MARKER}\nb", None, None, None).startswith("a\n```text\nusage: attnjax")


def test_every_public_name_is_in_the_api_reference():
    page = (ROOT / "docs" / "reference.md").read_text()
    documented = re.findall(r"^::: attnjax\.([a-z_.]+)\.(\w+)$", page, flags=re.M)
    names = [name for _, name in documented]
    assert sorted(names) == sorted(attnjax.__all__)
    for module, name in documented:  # each heading names the module the name is defined in
        assert attnjax._EXPORTS[name] == module, name


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r":\s+([\w-]+\.md)\s*$", nav, flags=re.M))
    assert pages == linked
