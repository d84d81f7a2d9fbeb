"""SegmentationExtractor: traces, masks, background, properties, images, views."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from roicore.errors import UnsupportedFeatureError
from roicore.memory import NumpySegmentationExtractor
from roicore.segmentation import (
    RoiMasks,
    RoiSubsetSegmentationExtractor,
    SampleSlicedSegmentationExtractor,
    SegmentationExtractor,
)

SETTINGS = settings(max_examples=50, deadline=None)

T, ROWS, COLS = 30, 5, 9
IDS = [10, 20, "c", "d"]
RNG = np.random.default_rng(42)
RAW = RNG.normal(size=(T, 4)).astype(np.float32)
DFF = RNG.normal(size=(T, 4))
DECONVOLVED = RNG.integers(0, 5, size=(T, 4)).astype(np.int16)
BACKGROUND = RNG.normal(size=(T, 2))
IMAGE_MASKS = (RNG.random((ROWS, COLS, 4)) > 0.7) * RNG.random((ROWS, COLS, 4))
BG_MASKS = RNG.random((ROWS, COLS, 2))
MEAN = RNG.random((ROWS, COLS))
CORRELATION = RNG.random((ROWS, COLS))
ACCEPTED = np.array([True, False, True, True])
SNR = np.array([1.5, 2.5, 3.5, 4.5])


class SpySegmentation(NumpySegmentationExtractor):
    """Records hook calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace_reads: list[tuple[str, list[int], int, int]] = []
        self.mask_reads = 0

    def _read_traces(self, name, positions, start, end):
        self.trace_reads.append((name, positions.tolist(), start, end))
        return super()._read_traces(name, positions, start, end)

    def _get_roi_masks(self):
        self.mask_reads += 1
        return super()._get_roi_masks()


