"""Helpers shared by the ``roicore`` subcommands: reader options, usage checks, progress flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "parse_option", "add_reader_arguments", "add_progress_arguments", "check_writer",
           "check_output", "reader_options", "positive_int"]


class UsageError(Exception):
    """A command line that cannot work as given (exit code 2, like argparse's own errors)."""


def parse_option(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is parsed as JSON when it is JSON, else kept as text."""
    import json

    key, separator, value = item.partition("=")
    if not separator or not key:
        raise UsageError(f"--option expects KEY=VALUE, got {item!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_reader_arguments(parser: argparse.ArgumentParser, prefix: str = "", what: str = "the input") -> None:
    """``--[prefix-]reader`` and ``--[prefix-]option KEY=VALUE`` for one opened input."""
    flag = f"--{prefix}-" if prefix else "--"
    parser.add_argument(f"{flag}reader", metavar="ID", help=f"read {what} with this reader id instead of detection")
    parser.add_argument(f"{flag}option", action="append", default=[], metavar="KEY=VALUE",
                        help=f"a reader argument for {what} (JSON value), repeatable")


def reader_options(items: list[str]) -> dict[str, Any]:
    """The parsed ``--option`` items."""
    return dict(parse_option(item) for item in items)


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: a bar on long interactive runs)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_const", const=True, default=None,
                       help="always show a progress bar")
    group.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                       help="never show a progress bar")


def check_writer(format_id: str | None, kind: str, output: Path | None = None, append: bool = False) -> None:
    """Refuse, before any work, a ``--format`` that no installed writer of ``kind`` data has.

    Without ``--format``, the writer is the one that declares ``output``'s suffix
    (any installed plugin's, ``.nwb`` included); none is a usage error too. With
    ``append``, a writer that does not declare the ``"append"`` capability is one.
    """
    import roicore
    from roicore.writing import APPEND, choose_writer

    if format_id is None:
        if output is None:
            return
        from roicore.errors import NoReaderFoundError

        try:
            contribution = choose_writer(kind, output)
        except NoReaderFoundError as exc:
            raise UsageError(str(exc)) from None
    else:
        writers = [c for c in roicore.writers() if c.spec.kind == kind]
        if not any(format_id in (c.id, c.qualified_id) for c in writers):
            known = ", ".join(sorted(c.id for c in writers)) or "none installed"
            raise UsageError(f"--format {format_id!r} is not an installed writer of {kind} data (available: {known})")
        contribution = choose_writer(kind, output or Path("output"), format_id)
    if append and APPEND not in contribution.spec.capabilities:
        appending = ", ".join(sorted(c.id for c in roicore.writers() if c.spec.kind == kind and APPEND in c.spec.capabilities))
        raise UsageError(f"--append: writer {contribution.qualified_id} cannot add to an existing file "
                         f"(writers of {kind} data that can: {appending or 'none installed'})")


def check_output(path: Path, overwrite: bool, append: bool = False) -> None:
    """Refuse, before any work, an output that exists (without ``--overwrite`` or ``--append``) or whose folder does not."""
    if path.exists() and not (overwrite or append):
        raise FileExistsError(17, "the output exists (pass --overwrite to replace it, or --append to add to it)", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(2, "the output's folder does not exist", str(path.parent))


def positive_int(text: str) -> int:
    """An argparse ``type=`` for counts: a positive integer, else a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value
