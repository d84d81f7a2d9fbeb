"""Shared fixtures of the roicore-memmap tests."""

from __future__ import annotations


import numpy as np
import pytest


@pytest.fixture
def video() -> np.ndarray:
    """A (12, 7, 11) uint16 video with a marker at row 2, column 9."""
    from roicore_memmap.samples import make_video

    return make_video("u2", seed=123)
