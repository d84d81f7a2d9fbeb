"""The roicore reader of suite2p's binaries: ``data.bin`` and its siblings, int16 ``(nframes, Ly, Lx)``.

suite2p writes frames one after another, C order, native little-endian int16
(``suite2p/io/binary.py``: ``BinaryFile`` maps ``np.int16`` with shape
``(n_frames, Ly, Lx)``). The file has no header: the shape comes from the
settings beside it (``ops.npy`` or ``db.npy``: ``Ly``, ``Lx``, ``nframes``) and
the rate from ``fs`` (``settings.npy`` in 1.x). The size must match exactly.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor
from roicore_suite2p.layout import check_rate, positive_int, read_plane_settings
from roicore_suite2p.sniff import sniff_binary

__all__ = ["Suite2pBinaryImagingExtractor"]

DTYPE = np.dtype("<i2")


class Suite2pBinaryImagingExtractor(ImagingExtractor):
    """A suite2p binary (``data.bin``, ``data_raw.bin``, ``data_chan2.bin``, ``data_chan2_raw.bin``), memory-mapped.

    Parameters
    ----------
    file_path : path-like
        The binary; suite2p's ``ops.npy`` (0.x) or ``db.npy`` (1.x) must sit beside it.
    sampling_frequency : float, optional
        Overrides ``fs`` from the settings.

    Raises
    ------
    CorruptFileError
        No settings beside the file, settings without ``Ly``/``Lx``, or a file
        size that is not ``nframes * Ly * Lx * 2`` bytes; the message names the file.
    """

    sniff = staticmethod(sniff_binary)

    def __init__(self, file_path: str | os.PathLike[str], *, sampling_frequency: float | None = None) -> None:
        path = Path(os.fspath(file_path))
        rate = check_rate(sampling_frequency)
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        if not path.is_file():
            raise CorruptFileError(f"{path}: is not a file", path=path)
        settings = read_plane_settings(path.parent)
        rows, columns = settings.frame_shape(path.parent)
        frame_bytes = rows * columns * DTYPE.itemsize
        size = os.stat(path).st_size
        if "nframes" in settings.values:
            frames = positive_int(settings.values["nframes"], "nframes", settings.source_of("nframes"))
            if size != frames * frame_bytes:
                raise CorruptFileError(
                    f"{path}: {size} bytes, but {settings.source_of('nframes').name} says {frames} frames of "
                    f"{rows} x {columns} int16 ({frames * frame_bytes} bytes)",
                    path=path,
                )
        else:
            frames, remainder = divmod(size, frame_bytes)
            if remainder or not frames:
                raise CorruptFileError(
                    f"{path}: {size} bytes is not a whole number of {rows} x {columns} int16 frames ({frame_bytes} bytes each)",
                    path=path,
                )
        self._path = path
        self._shape = (rows, columns)
        self._frames = int(frames)
        self._rate = rate if rate is not None else settings.sampling_frequency
        self._array: np.ndarray | None = None
        self._lock = threading.Lock()

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_samples(self) -> int:
        return self._frames

    def get_sampling_frequency(self) -> float | None:  # type: ignore[override]
        return self._rate

    def get_dtype(self) -> np.dtype:
        return np.dtype(np.int16)

    @property
    def file_path(self) -> Path:
        """The binary read."""
        return self._path

    def _mapped(self) -> np.ndarray:
        array = self._array
        if array is None:
            with self._lock:
                if self._array is None:
                    try:
                        mapping = np.memmap(self._path, dtype=DTYPE, mode="r", shape=(self._frames, *self._shape))
                    except (PermissionError, FileNotFoundError):
                        raise
                    except (ValueError, OSError) as exc:  # the file shrank since it was opened
                        raise CorruptFileError(f"{self._path}: cannot map it: {exc}", path=self._path) from None
                    self._array = mapping.view(np.ndarray)
                array = self._array
        return array

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return np.array(self._mapped()[start:end], dtype=np.int16)

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        return np.array(self._mapped()[indices], dtype=np.int16)

    def _close(self) -> None:
        # reads return copies, so dropping the reference unmaps the file
        self._array = None

    def _describe(self) -> str:
        return f"{self._path.name}: {super()._describe()}"
