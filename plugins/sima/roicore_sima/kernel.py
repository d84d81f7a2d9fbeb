"""The chunk kernel: a block of frames in, one trace value per ROI and frame out.

The hot loop is one sparse CSR product per frame, ``out[t] = A @ frame_t``,
with the frame converted into a *cache-resident*, preallocated float32
buffer and the product written straight into a preallocated float32 output
row (scipy's compiled ``csr_matvec``, which releases the GIL, so threads over
chunks scale). Frames go in pairs: two consecutive frames are contiguous in
the chunk and two consecutive output rows are contiguous in the output, so
one product with the block-diagonal matrix ``diag(A, A)`` computes both
(each row summed in exactly the same order as with ``A`` alone). The product,
a transposed (pixel-major) block, an ``astype`` per chunk or a multi-frame
float buffer that spills out of cache were 3-8x slower (numpy's transposes and
casts into large buffers cost more than the product), so the kernel never
transposes and never allocates per frame.

**Integer videos of at most 16 bits** (uint8, int8, uint16, int16, bool) go
through the compiled band pass :mod:`roicore_sima._bandpass` when it is built
(it is, wherever a C compiler was at install time): frames in groups of four,
each row's four sums side by side, the mean image summed exactly in int32 in
the same pass that reads the frames. Without fixed costs (the kernel alone,
in one process, alternated, on the nine cells of the benchmark's grid) it
measured 1.00-1.78x a plain per-frame CSR loop with the mean image and
1.00-3.8x without it; at 1024 x 1024 both read the whole video from memory at
about the same rate, so the mean image costs as much as the loop's
conversion (see ``benchmarks/bench_extraction.py`` for whole calls).
Its traces are bitwise those of the numpy pass: every row is summed in
float32 in the same order, without fused multiply-adds. Every other video,
and every video where the extension is missing, takes the numpy band pass:

Frames are cut into **bands** of ``BAND_PIXELS`` consecutive pixels (rows of
the image), and a block of frames is processed band by band: the band of a
frame pair is converted into float32 (512 KiB), multiplied by the columns of
``A`` in that band (``csr_matvec`` adds into the output rows, and with sorted
column indices each row is summed in exactly the order of the whole product,
so the traces are bitwise those of one product per frame), and added to the
band of the mean image's partial sums. Buffer, partial sums and weights of a
band stay in the L2 cache, where whole frames (1-4 MiB of float32 per frame
at 512 x 512 to 1024 x 1024) did not, so the mean image costs one in-cache add
per pixel instead of a second pass over memory. Bands without weights are
skipped when no mean image is asked for.

The mean image (see :class:`Scratch`):

* integer videos of at most 16 bits: float32 partial sums of the very buffer
  the product reads are whole numbers below 2**24, hence exact, and move into
  float64 before they could exceed it (every 256 frames for uint16), so the
  sum is exact and does not depend on the order of the frames;
* wider integers: summed straight from the frames, in int64;
* float videos: the partial sums of a band are checked once per block (one
  float32 sum); only pixels that were non-finite in that block (motion
  correction borders) are summed again without their non-finite values and
  counted as missing.

Everything else is cheap or rare:

* non-finite pixels are detected from the product itself: a NaN or inf in a
  ROI's pixels makes that ROI's value non-finite, so a video without NaN pays
  one ``isfinite`` over the ``(frames, rois)`` output per chunk; only affected
  frames are recomputed with rescaled weights (see
  :func:`roicore_sima.weights.product_weights`) or, for overlapping ROIs under
  least squares, a small per-component least-squares solve;
* least-squares unmixing of overlapping ROIs multiplies each chunk's traces by
  the precomputed sparse unmixing matrix of the overlapping ROIs (factored
  once per extraction, applied once per chunk, column by column, so the
  result does not depend on the chunking).

A :class:`ChunkKernel` holds only arrays and pickles by value, so the same
object runs in threads or on dask workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from roicore_sima.overlap import Component, component_footprint

__all__ = [
    "ChunkKernel",
    "Scratch",
    "csr_matvec",
    "merge_means",
    "kernel_block",
    "mean_block",
    "BAND_PIXELS",
    "BLOCK_FRAMES",
]

try:  # scipy's compiled kernel: y += A @ x into a caller's buffer, GIL released
    from scipy.sparse._sparsetools import csr_matvec as _sparsetools_csr_matvec
except ImportError:  # pragma: no cover - a future scipy without the private module
    _sparsetools_csr_matvec = None

try:  # this package's compiled band pass for integer videos (optional at build time, see setup.py)
    from roicore_sima import _bandpass
except ImportError:  # pragma: no cover - installed where no C compiler was
    _bandpass = None

#: pixels per band: a frame pair's band in float32 (512 KiB), the band of the mean's partial sums
#: and the band's weights stay in a 2 MiB L2 cache
BAND_PIXELS = 2**16
#: frames per pair product: a block-diagonal matrix of PAIR copies of the weights
#: runs two frames per call (half the calls and GIL hand-offs, ~10% faster)
PAIR = 2
#: at most this many frames are summed in float32 before they move into float64
BLOCK_FRAMES = 256
#: every integer below this is a float32, so float32 sums of integers stay exact below it
FLOAT32_EXACT = 2**24
#: pixels per tile when the mean image alone is summed from the frames (no product)
TILE_PIXELS = 2**17
#: frames per straight sum: 32-bit sums of 16-bit integers are exact for at least this many
STRAIGHT_FRAMES = 2**15
#: pixels per band of the compiled pass where the weights are sparse (fewer than
#: ``DENSE_WEIGHTS_PER_PIXEL`` in all): the pass is then mostly the streaming read of the frames, which
#: runs faster in longer runs. Measured alternated in one process (AMD EPYC, 1 MiB L2 per core), against
#: 2**15: 1024 px square, 50 ROIs 0.85 -> 0.95x the plain loop (2.46 -> 3.54x without the mean image);
#: 512 px, 50 ROIs 1.34 -> 1.59x
COMPILED_BAND_PIXELS = 2**16
#: the same where the weights are dense: four frames' band, its int32 sums, its float32 copy (without
#: the mean image) and its weights stay in L2; 2**16 was as fast with the mean image and 10-20% slower
#: without it (512 px, 3,000 ROIs: 1.24 -> 1.02x), and 2**14-2**15 beat 2**16 by 5-15% on a 2 MiB L2
DENSE_COMPILED_BAND_PIXELS = 2**15
#: frames per group of the compiled pass (its four sums per row run side by side)
COMPILED_GROUP = 4
#: without the mean image, a band with at least this many weights per pixel is "dense": the compiled
#: pass converts the frames' band into float32 once (a streaming read) and gathers from that; sparser
#: bands gather straight from the integers in memory. With the mean image every band gathers from the
#: integers, which summing them has just brought into the cache: measured in one process on all nine
#: grid cells (256-1024 px square, 50-3,000 ROIs), 2-30% faster than converting first. Without it the
#: conversion won from 0.066 weights per pixel (1.00x vs 0.72x the plain loop at 1024 px, 500 ROIs)
#: and lost at 0.028 and below (0.94x vs 1.25x at 512 px, 50 ROIs)
DENSE_WEIGHTS_PER_PIXEL = 1 / 20
#: from this many frames in all, the compiled pass copies the weights into band order, so that each band's
#: are one contiguous run (1.0 ms per 290,000 weights, once); shorter calls point into the matrix instead.
#: Measured alternated, 1 worker, 1024 px square, 50 / 500 / 3,000 ROIs: at 128 frames copying took the
#: call from 0.88 / 0.86 / 0.85x the plain loop to 0.95 / 0.87 / 0.91x; at 32 frames 0.64 / 0.60 / 0.49x
#: to 0.72 / 0.61 / 0.50x (noisy; a 4-frame call only pays the copy)
GATHERED_BANDS_FRAMES = 64
#: dtypes of the compiled pass
COMPILED_DTYPES = frozenset(np.dtype(name) for name in ("bool", "uint8", "int8", "uint16", "int16"))


def _fallback_matvec(
    rows: int, cols: int, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, x: np.ndarray, y: np.ndarray
) -> None:
    """Public-API equivalent of sparsetools' ``csr_matvec`` (allocates a result)."""
    y += sparse.csr_matrix((data, indices, indptr), shape=(rows, cols)) @ x


