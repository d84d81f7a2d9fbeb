"""Reader ``hdf5``: a video stored as one HDF5 dataset, read lazily through h5py.

The file is opened read-only when the extractor is made (so a bad file fails
at once, naming the file) and stays open until :meth:`close`; no pixel is
read before the first read call. The dataset may store its axes in any
order (SIMA's ``example.h5`` is ``y, x, t``; its ``example-volume.h5`` is
``t, z, y, x, c``); reads are moved to roicore's ``(time, rows, columns[,
planes])`` and returned in the machine's byte order.

Chunk-aligned reads: a compressed dataset is decoded a whole chunk at a
time, so reading a few frames out of a chunk that spans 64 frames costs the
same as reading all 64. Reads of a compressed, chunked dataset are therefore
split at the time-chunk boundaries: the whole chunk rows inside the window
are read in one h5py call (each chunk decoded once), and the partial chunk
rows at its edges are read whole and kept (the last one only), so the next
sequential read, or a sample read that falls in the same chunk row, slices
the kept copy instead of decoding the chunks again.
"""

from __future__ import annotations

import operator
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor

from roicore_hdf5.layout import channel_names, check_axes, check_rate, label_axes, read_rate
from roicore_hdf5.opening import (
    ChannelNotFoundError,
    NeedsArgumentError,
    check_filters,
    choose_dataset,
    first_line,
    h5_errors,
    open_file,
)

__all__ = ["Hdf5ImagingExtractor", "ROW_CACHE_BYTES"]

#: the largest chunk row (one time-chunk of every frame) kept between reads
ROW_CACHE_BYTES = 256 * 1024 * 1024


