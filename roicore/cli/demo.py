"""``roicore demo``: the main job on built-in sample data."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    from roicore.demo import run_demo

    return run_demo(args.folder)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``roicore`` command."""
    demo = commands.add_parser("demo", help="generate sample data, detect and open it (the main job on built-in data)",
                               epilog="example: roicore demo ./roicore-demo")
    demo.add_argument("folder", nargs="?", default="roicore-demo", help="where to write (default: ./roicore-demo)")
    demo.set_defaults(func=_demo)
