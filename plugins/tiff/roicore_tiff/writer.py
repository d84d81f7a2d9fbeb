"""The ``ome-tiff`` writer: any imaging extractor to an OME-TIFF, streamed chunk by chunk.

tifffile's ``TiffWriter.write`` takes an iterator of pages with the full shape
declared up front, so the video is read ``chunk_frames`` samples at a time and
never held whole. The file is BigTIFF when the pixel data approach the 4 GiB
offsets of classic TIFF, and it goes to the :class:`~roicore.writing.WriteTarget`'s
temporary path, renamed into place by roicore only when the write succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import UnsupportedFeatureError
from roicore.imaging import ImagingExtractor

__all__ = ["write_ome_tiff", "WRITER_SUFFIXES", "BIGTIFF_THRESHOLD"]

WRITER_SUFFIXES = (".ome.tif", ".ome.tiff", ".tif", ".tiff")
#: pixel bytes past which the file is BigTIFF (classic TIFF offsets end at 4 GiB; leave room for IFDs)
BIGTIFF_THRESHOLD = 2**32 - 2**25
_CHUNK_BYTES = 64 * 2**20
_COMPRESSIONS = (None, "zlib", "lzma", "zstd", "lzw", "packbits")


def _chunk_frames(chunk_frames: int | None, sample_bytes: int) -> int:
    if chunk_frames is None:
        return max(1, _CHUNK_BYTES // max(sample_bytes, 1))
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be an integer >= 1, not {chunk_frames!r}")
    return int(chunk_frames)


def _pages(extractor: ImagingExtractor, chunk: int) -> Iterator[np.ndarray]:
    """Every page in OME order (time, then plane), read ``chunk`` samples at a time."""
    n = extractor.get_num_samples()
    rows, columns = extractor.get_image_shape()
    for start in range(0, n, chunk):
        block = extractor.get_series(start, min(n, start + chunk), copy=False)
        if block.ndim == 4:  # (t, y, x, z) -> (t, z, y, x)
            block = np.ascontiguousarray(block.transpose(0, 3, 1, 2))
        yield from block.reshape(-1, rows, columns)


def write_ome_tiff(
    extractor: ImagingExtractor,
    target: Any,
    *,
    chunk_frames: int | None = None,
    compression: str | None = None,
    bigtiff: bool | None = None,
) -> None:
    """Write ``extractor`` to ``target.path`` as OME-TIFF (axes ``TYX``, or ``TZYX`` when volumetric).

    Parameters
    ----------
    extractor : ImagingExtractor
    target : roicore.writing.WriteTarget
    chunk_frames : int, optional
        Samples read per step (default: as many as fit in 64 MiB).
    compression : {None, "zlib", "lzma", "zstd", "lzw", "packbits"}
        Lossless page compression (tifffile's codecs; zstd needs imagecodecs).
    bigtiff : bool, optional
        Force BigTIFF on or off; by default on when the pixels need more than
        classic TIFF's 4 GiB offsets.

    The frame rate is stored as ``TimeIncrement`` (s); a time vector (set or
    native timestamps) as each plane's ``DeltaT``. Both read back.

    Raises
    ------
    TypeError
        Not an imaging extractor.
    ValueError
        An unsupported suffix or compression, an empty video, bad options, or
        classic TIFF forced for a video that needs BigTIFF.
    UnsupportedFeatureError
        A dtype TIFF does not store (booleans, complex numbers).
    """
    import tifffile

    if not isinstance(extractor, ImagingExtractor):
        raise TypeError(f"the ome-tiff writer writes imaging extractors, not {type(extractor).__name__}")
    final = Path(target.path)
    if not final.name.lower().endswith(WRITER_SUFFIXES):
        raise ValueError(f"the ome-tiff writer writes {', '.join(WRITER_SUFFIXES)} files, not {final.name!r}")
    if compression not in _COMPRESSIONS:
        raise ValueError(f"compression must be one of {_COMPRESSIONS}, not {compression!r}")
    n = int(extractor.get_num_samples())
    if n == 0:
        raise ValueError(f"cannot write {final.name}: the extractor has no samples")
    dtype = np.dtype(extractor.dtype)
    if dtype.kind not in "iuf":
        raise UnsupportedFeatureError(f"cannot write {final.name}: TIFF pages of dtype {dtype} are not supported")
    rows, columns = (int(v) for v in extractor.get_image_shape())
    planes = int(extractor.get_num_planes()) if extractor.is_volumetric else 1
    shape = (n, planes, rows, columns) if extractor.is_volumetric else (n, rows, columns)
    pixel_bytes = n * planes * rows * columns * dtype.itemsize
    needs_big = pixel_bytes > BIGTIFF_THRESHOLD
    if bigtiff is None:
        bigtiff = needs_big
    elif not bigtiff and needs_big:
        raise ValueError(f"cannot write {final.name} as classic TIFF: {pixel_bytes} bytes of pixels need BigTIFF")
    metadata: dict[str, Any] = {"axes": "TZYX" if extractor.is_volumetric else "TYX"}
    rate = extractor.get_sampling_frequency()
    if rate is not None:
        metadata["TimeIncrement"] = 1.0 / float(rate)
        metadata["TimeIncrementUnit"] = "s"
    if extractor.has_time_vector():
        times = np.repeat(np.asarray(extractor.get_timestamps(), dtype=np.float64), planes)
        metadata["Plane"] = {"DeltaT": times.tolist(), "DeltaTUnit": ["s"] * len(times)}
    chunk = _chunk_frames(chunk_frames, planes * rows * columns * dtype.itemsize)
    temporary = target.temporary()
    with tifffile.TiffWriter(temporary, bigtiff=bool(bigtiff), ome=True) as writer:
        writer.write(
            _pages(extractor, chunk),
            shape=shape,
            dtype=dtype,
            photometric="minisblack",
            compression=compression,
            metadata=metadata,
        )
