"""Shared fixtures of the roicore-sima tests (movie builders: ``roicore_sima.samples.make_movie``)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from roicore_sima.samples import make_movie


@pytest.fixture
def movie() -> Any:
    """The default synthetic movie: six boolean ROIs, two overlapping pairs, uint16."""
    return make_movie()


@pytest.fixture(autouse=True)
def _strict_warnings() -> Any:
    """Show this plugin's warnings as warnings (tests that expect one assert it explicitly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield
