"""ImagingExtractor: numpy semantics, strict bounds, copies, laziness, views, time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from roicore.errors import UnsupportedFeatureError
from roicore.imaging import (
    ImagingExtractor,
    PlaneImagingExtractor,
    SampleSlicedImagingExtractor,
)
from roicore.memory import NumpyImagingExtractor

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class MinimalImaging(ImagingExtractor):
    """Only the required hooks, so the base class's defaults are exercised."""

    def __init__(self, data: np.ndarray, fs: float = 10.0, volumetric: bool = False) -> None:
        self._data = data
        self._fs = fs
        self.is_volumetric = volumetric

    def get_image_shape(self) -> tuple[int, int]:
        return self._data.shape[1], self._data.shape[2]

    def get_num_planes(self) -> int:
        return self._data.shape[3] if self.is_volumetric else 1

    def get_num_samples(self) -> int:
        return self._data.shape[0]

    def get_sampling_frequency(self) -> float:
        return self._fs

    def get_dtype(self) -> np.dtype:
        return self._data.dtype

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return self._data[start:end]


class SpyImaging(MinimalImaging):
    """Records every ``_read_series`` call and counts ``_close`` calls."""

    def __init__(self, data: np.ndarray, fs: float = 10.0, volumetric: bool = False) -> None:
        super().__init__(data, fs, volumetric)
        self.reads: list[tuple[int, int]] = []
        self.close_calls = 0

    def _read_series(self, start: int, end: int) -> np.ndarray:
        self.reads.append((start, end))
        return super()._read_series(start, end)

    def _close(self) -> None:
        self.close_calls += 1

    def samples_read(self) -> list[int]:
        return [i for a, b in self.reads for i in range(a, b)]


class NativeTimesImaging(MinimalImaging):
    def __init__(self, data: np.ndarray, times: np.ndarray) -> None:
        super().__init__(data)
        self._native = np.asarray(times, dtype=np.float64)

    def get_native_timestamps(self, start_sample=None, end_sample=None):
        return self._native[start_sample:end_sample]


def make_data(shape: tuple[int, ...], dtype: Any = np.uint16) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 60000).astype(dtype).reshape(shape)


def assert_same(actual: Any, expected: Any, source: np.ndarray | None = None) -> None:
    """Same type (array vs numpy scalar), shape, dtype and values."""
    if isinstance(expected, np.ndarray):
        assert type(actual) is np.ndarray, type(actual)
        assert actual.shape == expected.shape
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)
        if source is not None:
            assert not np.shares_memory(actual, source)
    else:
        assert isinstance(expected, np.generic)
        assert isinstance(actual, np.generic), type(actual)
        assert actual.dtype == expected.dtype
        assert actual == expected


# -- strategies ----------------------------------------------------------------


def axis_items(n: int) -> st.SearchStrategy[Any]:
    bound = st.one_of(st.none(), st.integers(-n - 3, n + 3))
    options = [
        st.builds(slice, bound, bound, st.one_of(st.none(), st.integers(-4, 4).filter(bool))),
        st.just(slice(None)),
        st.lists(st.booleans(), min_size=n, max_size=n).map(np.array),
    ]
    if n > 0:
        ints = st.integers(-n, n - 1)
        options += [
            ints,
            ints.map(np.int32),
            st.lists(ints, max_size=5),
            hnp.arrays(
                st.sampled_from([np.int64, np.int32, np.int16]),
                hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                elements=ints,
            ),
            hnp.arrays(
                np.uint8,
                hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
                elements=st.integers(0, n - 1),
            ),
        ]
    return st.one_of(*options)