def _native(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def _resolve_channel(channel: Any, count: int, names: tuple[str, ...] | None, path: Path, has_axis: bool) -> int:
    if isinstance(channel, str):
        if not names or channel not in names:
            available = list(names) if names else "none (the dataset does not name its channels)"
            raise ChannelNotFoundError(f"{path}: no channel named {channel!r}; channel names: {available}", path=path)
        return names.index(channel)
    if isinstance(channel, (bool, np.bool_)):
        raise TypeError(f"channel must be an integer index or a channel name, not a bool ({channel!r})")
    try:
        index = operator.index(channel)
    except TypeError:
        raise TypeError(f"channel must be an integer index or a channel name, not {channel!r}") from None
    if not 0 <= index < count:
        where = f"the dataset has {count} channel(s)" if has_axis else "the dataset has no channel axis (c)"
        raise IndexError(f"{path}: channel={index} is out of range: {where}, need 0 <= channel < {count}")
    return int(index)


class Hdf5ImagingExtractor(ImagingExtractor):
    """A video stored as an HDF5 dataset (reader id ``hdf5``).

    Parameters
    ----------
    file_path : str or path-like
        The HDF5 file.
    dataset : str, optional
        The dataset's name (``"/imaging"``). By default the file's only
        numeric 3-D to 5-D dataset; with several, opening lists them.
    axes : str, optional
        The dataset's axes, outermost first, over ``t z y x c`` (``t``, ``y``,
        ``x`` required): e.g. ``"tyx"``, ``"yxt"``, ``"tzyxc"``. By default the
        dataset's dimension labels (``DIMENSION_LABELS``); a dataset without
        labels needs it. Overrides the labels.
    channel : int or str
        The channel to read when the axes hold ``c``: an index, or a name
        from the dataset's ``channel_names`` attribute.
    sampling_frequency : float, optional
        In Hz. Overrides the rate stored in the file (attribute
        ``sampling_frequency``, ``frame_rate`` or ``fr`` of the dataset or
        the root); None when neither gives one.

    Raises
    ------
    CorruptFileError
        Not HDF5 or truncated; the named dataset is missing
        (:class:`~roicore_hdf5.opening.DatasetNotFoundError`, also a
        KeyError), a group, strings or not 3-D to 5-D; no candidate dataset;
        an NWB file or CaImAn result without ``dataset=``; axes whose number
        differs from the dataset's; invalid labels or rate attribute; no frames.
    UnsupportedFeatureError
        Complex pixels, data kept in other files, a compression filter h5py lacks.
    NeedsArgumentError
        Several candidate datasets and no ``dataset=``; no axes (unlabelled
        dataset, no ``axes=``). A roicore error and a ValueError.
    ValueError
        An invalid ``axes`` string or ``sampling_frequency``.
    IndexError, KeyError
        A channel out of range or an unknown channel name.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        dataset: str | None = None,
        axes: str | None = None,
        channel: int | str = 0,
        sampling_frequency: float | None = None,
    ) -> None:
        self._path = Path(os.fspath(file_path))
        self._lock = threading.RLock()
        self._row: tuple[int, np.ndarray] | None = None
        self._handle: Any = None
        self._dataset: Any = None
        handle = open_file(self._path)
        try:
            self._setup(handle, dataset, axes, channel, sampling_frequency)
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    # -- opening ----------------------------------------------------------------------------------
    def _setup(self, handle: Any, name: str | None, axes: str | None, channel: Any, rate: Any) -> None:
        path = self._path
        dataset = choose_dataset(handle, path, name)
        with h5_errors(path, f"dataset {dataset.name} cannot be inspected"):
            shape = tuple(int(s) for s in dataset.shape)
            chunks = dataset.chunks
            labelled = label_axes(dataset, path) if axes is None else None
        letters = self._choose_axes(dataset, axes, labelled, shape)
        sizes = dict(zip(letters, shape))
        if sizes["t"] == 0:
            raise CorruptFileError(f"{path}: dataset {dataset.name} {shape} (axes {letters!r}) holds no frames", path=path)
        if 0 in shape:
            raise CorruptFileError(f"{path}: dataset {dataset.name} {shape} (axes {letters!r}) holds empty frames", path=path)
        count = sizes.get("c", 1)
        with h5_errors(path, f"the attributes of dataset {dataset.name} cannot be read"):
            names = channel_names(dataset, count) if "c" in letters else None
            stored_rate = read_rate(dataset, handle["/"], path) if rate is None else None
            self._compressed = check_filters(dataset, path)
        self._channel = _resolve_channel(channel, count, names, path, "c" in letters)
        self._channel_names = names
        self._rate: float | None = check_rate(rate) if rate is not None else stored_rate
        self._dataset = dataset
        self._name = str(dataset.name)
        self._axes = letters
        self._sizes = sizes
        self._dtype = _native(dataset.dtype)
        self.is_volumetric = "z" in letters
        self._kept_axes = letters.replace("c", "")
        target = "tyxz" if self.is_volumetric else "tyx"
        self._order = [self._kept_axes.index(letter) for letter in target]
        self._time_chunk = int(chunks[letters.index("t")]) if chunks else 0
        frame_bytes = int(np.prod([s for a, s in sizes.items() if a not in "tc"])) * self._dtype.itemsize
        self._row_bytes = frame_bytes * self._time_chunk
        # reads can land in the output array as they are: same axis order, byte order, no channel axis
        self._direct = self._kept_axes == target and "c" not in letters and dataset.dtype.isnative
        self._by_rows = self._compressed and self._time_chunk > 1 and self._row_bytes <= ROW_CACHE_BYTES

    def _choose_axes(self, dataset: Any, axes: str | None, labelled: str | None, shape: tuple[int, ...]) -> str:
        path = self._path
        if axes is not None:
            letters, source = check_axes(axes, path), f"axes={axes!r}"
        else:
            if labelled is None:
                raise NeedsArgumentError(
                    f"{path}: dataset {dataset.name} {shape} has no dimension labels, so its axis order is "
                    "unknown: pass axes=..., e.g. axes='tyx' (time first) or axes='yxt' (time last, as "
                    "SIMA's example.h5)",
                    path=path,
                )
            letters, source = labelled, "its dimension labels"
        if len(letters) != len(shape):
            raise CorruptFileError(
                f"{path}: dataset {dataset.name} is {len(shape)}-D {shape}, but {source} gives "
                f"{len(letters)} axes ({letters!r})",
                path=path,
            )
        return letters

    # -- metadata ---------------------------------------------------------------------------------
    def get_image_shape(self) -> tuple[int, int]:
        return (int(self._sizes["y"]), int(self._sizes["x"]))

    def get_num_planes(self) -> int:
        return int(self._sizes["z"]) if self.is_volumetric else 1

    def get_num_samples(self) -> int:
        return int(self._sizes["t"])

    def get_sampling_frequency(self) -> float | None:  # type: ignore[override]
        return self._rate

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_channel_names(self) -> list[str] | None:
        """The dataset's channel names, when it names each channel."""
        return None if self._channel_names is None else list(self._channel_names)

    @property
    def file_path(self) -> Path:
        """The HDF5 file."""
        return self._path

    @property
    def dataset_name(self) -> str:
        """The video dataset's name in the file, e.g. ``"/imaging"``."""
        return self._name

    @property
    def axes(self) -> str:
        """The dataset's axis letters as stored, outermost first (e.g. ``"yxt"``)."""
        return self._axes

    @property
    def channel(self) -> int:
        """The index of the channel this extractor reads (0 without a channel axis)."""
        return self._channel

    # -- reading ----------------------------------------------------------------------------------
    def _selection(self, time: Any) -> tuple[Any, ...]:
        index: list[Any] = []
        for letter in self._axes:
            if letter == "t":
                index.append(time)
            elif letter == "c":
                index.append(self._channel)
            else:
                index.append(slice(None))
        return tuple(index)

    def _read_failed(self, start: int, end: int, exc: BaseException) -> CorruptFileError:
        # h5py raises OSError (and others) for damaged chunks or a vanished file
        return CorruptFileError(
            f"{self._path}: cannot read frames {start}..{end - 1} of dataset {self._name} ({first_line(exc)})",
            path=self._path,
        )

    def _read_frames(self, start: int, end: int) -> np.ndarray:
        """Frames ``[start, end)`` from the file, as ``(time, rows, columns[, planes])``, native order."""
        try:
            block = self._dataset[self._selection(slice(start, end))]
        except Exception as exc:
            raise self._read_failed(start, end, exc) from None
        block = np.asarray(block).transpose(self._order)
        if block.dtype.byteorder not in ("=", "|"):
            return block.astype(self._dtype, order="C")
        return np.ascontiguousarray(block)

    def _read_into(self, out: np.ndarray, start: int, end: int) -> None:
        """Frames ``[start, end)`` into ``out``, straight from h5py when the stored layout is roicore's."""
        if not self._direct:
            out[...] = self._read_frames(start, end)
            return
        try:
            self._dataset.read_direct(out, np.s_[start:end])
        except Exception as exc:
            raise self._read_failed(start, end, exc) from None

    def _chunk_row(self, row: int) -> np.ndarray:
        """Chunk row ``row`` (frames ``[row * c, (row + 1) * c)``), from the kept copy or the file."""
        kept = self._row
        if kept is not None and kept[0] == row:
            return kept[1]
        start = row * self._time_chunk
        block = self._read_frames(start, min(start + self._time_chunk, self.get_num_samples()))
        block.flags.writeable = False  # views of it may be handed out; it is never written
        self._row = (row, block)
        return block

    def _read_series(self, start: int, end: int) -> np.ndarray:
        with self._lock:
            self._check_open()
            if not self._by_rows:
                return self._read_frames(start, end)
            size = self._time_chunk
            first, last = start // size, (end - 1) // size
            if first == last:
                return self._chunk_row(first)[start - first * size : end - first * size]
            # one output array: the whole chunk rows go straight into it, the edge rows through the kept copy
            out = np.empty((end - start, *self.get_sample_shape()), dtype=self._dtype)
            inner_start = (first + 1) * size if start % size else start
            inner_end = last * size if end % size and end != self.get_num_samples() else end
            if inner_start > start:
                out[: inner_start - start] = self._chunk_row(first)[start - first * size :]
            if inner_end > inner_start:
                self._read_into(out[inner_start - start : inner_end - start], inner_start, inner_end)
            if end > inner_end:
                out[inner_end - start :] = self._chunk_row(last)[: end - last * size]
            return out

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        if not self._by_rows:
            return super()._read_samples(indices)
        with self._lock:
            self._check_open()
            size = self._time_chunk
            rows = indices // size
            bounds = np.flatnonzero(np.diff(rows)) + 1
            parts = []
            for group in np.split(indices, bounds):
                row = int(group[0]) // size
                parts.append(self._chunk_row(row)[group - row * size])
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _close(self) -> None:
        with self._lock:
            self._row = None
            self._dataset = None
            handle, self._handle = self._handle, None
            if handle is not None:
                handle.close()

    def _describe(self) -> str:
        rate = "rate unknown" if self._rate is None else f"{self._rate:g} Hz"
        dims = " x ".join(str(d) for d in self.get_sample_shape())
        channel = f", channel {self._channel}" if "c" in self._axes else ""
        return (
            f"{self._path.name}:{self._name} ({self._axes}): {self.get_num_samples()} samples x {dims}, "
            f"{self._dtype}, {rate}{channel}"
        )
