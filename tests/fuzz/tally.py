"""Counting: how many cases ran per reader, and how each open ended.

One :data:`TALLY` per test session (the fuzz tests record into it; the
conftest prints it and writes it as JSON to ``$ROICORE_FUZZ_REPORT``). The
Markdown table in ``docs/reliability.md`` is rendered from that JSON by
:func:`render_markdown` (see ``tests/fuzz/report.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "TALLY", "render_markdown", "render_text"]


@dataclass
class _ReaderCounts:
    seeds: Counter = field(default_factory=Counter)  # origin -> seeds
    cases: Counter = field(default_factory=Counter)  # family -> cases
    opens: Counter = field(default_factory=Counter)  # outcome label -> opens
    kinds: Counter = field(default_factory=Counter)  # mutation kind -> cases
    failures: int = 0
    discarded: int = 0
    failure_examples: list = field(default_factory=list)  # the first few failures, as reproduction recipes
    slowest: float = 0.0  # seconds of the slowest open


class Tally:
    """Per-reader counters of seeds, cases, mutation kinds and outcomes."""

    def __init__(self) -> None:
        self.readers: dict[str, _ReaderCounts] = defaultdict(_ReaderCounts)
        self.notes: dict[str, Any] = {}

    def seeds(self, reader: str, origin: str, count: int) -> None:
        self.readers[reader].seeds[origin] = count

    def case(self, reader: str, family: str, kinds: list[str]) -> None:
        counts = self.readers[reader]
        counts.cases[family] += 1
        counts.kinds.update(kinds)

    def discarded(self, reader: str) -> None:
        """A drawn mutation that did not apply to the file (not run, not counted as a case)."""
        self.readers[reader].discarded += 1

    def opened(self, reader: str, label: str, failed: bool, seconds: float = 0.0) -> None:
        counts = self.readers[reader]
        counts.opens[label] += 1
        counts.failures += failed
        counts.slowest = max(counts.slowest, seconds)

    def failed(self, reader: str, description: str, keep: int = 20) -> None:
        """Keep a failing case's description (hypothesis reports only the smallest failure per test)."""
        examples = self.readers[reader].failure_examples
        if len(examples) < keep:
            examples.append(description)

    def cases_of(self, reader: str, family: str | None = None) -> int:
        cases = self.readers[reader].cases
        return cases[family] if family else sum(cases.values())

    def to_json(self) -> dict[str, Any]:
        return {
            **self.notes,
            "readers": {
                reader: {
                    "seeds": dict(counts.seeds),
                    "cases": sum(counts.cases.values()),
                    "cases_by_family": dict(sorted(counts.cases.items())),
                    "cases_by_mutation": dict(sorted(counts.kinds.items())),
                    "opens": sum(counts.opens.values()),
                    "outcomes": dict(sorted(counts.opens.items())),
                    "failures": counts.failures,
                    "discarded": counts.discarded,
                    "slowest_open_seconds": round(counts.slowest, 3),
                    "failure_examples": counts.failure_examples,
                }
                for reader, counts in sorted(self.readers.items())
            },
        }


TALLY = Tally()

_READ_LABELS = ("read: as unmutated", "read: values changed", "read")


def _columns(report: dict[str, Any]) -> list[str]:
    labels = {label for counts in report["readers"].values() for label in counts["outcomes"]}
    reads = [label for label in _READ_LABELS if label in labels]
    return reads + sorted(labels - set(_READ_LABELS))


def _rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = _columns(report)
    header = ["reader", "seeds (samples + real)", "cases", "opens", *columns, "failures"]
    rows = []
    for reader, counts in report["readers"].items():
        seeds = counts["seeds"]
        rows.append([
            reader,
            f"{seeds.get('sample', 0)} + {seeds.get('realdata', 0)}",
            str(counts["cases"]),
            str(counts["opens"]),
            *(str(counts["outcomes"].get(column, 0)) for column in columns),
            str(counts["failures"]),
        ])
    return header, rows


_FAMILIES = ("unmutated", "filesystem", "hdf5-deletion", "bytes", "structure")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(report: dict[str, Any]) -> str:
    """The per-reader tables as Markdown (what docs/reliability.md holds between its markers):
    outcomes of the opens, then cases per family."""
    header, rows = _rows(report)
    found = {f for counts in report["readers"].values() for f in counts["cases_by_family"]}
    families = [f for f in _FAMILIES if f in found] + sorted(found - set(_FAMILIES))
    per_family = [
        [reader, *(str(counts["cases_by_family"].get(f, 0)) for f in families), str(counts["cases"])]
        for reader, counts in report["readers"].items()
    ]
    return "\n".join(
        _markdown_table(header, rows) + [""] + _markdown_table(["reader", *families, "cases"], per_family)
    )


def render_text(report: dict[str, Any]) -> str:
    """The same table, aligned for a terminal."""
    header, rows = _rows(report)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows])
