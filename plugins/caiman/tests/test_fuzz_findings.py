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


@pytest.mark.parametrize("member", ["estimates/C", "estimates/A", "estimates", "params/data/fr"])
def test_external_links_are_refused_without_opening_the_target(samples, tmp_path, member: str) -> None:
    """An HDF5 external link would make the reader open a file named inside this one: refused, target untouched."""
    path = tmp_path / "linked.hdf5"
    shutil.copyfile(samples["evaluated"].path, path)
    target = tmp_path / "elsewhere.h5"
    target.write_bytes(b"not even HDF5: opening it would fail loudly")
    with h5py.File(path, "r+") as handle:
        if member not in handle:
            pytest.skip(f"the sample has no {member}")
        del handle[member]
        handle[member] = h5py.ExternalLink(str(target), "/data")
    with pytest.raises(UnsupportedFeatureError, match=rf"linked\.hdf5.*{member}.*external link.*elsewhere\.h5"):
        roicore.open(path)
    with pytest.raises(UnsupportedFeatureError, match="external link"):
        CaimanSegmentationExtractor(path)
