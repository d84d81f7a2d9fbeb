"""Shared fixtures of the roicore-nwb tests: the plugin's samples, the real data folder, a metadata set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from roicore_nwb.samples import make_imaging_samples, make_segmentation_samples


def _repository_root() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "roicore" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return here.parents[3]


#: ``<repo>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or _repository_root().parent / "shared" / "realdata")

#: metadata that satisfies nwbinspector's session-level checks (subject, a CCF location)
FULL_METADATA: dict[str, Any] = {
    "NWBFile": {"experimenter": ["Doe, Jane"], "institution": "Example Institute", "keywords": ["calcium imaging"],
                "experiment_description": "Two-photon imaging of V1."},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"location": "Primary visual area", "indicator": "GCaMP6f", "excitation_lambda": 920.0}]},
}


@pytest.fixture
def full_metadata() -> dict[str, Any]:
    """Metadata that satisfies nwbinspector's session-level checks (a fresh copy)."""
    import copy

    return copy.deepcopy(FULL_METADATA)


@pytest.fixture
def realdata() -> Path:
    """The shared real recordings; skips with the reason when they are absent."""
    if not (REALDATA / "caiman_analysis.nwb").is_file():
        pytest.skip(f"real data {REALDATA / 'caiman_analysis.nwb'} is absent (it sits beside the repository, in ../shared/realdata)")
    return REALDATA


@pytest.fixture
def suite2p_realdata() -> Path:
    """The real suite2p 0.14.6 plane folder; skips with the reason when it is absent."""
    plane = REALDATA / "suite2p-0.14.6" / "plane0"
    if not (plane / "stat.npy").is_file():
        pytest.skip(f"real data {plane} is absent (it sits beside the repository, in ../shared/realdata)")
    return plane


@pytest.fixture(scope="session")
def seg_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The plugin's segmentation reader samples, by id."""
    return {s.id: s for s in make_segmentation_samples(tmp_path_factory.mktemp("nwb-seg"))}


@pytest.fixture(scope="session")
def img_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The plugin's imaging reader samples, by id."""
    return {s.id: s for s in make_imaging_samples(tmp_path_factory.mktemp("nwb-img"))}
