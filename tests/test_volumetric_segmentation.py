"""Volumetric segmentations: masks on (rows, columns, planes) volumes, and the planar view of one plane."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import roicore
from roicore.errors import UnsupportedFeatureError
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
from roicore.segmentation import PlaneSegmentationExtractor, RoiMasks

ROWS, COLUMNS, PLANES, N, T = 5, 7, 3, 6, 11


@pytest.fixture
def dense() -> np.ndarray:
    """Image masks (rows, columns, planes, n); ROI 5 lies only in plane 2, ROI 4 only in plane 0."""
    rng = np.random.default_rng(14)
    masks = rng.random((ROWS, COLUMNS, PLANES, N)) * (rng.random((ROWS, COLUMNS, PLANES, N)) < 0.3)
    masks[..., 5] = 0
    masks[1, 2, 2, 5] = 0.75
    masks[..., 4] = 0
    masks[3, 6, 0, 4] = 2.0
    masks[0, 0, 1, 0] = 1.5  # every plane has something
    return masks


@pytest.fixture
def volume(dense: np.ndarray) -> NumpySegmentationExtractor:
    rng = np.random.default_rng(3)
    return NumpySegmentationExtractor(
        dense,
        20.0,
        traces={"raw": rng.random((T, N)), "neuropil": rng.random((T, N))},
        roi_ids=[10, 11, 12, 13, 14, 15],
        images={"mean": rng.random((ROWS, COLUMNS, PLANES))},
        properties={"is_accepted": np.array([True, False, True, True, False, True]), "size": np.arange(N) * 1.5},
    )


def _nonzero_pixels(dense: np.ndarray, roi: int) -> np.ndarray:
    """``[row, column, plane, weight]`` rows of one ROI, in C order, by plain numpy."""
    where = np.nonzero(dense[..., roi])
    return np.column_stack([*where, dense[..., roi][where]])


def test_roimasks_pixel_order_is_c_order_of_the_volume(dense: np.ndarray) -> None:
    masks = RoiMasks.from_image_masks(dense)
    assert masks.frame_shape == (ROWS, COLUMNS, PLANES) and masks.is_volumetric and masks.num_planes == PLANES
    assert np.array_equal(masks.matrix.toarray(), dense.reshape(ROWS * COLUMNS * PLANES, N))
    # pixel = (row * columns + column) * planes + plane
    single = RoiMasks.from_pixel_masks([np.array([[2, 5, 1, 0.5]])], (ROWS, COLUMNS, PLANES))
    assert single.matrix.indices.tolist() == [(2 * COLUMNS + 5) * PLANES + 1]
    assert np.array_equal(masks.to_image_masks(), dense)
    for roi, mask in enumerate(masks.to_pixel_masks()):
        assert mask.shape[1] == 4
        assert np.array_equal(mask, _nonzero_pixels(dense, roi))


def test_roimasks_pixel_masks_round_trip(dense: np.ndarray) -> None:
    masks = RoiMasks.from_image_masks(dense)
    again = RoiMasks.from_pixel_masks(masks.to_pixel_masks(), (ROWS, COLUMNS, PLANES))
    assert again.allclose(masks) and np.array_equal(again.matrix.toarray(), masks.matrix.toarray())
    assert RoiMasks.empty((ROWS, COLUMNS, PLANES)).matrix.shape == (ROWS * COLUMNS * PLANES, 0)
    assert not masks.allclose(RoiMasks.from_image_masks(dense[:, :, 0, :]))


@pytest.mark.parametrize(
    "pixel_masks, message",
    [
        ([[[0, 0, 3, 1.0]]], r"\(row 0, column 0, plane 3\) outside the 5 x 7 x 3 volume"),
        ([[[0, 0, -1, 1.0]]], "outside"),
        ([[[1, 1, 1, 1.0], [1, 1, 1, 2.0]]], r"lists pixel \(row 1, column 1, plane 1\) more than once"),
        ([[[1, 1, 0.5, 1.0]]], "non-integer row, column or plane"),
        ([[[1, 1, 1.0]]], r"\(k, 4\) arrays of \[row, column, plane, weight\]"),
        ([[], [[1, 1, 1.0]]], r"pixel mask 1 must be a \(k, 4\) array"),
        ([[[1, 1, 1, -1.0]]], "negative"),
    ],
)
def test_roimasks_volumetric_pixel_mask_errors(pixel_masks: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoiMasks.from_pixel_masks(pixel_masks, (ROWS, COLUMNS, PLANES))


def test_roimasks_select_plane(dense: np.ndarray) -> None:
    masks = RoiMasks.from_image_masks(dense)
    for plane in range(PLANES):
        cut = masks.select_plane(plane)
        assert cut.frame_shape == (ROWS, COLUMNS) and not cut.is_volumetric
        assert np.array_equal(cut.to_image_masks(), dense[:, :, plane, :])
    assert np.array_equal(masks.select_plane(-1).to_image_masks(), dense[:, :, PLANES - 1, :])
    with pytest.raises(IndexError, match="out of range"):
        masks.select_plane(PLANES)
    with pytest.raises(UnsupportedFeatureError):
        masks.select_plane(0).select_plane(0)


def test_volumetric_extractor_metadata_masks_and_images(volume: NumpySegmentationExtractor, dense: np.ndarray) -> None:
    assert volume.is_volumetric and volume.get_num_planes() == PLANES
    assert volume.get_frame_shape() == (ROWS, COLUMNS) == volume.get_image_shape()
    assert volume.get_volume_shape() == (ROWS, COLUMNS, PLANES)
    assert all(type(v) is int for v in volume.get_volume_shape())
    assert np.array_equal(volume.get_roi_image_masks(), dense)
    assert np.array_equal(volume.get_roi_image_masks([13, 10]), dense[..., [3, 0]])
    assert np.array_equal(volume.get_roi_pixel_masks([12])[0], _nonzero_pixels(dense, 2))
    assert volume.get_background_masks().frame_shape == (ROWS, COLUMNS, PLANES)
    assert volume.get_image("mean").shape == (ROWS, COLUMNS, PLANES)
    assert "5 x 7 x 3 volume" in repr(volume)


def test_planar_extractor_is_not_volumetric(dense: np.ndarray) -> None:
    planar = NumpySegmentationExtractor(dense[:, :, 0, :], 10.0, num_samples=4)
    assert not planar.is_volumetric and planar.get_num_planes() == 1
    assert planar.get_roi_masks().frame_shape == (ROWS, COLUMNS)
    with pytest.raises(UnsupportedFeatureError, match="not volumetric"):
        planar.get_volume_shape()
    with pytest.raises(UnsupportedFeatureError, match="not volumetric"):
        planar.select_plane(0)


def test_numpy_extractor_refuses_images_of_another_shape(dense: np.ndarray) -> None:
    with pytest.raises(ValueError, match="has shape"):
        NumpySegmentationExtractor(dense, 10.0, num_samples=2, images={"mean": np.zeros((ROWS, COLUMNS))})


@pytest.mark.parametrize("plane", [0, 1, 2, -1])
def test_select_plane_holds_the_rois_touching_the_plane(
    volume: NumpySegmentationExtractor, dense: np.ndarray, plane: int
) -> None:
    view = volume.select_plane(plane)
    p = plane % PLANES
    assert isinstance(view, PlaneSegmentationExtractor) and view.plane_index == p
    assert not view.is_volumetric and view.get_num_planes() == 1
    touching = np.flatnonzero(dense[:, :, p, :].any(axis=(0, 1)))
    ids = [10 + int(i) for i in touching]
    assert view.get_roi_ids() == ids and view.get_num_rois() == len(ids)
    assert np.array_equal(view.get_roi_image_masks(), dense[:, :, p, touching])
    assert view.get_roi_masks().frame_shape == (ROWS, COLUMNS)
    for got, roi in zip(view.get_roi_pixel_masks(), touching):
        where = np.nonzero(dense[:, :, p, roi])
        assert np.array_equal(got, np.column_stack([*where, dense[:, :, p, roi][where]]))
    for name in ("raw", "neuropil"):
        assert np.array_equal(view.get_traces(name=name), volume.get_traces(name=name)[:, touching])
    assert np.array_equal(view.get_traces(ids[::-1], 2, 9), volume.get_traces(ids[::-1], 2, 9))
    assert np.array_equal(view.get_property("size"), np.arange(N)[touching] * 1.5)
    assert np.array_equal(view.get_property("is_accepted", ids[:1]), volume.get_property("is_accepted", ids[:1]))
    assert np.array_equal(view.get_image("mean"), volume.get_image("mean")[:, :, p])
    assert view.get_sampling_frequency() == 20.0 and view.get_num_samples() == T
    assert np.array_equal(view.get_timestamps(), volume.get_timestamps())


def test_select_plane_drops_rois_elsewhere(volume: NumpySegmentationExtractor) -> None:
    assert 15 not in volume.select_plane(0).get_roi_ids() and 15 in volume.select_plane(2).get_roi_ids()
    assert 14 in volume.select_plane(0).get_roi_ids() and 14 not in volume.select_plane(2).get_roi_ids()
    with pytest.raises(KeyError, match="unknown ROI id 15"):
        volume.select_plane(0).get_traces([15])


def test_select_plane_bad_index(volume: NumpySegmentationExtractor) -> None:
    with pytest.raises(IndexError, match="out of range"):
        volume.select_plane(PLANES)
    with pytest.raises(IndexError, match="out of range"):
        volume.select_plane(-PLANES - 1)
    with pytest.raises(TypeError, match="plane_index"):
        volume.select_plane(1.0)  # type: ignore[arg-type]


def test_views_of_a_volume_stay_volumetric(volume: NumpySegmentationExtractor, dense: np.ndarray) -> None:
    subset = volume.select_rois([15, 11])
    assert subset.is_volumetric and subset.get_volume_shape() == (ROWS, COLUMNS, PLANES)
    assert np.array_equal(subset.get_roi_image_masks(), dense[..., [5, 1]])
    sliced = volume.slice_samples(3, 8)
    assert sliced.is_volumetric and sliced.get_num_planes() == PLANES
    assert np.array_equal(sliced.get_roi_image_masks(), dense)
    plane_of_slice = sliced.select_plane(2)
    assert np.array_equal(plane_of_slice.get_traces(), volume.get_traces(plane_of_slice.get_roi_ids(), 3, 8))
    plane_of_subset = subset.select_plane(2)
    expected = [15, 11] if dense[:, :, 2, 1].any() else [15]
    assert plane_of_subset.get_roi_ids() == expected
    # a ROI subset of a plane view keeps the plane cut
    inner = volume.select_plane(1).select_rois([10])
    assert np.array_equal(inner.get_roi_image_masks(), dense[:, :, 1, [0]])


def test_plane_view_pickles_and_closing_it_leaves_the_parent_open(volume: NumpySegmentationExtractor) -> None:
    view = volume.select_plane(1)
    again = pickle.loads(pickle.dumps(view))
    assert again.get_roi_ids() == view.get_roi_ids()
    assert np.array_equal(again.get_roi_image_masks(), view.get_roi_image_masks())
    view.close()
    assert not volume.closed and volume.get_traces().shape == (T, N)


def test_extract_refuses_volumetric_masks_on_a_planar_video(volume: NumpySegmentationExtractor) -> None:
    video = NumpyImagingExtractor(np.zeros((4, ROWS, COLUMNS), dtype=np.float32), 20.0)
    with pytest.raises(ValueError, match="frames of shape"):
        roicore.extract(video, volume)
    # one plane of it fits
    plane = volume.select_plane(1)
    result = roicore.extract(video, plane)
    assert result.get_roi_ids() == plane.get_roi_ids()


def test_write_refuses_a_volumetric_segmentation_for_a_planar_writer(
    volume: NumpySegmentationExtractor, tmp_path
) -> None:
    from roicore.errors import NoReaderFoundError
    from roicore.writing import choose_writer

    try:
        contribution = choose_writer("segmentation", tmp_path / "out.nwb")
    except NoReaderFoundError:
        pytest.skip("no segmentation writer for .nwb is installed (roicore-nwb)")
    assert "volumetric" not in contribution.spec.capabilities
    with pytest.raises(UnsupportedFeatureError, match="select_plane"):
        roicore.write(volume, tmp_path / "out.nwb")
    assert list(tmp_path.iterdir()) == []


def test_roi_locations_of_a_volume_are_row_column_plane(volume: NumpySegmentationExtractor) -> None:
    # ROI 15 is one pixel at (1, 2, 2), ROI 14 one pixel at (3, 6, 0)
    assert volume.get_roi_locations([15, 14]).tolist() == [[1, 3], [2, 6], [2, 0]]
    planar = volume.select_plane(2)
    assert planar.get_roi_locations([15]).tolist() == [[1], [2]]


def test_info_lines_name_the_volume(volume: NumpySegmentationExtractor) -> None:
    from roicore.cli.inspect import describe

    lines = describe(volume)
    assert "volume:     (5, 7, 3) (rows, columns, planes)" in lines
    assert "frame:      (5, 7) (rows, columns)" in describe(volume.select_plane(0))
