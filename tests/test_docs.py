"""Docs that are generated from code stay in sync with it."""

from __future__ import annotations

from pathlib import Path

from roicore.testing.cli import checks_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_check_catalogue_in_the_docs_is_current():
    page = (DOCS / "testing-your-plugin.md").read_text()
    embedded = page.split("<!-- checks:begin -->\n", 1)[1].split("<!-- checks:end -->", 1)[0].strip()
    assert embedded == checks_markdown(), "regenerate with: make docs"
