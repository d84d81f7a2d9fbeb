"""``roicore check``: run the conformance kit on installed plugins."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _check(args: argparse.Namespace) -> int:
    from roicore.testing.cli import run_check

    return run_check(args)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``check`` to the ``roicore`` command."""
    check = commands.add_parser("check", help="run the conformance kit on installed plugins",
                                epilog="example: roicore check roicore-memmap --select 'imaging.*' --json report.json")
    check.add_argument("plugins", nargs="*", metavar="PLUGIN", help="plugin names (default with --all: every plugin)")
    check.add_argument("--all", action="store_true", help="check every installed plugin")
    check.add_argument("--select", action="append", default=[], metavar="GLOB", help="run only checks matching GLOB")
    check.add_argument("--deselect", action="append", default=[], metavar="ID", help="skip a check id (or glob)")
    check.add_argument("--json", metavar="FILE", help="write one record per executed case to FILE")
    check.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    check.add_argument("--markdown", action="store_true", help="with --list-checks: print a Markdown table")
    check.add_argument("--max-examples", type=int, default=None, help="hypothesis examples per property check")
    check.add_argument("-v", "--verbose", action="store_true", help="print every case, not only failures")
    check.set_defaults(func=_check)
