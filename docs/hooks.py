"""mkdocs hooks: the command-line reference, written from the argparse parser at build time,
and a check of every rendered page.

``cli.md`` holds the marker ``<!-- cli-reference -->``; `cli_reference` replaces it with
every command's usage and options, taken from `attnjax.cli.build_parser`, so the page
cannot go stale (``tests/test_docs.py`` checks that every option of every command appears).

`page_problems` reads each rendered page for what Markdown and mkdocstrings print without
complaint but render badly: Sphinx roles (``:class:`Hyper` ``) shown as text, lists with no
blank line before them run into their paragraph (" - " in the text), and parameter rows that
name several parameters at once ("n_train, n_test", shown with no type and as required), and
formulas on a page that does not load MathJax (shown as raw LaTeX). Each one is a warning, so ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import argparse
import logging
import re
from html.parser import HTMLParser

MARKER = "<!-- cli-reference -->"

log = logging.getLogger("mkdocs.hooks.attnjax")  # under "mkdocs": --strict counts its warnings


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | meaning |", "|---|---|"]
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.metavar or (action.nargs != 0 and action.type is not None) or action.choices:
            metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                         else action.dest.upper())
            names += f" `{metavar}`"
        help_text = (action.help or "") % {"default": action.default} if action.help else ""
        rows.append(f"| {names} | {_escape(' '.join(help_text.split()))} |")
    return rows


def cli_reference() -> str:
    """Markdown: ``attnjax --help``'s commands, each with its usage and a table of its options."""
    from attnjax.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in subparsers._choices_actions}
    out = ["```text", parser.format_usage().strip(), "```", ""]
    out += _options_table(parser) + [""]
    for name, sub in subparsers.choices.items():
        out += [f"## `attnjax {name}`", "", _escape(helps.get(name, "")), "", "```text",
                sub.format_usage().strip(), "```", ""]
        if any(a.dest == "run" for a in sub._actions):
            out += ["`RUN`: a run folder, or its result file.", ""]
        out += _options_table(sub) + [""]
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs hook
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown


# a Sphinx role as Markdown renders it (`:class:` then the code span), or left as typed
_ROLE = re.compile(r":(?:py:)?(?:class|func|mod|data|meth|attr|exc|obj|const|math|ref):(?:<code>|`)")
# a paragraph, or a line of one, that starts like a list item: the list had no blank line
# before it (or followed a code block that ended the list)
_RUN_ON_ITEM = re.compile(r"(?:^|\n)[ \t]*(?:[-*+]|\d{1,2}[.)])[ \t]+\S")
# the MathJax build that typesets arithmatex's formulas (mkdocs.yml's extra_javascript)
_MATHJAX = re.compile(r"<script[^>]*\ssrc=\"[^\"]*mathjax[^\"]*/tex-[^\"]*\.js\"", re.I)
# mkdocstrings' sections whose tables have one row per name
_NAMED_SECTIONS = ("Parameters:", "Other Parameters:", "Attributes:", "Type Parameters:")


class _PageText(HTMLParser):
    """The prose of a page's article, as runs of text between tags, and the name cells of its
    docstring sections' tables.

    Prose is the text inside ``<article>``, outside headings (a table of contents repeats them),
    code blocks, scripts and typeset formulas (arithmatex's ``<div class="arithmatex">``). An inline
    ``<code>`` is kept as a run of one backtick at each end, so that a role before it can be seen.
    """

    _SKIPPED = {"pre", "script", "style", "textarea", "h1", "h2", "h3", "h4", "h5", "h6", "nav"}
    _VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []      # text runs; "`" opens or closes an inline code span
        self.blocks: list[str] = []     # each paragraph's and list item's own text
        self._open: list[list[str]] = []    # the text of the paragraphs and list items now open
        self.names: list[str] = []      # first cells of the rows of a named section's table
        self._stack: list[tuple[str, bool]] = []    # open elements: (tag, skipped)
        self._article = 0               # depth inside <article>
        self._section: str | None = None
        self._title = False
        self._cell: list[str] | None = None
        self._column = 0

    def _skipping(self) -> bool:
        return not self._article or any(skipped for _, skipped in self._stack)

    def handle_starttag(self, tag, attrs):
        if tag in self._VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        self._stack.append((tag, tag in self._SKIPPED or "arithmatex" in classes))
        if tag == "article":
            self._article += 1
        elif tag == "code" and not self._skipping():
            self.prose.append("`")
            if self._open:
                self._open[-1].append("`")
        elif tag in ("p", "li"):
            self._open.append([])
        elif tag == "span" and "doc-section-title" in classes:
            self._title = True
        elif tag == "tr":
            self._column = 0
        elif tag == "td" and self._section:
            self._column += 1
            if self._column == 1:
                self._cell = []

    def handle_endtag(self, tag):
        if tag in self._VOID or tag not in (t for t, _ in self._stack):
            return
        if tag == "code" and not self._skipping():
            self.prose.append("`")
            if self._open:
                self._open[-1].append("`")
        if tag in ("p", "li") and self._open:
            self.blocks.append("".join(self._open.pop()))
        while self._stack and self._stack.pop()[0] != tag:
            pass
        if tag == "article":
            self._article -= 1
        elif tag == "span":
            self._title = False
        elif tag == "td" and self._cell is not None:
            self.names.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._section = None

    def handle_data(self, data):
        if self._title:
            self._section = data.strip() if data.strip() in _NAMED_SECTIONS else None
        if self._cell is not None:
            self._cell.append(data)
        if not self._skipping():
            self.prose.append(data)
            if self._open:
                self._open[-1].append(data)


def page_problems(html: str) -> list[str]:
    """What renders badly on one page of the built site.

    Arguments:
        html: the page, as mkdocs writes it.

    Returns:
        One line per problem: a Sphinx role printed as text, a paragraph with a list run into
        it, a parameter (or attribute) row that names several at once, formulas with no
        MathJax to typeset them. Empty when none.
    """
    reader = _PageText()
    reader.feed(html)
    reader.close()
    problems = []
    text = "".join(reader.prose)
    for match in _ROLE.finditer(text):
        shown = text[match.start():match.end() + 40].split("\n", 1)[0]
        problems.append(f"a Sphinx role shown as text: {shown!r}")
    for block in reader.blocks:
        for match in _RUN_ON_ITEM.finditer(block):
            start = block.rfind("\n", 0, match.end()) + 1
            shown = block[start:match.end() + 40].split("\n", 1)[0].strip()
            problems.append(f"a list with no blank line before it, run into its paragraph: {shown!r}")
    for name in reader.names:
        if "," in name:
            problems.append(f"a docstring row that names several parameters at once: {name!r} "
                            "(give each its own row, so it shows its type and default)")
    if 'class="arithmatex"' in html and not _MATHJAX.search(html):
        problems.append("formulas, but the page loads no MathJax to typeset them (they show as raw LaTeX)")
    return problems


def on_post_page(output: str, page, config) -> str:  # mkdocs hook
    for problem in page_problems(output):
        log.warning("%s: %s", page.file.src_uri, problem)
    return output