def make_seg(cls: type = NumpySegmentationExtractor, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = dict(
        traces={"raw": RAW, "dff": DFF, "deconvolved": DECONVOLVED},
        roi_ids=IDS,
        images={"mean": MEAN, "correlation": CORRELATION},
        properties={"is_accepted": ACCEPTED, "snr": SNR},
        background_masks=BG_MASKS,
        background_traces=BACKGROUND,
    )
    kwargs.update(overrides)
    return cls(IMAGE_MASKS, 20.0, **kwargs)


# -- traces -----------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_trace_windows_and_subsets_equal_slicing(data: st.DataObject) -> None:
    seg = make_seg()
    start = data.draw(st.integers(0, T))
    end = data.draw(st.integers(start, T))
    positions = data.draw(st.lists(st.integers(0, 3), max_size=6))
    ids = [IDS[p] for p in positions]
    name, full = data.draw(
        st.sampled_from([("raw", RAW), ("dff", DFF), ("deconvolved", DECONVOLVED)])
    )
    out = seg.get_traces(roi_ids=ids, start_sample=start, end_sample=end, name=name)
    expected = full[start:end][:, positions]
    assert out.shape == (end - start, len(ids))
    np.testing.assert_array_equal(out, expected.astype(out.dtype))
    view = seg.select_rois(list(dict.fromkeys(ids))).slice_samples(start, end)
    unique_positions = list(dict.fromkeys(positions))
    np.testing.assert_array_equal(
        view.get_traces(name=name), full[start:end][:, unique_positions].astype(out.dtype)
    )


def test_trace_dtypes_and_defaults() -> None:
    seg = make_seg()
    raw = seg.get_traces()
    assert raw.dtype == np.float32 and raw.shape == (T, 4)
    np.testing.assert_array_equal(raw, RAW)
    assert seg.get_traces(name="dff").dtype == np.float64
    deconvolved = seg.get_traces(name="deconvolved")
    assert deconvolved.dtype == np.float64
    np.testing.assert_array_equal(deconvolved, DECONVOLVED)
    assert seg.get_traces(roi_ids=[], start_sample=3, end_sample=3).shape == (0, 0)
    assert seg.get_trace_names() == ["raw", "dff", "deconvolved", "background"]


def test_trace_errors() -> None:
    seg = make_seg()
    with pytest.raises(KeyError, match=r"'denoised'.*'raw', 'dff', 'deconvolved', 'background'"):
        seg.get_traces(name="denoised")
    with pytest.raises(KeyError, match="'e'"):
        seg.get_traces(roi_ids=[10, "e"])
    with pytest.raises(KeyError, match="30"):
        seg.get_traces(roi_ids=[30])
    with pytest.raises(TypeError):
        seg.get_traces(roi_ids="c")
    with pytest.raises(TypeError):
        seg.get_traces(roi_ids=10)
    with pytest.raises(IndexError, match=r"0 <= start_sample <= end_sample <= 30"):
        seg.get_traces(start_sample=5, end_sample=31)
    with pytest.raises(IndexError):
        seg.get_traces(start_sample=-1)
    with pytest.raises(TypeError):
        seg.get_traces(start_sample=1.0)


def test_traces_are_read_lazily_and_returned_as_copies() -> None:
    spy = make_seg(SpySegmentation)
    out = spy.get_traces(roi_ids=["d", 10, "d"], start_sample=4, end_sample=9, name="dff")
    # the hook gets sorted unique positions and exactly the window
    assert spy.trace_reads == [("dff", [0, 3], 4, 9)]
    np.testing.assert_array_equal(out, DFF[4:9][:, [3, 0, 3]])
    out[:] = 0
    np.testing.assert_array_equal(spy.get_traces(name="dff"), DFF)
    full = spy.get_traces(name="dff")
    assert not np.shares_memory(full, spy._trace_dict["dff"])
    full[:] = 0
    np.testing.assert_array_equal(spy.get_traces(name="dff"), DFF)


class BlockSpy(NumpySegmentationExtractor):
    """Keeps the arrays the hook returns."""

    blocks: list[np.ndarray]

    def _read_traces(self, name, positions, start, end):
        block = super()._read_traces(name, positions, start, end)
        self.__dict__.setdefault("blocks", []).append(block)
        return block


@pytest.mark.parametrize("name", ["raw", "dff"])
def test_numpy_trace_reads_copy_each_window_once(name: str) -> None:
    seg = make_seg(BlockSpy)
    stored = seg._trace_dict[name]
    # every ROI: the hook hands out a slice of the stored array, and the base copies it once
    out = seg.get_traces(start_sample=3, end_sample=17, name=name)
    (block,) = seg.blocks
    assert np.shares_memory(block, stored) and not np.shares_memory(out, stored)
    assert out.flags.c_contiguous and out.flags.owndata
    np.testing.assert_array_equal(out, stored[3:17])
    # a subset: the hook's own new array is returned as is (no second copy), never the stored memory
    seg.blocks.clear()
    out = seg.get_traces(roi_ids=[20, "d"], start_sample=2, end_sample=11, name=name)
    (block,) = seg.blocks
    assert block.flags.owndata and not np.shares_memory(block, stored)
    assert np.shares_memory(out, block)
    np.testing.assert_array_equal(out, stored[2:11][:, [1, 3]])


def test_traces_dict_only_existing_names() -> None:
    seg = make_seg()
    traces = seg.get_traces_dict()
    assert list(traces) == ["raw", "dff", "deconvolved", "background"]
    np.testing.assert_array_equal(traces["background"], BACKGROUND)
    plain = make_seg(traces={"raw": RAW}, background_traces=None)
    assert list(plain.get_traces_dict()) == ["raw"]


# -- masks and background -------------------------------------------------------------


def test_masks_and_views_of_them() -> None:
    spy = make_seg(SpySegmentation)
    assert spy.get_roi_ids() == IDS and spy.get_num_rois() == 4
    assert spy.get_frame_shape() == spy.get_image_shape() == (ROWS, COLS)
    np.testing.assert_array_equal(spy.get_roi_image_masks(), IMAGE_MASKS)
    np.testing.assert_array_equal(spy.get_roi_image_masks(["d", 10]), IMAGE_MASKS[:, :, [3, 0]])
    pixel = spy.get_roi_pixel_masks(["c"])
    rows, cols = np.nonzero(IMAGE_MASKS[:, :, 2])
    np.testing.assert_array_equal(
        pixel[0], np.column_stack([rows, cols, IMAGE_MASKS[rows, cols, 2]])
    )
    masks = spy.get_roi_masks()
    assert isinstance(masks, RoiMasks) and masks.num_rois == 4
    masks.matrix.data[:] = 99.0  # the caller's copy
    np.testing.assert_array_equal(spy.get_roi_image_masks(), IMAGE_MASKS)
    assert spy.mask_reads == 1  # cached
    with pytest.raises(KeyError):
        spy.get_roi_masks([11])


def test_background_kept_apart() -> None:
    seg = make_seg(background_ids=["b0", "b1"])
    assert "b0" not in seg.get_roi_ids()
    assert seg.get_background_ids() == ["b0", "b1"]
    assert seg.get_num_background_components() == 2
    np.testing.assert_array_equal(seg.get_background_image_masks(), BG_MASKS)
    np.testing.assert_array_equal(seg.get_background_image_masks(["b1"]), BG_MASKS[:, :, [1]])
    assert len(seg.get_background_pixel_masks()) == 2
    np.testing.assert_array_equal(
        seg.get_traces(roi_ids=["b1"], name="background", start_sample=2, end_sample=5),
        BACKGROUND[2:5, [1]],
    )
    with pytest.raises(KeyError):
        seg.get_traces(roi_ids=[10], name="background")
    with pytest.raises(KeyError):
        seg.get_traces(roi_ids=["b0"], name="raw")
    # ROI selection leaves background alone
    subset = seg.select_rois(["c"])
    assert subset.get_background_ids() == ["b0", "b1"]
    np.testing.assert_array_equal(subset.get_traces(name="background"), BACKGROUND)
    np.testing.assert_array_equal(subset.get_background_image_masks(), BG_MASKS)


def test_no_background() -> None:
    seg = make_seg(background_masks=None, background_traces=None)
    empty = seg.get_background_masks()
    assert empty.num_rois == 0 and empty.frame_shape == (ROWS, COLS)
    assert seg.get_background_image_masks().shape == (ROWS, COLS, 0)
    assert seg.get_background_pixel_masks() == []
    assert "background" not in seg.get_trace_names()
    with pytest.raises(KeyError):
        seg.get_traces(name="background")
    traces_only = make_seg(background_masks=None)
    assert traces_only.get_num_background_components() == 2
    with pytest.raises(UnsupportedFeatureError):
        traces_only.get_background_masks()


# -- images and properties -------------------------------------------------------------


def test_images() -> None:
    seg = make_seg()
    images = seg.get_images_dict()
    assert sorted(images) == ["correlation", "mean"]
    np.testing.assert_array_equal(seg.get_image("mean"), MEAN)
    seg.get_image("mean")[:] = 0
    np.testing.assert_array_equal(seg.get_image("mean"), MEAN)
    with pytest.raises(KeyError, match=r"'max'.*\['correlation', 'mean'\]"):
        seg.get_image("max")
    np.testing.assert_array_equal(seg.select_rois([10]).get_image("correlation"), CORRELATION)


def test_properties() -> None:
    seg = make_seg()
    assert seg.get_property_keys() == ["is_accepted", "snr"]
    accepted = seg.get_property("is_accepted")
    assert accepted.dtype == np.bool_
    np.testing.assert_array_equal(accepted, ACCEPTED)
    np.testing.assert_array_equal(seg.get_property("snr", ["d", 20]), [4.5, 2.5])
    accepted[:] = False
    np.testing.assert_array_equal(seg.get_property("is_accepted"), ACCEPTED)
    # given in another order, stored in ROI-id order
    seg.set_property("label", ["D", "A", "B", "C"], roi_ids=["d", 10, 20, "c"])
    np.testing.assert_array_equal(seg.get_property("label"), ["A", "B", "C", "D"])
    # a subset updates an existing property
    seg.set_property("snr", [0.0], roi_ids=["c"])
    np.testing.assert_array_equal(seg.get_property("snr"), [1.5, 2.5, 0.0, 4.5])
    centroids = np.arange(8.0).reshape(4, 2)
    seg.set_property("centroid", centroids)
    np.testing.assert_array_equal(seg.get_property("centroid", ["c"]), [[4.0, 5.0]])
    with pytest.raises(KeyError, match=r"'area'.*is_accepted"):
        seg.get_property("area")
    with pytest.raises(ValueError):
        seg.set_property("area", [1, 2, 3])
    with pytest.raises(ValueError):
        seg.set_property("area", [1.0], roi_ids=["c"])  # a new property needs every ROI
    with pytest.raises(ValueError):
        seg.set_property("area", [1, 2], roi_ids=["c", "c"])
    with pytest.raises(ValueError):
        seg.set_property("area", 3.0)
    with pytest.raises(KeyError):
        seg.set_property("area", [1.0], roi_ids=["zz"])


# -- views ------------------------------------------------------------------------


def test_select_rois() -> None:
    seg = make_seg()
    subset = seg.select_rois(["d", 10])
    assert isinstance(subset, RoiSubsetSegmentationExtractor)
    assert subset.get_roi_ids() == ["d", 10] and subset.get_num_rois() == 2
    np.testing.assert_array_equal(subset.get_traces(), RAW[:, [3, 0]])
    np.testing.assert_array_equal(subset.get_traces(roi_ids=[10], end_sample=4), RAW[:4, [0]])
    np.testing.assert_array_equal(subset.get_roi_image_masks(), IMAGE_MASKS[:, :, [3, 0]])
    np.testing.assert_array_equal(subset.get_property("is_accepted"), ACCEPTED[[3, 0]])
    np.testing.assert_array_equal(subset.get_property("snr", [10]), [1.5])
    assert subset.get_num_samples() == T and subset.get_sampling_frequency() == 20.0
    with pytest.raises(KeyError):
        subset.get_traces(roi_ids=[20])
    # properties set on the view stay there; the parent's stay visible
    subset.set_property("snr", [9.0, 8.0])
    np.testing.assert_array_equal(subset.get_property("snr"), [9.0, 8.0])
    np.testing.assert_array_equal(seg.get_property("snr"), SNR)
    seg.set_property("late", [1, 2, 3, 4])
    np.testing.assert_array_equal(subset.get_property("late"), [4, 1])
    # a subset of a plain subset reads from the root
    inner = seg.select_rois(["d", 10, "c"]).select_rois(["c", "d"])
    assert inner._parent is seg
    np.testing.assert_array_equal(inner.get_traces(name="dff"), DFF[:, [2, 3]])
    assert seg.select_rois([]).get_traces().shape == (T, 0)
    with pytest.raises(ValueError, match="'d'"):
        seg.select_rois(["d", 20, "d"])
    with pytest.raises(KeyError, match="'q'"):
        seg.select_rois(["q"])


def test_slice_samples_views() -> None:
    spy = make_seg(SpySegmentation)
    view = spy.slice_samples(5, 20)
    assert isinstance(view, SampleSlicedSegmentationExtractor)
    assert spy.trace_reads == []
    assert view.get_num_samples() == 15
    np.testing.assert_array_equal(
        view.get_traces(roi_ids=["c"], start_sample=2, end_sample=4), RAW[7:9, [2]]
    )
    assert spy.trace_reads == [("raw", [2], 7, 9)]
    np.testing.assert_array_equal(view.get_traces(name="background"), BACKGROUND[5:20])
    np.testing.assert_array_equal(view.get_roi_image_masks(), IMAGE_MASKS)
    np.testing.assert_array_equal(view.get_property("snr"), SNR)
    np.testing.assert_array_equal(view.get_timestamps(), np.arange(5, 20) / 20.0)
    inner = view.slice_samples(10)
    assert inner._parent is spy and inner.get_num_samples() == 5
    np.testing.assert_array_equal(inner.get_traces(name="dff"), DFF[15:20])
    with pytest.raises(IndexError, match="<= 15"):
        view.get_traces(end_sample=16)
    with pytest.raises(IndexError):
        spy.slice_samples(3, 31)


def test_timestamps() -> None:
    native = np.cumsum(np.full(T, 0.05)) + 1.0
    seg = make_seg(timestamps=native)
    assert seg.has_time_vector()
    np.testing.assert_array_equal(seg.get_timestamps(), native)
    view = seg.slice_samples(10, 20)
    np.testing.assert_array_equal(view.get_timestamps(), native[10:20])
    np.testing.assert_array_equal(view.get_native_timestamps(2, 4), native[12:14])
    assert view.time_to_sample_indices(native[13] + 0.01) == 3
    assert view.time_to_sample_indices(0.0) == 0
    np.testing.assert_array_equal(seg.select_rois(["c"]).get_timestamps(3, 5), native[3:5])
    plain = make_seg()
    assert not plain.has_time_vector()
    plain.set_times(np.arange(T) * 2.0)
    np.testing.assert_array_equal(plain.slice_samples(4, 6).get_timestamps(), [8.0, 10.0])
    with pytest.raises(ValueError):
        make_seg(timestamps=native[:-1])
    with pytest.raises(ValueError):
        make_seg(timestamps=native[::-1])


# -- reader contract and lifecycle --------------------------------------------------------


def test_broken_reader_is_reported() -> None:
    class WrongTraces(NumpySegmentationExtractor):
        def _read_traces(self, name, positions, start, end):
            return np.zeros((end - start + 1, positions.size))

    class WrongMasks(NumpySegmentationExtractor):
        def _get_roi_masks(self):
            return RoiMasks.empty((ROWS, COLS))

    with pytest.raises(RuntimeError, match="WrongTraces._read_traces"):
        make_seg(WrongTraces).get_traces()
    with pytest.raises(RuntimeError, match="WrongMasks._get_roi_masks"):
        make_seg(WrongMasks).get_roi_masks()


def test_close() -> None:
    seg = make_seg()
    view = seg.select_rois(["c"])
    with view:
        pass
    assert view.closed and not seg.closed
    with pytest.raises(ValueError, match="closed"):
        view.get_traces()
    seg.get_traces()
    with seg:
        pass
    seg.close()
    assert seg.closed
    with pytest.raises(ValueError, match="closed"):
        seg.get_traces()
    with pytest.raises(ValueError, match="closed"):
        seg.get_roi_masks()


def test_repr_and_abstract() -> None:
    text = repr(make_seg())
    assert "4 ROIs (+2 background) on a 5 x 9 frame" in text
    assert "30 samples at 20 Hz" in text and "raw, dff" in text
    with pytest.raises(TypeError):
        SegmentationExtractor()  # type: ignore[abstract]


# -- NumpySegmentationExtractor construction ---------------------------------------------


def test_mask_inputs() -> None:
    reference = RoiMasks.from_image_masks(IMAGE_MASKS)
    csc = reference.matrix
    frame = (ROWS, COLS)
    by_sparse = NumpySegmentationExtractor(csc, 10.0, frame_shape=frame, num_samples=3)
    by_images = NumpySegmentationExtractor(
        sparse.csr_matrix(csc), 10.0, images={"mean": MEAN}, num_samples=3
    )
    by_pixels = NumpySegmentationExtractor(
        reference.to_pixel_masks(), 10.0, frame_shape=frame, num_samples=3
    )
    by_roimasks = NumpySegmentationExtractor(reference, 10.0, num_samples=3)
    for seg in (by_sparse, by_images, by_pixels, by_roimasks):
        assert seg.get_roi_masks().allclose(reference)
        assert seg.get_roi_ids() == [0, 1, 2, 3]
        assert seg.get_trace_names() == []
        assert seg.get_num_samples() == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(traces={"raw": RAW[:, :3]}), "columns"),
        (dict(traces={"raw": RAW, "dff": DFF[:-1]}), "length"),
        (dict(traces={"raw": RAW[:, 0]}), "2-D"),
        (dict(traces={"background": RAW}), "background_traces"),
        (dict(roi_ids=[1, 2, 3]), "ids"),
        (dict(roi_ids=[1, 2, 2, 3]), "repeats"),
        (dict(roi_ids=[1, 2, 3, 4.5]), "ints or strs"),
        (dict(images={"mean": MEAN[:4]}), "shape"),
        (dict(properties={"snr": SNR[:3]}), "values"),
        (dict(background_traces=BACKGROUND[:, :1]), "columns"),
        (dict(background_masks=np.ones((ROWS, COLS + 1, 2))), "frame"),
        (dict(num_samples=5), "num_samples"),
        (dict(traces={}, background_traces=None), "num_samples"),
    ],
)
def test_numpy_segmentation_validation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_seg(**overrides)


