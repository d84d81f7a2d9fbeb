"""hdmf data-chunk iterators streaming roicore extractors into NWB datasets with bounded memory.

Each iterator reads whole time blocks from the extractor (frames for a video,
samples for traces, ROI blocks for image masks), so a write holds one buffer
in memory at a time, never the whole dataset.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

from roicore_nwb.arrays import swap_rows_columns

__all__ = ["VideoChunkIterator", "TraceChunkIterator", "ImageMaskIterator", "plan_chunks"]

#: default target size of one HDF5 chunk (hdmf recommends 2-16 MB)
CHUNK_BYTES = 8 * 2**20
#: default target size of one read buffer
BUFFER_BYTES = 64 * 2**20


def plan_chunks(length: int, row_bytes: int, chunk_rows: int | None, buffer_bytes: int | None) -> tuple[int, int]:
    """``(chunk, buffer)`` lengths along the first axis: the chunk about CHUNK_BYTES, the buffer a multiple of it."""
    length = max(1, length)
    row_bytes = max(1, row_bytes)
    chunk = chunk_rows if chunk_rows is not None else max(1, CHUNK_BYTES // row_bytes)
    chunk = int(min(max(1, chunk), length))
    per_buffer = max(1, (buffer_bytes or BUFFER_BYTES) // (chunk * row_bytes))
    buffer = int(min(chunk * per_buffer, length))
    if buffer != length and buffer % chunk:
        buffer = chunk * max(1, buffer // chunk)
    return chunk, buffer


class _Progressive(GenericDataChunkIterator):
    """A GenericDataChunkIterator counting progress on a roicore bar; the bar closes when the data is done."""

    _bar: Any = None
    _done: int = 0

    def _advance(self, amount: int) -> None:
        if self._bar is None:
            return
        self._bar.update(amount)
        self._done += amount
        if self._done >= self._get_maxshape()[0]:
            self._bar.close()


class VideoChunkIterator(_Progressive):
    """A video ``(time, rows, columns[, planes])`` as NWB's ``(time, x = columns, y = rows[, z])``.

    Parameters
    ----------
    imaging : ImagingExtractor
    chunk_frames : int, optional
        Frames per HDF5 chunk (whole frames); about 8 MiB by default.
    buffer_bytes : int, optional
        Bytes read from the extractor at a time (a multiple of the chunk); 64 MiB by default.
    bar : progress bar, optional
        Gets ``update(frames)`` after each buffer.
    """

    def __init__(self, imaging: Any, *, chunk_frames: int | None = None, buffer_bytes: int | None = None, bar: Any = None) -> None:
        self._imaging = imaging
        self._bar = bar
        sample = tuple(int(v) for v in imaging.get_sample_shape())
        self._stored = (int(imaging.get_num_samples()), sample[1], sample[0]) + sample[2:]
        frame_bytes = math.prod(sample) * np.dtype(imaging.get_dtype()).itemsize
        chunk, buffer = plan_chunks(self._stored[0], frame_bytes, chunk_frames, buffer_bytes)
        super().__init__(chunk_shape=(chunk,) + self._stored[1:], buffer_shape=(buffer,) + self._stored[1:], display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        time = selection[0]
        block = swap_rows_columns(self._imaging.get_series(time.start, time.stop))
        self._advance(time.stop - time.start)
        if all(part == slice(0, size) for part, size in zip(selection[1:], block.shape[1:])):
            return block
        return np.ascontiguousarray(block[(slice(None),) + tuple(selection[1:])])

    def _get_maxshape(self) -> tuple[int, ...]:
        return self._stored

    def _get_dtype(self) -> np.dtype:
        return np.dtype(self._imaging.get_dtype())


class TraceChunkIterator(_Progressive):
    """Traces ``name`` of ``roi_ids`` as a ``(time, rois)`` dataset, read a window of samples at a time."""

    def __init__(self, segmentation: Any, name: str, roi_ids: list[Any], *, chunk_samples: int | None = None,
                 buffer_bytes: int | None = None, dtype: Any = None, bar: Any = None) -> None:
        self._segmentation = segmentation
        self._name = name
        self._ids = list(roi_ids)
        every = segmentation.get_background_ids() if name == "background" else segmentation.get_roi_ids()
        self._all = self._ids == list(every)  # then reads ask for all ids (None): no id lookup per window
        self._bar = bar
        first = segmentation.get_traces(self._ids, 0, min(1, segmentation.get_num_samples()), name=name)
        self._dtype = np.dtype(dtype or first.dtype)
        self._shape = (int(segmentation.get_num_samples()), len(self._ids))
        chunk, buffer = plan_chunks(self._shape[0], max(1, self._shape[1]) * self._dtype.itemsize, chunk_samples, buffer_bytes)
        super().__init__(chunk_shape=(chunk, max(1, self._shape[1])), buffer_shape=(buffer, max(1, self._shape[1])),
                         display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        time, rois = selection
        ids = None if self._all and rois.start in (0, None) and rois.stop >= len(self._ids) else self._ids[rois]
        block = self._segmentation.get_traces(ids, time.start, time.stop, name=self._name)
        self._advance(time.stop - time.start)
        return block.astype(self._dtype, copy=False)

    def _get_maxshape(self) -> tuple[int, int]:
        return self._shape

    def _get_dtype(self) -> np.dtype:
        return self._dtype


class ImageMaskIterator(_Progressive):
    """Masks (a RoiMasks) as NWB ``image_mask`` ``(rois, x = columns, y = rows)``, a block of ROIs at a time."""

    def __init__(self, masks: Any, *, dtype: Any = np.float64, buffer_bytes: int | None = None) -> None:
        self._masks = masks
        rows, columns = masks.frame_shape
        self._dtype = np.dtype(dtype)
        self._shape = (int(masks.num_rois), columns, rows)
        chunk, buffer = plan_chunks(self._shape[0], rows * columns * self._dtype.itemsize, None, buffer_bytes)
        super().__init__(chunk_shape=(chunk, columns, rows), buffer_shape=(buffer, columns, rows), display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        first = selection[0]
        dense = self._masks.to_image_masks(np.arange(first.start, first.stop))  # (rows, columns, n)
        stored = dense.transpose(2, 1, 0).astype(self._dtype, copy=False)
        return np.ascontiguousarray(stored[(slice(None),) + tuple(selection[1:])])

    def _get_maxshape(self) -> tuple[int, int, int]:
        return self._shape

    def _get_dtype(self) -> np.dtype:
        return self._dtype
