"""``roicore new-plugin``: write a complete, installable plugin package from the template."""

from __future__ import annotations

import argparse

__all__ = ["register"]

_EPILOG = """\
The package reads a small example format that stands in for yours, passes `roicore check NAME`
as generated, and holds its next steps in README.md.

example: roicore new-plugin roicore-myformat --kind segmentation -o plugins/myformat
"""


def _plugin_name(value: str) -> str:
    """argparse type: a valid plugin name (a bad one is a usage error, exit 2)."""
    from roicore.scaffold.names import plugin_names

    try:
        return plugin_names(value).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _new_plugin(args: argparse.Namespace) -> int:
    from roicore.scaffold import create_plugin, plugin_names

    folder = create_plugin(args.name, kind=args.kind, folder=args.output)
    names = plugin_names(args.name)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    print(f"created {args.name} in {folder} ({args.kind} plugin: package {names.package}, reader {names.reader_id!r})")
    for file in files:
        print(f"  {file}")
    print("next steps:")
    print(f"  cd {folder}")
    print('  pip install -e ".[test]"')
    print(f"  roicore check {args.name}   # or: pytest")
    print("  then replace the example format with yours (README.md, 'Next steps')")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``new-plugin`` to the ``roicore`` command."""
    command = commands.add_parser(
        "new-plugin",
        help="write a new plugin package from the template (passes roicore check as generated)",
        description=(
            "Write a complete, installable roicore plugin package: a pyproject with the entry point,\n"
            "a light entry module, a reader, a sample generator with ground truth, tests that run\n"
            "the conformance kit, and a CI workflow."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("name", type=_plugin_name, metavar="NAME",
                         help="distribution name, e.g. roicore-myformat (package roicore_myformat, reader 'myformat')")
    command.add_argument("--kind", choices=("imaging", "segmentation"), default="imaging",
                         help="what the reader returns (default: imaging)")
    command.add_argument("-o", "--output", metavar="FOLDER", default=None,
                         help="where to write the package (default: ./NAME); must not exist or be empty")
    command.set_defaults(func=_new_plugin)
