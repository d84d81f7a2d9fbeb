"""Regression tests for what the fuzz harness (tests/fuzz) found in the NWB readers."""

from __future__ import annotations

import shutil

import h5py
import pytest

import roicore
from roicore.errors import UnsupportedFeatureError


def test_background_table_without_masks_names_the_file(seg_samples, tmp_path):
    path = tmp_path / "neuroconv.nwb"
    shutil.copy(seg_samples["neuroconv"].path, path)
    with h5py.File(path, "r+") as handle:
        del handle["processing/ophys/ImageSegmentation/BackgroundPlaneSegmentation/image_mask"]
    with roicore.open(path) as x:
        assert x.get_background_ids() == [6, 7]
        with pytest.raises(UnsupportedFeatureError) as caught:
            x.get_background_masks()
    assert str(path) in str(caught.value) and "BackgroundPlaneSegmentation" in str(caught.value)


def test_no_imaging_plane_and_irregular_timestamps_give_an_unknown_rate(img_samples, tmp_path):
    """The contract's unknown rate: None, never an estimate (the timestamps stay the truth)."""
    path = tmp_path / "ops.nwb"
    shutil.copy(img_samples["one-photon-timestamps"].path, path)
    with h5py.File(path, "r+") as handle:
        del handle["general/optophysiology/ImagingPlane/imaging_rate"]
    with roicore.open(path) as x:
        assert x.get_sampling_frequency() is None
        assert (x.get_timestamps() == img_samples["one-photon-timestamps"].truth.timestamps).all()
    with roicore.open(path, sampling_frequency=25.0) as x:
        assert x.get_sampling_frequency() == 25.0
