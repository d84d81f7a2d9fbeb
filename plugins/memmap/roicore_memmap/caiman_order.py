"""Which storage order a CaImAn memmap's bytes look like, from a few hundred sampled values.

``caiman.save_memmap(..., order='F')`` of a single file writes C-ordered (pixel-major) bytes under
an ``order_F`` name, so the name alone can be wrong. The two orders differ in which element
follows at a fixed distance in the flat float32 sequence:

* C (pixel-major, ``(p, t)`` at ``p * T + t``): element ``i + T`` is the same frame at the next
  pixel in CaImAn's Fortran pixel order, i.e. the pixel one row down - a spatial neighbour;
* F (frame-major, ``(p, t)`` at ``t * P + p``): element ``i + P`` is the same pixel in the next
  frame.

In a movie both neighbours are close in value while the element at the other distance is some
unrelated pixel or time, so the smaller median absolute difference names the order. Data without
that structure (noise, a constant movie), tiny files, and shapes where the other distance also
lands on a nearby pixel (``T`` close to a multiple of the rows) give no verdict, and no warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["guess_order", "SAMPLES", "MARGIN"]

#: number of sampled positions (3 reads each: a few hundred pages at most)
SAMPLES = 256
#: one order must beat the other by this factor for a verdict
MARGIN = 1.5
#: a pixel this many rows and columns away counts as a neighbour
NEAR = 3


def _near(step: int, rows: int) -> bool:
    """Whether pixel ``p + step`` (CaImAn's Fortran pixel order) lies within NEAR rows and columns of ``p``."""
    columns, row = divmod(step, rows)
    return (row <= NEAR and columns <= NEAR) or (rows - row <= NEAR and columns + 1 <= NEAR)


def guess_order(
    path: Path, pixels: int, frames: int, dtype: np.dtype, rows: int
) -> tuple[str | None, float, float]:
    """``("C" or "F" or None, spread_c, spread_f)`` for a memmap of ``pixels x frames`` values.

    ``spread_c`` is the median ``|x[i] - x[i + frames]|`` (small if C), ``spread_f`` the median
    ``|x[i] - x[i + pixels]|`` (small if F).
    """
    total = pixels * frames
    reach = max(pixels, frames)
    # under F the element at +T is pixel p + T; under C the one at +P is about pixel p + P // T
    ambiguous = _near(frames, rows) or _near(pixels // frames, rows)
    if ambiguous or pixels < 64 or frames < 8 or total <= reach:
        return None, float("nan"), float("nan")
    flat = np.memmap(path, dtype=dtype, mode="r", shape=(total,))
    try:
        positions = np.linspace(0, total - reach - 1, SAMPLES).astype(np.int64)
        base = np.asarray(flat[positions], dtype=np.float64)
        spread_c = float(np.median(np.abs(base - flat[positions + frames])))
        spread_f = float(np.median(np.abs(base - flat[positions + pixels])))
    finally:
        del flat  # unmaps the file
    if not (np.isfinite(spread_c) and np.isfinite(spread_f)):
        return None, spread_c, spread_f
    if spread_c * MARGIN < spread_f:
        return "C", spread_c, spread_f
    if spread_f * MARGIN < spread_c:
        return "F", spread_c, spread_f
    return None, spread_c, spread_f
