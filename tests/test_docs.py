"""The documentation site: its command-line reference is the parser's, its API reference has
every public name, every page is in the navigation. (``mkdocs build --strict`` itself runs in
``.ci/run``, with the ``docs`` extra.)"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
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


# ---------------------------------------------------------------------------------------------
# The check of the rendered pages (docs/hooks.py's page_problems, run on every page by
# ``mkdocs build --strict``): what Markdown and mkdocstrings render badly without complaint.

_CLEAN_PAGE = """<html><body><nav><ul><li>1. The setting</li></ul></nav><article>
<h2 id="x">1. The setting</h2>
<p>Plainly.</p>
<ul>
<li>a list item</li>
<li>another, with <code>--lr 0.1</code> and a dash - in prose</li>
</ul>
<pre><code>Use :func:`foo` in Sphinx.
- not a list
</code></pre>
<div class="arithmatex">\\[ a
- b \\]</div>
<p><span class="doc-section-title">Parameters:</span></p>
<table><tbody><tr class="doc-section-item"><td><code>n_train</code></td><td><code>int | None</code></td>
<td>mosaics, e.g. 1, 2</td><td><code>None</code></td></tr></tbody></table>
<p><span class="doc-section-title">Returns:</span></p>
<table><tbody><tr class="doc-section-item"><td><code>tuple[int, int]</code></td><td>a, b</td></tr></tbody></table>
</article><script src="https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"></script></body></html>"""


def test_the_page_check_passes_a_clean_page():
    """Code blocks, formulas, headings and the navigation may hold what prose may not; a
    Returns table's type may hold commas; the formulas are typeset by MathJax."""
    assert _hooks().page_problems(_CLEAN_PAGE) == []


def test_the_page_check_finds_raw_roles_run_on_lists_and_joined_parameter_rows():
    hooks = _hooks()
    page = _CLEAN_PAGE.replace("<p>Plainly.</p>", "<p>Plainly.\n- one\n- two</p>\n<p>See :class:<code>Hyper</code>"
                               " and :func:`make_train`.</p>\n<p>- after a code block</p>")
    page = page.replace("<code>n_train</code>", "<code>n_train, n_test</code>")
    problems = hooks.page_problems(page)
    assert sum("Sphinx role" in p for p in problems) == 2, problems
    assert any(":class:`Hyper`" in p for p in problems) and any(":func:`make_train`" in p for p in problems)
    run_on = [p for p in problems if "no blank line" in p]
    assert len(run_on) == 3 and any("- after a code block" in p for p in run_on), problems
    assert [p for p in problems if "several parameters" in p] == [
        "a docstring row that names several parameters at once: 'n_train, n_test' "
        "(give each its own row, so it shows its type and default)"]
    # an "Attributes:" table counts too
    attributes = _CLEAN_PAGE.replace("Parameters:", "Attributes:").replace("<code>n_train</code>", "<code>a, b</code>")
    assert len(hooks.page_problems(attributes)) == 1
    # formulas with no MathJax to typeset them
    assert hooks.page_problems(_CLEAN_PAGE.replace("mathjax@3", "nothing")) == [
        "formulas, but the page loads no MathJax to typeset them (they show as raw LaTeX)"]


_PLANTED_MODULE = '''"""A planted module."""


def good(n_train: int = 1, n_test: int = 2) -> int:
    """Add.

    Arguments:
        n_train: training examples.
        n_test: test examples.

    Returns:
        Their sum (see [`good`][planted.good]).
    """
    return n_train + n_test


def bad(n_train: int = 1, n_test: int = 2) -> int:
    """Add, as :func:`good` does.

    Arguments:
        n_train, n_test: the examples.
    """
    return n_train + n_test
'''


def _site(tmp_path, page: str, function: str) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of a one-page site with this repository's hooks and settings."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(page + f"\n\n::: planted.{function}\n")
    (tmp_path / "planted.py").write_text(_PLANTED_MODULE)
    config = (ROOT / "mkdocs.yml").read_text()
    config = re.sub(r"(?ms)^nav:.*?(?=^\S)", "", config)                # one page, no navigation
    config = re.sub(r"(?ms)^exclude_docs:.*?(?=^\S)", "", config)
    config = config.replace("  - docs/hooks.py", f"  - {ROOT / 'docs' / 'hooks.py'}")
    config = config.replace('paths: ["."]', f'paths: ["{tmp_path}"]')
    (tmp_path / "mkdocs.yml").write_text(config)
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_a_strict_build_passes_a_clean_page_and_docstring(tmp_path):
    built = _site(tmp_path, "# Title\n\nPlainly:\n\n- one\n- two\n", "good")
    assert built.returncode == 0, built.stderr
    assert 'href="#planted.good"' in (tmp_path / "site" / "index.html").read_text()   # the cross-reference


def test_a_strict_build_fails_on_a_planted_bad_page_and_docstring(tmp_path):
    built = _site(tmp_path, "# Title\n\nPlainly:\n- one\n- two\n", "bad")
    assert built.returncode != 0
    log = built.stderr
    assert "index.md: a list with no blank line before it" in log, log
    assert "index.md: a Sphinx role shown as text: ':func:`good`" in log, log
    assert "index.md: a docstring row that names several parameters at once: 'n_train, n_test'" in log, log


_ROLE_IN_SOURCE = re.compile(r":(?:py:)?(?:class|func|mod|data|meth|attr|exc|obj|const|math):`")


def test_the_docstrings_use_no_sphinx_roles():
    """mkdocstrings prints ``:class:`Hyper` `` as text: the docstrings cross-reference with
    ``[`Hyper`][attnjax.config.Hyper]`` (names the site documents) or plain code spans."""
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for folder in ("attnjax", "analytic") for path in sorted((ROOT / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if _ROLE_IN_SOURCE.search(line)]
    assert found == []


def test_the_api_reference_docstrings_give_each_parameter_its_own_row():
    """A row naming several parameters ("n_train, n_test:") renders with no type and as
    required; the API reference's docstrings give each parameter and attribute its own row."""
    import griffe

    page = (ROOT / "docs" / "reference.md").read_text()
    paths = re.findall(r"^::: ([\w.]+)$", page, flags=re.M)
    loaded = griffe.load("attnjax", search_paths=[str(ROOT)])
    joined = []

    def visit(obj):
        if obj.docstring:
            for section in griffe.parse_google(obj.docstring, warn_unknown_params=False):
                if section.kind.value in ("parameters", "other parameters", "attributes"):
                    joined.extend(f"{obj.path}: {item.name}" for item in section.value if "," in item.name)
        for member in obj.members.values():
            if not member.is_alias:
                visit(member)

    assert len(paths) > 50
    for path in paths:
        visit(loaded[path.removeprefix("attnjax.")])
    assert joined == []
