"""The ``roicore`` command.

Each subcommand lives in its own module of this package and adds itself with
``register(commands)``; the modules stay light (heavy imports happen inside the
command functions) so ``roicore --help`` is instant.

Errors print one line (``roicore: error: ...``) and exit with 1; usage errors
exit with 2 (argparse's convention). ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from roicore.cli.common import UsageError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Modules under ``roicore.cli`` that contribute subcommands, in help order.
COMMAND_MODULES = ("demo", "inspect", "extract", "convert", "show", "check", "new_plugin")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``roicore`` command."""
    parser = argparse.ArgumentParser(
        prog="roicore",
        description="Calcium-imaging ROI data: detect, inspect, extract, convert and check formats read by roicore plugins.",
        epilog="example: roicore info session.hdf5",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``roicore`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from roicore.errors import cli_syntax

    try:
        with cli_syntax():  # hints in errors read "--option KEY=VALUE", not Python keywords
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt:
        print("roicore: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:  # a command line that cannot work: argparse's convention
        if args.debug:
            raise
        print(f"roicore {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.filename and exc.strerror:  # "path: reason", not "[Errno 2] ..."
            message = f"{exc.filename}: {exc.strerror}"
        else:
            message = str(exc).strip() or type(exc).__name__
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
                message = f"{message}: {exc.filename}"
        first, *rest = message.splitlines()
        print(f"roicore: error: {first}", file=sys.stderr)
        for line in rest:
            print(f"  {line.strip()}" if not line.startswith("  ") else line, file=sys.stderr)
        return 1


def _reader_went_away() -> int:
    """``roicore info X | head -1``: the reader of stdout stopped reading, which is not an error.

    stdout is pointed at /dev/null so that flushing it at exit does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
