"""Array helpers shared by the reader and the writer (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["swap_rows_columns"]


def swap_rows_columns(block: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``block`` (time, a, b[, c]) as (time, b, a[, c]).

    One frame at a time, so that each frame's transpose stays in the CPU cache
    instead of one strided copy of the whole block.
    """
    out = np.empty((block.shape[0], block.shape[2], block.shape[1]) + block.shape[3:], dtype=block.dtype)
    axes = (1, 0) + tuple(range(2, block.ndim - 1))
    for index in range(block.shape[0]):
        out[index] = block[index].transpose(axes)
    return out
