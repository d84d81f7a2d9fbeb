"""Docs that are generated from code stay in sync with it, and the reference covers the public API.

The docs themselves are built by ``make test`` (``sphinx-build -W -n``); these tests catch what a
build cannot: a stale generated table, a command without help or example, a public name missing from
the API reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

import roicore
from roicore.testing.cli import checks_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_check_catalogue_in_the_docs_is_current():
    page = (DOCS / "testing-your-plugin.md").read_text()
    embedded = page.split("<!-- checks:begin -->\n", 1)[1].split("<!-- checks:end -->", 1)[0].strip()
    assert embedded == checks_markdown(), "regenerate with: make docs"


def _subcommands() -> list[tuple[str, str | None, argparse.ArgumentParser]]:
    from roicore.cli import build_parser

    found = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            found += [(name, helps.get(name), parser) for name, parser in action.choices.items()]
    return found


@pytest.mark.parametrize("name", [name for name, _, _ in _subcommands()])
def test_every_command_has_help_and_an_example_for_the_cli_page(name):
    [(_, help_text, parser)] = [c for c in _subcommands() if c[0] == name]
    assert help_text, f"roicore {name}: give add_parser() a help= text (it is the command's line in the docs)"
    examples = [line for line in (parser.epilog or "").splitlines() if re.search(r"(^|:)\s*roicore\s", line)]
    assert examples, f"roicore {name}: give add_parser() an epilog with 'example: roicore {name} ...'"


def _load_docs_extension():
    spec = importlib.util.spec_from_file_location("roicore_docs", DOCS / "_ext" / "roicore_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_cli_page_has_a_section_per_command():
    markdown = _load_docs_extension().cli_markdown()
    for name, _, parser in _subcommands():
        assert f"## `roicore {name}`" in markdown
        assert parser.format_usage().split()[2] == name  # usage lines are the command's own
    assert "<!-- roicore-cli -->" in (DOCS / "cli.md").read_text()


def test_the_api_reference_covers_the_public_api():
    import roicore.errors
    import roicore.testing

    reference = (DOCS / "api.rst").read_text()
    documented = set(re.findall(r"^\.\. (?:auto\w+|data|function|class)::\s+(\S+)", reference, flags=re.M))

    def covered(qualified: str) -> bool:
        short = qualified.removeprefix("roicore.")
        return qualified in documented or short in documented

    missing = [f"roicore.{name}" for name in roicore.__all__ if name not in ("errors", "__version__")]
    missing += [f"roicore.errors.{name}" for name in roicore.errors.__all__]
    missing += [f"roicore.testing.{name}" for name in roicore.testing.__all__]
    missing = [name for name in missing if not covered(name)]
    assert not missing, f"add these to docs/api.rst: {missing}"


def test_the_performance_figures_live_in_one_marked_place():
    page = (DOCS / "performance.md").read_text()
    assert page.count("<!-- benchmarks:begin -->") == 1 and page.count("<!-- benchmarks:end -->") == 1
    for script in sorted((DOCS.parent / "benchmarks").glob("bench_*.py")):
        assert f"benchmarks/{script.name}" in page, f"docs/performance.md does not mention {script.name}"
