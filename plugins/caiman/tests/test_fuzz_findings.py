"""Regressions for what the reader fuzzer (tests/fuzz) found in the CaImAn reader."""

from __future__ import annotations

import shutil
from typing import Any

import h5py
import pytest

import roicore
from roicore.errors import UnsupportedFeatureError
from roicore_caiman.reader import CaimanSegmentationExtractor


def test_background_traces_without_footprints_name_the_file(samples, tmp_path) -> None:
    """estimates/f without estimates/b: the missing masks are reported with the file and the fields."""
    path = tmp_path / "no_b.hdf5"
    shutil.copyfile(samples["evaluated"].path, path)
    with h5py.File(path, "r+") as handle:
        del handle["estimates/b"]
    with roicore.open(path) as seg:
        assert seg.get_num_background_components() == 2
        assert seg.get_traces(name="background").shape == (seg.get_num_samples(), 2)
        with pytest.raises(UnsupportedFeatureError, match=r"no_b\.hdf5.*estimates/b"):
            seg.get_background_masks()


def test_unreadable_file_is_a_permission_error_not_corrupt(samples, monkeypatch: pytest.MonkeyPatch) -> None:
    path = samples["evaluated"].path

    def denied(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(h5py, "File", denied)
    with pytest.raises(PermissionError, match=path.name):
        CaimanSegmentationExtractor(path)
