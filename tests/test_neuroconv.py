"""neuroconv 0.10's ophys writers accept roicore extractors and write what they write for roiextractors'.

Each round trip writes an NWB file with neuroconv, reads it back with pynwb and compares the values
with the extractor's and the generator's ground truth; the CaImAn segmentation is also written from
roiextractors' own ``CaimanSegmentationExtractor`` and the two files are compared.
neuroconv and roiextractors come with the root ``[test]`` extra (``make test`` installs them).
"""

from __future__ import annotations

import copy
import datetime
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

neuroconv_roiextractors = pytest.importorskip(
    "neuroconv.tools.roiextractors", reason="neuroconv is in the [test] extra (pip install -e '.[test]')"
)
pynwb = pytest.importorskip("pynwb", reason="pynwb comes with neuroconv")
roicore_caiman_samples = pytest.importorskip("roicore_caiman.samples", reason="needs the roicore-caiman plugin")

import roicore  # noqa: E402
from roicore.memory import NumpyImagingExtractor  # noqa: E402

METADATA = {
    "NWBFile": {
        "session_start_time": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
        "session_description": "roicore round trip",
        "identifier": "roicore-neuroconv",
    }
}


def _metadata() -> dict[str, Any]:
    return copy.deepcopy(METADATA)  # neuroconv fills the dict it is given


