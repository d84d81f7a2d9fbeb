"""Files written in each producer's layout read the right way round, and the detection that decides it."""

from __future__ import annotations

import numpy as np
import pytest

import roicore
from roicore_nwb.segmentation import ChoiceError, NwbSegmentationExtractor


def _check_truth(x, truth):
    assert x.get_roi_ids() == truth.roi_ids
    assert x.get_frame_shape() == truth.frame_shape
    np.testing.assert_allclose(x.get_roi_image_masks(), truth.image_masks, rtol=truth.rtol, atol=1e-12)
    for name, values in truth.traces.items():
        np.testing.assert_allclose(x.get_traces(name=name), values, rtol=truth.rtol)
    images = x.get_images_dict()
    assert sorted(images) == sorted(truth.images)
    for name, image in truth.images.items():
        np.testing.assert_allclose(images[name], image, rtol=truth.rtol)
    for key, values in truth.properties.items():
        np.testing.assert_allclose(x.get_property(key), values, rtol=truth.rtol)
    assert x.get_background_ids() == truth.background_ids
    if truth.background_ids:
        np.testing.assert_allclose(x.get_background_image_masks(), truth.background_masks, rtol=truth.rtol)
        np.testing.assert_allclose(x.get_traces(name="background"), truth.background_traces, rtol=truth.rtol)


@pytest.mark.parametrize(("sample_id", "producer"), [
    ("caiman", "caiman"), ("suite2p", "suite2p"), ("suite2p-multiplane", "suite2p"),
    ("neuroconv", "neuroconv"), ("two-planes", "nwb"),
])
def test_each_producer_reads_the_right_way_round(seg_samples, sample_id, producer):
    sample = seg_samples[sample_id]
    with roicore.open(sample.path, **sample.reader_kwargs) as x:
        assert x.producer == producer, x.convention.evidence
        _check_truth(x, sample.truth)


@pytest.mark.parametrize(("sample_id", "wrong"), [
    ("caiman", "nwb"), ("suite2p", "nwb"), ("neuroconv", "rows-first"), ("two-planes", "suite2p"),
])
def test_another_convention_gives_other_masks(seg_samples, sample_id, wrong):
    """The rules matter: forcing another producer's convention does not give the truth (or is refused)."""
    sample = seg_samples[sample_id]
    try:
        x = NwbSegmentationExtractor(sample.path, convention=wrong, **sample.reader_kwargs)
    except roicore.errors.CorruptFileError as exc:
        assert str(sample.path) in str(exc)  # pixels outside the frame the other way round
        return
    with x:
        try:
            masks = x.get_roi_image_masks()
        except roicore.errors.CorruptFileError:
            return
        assert masks.shape != sample.truth.image_masks.shape or not np.allclose(masks, sample.truth.image_masks)


def test_caiman_traces_are_c_plus_residuals(seg_samples):
    sample = seg_samples["caiman"]
    with roicore.open(sample.path) as x:
        assert sorted(x.get_trace_names()) == ["background", "denoised", "raw"]
        np.testing.assert_allclose(x.get_traces([4, 1], 10, 20), sample.truth.traces["raw"][10:20, [4, 1]], rtol=1e-12)
        # timestamps stored by the exporter, rate from their regular step (equal to the ImagingPlane's)
        np.testing.assert_allclose(x.get_timestamps(), np.arange(40) / 15.0, rtol=0, atol=1e-12)
        assert x.get_sampling_frequency() == 15.0


def test_neuroconv_start_time_centroids_and_acceptance(seg_samples):
    sample = seg_samples["neuroconv"]
    with roicore.open(sample.path) as x:
        np.testing.assert_allclose(x.get_timestamps(), 2.5 + np.arange(25) / 20.0, rtol=1e-12)
        centroids = x.get_property("roi_centroids")
        masks = sample.truth.image_masks
        for k in range(masks.shape[2]):
            rows, cols = np.nonzero(masks[:, :, k])
            np.testing.assert_allclose(centroids[k], [rows.mean(), cols.mean()])
        assert "Rejected" not in x.get_property_keys() and "is_rejected" not in x.get_property_keys()


