"""mkdocs hooks: the command-line reference, written from the argparse parser at build time.

``cli.md`` holds the marker ``<!-- cli-reference -->``; :func:`cli_reference` replaces it with
every command's usage and options, taken from :func:`attnjax.cli.build_parser`, so the page
cannot go stale (``tests/test_docs.py`` checks that every option of every command appears).
"""

from __future__ import annotations

import argparse

MARKER = "<!-- cli-reference -->"


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
