"""Several videos as one: back to back in time (:func:`concatenate`), or as the planes of a volume (:func:`stack_planes`).

Both are lazy: nothing is read when they are made, and a read goes to the
parts that hold the samples asked for. They are what roiextractors calls
``MultiImagingExtractor`` and ``PlanarStackImagingExtractor``.
:func:`open_many` backs ``roicore.open`` of several paths or a glob pattern.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roicore._base import _resolve_range
from roicore.imaging import ImagingExtractor

__all__ = ["concatenate", "stack_planes", "ConcatenatedImagingExtractor", "PlaneStackImagingExtractor", "open_many"]


def _parts(extractors: Any, what: str) -> list[ImagingExtractor]:
    if isinstance(extractors, ImagingExtractor) or not isinstance(extractors, Sequence):
        raise TypeError(f"{what} takes a list of imaging extractors, not {type(extractors).__name__}")
    parts = list(extractors)
    if not parts:
        raise ValueError(f"{what} needs at least one extractor")
    for position, part in enumerate(parts):
        if not isinstance(part, ImagingExtractor):
            raise TypeError(f"{what}: item {position} is a {type(part).__name__}, not an ImagingExtractor")
    return parts


def _name(part: ImagingExtractor, position: int) -> str:
    return f"item {position} ({part._source_name()})"


def _same_rate(parts: list[ImagingExtractor], what: str) -> float | None:
    rates = [part.get_sampling_frequency() for part in parts]
    first = rates[0]
    for position, rate in enumerate(rates[1:], start=1):
        same = (rate is None and first is None) or (
            rate is not None and first is not None and math.isclose(rate, first, rel_tol=1e-9)
        )
        if not same:
            raise ValueError(
                f"{what}: {_name(parts[position], position)} runs at {rate} Hz, item 0 at {first} Hz; "
                "give them the same rate (set_sampling_frequency) first"
            )
    return first


def _same_samples(parts: list[ImagingExtractor], what: str, *, planes: bool) -> None:
    first = parts[0]
    for position, part in enumerate(parts[1:], start=1):
        if planes and part.is_volumetric:
            raise ValueError(f"{what}: {_name(part, position)} is volumetric; give planar videos (select_plane)")
        if part.get_sample_shape() != first.get_sample_shape():
            raise ValueError(
                f"{what}: {_name(part, position)} has samples of shape {part.get_sample_shape()}, "
                f"item 0 {first.get_sample_shape()}"
            )
        if part.dtype != first.dtype:
            raise ValueError(f"{what}: {_name(part, position)} is {part.dtype}, item 0 is {first.dtype}")
    if planes and first.is_volumetric:
        raise ValueError(f"{what}: {_name(first, 0)} is volumetric; give planar videos (select_plane)")


class ConcatenatedImagingExtractor(ImagingExtractor):
    """Imaging extractors back to back in time (made by :func:`roicore.concatenate`).

    Sample ``i`` of part ``k`` is sample ``offset[k] + i`` here. Timestamps:
    without any time vector, ``arange(n) / fs`` over the whole; when a part
    has one (native or set), each part keeps its own times and a part without
    continues from the previous part's last time at the common rate.

    Parameters
    ----------
    extractors : list of ImagingExtractor
        Same sample shape, dtype, volumetric flag and rate (or all None).
    """

    def __init__(self, extractors: Sequence[ImagingExtractor], *, _owns_parts: bool = False) -> None:
        parts = _parts(extractors, "concatenate")
        _same_samples(parts, "concatenate", planes=False)
        self._fs = _same_rate(parts, "concatenate")
        self._parts = parts
        self._owns_parts = _owns_parts
        counts = [int(part.get_num_samples()) for part in parts]
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.is_volumetric = parts[0].is_volumetric
        self.source = parts[0].source

    @property
    def parts(self) -> list[ImagingExtractor]:
        """The concatenated extractors, in order."""
        return list(self._parts)

    def get_image_shape(self) -> tuple[int, int]:
        return self._parts[0].get_image_shape()

    def get_num_planes(self) -> int:
        return self._parts[0].get_num_planes()

    def get_num_samples(self) -> int:
        return int(self._offsets[-1])

    def get_sampling_frequency(self) -> float | None:
        return self._fs

    def get_dtype(self) -> np.dtype:
        return self._parts[0].dtype

    def _pieces(self, start: int, end: int) -> list[tuple[ImagingExtractor, int, int]]:
        """(part, start, end) in the part's samples, for the samples ``[start, end)`` here."""
        first = int(np.searchsorted(self._offsets, start, side="right")) - 1
        pieces = []
        for k in range(first, len(self._parts)):
            lo, hi = int(self._offsets[k]), int(self._offsets[k + 1])
            if lo >= end:
                break
            a, b = max(start, lo) - lo, min(end, hi) - lo
            if b > a:
                pieces.append((self._parts[k], a, b))
        return pieces

    def _read_series(self, start: int, end: int) -> np.ndarray:
        blocks = [part._read_checked(a, b) for part, a, b in self._pieces(start, end)]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        owner = np.searchsorted(self._offsets, indices, side="right") - 1
        blocks = []
        for k in np.unique(owner):
            local = indices[owner == k] - self._offsets[k]
            blocks.append(self._parts[int(k)]._read_samples_checked(local.astype(np.intp)))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def _all_times(self) -> np.ndarray | None:
        if not any(part.has_time_vector() for part in self._parts):
            return None
        pieces: list[np.ndarray] = []
        last: float | None = None
        for position, part in enumerate(self._parts):
            n = part.get_num_samples()
            if part.has_time_vector():
                times = part.get_timestamps()
            else:
                fs = self.require_sampling_frequency(f"continuing the timestamps of {_name(part, position)}")
                begin = 0.0 if last is None else last + 1.0 / fs
                times = begin + np.arange(n, dtype=np.float64) / fs
            if last is not None and times.size and times[0] < last:
                raise ValueError(
                    f"concatenate: {_name(part, position)} starts at {times[0]} s, before the previous part "
                    f"ends ({last} s); the times must not go back"
                )
            if times.size:
                last = float(times[-1])
            pieces.append(times)
        return np.concatenate(pieces)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        times = self._all_times()
        return None if times is None else times[start:end]

    def _close(self) -> None:
        if self._owns_parts:
            for part in self._parts:
                part.close()

    def _describe(self) -> str:
        return f"{super()._describe()}; {len(self._parts)} parts back to back"