def test_suite2p_iscell_is_a_2d_property_and_acceptance(seg_samples):
    sample = seg_samples["suite2p"]
    with roicore.open(sample.path) as x:
        assert x.get_property("iscell").shape == (4, 2)
        np.testing.assert_array_equal(x.get_property("is_accepted"), [True, False, True, True])
        np.testing.assert_array_equal(x.get_property("iscell", [2]), sample.truth.properties["iscell"][[2]])


def test_suite2p_planes_need_a_choice(seg_samples):
    sample = seg_samples["suite2p-multiplane"]
    with pytest.raises(ChoiceError, match=r"planes \[0, 1\].*plane=") as caught:
        roicore.open(sample.path)
    assert str(sample.path) in str(caught.value)
    with roicore.open(sample.path, plane=0) as first:
        assert first.get_roi_ids() == [0, 1, 2]
        assert first.get_num_rois() == 3 and not np.allclose(first.get_roi_image_masks(), sample.truth.image_masks)


def test_several_plane_segmentations_need_a_choice(seg_samples):
    sample = seg_samples["two-planes"]
    with pytest.raises(ChoiceError, match="Plane0.*Plane1.*plane_segmentation="):
        roicore.open(sample.path)
    with roicore.open(sample.path, plane_segmentation="Plane0") as first:
        assert first.get_roi_ids() == [0, 1, 2]
        assert first.plane_segmentation.endswith("/Plane0")
        assert first.get_sampling_frequency() == 8.0  # irregular timestamps: the ImagingPlane's rate
        assert first.has_time_vector()
    with pytest.raises(ChoiceError, match="no PlaneSegmentation 'Plane7'"):
        roicore.open(sample.path, plane_segmentation="Plane7")


def test_explicit_rate_always_wins(seg_samples):
    sample = seg_samples["suite2p"]
    with roicore.open(sample.path, sampling_frequency=7.5) as x:
        assert x.get_sampling_frequency() == 7.5


def test_reads_are_windowed(seg_samples, monkeypatch):
    """A trace read asks h5py for the window and the columns requested, not the whole series."""
    import roicore_nwb.responses as responses

    sample = seg_samples["neuroconv"]
    seen = []
    original = responses._read_columns

    def spy(data, columns, start, end):
        seen.append((data.name, columns.tolist(), start, end))
        return original(data, columns, start, end)

    monkeypatch.setattr(responses, "_read_columns", spy)
    with roicore.open(sample.path) as x:
        values = x.get_traces([13, 11], 3, 9, name="dff")
    np.testing.assert_allclose(values, sample.truth.traces["dff"][3:9, [3, 1]])
    assert seen == [("/processing/ophys/DfOverF/RoiResponseSeries/data", [1, 3], 3, 9)]


def test_each_table_of_a_mixed_file_keeps_its_producer(seg_samples, tmp_path):
    """A roicore table appended to a suite2p export: each is read in its own producer's convention."""
    import shutil

    from roicore.memory import NumpySegmentationExtractor
    from roicore_nwb.samples import blob_masks
    from roicore_nwb.writer import append_to_file

    sample = seg_samples["suite2p"]
    path = tmp_path / "mixed.nwb"
    shutil.copy(sample.path, path)
    masks = blob_masks(np.random.default_rng(5), (11, 8), 2)
    added = NumpySegmentationExtractor(masks, 30.0, traces={"raw": np.ones((30, 2))}, images={"mean": np.arange(88.0).reshape(11, 8)})
    metadata = {"Ophys": {"ImageSegmentation": {"plane_segmentations": [{"name": "Added"}, {"name": "BackgroundAdded"}]},
                          "Fluorescence": {"PlaneSegmentation": {"raw": {"name": "AddedRaw"}}},
                          "SegmentationImages": {"name": "AddedImages"}}}
    append_to_file(added, path, metadata=metadata)
    with roicore.open(path, plane_segmentation="Added") as x:
        assert x.producer == "roicore"
        np.testing.assert_array_equal(x.get_roi_image_masks(), masks)
        np.testing.assert_array_equal(x.get_traces(), np.ones((30, 2)))
    with roicore.open(path, plane_segmentation="PlaneSegmentation") as x:
        assert x.producer == "suite2p"
        _check_truth(x, sample.truth)
