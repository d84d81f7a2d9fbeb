"""In-memory reference extractors, backed by numpy arrays.

They are the simplest complete implementations of the reader hooks, used by
tests, by :func:`roicore.extract` results and by anyone holding arrays.

Examples
--------
>>> import numpy as np
>>> from roicore.memory import NumpySegmentationExtractor
>>> masks = np.zeros((4, 5, 2), dtype=bool)
>>> masks[0, 0, 0] = masks[3, 4, 1] = True
>>> seg = NumpySegmentationExtractor(masks, 30.0, traces={"raw": np.ones((10, 2))})
>>> seg.get_traces(roi_ids=[1], start_sample=2, end_sample=4).shape
(2, 1)
>>> seg.get_roi_pixel_masks([1])[0]
array([[3., 4., 1.]])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from roicore._base import _check_finite_positive, _resolve_range
from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor
from roicore.segmentation import RoiMasks, SegmentationExtractor

__all__ = ["NumpyImagingExtractor", "NumpySegmentationExtractor"]


def _load_npy(path: Path) -> np.ndarray:
    """Memory-map a .npy file read-only (FileNotFoundError / CorruptFileError / ValueError)."""
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {str(path)!r}") from None
    except (ValueError, OSError, EOFError) as error:
        raise CorruptFileError(
            f"{path}: not a valid .npy array file ({error})", path=path
        ) from None
    if not isinstance(data, np.ndarray):
        data.close()  # an .npz archive
        raise ValueError(f"{path} is an .npz archive; give the path of a .npy file")
    return data


def _optional_rate(value: Any) -> float | None:
    return None if value is None else _check_finite_positive(value, "sampling_frequency")


class NumpyImagingExtractor(ImagingExtractor):
    """An imaging extractor over a numpy array or a ``.npy`` file.

    Parameters
    ----------
    timeseries : array_like or str or os.PathLike
        ``(time, rows, columns)``, or ``(time, rows, columns, planes)`` with
        ``volumetric=True``. An array is kept, not copied (reads return
        copies). A path names a ``.npy`` file, memory-mapped read-only; the
        extractor then pickles by path.
    sampling_frequency : float or None
        In Hz, finite and > 0; None when unknown (time-based calls then raise
        :class:`~roicore.errors.UnknownSamplingFrequencyError`).
    volumetric : bool
        The fourth axis holds planes.

    Raises
    ------
    ValueError
        Wrong number of dimensions (a 4-D array needs ``volumetric=True``), an
        empty frame, a non-numeric dtype or a bad sampling frequency.
    FileNotFoundError, CorruptFileError
        A path that does not exist, or is not a ``.npy`` array.
    """

    def __init__(
        self, timeseries: Any, sampling_frequency: float | None, *, volumetric: bool = False
    ) -> None:
        if not isinstance(volumetric, (bool, np.bool_)):
            raise TypeError(f"volumetric must be a bool, not {type(volumetric).__name__}")
        self._fs = _optional_rate(sampling_frequency)
        if isinstance(timeseries, (str, os.PathLike)):
            data = _load_npy(Path(timeseries))
        else:
            data = np.asarray(timeseries)
        expected = 4 if volumetric else 3
        if data.ndim != expected:
            if data.ndim == 4 and not volumetric:
                raise ValueError(
                    "timeseries is 4-D; if its last axis holds planes "
                    "(time, rows, columns, planes), pass volumetric=True"
                )
            layout = "(time, rows, columns, planes)" if volumetric else "(time, rows, columns)"
            raise ValueError(f"timeseries must be {expected}-D {layout}, got shape {data.shape}")
        if data.dtype.kind not in "biuf":
            raise ValueError(f"timeseries must hold numbers, not {data.dtype}")
        if 0 in data.shape[1:]:
            raise ValueError(f"timeseries has an empty sample shape: {data.shape}")
        self._data: np.ndarray | None = data
        self._shape = tuple(int(d) for d in data.shape)
        self._dtype = data.dtype
        self.is_volumetric = bool(volumetric)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._shape[1], self._shape[2])

    def get_num_planes(self) -> int:
        return self._shape[3] if self.is_volumetric else 1

    def get_num_samples(self) -> int:
        return self._shape[0]

    def get_sampling_frequency(self) -> float | None:
        return self._fs

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def _read_series(self, start: int, end: int) -> np.ndarray:
        assert self._data is not None  # the base refuses reads after close()
        return self._data[start:end]

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        assert self._data is not None
        return self._data[indices]

    def _close(self) -> None:
        # dropping the last reference unmaps a memory-mapped file
        self._data = None


def _as_masks(value: Any, frame_shape: tuple[int, int] | None, what: str) -> RoiMasks:
    """RoiMasks from RoiMasks, a sparse matrix, image masks or a list of pixel masks."""
    from scipy import sparse

    if isinstance(value, RoiMasks):
        masks = value
    elif sparse.issparse(value) or isinstance(value, (list, tuple)):
        if frame_shape is None:
            kind = "a sparse matrix" if sparse.issparse(value) else "pixel masks"
            raise ValueError(
                f"{what} given as {kind} need the frame shape: pass frame_shape= "
                "or an image in images="
            )
        if sparse.issparse(value):
            masks = RoiMasks.from_sparse(value, frame_shape)
        else:
            masks = RoiMasks.from_pixel_masks(value, frame_shape)
    else:
        arr = np.asarray(value)
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"{what} must be RoiMasks, a sparse matrix, pixel masks or image masks "
                f"(rows, columns, n) or (rows, columns, planes, n); got an array of shape {arr.shape}"
            )
        masks = RoiMasks.from_image_masks(arr)
    if frame_shape is not None and masks.frame_shape != tuple(frame_shape):
        raise ValueError(
            f"{what} are on a {masks.frame_shape} frame, expected {tuple(frame_shape)}"
        )
    return masks


def _needs_frame_shape(value: Any) -> bool:
    """True for mask inputs that do not carry the frame shape (sparse, pixel masks)."""
    from scipy import sparse

    return sparse.issparse(value) or isinstance(value, (list, tuple))


def _check_ids(ids: Any, count: int, what: str) -> list[Any]:
    if ids is None:
        return list(range(count))
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{what} must be a list of ids, not a string")
    values = list(ids)
    if set(map(type, values)) <= {int, str}:  # the common case, checked without a Python loop per id
        result = values
    else:
        result = [_check_id(value, what) for value in values]
    if len(result) != count:
        raise ValueError(f"{what} has {len(result)} ids for {count} masks")
    if len(set(result)) != count:
        raise ValueError(f"{what} repeats an id")
    return result


def _check_id(value: Any, what: str) -> int | str:
    """One id as a plain int or str (numpy scalars converted); bools and other types refused."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be ints or strs, not bool ({value!r})")
    if isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.str_):
        value = str(value)
    if not isinstance(value, (int, str)):
        raise ValueError(f"{what} must be ints or strs, not {type(value).__name__}")
    return value