@st.composite
def index_keys(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    ndim = len(shape)
    leading = draw(st.integers(0, ndim))
    items: list[Any] = [draw(axis_items(shape[a])) for a in range(leading)]
    if draw(st.booleans()):
        # an ellipsis, possibly standing for no axis at all
        trailing = draw(st.integers(0, ndim - leading))
        items.append(Ellipsis)
        items += [draw(axis_items(shape[a])) for a in range(ndim - trailing, ndim)]
    # an occasional boolean mask over two leading axes
    if ndim >= 2 and draw(st.integers(0, 6)) == 0:
        mask = draw(hnp.arrays(np.bool_, shape[:2]))
        items = [mask, *items[2:]] if leading >= 2 else [mask]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from([None, None, True])))
    if len(items) == 1 and draw(st.booleans()):
        return items[0]
    return tuple(items)


@st.composite
def extractors(draw: st.DrawFn, volumetric: bool) -> tuple[ImagingExtractor, np.ndarray]:
    shape = (
        draw(st.integers(1, 7)),
        draw(st.integers(1, 4)),
        draw(st.integers(1, 5)),
    ) + ((draw(st.integers(1, 3)),) if volumetric else ())
    data = make_data(shape, draw(st.sampled_from([np.uint16, np.float32, np.int8])))
    cls = draw(st.sampled_from([NumpyImagingExtractor, MinimalImaging]))
    if cls is NumpyImagingExtractor:
        return NumpyImagingExtractor(data, 10.0, volumetric=volumetric), data
    return MinimalImaging(data, 10.0, volumetric), data


def check_key(x: ImagingExtractor, data: np.ndarray, key: Any) -> None:
    try:
        expected = data[key]
    except Exception as error:  # numpy rejects the key: so must we, with the same type
        with pytest.raises(type(error)):
            x[key]
        return
    assert_same(x[key], expected, source=data)


# -- numpy semantics -------------------------------------------------------------


@SETTINGS
@given(st.data(), st.booleans())
def test_getitem_matches_numpy(data: st.DataObject, volumetric: bool) -> None:
    x, array = data.draw(extractors(volumetric))
    key = data.draw(index_keys(array.shape))
    check_key(x, array, key)
    assert_same(np.asarray(x), array)


@SETTINGS
@given(st.data(), st.booleans())
def test_getitem_on_views_matches_numpy(data: st.DataObject, volumetric: bool) -> None:
    x, array = data.draw(extractors(volumetric))
    n = array.shape[0]
    a = data.draw(st.integers(0, n))
    b = data.draw(st.integers(a, n))
    view = x.slice_samples(a, b)
    check_key(view, array[a:b], data.draw(index_keys(array[a:b].shape)))
    if volumetric:
        p = data.draw(st.integers(0, array.shape[3] - 1))
        plane = x.select_plane(p)
        check_key(plane, array[..., p], data.draw(index_keys(array[..., p].shape)))


@pytest.mark.parametrize(
    "key",
    [
        (1, slice(None), [0, 2]),  # int + slice + array: advanced dims go first
        ([[0, 1], [2, 3]], 0, slice(None, None, -1)),
        (slice(None), [0, 1], [2, 0]),
        (np.array([3, 1, 3]), None, Ellipsis, np.array([0, 2, 1])),
        (None, [1, 2], slice(None), [0, 1]),
        (slice(None, None, -2), Ellipsis),
        (Ellipsis, 2),
        (-1, -1, -1),
        (np.int64(2), Ellipsis, 1),
        (np.array(2), [1], [1]),
        (True, 2),
        (np.zeros((6, 4), dtype=bool),),
        (),
        [],
        [[]],
        (0, [[], []]),
        ([True, 1],),
        (slice(None), (0, 1)),
        ((2, 0), 1),
        [5, 5, 0, -6],
    ],
)
def test_getitem_tricky_keys(key: Any) -> None:
    array = make_data((6, 4, 5))
    x = NumpyImagingExtractor(array, 10.0)
    assert_same(x[key], array[key], source=array)


