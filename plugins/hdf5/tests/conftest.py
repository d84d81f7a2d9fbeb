"""Shared fixtures of the roicore-hdf5 tests: the generated samples and the shared real recordings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from roicore_hdf5.samples import make_reader_samples


def _repository_root() -> Path:
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


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The plugin's reader samples, by id."""
    folder = tmp_path_factory.mktemp("hdf5-samples")
    return {sample.id: sample for sample in make_reader_samples(folder)}
