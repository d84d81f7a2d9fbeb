"""Fixtures of the fuzz harness: one worker and one seed store per session; the per-reader summary."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import settings

from fuzz.cases import CASE_TIMEOUT, FuzzSession
from fuzz.tally import TALLY, render_text
from fuzz.worker import Worker

_STARTED = time.perf_counter()


@pytest.fixture(scope="session")
def fuzz_session(tmp_path_factory: pytest.TempPathFactory) -> FuzzSession:
    """Seeds, baselines and the worker process, shared by every fuzz test of the session."""
    worker = Worker(CASE_TIMEOUT)
    worker.ensure_started()
    TALLY.notes.update(
        hypothesis_profile=os.environ.get("HYPOTHESIS_PROFILE", "ci"),
        max_examples=settings.default.max_examples,
        derandomized=settings.default.derandomize,
        case_timeout_seconds=CASE_TIMEOUT,
        permissions_enforced=worker.permissions_enforced,
    )
    session = FuzzSession(tmp_path_factory.mktemp("fuzz"), worker)
    yield session
    worker.close()
    TALLY.notes["worker_restarts"] = worker.restarts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases ran per reader and how they ended; write the JSON report if asked."""
    if not TALLY.readers:
        return
    TALLY.notes["session_seconds"] = round(time.perf_counter() - _STARTED, 1)
    report = TALLY.to_json()
    terminalreporter.section("roicore fuzz: cases per reader")
    terminalreporter.write_line(render_text(report))
    terminalreporter.write_line(
        f"profile {report['hypothesis_profile']} ({report['max_examples']} examples per test), "
        f"{report['session_seconds']} s; file permissions enforced in the worker: {report['permissions_enforced']}"
    )
    target = os.environ.get("ROICORE_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        terminalreporter.write_line(f"fuzz report written to {target}")
