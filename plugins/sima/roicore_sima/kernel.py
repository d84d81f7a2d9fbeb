"""The chunk kernel: a block of frames in, one trace value per ROI and frame out.

The hot loop is one sparse CSR product per frame, ``out[t] = A @ frame_t``,
with the frame converted into a *cache-resident*, preallocated float32
buffer and the product written straight into a preallocated float32 output
row (scipy's compiled ``csr_matvec``, which releases the GIL, so threads over
chunks scale). Frames go in pairs: two consecutive frames are contiguous in
the chunk and two consecutive output rows are contiguous in the output, so
one product with the block-diagonal matrix ``diag(A, A)`` computes both
(each row summed in exactly the same order as with ``A`` alone). Measured on
this machine kind (512 x 512 uint16, 500 ROIs of ~150 pixels): per-frame
CSR with a one-frame buffer ~9-10k frames/s per core, pairs ~8% more; the
same product on a pixel-major (transposed) block, or with an ``astype`` per
chunk, or over a multi-frame float buffer that spills out of cache, was
3-8x slower because numpy's transposes and casts into large buffers cost more
than the product. So the kernel never transposes and never allocates per frame.

Everything else is cheap or rare:

* the mean image is accumulated from the same float32 buffer into float32
  partial sums moved into float64 every <= 256 frames (exact for integer
  videos of up to 16 bits, since such partial sums are integers below 2**24;
  see :class:`Scratch`);
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

import numpy as np
from scipy import sparse

from roicore_sima.overlap import Component, component_footprint

__all__ = ["ChunkKernel", "Scratch", "csr_matvec", "merge_means", "kernel_block", "mean_block", "MEAN_FLUSH"]

try:  # scipy's compiled kernel: y += A @ x into a caller's buffer, GIL released
    from scipy.sparse._sparsetools import csr_matvec as _sparsetools_csr_matvec
except ImportError:  # pragma: no cover - a future scipy without the private module
    _sparsetools_csr_matvec = None

#: frames summed in float32 before a flush into the float64 mean accumulator
MEAN_FLUSH = 256
#: frames per sparse product: a block-diagonal matrix of PAIR copies of the weights
#: runs two frames per call (half the calls and GIL hand-offs, ~10% faster)
PAIR = 2


def _fallback_matvec(
    rows: int, cols: int, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, x: np.ndarray, y: np.ndarray
) -> None:
    """Public-API equivalent of sparsetools' ``csr_matvec`` (allocates a result)."""
    y += sparse.csr_matrix((data, indices, indptr), shape=(rows, cols)) @ x


_MATVEC = _sparsetools_csr_matvec if _sparsetools_csr_matvec is not None else _fallback_matvec


def csr_matvec(matrix: sparse.csr_matrix, x: np.ndarray, out: np.ndarray) -> None:
    """``out += matrix @ x`` for float32 CSR ``matrix``, float32 ``x`` and ``out`` (1-D, contiguous)."""
    _MATVEC(matrix.shape[0], matrix.shape[1], matrix.indptr, matrix.indices, matrix.data, x, out)


