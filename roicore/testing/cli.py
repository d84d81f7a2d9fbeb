"""``roicore check``: run the conformance kit without pytest and print a summary table."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from roicore.testing.runner import STATUSES, CaseResult, Session

__all__ = ["run_check", "format_summary"]


def format_summary(results: list[CaseResult]) -> str:
    """A table of counts per plugin and component, one column per status."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for result in results:
        counts.setdefault((result.plugin, result.component), Counter())[result.status] += 1
    header = f"{'plugin':<22} {'component':<13}" + "".join(f"{status:>9}" for status in STATUSES)
    lines = [header, "-" * len(header)]
    totals: Counter[str] = Counter()
    for (plugin, component), counter in sorted(counts.items()):
        totals.update(counter)
        lines.append(f"{plugin:<22} {component:<13}" + "".join(f"{counter.get(s, 0):>9}" for s in STATUSES))
    lines.append("-" * len(header))
    lines.append(f"{'total':<36}" + "".join(f"{totals.get(s, 0):>9}" for s in STATUSES))
    return "\n".join(lines)


def checks_markdown() -> str:
    """The check catalogue as a Markdown table (the docs embed it; a test keeps it in sync)."""
    from roicore.testing.checks import all_checks

    lines = ["| check id | component | runs on | depends on | rule |", "|---|---|---|---|---|"]
    for item in all_checks():
        needs = f" Needs capability {', '.join(sorted(item.requires))}." if item.requires else ""
        depends = ", ".join(f"`{d}`" for d in item.depends_on) or "-"
        lines.append(f"| `{item.id}` | {item.component} | {item.runs_on} | {depends} | {item.summary}{needs} |")
    return "\n".join(lines)


def _list_checks(markdown: bool = False) -> int:
    from roicore.testing.checks import all_checks

    if markdown:
        print(checks_markdown())
        return 0
    for item in all_checks():
        extra = f" (needs {', '.join(sorted(item.requires))})" if item.requires else ""
        print(f"{item.id:<32} {item.component:<13} {item.summary}{extra}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Run ``roicore check`` with parsed arguments; returns the exit code."""
    if args.list_checks:
        return _list_checks(args.markdown)
    if not args.plugins and not args.all:
        print("roicore check: name plugins to check, or pass --all", file=sys.stderr)
        return 2
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        from roicore.errors import MissingDependencyError

        raise MissingDependencyError("hypothesis", purpose="roicore check", pip_name="'roicore[test]'") from None
    plugins = None if args.all and not args.plugins else args.plugins
    kwargs = {"max_examples": args.max_examples} if args.max_examples else {}
    with Session(plugins, select=args.select or None, deselect=args.deselect or None, **kwargs) as session:

        def show(result: CaseResult) -> None:
            if result.status in ("failed", "xpass", "error") or args.verbose:
                print(f"{result.status.upper():<8} {result.case_id}")
                if result.message and result.status != "passed":
                    for line in result.message.splitlines()[:40]:
                        print(f"         {line}")

        results = session.run(progress=show)
        problems = session.problems(results)
    print()
    print(format_summary(results))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in results], indent=1) + "\n")
        print(f"\nJSON report: {args.json} ({len(results)} records)")
    if problems:
        print("\nroicore check FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"\nroicore check passed: {len(results)} cases")
    return 0
