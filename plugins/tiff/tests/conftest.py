"""Shared fixtures of the roicore-tiff tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _repository_root() -> Path:
    """The roicore repository: the nearest parent holding the ``roicore`` package and a pyproject."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "roicore" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return here.parents[3]


#: ``<repo>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or _repository_root().parent / "shared" / "realdata")


@pytest.fixture
def realdata() -> Path:
    """The shared real recordings; skips with the reason when they are absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data folder {REALDATA} is absent (it sits beside the repository, in ../shared/realdata)")
    return REALDATA