@pytest.mark.parametrize(
    "key, error",
    [
        (6, IndexError),
        (-7, IndexError),
        ((0, 4), IndexError),
        ([0, 6], IndexError),
        (np.ones(5, dtype=bool), IndexError),
        ((0, 0, 0, 0), IndexError),
        ((Ellipsis, Ellipsis), IndexError),
        (1.5, IndexError),
        (np.array([1.0]), IndexError),
        (([0, 1], [0, 1, 2]), IndexError),
        (slice(0, 2, 0), ValueError),
        ([[0], [0, 1]], (IndexError, ValueError)),
    ],
)
def test_getitem_errors_like_numpy(key: Any, error: Any) -> None:
    array = make_data((6, 4, 5))
    with pytest.raises(error):
        array[key]
    spy = SpyImaging(array)
    with pytest.raises(error):
        spy[key]


@SETTINGS
@given(st.data(), st.booleans())
def test_get_samples_matches_fancy_indexing(data: st.DataObject, volumetric: bool) -> None:
    x, array = data.draw(extractors(volumetric))
    n = array.shape[0]
    indices = data.draw(
        hnp.arrays(
            np.int64,
            hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
            elements=st.integers(-n, n - 1),
        )
    )
    as_list = data.draw(st.booleans()) and indices.ndim > 0
    key = indices.tolist() if as_list else indices
    assert_same(x.get_samples(key), array[key], source=array)


def test_get_samples_validation() -> None:
    x = NumpyImagingExtractor(make_data((5, 2, 2)), 10.0)
    with pytest.raises(IndexError, match="-5 <= index < 5"):
        x.get_samples([0, 5])
    with pytest.raises(IndexError):
        x.get_samples([-6])
    with pytest.raises(TypeError):
        x.get_samples([True, False])
    with pytest.raises(TypeError):
        x.get_samples(np.array([1.0]))
    assert x.get_samples([]).shape == (0, 2, 2)
    assert x.get_samples(np.array([], dtype=np.uint8)).shape == (0, 2, 2)


def test_get_samples_reads_each_sample_once() -> None:
    spy = SpyImaging(make_data((200, 3, 2)))
    result = spy.get_samples([5, 1, 5, 3, -1, 1])
    np.testing.assert_array_equal(result, spy._data[[5, 1, 5, 3, -1, 1]])
    read = spy.samples_read()
    assert len(read) == len(set(read))
    assert {1, 3, 5, 199} <= set(read)
    # far-apart indices are read as separate runs, not as the whole span
    spy.reads.clear()
    spy.get_samples([0, 150, 151, 152, 100])
    assert sorted(spy.reads) == [(0, 1), (100, 101), (150, 153)]
    # a dense set is read as one span
    spy.reads.clear()
    spy.get_samples([10, 12, 14, 11])
    assert spy.reads == [(10, 15)]


def test_getitem_reads_only_needed_samples() -> None:
    spy = SpyImaging(make_data((50, 3, 2)))
    spy[7, 1]
    assert spy.reads == [(7, 8)]
    spy.reads.clear()
    spy[-3:, ..., 0]
    assert spy.reads == [(47, 50)]
    spy.reads.clear()
    spy[[40, 2, 40]]
    assert sorted(spy.samples_read()) == [2, 40]
    spy.reads.clear()
    mask = np.zeros(50, dtype=bool)
    mask[[3, 4]] = True
    spy[mask, 0]
    assert spy.reads == [(3, 5)]
    spy.reads.clear()
    spy[None, 9]
    assert spy.reads == [(9, 10)]


# -- get_series -----------------------------------------------------------------


def test_get_series_values_and_defaults() -> None:
    array = make_data((20, 3, 4))
    x = NumpyImagingExtractor(array, 10.0)
    assert_same(x.get_series(), array, source=array)
    assert_same(x.get_series(5), array[5:], source=array)
    assert_same(x.get_series(end_sample=3), array[:3], source=array)
    assert_same(x.get_series(np.int64(2), np.uint8(9)), array[2:9], source=array)
    assert x.get_series(4, 4).shape == (0, 3, 4)


