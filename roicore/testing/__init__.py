"""The roicore conformance kit: prove that a plugin honours the extractor contract.

Two front ends run the same checks:

* ``roicore check PLUGIN`` (or ``--all``) on the command line, no pytest needed;
* in a plugin's own test suite, one line::

      from roicore.testing import conformance_suite
      test_conformance = conformance_suite("roicore-myformat")

Samples (small files in the native format plus their ground truth) come from
the generators that the plugin's specs name; see :mod:`roicore.testing.samples`.
Expected failures live in the plugin's ``pyproject.toml``::

    [tool.roicore.conformance.expected-failures]
    "io.threads" = "libfoo is not thread safe (upstream issue 123)"
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any

from roicore.testing.samples import ImagingTruth, MethodSample, Sample, SegmentationTruth, WriterSample

__all__ = [
    "conformance_suite",
    "ImagingTruth",
    "SegmentationTruth",
    "Sample",
    "WriterSample",
    "MethodSample",
]


def conformance_suite(
    *plugins: str,
    select: list[str] | None = None,
    deselect: list[str] | None = None,
    max_examples: int | None = None,
) -> Callable[..., None]:
    """A pytest test function parametrized over every (subject, check) case of ``plugins``.

    Test ids read ``reader/sample::check.id``, so ``-k imaging.series`` and
    ``--deselect`` work. n/a and blocked cases are reported as skips with
    their reason; expected failures from ``pyproject.toml`` as xfail; an
    unexpected pass fails. A last item, ``summary``, fails when the plugin's
    configuration is invalid or a component executed no check.

    Parameters
    ----------
    *plugins : str
        Plugin names (entry-point names, e.g. ``"roicore-memmap"``).
    select, deselect : list of str, optional
        Check-id globs.
    max_examples : int, optional
        Hypothesis examples per property check (default 25, or
        ``--roicore-max-examples`` / ``ROICORE_MAX_EXAMPLES``).
    """
    import pytest

    from roicore.testing.runner import Session

    examples = max_examples or int(os.environ.get("ROICORE_MAX_EXAMPLES", "25"))
    session = Session(list(plugins) or None, select=select, deselect=deselect, max_examples=examples)
    atexit.register(session.close)
    cases: list[Any] = [*session.cases(), "summary"]
    ids = [case if isinstance(case, str) else case.case_id for case in cases]

    @pytest.mark.parametrize("roicore_case", cases, ids=ids)
    def test_conformance(roicore_case: Any, request: Any) -> None:
        option = request.config.getoption("roicore_max_examples", default=None)
        if option and max_examples is None:
            session.max_examples = option
        if roicore_case == "summary":
            results = [session.run_case(case) for case in cases[:-1]]
            problems = [p for p in session.problems(results) if "case(s) failed" not in p]
            if problems:
                pytest.fail("\n".join(problems), pytrace=False)
            return
        result = session.run_case(roicore_case)
        if result.status == "passed":
            return
        if result.status == "xfail":
            pytest.xfail(result.message)
        if result.status in ("n/a", "blocked", "not-run"):
            pytest.skip(f"{result.status}: {result.message}")
        pytest.fail(f"{result.status}: {result.message}", pytrace=False)

    return test_conformance
