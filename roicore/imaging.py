"""Imaging extractors: a video as a lazily read array.

An :class:`ImagingExtractor` is shaped ``(num_samples, rows, columns)``, or
``(num_samples, rows, columns, planes)`` when volumetric (matrix order). A
reader implements a few metadata getters and one read hook,
``_read_series(start, end)``, whose bounds the base class has validated; the
base class provides the whole public API on top: bounds checking, copies the
caller owns, any-order sample reads, numpy indexing, lazy views and time.

Examples
--------
>>> import numpy as np
>>> from roicore.memory import NumpyImagingExtractor
>>> x = NumpyImagingExtractor(np.arange(24, dtype=np.uint16).reshape(4, 2, 3), 10.0)
>>> x.shape
(4, 2, 3)
>>> x[1:3, 0, -1]
array([ 8, 14], dtype=uint16)
>>> x.slice_samples(2, 4).get_timestamps()
array([0.2, 0.3])
"""

from __future__ import annotations

import abc
import operator
from typing import Any

import numpy as np

from roicore._base import (
    BaseExtractor,
    _as_int,
    _normalize_indices,
    _owned,
    _read_only,
    _resolve_range,
)
from roicore.errors import UnsupportedFeatureError

__all__ = [
    "ImagingExtractor",
    "SampleSlicedImagingExtractor",
    "PlaneImagingExtractor",
]


def _axes_consumed(item: Any) -> int | None:
    """Array axes an index item consumes (None for Ellipsis: it varies)."""
    if item is Ellipsis:
        return None
    if item is None or isinstance(item, (bool, np.bool_)):
        return 0
    if isinstance(item, np.ndarray) and item.dtype == np.bool_:
        return item.ndim
    return 1


def _sequence_index(item: list[Any] | tuple[Any, ...]) -> Any:
    """Convert a list index to the array numpy would make of it."""
    try:
        arr = np.asarray(item)
    except ValueError:
        return item  # ragged: numpy will reject it with its own message
    if arr.size == 0 and arr.dtype.kind == "f":
        return arr.astype(np.intp)  # numpy reads [] and [[]] as integer indices
    return arr


def _is_integer_scalar(item: Any) -> bool:
    if isinstance(item, (bool, np.bool_)):
        return False
    if isinstance(item, (int, np.integer)):
        return True
    return isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu"


