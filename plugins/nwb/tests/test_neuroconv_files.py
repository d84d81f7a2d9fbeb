"""Files written by neuroconv itself (when installed: the [bench] extra) read back the right way round."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

import roicore

neuroconv = pytest.importorskip("neuroconv", reason="neuroconv is in roicore-nwb's [bench] extra (pip install 'roicore-nwb[bench]')")


def _roiextractors_segmentation(masks, raw, dff, mask_type):
    from roiextractors import SegmentationExtractor
    from roiextractors.segmentationextractor import _RoiResponse, _ROIMasks

    rows, cols, count = masks.shape
    ids = list(range(count))
    if mask_type == "pixel":
        data = []
        for k in ids:
            r, c = np.nonzero(masks[:, :, k])
            data.append(np.stack([r, c, masks[r, c, k]], axis=1))
        stored = _ROIMasks(data, "nwb-pixel_mask", (rows, cols), {i: i for i in ids})
    else:
        stored = _ROIMasks(masks, "nwb-image_mask", (rows, cols), {i: i for i in ids})

    class Source(SegmentationExtractor):
        def __init__(self):
            super().__init__()
            self._sampling_frequency = 25.0
            self._roi_masks = stored
            self._roi_responses = [_RoiResponse("raw", raw, ids), _RoiResponse("dff", dff, ids)]
            self._summary_images = {"mean": masks.sum(axis=2)}

        def get_frame_shape(self):
            return (rows, cols)

        def get_image_size(self):
            return (rows, cols)

        def get_native_timestamps(self, start_sample=None, end_sample=None):
            return None

    return Source()


@pytest.mark.parametrize("mask_type", ["image", "pixel"])
def test_neuroconv_segmentation_reads_the_right_way_round(tmp_path, mask_type):
    from neuroconv.tools.roiextractors import get_nwb_segmentation_metadata, write_segmentation_to_nwbfile

    from roicore_nwb.samples import blob_masks

    rng = np.random.default_rng(2)
    masks = blob_masks(rng, (7, 11), 4)
    raw, dff = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    source = _roiextractors_segmentation(masks, raw, dff, mask_type)
    metadata = get_nwb_segmentation_metadata(source)
    metadata["NWBFile"].update(session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    path = tmp_path / f"neuroconv-{mask_type}.nwb"
    write_segmentation_to_nwbfile(source, nwbfile_path=path, metadata=metadata, mask_type=mask_type, overwrite=True)
    with roicore.open(path) as x:
        assert x.producer == "neuroconv", x.convention.evidence
        assert x.get_roi_ids() == [0, 1, 2, 3]
        assert x.get_frame_shape() == (7, 11)
        np.testing.assert_allclose(x.get_roi_image_masks(), masks, rtol=1e-6)
        np.testing.assert_allclose(x.get_traces(name="raw"), raw)
        np.testing.assert_allclose(x.get_traces(name="dff"), dff)
        np.testing.assert_allclose(x.get_image("mean"), masks.sum(axis=2))
        assert x.get_sampling_frequency() == 25.0


def test_neuroconv_imaging_reads_the_right_way_round(tmp_path):
    from neuroconv.tools.roiextractors import get_nwb_imaging_metadata, write_imaging_to_nwbfile
    from roiextractors import NumpyImagingExtractor

    video = np.random.default_rng(3).integers(0, 1000, (15, 6, 9)).astype(np.uint16)
    source = NumpyImagingExtractor(timeseries=video[..., None], sampling_frequency=12.0)  # 3-D input is mis-read (roiextractors)
    metadata = get_nwb_imaging_metadata(source)
    metadata["NWBFile"].update(session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    path = tmp_path / "neuroconv-video.nwb"
    write_imaging_to_nwbfile(source, nwbfile_path=path, metadata=metadata, overwrite=True)
    with roicore.open(path) as x:
        np.testing.assert_array_equal(x.get_series(), video)
        assert x.get_sampling_frequency() == 12.0