@pytest.mark.parametrize(
    "start, end", [(5, 3), (-1, 4), (0, 21), (21, None), (None, -1), (-5, None)]
)
def test_get_series_strict_bounds(start: Any, end: Any) -> None:
    x = NumpyImagingExtractor(make_data((20, 3, 4)), 10.0)
    with pytest.raises(IndexError, match=r"0 <= start_sample <= end_sample <= 20"):
        x.get_series(start, end)


@pytest.mark.parametrize("start, end", [(1.0, 3), (0, 2.5), (True, 3), ("1", 2)])
def test_get_series_rejects_non_integers(start: Any, end: Any) -> None:
    x = NumpyImagingExtractor(make_data((20, 3, 4)), 10.0)
    with pytest.raises(TypeError):
        x.get_series(start, end)


def test_reads_return_copies() -> None:
    array = make_data((8, 3, 4))
    original = array.copy()
    x = NumpyImagingExtractor(array, 10.0)
    for read in (
        lambda: x.get_series(),
        lambda: x.get_series(2, 5),
        lambda: x.get_samples([0, 1, 2]),
        lambda: x.get_samples([3, 0]),
        lambda: x[1],
        lambda: x[2:6, 1:],
        lambda: x[[1, 2], 0],
        lambda: np.asarray(x),
        lambda: x.slice_samples(1, 7).get_series(),
    ):
        out = read()
        out[...] = 0
    np.testing.assert_array_equal(array, original)
    np.testing.assert_array_equal(x.get_series(), original)


def test_get_series_copies_only_when_needed() -> None:
    class Fresh(MinimalImaging):
        def _read_series(self, start, end):
            self.last = self._data[start:end].copy()
            return self.last

    x = Fresh(make_data((5, 2, 2)))
    out = x.get_series(1, 3)
    assert out is x.last  # an array made for the call is handed over, not copied again

    viewing = MinimalImaging(make_data((5, 2, 2)))  # returns views of its data
    assert not np.shares_memory(viewing.get_series(), viewing._data)


def test_get_series_without_copy_is_a_read_only_view(tmp_path) -> None:
    array = make_data((9, 3, 4, 2))
    path = tmp_path / "video.npy"
    np.save(path, array)
    with NumpyImagingExtractor(path, 5.0, volumetric=True) as on_disk:
        in_memory = NumpyImagingExtractor(array, 5.0, volumetric=True)
        for x in (in_memory, on_disk):
            for start, end in ((0, 9), (2, 5), (4, 4), (8, 9)):
                block = x.get_series(start, end, copy=False)
                np.testing.assert_array_equal(block, array[start:end])
                assert type(block) is np.ndarray and block.flags.c_contiguous and not block.flags.writeable
                with pytest.raises(ValueError, match="read-only"):
                    block[...] = 0
            np.testing.assert_array_equal(x.slice_samples(3, 7).get_series(1, 3, copy=False), array[4:6])
            np.testing.assert_array_equal(x.select_plane(1).get_series(copy=False), array[..., 1])
        assert np.shares_memory(in_memory.get_series(2, 5, copy=False), array)  # no copy made
        block = on_disk.get_series(0, 9, copy=False)
    np.testing.assert_array_equal(block, array)  # a view of the mapping stays valid after close()
    x = MinimalImaging(make_data((5, 2, 2)))
    with pytest.raises(IndexError):
        x.get_series(0, 6, copy=False)


def test_memmap_reads_are_plain_arrays(tmp_path) -> None:
    array = make_data((6, 3, 4))
    path = tmp_path / "video.npy"
    np.save(path, array)
    with NumpyImagingExtractor(path, 5.0) as x:
        for out in (x.get_series(), x[1:3], x.get_samples([2, 0]), x[0]):
            assert type(out) is np.ndarray
        np.testing.assert_array_equal(x.get_series(), array)


