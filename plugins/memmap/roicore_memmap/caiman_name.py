"""CaImAn's memmap file-name convention.

CaImAn (``caiman.mmapping.save_memmap``) names its memory-mapped movies
``<base>_d1_<rows>_d2_<columns>_d3_<planes>_order_<C|F>_frames_<T>_.mmap``
and stores no header: the name is the only description. The file is a
float32 array of shape ``(pixels, frames)`` with the pixels of a frame
flattened in Fortran order (the row index varies fastest:
``pixel = row + column * rows + plane * rows * columns``), stored in C order
(pixel-major: element ``(p, t)`` at ``p * T + t``) or F order (frame-major:
element ``(p, t)`` at ``t * P + p``), as the name says.

This module imports the standard library and numpy only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["CaimanName", "parse_caiman_name", "CAIMAN_PATTERN", "CAIMAN_DTYPE"]

#: the fnmatch pattern detection uses
CAIMAN_PATTERN = "*_d1_*_d2_*_d3_*_order_*_frames_*.mmap"
#: CaImAn writes float32 in the machine's order, little-endian on every platform it supports
CAIMAN_DTYPE = np.dtype("<f4")

_NAME_RE = re.compile(
    r"_d1_(?P<d1>\d+)_d2_(?P<d2>\d+)_d3_(?P<d3>\d+)_order_(?P<order>[CF])_frames_(?P<frames>\d+)_?\.mmap$"
)


@dataclass(frozen=True)
class CaimanName:
    """The layout a CaImAn memmap's name declares.

    Attributes
    ----------
    rows, columns, planes : int
        ``d1``, ``d2`` and ``d3``.
    order : {"C", "F"}
        ``"C"``: pixel-major; ``"F"``: frame-major.
    frames : int
        ``T``.
    """

    rows: int
    columns: int
    planes: int
    order: str
    frames: int

    @property
    def pixels(self) -> int:
        """Pixels per frame, all planes included."""
        return self.rows * self.columns * self.planes

    @property
    def data_bytes(self) -> int:
        """The exact file size the name implies."""
        return self.pixels * self.frames * CAIMAN_DTYPE.itemsize

    @property
    def axes(self) -> str:
        """The file's axes in C order, outermost first (see the module docstring).

        Pixel-major ``(P, T)`` with Fortran-flattened pixels is the C array
        ``(planes, columns, rows, frames)``; frame-major is ``(frames, planes,
        columns, rows)``.
        """
        return "zxyt" if self.order == "C" else "tzxy"


def parse_caiman_name(name: str) -> CaimanName | None:
    """The layout declared by a CaImAn memmap file name, or None if the name does not follow it.

    Both CaImAn's own ``..._frames_<T>_.mmap`` and ``..._frames_<T>.mmap`` are accepted;
    a size of 0 makes the name invalid.
    """
    match = _NAME_RE.search(name)
    if match is None:
        return None
    parsed = CaimanName(
        rows=int(match["d1"]),
        columns=int(match["d2"]),
        planes=int(match["d3"]),
        order=match["order"],
        frames=int(match["frames"]),
    )
    if min(parsed.rows, parsed.columns, parsed.planes, parsed.frames) < 1:
        return None
    return parsed