class PlaneStackImagingExtractor(ImagingExtractor):
    """Planar videos of the same field as the planes of a volume (made by :func:`roicore.stack_planes`).

    ``x[..., k]`` is the ``k``-th video. Timestamps are the first video's.

    Parameters
    ----------
    extractors : list of ImagingExtractor
        Planar, with the same frame shape, dtype, number of samples and rate.
    """

    is_volumetric = True

    def __init__(self, extractors: Sequence[ImagingExtractor], *, _owns_parts: bool = False) -> None:
        parts = _parts(extractors, "stack_planes")
        _same_samples(parts, "stack_planes", planes=True)
        self._fs = _same_rate(parts, "stack_planes")
        counts = {int(part.get_num_samples()) for part in parts}
        if len(counts) > 1:
            raise ValueError(f"stack_planes: the videos have different numbers of samples: "
                             f"{[part.get_num_samples() for part in parts]}")
        self._parts = parts
        self._owns_parts = _owns_parts
        self.source = parts[0].source

    @property
    def parts(self) -> list[ImagingExtractor]:
        """The planes' extractors, in plane order."""
        return list(self._parts)

    def get_image_shape(self) -> tuple[int, int]:
        return self._parts[0].get_image_shape()

    def get_num_planes(self) -> int:
        return len(self._parts)

    def get_num_samples(self) -> int:
        return int(self._parts[0].get_num_samples())

    def get_sampling_frequency(self) -> float | None:
        return self._fs

    def get_dtype(self) -> np.dtype:
        return self._parts[0].dtype

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return np.stack([part._read_checked(start, end) for part in self._parts], axis=-1)

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([part._read_samples_checked(indices) for part in self._parts], axis=-1)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        first = self._parts[0]
        return first.get_timestamps(start, end) if first.has_time_vector() else None

    def _close(self) -> None:
        if self._owns_parts:
            for part in self._parts:
                part.close()

    def _describe(self) -> str:
        return f"{super()._describe()}; {len(self._parts)} planar videos stacked"