class Scratch:
    """Per-worker buffers: a float32 buffer for a pair of frames and the mean-image accumulators.

    One Scratch is used by one thread at a time; a worker reuses it for every
    chunk it processes, so nothing is allocated per frame or per chunk.

    The mean image is summed in float32 partial sums that move into float64
    once per ``MEAN_FLUSH`` frames (a float32 -> float64 update of the whole
    frame is expensive; per chunk it would cost more than the product):

    * ``partial``: float32, one row per position in a frame pair, updated per frame;
    * integer videos (no NaN possible): ``partial`` runs across chunks and is
      moved into ``total`` (float64) before it would hold more than
      ``MEAN_FLUSH`` frames, so it is an exact integer sum (< 2**24 for 16 bits);
    * float videos: at the end of every block (a chunk, or ``MEAN_FLUSH``
      frames of it) one float32 sum of ``partial`` tells whether a non-finite
      value got in; the pixels that were ever non-finite (motion-correction
      borders: a few percent of the frame) are summed again from the block
      without their non-finite values, and per-pixel missing counts are kept.
      Then ``partial`` is added to ``held`` (float32, at most ``MEAN_FLUSH``
      frames, then moved into ``total``).

    Parameters
    ----------
    pixels : int
        Pixels per frame.
    """

    def __init__(self, pixels: int) -> None:
        self.frames_buffer = np.empty((PAIR, pixels), dtype=np.float32)
        self.partial = np.zeros((PAIR, pixels), dtype=np.float32)
        self.held: np.ndarray | None = None
        self.total = np.zeros(pixels, dtype=np.float64)
        #: pixels seen non-finite so far (float videos), sorted flat indices
        self.known_nonfinite = np.empty(0, dtype=np.intp)
        self.known_mask: np.ndarray | None = None
        #: non-finite values per pixel: float32 in ``held``, int64 once moved
        self.held_missing: np.ndarray | None = None
        self.missing: np.ndarray | None = None
        #: finite values per pixel, set by :meth:`finish` when some were missing
        self.counts: np.ndarray | None = None
        #: frames moved into ``total``
        self.frames = 0
        #: frames in ``partial`` / in ``held``
        self.pending = 0
        self.held_pending = 0

    def _add_rows(self, rows: np.ndarray) -> None:
        for row in rows:
            self.total += row

    def move_partial(self) -> None:
        """Integer videos: add ``partial`` to the float64 total (exact) and clear it."""
        if self.pending:
            self._add_rows(self.partial)
            self.frames += self.pending
            self.pending = 0
            self.partial[...] = 0.0

    def _move_held(self) -> None:
        if self.held is None or not self.held_pending:
            return
        self._add_rows(self.held)
        self.held[...] = 0.0
        if self.held_missing is not None:
            if self.missing is None:
                self.missing = np.zeros(self.total.size, dtype=np.int64)
            self.missing += self.held_missing.astype(np.int64)
            self.held_missing[...] = 0.0
        self.frames += self.held_pending
        self.held_pending = 0

    def end_block(self, block: np.ndarray) -> None:
        """Float videos: fold the block summed in ``partial`` into ``held``, without its non-finite values.

        Pixels already known to have been non-finite are zeroed in ``partial``
        and summed again from the block (a small gather: motion-correction
        borders are a few percent of the frame); one float32 sum of the rest
        tells whether new non-finite pixels appeared, and only then is the
        whole ``partial`` checked pixel by pixel.

        Parameters
        ----------
        block : numpy.ndarray
            ``(pending, pixels)``: exactly the frames ``partial`` holds.
        """
        if self.pending == 0:
            return
        if self.held is None:
            self.held = np.zeros_like(self.partial)
        if self.held_pending + self.pending > MEAN_FLUSH:
            self._move_held()
        known = self.known_nonfinite
        if known.size:
            np.copyto(self.partial, np.float32(0.0), where=self.known_mask)
        if not np.isfinite(self.partial).all():
            new = np.flatnonzero(~np.isfinite(self.partial).all(axis=0))
            if self.known_mask is None:
                self.known_mask = np.zeros(self.total.size, dtype=bool)
            self.known_mask[new] = True
            np.copyto(self.partial, np.float32(0.0), where=self.known_mask)
            known = self.known_nonfinite = np.flatnonzero(self.known_mask)
        if known.size:
            values = np.take(block, known, axis=1).astype(np.float32, copy=False)
            finite = np.isfinite(values)
            self.partial[0, known] = np.add.reduce(np.where(finite, values, np.float32(0.0)), axis=0)
            if self.held_missing is None:
                self.held_missing = np.zeros(self.total.size, dtype=np.float32)
            self.held_missing[known] += np.float32(self.pending) - np.add.reduce(finite, axis=0, dtype=np.float32)
        np.add(self.held, self.partial, out=self.held)
        self.held_pending += self.pending
        self.pending = 0
        self.partial[...] = 0.0

    def finish(self) -> None:
        """Move every partial sum into ``total`` and set ``counts`` (call once, after the last chunk)."""
        self.move_partial()
        self._move_held()
        if self.missing is not None:
            self.counts = self.frames - self.missing

    def accumulate(self, frames: np.ndarray, check_finite: bool) -> None:
        """Add frames ``(t, pixels)`` to the mean image only (no traces), a pair of frames at a time."""
        buffers, partial = self.frames_buffer, self.partial
        for start in range(0, frames.shape[0], MEAN_FLUSH):
            block = frames[start : start + MEAN_FLUSH]
            if not check_finite and self.pending + block.shape[0] > MEAN_FLUSH:
                self.move_partial()
            for j in range(0, block.shape[0], PAIR):
                count = min(PAIR, block.shape[0] - j)
                np.copyto(buffers[:count], block[j : j + count], casting="unsafe")
                np.add(partial[:count], buffers[:count], out=partial[:count])
            self.pending += block.shape[0]
            if check_finite:
                self.end_block(block)


