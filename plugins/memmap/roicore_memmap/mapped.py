"""The engine shared by every reader of this plugin: a video that is one strided array in a file.

Raw binary files, ``.npy`` files and CaImAn memmaps are all a C-order array
at some byte offset of a file, with named axes (:class:`VideoStructure`).
:class:`MappedImagingExtractor` memory-maps that array read-only on the first
read, selects one channel, and presents it transposed to roicore's
``(time, rows, columns[, planes])``. A read of frames ``[a, b)`` slices the
mapping, so only those frames' pages are touched, then copies them into a
new C-contiguous array in the native byte order.
"""

from __future__ import annotations

import operator
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor

from roicore_memmap.structure import VideoStructure

__all__ = ["MappedImagingExtractor", "count_frames", "resolve_channel", "native"]


def native(dtype: np.dtype) -> np.dtype:
    """``dtype`` in the machine's byte order (what every read returns)."""
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def count_frames(
    path: Path, structure: VideoStructure, *, allow_partial_frame: bool = False, described_by: str | None = None
) -> int:
    """Validate a file's size against a structure and return the number of whole frames.

    Parameters
    ----------
    path : Path
        The data file.
    structure : VideoStructure
        With ``dtype``; ``frames``, when declared, must match the file.
    allow_partial_frame : bool
        Ignore a trailing partial frame (with a warning) instead of raising.
        Only possible when frames follow each other in the file (``axes``
        starts with ``"t"``); otherwise frames are interleaved and a size
        mismatch cannot be a truncated last frame.
    described_by : str, optional
        Where the layout comes from (``"sidecar movie.bin.json"``), named in the messages.

    Returns
    -------
    int
        The number of frames, >= 1.

    Raises
    ------
    CorruptFileError
        The offset is past the end, the data are shorter than one frame, not a
        whole number of frames, or not the declared number of frames. The
        message states the expected frame size, the data length and the remainder.
    """
    size = os.stat(path).st_size
    # name the description too: it may be the file at fault
    name = f"{path} (described by {described_by})" if described_by else str(path)
    frame_bytes = structure.frame_bytes
    frame_text = f"one frame is {frame_bytes} bytes ({structure.describe_frame()})"
    if structure.offset > size:
        raise CorruptFileError(
            f"{name}: the header offset {structure.offset} is past the end of the file ({size} bytes)", path=path
        )
    data_length = size - structure.offset
    where = f"data length {data_length} bytes (file size {size} - offset {structure.offset})"
    whole, remainder = divmod(data_length, frame_bytes)
    if whole == 0:
        raise CorruptFileError(
            f"{name}: {where} is shorter than one frame: {frame_text}; the file is empty or truncated, "
            "or the structure, dtype or offset is wrong",
            path=path,
        )
    declared = structure.frames
    if declared is not None and whole != declared:
        raise CorruptFileError(
            f"{name}: the description declares {declared} frames ({declared * frame_bytes} bytes) but the "
            f"{where} holds {whole} whole frames and {remainder} bytes more; {frame_text}",
            path=path,
        )
    if remainder:
        if allow_partial_frame and structure.frames_outermost:
            warnings.warn(
                f"{name}: ignoring the last {remainder} bytes, a partial frame ({frame_text}); "
                f"reading the {whole} whole frames",
                stacklevel=4,
            )
        else:
            reason = (
                "pass allow_partial_frame=True to read the whole frames and ignore the rest"
                if structure.frames_outermost
                else f"frames are interleaved (axes={structure.axes!r}), so no partial frame can be dropped"
            )
            raise CorruptFileError(
                f"{name}: {where} is not a whole number of frames: {frame_text}, so it holds {whole} "
                f"frames and a remainder of {remainder} bytes. The file may be truncated, or the structure, "
                f"dtype or offset is wrong; {reason}",
                path=path,
            )
    return whole


def refuse_folder(path: Path, what: str) -> None:
    """CorruptFileError when ``path`` is a folder: these readers read one file (``what``)."""
    if path.is_dir():
        raise CorruptFileError(
            f"{path} is a folder, not {what}; give the path of the file itself",
            path=path,
        )


def resolve_channel(channel: Any, channels: int, names: tuple[str, ...] | None, path: Path) -> int:
    """The index of the channel to read.

    Parameters
    ----------
    channel : int or str
        An index ``0 <= channel < channels`` or one of ``names``.

    Raises
    ------
    TypeError
        Neither an integer nor a string.
    IndexError
        An index out of range (the message gives the range).
    KeyError
        An unknown channel name (the message lists the names).
    """
    if isinstance(channel, str):
        if not names or channel not in names:
            available = list(names) if names else "none (the file does not name its channels)"
            raise KeyError(f"{path}: no channel named {channel!r}; channel names: {available}")
        return names.index(channel)
    if isinstance(channel, (bool, np.bool_)):
        raise TypeError(f"channel must be an integer index or a channel name, not a bool ({channel!r})")
    try:
        index = operator.index(channel)
    except TypeError:
        raise TypeError(f"channel must be an integer index or a channel name, not {channel!r}") from None
    if not 0 <= index < channels:
        raise IndexError(
            f"{path}: channel={index} is out of range: the file has {channels} channel(s), "
            f"need 0 <= channel < {channels}"
        )
    return int(index)