def concatenate(extractors: Sequence[ImagingExtractor]) -> ConcatenatedImagingExtractor:
    """Imaging extractors back to back in time, lazily (roiextractors' ``MultiImagingExtractor``).

    Parameters
    ----------
    extractors : list of ImagingExtractor
        Same sample shape, dtype and rate (or all without one). Closing the
        result leaves them open.

    Raises
    ------
    TypeError
        Not a list of imaging extractors.
    ValueError
        An empty list, or parts whose shapes, dtypes or rates differ (the
        message names the part).

    Examples
    --------
    >>> import numpy as np
    >>> from roicore.memory import NumpyImagingExtractor
    >>> a = NumpyImagingExtractor(np.zeros((3, 2, 2), np.uint8), 10.0)
    >>> b = NumpyImagingExtractor(np.ones((2, 2, 2), np.uint8), 10.0)
    >>> both = concatenate([a, b])
    >>> both.shape, both[2:4, 0, 0].tolist(), both.get_timestamps()[-1]
    ((5, 2, 2), [0, 1], 0.4)
    """
    return ConcatenatedImagingExtractor(extractors)


def stack_planes(extractors: Sequence[ImagingExtractor]) -> PlaneStackImagingExtractor:
    """Planar videos as the planes of one volumetric extractor, lazily.

    Parameters
    ----------
    extractors : list of ImagingExtractor
        Planar, same frame shape, dtype, number of samples and rate; plane ``k``
        is ``extractors[k]``. Closing the result leaves them open.

    Raises
    ------
    TypeError, ValueError
        As for :func:`concatenate`; also a volumetric input or different numbers of samples.
    """
    return PlaneStackImagingExtractor(extractors)


def _expand(paths: Any) -> list[Path]:
    """The paths a list of paths or a glob pattern names, sorted for a pattern."""
    if isinstance(paths, (str, os.PathLike)):
        pattern = os.fspath(paths)
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(2, "No file or folder matches the pattern", pattern)
        return [Path(match) for match in matches]
    expanded = [Path(os.fspath(p)) for p in paths]
    if not expanded:
        raise ValueError("roicore.open needs at least one path")
    return expanded


def is_many(path: Any) -> bool:
    """Whether ``roicore.open(path)`` means several paths: a list or tuple, or a glob pattern that is no path."""
    if isinstance(path, (list, tuple)):
        return True
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        return glob.has_magic(text) and not os.path.lexists(text)
    return False


def open_many(paths: Any, reader: str | None = None, kind: str | None = None, **reader_kwargs: Any) -> Any:
    """Open several videos (a list of paths or a glob pattern) as one, back to back in time.

    Each path is opened with the same arguments; the result owns them (closing
    it closes them). One path gives that extractor itself.

    Raises
    ------
    FileNotFoundError
        A pattern matches nothing, or a path does not exist.
    UnsupportedFeatureError
        Segmentations: only videos are concatenated.
    """
    from roicore.errors import UnsupportedFeatureError
    from roicore.registry.detection import open as open_one

    opened: list[Any] = []
    try:
        for path in _expand(paths):
            opened.append(open_one(path, reader=reader, kind=kind, **reader_kwargs))
        if len(opened) == 1:
            return opened[0]
        for extractor in opened:
            if not isinstance(extractor, ImagingExtractor):
                raise UnsupportedFeatureError(
                    f"{extractor._source_name()} is a segmentation; roicore.open of several paths "
                    "concatenates videos only"
                )
        return ConcatenatedImagingExtractor(opened, _owns_parts=True)
    except BaseException:
        for extractor in opened:
            extractor.close()
        raise
