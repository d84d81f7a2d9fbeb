"""Extractors pickle by constructor arguments (file readers by path), views recursively."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roicore.imaging import ImagingExtractor
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
from roicore.segmentation import RoiMasks


class NpyFileImaging(ImagingExtractor):
    """A toy file-backed reader: memory-maps a .npy file on open."""

    def __init__(self, file_path: str | Path, sampling_frequency: float = 10.0) -> None:
        self._path = Path(file_path)
        self._fs = float(sampling_frequency)
        self._video: np.ndarray | None = np.load(self._path, mmap_mode="r")
        self._shape = self._video.shape
        self._dtype = self._video.dtype

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape[1], self._shape[2]

    def get_num_samples(self) -> int:
        return self._shape[0]

    def get_sampling_frequency(self) -> float:
        return self._fs

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def _read_series(self, start: int, end: int) -> np.ndarray:
        assert self._video is not None
        return self._video[start:end]

    def _close(self) -> None:
        self._video = None


def roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


def video(num_samples: int, shape: tuple[int, ...] = (16, 16)) -> np.ndarray:
    rng = np.random.default_rng(num_samples)
    return rng.integers(0, 4000, size=(num_samples, *shape), dtype=np.uint16)


def test_numpy_imaging_roundtrip() -> None:
    data = video(12, (3, 5))
    x = NumpyImagingExtractor(data, 15.0)
    x.set_times(np.linspace(0.0, 2.0, 12))
    x.source = {"plugin": "test", "reader": "numpy"}
    y = roundtrip(x)
    assert type(y) is NumpyImagingExtractor
    np.testing.assert_array_equal(y.get_series(), data)
    np.testing.assert_array_equal(y.get_timestamps(), np.linspace(0.0, 2.0, 12))
    assert y.source == x.source
    assert y.get_sampling_frequency() == 15.0
    z = copy.deepcopy(x)
    np.testing.assert_array_equal(z[3:5], data[3:5])


def test_volumetric_and_views_roundtrip() -> None:
    data = video(10, (3, 4, 2))
    x = NumpyImagingExtractor(data, 5.0, volumetric=True)
    views = {
        "slice": (x.slice_samples(2, 9), data[2:9]),
        "slice of slice": (x.slice_samples(2, 9).slice_samples(1, 4), data[3:6]),
        "plane": (x.select_plane(1), data[..., 1]),
        "plane of slice": (x.slice_samples(4).select_plane(0), data[4:, ..., 0]),
        "slice of plane": (x.select_plane(0).slice_samples(1, 3), data[1:3, ..., 0]),
    }
    for name, (view, expected) in views.items():
        restored = roundtrip(view)
        assert type(restored) is type(view), name
        np.testing.assert_array_equal(restored.get_series(), expected, err_msg=name)
        np.testing.assert_array_equal(
            restored.get_timestamps(), view.get_timestamps(), err_msg=name
        )
    view = x.slice_samples(2, 6)
    view.set_times([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(roundtrip(view).get_timestamps(), [1.0, 2.0, 3.0, 4.0])


def test_file_backed_reader_pickles_by_path(tmp_path: Path) -> None:
    sizes = {}
    for name, n in (("a", 10), ("b", 1000)):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / "video.npy"
        data = video(n)
        np.save(path, data)
        with NpyFileImaging(path, 30.0) as x:
            blob = pickle.dumps(x)
            sizes[n] = len(blob)
            with pickle.loads(blob) as y:
                np.testing.assert_array_equal(y.get_series(), data)
                assert y._path == path
            view_blob = pickle.dumps(x.slice_samples(5, 9))
            assert len(view_blob) < 1000
            with pickle.loads(view_blob) as restored_view:
                np.testing.assert_array_equal(restored_view.get_series(), data[5:9])
    # 1000 frames of 16 x 16 uint16 are 512 kB; the pickle holds the path only
    assert sizes[10] == sizes[1000] < 1000


def test_numpy_imaging_from_path_pickles_by_path(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    data = video(500)
    np.save(path, data)
    with NumpyImagingExtractor(path, 10.0) as x:
        blob = pickle.dumps(x)
        assert len(blob) < 1000
        with pickle.loads(blob) as y:
            np.testing.assert_array_equal(y.get_samples([499, 0]), data[[499, 0]])


def make_seg() -> NumpySegmentationExtractor:
    rng = np.random.default_rng(3)
    masks = (rng.random((4, 6, 3)) > 0.5) * rng.random((4, 6, 3))
    return NumpySegmentationExtractor(
        masks,
        30.0,
        traces={"raw": rng.normal(size=(20, 3)), "dff": rng.normal(size=(20, 3))},
        roi_ids=["a", "b", "c"],
        images={"mean": rng.random((4, 6))},
        properties={"is_accepted": np.array([True, False, True])},
        background_masks=rng.random((4, 6, 1)),
        background_traces=rng.normal(size=(20, 1)),
        timestamps=np.arange(20) * 0.1 + 5.0,
    )


def assert_same_segmentation(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert a.get_roi_ids() == b.get_roi_ids()
    assert a.get_trace_names() == b.get_trace_names()
    for name in a.get_trace_names():
        np.testing.assert_array_equal(a.get_traces(name=name), b.get_traces(name=name))
    assert a.get_roi_masks().allclose(b.get_roi_masks())
    assert a.get_background_masks().allclose(b.get_background_masks())
    assert a.get_property_keys() == b.get_property_keys()
    for key in a.get_property_keys():
        np.testing.assert_array_equal(a.get_property(key), b.get_property(key))
    np.testing.assert_array_equal(a.get_timestamps(), b.get_timestamps())
    assert a.get_images_dict().keys() == b.get_images_dict().keys()


def test_segmentation_roundtrip() -> None:
    seg = make_seg()
    seg.set_property("snr", [1.0, 2.0, 3.0])  # set after construction: still pickled
    seg.set_times(np.arange(20) * 0.5)
    restored = roundtrip(seg)
    assert_same_segmentation(seg, restored)
    np.testing.assert_array_equal(restored.get_property("snr"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(restored.get_timestamps(), np.arange(20) * 0.5)


def test_segmentation_views_roundtrip() -> None:
    seg = make_seg()
    subset = seg.select_rois(["c", "a"])
    subset.set_property("label", ["C", "A"])
    for view in (
        subset,
        seg.slice_samples(3, 11),
        seg.slice_samples(3, 11).select_rois(["b"]),
        subset.slice_samples(10).slice_samples(2, 5),
    ):
        assert_same_segmentation(view, roundtrip(view))
    np.testing.assert_array_equal(roundtrip(subset).get_property("label"), ["C", "A"])


@pytest.mark.parametrize("n", [0, 3])
def test_roi_masks_roundtrip(n: int) -> None:
    rng = np.random.default_rng(n)
    masks = RoiMasks.from_image_masks(rng.random((5, 9, n)) * (rng.random((5, 9, n)) > 0.6))
    restored = roundtrip(masks)
    assert restored.allclose(masks) and restored.frame_shape == (5, 9)
    np.testing.assert_array_equal(restored.to_image_masks(), masks.to_image_masks())