def _check_traces(arr: Any, what: str, columns: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 2-D (time, n), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, not {arr.dtype}")
    if arr.shape[1] != columns:
        raise ValueError(f"{what} has {arr.shape[1]} columns for {columns} components")
    return arr


class NumpySegmentationExtractor(SegmentationExtractor):
    """A segmentation extractor over in-memory masks, traces and images.

    Parameters
    ----------
    roi_masks : RoiMasks, scipy sparse matrix, array or list
        The ROI masks: RoiMasks; a sparse ``(rows * columns, n)`` matrix in
        pixel C order or a list of ``(k, 3)`` pixel masks (both need the frame
        shape from ``frame_shape`` or ``images``); or image masks
        ``(rows, columns, n)``. Volumetric masks (on ``(rows, columns,
        planes)``, image masks ``(rows, columns, planes, n)``, pixel masks
        ``(k, 4)``) make a volumetric extractor.
    sampling_frequency : float or None
        In Hz, finite and > 0; None when unknown.
    traces : dict of str to array_like, optional
        ``(time, n)`` traces by name ("raw", "dff", ...). Not "background".
    roi_ids : list, optional
        Unique ints or strs, default ``list(range(n))``.
    images : dict of str to array_like, optional
        Summary images ``(rows, columns)`` by name (``(rows, columns, planes)`` if volumetric).
    properties : dict of str to array_like, optional
        Per-ROI values, in ROI order (see :meth:`~roicore.SegmentationExtractor.set_property`).
    background_masks : same kinds as roi_masks, optional
    background_traces : array_like, optional
        ``(time, num_background)``; exposed as traces ``"background"``.
    background_ids : list, optional
        Default ``list(range(num_background))``.
    num_samples : int, optional
        Required when there are no traces; else must match them.
    timestamps : array_like, optional
        Native timestamps (seconds), one per sample, non-decreasing.
    frame_shape : tuple of int, optional
        ``(rows, columns)``, or ``(rows, columns, planes)``, for masks that do not carry it.

    Raises
    ------
    ValueError
        Any shape, count or value that does not fit the others.
    """

    def __init__(
        self,
        roi_masks: Any,
        sampling_frequency: float | None,
        *,
        traces: Mapping[str, Any] | None = None,
        roi_ids: Any = None,
        images: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        background_masks: Any = None,
        background_traces: Any = None,
        background_ids: Any = None,
        num_samples: int | None = None,
        timestamps: Any = None,
        frame_shape: Any = None,
    ) -> None:
        self._fs = _optional_rate(sampling_frequency)

        image_dict: dict[str, np.ndarray] = {}
        for name, image in _mapping(images, "images").items():
            arr = np.asarray(image)
            if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
                raise ValueError(
                    f"image {name!r} must be a 2-D (or, volumetric, 3-D) numeric array, "
                    f"got {arr.dtype} {arr.shape}"
                )
            image_dict[str(name)] = arr
        if frame_shape is not None:
            masks = _as_masks(roi_masks, tuple(frame_shape), "roi_masks")
        elif image_dict and _needs_frame_shape(roi_masks):
            # sparse or pixel masks do not say how large the frame is; an image does
            masks = _as_masks(roi_masks, next(iter(image_dict.values())).shape, "roi_masks")
        else:
            masks = _as_masks(roi_masks, None, "roi_masks")
        frame = masks.frame_shape
        for name, arr in image_dict.items():
            if arr.shape != frame:
                raise ValueError(f"image {name!r} has shape {arr.shape}, the frame is {frame}")
        n = masks.num_rois
        ids = _check_ids(roi_ids, n, "roi_ids")

        trace_dict: dict[str, np.ndarray] = {}
        for name, values in _mapping(traces, "traces").items():
            if not isinstance(name, str):
                raise ValueError(f"trace names must be str, not {type(name).__name__}")
            if name == "background":
                raise ValueError("give background traces as background_traces=, not in traces")
            trace_dict[name] = _check_traces(values, f"traces[{name!r}]", n)

        bg_masks = None if background_masks is None else _as_masks(
            background_masks, frame, "background_masks"
        )
        bg_traces = None
        if background_traces is not None:
            arr = np.asarray(background_traces)
            if bg_masks is not None:
                columns = bg_masks.num_rois
            else:
                columns = arr.shape[1] if arr.ndim == 2 else -1
            bg_traces = _check_traces(arr, "background_traces", columns)
        if background_ids is not None and not isinstance(background_ids, (str, bytes)):
            background_ids = list(background_ids)
        if bg_masks is not None:
            num_background = bg_masks.num_rois
        elif bg_traces is not None:
            num_background = bg_traces.shape[1]
        else:
            num_background = len(background_ids) if background_ids is not None else 0
        bg_ids = _check_ids(background_ids, num_background, "background_ids")

        lengths = {name: arr.shape[0] for name, arr in trace_dict.items()}
        if bg_traces is not None:
            lengths["background"] = bg_traces.shape[0]
        if len(set(lengths.values())) > 1:
            raise ValueError(f"traces differ in length (samples): {lengths}")
        if num_samples is not None:
            if isinstance(num_samples, (bool, np.bool_)) or not isinstance(
                num_samples, (int, np.integer)
            ) or num_samples < 0:
                raise ValueError(f"num_samples must be an integer >= 0, not {num_samples!r}")
            if lengths and int(num_samples) != next(iter(lengths.values())):
                raise ValueError(
                    f"num_samples={num_samples} but the traces have "
                    f"{next(iter(lengths.values()))} samples"
                )
            total = int(num_samples)
        elif lengths:
            total = next(iter(lengths.values()))
        else:
            raise ValueError("without traces, num_samples= is required")

        native = None
        if timestamps is not None:
            native = np.array(timestamps, dtype=np.float64, copy=True)
            if native.shape != (total,):
                raise ValueError(
                    f"timestamps must be 1-D with {total} values, got shape {native.shape}"
                )
            if not np.all(np.isfinite(native)) or np.any(np.diff(native) < 0):
                raise ValueError("timestamps must be finite and non-decreasing")

        self._masks_in = masks
        self._roi_ids = ids
        self._trace_dict = trace_dict
        self._images = image_dict
        self._bg_masks = bg_masks
        self._bg_traces = bg_traces
        self._bg_ids = bg_ids
        self._num_samples = total
        self._native = native
        for key, values in _mapping(properties, "properties").items():
            self.set_property(key, values)

    def get_roi_ids(self) -> list[Any]:
        return list(self._roi_ids)

    def get_frame_shape(self) -> tuple[int, int]:
        rows, columns = self._masks_in.frame_shape[:2]
        return (rows, columns)

    @property
    def is_volumetric(self) -> bool:  # type: ignore[override]
        return self._masks_in.is_volumetric

    def get_num_planes(self) -> int:
        return self._masks_in.num_planes

    def get_num_samples(self) -> int:
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:
        return self._fs

    def get_trace_names(self) -> list[str]:
        names = list(self._trace_dict)
        if self._bg_traces is not None:
            names.append("background")
        return names

    def _get_roi_masks(self) -> RoiMasks:
        return self._masks_in

    def _read_traces(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        source = self._bg_traces if name == "background" else self._trace_dict[name]
        assert source is not None  # the base only asks for names that exist
        if positions.size == source.shape[1]:  # sorted and unique, so every ROI: a view, which the base copies once
            return source[start:end]
        # np.take allocates an array it owns, so the base keeps it as is; fancy indexing returns a
        # transposed view of its buffer, which the base would copy a second time
        return np.take(source[start:end], positions, axis=1)

    def get_background_ids(self) -> list[Any]:
        return list(self._bg_ids)

    def _get_background_masks(self) -> RoiMasks | None:
        return self._bg_masks

    def get_images_dict(self) -> dict[str, np.ndarray]:
        return {name: image.copy() for name, image in self._images.items()}

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        if self._native is None:
            return None
        start, end = _resolve_range(start_sample, end_sample, self._num_samples)
        return self._native[start:end].copy()


def _mapping(value: Any, what: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    return value
