"""The roicore pytest plugin (entry point ``pytest11``): inert until a test uses it.

It only adds a ``--roicore-max-examples`` option and a ``roicore_registry``
fixture. A plugin's test file turns the whole kit on with one line::

    from roicore.testing import conformance_suite
    test_conformance = conformance_suite("roicore-myformat")

Loading it imports nothing beyond pytest itself: the kit, roicore's registry
and every plugin are imported only when a conformance test is collected.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["pytest_addoption", "roicore_registry"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("roicore", "roicore conformance kit")
    group.addoption(
        "--roicore-max-examples",
        type=int,
        default=None,
        help="hypothesis examples per property check of the roicore conformance kit (default 25)",
    )


@pytest.fixture
def roicore_registry() -> Any:
    """An empty, isolated roicore registry; register in-process plugins on it with roicore.registry.isolated."""
    from roicore.registry.discovery import isolated

    with isolated() as registry:
        yield registry
