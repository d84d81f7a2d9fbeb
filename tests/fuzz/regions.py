"""Where a file's payload is: byte ranges whose change may alter values but never shapes.

A byte flipped inside a video's pixel data, or inside a float dataset of an
HDF5 file, legitimately changes values; it must not change what the reader
reports as shapes, dtypes, names or counts (a "silent wrong shape"). This
module finds those ranges for the formats it knows; for any other file it
returns none, and flips there are judged only by the general rules.

Known formats:

* ``.npy``: everything after the header;
* HDF5: the stored bytes of float datasets of at least :data:`MIN_PAYLOAD_ELEMENTS`
  elements (traces, footprint weights, images), contiguous or chunked;
  integer datasets (indices, shapes, dimensions) are structure, not payload;
* a headerless file described by a roicore raw-video sidecar (``<file>.json``)
  or by a ``structure`` reader argument: everything after the declared offset;
* a CaImAn memmap (its name is its only header): the whole file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Payload", "payload_of", "is_hdf5", "MIN_PAYLOAD_ELEMENTS"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
MIN_PAYLOAD_ELEMENTS = 16
_CAIMAN_NAME = re.compile(r"_d1_\d+_d2_\d+_d3_\d+_order_[CF]_frames_\d+_?\.mmap$")


@dataclass(frozen=True)
class Payload:
    """Byte ranges ``[start, end)`` of a file's payload.

    Attributes
    ----------
    ranges : tuple of (int, int)
    elementwise : bool
        True when each payload byte belongs to exactly one stored value
        (uncompressed data), so ``k`` flipped bytes change at most ``k`` values.
    """

    ranges: tuple[tuple[int, int], ...]
    elementwise: bool

    @property
    def size(self) -> int:
        return sum(end - start for start, end in self.ranges)

    def position(self, index: int) -> int:
        """The file offset of the ``index``-th payload byte (``0 <= index < size``)."""
        for start, end in self.ranges:
            if index < end - start:
                return start + index
            index -= end - start
        raise IndexError(index)


def is_hdf5(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _npy(path: Path) -> Payload | None:
    from numpy.lib import format as npy_format

    with path.open("rb") as handle:
        try:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                npy_format.read_array_header_1_0(handle)
            else:
                npy_format.read_array_header_2_0(handle)
        except ValueError:
            return None
        start = handle.tell()
    return Payload(((start, path.stat().st_size),), elementwise=True)


def _hdf5(path: Path) -> Payload | None:
    import h5py

    ranges: list[tuple[int, int]] = []
    compressed = False

    def visit(_: str, node: Any) -> None:
        nonlocal compressed
        if not isinstance(node, h5py.Dataset) or node.dtype.kind != "f" or node.size < MIN_PAYLOAD_ELEMENTS:
            return
        if node.chunks is None:
            offset = node.id.get_offset()
            if offset is not None:
                ranges.append((offset, offset + node.id.get_storage_size()))
            return
        compressed = compressed or bool(node.id.get_create_plist().get_nfilters())
        for index in range(node.id.get_num_chunks()):
            info = node.id.get_chunk_info(index)
            ranges.append((info.byte_offset, info.byte_offset + info.size))

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return Payload(tuple(sorted(ranges)), elementwise=not compressed) if ranges else None


def _declared_offset(path: Path, reader_kwargs: dict[str, Any], main: Path) -> int | None:
    """The header size a raw sidecar or the ``structure`` argument declares for ``path``, if any."""
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        try:
            content = json.loads(sidecar.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(content, dict) and content.get("format") == "roicore-raw-video":
            offset = content.get("offset", 0)
            return offset if isinstance(offset, int) else None
    structure = reader_kwargs.get("structure")
    if path == main and isinstance(structure, dict):
        offset = reader_kwargs.get("offset", structure.get("offset", 0))
        return offset if isinstance(offset, int) else None
    return None


def payload_of(path: Path, *, main: Path, reader_kwargs: dict[str, Any]) -> Payload | None:
    """The payload of ``path`` (a file of a seed whose main path is ``main``), or None if unknown."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(NPY_MAGIC):
        return _npy(path)
    if head == HDF5_SIGNATURE:
        return _hdf5(path)
    offset = _declared_offset(path, reader_kwargs, main)
    if offset is not None and offset < size:
        return Payload(((offset, size),), elementwise=True)
    if _CAIMAN_NAME.search(path.name) and size:
        return Payload(((0, size),), elementwise=True)
    return None


def differing_values(a: np.ndarray, b: np.ndarray) -> int:
    """How many values of two equally shaped arrays differ (NaN equals NaN)."""
    same = a == b
    if a.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    return int(a.size - np.count_nonzero(same))