def test_broken_reader_is_reported() -> None:
    class WrongShape(MinimalImaging):
        def _read_series(self, start, end):
            return self._data[start:end, :1]

    class WrongDtype(MinimalImaging):
        def _read_series(self, start, end):
            return self._data[start:end].astype(np.float64)

    with pytest.raises(RuntimeError, match="WrongShape._read_series"):
        WrongShape(make_data((4, 2, 2))).get_series()
    with pytest.raises(RuntimeError, match="WrongDtype.*dtype"):
        WrongDtype(make_data((4, 2, 2)))[0]


# -- array protocol and metadata ---------------------------------------------------


def test_array_protocol() -> None:
    array = make_data((5, 3, 4))
    x = NumpyImagingExtractor(array, 10.0)
    assert x.shape == (5, 3, 4)
    assert x.dtype == np.uint16
    assert x.ndim == 3
    assert x.size == 60
    assert len(x) == 5
    assert_same(np.asarray(x), array)
    converted = np.asarray(x, dtype=np.float64)
    assert converted.dtype == np.float64
    np.testing.assert_array_equal(converted, array)
    with pytest.raises(ValueError):
        np.array(x, copy=False)
    np.testing.assert_array_equal(np.stack(list(x)), array)


def test_metadata_planar_and_volumetric() -> None:
    planar = NumpyImagingExtractor(make_data((5, 3, 4)), 30.0)
    assert planar.get_image_shape() == planar.get_frame_shape() == (3, 4)
    assert planar.get_sample_shape() == (3, 4)
    assert planar.get_num_planes() == 1
    assert not planar.is_volumetric
    with pytest.raises(UnsupportedFeatureError):
        planar.get_volume_shape()
    with pytest.raises(UnsupportedFeatureError):
        planar.select_plane(0)

    volume = NumpyImagingExtractor(make_data((5, 3, 4, 2)), 30.0, volumetric=True)
    assert volume.is_volumetric
    assert volume.get_image_shape() == (3, 4)
    assert volume.get_sample_shape() == volume.get_volume_shape() == (3, 4, 2)
    assert volume.shape == (5, 3, 4, 2)
    assert volume.get_num_planes() == 2


def test_numpy_imaging_validation(tmp_path) -> None:
    with pytest.raises(ValueError, match="volumetric=True"):
        NumpyImagingExtractor(np.zeros((2, 3, 4, 5)), 10.0)
    with pytest.raises(ValueError):
        NumpyImagingExtractor(np.zeros((2, 3, 4)), 10.0, volumetric=True)
    with pytest.raises(ValueError):
        NumpyImagingExtractor(np.zeros((3, 4)), 10.0)
    with pytest.raises(ValueError):
        NumpyImagingExtractor(np.zeros((3, 0, 4)), 10.0)
    with pytest.raises(ValueError):
        NumpyImagingExtractor(np.array([[["a"]]]), 10.0)
    for fs in (0, -1.0, float("nan"), float("inf"), True, "fast"):
        with pytest.raises(ValueError):
            NumpyImagingExtractor(np.zeros((2, 3, 4)), fs)
    with pytest.raises(FileNotFoundError):
        NumpyImagingExtractor(tmp_path / "missing.npy", 10.0)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match="bad.npy"):
        NumpyImagingExtractor(bad, 10.0)
    assert isinstance(NumpyImagingExtractor(np.zeros((2, 3, 4)), 7).get_sampling_frequency(), float)


def test_repr_reads_nothing() -> None:
    spy = SpyImaging(make_data((12, 3, 4, 2)), fs=30.0, volumetric=True)
    text = repr(spy)
    assert spy.reads == []
    assert "SpyImaging" in text and "12 samples x 3 x 4 x 2" in text
    assert "uint16" in text and "30 Hz" in text
    assert "samples 2:5" in repr(spy.slice_samples(2, 5))
    assert spy.reads == []
    spy.close()
    assert "closed" in repr(spy)


def test_abstract_base_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError):
        ImagingExtractor()  # type: ignore[abstract]


# -- views ------------------------------------------------------------------------


