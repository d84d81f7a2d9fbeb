"""suite2p's trace files (``F.npy``, ``Fneu.npy``, ``spks.npy``, ``*_chan2.npy``): ``(n_rois, n_frames)`` arrays.

The header is checked when the reader opens (shape, dtype, exact file size);
the data are memory-mapped on the first read, so a window of some ROIs
touches only those pages.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from roicore.errors import CorruptFileError
from roicore.safeload import NpyHeader, load_npy, read_npy_header

__all__ = ["TraceFile"]


class TraceFile:
    """One ``(n_rois, n_frames)`` numeric ``.npy`` file, mapped lazily.

    Parameters
    ----------
    path : Path
    num_rois : int
        The number of ROIs in ``stat.npy``; the file must have as many rows.

    Raises
    ------
    CorruptFileError
        Not a 2-D array of real numbers with ``num_rois`` rows, or a size that
        does not match its header; the message names the file.
    """

    def __init__(self, path: Path, num_rois: int) -> None:
        self.path = path
        header: NpyHeader = read_npy_header(path)
        if len(header.shape) != 2 or header.dtype.kind not in "iuf":
            raise CorruptFileError(
                f"{path}: expected a 2-D (rois, frames) array of numbers, found {header.dtype} {header.shape}", path=path
            )
        if header.shape[0] != num_rois:
            raise CorruptFileError(
                f"{path}: has {header.shape[0]} rows, but stat.npy lists {num_rois} ROIs", path=path
            )
        available = os.stat(path).st_size - header.data_offset
        if available != header.data_bytes:
            raise CorruptFileError(
                f"{path}: the header promises {header.data_bytes} bytes of data, the file holds {available}", path=path
            )
        self.num_frames = int(header.shape[1])
        self.dtype = header.dtype.newbyteorder("=") if header.dtype.byteorder not in ("=", "|") else header.dtype
        self._array: np.ndarray | None = None
        self._lock = threading.Lock()

    def _mapped(self) -> np.ndarray:
        array = self._array
        if array is None:
            with self._lock:
                if self._array is None:
                    try:
                        self._array = load_npy(self.path, mmap=True)
                    except (PermissionError, FileNotFoundError):
                        raise
                    except OSError as exc:  # the file shrank or vanished since it was opened
                        raise CorruptFileError(f"{self.path}: cannot map it: {exc}", path=self.path) from None
                array = self._array
        return array

    def read(self, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        """``(end - start, len(positions))``: frames ``[start, end)`` of ROIs ``positions`` (sorted, unique)."""
        if positions.size == 0 or end == start:
            return np.empty((end - start, positions.size), dtype=self.dtype)
        block = self._mapped()[positions, start:end]
        return np.array(block.T, dtype=self.dtype, order="C")

    def close(self) -> None:
        """Drop the mapping (reads return copies, so no view of it survives)."""
        self._array = None
