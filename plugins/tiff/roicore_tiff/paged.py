"""The imaging extractor shared by the ``tiff`` and ``scanimage`` readers: a layout over pages.

A reader parses its format into a :class:`~roicore_tiff.pages.PageSequence`
(the files' pages end to end) and a :class:`~roicore_tiff.layout.FrameLayout`
(where sample, plane and channel sit among them), then calls
:meth:`PagedImagingExtractor._init_pages`. Reads turn sample indices into page
indices and read only those pages.
"""

from __future__ import annotations

import math
import operator
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor

from roicore_tiff.layout import FrameLayout
from roicore_tiff.pages import PageSequence

__all__ = ["PagedImagingExtractor", "check_rate", "resolve_index", "sample_window"]


def check_rate(value: Any) -> float | None:
    """A ``sampling_frequency=`` argument as a float (None stays None).

    Raises
    ------
    ValueError
        Not a finite number > 0.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"sampling_frequency must be a finite number > 0, not {value!r}")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"sampling_frequency must be a finite number > 0, not {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"sampling_frequency must be a finite number > 0, not {value!r}")
    return rate


def sample_window(start: Any, end: Any, n: int) -> tuple[int, int]:
    """``(start, end)`` of a timestamp window, None meaning the ends; IndexError outside ``0 <= start <= end <= n``."""
    first = 0 if start is None else operator.index(start)
    last = n if end is None else operator.index(end)
    if not 0 <= first <= last <= n:
        raise IndexError(
            f"start_sample={first} and end_sample={last} are out of range: need 0 <= start_sample <= end_sample <= {n}"
        )
    return int(first), int(last)


def resolve_index(value: Any, size: int, what: str, path: Path, names: list[str] | None = None) -> int:
    """A ``channel=``/``plane=`` argument as an index in ``[0, size)``; names select channels.

    Raises
    ------
    TypeError
        Neither an integer nor (with names) a string.
    IndexError
        Out of range (the message gives the range).
    KeyError
        An unknown name (the message lists the names).
    """
    if isinstance(value, str):
        if not names or value not in names:
            raise KeyError(f"{path}: no {what} named {value!r}; {what} names: {names or 'none (the file names none)'}")
        return names.index(value)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer index, not a bool ({value!r})")
    try:
        index = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer index{' or a name' if names else ''}, not {value!r}") from None
    if not 0 <= index < size:
        raise IndexError(f"{path}: {what}={index} is out of range: the file has {size} {what}(s), need 0 <= {what} < {size}")
    return int(index)


class PagedImagingExtractor(ImagingExtractor):
    """A video whose samples are pages (or volumes of pages) of TIFF files."""

    _pages: PageSequence
    _layout: FrameLayout
    _channel: int
    _planes: list[int]
    _rate: float | None
    _channel_names: list[str] | None
    _name: str

    def _init_pages(
        self,
        pages: PageSequence,
        layout: FrameLayout,
        *,
        name: str,
        channel: Any = 0,
        plane: Any = None,
        rate: float | None = None,
        channel_names: list[str] | None = None,
    ) -> None:
        """Validate the layout against the pages and select one channel and all planes or one.

        Raises
        ------
        CorruptFileError
            The layout addresses pages the files do not have, or no complete sample.
        """
        path = pages.files[0].path
        self._pages = pages
        if layout.samples < 1:
            raise CorruptFileError(
                f"{name}: {pages.count} page(s) do not make one complete sample of {layout.planes} plane(s) x "
                f"{layout.channels} channel(s)",
                path=path,
            )
        if layout.last_page() >= pages.count:
            raise CorruptFileError(
                f"{name}: the metadata describe {layout.samples} samples x {layout.planes} planes x "
                f"{layout.channels} channels (up to page {layout.last_page()}), but the file(s) hold {pages.count} "
                "pages: truncated, or the metadata are wrong",
                path=path,
            )
        self._layout = layout
        self._channel_names = channel_names if channel_names and len(channel_names) == layout.channels else None
        self._channel = resolve_index(channel, layout.channels, "channel", path, self._channel_names)
        if plane is None:
            self._planes = list(range(layout.planes))
            self.is_volumetric = layout.planes > 1
        else:
            self._planes = [resolve_index(plane, layout.planes, "plane", path)]
            self.is_volumetric = False
        self._rate = rate
        self._name = name

    # -- metadata ---------------------------------------------------------------------------------
    def get_image_shape(self) -> tuple[int, int]:
        rows, columns = self._pages.frame_shape
        return (int(rows), int(columns))

    def get_num_planes(self) -> int:
        return len(self._planes) if self.is_volumetric else 1

    def get_num_samples(self) -> int:
        return int(self._layout.samples)

    def get_sampling_frequency(self) -> float | None:  # type: ignore[override]
        return self._rate

    def get_dtype(self) -> np.dtype:
        return self._pages.dtype

    def get_num_channels(self) -> int:
        """Channels in the file (this extractor reads one of them)."""
        return int(self._layout.channels)

    def get_channel_names(self) -> list[str] | None:
        """The file's channel names, when it stores them."""
        return None if self._channel_names is None else list(self._channel_names)

    @property
    def channel(self) -> int:
        """Index of the channel this extractor reads."""
        return self._channel

    @property
    def file_paths(self) -> list[Path]:
        """The files read, in order."""
        return [pages.path for pages in self._pages.files]

    @property
    def layout(self) -> FrameLayout:
        """Where each sample, plane and channel sits among the pages."""
        return self._layout

    def page_indices(self, samples: np.ndarray) -> np.ndarray:
        """Global page indices ``(len(samples), planes)`` of the selected channel and planes."""
        return self._layout.pages(samples, self._channel, self._planes)

    # -- reads ------------------------------------------------------------------------------------
    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        table = self.page_indices(indices)
        block = self._pages.read(table.reshape(-1))
        rows, columns = self._pages.frame_shape
        if not self.is_volumetric:
            return block
        volume = block.reshape(len(indices), len(self._planes), rows, columns)
        return np.ascontiguousarray(volume.transpose(0, 2, 3, 1))

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return self._read_samples(np.arange(start, end, dtype=np.int64))

    def _close(self) -> None:
        self._pages.close()

    def _describe(self) -> str:
        dims = " x ".join(str(d) for d in self.get_sample_shape())
        rate = "unknown rate" if self._rate is None else f"{self._rate:g} Hz"
        channel = f", channel {self._channel} of {self._layout.channels}" if self._layout.channels > 1 else ""
        return f"{self._name}: {self.get_num_samples()} samples x {dims}, {self.dtype}, {rate}{channel}"