def merge_means(scratches: Iterable[Scratch], shape: tuple[int, int]) -> np.ndarray:
    """The mean image ``(rows, columns)`` float64 over every frame the scratches saw.

    Pixels never finite get NaN, as does every pixel of an empty video.
    """
    items = list(scratches)
    for scratch in items:
        scratch.finish()
    total = np.zeros(shape[0] * shape[1], dtype=np.float64)
    counts = np.zeros(total.size, dtype=np.int64)
    for scratch in items:
        total += scratch.total
        counts += scratch.counts if scratch.counts is not None else scratch.frames
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


class ChunkKernel:
    """Turns a chunk of frames into traces (see the module docstring).

    Parameters
    ----------
    product : scipy.sparse.csr_matrix
        ``A``, ``(rois, pixels)`` float32: trace values of fully imaged frames
        (before unmixing).
    rescale : scipy.sparse.csr_matrix
        ``B``, float32: denominators for frames with non-finite pixels.
    totals : numpy.ndarray
        ``b = B @ 1``, float32.
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
    """

    def __init__(
        self,
        product: sparse.csr_matrix,
        rescale: sparse.csr_matrix,
        totals: np.ndarray,
        *,
        nan_rois: np.ndarray,
        unmix: sparse.csr_matrix | None = None,
        groups: Sequence[np.ndarray] = (),
        weights: sparse.csr_matrix | None = None,
        sima_pinv: bool = False,
        pixel_scale: np.ndarray | None = None,
        check_finite: bool = True,
    ) -> None:
        self.product = product
        self.pair_product = _block_diagonal(product, PAIR)
        self.rescale = rescale
        self.totals = np.asarray(totals, dtype=np.float32)
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

    def scratch(self) -> Scratch:
        """A fresh per-worker Scratch for this kernel's frame size."""
        return Scratch(self.num_pixels)

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
            This worker's buffers.
        mean : bool
            Also accumulate the frames into ``scratch``'s mean image.
        """
        t = chunk.shape[0]
        frames = np.ascontiguousarray(chunk).reshape(t, -1)
        if not (out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (t, self.num_rois)):
            raise ValueError(f"out must be a C-contiguous float32 array of shape {(t, self.num_rois)}")
        out[...] = 0.0
        if t == 0:
            return
        matvec = _MATVEC
        single, pair = self.product, self.pair_product
        rows, cols = single.shape
        buffers = scratch.frames_buffer
        partial = scratch.partial
        check_finite = self.check_finite
        for start in range(0, t, MEAN_FLUSH):
            stop = min(t, start + MEAN_FLUSH)
            if mean and not check_finite and scratch.pending + (stop - start) > MEAN_FLUSH:
                scratch.move_partial()
            j = start
            while j < stop:
                count = PAIR if j + PAIR <= stop else 1
                # float32 input is copied too: gathers from a cache-resident buffer beat gathers from the chunk
                x = buffers[:count]
                np.copyto(x, frames[j : j + count], casting="unsafe")
                matrix = pair if count == PAIR else single
                matvec(
                    count * rows,
                    count * cols,
                    matrix.indptr,
                    matrix.indices,
                    matrix.data,
                    x.reshape(-1),
                    out[j : j + count].reshape(-1),
                )
                if mean:
                    np.add(partial[:count], x, out=partial[:count])
                j += count
            if mean:
                scratch.pending += stop - start
                if check_finite:
                    scratch.end_block(frames[start:stop])
        bad_frames = np.empty(0, dtype=np.intp)
        bad_rois: np.ndarray | None = None
        if check_finite:
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
        if self.nan_positions.size:
            out[:, self.nan_positions] = np.nan

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
    kernel.process(block, out, kernel.scratch(), mean=False)
    return out


def mean_block(block: np.ndarray, check_finite: bool) -> np.ndarray:
    """Sum and finite count of one block of frames, stacked as ``(1, 2, pixels)`` float64.

    The function dask maps over a video chunked in time for the mean image;
    the partial results are summed by a tree reduction.
    """
    frames = np.ascontiguousarray(block).reshape(block.shape[0], -1)
    scratch = Scratch(frames.shape[1])
    scratch.accumulate(frames, check_finite)
    scratch.finish()
    counts = scratch.counts if scratch.counts is not None else np.full(frames.shape[1], scratch.frames)
    return np.stack([scratch.total, counts.astype(np.float64)])[None]
