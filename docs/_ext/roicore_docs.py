"""Sphinx glue for the roicore docs: the CLI reference, generated from the argparse parser at build time.

A page holding the line ``<!-- roicore-cli -->`` gets it replaced, while Sphinx reads the page, by
Markdown made from :func:`roicore.cli.build_parser`: one section per subcommand (nested subcommands
too) with its help, usage, arguments and the examples and notes of its epilog. A command added to
``roicore/cli/`` appears in the docs without touching them.

It also gives extractor classes the signature of their constructor in the API reference (see
:func:`_class_signature`).
"""

from __future__ import annotations

import argparse
import inspect
import os
from typing import Any

MARKER = "<!-- roicore-cli -->"


def _escape(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _epilog_blocks(epilog: str | None) -> list[tuple[str, list[str]]]:
    """Split an epilog into ``("text", lines)`` paragraphs and ``("commands", lines)`` example blocks.

    Example commands are lines starting with ``roicore`` (after ``example:`` or under an
    ``examples:`` heading); a command ending in a backslash continues on the next line.
    """
    blocks: list[tuple[str, list[str]]] = []

    def add(kind: str, line: str) -> None:
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))

    continuing = False
    for raw in (epilog or "").splitlines():
        line = raw.strip()
        if continuing:
            add("commands", "    " + line)
            continuing = line.endswith("\\")
            continue
        lowered = line.lower()
        if lowered in ("example:", "examples:"):
            continue
        if lowered.startswith(("example:", "examples:")):
            line = line.partition(":")[2].strip()
        line = line.removeprefix("$ ")
        if line.startswith("roicore ") or line == "roicore":
            add("commands", line)
            continuing = line.endswith("\\")
        elif line:
            add("text", line)
        elif blocks and blocks[-1][0] == "text":
            blocks.append(("break", []))
    return [block for block in blocks if block[0] != "break"]


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line(s) without argparse's ``usage:`` prefix (continuation lines dedented to match)."""
    prefix = "usage: "
    first, *rest = parser.format_usage().rstrip().splitlines()
    return "\n".join([first.removeprefix(prefix), *(line[len(prefix):] if line.startswith(" " * len(prefix)) else line
                                                    for line in rest)])


def _argument_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        help_text = formatter._expand_help(action) if action.help else ""
        meaning = _escape(help_text)
        if action.choices is not None and not isinstance(action.choices, dict):
            choices = "one of " + ", ".join(f"`{choice}`" for choice in action.choices)
            meaning = f"{meaning}; {choices}" if meaning else choices
        if action.required and action.option_strings:
            meaning = f"{meaning} (required)".strip()
        rows.append((invocation, meaning))
    return rows


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, subparser in action.choices.items():
                if id(subparser) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(subparser))
                found.append((name, helps.get(name, ""), subparser))
    return found


def _command_markdown(parser: argparse.ArgumentParser, title: str, help_text: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{title}`", ""]
    summary = " ".join((parser.description or help_text).split())
    if summary:
        lines += [summary[0].upper() + summary[1:], ""]
    lines += ["```text", _usage(parser), "```", ""]
    rows = _argument_rows(parser)
    if rows:
        lines += ["| argument | meaning |", "|---|---|"]
        lines += [f"| `{invocation}` | {meaning or '-'} |" for invocation, meaning in rows]
        lines.append("")
    for kind, block in _epilog_blocks(parser.epilog):
        if kind == "text":
            lines += [" ".join(block), ""]
        else:
            count = sum(line.startswith("roicore") for line in block)
            lines += ["Example:" if count == 1 else "Examples:", ""]
            lines += ["```console", *(f"$ {line}" if line.startswith("roicore") else line for line in block), "```", ""]
    for name, sub_help, subparser in _subcommands(parser):
        lines += _command_markdown(subparser, f"{title} {name}", sub_help, min(level + 1, 6))
    return lines


def cli_markdown() -> str:
    """The CLI reference as Markdown (sections start at level 2)."""
    from roicore.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage lines to the terminal: make it fixed
    try:
        parser = build_parser()
        subcommands = _subcommands(parser)
        lines = ["| command | what it does |", "|---|---|"]
        lines += [f"| [`roicore {name}`](#roicore-{name}) | {_escape(help_text)} |" for name, help_text, _ in subcommands]
        lines.append("")
        global_rows = _argument_rows(parser)
        if global_rows:
            lines += ["Options of `roicore` itself, given before the command:", ""]
            lines += ["| option | meaning |", "|---|---|"]
            lines += [f"| `{invocation}` | {meaning} |" for invocation, meaning in global_rows]
            lines.append("")
        for name, help_text, subparser in subcommands:
            lines += _command_markdown(subparser, f"roicore {name}", help_text, 2)
        return "\n".join(lines)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    if MARKER in source[0]:
        source[0] = source[0].replace(MARKER, cli_markdown())


def _class_signature(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None,
                     return_annotation: str | None) -> tuple[str, str | None] | None:
    """Extractor classes: show the constructor's parameters, not ``BaseExtractor.__new__``'s ``(*args, **kwargs)``.

    ``__new__`` captures the constructor arguments for pickling, so autodoc would otherwise show it
    for every extractor. Abstract bases (readers define their own constructors) get no signature.
    """
    if what != "class" or not isinstance(obj, type):
        return None
    from roicore._base import BaseExtractor

    if not issubclass(obj, BaseExtractor):
        return None
    if obj.__init__ is BaseExtractor.__init__ or inspect.isabstract(obj):
        return "", None
    parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
    parameters = [p.replace(annotation=inspect.Parameter.empty) for p in parameters]
    return str(inspect.Signature(parameters)), None


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _source_read)
    app.connect("autodoc-process-signature", _class_signature)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
