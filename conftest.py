"""Fixtures shared by every test folder of the repository (core and plugins)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ``<repo>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or Path(__file__).resolve().parent.parent / "shared" / "realdata")


@pytest.fixture
def realdata() -> Path:
    """The shared real recordings; skips with the reason when the folder is absent (a clone elsewhere)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data folder {REALDATA} is absent (it sits beside the repository, in ../shared/realdata)")
    return REALDATA
