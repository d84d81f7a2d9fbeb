"""The writers: round trips through pynwb and roicore, nwbinspector, metadata, time, append, options."""

from __future__ import annotations

import numpy as np
import pytest

import roicore
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
from roicore_nwb.samples import blob_masks, make_imaging_writer_samples, make_segmentation_writer_samples
from roicore_nwb.writer import (
    MissingSubjectWarning,
    NameTakenError,
    RateRequiredError,
    add_imaging_to_nwbfile,
    add_segmentation_to_nwbfile,
    append_to_file,
)

#: messages only the user's session metadata can answer (roicore knows no subject, no brain area term)
METADATA_ONLY = {"check_subject_exists", "check_subject_age", "check_subject_species_exists",
                 "check_imaging_plane_location_allen_ccf"}


@pytest.fixture(scope="module")
def writer_samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nwb-writer")
    return {s.id: s for s in make_segmentation_writer_samples(folder) + make_imaging_writer_samples(folder)}


def _serious(path):
    from nwbinspector import inspect_nwbfile

    return [m for m in inspect_nwbfile(nwbfile_path=str(path)) if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION")]


@pytest.mark.parametrize("sample_id", ["full", "pixel-masks-string-ids", "uint16", "volume"])
def test_nwbinspector_finds_nothing_serious(writer_samples, tmp_path, sample_id, full_metadata):
    pytest.importorskip("nwbinspector", reason="nwbinspector is in roicore-nwb's [test] extra")
    sample = writer_samples[sample_id]
    options = {key: value for key, value in sample.options.items() if key != "metadata"}  # the sample's Subject
    path = roicore.write(sample.source, tmp_path / sample.filename, metadata=full_metadata, **options)
    assert [(m.check_function_name, m.message) for m in _serious(path)] == []
    with pytest.warns(MissingSubjectWarning, match=r"default-.*\.nwb: written without a Subject; nwbinspector reports "
                                                   r"that as CRITICAL.*metadata=\{\"Subject\""):
        default = roicore.write(sample.source, tmp_path / f"default-{sample.filename}", **options)
    assert {m.check_function_name for m in _serious(default)} <= METADATA_ONLY


def test_segmentation_reads_back_through_pynwb_in_neuroconvs_layout(writer_samples, tmp_path, full_metadata):
    from pynwb import NWBHDF5IO

    source = writer_samples["full"].source
    path = roicore.write(source, tmp_path / "full.nwb", metadata=full_metadata)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.source_script.startswith("roicore-nwb v")
        ophys = nwbfile.processing["ophys"]
        table = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert list(table.id[:]) == source.get_roi_ids()
        np.testing.assert_array_equal(table["image_mask"].data[:], source.get_roi_image_masks().T)
        np.testing.assert_array_equal(table["Accepted"].data[:], source.get_property("is_accepted").astype(int))
        np.testing.assert_array_equal(table["snr"].data[:], source.get_property("snr"))
        fluorescence = ophys["Fluorescence"]
        np.testing.assert_array_equal(fluorescence["RoiResponseSeries"].data[:], source.get_traces(name="raw"))
        np.testing.assert_array_equal(fluorescence["Neuropil"].data[:], source.get_traces(name="neuropil"))
        np.testing.assert_array_equal(ophys["DfOverF"]["RoiResponseSeries"].data[:], source.get_traces(name="dff"))
        assert fluorescence["RoiResponseSeries"].rate == 12.5
        background = ophys["ImageSegmentation"]["BackgroundPlaneSegmentation"]
        assert list(background.id[:]) == [99]
        np.testing.assert_array_equal(fluorescence["Background"].data[:], source.get_traces(name="background"))
        assert fluorescence["Background"].rois.table.name == "BackgroundPlaneSegmentation"
        np.testing.assert_array_equal(ophys["SegmentationImages"]["mean"].data[:], source.get_image("mean").T)
    with roicore.open(path) as back:
        assert back.producer == "roicore"
        assert back.get_roi_ids() == source.get_roi_ids()
        assert back.get_background_ids() == [99]
        np.testing.assert_array_equal(back.get_roi_image_masks(), source.get_roi_image_masks())
        np.testing.assert_array_equal(back.get_background_image_masks(), source.get_background_image_masks())
        for name in source.get_trace_names():
            np.testing.assert_array_equal(back.get_traces(name=name), source.get_traces(name=name))
        for name, image in source.get_images_dict().items():
            np.testing.assert_array_equal(back.get_image(name), image)
        np.testing.assert_array_equal(back.get_property("is_accepted"), source.get_property("is_accepted"))


def test_pixel_masks_hold_row_in_x(writer_samples, tmp_path):
    from pynwb import NWBHDF5IO

    source = writer_samples["pixel-masks-string-ids"].source
    path = roicore.write(source, tmp_path / "named.nwb", mask_type="pixel")
    with NWBHDF5IO(str(path), "r") as io:
        table = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        first = np.array([tuple(p) for p in table["pixel_mask"][0]])
        assert list(table["roi_name"].data[:]) == ["a", "b", "c"]
    expected = source.get_roi_pixel_masks()[0]
    np.testing.assert_array_equal(first[:, :2], expected[:, :2])
    np.testing.assert_allclose(first[:, 2], expected[:, 2], rtol=1e-6)
    with roicore.open(path) as back:
        assert back.get_roi_ids() == ["a", "b", "c"] and back.get_frame_shape() == (6, 10)


def test_video_reads_back_through_pynwb_columns_first(writer_samples, tmp_path):
    from pynwb import NWBHDF5IO

    source = writer_samples["uint16"].source
    path = roicore.write(source, tmp_path / "video.nwb", chunk_frames=4, compression="gzip", compression_opts=2)
    import h5py

    with h5py.File(path, "r") as handle:
        data = handle["acquisition/TwoPhotonSeries/data"]
        assert data.chunks == (4, 7, 11) and data.compression == "gzip" and data.compression_opts == 2
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["TwoPhotonSeries"]
        np.testing.assert_array_equal(series.data[:], source.get_series().transpose(0, 2, 1))
        assert series.rate == 30.0 and list(series.dimension[:]) == [7, 11]
    with roicore.open(path) as back:
        np.testing.assert_array_equal(back.get_series(), source.get_series())


def test_the_video_is_streamed_in_bounded_buffers(tmp_path):
    """The writer never asks the source for more than one buffer of frames."""
    video = np.random.default_rng(1).integers(0, 1000, (50, 16, 16), dtype=np.uint16)
    asked = []

    class Counting(NumpyImagingExtractor):
        def _read_series(self, start, end):
            asked.append(end - start)
            return super()._read_series(start, end)

    source = Counting(video, 10.0)
    frame_bytes = 16 * 16 * 2
    path = roicore.write(source, tmp_path / "v.nwb", chunk_frames=5, buffer_bytes=10 * frame_bytes)
    assert max(asked) <= 10 and sum(asked) == 50
    with roicore.open(path) as back:
        np.testing.assert_array_equal(back.get_series(), video)


def test_unknown_rate_is_refused_naming_the_file_and_the_ways(tmp_path):
    class NoRate(NumpySegmentationExtractor):
        def get_sampling_frequency(self):
            return None

    source = NoRate(blob_masks(np.random.default_rng(0), (5, 6), 2), 1.0, traces={"raw": np.ones((4, 2))})
    target = tmp_path / "norate.nwb"
    with pytest.raises(RateRequiredError) as caught:
        roicore.write(source, target)
    message = str(caught.value)
    assert str(target) in message and "sampling_frequency=" in message and "set_times" in message and "rate=" in message
    assert not target.exists() and not list(tmp_path.iterdir())
    path = roicore.write(source, target, rate=3.0)
    with roicore.open(path) as back:
        assert back.get_sampling_frequency() == 3.0


def test_timestamps_regular_or_not(tmp_path):
    rng = np.random.default_rng(4)
    masks = blob_masks(rng, (5, 7), 2)
    irregular = NumpySegmentationExtractor(masks, 10.0, traces={"raw": rng.normal(size=(6, 2))},
                                           timestamps=[0.0, 0.1, 0.25, 0.3, 0.5, 0.55])
    path = roicore.write(irregular, tmp_path / "irregular.nwb")
    with roicore.open(path) as back:
        np.testing.assert_array_equal(back.get_timestamps(), irregular.get_timestamps())
        assert back.get_sampling_frequency() == 10.0
    shifted = NumpySegmentationExtractor(masks, 10.0, traces={"raw": rng.normal(size=(6, 2)), "dff": rng.normal(size=(6, 2))},
                                         timestamps=5.0 + np.arange(6) / 10.0)
    path = roicore.write(shifted, tmp_path / "shifted.nwb")
    import h5py

    with h5py.File(path, "r") as handle:
        series = handle["processing/ophys/Fluorescence/RoiResponseSeries"]
        assert "timestamps" not in series and float(series["starting_time"][()]) == 5.0
    with roicore.open(path) as back:
        np.testing.assert_allclose(back.get_timestamps(), shifted.get_timestamps(), rtol=1e-12)


def test_metadata_in_neuroconvs_layout_names_things(writer_samples, tmp_path):
    from pynwb import NWBHDF5IO

    metadata = {
        "NWBFile": {"session_description": "my session"},
        "Ophys": {
            "Device": [{"name": "Scope", "description": "a resonant scanner"}],
            "ImagingPlane": [{"name": "Plane", "device": "Scope", "indicator": "GCaMP8m"}],
            "ImageSegmentation": {"plane_segmentations": [{"name": "Cells", "imaging_plane": "Plane"},
                                                          {"name": "BackgroundCells", "imaging_plane": "Plane"}]},
            "Fluorescence": {"PlaneSegmentation": {"raw": {"name": "RoiResponseSeries", "unit": "a.u."}}},
        },
    }
    path = roicore.write(writer_samples["full"].source, tmp_path / "named.nwb", metadata=metadata)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_description == "my session"
        assert "Scope" in nwbfile.devices and nwbfile.imaging_planes["Plane"].indicator == "GCaMP8m"
        assert set(nwbfile.processing["ophys"]["ImageSegmentation"].plane_segmentations) == {"Cells", "BackgroundCells"}
        assert nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeries"].unit == "a.u."
    with roicore.open(path, plane_segmentation="Cells") as back:
        assert back.get_roi_ids() == [4, 8, 15, 16, 23]


def test_append_adds_a_second_plane_atomically(writer_samples, tmp_path):
    source = writer_samples["full"].source
    path = roicore.write(source, tmp_path / "session.nwb")
    video = writer_samples["uint16"].source
    with pytest.raises(FileExistsError):
        roicore.write(video, path)
    # the writers declare roicore's "append" capability: no overwrite=True needed
    assert roicore.write(video, path, append=True) == path
    second = {"Ophys": {"ImagingPlane": [{"name": "Plane2"}],
                        "ImageSegmentation": {"plane_segmentations": [{"name": "Plane2ROIs", "imaging_plane": "Plane2"},
                                                                      {"name": "BackgroundPlane2ROIs", "imaging_plane": "Plane2"}]},
                        "Fluorescence": {"PlaneSegmentation": {"raw": {"name": "Plane2Raw"}}}}}
    other = NumpySegmentationExtractor(blob_masks(np.random.default_rng(9), (9, 13), 2), 12.5,
                                       traces={"raw": np.arange(60.0).reshape(30, 2)})
    append_to_file(other, path, metadata=second)
    with roicore.open(path, kind="imaging") as back:
        np.testing.assert_array_equal(back.get_series(), video.get_series())
    with roicore.open(path, plane_segmentation="PlaneSegmentation") as back:
        assert back.get_roi_ids() == source.get_roi_ids()
    with roicore.open(path, plane_segmentation="Plane2ROIs") as back:
        np.testing.assert_array_equal(back.get_traces(), np.arange(60.0).reshape(30, 2))
    before = path.read_bytes()
    with pytest.raises(NameTakenError, match="Plane2ROIs"):
        append_to_file(other, path, metadata=second)
    assert path.read_bytes() == before
    with pytest.raises(NameTakenError, match="Plane2ROIs"):
        roicore.write(other, path, append=True, metadata=second)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.nwb"]


def test_append_through_roicore_write_keeps_what_was_there(writer_samples, tmp_path):
    source = writer_samples["full"].source
    path = roicore.write(source, tmp_path / "session.nwb")
    video = writer_samples["uint16"].source
    # overwrite=True with append=True (the call before the capability existed) still appends
    roicore.write(video, path, append=True, overwrite=True)
    with roicore.open(path, kind="imaging") as back:
        np.testing.assert_array_equal(back.get_series(), video.get_series())
    with roicore.open(path, kind="segmentation") as back:
        assert back.get_roi_ids() == source.get_roi_ids()
        np.testing.assert_array_equal(back.get_traces(), source.get_traces())
    # append=True on a path that does not exist writes a new file
    fresh = roicore.write(video, tmp_path / "fresh.nwb", append=True)
    with roicore.open(fresh) as back:
        np.testing.assert_array_equal(back.get_series(), video.get_series())


def test_writer_specs_declare_append():
    specs = {c.id: c.spec for c in roicore.writers() if c.id.startswith("nwb-")}
    assert {"nwb-imaging", "nwb-segmentation"} <= set(specs)
    assert all("append" in spec.capabilities for spec in specs.values())


def test_into_an_nwbfile_object(writer_samples, tmp_path):
    from pynwb import NWBHDF5IO

    from roicore_nwb.samples import new_nwbfile, write_nwbfile

    nwbfile = new_nwbfile("built by the user")
    add_imaging_to_nwbfile(writer_samples["uint16"].source, nwbfile)
    add_segmentation_to_nwbfile(writer_samples["full"].source, nwbfile, mask_type="pixel")
    path = write_nwbfile(nwbfile, tmp_path / "mine.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        assert io.read().session_description == "built by the user"
    with roicore.open(path, kind="imaging") as video, roicore.open(path) as seg:
        np.testing.assert_array_equal(video.get_series(), writer_samples["uint16"].source.get_series())
        np.testing.assert_allclose(seg.get_roi_image_masks(), writer_samples["full"].source.get_roi_image_masks(), rtol=1e-6)


def test_bad_options(writer_samples, tmp_path):
    with pytest.raises(ValueError, match="mask_type"):
        roicore.write(writer_samples["full"].source, tmp_path / "a.nwb", mask_type="voxel")
    with pytest.raises(ValueError, match="compression"):
        roicore.write(writer_samples["uint16"].source, tmp_path / "b.nwb", compression="zstd")
    with pytest.raises(ValueError, match="chunk_frames"):
        roicore.write(writer_samples["uint16"].source, tmp_path / "c.nwb", chunk_frames=0)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar(writer_samples, tmp_path, capsys):
    source = writer_samples["uint16"].source
    try:
        import tqdm  # noqa: F401
    except ImportError:
        with pytest.raises(roicore.errors.MissingDependencyError, match="tqdm"):
            roicore.write(source, tmp_path / "p.nwb", progress=True)
        return
    roicore.write(source, tmp_path / "p.nwb", progress=True, chunk_frames=5, buffer_bytes=5 * 7 * 11 * 2)
    err = capsys.readouterr().err
    assert "writing TwoPhotonSeries" in err and "20/20" in err
    roicore.write(source, tmp_path / "q.nwb", progress=False)
    assert "writing" not in capsys.readouterr().err


def test_centroids_are_the_masks_weighted_centres(writer_samples, tmp_path):
    source = writer_samples["full"].source
    path = roicore.write(source, tmp_path / "c.nwb")
    masks = source.get_roi_image_masks()
    rows, cols = np.mgrid[0 : masks.shape[0], 0 : masks.shape[1]]
    expected = np.array([[np.average(rows, weights=masks[:, :, k]), np.average(cols, weights=masks[:, :, k])]
                         for k in range(masks.shape[2])])
    with roicore.open(path) as back:
        np.testing.assert_allclose(back.get_property("roi_centroids"), expected, rtol=1e-12)
    path = roicore.write(source, tmp_path / "none.nwb", include_roi_centroids=False)
    with roicore.open(path) as back:
        assert "roi_centroids" not in back.get_property_keys()


def test_one_photon_series_and_volumes(writer_samples, tmp_path):
    from pynwb import NWBHDF5IO

    planar, volume = writer_samples["uint16"].source, writer_samples["volume"].source
    path = roicore.write(planar, tmp_path / "one.nwb", photon_series_type="OnePhotonSeries",
                         metadata={"Ophys": {"OnePhotonSeries": [{"name": "Miniscope", "description": "1p", "unit": "n.a.",
                                                                  "imaging_plane": "ImagingPlane"}]}})
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["Miniscope"]
        assert type(series).__name__ == "OnePhotonSeries"
    with roicore.open(path) as back:
        np.testing.assert_array_equal(back.get_series(), planar.get_series())
    path = roicore.write(volume, tmp_path / "vol.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["TwoPhotonSeries"]
        assert series.data.shape == (12, 8, 5, 3) and list(series.dimension[:]) == [8, 5, 3]
        np.testing.assert_array_equal(series.data[:], volume.get_series().transpose(0, 2, 1, 3))
    with roicore.open(path) as back:
        assert back.is_volumetric and back.get_num_planes() == 3
        np.testing.assert_array_equal(back.get_series(), volume.get_series())