def _quietly(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call neuroconv, ignoring its deprecation notices and pynwb's shape hint for background traces."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*(does not match the length of rois|metadata specifies).*")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def caiman_sample(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("caiman")
    return next(s for s in roicore_caiman_samples.make_reader_samples(folder) if s.id == "evaluated")


def _read_segmentation(path: Path) -> dict[str, Any]:
    """Everything neuroconv wrote for a segmentation, as plain arrays."""
    with pynwb.NWBHDF5IO(str(path), "r") as io, warnings.catch_warnings():
        # neuroconv writes CaImAn's background traces against the cell ROIs, for roiextractors' extractor too
        warnings.filterwarnings("ignore", message=".*does not match the length of rois.*")
        nwbfile = io.read()
        ophys = nwbfile.processing["ophys"]
        plane = ophys["ImageSegmentation"].plane_segmentations["PlaneSegmentation"]
        columns = {name: np.asarray(plane[name][:]) for name in plane.colnames if name not in ("pixel_mask", "image_mask")}
        if "pixel_mask" in plane.colnames:
            masks = [np.asarray([tuple(p) for p in plane["pixel_mask"][i]], dtype=np.float64) for i in range(len(plane))]
        else:
            masks = [np.asarray(plane["image_mask"][i]) for i in range(len(plane))]
        series = {
            name: (np.asarray(s.data[:]), float(s.rate), float(s.starting_time))
            for name, s in ophys["Fluorescence"].roi_response_series.items()
        }
        images = {}
        if "SegmentationImages" in ophys.data_interfaces:
            images = {name: np.asarray(image.data[:]) for name, image in ophys["SegmentationImages"].images.items()}
    return {"columns": columns, "masks": masks, "series": series, "images": images}


def _dense(pixel_mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An NWB pixel mask as neuroconv writes roiextractors' (row, column, weight) rows, made dense."""
    image = np.zeros(shape)
    rows, cols = pixel_mask[:, 0].astype(int), pixel_mask[:, 1].astype(int)
    image[rows, cols] = pixel_mask[:, 2]
    return image


def test_caiman_segmentation_round_trip_matches_truth_and_roiextractors(caiman_sample: Any, tmp_path: Path) -> None:
    from roiextractors import CaimanSegmentationExtractor

    truth = caiman_sample.truth
    ours_path, theirs_path = tmp_path / "roicore.nwb", tmp_path / "roiextractors.nwb"
    with roicore.open(caiman_sample.path) as segmentation:
        _quietly(neuroconv_roiextractors.write_segmentation_to_nwbfile, segmentation,
                 nwbfile_path=ours_path, metadata=_metadata(), overwrite=True)
    theirs_extractor = CaimanSegmentationExtractor(file_path=caiman_sample.path)
    _quietly(neuroconv_roiextractors.write_segmentation_to_nwbfile, theirs_extractor,
             nwbfile_path=theirs_path, metadata=_metadata(), overwrite=True)
    del theirs_extractor
    ours, theirs = _read_segmentation(ours_path), _read_segmentation(theirs_path)

    # against the generator's truth
    assert [str(i) for i in truth.roi_ids] == list(ours["columns"]["roi_name"])
    assert len(ours["masks"]) == truth.image_masks.shape[2]
    for position, pixel_mask in enumerate(ours["masks"]):
        np.testing.assert_allclose(_dense(pixel_mask, truth.image_masks.shape[:2]), truth.image_masks[..., position])
    for key, values in truth.properties.items():
        np.testing.assert_array_equal(ours["columns"][key], values)
    names = {"raw": "RoiResponseSeries", "denoised": "Denoised", "deconvolved": "Deconvolved", "dff": "DfOverF"}
    for trace, series in names.items():
        data, rate, start = ours["series"][series]
        np.testing.assert_allclose(data, truth.traces[trace], rtol=1e-6)
        assert (rate, start) == (truth.sampling_frequency, 0.0)
    np.testing.assert_allclose(ours["images"]["correlation"], truth.images["correlation"].T)  # NWB is (x, y)

    # the same content as roiextractors' own extractor gives
    assert ours["columns"].keys() == theirs["columns"].keys()
    for key in ours["columns"]:
        np.testing.assert_array_equal(ours["columns"][key], theirs["columns"][key])
    shape = truth.image_masks.shape[:2]
    for mine, other in zip(ours["masks"], theirs["masks"], strict=True):  # pixel order aside (C vs F)
        np.testing.assert_allclose(_dense(mine, shape), _dense(other, shape))
    assert ours["series"].keys() == theirs["series"].keys()
    for name, (data, rate, start) in ours["series"].items():
        np.testing.assert_allclose(data, theirs["series"][name][0], rtol=1e-6)
        assert (rate, start) == theirs["series"][name][1:]
    # roiextractors also writes the summed background footprints as a "mean" image (roiextractors #249
    # territory); roicore does not label that a mean, so it writes only the images the file has
    assert set(ours["images"]) < set(theirs["images"])
    for name, image in ours["images"].items():
        np.testing.assert_array_equal(image, theirs["images"][name])


def test_old_metadata_path_centroids_background_and_fluorescence(caiman_sample: Any) -> None:
    """The list-metadata writers read _channel_names, get_roi_locations(), background masks and traces."""
    from neuroconv.tools.roiextractors import roiextractors_pending_deprecation as old
    from roiextractors import CaimanSegmentationExtractor

    def write(extractor: Any) -> tuple[Any, Any]:
        metadata = _quietly(neuroconv_roiextractors.get_nwb_segmentation_metadata, extractor)
        metadata.update(_metadata())
        whole = pynwb.NWBFile(**metadata["NWBFile"])  # the whole list-metadata writer, background included
        _quietly(old._add_segmentation_to_nwbfile_old_list_format, extractor, whole, metadata,
                 include_background_segmentation=True, include_roi_centroids=True, mask_type="pixel")
        parts = pynwb.NWBFile(**metadata["NWBFile"])  # the public traces writer on its own
        _quietly(old._add_devices_to_nwbfile_old_list_format, nwbfile=parts, metadata=metadata)
        _quietly(old._add_plane_segmentation_to_nwbfile, segmentation_extractor=extractor, nwbfile=parts,
                 metadata=metadata, include_roi_centroids=True, mask_type="image")
        _quietly(neuroconv_roiextractors.add_fluorescence_traces_to_nwbfile, extractor, parts, metadata)
        return whole, parts

    with roicore.open(caiman_sample.path) as segmentation:
        assert segmentation._channel_names == ["OpticalChannel"]
        locations = segmentation.get_roi_locations()
        ours = write(segmentation)
    theirs_extractor = CaimanSegmentationExtractor(file_path=caiman_sample.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        np.testing.assert_array_equal(locations, theirs_extractor.get_roi_locations())
    theirs = write(theirs_extractor)  # its traces are lazy views of its file: kept open to the end

    truth = caiman_sample.truth
    for position in range(truth.image_masks.shape[2]):  # the median of the peak pixels' rows and columns
        mask = truth.image_masks[..., position]
        rows, cols = np.nonzero(mask == mask.max())
        assert tuple(locations[:, position]) == (int(np.median(rows)), int(np.median(cols)))
    for mine, other in zip(ours, theirs):
        ophys, other_ophys = mine.processing["ophys"], other.processing["ophys"]
        planes = ophys["ImageSegmentation"].plane_segmentations
        other_planes = other_ophys["ImageSegmentation"].plane_segmentations
        assert planes.keys() == other_planes.keys()
        for name, plane in planes.items():
            assert plane.colnames == other_planes[name].colnames
            for column in plane.colnames:
                if column == "pixel_mask":
                    shape = truth.image_masks.shape[:2]
                    for i in range(len(plane)):
                        np.testing.assert_allclose(
                            _dense(np.asarray([tuple(p) for p in plane[column][i]]), shape),
                            _dense(np.asarray([tuple(p) for p in other_planes[name][column][i]]), shape))
                elif column == "roi_name" and name == "BackgroundPlaneSegmentation":
                    # roiextractors names background components "background0", ...; roicore keeps the ids
                    # the reader gives them (CaImAn: K, K+1, ..., after the K cells)
                    assert list(plane[column][:]) == [str(i) for i in truth.background_ids]
                    assert list(other_planes[name][column][:]) == [f"background{i}" for i in range(len(plane))]
                elif column == "roi_name":
                    assert list(plane[column][:]) == list(other_planes[name][column][:])
                else:
                    np.testing.assert_allclose(np.asarray(plane[column][:], dtype=float),
                                               np.asarray(other_planes[name][column][:], dtype=float), rtol=1e-6)
        np.testing.assert_array_equal(planes["PlaneSegmentation"]["ROICentroids"][:], locations.T[:, ::-1])  # NWB (x, y)
        for container, other_container in ((ophys[n], other_ophys[n]) for n in other_ophys.data_interfaces
                                           if n in ("Fluorescence", "DfOverF")):
            assert container.roi_response_series.keys() == other_container.roi_response_series.keys()
            for name, series in other_container.roi_response_series.items():
                np.testing.assert_allclose(_iterated(container.roi_response_series[name].data),
                                           _iterated(series.data), rtol=1e-6)
                assert container.roi_response_series[name].rate == series.rate == truth.sampling_frequency
    background = ours[0].processing["ophys"]["ImageSegmentation"].plane_segmentations["BackgroundPlaneSegmentation"]
    for i in range(len(background)):
        np.testing.assert_allclose(_dense(np.asarray([tuple(p) for p in background["pixel_mask"][i]]),
                                          truth.image_masks.shape[:2]), truth.background_masks[..., i])


def _iterated(data: Any) -> np.ndarray:
    """The values behind an hdmf data chunk iterator or an array."""
    if not hasattr(data, "maxshape"):
        return np.asarray(data)
    full = np.empty(data.maxshape, dtype=data.dtype)
    for chunk in data:
        full[chunk.selection] = chunk.data
    return full


def test_roiextractors_keyword_names(caiman_sample: Any) -> None:
    with roicore.open(caiman_sample.path) as segmentation:
        truth = caiman_sample.truth
        np.testing.assert_allclose(segmentation.get_traces(start_frame=3, end_frame=9), truth.traces["raw"][3:9], rtol=1e-6)
        np.testing.assert_array_equal(segmentation.get_property("snr", ids=[2, 0]), truth.properties["snr"][[2, 0]])
        segmentation.set_property("depth", np.arange(9.0), ids=list(range(9)), description="um below pia")
        info = segmentation.get_property_info("depth")
        np.testing.assert_array_equal(info.data, np.arange(9.0))
        assert info.description == "um below pia"
        assert segmentation.select_rois([4]).get_property_info("depth").description == "um below pia"
        np.testing.assert_array_equal(segmentation.get_image(), truth.images["correlation"])  # roiextractors' default
        with pytest.raises(TypeError, match="not both"):
            segmentation.get_traces(start_sample=1, start_frame=1)
        assert segmentation._roi_masks.mask_tpe == "nwb-pixel_mask"


def test_imaging_round_trip(tmp_path: Path) -> None:
    from roiextractors import NumpyImagingExtractor as TheirNumpyImaging

    rng = np.random.default_rng(5)
    video = rng.integers(0, 4000, size=(37, 11, 13), dtype=np.uint16)
    np.save(tmp_path / "movie.npy", video)
    for label, imaging in (("memory", NumpyImagingExtractor(video, 12.5)),
                           ("npy", roicore.open(tmp_path / "movie.npy", sampling_frequency=12.5)),
                           ("roiextractors", TheirNumpyImaging(video[..., np.newaxis], sampling_frequency=12.5))):
        path = tmp_path / f"{label}.nwb"
        metadata = _quietly(neuroconv_roiextractors.get_nwb_imaging_metadata, imaging)
        metadata.update(_metadata())
        _quietly(neuroconv_roiextractors.write_imaging_to_nwbfile, imaging, nwbfile_path=path,
                 metadata=metadata, overwrite=True, iterator_options={"buffer_shape": (8, 13, 11), "chunk_shape": (4, 13, 11)})
        added = tmp_path / f"{label}-added.nwb"  # the add_ variant, with neuroconv's placeholder metadata
        nwbfile = pynwb.NWBFile(**_metadata()["NWBFile"])
        _quietly(neuroconv_roiextractors.add_imaging_to_nwbfile, imaging, nwbfile)
        with pynwb.NWBHDF5IO(str(added), "w") as io:
            io.write(nwbfile)
        for written in (path, added):
            with pynwb.NWBHDF5IO(str(written), "r") as io:
                (series,) = io.read().acquisition.values()  # named by the metadata's template
                np.testing.assert_array_equal(series.data[:], video.transpose(0, 2, 1), err_msg=label)  # NWB (t, x, y)
                assert series.rate == 12.5 and series.starting_time == 0.0, label
                assert tuple(series.dimension[:]) == (11, 13), label

    with roicore.open(tmp_path / "movie.npy", sampling_frequency=12.5) as imaging:
        from neuroconv.tools.roiextractors.imagingextractordatachunkiterator import ImagingExtractorDataChunkIterator

        iterator = ImagingExtractorDataChunkIterator(imaging, buffer_shape=(5, 13, 11), chunk_shape=(5, 13, 11))
        np.testing.assert_array_equal(_iterated(iterator), video.transpose(0, 2, 1))


def test_readers_may_assign_the_roiextractors_attributes_themselves() -> None:
    """A reader ported from roiextractors sets ``self._roi_masks``/``self._channel_names``: that must work."""
    from roicore.memory import NumpySegmentationExtractor

    segmentation = NumpySegmentationExtractor(np.ones((2, 3, 1)), 5.0, traces={"raw": np.ones((4, 1))})
    assert segmentation._roi_masks.mask_tpe == "nwb-pixel_mask" and segmentation._channel_names == ["OpticalChannel"]
    segmentation._roi_masks = "the reader's own store"
    segmentation._channel_names = ["GCaMP", "tdTomato"]
    assert segmentation._roi_masks == "the reader's own store"
    assert segmentation._channel_names == ["GCaMP", "tdTomato"]