def test_slice_samples_is_lazy_and_composes() -> None:
    array = make_data((30, 3, 4))
    spy = SpyImaging(array)
    view = spy.slice_samples(5, 25)
    assert isinstance(view, SampleSlicedImagingExtractor)
    assert spy.reads == []
    assert view.get_num_samples() == 20
    assert view.shape == (20, 3, 4)
    inner = view.slice_samples(2, 10)
    assert spy.reads == []
    assert inner._parent is spy and (inner._start, inner._end) == (7, 15)
    np.testing.assert_array_equal(inner.get_series(), array[7:15])
    assert spy.reads == [(7, 15)]
    np.testing.assert_array_equal(inner.get_samples([-1, 0]), array[[14, 7]])
    np.testing.assert_array_equal(spy.slice_samples().get_series(), array)
    with pytest.raises(IndexError, match="<= 20"):
        view.slice_samples(0, 21)
    with pytest.raises(IndexError):
        view.get_series(0, 21)
    with pytest.raises(IndexError):
        view[20]


def test_select_plane() -> None:
    array = make_data((6, 3, 4, 3))
    spy = SpyImaging(array, volumetric=True)
    plane = spy.select_plane(1)
    assert isinstance(plane, PlaneImagingExtractor)
    assert spy.reads == []
    assert not plane.is_volumetric
    assert plane.shape == (6, 3, 4)
    assert_same(plane.get_series(), array[..., 1], source=array)
    assert_same(spy.select_plane(-1).get_samples([4, 0]), array[[4, 0], ..., 2], source=array)
    assert_same(spy.slice_samples(2, 5).select_plane(0)[1:], array[3:5, ..., 0])
    with pytest.raises(IndexError):
        spy.select_plane(3)
    with pytest.raises(IndexError):
        spy.select_plane(-4)
    with pytest.raises(TypeError):
        spy.select_plane(1.0)
    with pytest.raises(UnsupportedFeatureError):
        plane.select_plane(0)


# -- time -------------------------------------------------------------------------


def test_timestamps_derived_from_rate() -> None:
    x = NumpyImagingExtractor(make_data((10, 2, 2)), 4.0)
    assert not x.has_time_vector()
    stamps = x.get_timestamps()
    assert stamps.dtype == np.float64
    np.testing.assert_array_equal(stamps, np.arange(10) / 4.0)
    np.testing.assert_array_equal(x.get_timestamps(3, 6), np.arange(3, 6) / 4.0)
    stamps[:] = -1
    assert x.get_timestamps()[0] == 0.0
    # a slice keeps the parent's clock: it starts at a / fs, not at zero
    view = x.slice_samples(4, 8)
    np.testing.assert_array_equal(view.get_timestamps(), np.arange(4, 8) / 4.0)
    np.testing.assert_array_equal(view.slice_samples(1, 3).get_timestamps(), [1.25, 1.5])
    with pytest.raises(IndexError):
        x.get_timestamps(0, 11)


def test_set_times_and_windows() -> None:
    x = NumpyImagingExtractor(make_data((5, 2, 2)), 10.0)
    times = [0.5, 1.0, 1.0, 2.5, 4.0]
    x.set_times(times)
    assert x.has_time_vector()
    np.testing.assert_array_equal(x.get_timestamps(), times)
    np.testing.assert_array_equal(x.get_timestamps(1, 3), [1.0, 1.0])
    view = x.slice_samples(2, 5)
    assert view.has_time_vector()
    np.testing.assert_array_equal(view.get_timestamps(), [1.0, 2.5, 4.0])
    # a slice of a slice whose times were set uses those times
    view.set_times([10.0, 11.0, 12.0])
    np.testing.assert_array_equal(view.slice_samples(1).get_timestamps(), [11.0, 12.0])
    np.testing.assert_array_equal(x.get_timestamps(2, 5), [1.0, 2.5, 4.0])
    for bad in ([0, 1, 2, 3], [[0, 1, 2, 3, 4]], [0, 1, 2, 1.5, 3], [0, 1, np.nan, 3, 4]):
        with pytest.raises(ValueError):
            x.set_times(bad)


