"""A view of a video that reports the frames read on a progress bar (used by ``roicore convert``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from roicore.imaging import ImagingExtractor, SampleSlicedImagingExtractor

__all__ = ["ProgressImaging"]


class ProgressImaging(SampleSlicedImagingExtractor):
    """A whole-video view of an imaging extractor that counts the frames read on a progress bar.

    Writers read their input through the imaging contract, so wrapping the
    input shows their progress without the writer knowing about it.
    """

    def __init__(self, parent: ImagingExtractor, bar: Any) -> None:
        super().__init__(parent)
        self._bar = bar

    def _read_series(self, start: int, end: int) -> np.ndarray:
        block = super()._read_series(start, end)
        self._bar.update(end - start)
        return block
