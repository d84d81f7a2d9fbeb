"""Damaged NWB files give roicore errors naming the file, never raw h5py tracebacks or hangs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, RoicoreError

SEG = "nwb-segmentation"
PS = "processing/ophys/ImageSegmentation/PlaneSegmentation"


def _copy(sample, tmp_path: Path, edit: Callable[[h5py.File], None] | None = None) -> Path:
    path = tmp_path / sample.path.name
    shutil.copy(sample.path, path)
    if edit is not None:
        with h5py.File(path, "r+") as handle:
            edit(handle)
    return path


def _corrupt(path: Path, *fragments: str, reader: str = SEG, **kwargs) -> None:
    with pytest.raises(CorruptFileError) as caught:
        with roicore.open(path, reader=reader, **kwargs) as x:
            x.get_roi_image_masks()
            for name in x.get_trace_names():
                x.get_traces(name=name)
    message = str(caught.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_files(seg_samples, tmp_path, keep):
    path = _copy(seg_samples["neuroconv"], tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    assert roicore_nwb_sniff(path).level.name == "NO"
    _corrupt(path)


def roicore_nwb_sniff(path: Path):
    from roicore_nwb.sniff import sniff_segmentation

    return sniff_segmentation(path, path.read_bytes()[:4096])


def test_not_nwb_hdf5(tmp_path):
    path = tmp_path / "plain.nwb"
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(3)
    assert roicore_nwb_sniff(path).level.name == "NO"
    _corrupt(path, "nwb_version")
    with pytest.raises(roicore.errors.NoReaderFoundError):
        roicore.open(path)


def test_missing_id_column(seg_samples, tmp_path):
    path = _copy(seg_samples["neuroconv"], tmp_path, lambda h: h.__delitem__(f"{PS}/id"))
    _corrupt(path, "no 'id' column")


def test_missing_plane_segmentation(seg_samples, tmp_path):
    def edit(handle):
        del handle[PS]
        del handle["processing/ophys/ImageSegmentation/BackgroundPlaneSegmentation"]

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    assert roicore_nwb_sniff(path).level.name == "NO"
    with pytest.raises(RoicoreError) as caught:
        roicore.open(path, reader=SEG)
    assert str(path) in str(caught.value)


def test_region_table_deleted(seg_samples, tmp_path):
    """A series whose rois region points at a deleted table."""
    def edit(handle):
        del handle["processing/ophys/ImageSegmentation/BackgroundPlaneSegmentation"]

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    _corrupt(path, "Background/rois", "cannot be resolved")


def test_region_indices_out_of_range(seg_samples, tmp_path):
    def edit(handle):
        rois = handle["processing/ophys/Fluorescence/RoiResponseSeries/rois"]
        values = rois[()]
        values[2] = 40
        rois[...] = values

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    _corrupt(path, "row 40", "has 6 rows")


def test_region_width_mismatch(seg_samples, tmp_path):
    def edit(handle):
        group = handle["processing/ophys/Fluorescence/RoiResponseSeries"]
        data = group["data"][()]
        attrs = dict(group["data"].attrs)
        del group["data"]
        group["data"] = data[:, :4]
        for key, value in attrs.items():
            group["data"].attrs[key] = value

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    _corrupt(path, "4 columns", "names 6 ROIs")


def test_timestamps_of_the_wrong_length(seg_samples, tmp_path):
    def edit(handle):
        group = handle["processing/ophys/Fluorescence/RoiResponseSeries"]
        stamps = group["timestamps"][()]
        del group["timestamps"]
        group["timestamps"] = stamps[:-3]

    path = _copy(seg_samples["caiman"], tmp_path, edit)
    _corrupt(path, "37 timestamps for 40 samples")


def test_pixel_outside_the_frame(seg_samples, tmp_path):
    def edit(handle):
        pixels = handle[f"{PS}/pixel_mask"]
        values = pixels[()]
        values["x"][0] = 99
        pixels[...] = values

    path = _copy(seg_samples["suite2p"], tmp_path, edit)
    _corrupt(path, "outside the 11 x 8 frame")


def test_pixel_index_broken(seg_samples, tmp_path):
    def edit(handle):
        index = handle[f"{PS}/pixel_mask_index"]
        values = index[()]
        values[0] = values[-1]  # the first ROI claims every pixel, the others run backwards
        values[1] = 1
        index[...] = values

    path = _copy(seg_samples["suite2p"], tmp_path, edit)
    _corrupt(path, "pixel_mask_index")


def test_negative_image_mask_weights(seg_samples, tmp_path):
    def edit(handle):
        masks = handle[f"{PS}/image_mask"]
        values = masks[()]
        values[1, 0, 0] = -1.0
        masks[...] = values

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    _corrupt(path, "negative mask weights")


def test_image_mask_rows_mismatch(seg_samples, tmp_path):
    def edit(handle):
        masks = handle[f"{PS}/image_mask"][()]
        del handle[f"{PS}/image_mask"]
        handle[f"{PS}/image_mask"] = masks[:4]

    path = _copy(seg_samples["neuroconv"], tmp_path, edit)
    _corrupt(path, "image_mask has shape (4, 12, 7)")


def test_no_time_base(seg_samples, tmp_path):
    def edit(handle):
        del handle["processing/ophys/Neuropil/plane0/starting_time"]

    path = _copy(seg_samples["suite2p"], tmp_path, edit)
    _corrupt(path, "neither timestamps nor starting_time/rate")


def test_damaged_imaging_series(img_samples, tmp_path):
    path = _copy(img_samples["two-photon-rate"], tmp_path, lambda h: h.__delitem__("acquisition/TwoPhotonSeries/data"))
    with pytest.raises(CorruptFileError) as caught:
        roicore.open(path, reader="nwb-imaging")
    assert str(path) in str(caught.value) and "data" in str(caught.value)


def test_close_releases_the_file(seg_samples, tmp_path):
    path = _copy(seg_samples["neuroconv"], tmp_path)
    x = roicore.open(path)
    x.get_traces(name="raw")
    x.close()
    with h5py.File(path, "r+") as handle:  # would fail while a read-only handle is open
        handle.attrs["touched"] = 1
    with pytest.raises(ValueError, match="closed"):
        x.get_traces(name="raw")