def test_native_timestamps_and_planes() -> None:
    native = np.array([0.0, 0.1, 0.25, 0.3, 0.5, 0.55])
    x = NativeTimesImaging(make_data((6, 2, 2, 2)), native)
    x.is_volumetric = True
    assert x.has_time_vector()
    np.testing.assert_array_equal(x.get_timestamps(), native)
    np.testing.assert_array_equal(x.slice_samples(2, 5).get_timestamps(), native[2:5])
    np.testing.assert_array_equal(x.slice_samples(2, 5).get_native_timestamps(), native[2:5])
    np.testing.assert_array_equal(x.select_plane(1).get_timestamps(1, 3), native[1:3])
    x.set_times(native + 100)
    np.testing.assert_array_equal(x.get_timestamps(0, 2), native[:2] + 100)


def test_time_to_sample_indices() -> None:
    x = NumpyImagingExtractor(make_data((5, 2, 2)), 2.0)  # samples at 0, .5, 1, 1.5, 2
    result = x.time_to_sample_indices([0.0, 0.49, 0.5, 0.75, 2.0, 99.0, -3.0])
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, [0, 0, 1, 1, 4, 4, 0])
    scalar = x.time_to_sample_indices(1.2)
    assert isinstance(scalar, np.int64) and scalar == 2
    x.set_times([1.0, 2.0, 2.0, 5.0, 9.0])
    np.testing.assert_array_equal(x.time_to_sample_indices([2.0, 4.9, 5.0, 0.0]), [2, 2, 3, 0])
    np.testing.assert_array_equal(
        x.time_to_sample_indices(np.array([[1.5], [9.5]])), [[0], [4]]
    )
    view = NumpyImagingExtractor(make_data((10, 2, 2)), 1.0).slice_samples(5, 8)
    assert view.time_to_sample_indices(6.5) == 1  # the view's clock starts at 5 s
    with pytest.raises(ValueError):
        x.time_to_sample_indices(np.nan)


# -- lifecycle --------------------------------------------------------------------


def test_context_manager_and_close() -> None:
    spy = SpyImaging(make_data((4, 2, 2)))
    with spy as entered:
        assert entered is spy
        assert not spy.closed
    assert spy.closed and spy.close_calls == 1
    spy.close()
    spy.close()
    assert spy.close_calls == 1
    with pytest.raises(ValueError, match="closed"):
        spy.get_series()
    with pytest.raises(ValueError, match="closed"):
        spy[0]


def test_closing_a_view_leaves_the_parent_open() -> None:
    spy = SpyImaging(make_data((6, 2, 2, 2)), volumetric=True)
    view = spy.slice_samples(1, 4)
    plane = spy.select_plane(0)
    view.close()
    plane.close()
    assert view.closed and plane.closed
    assert not spy.closed and spy.close_calls == 0
    spy.get_series()
    with pytest.raises(ValueError):
        view.get_series()
    other = spy.slice_samples(0, 2)
    spy.close()
    with pytest.raises(ValueError):
        other.get_series()  # the parent is closed


def test_numpy_extractor_close_releases_memmap(tmp_path) -> None:
    path = tmp_path / "v.npy"
    np.save(path, make_data((3, 2, 2)))
    x = NumpyImagingExtractor(path, 1.0)
    x.close()
    assert x._data is None
    assert x.shape == (3, 2, 2)  # metadata stays available
    with pytest.raises(ValueError):
        x.get_series()


def test_core_modules_import_no_heavy_dependencies() -> None:
    import subprocess
    import sys

    code = (
        "import sys, roicore._base, roicore.imaging, roicore.segmentation, roicore.memory\n"
        "heavy = [m for m in ('scipy', 'h5py', 'pluggy', 'importlib.metadata')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