_MATVEC = _sparsetools_csr_matvec if _sparsetools_csr_matvec is not None else _fallback_matvec


def csr_matvec(matrix: sparse.csr_matrix, x: np.ndarray, out: np.ndarray) -> None:
    """``out += matrix @ x`` for float32 CSR ``matrix``, float32 ``x`` and ``out`` (1-D, contiguous)."""
    _MATVEC(matrix.shape[0], matrix.shape[1], matrix.indptr, matrix.indices, matrix.data, x, out)


def mean_plan(dtype: Any) -> tuple[str, int]:
    """How the mean image sums frames of ``dtype``: ``(mode, frames per float32 partial sum)``.

    ``"exact"``: integers of at most 16 bits and booleans; float32 partial
    sums are exact for ``2**24 // max|value|`` frames (256 for uint16).
    ``"wide"``: 32- and 64-bit integers, summed from the frames in int64
    (float64 for 64 bits, as numpy's float64 mean). ``"float"``: floating
    point, which may hold NaN or inf. The second value is 0 for the last two.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "exact", FLOAT32_EXACT
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return "exact", FLOAT32_EXACT // max(-int(info.min), int(info.max))
    if dtype.kind in "ui":
        return "wide", 0
    return "float", 0


class Scratch:
    """Per-worker buffers: a float32 band buffer for a frame pair, and the mean image's sums.

    One Scratch is used by one thread at a time; a worker reuses it for every
    chunk it processes, so nothing is allocated per frame or per chunk (the
    sums are allocated on first use, untouched pages cost nothing).

    Sums (see :func:`mean_plan` for the modes):

    * ``partial``: float32 ``(PAIR, pixels)``, one row per position in a frame
      pair, added to by :meth:`ChunkKernel.process` from its float buffer
      ("exact" and "float" modes);
    * ``total``: float64, what has been moved out of ``partial`` or summed
      straight from frames (:meth:`accumulate`, "wide" mode);
    * ``missing``: int64 per pixel, non-finite values left out (float videos
      with any; else None).

    With ``compiled=True`` (the compiled band pass, integer videos of at most
    16 bits), ``partial`` is instead int32 ``(pixels,)``, added to by the
    compiled pass straight from the frames, and moved into ``total`` before
    it could overflow; the float buffer holds a group of frames' band.

    Parameters
    ----------
    pixels : int
        Pixels per frame.
    dtype : numpy.dtype
        The video's dtype.
    band : int, optional
        Pixels per band of the float buffer (the kernel's band); default ``BAND_PIXELS``.
    compiled : bool
        Buffers for the compiled band pass (``dtype`` must be in ``COMPILED_DTYPES``).
    """

    def __init__(self, pixels: int, dtype: Any = np.float32, band: int | None = None, *, compiled: bool = False) -> None:
        self.pixels = int(pixels)
        self.dtype = np.dtype(dtype)
        self.mode, self.limit = mean_plan(self.dtype)
        self.band = max(1, min(int(band or BAND_PIXELS), self.pixels))
        self.compiled = bool(compiled)
        if self.compiled:
            if self.dtype not in COMPILED_DTYPES:
                raise ValueError(f"the compiled band pass takes {sorted(map(str, COMPILED_DTYPES))}, not {self.dtype}")
            # int32 sums of values up to this magnitude stay exact for this many frames
            self.limit = (2**31 - 1) // (1 if self.dtype.kind == "b" else max(-int(np.iinfo(self.dtype).min), int(np.iinfo(self.dtype).max)))
            self._buffer = np.empty(COMPILED_GROUP * self.band, dtype=np.float32)
        else:
            self._buffer = np.empty(PAIR * self.band, dtype=np.float32)
        self._partial: np.ndarray | None = None
        self._total: np.ndarray | None = None
        self._tile: np.ndarray | None = None
        self.missing: np.ndarray | None = None
        #: finite values per pixel, set by :meth:`finish` when some were missing
        self.counts: np.ndarray | None = None
        #: frames added to the mean image
        self.frames = 0
        #: frames in ``partial`` ("exact" mode)
        self.pending = 0

    def buffer(self, pixels: int) -> np.ndarray:
        """The float32 buffer ``(PAIR, pixels)`` for a band of ``pixels`` (<= ``band``), C-contiguous."""
        return self._buffer[: PAIR * pixels].reshape(PAIR, pixels)

    @property
    def gather_buffer(self) -> np.ndarray:
        """The compiled pass's float32 buffer (a group of frames' band)."""
        return self._buffer

    @property
    def partial(self) -> np.ndarray:
        """Partial sums, zeros on first use: float32 ``(PAIR, pixels)``, or int32 ``(pixels,)`` when compiled."""
        if self._partial is None:
            if self.compiled:
                self._partial = np.zeros(self.pixels, dtype=np.int32)
            else:
                self._partial = np.zeros((PAIR, self.pixels), dtype=np.float32)
        return self._partial

    @property
    def total(self) -> np.ndarray:
        """float64 sums ``(pixels,)``, zeros on first use."""
        if self._total is None:
            self._total = np.zeros(self.pixels, dtype=np.float64)
        return self._total

    @property
    def uses_partial(self) -> bool:
        """True when :meth:`ChunkKernel.process` adds its float buffer into ``partial``."""
        return self.mode != "wide"

    # -- called by ChunkKernel.process, block by block and band by band ------------------------------
    def begin_block(self, frames: int) -> None:
        """Before a block of ``frames`` (at most ``limit`` in "exact" mode): make room in ``partial``."""
        if self.mode == "exact" and self.pending + frames > self.limit:
            self.move_partial()

    def end_band(self, start: int, stop: int, block: np.ndarray) -> None:
        """After a block's band ``[start, stop)`` of pixels: fold float sums, or sum wide integers.

        ``block`` holds the block's raw values of the band, ``(frames, stop - start)``.
        """
        if self.mode == "float":
            band = self.partial[:, start:stop]
            with np.errstate(invalid="ignore", over="ignore"):
                clean = np.isfinite(np.add.reduce(band, axis=None))
            if not clean:
                self._fold_nonfinite(band, block, start)
            total = self.total[start:stop]
            for row in band:
                total += row
            band[...] = 0.0
        elif self.mode == "wide":
            self._sum_frames(block, start)

    def end_block(self, frames: int) -> None:
        """After every band of a block of ``frames``."""
        self.frames += frames
        if self.mode == "exact":
            self.pending += frames

    # -- sums -----------------------------------------------------------------------------------------
    def move_partial(self, clear: bool = True) -> None:
        """Add ``partial`` to the float64 total (exact for integer partial sums) and clear it (unless last)."""
        if self.pending and self._partial is not None:
            rows = self._partial
            if rows.ndim == 1:  # the compiled pass's int32 sums
                if self._total is None:
                    self._total = rows.astype(np.float64)
                else:
                    self._total += rows
            elif self._total is None and rows.shape[0] == PAIR == 2:  # first move: one op instead of zeros and two adds
                self._total = np.add(rows[0], rows[1], dtype=np.float64)
            else:
                total = self.total
                for row in rows:
                    total += row
            if clear:
                rows[...] = 0.0
        self.pending = 0

    def _fold_nonfinite(self, sums: np.ndarray, block: np.ndarray, start: int) -> None:
        """Pixels whose block sums are not finite: sum their finite values again in float64, count the rest.

        ``sums`` is ``(rows, n)`` (the partial rows of the band) or ``(n,)``;
        it is left with the finite sum of each such pixel.
        """
        flat = sums.reshape(-1, sums.shape[-1])
        bad = np.flatnonzero(~np.isfinite(flat).all(axis=0))
        if not bad.size:  # a float32 sum overflowed, no value was non-finite
            return
        values = block[:, bad]
        finite = np.isfinite(values)
        flat[:, bad] = 0.0
        flat[0, bad] = np.where(finite, values, 0.0).sum(axis=0, dtype=np.float64)
        if self.missing is None:
            self.missing = np.zeros(self.pixels, dtype=np.int64)
        self.missing[start + bad] += block.shape[0] - finite.sum(axis=0)

    def _straight_dtype(self) -> type:
        """The sum type of :meth:`_sum_frames`: 32 bits for <= 16-bit integers (narrow SIMD, exact)."""
        if self.mode == "exact":
            return np.int32 if self.dtype.kind == "i" else np.uint32
        if self.mode == "wide" and self.dtype.itemsize <= 4:
            return np.int64
        return np.float64

    def _sum_frames(self, block: np.ndarray, start: int) -> None:
        """Add ``block`` ``(frames, n)`` (raw values of pixels ``start:start+n``) into ``total``, straight."""
        if not block.shape[0]:
            return
        n = block.shape[1]
        wide = self._straight_dtype()
        if self._tile is None or self._tile.dtype != wide or self._tile.size < n:
            self._tile = np.empty(max(n, min(TILE_PIXELS, self.pixels)), dtype=wide)
        sums = self._tile[:n]
        np.add.reduce(block, axis=0, dtype=wide, out=sums)
        if self.mode == "float":
            with np.errstate(invalid="ignore", over="ignore"):
                clean = np.isfinite(np.add.reduce(sums))
            if not clean:
                self._fold_nonfinite(sums, block, start)
        self.total[start : start + n] += sums

    def accumulate(self, frames: np.ndarray) -> None:
        """Add frames ``(t, pixels)`` to the mean image only (no traces), tile by tile, straight from their values.

        Integers of up to 16 bits are summed in 32-bit integers (int64 for
        32-bit ones), exactly, with no float pass; float frames in float64,
        leaving out non-finite values.
        """
        if not frames.shape[0]:
            return
        self.move_partial()
        # 32-bit sums of 16-bit values stay exact for 2**15 frames at least
        for first in range(0, frames.shape[0], STRAIGHT_FRAMES):
            block = frames[first : first + STRAIGHT_FRAMES]
            for start in range(0, self.pixels, TILE_PIXELS):
                stop = min(self.pixels, start + TILE_PIXELS)
                self._sum_frames(block[:, start:stop], start)
        self.frames += frames.shape[0]

    def finish(self) -> None:
        """Move every partial sum into ``total`` and set ``counts`` (call once, after the last chunk)."""
        self.move_partial(clear=False)
        self._partial = None  # moved: nothing may be added to it again
        if self.missing is not None:
            self.counts = self.frames - self.missing


def _take_int_sums(used: list[Scratch]) -> np.ndarray | None:
    """The exact int32 sum of the compiled pass's sums of ``used``, when they hold every frame; else None.

    That is when no frame has moved into float64 yet and the frames of all
    scratches together stay within the int32 limit. The scratches are
    finished by it (their sums are added into the first one's).
    """
    if not used or not all(
        scratch.compiled and scratch._total is None and scratch._partial is not None and scratch.pending == scratch.frames
        for scratch in used
    ):
        return None
    if sum(scratch.frames for scratch in used) > min(scratch.limit for scratch in used):
        return None
    sums = used[0]._partial
    for scratch in used[1:]:
        sums += scratch._partial
    for scratch in used:
        scratch._partial = None
        scratch.pending = 0
    return sums


def merge_means(scratches: Iterable[Scratch], shape: tuple[int, int]) -> np.ndarray:
    """The mean image ``(rows, columns)`` float64 over every frame the scratches saw.

    Pixels never finite get NaN, as does every pixel of an empty video.
    """
    items = list(scratches)
    pixels = shape[0] * shape[1]
    frames = sum(scratch.frames for scratch in items)
    used = [scratch for scratch in items if scratch.frames]
    sums = _take_int_sums(used)
    if sums is not None:  # the exact int32 sums into the float64 mean
        # a cast, then an in-place divide: 2x faster than one np.divide(..., dtype=float64), whose
        # buffered casting loop cost 1.3 ms at 1024 x 1024
        mean = sums.astype(np.float64)
        mean /= frames
        return mean.reshape(shape)
    for scratch in items:
        scratch.finish()
    if not used:
        return np.full(shape, np.nan)
    total = used[0].total.copy() if len(used) > 1 else used[0].total
    for scratch in used[1:]:
        total += scratch.total
    if all(scratch.missing is None for scratch in used):
        # in place: the scratches are finished, and a copy of a large frame costs more than the division
        return np.divide(total, frames, out=total).reshape(shape)
    counts = np.full(pixels, frames, dtype=np.int64)
    for scratch in used:
        if scratch.missing is not None:
            counts -= scratch.missing
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    return mean.reshape(shape)


def _block_diagonal(matrix: sparse.csr_matrix, copies: int) -> sparse.csr_matrix:
    """``copies`` copies of ``matrix`` on the diagonal (row ``i`` of copy ``k`` sums exactly like row ``i``)."""
    rows, cols = matrix.shape
    nnz = matrix.nnz
    indptr = np.concatenate([matrix.indptr[:-1] + k * nnz for k in range(copies)] + [[copies * nnz]])
    indices = np.concatenate([matrix.indices.astype(np.int64) + k * cols for k in range(copies)])
    index_type = np.int32 if copies * cols < 2**31 and copies * nnz < 2**31 else np.int64
    return sparse.csr_matrix(
        (np.tile(matrix.data, copies), indices.astype(index_type), indptr.astype(index_type)),
        shape=(copies * rows, copies * cols),
    )


Band = tuple[int, int, "sparse.csr_matrix | None", "sparse.csr_matrix | None"]


class CompiledBand(NamedTuple):
    """One band as the compiled pass takes it: for each ``(row, start, stop)`` of ``bounds``, that row's entries.

    The entries of ``row`` in this band are ``indices[start:stop]`` (and the
    same of ``data``); rows without weights in the band are not listed.
    """

    first: int
    last: int
    #: int32 ``(listed, 3)``: each row with weights in this band, and where its run of entries starts and stops
    bounds: np.ndarray
    #: int32 column indices, each relative to the first pixel of its band: one array that every band
    #: shares, in band order (gathered) or in the matrix's order
    indices: np.ndarray
    #: float32 weights, as ``indices``
    data: np.ndarray
    #: how many weights lie in the band
    entries: int

    @property
    def weighted(self) -> bool:
        """Whether the band has weights."""
        return self.entries > 0

    @property
    def dense(self) -> bool:
        """Whether the pass converts the frames first when it sums no mean image (many weights per pixel)."""
        return self.entries >= DENSE_WEIGHTS_PER_PIXEL * (self.last - self.first)


def _split_bands(matrix: sparse.csr_matrix, width: int) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(first, last, indptr, indices, data)`` of ``A[:, first:last]`` per band of ``width`` pixels.

    ``matrix`` has sorted column indices, so each band's entries of a row are
    a contiguous run of that row, kept in the same order (a stable sort by
    band of all entries, one pass). Indices are relative to the band.
    """
    rows, pixels = matrix.shape
    count = -(-pixels // width)
    band_of = matrix.indices // width
    row_of = np.repeat(np.arange(rows), np.diff(matrix.indptr))
    per_row = np.bincount(band_of * rows + row_of, minlength=count * rows).reshape(count, rows)
    # small integer keys: numpy's stable sort is a radix sort for 16-bit ones (linear time)
    order = np.argsort(band_of.astype(np.int16 if count < 2**15 else np.int64), kind="stable")
    data = matrix.data.astype(np.float32, copy=False)[order]
    indices = matrix.indices[order] - band_of[order] * width
    ends = np.cumsum(per_row.sum(axis=1))
    bands = []
    for k in range(count):
        first, last = k * width, min(pixels, (k + 1) * width)
        begin, end = (ends[k - 1] if k else 0), ends[k]
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(per_row[k], out=indptr[1:])
        bands.append((first, last, indptr, indices[begin:end], data[begin:end]))
    return bands


def _bands(matrix: sparse.csr_matrix, width: int) -> list[Band]:
    """``(first, last, A[:, first:last], diag(that, that))`` per band of ``width`` pixels; None for no weights."""
    rows = matrix.shape[0]
    bands: list[Band] = []
    for first, last, indptr, indices, data in _split_bands(matrix, width):
        if not indices.size:
            bands.append((first, last, None, None))
            continue
        single = sparse.csr_matrix(
            (data, indices.astype(matrix.indices.dtype), indptr.astype(matrix.indptr.dtype)), shape=(rows, last - first)
        )
        bands.append((first, last, single, _block_diagonal(single, PAIR)))
    return bands


def _compiled_bands(matrix: sparse.csr_matrix, width: int, *, gathered: bool) -> list[CompiledBand]:
    """The bands of ``width`` pixels of ``matrix`` (sorted column indices) as the compiled pass takes them.

    A row's entries in a band are a contiguous run of that row, so a band can
    be given by the rows it has weights for and where each one's run starts
    and stops: rows without weights in a band are left out, so the pass never
    visits them, and the column indices are made relative to their band once.
    Without ``gathered`` the runs point into the matrix's own arrays (nothing
    is moved); with it, the entries are first copied in band order, so that
    each band's entries are one contiguous run, which streams better. Every
    band shares the one pair of (index, weight) arrays.
    """
    pixels = matrix.shape[1]
    count = -(-pixels // width)
    if matrix.nnz >= 2**31 or pixels >= 2**31:
        raise ValueError("the compiled band pass takes fewer than 2**31 weights and pixels")
    indices = matrix.indices.astype(np.int32, copy=False)
    band_of = indices // np.int32(width)
    relative = indices - band_of * np.int32(width)
    # the C code trusts the indices: each lies inside its band (never fails: made so above)
    if relative.size and (relative.min() < 0 or relative.max() >= width or indices.max() >= pixels):
        raise ValueError("a band's column index lies outside the band")
    # Runs start at a row's first entry and where the band changes, and come in row order: a stable sort
    # by band lists each band's runs in row order. Working on the runs (a few per ROI) rather than on a
    # (bands x rows) table keeps this linear in the weights, whatever the ROI count.
    starts_run = np.zeros(indices.size, dtype=bool)
    np.not_equal(band_of[1:], band_of[:-1], out=starts_run[1:])
    starts_run[matrix.indptr[:-1][np.diff(matrix.indptr) > 0]] = True
    starts = np.flatnonzero(starts_run)
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1:] = indices.size  # the last run ends with the entries (no run at all without entries)
    run_band = band_of[starts]
    order = np.argsort(run_band, kind="stable")
    rows = np.searchsorted(matrix.indptr, starts, side="right")[order] - 1
    starts, stops, run_band = starts[order], stops[order], run_band[order]
    data = np.ascontiguousarray(matrix.data, dtype=np.float32)
    if gathered:
        lengths = stops - starts
        moved = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=moved[1:])
        # entry j of the band-ordered copy is entry source[j] of the matrix: runs one after another
        source = np.repeat(starts - moved[:-1], lengths) + np.arange(indices.size)
        relative, data = relative[source], data[source]
        starts, stops = moved[:-1], moved[1:]
    triples = np.stack([rows, starts, stops], axis=1).astype(np.int32)
    splits = np.searchsorted(run_band, np.arange(count + 1))
    per_band = np.bincount(run_band, weights=stops - starts, minlength=count)
    bands = []
    for k in range(count):
        first, last = k * width, min(pixels, (k + 1) * width)
        bands.append(CompiledBand(first, last, triples[splits[k] : splits[k + 1]], relative, data, int(per_band[k])))
    return bands


def compiled_band_pixels(product: sparse.csr_matrix) -> int:
    """Pixels per band of the compiled pass for the weights ``product``: wide where they are sparse."""
    dense = product.nnz >= DENSE_WEIGHTS_PER_PIXEL * product.shape[1]
    return DENSE_COMPILED_BAND_PIXELS if dense else COMPILED_BAND_PIXELS


class ChunkKernel:
    """Turns a chunk of frames into traces (see the module docstring).

    Parameters
    ----------
    product : scipy.sparse.csr_matrix
        ``A``, ``(rois, pixels)`` float32: trace values of fully imaged frames
        (before unmixing).
    rescale : scipy.sparse.csr_matrix or None
        ``B``, float32: denominators for frames with non-finite pixels (None
        without ``check_finite``: no frame has any).
    totals : numpy.ndarray or None
        ``b = B @ 1``, float32 (None when ``rescale`` is).
    nan_rois : numpy.ndarray
        Boolean per ROI: always NaN (empty, or never imaged).
    unmix : scipy.sparse.csr_matrix, optional
        ``(rois, rois)`` least-squares unmixing ``K``; only the rows and
        columns of overlapping ROIs are used.
    groups : sequence of numpy.ndarray
        Groups of overlapping ROIs (positions), solved by least squares in
        frames where one of their ROIs sees a non-finite pixel; their
        footprint models are built on first use.
    weights : scipy.sparse.csr_matrix, optional
        ``(rois, pixels)`` float64 weights (needed with ``groups``).
    sima_pinv : bool
        Footprints from SIMA's pseudo-inverse model (SIMA compatibility).
    pixel_scale : numpy.ndarray, optional
        Per-pixel factor applied to the frame before a component's least
        squares (``1 / mean`` for SIMA compatibility); NaN marks pixels that
        are never imaged.
    check_finite : bool
        The video has a float dtype and may hold NaN or inf.
    band : int, optional
        Pixels per band (see the module docstring); default ``BAND_PIXELS``
        (:func:`compiled_band_pixels` for the compiled pass).
    compiled : bool, optional
        Use the compiled band pass for videos of ``COMPILED_DTYPES``; default:
        when it is built.
    frames : int, optional
        How many frames the kernel will process in all, when known: fewer
        than ``GATHERED_BANDS_FRAMES`` build the compiled pass's bands without
        moving the weights (see :func:`_compiled_bands`). The traces are the
        same either way.
    """

    def __init__(
        self,
        product: sparse.csr_matrix,
        rescale: sparse.csr_matrix | None,
        totals: np.ndarray | None,
        *,
        nan_rois: np.ndarray,
        unmix: sparse.csr_matrix | None = None,
        groups: Sequence[np.ndarray] = (),
        weights: sparse.csr_matrix | None = None,
        sima_pinv: bool = False,
        pixel_scale: np.ndarray | None = None,
        check_finite: bool = True,
        band: int | None = None,
        compiled: bool | None = None,
        frames: int | None = None,
    ) -> None:
        if not product.has_sorted_indices:  # bands sum each row in column order: sort once
            product = product.copy()
            product.sort_indices()
        self.product = product
        self.band = max(1, min(int(band or BAND_PIXELS), product.shape[1]))
        self.compiled_band = max(1, min(int(band or compiled_band_pixels(product)), product.shape[1]))
        self.compiled = (_bandpass is not None) if compiled is None else bool(compiled) and _bandpass is not None
        if product.nnz >= 2**31:  # int32 indices of the compiled pass
            self.compiled = False
        self._bands: list[Band] | None = None
        self._compiled_bands: list[CompiledBand] | None = None
        self.gathered_bands = frames is None or frames >= GATHERED_BANDS_FRAMES
        if check_finite and (rescale is None or totals is None):
            raise ValueError("a kernel that checks for non-finite pixels needs the rescale matrix and its totals")
        self.rescale = rescale
        self.totals = None if totals is None else np.asarray(totals, dtype=np.float32)
        self.nan_rois = np.asarray(nan_rois, dtype=bool)
        self.nan_positions = np.flatnonzero(self.nan_rois)
        self.groups = [np.asarray(group, dtype=np.int64) for group in groups]
        if self.groups and weights is None:
            raise ValueError("overlapping ROI groups need the float64 weights")
        self.weights = weights
        self.sima_pinv = bool(sima_pinv)
        self.pixel_scale = pixel_scale
        self.check_finite = bool(check_finite)
        rois = self.product.shape[0]
        self.component_of = np.full(rois, -1, dtype=np.int64)
        for index, group in enumerate(self.groups):
            self.component_of[group] = index
        self._components: dict[int, Component] = {}
        self._plans: dict[bytes, tuple[np.ndarray, sparse.csr_matrix, sparse.csr_matrix, np.ndarray]] = {}
        self._solvers: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = {}
        self._plans_lock = threading.Lock()
        self.unmix_positions: np.ndarray | None = None
        self.unmix_block: sparse.csr_matrix | None = None
        if unmix is not None and self.groups:
            positions = np.sort(np.concatenate(self.groups))
            block = unmix[positions][:, positions].tocsr()
            block.sort_indices()
            self.unmix_positions = positions
            self.unmix_block = block
        # Where nothing reads a chunk's output after the pass (no unmixing, no repair), it starts as this
        # row: NaN for the always-NaN ROIs, which have no weights for the pass to add, 0 for the others.
        # That spares a scatter into their columns per chunk (256 x 256, 3,000 ROIs: 3.5 of 24 ms a call).
        self.start_row: np.ndarray | None = None
        if self.nan_positions.size and self.unmix_block is None and not self.check_finite:
            self.start_row = np.where(self.nan_rois, np.float32(np.nan), np.float32(0.0))

    def component(self, index: int) -> Component:
        """The footprint model of overlap group ``index``, built on first use (frames with NaN only)."""
        with self._plans_lock:
            found = self._components.get(index)
        if found is None:
            assert self.weights is not None
            found = component_footprint(self.weights, self.groups[index], sima_pinv=self.sima_pinv)
            with self._plans_lock:
                self._components[index] = found
        return found

    @property
    def bands(self) -> list[Band]:
        """The numpy pass's bands (built on first use)."""
        if self._bands is None:
            self._bands = _bands(self.product, self.band)
        return self._bands

    @property
    def compiled_bands(self) -> list[CompiledBand]:
        """The compiled pass's bands (built on first use)."""
        if self._compiled_bands is None:
            self._compiled_bands = _compiled_bands(self.product, self.compiled_band, gathered=self.gathered_bands)
        return self._compiled_bands

    def uses_compiled(self, dtype: Any) -> bool:
        """Whether frames of ``dtype`` go through the compiled band pass."""
        return self.compiled and np.dtype(dtype) in COMPILED_DTYPES

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_plans"] = {}
        state["_solvers"] = {}
        state["_components"] = {}
        del state["_plans_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._plans_lock = threading.Lock()

    @property
    def num_rois(self) -> int:
        """Number of ROIs (trace columns)."""
        return int(self.product.shape[0])

    @property
    def num_pixels(self) -> int:
        """Pixels per frame."""
        return int(self.product.shape[1])

    def scratch(self, dtype: Any = np.float32) -> Scratch:
        """A fresh per-worker Scratch for this kernel's frame size and bands, for a video of ``dtype``."""
        if self.uses_compiled(dtype):
            return Scratch(self.num_pixels, dtype, self.compiled_band, compiled=True)
        return Scratch(self.num_pixels, dtype, self.band)

    # -- the hot path -------------------------------------------------------------------------

    def process(self, chunk: np.ndarray, out: np.ndarray, scratch: Scratch, *, mean: bool = True) -> None:
        """Compute the traces of ``chunk`` into ``out`` and add it to the mean image.

        Parameters
        ----------
        chunk : numpy.ndarray
            ``(t, rows, columns)`` (or ``(t, pixels)``) frames, any real dtype.
        out : numpy.ndarray
            ``(t, rois)`` float32, C-contiguous (a slice of the preallocated
            output); overwritten.
        scratch : Scratch
            This worker's buffers (from :meth:`scratch`, for the video's dtype).
        mean : bool
            Also accumulate the frames into ``scratch``'s mean image.
        """
        t = chunk.shape[0]
        frames = np.ascontiguousarray(chunk).reshape(t, -1)
        if not (out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (t, self.num_rois)):
            raise ValueError(f"out must be a C-contiguous float32 array of shape {(t, self.num_rois)}")
        compiled = scratch.compiled
        if scratch.band != (self.compiled_band if compiled else self.band) or scratch.pixels != self.num_pixels:
            raise ValueError("scratch was not made by this kernel's scratch()")
        if compiled and frames.dtype != scratch.dtype:
            raise ValueError(f"scratch was made for {scratch.dtype} frames, not {frames.dtype}")
        out[...] = 0.0 if self.start_row is None else self.start_row
        if t == 0:
            return
        if compiled:
            self._compiled_pass(frames, out, scratch, mean)
        else:
            self._numpy_pass(frames, out, scratch, mean)
        self._finish_chunk(frames, out)

    def _compiled_pass(self, frames: np.ndarray, out: np.ndarray, scratch: Scratch, mean: bool) -> None:
        """Traces (and the mean image's int32 sums) of integer frames ``(t, pixels)``, band by band, compiled."""
        assert _bandpass is not None
        band_pass = _bandpass.band_pass
        if frames.dtype == np.bool_:
            frames = frames.view(np.uint8)
        t = frames.shape[0]
        sums = scratch.partial if mean else None
        gather = scratch.gather_buffer
        for start in range(0, t, BLOCK_FRAMES):
            stop = min(t, start + BLOCK_FRAMES)
            if mean:
                scratch.begin_block(stop - start)
            rows_out = out[start:stop]
            for band in self.compiled_bands:
                if not band.weighted and not mean:
                    continue
                band_pass(
                    frames[start:stop, band.first : band.last],
                    rows_out,
                    band.bounds,
                    band.indices,
                    band.data,
                    sums[band.first : band.last] if sums is not None else None,
                    gather if band.dense and not mean else None,
                )
            if mean:
                scratch.end_block(stop - start)

    def _numpy_pass(self, frames: np.ndarray, out: np.ndarray, scratch: Scratch, mean: bool) -> None:
        """Traces (and the mean image's sums) of frames ``(t, pixels)`` of any dtype, band by band, in numpy."""
        t = frames.shape[0]
        rows = self.num_rois
        add_partial = mean and scratch.uses_partial
        partial = scratch.partial if add_partial else None
        block_frames = min(BLOCK_FRAMES, scratch.limit) if scratch.mode == "exact" else BLOCK_FRAMES
        for start in range(0, t, block_frames):
            stop = min(t, start + block_frames)
            if mean:
                scratch.begin_block(stop - start)
            for first, last, single, pair in self.bands:
                if single is None and not mean:
                    continue
                block = frames[start:stop, first:last]
                buffer = scratch.buffer(last - first)
                band_partial = partial[:, first:last] if partial is not None else None
                self._band_pass(block, buffer, out[start:stop], band_partial, single, pair, rows)
                if mean:
                    scratch.end_band(first, last, block)
            if mean:
                scratch.end_block(stop - start)

    def _finish_chunk(self, frames: np.ndarray, out: np.ndarray) -> None:
        """Unmix overlapping ROIs, repair values that saw non-finite pixels, and set always-NaN ROIs."""
        bad_frames = np.empty(0, dtype=np.intp)
        bad_rois: np.ndarray | None = None
        if self.check_finite:
            finite = np.isfinite(out)
            if self.nan_positions.size:
                finite[:, self.nan_positions] = True
            bad_frames = np.flatnonzero(~finite.all(axis=1))
            if bad_frames.size:
                bad_rois = ~finite[bad_frames]
        if self.unmix_block is not None:
            self._unmix(out)
        if bad_frames.size:
            assert bad_rois is not None
            self._repair(frames, out, bad_frames, bad_rois)
        if self.nan_positions.size and self.start_row is None:
            out[:, self.nan_positions] = np.nan

    @staticmethod
    def _band_pass(
        block: np.ndarray,
        buffer: np.ndarray,
        out: np.ndarray,
        partial: np.ndarray | None,
        single: sparse.csr_matrix | None,
        pair: sparse.csr_matrix | None,
        rows: int,
    ) -> None:
        """One band of a block of frames, a frame pair at a time: convert, ``out += A_band @ x``, add to ``partial``."""
        matvec = _MATVEC
        t = block.shape[0]
        cols = block.shape[1]
        j = 0
        while j < t:
            count = PAIR if j + PAIR <= t else 1
            # float32 input is copied too: gathers from a cache-resident buffer beat gathers from the chunk
            x = buffer[:count]
            np.copyto(x, block[j : j + count], casting="unsafe")
            matrix = pair if count == PAIR else single
            if matrix is not None:
                matvec(
                    count * rows,
                    count * cols,
                    matrix.indptr,
                    matrix.indices,
                    matrix.data,
                    x.reshape(-1),
                    out[j : j + count].reshape(-1),
                )
            if partial is not None:
                np.add(partial[:count], x, out=partial[:count])
            j += count

    def _unmix(self, out: np.ndarray) -> None:
        """Least-squares unmixing of the overlapping ROIs' columns of one chunk."""
        assert self.unmix_block is not None and self.unmix_positions is not None
        positions = self.unmix_positions
        # (m, t) float64, C order: one row per ROI, so the product runs column by column
        mixed = np.ascontiguousarray(out[:, positions].T, dtype=np.float64)
        unmixed = self.unmix_block @ mixed
        out[:, positions] = unmixed.T

    def _repair_plan(self, isolated: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
        """The rows of ``isolated`` ROIs restricted to their own pixels (cached: NaN borders repeat)."""
        key = isolated.tobytes()
        with self._plans_lock:
            plan = self._plans.get(key)
        if plan is not None:
            return plan
        assert self.rescale is not None and self.totals is not None  # checked in __init__ (check_finite)
        product = self.product[isolated]
        rescale = self.rescale[isolated]
        columns = np.union1d(product.indices, rescale.indices)

        def restrict(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
            # searchsorted keeps each row's order, so every row sums exactly as in the full product
            indices = np.searchsorted(columns, matrix.indices).astype(matrix.indices.dtype)
            return sparse.csr_matrix((matrix.data, indices, matrix.indptr), shape=(matrix.shape[0], columns.size))

        plan = (columns, restrict(product), restrict(rescale), self.totals[isolated].astype(np.float64))
        with self._plans_lock:
            if len(self._plans) >= 16:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _repair(self, frames: np.ndarray, out: np.ndarray, bad_frames: np.ndarray, bad_rois: np.ndarray) -> None:
        """Recompute the (frame, ROI) values that saw non-finite pixels.

        Isolated ROIs: their rows only, on their own pixels only (a small
        gather), with non-finite values set to 0 and, for the denominators,
        the indicator of finite pixels. Overlapping ROIs under least squares:
        solved per component.
        """
        concerned = np.flatnonzero(bad_rois.any(axis=0))
        isolated = concerned[self.component_of[concerned] < 0]
        if isolated.size:
            columns, product, rescale, totals = self._repair_plan(isolated)
            values = np.asarray(frames[np.ix_(bad_frames, columns)], dtype=np.float32)
            finite = np.isfinite(values)
            zeroed = np.where(finite, values, np.float32(0.0))
            indicator = finite.astype(np.float32)
            numerator = np.zeros((bad_frames.size, isolated.size), dtype=np.float32)
            denominator = np.zeros_like(numerator)
            for k in range(bad_frames.size):
                csr_matvec(product, zeroed[k], numerator[k])
                csr_matvec(rescale, indicator[k], denominator[k])
            num, den = numerator.astype(np.float64), denominator.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                repaired = np.where(den > 0, num * totals / np.where(den > 0, den, 1.0), np.nan)
            wanted = bad_rois[:, isolated]
            for k, j in enumerate(bad_frames):
                out[j, isolated[wanted[k]]] = repaired[k, wanted[k]]
        if self.groups:
            for k, j in enumerate(bad_frames):
                touched = np.unique(self.component_of[bad_rois[k] & (self.component_of >= 0)])
                for index in touched:
                    self._solve_component(int(index), frames[j], out[j])

    def _solve_component(self, index: int, frame: np.ndarray, row: np.ndarray) -> None:
        """Least squares of one component over its imaged pixels (SIMA's per-frame model).

        The least-squares operator (a pseudo-inverse) depends only on which of
        the component's pixels are imaged; motion-correction borders repeat,
        so it is cached per pattern.
        """
        component = self.component(index)
        values = np.asarray(frame[component.pixels], dtype=np.float64)
        if self.pixel_scale is not None:
            values = values * self.pixel_scale[component.pixels]
        imaged = np.isfinite(values)
        key = (index, np.packbits(imaged).tobytes())
        with self._plans_lock:
            solver = self._solvers.get(key)
        if solver is None:
            seen = component.support[imaged].any(axis=0)
            operator = np.linalg.pinv(component.footprints[imaged][:, seen]) if seen.any() else np.empty((0, 0))
            solver = (seen, operator)
            with self._plans_lock:
                if len(self._solvers) >= 4096:
                    self._solvers.clear()
                self._solvers[key] = solver
        seen, operator = solver
        result = np.full(component.rois.size, np.nan)
        if seen.any():
            result[seen] = operator @ values[imaged]
        row[component.rois] = result


def kernel_block(block: np.ndarray, kernel: ChunkKernel) -> np.ndarray:
    """Traces ``(t, rois)`` float32 of one block of frames (no mean image).

    The function dask maps over a video chunked in time.
    """
    out = np.zeros((block.shape[0], kernel.num_rois), dtype=np.float32)
    kernel.process(block, out, kernel.scratch(block.dtype), mean=False)
    return out


def mean_block(block: np.ndarray) -> np.ndarray:
    """Sum and finite count of one block of frames, stacked as ``(1, 2, pixels)`` float64.

    The function dask maps over a video chunked in time for the mean image;
    the partial results are summed by a tree reduction.
    """
    frames = np.ascontiguousarray(block).reshape(block.shape[0], -1)
    scratch = Scratch(frames.shape[1], frames.dtype)
    scratch.accumulate(frames)
    scratch.finish()
    counts = scratch.counts if scratch.counts is not None else np.full(frames.shape[1], scratch.frames)
    return np.stack([scratch.total, counts.astype(np.float64)])[None]