class MappedImagingExtractor(ImagingExtractor):
    """An imaging extractor over one strided array in a file, memory-mapped lazily.

    Subclasses parse their format in ``__init__`` (cheaply: no data is read)
    and call :meth:`_init_mapping`. Nothing is mapped until the first read;
    :meth:`close` drops the mapping.
    """

    _path: Path
    _structure: VideoStructure
    _num_frames: int
    _channel: int
    _channel_names: tuple[str, ...] | None
    _array: np.ndarray | None
    _lock: threading.Lock

    def _init_mapping(
        self,
        path: Path,
        structure: VideoStructure,
        num_frames: int,
        channel: int = 0,
        channel_names: tuple[str, ...] | None = None,
    ) -> None:
        """Record the layout; ``structure`` must have a ``dtype`` (its rate may be None: unknown)."""
        if structure.dtype is None:
            raise ValueError("a mapped video needs a structure with a dtype")
        self._path = path
        self._structure = structure
        self._num_frames = int(num_frames)
        self._channel = int(channel)
        self._channel_names = channel_names
        self._dtype = native(structure.dtype)
        self._array = None
        self._lock = threading.Lock()
        self.is_volumetric = structure.volumetric

    # -- metadata ---------------------------------------------------------------------------------
    def get_image_shape(self) -> tuple[int, int]:
        return (self._structure.rows, self._structure.columns)

    def get_num_planes(self) -> int:
        return self._structure.planes if self.is_volumetric else 1

    def get_num_samples(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float | None:
        fs = self._structure.sampling_frequency
        return None if fs is None else float(fs)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_channel_names(self) -> list[str] | None:
        """The file's channel names, when it has them."""
        return None if self._channel_names is None else list(self._channel_names)

    @property
    def file_path(self) -> Path:
        """The data file."""
        return self._path

    @property
    def structure(self) -> VideoStructure:
        """The file's layout (with the number of frames read from the file)."""
        return self._structure

    @property
    def channel(self) -> int:
        """The index of the channel this extractor reads."""
        return self._channel

    # -- the mapping ------------------------------------------------------------------------------
    def _mapped(self) -> np.ndarray:
        """The video as a ``(time, rows, columns[, planes])`` view of the file mapping."""
        array = self._array
        if array is not None:
            return array
        with self._lock:
            if self._array is None:
                self._array = self._map()
            return self._array

    def _map(self) -> np.ndarray:
        structure = self._structure
        try:
            mapping = np.memmap(
                self._path,
                dtype=structure.dtype,
                mode="r",
                offset=structure.offset,
                shape=structure.disk_shape(self._num_frames),
                order="C",
            )
        except (PermissionError, FileNotFoundError):
            raise  # unreadable or vanished: not a damaged file (the message names it)
        except (ValueError, OSError) as exc:  # the file shrank since it was opened
            raise CorruptFileError(f"{self._path}: cannot map the video: {exc}", path=self._path) from None
        # a plain ndarray view: slicing a memmap subclass costs more per call
        view: np.ndarray = mapping.view(np.ndarray)
        axes = structure.axes
        if "c" in axes:
            index = [slice(None)] * view.ndim
            index[axes.index("c")] = self._channel
            view = view[tuple(index)]
            axes = axes.replace("c", "")
        target = "tyxz" if "z" in axes else "tyx"
        return view.transpose([axes.index(letter) for letter in target])

    @staticmethod
    def _materialize(block: np.ndarray) -> np.ndarray:
        """A C-contiguous native-order array; a contiguous native view is returned as is (the base copies it)."""
        if block.dtype.byteorder not in ("=", "|"):
            return block.astype(native(block.dtype), order="C")
        if block.flags.c_contiguous:
            return block
        return np.ascontiguousarray(block)

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return self._materialize(self._mapped()[start:end])

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        return self._materialize(self._mapped()[indices])

    def _close(self) -> None:
        # dropping the last reference unmaps the file; reads return copies, so no view survives
        self._array = None

    def _describe(self) -> str:
        channel = f", channel {self._channel}" if self._structure.channels > 1 else ""
        return f"{self._path.name}: {super()._describe()}{channel}"