def test_numpy_segmentation_more_validation() -> None:
    with pytest.raises(ValueError, match="frame shape"):
        NumpySegmentationExtractor(
            RoiMasks.from_image_masks(IMAGE_MASKS).matrix, 10.0, num_samples=1
        )
    with pytest.raises(ValueError):
        NumpySegmentationExtractor(IMAGE_MASKS, 0.0, num_samples=1)
    with pytest.raises(ValueError):
        NumpySegmentationExtractor(IMAGE_MASKS[:, :, 0], 10.0, num_samples=1)
    with pytest.raises(TypeError):
        NumpySegmentationExtractor(IMAGE_MASKS, 10.0, traces=RAW)
    ids = NumpySegmentationExtractor(IMAGE_MASKS, 10.0, num_samples=1, roi_ids=np.arange(4) * 2)
    assert ids.get_roi_ids() == [0, 2, 4, 6] and all(type(i) is int for i in ids.get_roi_ids())


def test_ragged_pixel_masks_take_the_frame_from_an_image() -> None:
    pixel = [np.array([[0, 0, 1.0]]), np.array([[1, 2, 0.5], [4, 8, 2.0]])]
    seg = NumpySegmentationExtractor(pixel, 10.0, images={"mean": MEAN}, num_samples=2)
    assert seg.get_frame_shape() == (ROWS, COLS)
    np.testing.assert_array_equal(seg.get_roi_pixel_masks()[1], pixel[1])
