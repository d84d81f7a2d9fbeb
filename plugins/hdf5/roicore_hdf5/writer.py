"""Writer ``hdf5``: any imaging extractor to an HDF5 file, chunked and compressed, streamed.

Layout written (and read back by the ``hdf5`` reader without arguments):

* one dataset (default ``/imaging``, SIMA's name) shaped ``(time, rows,
  columns[, planes])`` in the extractor's dtype, with dimension labels
  ``t, y, x[, z]`` (h5py's ``dims[i].label``, stored as ``DIMENSION_LABELS``);
* chunks of whole frames, as many frames per chunk as fit in about 1 MiB,
  so that a read of any frame window decodes only the chunks it needs;
* compression ``"gzip"`` (default, level 4, with the shuffle filter),
  ``"lzf"`` (faster, lower ratio) or ``"none"``;
* dataset attributes ``sampling_frequency`` (Hz, omitted when the rate is
  unknown) and ``axes`` (``"tyx"`` or ``"tyxz"``), and the root attribute
  ``roicore_format = "roicore-hdf5-video"`` with ``roicore_format_version = 1``.

The frames are read from the extractor and written a block of chunk rows at
a time (memory bounded by the block, never the video), into the temporary
file the :class:`~roicore.writing.WriteTarget` hands out; roicore renames it
into place when the writer returns.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from roicore.imaging import ImagingExtractor

__all__ = ["write_hdf5", "WRITER_SUFFIXES", "COMPRESSIONS", "FORMAT_NAME"]

WRITER_SUFFIXES = (".h5", ".hdf5", ".he5")
COMPRESSIONS = ("gzip", "lzf", "none")
FORMAT_NAME = "roicore-hdf5-video"
_CHUNK_BYTES = 1024 * 1024
_BLOCK_BYTES = 64 * 1024 * 1024
_PIXEL_KINDS = "biuf"


def _frames_per_chunk(chunk_frames: Any, frame_bytes: int, total: int) -> int:
    if chunk_frames is None:
        return max(1, min(total, _CHUNK_BYTES // max(1, frame_bytes)))
    if isinstance(chunk_frames, (bool, np.bool_)) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be an integer >= 1, not {chunk_frames!r}")
    return int(min(chunk_frames, total))


def _filters(compression: Any, level: Any) -> dict[str, Any]:
    if compression is None:
        compression = "none"
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    if compression == "none":
        return {}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, np.integer)) or not 0 <= level <= 9:
        raise ValueError(f"compression_level must be an integer 0..9 for gzip, not {level!r}")
    return {"compression": "gzip", "compression_opts": int(level), "shuffle": True}


def write_hdf5(
    extractor: ImagingExtractor,
    target: Any,
    *,
    dataset: str = "imaging",
    compression: str | None = "gzip",
    compression_level: int = 4,
    chunk_frames: int | None = None,
) -> None:
    """Write an imaging extractor as an HDF5 video.

    Called by ``roicore.write(extractor, path, format="hdf5")`` (or for a
    ``.h5``/``.hdf5``/``.he5`` path of imaging data without ``format``).

    Parameters
    ----------
    extractor : ImagingExtractor
        Planar or volumetric, boolean, integer or float pixels (kept as they
        are: lossless). A time vector is not stored (a warning says so).
    target : roicore.writing.WriteTarget
        Hands out the temporary path to write.
    dataset : str
        The dataset's name (default ``"imaging"``).
    compression : {"gzip", "lzf", "none"}
        The compression filter (None means ``"none"``).
    compression_level : int
        gzip level, 0..9 (ignored by the others).
    chunk_frames : int, optional
        Frames per chunk (default: as many as fit in about 1 MiB, at least one).

    Raises
    ------
    ValueError
        An empty video, a dtype HDF5 cannot hold as pixels, or bad options.
    """
    import h5py

    if not isinstance(extractor, ImagingExtractor):
        raise TypeError(f"the hdf5 writer writes imaging extractors, not {type(extractor).__name__}")
    if not isinstance(dataset, str) or not dataset.strip("/"):
        raise ValueError(f"dataset must be a non-empty dataset name such as 'imaging', not {dataset!r}")
    final = Path(target.path)
    filters = _filters(compression, compression_level)
    total = int(extractor.get_num_samples())
    if total == 0:
        raise ValueError(f"cannot write {final.name}: the extractor has no samples")
    dtype = np.dtype(extractor.get_dtype())
    if dtype.kind not in _PIXEL_KINDS:
        raise ValueError(f"cannot write {final.name}: dtype {dtype} is not a pixel type (bool, integer or float)")
    dtype = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    sample_shape = tuple(int(d) for d in extractor.get_sample_shape())
    volumetric = len(sample_shape) == 3
    axes = "tyxz" if volumetric else "tyx"
    rate = extractor.get_sampling_frequency()
    if extractor.has_time_vector():
        warnings.warn(
            f"{final.name}: the extractor has a time vector, which this layout does not store; only the "
            f"sampling frequency ({'unknown' if rate is None else f'{float(rate):g} Hz'}) is written",
            stacklevel=3,
        )
    frame_bytes = int(np.prod(sample_shape)) * dtype.itemsize
    per_chunk = _frames_per_chunk(chunk_frames, frame_bytes, total)
    per_block = per_chunk * max(1, _BLOCK_BYTES // max(1, frame_bytes * per_chunk))

    temporary = Path(target.temporary())
    with h5py.File(temporary, "w") as handle:
        handle.attrs["roicore_format"] = FORMAT_NAME
        handle.attrs["roicore_format_version"] = 1
        video = handle.create_dataset(
            dataset, shape=(total, *sample_shape), dtype=dtype, chunks=(per_chunk, *sample_shape), **filters
        )
        for index, letter in enumerate(axes):
            video.dims[index].label = letter
        video.attrs["axes"] = axes
        if rate is not None:
            video.attrs["sampling_frequency"] = float(rate)
        for start in range(0, total, per_block):
            end = min(start + per_block, total)
            block = extractor.get_series(start, end)
            if block.shape != (end - start, *sample_shape):
                raise RuntimeError(
                    f"{type(extractor).__name__}.get_series({start}, {end}) returned shape {block.shape}, "
                    f"expected {(end - start, *sample_shape)}"
                )
            video[start:end] = block