class ImagingExtractor(BaseExtractor):
    """Base class of every imaging extractor (a video, possibly volumetric).

    Readers implement :meth:`get_image_shape`, :meth:`get_num_samples`,
    :meth:`get_sampling_frequency`, :meth:`get_dtype` and
    :meth:`_read_series`; optionally ``is_volumetric``, :meth:`get_num_planes`,
    :meth:`_read_samples`, :meth:`get_native_timestamps` and ``_close``.
    Everything else, including all validation, lives here.

    The class also speaks the numpy array protocol (``shape``, ``dtype``,
    ``ndim``, ``len``, ``x[key]``, ``numpy.asarray(x)``), reading only the
    samples a key selects, so ``dask.array.from_array(x, chunks=...)`` works.
    """

    #: True for readers whose samples are volumes ``(rows, columns, planes)``.
    is_volumetric: bool = False

    # -- hooks for readers ------------------------------------------------------

    @abc.abstractmethod
    def get_image_shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of one plane."""

    @abc.abstractmethod
    def get_dtype(self) -> np.dtype:
        """The dtype of the pixel values, as returned by every read."""

    @abc.abstractmethod
    def _read_series(self, start: int, end: int) -> np.ndarray:
        """Hook: samples ``[start, end)`` as an array ``(end - start, *sample_shape)``.

        The bounds are validated (``0 <= start < end <= n``). The result may be
        a view of internal data or of a memmap: the base class copies views
        (except for ``get_series(copy=False)``, which passes a C-contiguous
        view on read-only). It must not be an array the reader keeps and
        reuses, nor a view of a buffer it later overwrites.
        """

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        """Hook: the samples at ``indices``, a sorted, unique, non-empty intp array.

        The default reads the whole span ``[min, max]`` in one call when it is
        at most twice the number of samples asked for, else one call per run of
        consecutive indices. Readers with cheap random access may override it.
        """
        lo, hi = int(indices[0]), int(indices[-1])
        if hi - lo + 1 <= 2 * indices.size:
            return np.asarray(self._read_series(lo, hi + 1))[indices - lo]
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        starts = indices[np.concatenate(([0], breaks))]
        ends = indices[np.concatenate((breaks - 1, [indices.size - 1]))] + 1
        return np.concatenate(
            [np.asarray(self._read_series(int(a), int(b))) for a, b in zip(starts, ends)]
        )

    def get_num_planes(self) -> int:
        """Number of planes of a volumetric sample (1 for planar data)."""
        return 1

    # -- shape and dtype --------------------------------------------------------

    def get_frame_shape(self) -> tuple[int, int]:
        """Alias of :meth:`get_image_shape`."""
        return self.get_image_shape()

    def get_volume_shape(self) -> tuple[int, int, int]:
        """``(rows, columns, planes)`` of a volumetric extractor.

        Raises
        ------
        UnsupportedFeatureError
            The extractor is not volumetric.
        """
        if not self.is_volumetric:
            raise UnsupportedFeatureError(
                f"{type(self).__name__} is not volumetric; it has no volume shape"
            )
        rows, cols = self.get_image_shape()
        return (int(rows), int(cols), int(self.get_num_planes()))

    def get_sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(rows, columns)``, plus ``(planes,)`` if volumetric."""
        rows, cols = self.get_image_shape()
        if self.is_volumetric:
            return (int(rows), int(cols), int(self.get_num_planes()))
        return (int(rows), int(cols))

    @property
    def shape(self) -> tuple[int, ...]:
        """``(num_samples, *sample_shape)``."""
        return (int(self.get_num_samples()), *self.get_sample_shape())

    @property
    def dtype(self) -> np.dtype:
        """The pixel dtype."""
        return np.dtype(self.get_dtype())

    @property
    def ndim(self) -> int:
        """3, or 4 when volumetric."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of pixel values in the whole series."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.get_num_samples())

    # -- checked reads (the only paths to the hooks) ----------------------------

    def _check_block(self, block: Any, count: int, call: str) -> np.ndarray:
        block = np.asarray(block)
        expected = (count, *self.get_sample_shape())
        if block.shape != expected:
            raise RuntimeError(
                f"{type(self).__name__}.{call} returned shape {block.shape}, "
                f"expected {expected} (a bug in the reader)"
            )
        if block.dtype != self.dtype:
            raise RuntimeError(
                f"{type(self).__name__}.{call} returned dtype {block.dtype}, "
                f"expected {self.dtype} from get_dtype() (a bug in the reader)"
            )
        return block

    def _read_checked(self, start: int, end: int) -> np.ndarray:
        """Validated ``_read_series``; may return a view the caller must not keep."""
        self._check_open()
        if start == end:
            return np.empty((0, *self.get_sample_shape()), dtype=self.dtype)
        return self._check_block(
            self._read_series(start, end), end - start, f"_read_series({start}, {end})"
        )

    def _read_samples_checked(self, indices: np.ndarray) -> np.ndarray:
        """Validated ``_read_samples`` for sorted unique indices; may return a view."""
        self._check_open()
        if indices.size == 0:
            return np.empty((0, *self.get_sample_shape()), dtype=self.dtype)
        return self._check_block(
            self._read_samples(indices), indices.size, "_read_samples(...)"
        )

    # -- public reads -----------------------------------------------------------

    def get_series(
        self, start_sample: int | None = None, end_sample: int | None = None, *, copy: bool = True
    ) -> np.ndarray:
        """Samples ``[start_sample, end_sample)``.

        Parameters
        ----------
        start_sample, end_sample : int or None
            ``0 <= start_sample <= end_sample <= num_samples``; None means the
            start and the end of the series. Negative values are not wrapped.
        copy : bool
            True (the default): a new array the caller owns. False: a
            **read-only** array that may share memory with the reader's data
            (a file mapping, an in-memory array), so no copy is made where
            the reader can avoid one. For streaming consumers that convert
            or reduce each block anyway; the values are the same either way,
            and nothing can be written through it. It stays valid after
            :meth:`close`.

        Returns
        -------
        numpy.ndarray
            ``(end_sample - start_sample, *sample_shape)`` of :meth:`get_dtype`,
            C-contiguous: a new array, or with ``copy=False`` a read-only one.

        Raises
        ------
        IndexError
            The bounds are out of range (the message gives the valid range).
        TypeError
            A bound is not an integer.
        """
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        block = self._read_checked(start, end)
        if copy:
            return _owned(block)
        return _read_only(block)

    def get_samples(self, sample_indices: Any) -> np.ndarray:
        """The samples at ``sample_indices``, equal to ``full_series[sample_indices]``.

        Parameters
        ----------
        sample_indices : int or array_like of int
            Any order, repeats and negative indices (counted from the end)
            allowed, any shape.

        Returns
        -------
        numpy.ndarray
            A new array ``(*indices.shape, *sample_shape)``; every sample is read
            once however often it is asked for.
        """
        idx = _normalize_indices(sample_indices, self.get_num_samples())
        unique, inverse = np.unique(idx, return_inverse=True)
        block = self._read_samples_checked(unique)
        if unique.size == idx.size and idx.ndim == 1 and np.array_equal(unique, idx):
            return _owned(block)
        return block[inverse.reshape(idx.shape)]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError(
                f"{type(self).__name__} reads its data from its source: "
                "numpy.asarray cannot avoid a copy (use copy=None)"
            )
        full = self.get_series()
        if dtype is not None:
            full = full.astype(dtype, copy=False)
        return full

    def __getitem__(self, key: Any) -> Any:
        """Index like an ndarray of the same shape, reading only the samples needed."""
        self._check_open()
        n = self.get_num_samples()
        ndim = self.ndim
        items = list(key) if isinstance(key, tuple) else [key]
        for i, item in enumerate(items):
            if isinstance(item, (list, tuple)):
                items[i] = _sequence_index(item)
        if sum(item is Ellipsis for item in items) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        indexed = sum(c for c in map(_axes_consumed, items) if c is not None)
        if indexed > ndim:
            raise IndexError(
                f"too many indices for array: array is {ndim}-dimensional, "
                f"but {indexed} were indexed"
            )

        position = None
        for i, item in enumerate(items):
            consumed = _axes_consumed(item)
            if consumed == 0:
                continue
            if consumed is None:
                if indexed < ndim:
                    break  # the ellipsis spans the time axis: every sample is needed
                continue
            position = i
            break

        block: np.ndarray | None = None
        if position is not None:
            block = self._read_for_time_key(items, position, n)
        if block is None:
            # every sample is needed or the key is unusual (a boolean mask over
            # several axes); first let numpy reject a bad key without reading
            np.broadcast_to(np.empty((), dtype=self.dtype), self.shape)[tuple(items)]
            block = self._read_checked(0, n)
        result = block[tuple(items)]
        if isinstance(result, np.ndarray):
            if np.may_share_memory(result, block):
                result = np.array(result, copy=True, subok=False)
            elif type(result) is not np.ndarray:
                result = result.view(np.ndarray)
        return result

    def _read_for_time_key(
        self, items: list[Any], position: int, n: int
    ) -> np.ndarray | None:
        """Read the samples the time-axis item selects and rewrite that item.

        The item is replaced by one of the same kind (int, slice, integer
        array of the same shape) addressing the returned block, so numpy's
        rules for combining indices and placing dimensions are unchanged.
        Returns None when the item needs the full series.
        """
        item = items[position]
        if _is_integer_scalar(item):
            i = operator.index(item)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
            i = i + n if i < 0 else i
            items[position] = 0
            return self._read_checked(i, i + 1)
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if step == 1:
                items[position] = slice(None)
                return self._read_checked(start, max(start, stop))
            indices = np.arange(start, stop, step, dtype=np.intp)
            if step < 0:
                indices = indices[::-1]
                items[position] = slice(None, None, -1)
            else:
                items[position] = slice(None)
            return self._read_samples_checked(indices)
        if isinstance(item, np.ndarray):
            if item.dtype == np.bool_:
                if item.ndim != 1:
                    return None
                if item.shape[0] != n:
                    raise IndexError(
                        f"boolean index did not match indexed array along axis 0; "
                        f"size of axis is {n} but size of corresponding boolean axis "
                        f"is {item.shape[0]}"
                    )
                item = np.flatnonzero(item)
            if item.dtype.kind in "iu":
                idx = _normalize_indices(item, n)
                unique = np.unique(idx)
                items[position] = np.searchsorted(unique, idx)
                return self._read_samples_checked(unique)
        return None

    # -- views ------------------------------------------------------------------

    def slice_samples(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> SampleSlicedImagingExtractor:
        """A lazy view of samples ``[start_sample, end_sample)``; nothing is read.

        Its timestamps are this extractor's ``get_timestamps(start, end)``:
        times set here, native times and rate-derived times carry through, so
        without a time vector a slice starting at ``a > 0`` starts at ``a / fs``.
        """
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return SampleSlicedImagingExtractor(self, start, end)

    def select_plane(self, plane_index: int) -> PlaneImagingExtractor:
        """A lazy planar view of one plane of a volumetric extractor.

        Equals ``x[..., plane_index]``; negative indices count from the end.

        Raises
        ------
        UnsupportedFeatureError
            The extractor is not volumetric.
        IndexError
            No such plane.
        """
        if not self.is_volumetric:
            raise UnsupportedFeatureError(
                f"{type(self).__name__} is not volumetric; it has no planes to select"
            )
        plane = _as_int(plane_index, "plane_index")
        num_planes = self.get_num_planes()
        if not -num_planes <= plane < num_planes:
            raise IndexError(
                f"plane_index={plane} is out of range: need "
                f"-{num_planes} <= plane_index < {num_planes}"
            )
        return PlaneImagingExtractor(self, plane % num_planes)

    # -- repr -------------------------------------------------------------------

    def _describe(self) -> str:
        dims = " x ".join(str(d) for d in self.get_sample_shape())
        return f"{self.get_num_samples()} samples x {dims}, {self.dtype}, {self._rate_text()}"


class SampleSlicedImagingExtractor(ImagingExtractor):
    """A lazy view of samples ``[start_sample, end_sample)`` of another extractor.

    Made by :meth:`ImagingExtractor.slice_samples`. Reads go to the parent;
    nothing is read at construction, and closing the view leaves the parent
    open. Timestamps are the parent's for the same samples.

    Parameters
    ----------
    parent : ImagingExtractor
    start_sample, end_sample : int or None
        Validated as for :meth:`ImagingExtractor.get_series`.
    """

    def __init__(
        self,
        parent: ImagingExtractor,
        start_sample: int | None = None,
        end_sample: int | None = None,
    ) -> None:
        if not isinstance(parent, ImagingExtractor):
            raise TypeError(f"parent must be an ImagingExtractor, not {type(parent).__name__}")
        start, end = _resolve_range(start_sample, end_sample, parent.get_num_samples())
        # a slice of a slice reads from the root with the offsets added
        if isinstance(parent, SampleSlicedImagingExtractor) and parent._times is None and parent._fs_override is None:
            start, end = start + parent._start, end + parent._start
            parent = parent._parent
        self._parent = parent
        self._start = start
        self._end = end
        self.source = parent.source

    @property
    def is_volumetric(self) -> bool:  # type: ignore[override]
        return self._parent.is_volumetric

    def get_image_shape(self) -> tuple[int, int]:
        return self._parent.get_image_shape()

    def get_num_planes(self) -> int:
        return self._parent.get_num_planes()

    def get_num_samples(self) -> int:
        return self._end - self._start

    def get_sampling_frequency(self) -> float | None:
        return self._parent.get_sampling_frequency()

    def get_dtype(self) -> np.dtype:
        return self._parent.get_dtype()

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return self._parent._read_checked(start + self._start, end + self._start)

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        return self._parent._read_samples_checked(indices + self._start)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return self._parent.get_native_timestamps(start + self._start, end + self._start)

    def _fallback_timestamps(self, start: int, end: int) -> np.ndarray:
        return self._view_timestamps(self._parent, start, end, self._start)

    def has_time_vector(self) -> bool:
        return self._times is not None or self._parent.has_time_vector()

    def _describe(self) -> str:
        return (
            f"{super()._describe()}; samples {self._start}:{self._end} of "
            f"{type(self._parent).__name__}"
        )


class PlaneImagingExtractor(ImagingExtractor):
    """A lazy planar view of one plane of a volumetric extractor.

    Made by :meth:`ImagingExtractor.select_plane`; equals ``parent[..., plane]``.

    Parameters
    ----------
    parent : ImagingExtractor
        A volumetric extractor.
    plane_index : int
        ``0 <= plane_index < parent.get_num_planes()``.
    """

    is_volumetric = False

    def __init__(self, parent: ImagingExtractor, plane_index: int) -> None:
        if not isinstance(parent, ImagingExtractor):
            raise TypeError(f"parent must be an ImagingExtractor, not {type(parent).__name__}")
        if not parent.is_volumetric:
            raise UnsupportedFeatureError(
                f"{type(parent).__name__} is not volumetric; it has no planes to select"
            )
        plane = _as_int(plane_index, "plane_index")
        if not 0 <= plane < parent.get_num_planes():
            raise IndexError(
                f"plane_index={plane} is out of range: need "
                f"0 <= plane_index < {parent.get_num_planes()}"
            )
        self._parent = parent
        self._plane = plane
        self.source = parent.source

    def get_image_shape(self) -> tuple[int, int]:
        return self._parent.get_image_shape()

    def get_num_samples(self) -> int:
        return self._parent.get_num_samples()

    def get_sampling_frequency(self) -> float | None:
        return self._parent.get_sampling_frequency()

    def get_dtype(self) -> np.dtype:
        return self._parent.get_dtype()

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return self._parent._read_checked(start, end)[..., self._plane]

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        return self._parent._read_samples_checked(indices)[..., self._plane]

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return self._parent.get_native_timestamps(start, end)

    def _fallback_timestamps(self, start: int, end: int) -> np.ndarray:
        return self._view_timestamps(self._parent, start, end, 0)

    def has_time_vector(self) -> bool:
        return self._times is not None or self._parent.has_time_vector()

    def _describe(self) -> str:
        return f"{super()._describe()}; plane {self._plane} of {type(self._parent).__name__}"
