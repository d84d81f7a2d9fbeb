"""Writer ``memmap``: any imaging extractor to a raw binary file + sidecar, or to ``.npy`` + sidecar.

The video is streamed in chunks of frames (memory use is bounded by the
chunk size, never the video's length), written to temporary files that
roicore renames into place once the writer returns, so an interrupted write
leaves no half-written file behind and never damages an existing one.

Outputs, by the target's suffix:

``.bin``, ``.raw``, ``.dat``
    The frames, C order ``(time, rows, columns[, planes])``, no header, and the
    sidecar ``<name>.json`` (format ``"roicore-raw-video"``).
``.npy``
    A ``.npy`` file (format 1.0, or 2.0 for huge shapes) and the sidecar
    ``<name>.json`` (format ``"roicore-npy-video"``) holding the frame rate
    and axis meaning that the ``.npy`` header cannot.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from roicore.imaging import ImagingExtractor

from roicore_memmap.sidecar import dump_sidecar, npy_sidecar, raw_sidecar, sidecar_path_for
from roicore_memmap.sniff import RAW_SUFFIXES
from roicore_memmap.structure import VideoStructure, check_dtype

__all__ = ["write_memmap", "WRITER_SUFFIXES", "DEFAULT_CHUNK_BYTES"]

WRITER_SUFFIXES = (*RAW_SUFFIXES, ".npy")
#: the default chunk: as many frames as fit in 64 MiB (at least one)
DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024


def _write_npy_header(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        npy_format.write_array_header_1_0(handle, header)
    except ValueError:  # the header does not fit format 1.0's 65535 bytes
        npy_format.write_array_header_2_0(handle, header)


def _chunk_frames(chunk_frames: Any, frame_bytes: int) -> int:
    if chunk_frames is None:
        return max(1, DEFAULT_CHUNK_BYTES // max(1, frame_bytes))
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be an integer >= 1, not {chunk_frames!r}")
    return int(chunk_frames)


def _stream(extractor: ImagingExtractor, handle: BinaryIO, chunk: int, dtype: np.dtype) -> None:
    """Write every frame, ``chunk`` frames at a time."""
    total = extractor.get_num_samples()
    expected_shape = tuple(extractor.get_sample_shape())
    for start in range(0, total, chunk):
        end = min(start + chunk, total)
        block = extractor.get_series(start, end)
        if block.shape != (end - start, *expected_shape) or block.dtype != dtype:
            raise RuntimeError(
                f"{type(extractor).__name__}.get_series({start}, {end}) returned {block.shape} {block.dtype}, "
                f"expected {(end - start, *expected_shape)} {dtype}"
            )
        handle.write(np.ascontiguousarray(block).data)


def write_memmap(
    extractor: ImagingExtractor,
    target: Any,
    *,
    chunk_frames: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write an imaging extractor as a raw binary video or a ``.npy`` file, each with a sidecar.

    Called by ``roicore.write(extractor, path, format="memmap")`` (or for a
    ``.bin``/``.raw``/``.dat``/``.npy`` path without ``format``).

    Parameters
    ----------
    extractor : ImagingExtractor
        Planar or volumetric, any boolean, integer or float dtype (kept as is:
        the output is lossless). Timestamps other than ``arange(n) / fs`` are
        not stored (a warning says so).
    target : roicore.writing.WriteTarget
        Hands out the temporary paths of the data file and of the sidecar.
    chunk_frames : int, optional
        Frames read and written at a time (default: as many as fit in 64 MiB).
    metadata : dict, optional
        JSON-serialisable notes stored in the sidecar's ``metadata`` field.

    Raises
    ------
    ValueError
        An unsupported target suffix, an empty video, or bad options.
    FileExistsError
        The sidecar exists and overwriting was not allowed.
    """
    if not isinstance(extractor, ImagingExtractor):
        raise TypeError(f"the memmap writer writes imaging extractors, not {type(extractor).__name__}")
    final = Path(target.path)
    suffix = final.suffix.lower()
    if suffix not in WRITER_SUFFIXES:
        raise ValueError(
            f"the memmap writer writes {', '.join(WRITER_SUFFIXES)} files, not {final.name!r}"
        )
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    frames = extractor.get_num_samples()
    if frames == 0:
        raise ValueError(f"cannot write {final.name}: the extractor has no samples")
    dtype = check_dtype(extractor.dtype, "the extractor's dtype")
    rate = extractor.get_sampling_frequency()  # None (unknown) is stored as no rate
    rows, columns = (int(d) for d in extractor.get_image_shape())
    volumetric = bool(extractor.is_volumetric)
    planes = int(extractor.get_num_planes()) if volumetric else 1
    axes = "tyxz" if volumetric else "tyx"
    if extractor.has_time_vector():
        warnings.warn(
            f"{final.name}: the extractor has a time vector, which this format cannot store; "
            + (f"only the sampling frequency ({rate:g} Hz) is written" if rate else "the rate is unknown and not written"),
            stacklevel=3,
        )
    sample_shape = tuple(extractor.get_sample_shape())
    chunk = _chunk_frames(chunk_frames, int(np.prod(sample_shape)) * dtype.itemsize)

    # ask for both paths first: an existing sidecar refuses the write before any data is written
    data_temporary = Path(target.temporary())
    sidecar_temporary = Path(target.temporary(sidecar_path_for(final)))
    with data_temporary.open("wb") as handle:
        if suffix == ".npy":
            _write_npy_header(handle, (frames, *sample_shape), dtype)
        _stream(extractor, handle, chunk, dtype)
    if suffix == ".npy":
        content = npy_sidecar(final.name, sampling_frequency=rate, axes=axes, metadata=metadata)
    else:
        structure = VideoStructure(
            rows=rows, columns=columns, planes=planes, axes=axes, dtype=dtype, sampling_frequency=rate
        )
        content = raw_sidecar(structure, final.name, frames=frames, metadata=metadata)
    dump_sidecar(content, sidecar_temporary)
