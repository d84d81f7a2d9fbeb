"""Regenerate the parts of the docs that come from code (the check catalogue)."""

from __future__ import annotations

from pathlib import Path

from roicore.testing.cli import checks_markdown

page = Path(__file__).parent / "testing-your-plugin.md"
text = page.read_text()
head, rest = text.split("<!-- checks:begin -->\n", 1)
_, tail = rest.split("<!-- checks:end -->", 1)
page.write_text(f"{head}<!-- checks:begin -->\n{checks_markdown()}\n<!-- checks:end -->{tail}")
print(f"updated {page}")
