"""The roicore reader of CaImAn CNMF HDF5 results (``CNMF.save()`` files).

Opening parses metadata only (:mod:`roicore_caiman.contents`): no trace and no
footprint data is read. Masks are decoded on first use with one vectorised
Fortran-to-C pixel remap of ``estimates/A``; traces are read from h5py for the
requested window and components only, in bounded blocks, and ``raw`` is
computed as ``C + YrA`` per block. Background components (``b``, ``f``) are
kept apart from the ROIs. The HDF5 file stays open until :meth:`close` (or
the end of a ``with`` block).

Examples
--------
>>> from roicore_caiman.reader import CaimanSegmentationExtractor
>>> with CaimanSegmentationExtractor("results.hdf5") as seg:   # doctest: +SKIP
...     raw = seg.get_traces(roi_ids=[3, 7], start_sample=100, end_sample=200)
...     seg.acceptance_evaluated, seg.get_property("is_accepted")
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.errors import CorruptFileError, RoicoreError, UnsupportedFeatureError
from roicore.segmentation import RoiMasks, SegmentationExtractor
from roicore_caiman.contents import CaimanContents, parse
from roicore_caiman.links import first_external_link
from roicore_caiman.layout import (
    SparseGroupInfo,
    corrupt,
    dense_fortran_to_c,
    fortran_to_c_pixels,
    read_sparse_group,
)
from roicore_caiman.sniff import sniff

__all__ = ["CaimanSegmentationExtractor"]

#: Upper bound of one block read from a trace dataset (bytes).
BLOCK_BYTES = 8 * 2**20  # measured: 8 MiB blocks beat 1 MiB and 32 MiB on a 320 MiB read
#: A bounding block of rows is read (and thinned) when it is at most this big.
SPAN_BYTES = 8 * 2**20


def _trace_dtype(datasets: tuple[h5py.Dataset, ...]) -> np.dtype:
    """float32 or float64: the promoted dtype of the summed fields (others become float64)."""
    dtype = np.result_type(*(ds.dtype for ds in datasets))
    if dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        return dtype
    return np.dtype(np.float64)


def read_rows(dataset: h5py.Dataset, positions: np.ndarray, start: int, end: int) -> np.ndarray:
    """Rows ``positions`` (sorted, unique) of a ``(rows, T)`` dataset, columns ``[start, end)``.

    Returns
    -------
    numpy.ndarray
        ``(len(positions), end - start)``, a new array in the dataset's dtype.
    """
    out = np.empty((positions.size, end - start), dtype=dataset.dtype)
    read_rows_into(dataset, positions, start, end, out)
    return out


def read_rows_into(dataset: h5py.Dataset, positions: np.ndarray, start: int, end: int, out: np.ndarray) -> None:
    """Read rows ``positions`` (sorted, unique), columns ``[start, end)`` into ``out``.

    ``out`` is C-contiguous, ``(len(positions), end - start)``; HDF5 converts
    the dtype while reading. h5py's fancy indexing is slow for many scattered
    rows, so this reads straight into ``out`` when the rows are consecutive,
    one bounding block when it is small or dense enough, and otherwise one
    slab per run of consecutive rows. A 1-D dataset is one row.
    """
    count, width = positions.size, end - start
    if count == 0 or width == 0:
        return
    if dataset.ndim == 1:
        dataset.read_direct(out.reshape(width), np.s_[start:end])
        return
    low, high = int(positions[0]), int(positions[-1]) + 1
    span = high - low
    if span == count:
        dataset.read_direct(out, np.s_[low:high, start:end])
        return
    if span <= 2 * count or span * width * dataset.dtype.itemsize <= SPAN_BYTES:
        out[...] = dataset[low:high, start:end][positions - low]
        return
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    run_starts = positions[np.concatenate(([0], breaks))]
    run_ends = positions[np.concatenate((breaks - 1, [count - 1]))] + 1
    filled = 0
    for a, b in zip(run_starts.tolist(), run_ends.tolist()):
        dataset.read_direct(out[filled : filled + b - a], np.s_[a:b, start:end])
        filled += b - a


def _origin_note(contents: CaimanContents) -> str | None:
    """Where a file roicore wrote came from, for ``roicore info``; None for CaImAn's own files."""
    stored = "estimates/C holds raw traces (no denoising), read back as 'raw', not as CaImAn's denoised C"
    provenance = contents.provenance
    if provenance is not None and provenance.get("method"):
        made_by = f"{provenance.get('plugin') or 'a plugin'} {provenance.get('version') or ''}".strip()
        text = f"roicore extraction (method {provenance['method']!r}, {made_by}), not a CaImAn run"
        return f"{text}; {stored}" if contents.raw_as_c else text
    if contents.raw_as_c:
        return f"written by roicore; {stored}"
    return None


def _refuse_external_links(handle: h5py.File, path: Path) -> None:
    """Raise UnsupportedFeatureError naming the file and the link when it holds an HDF5 external link."""
    found = first_external_link(handle)
    if found is not None:
        member, link = found
        raise UnsupportedFeatureError(
            f"{path}: {member} is an HDF5 external link to {link.filename}:{link.path}; "
            "roicore-caiman reads only data stored in the file itself"
        )


class CaimanSegmentationExtractor(SegmentationExtractor):
    """A CaImAn CNMF result saved by ``CNMF.save()`` (HDF5), read lazily.

    Parameters
    ----------
    file_path : str or path-like
        The ``.hdf5`` file.
    sampling_frequency : float, optional
        Frame rate in Hz; overrides ``params/data/fr`` (needed only for files
        that lack it).

    Attributes
    ----------
    acceptance_evaluated : bool
        True when the file says which components were accepted (then the
        bool property ``"is_accepted"`` exists); False for a file saved before
        CaImAn's component evaluation (``idx_components`` is ``NoneType``),
        which has no ``"is_accepted"`` property.
    acceptance_note : str
        Where the acceptance came from, or why it is unknown (shown by
        ``roicore info``).
    notes : tuple of str
        Fields present in the file but ignored, and why (also warned at open).
    provenance : dict or None
        For a file roicore wrote from a computed source (an extraction result),
        what made it: method, plugin, version, options; else None.
    origin_note : str or None
        One sentence on where the file came from when roicore made it (an
        extraction, or raw traces stored as ``C``); shown by ``roicore info``.

    Notes
    -----
    ROI ids are CaImAn's component indices ``0 .. K-1`` (or the ids stored by
    roicore's CaImAn writer). Background components (columns of ``b``, rows of
    ``f``) are a separate set with ids ``K .. K+nb-1``: background ``j`` has id
    ``K + j``, so no id means two things and no string prefix is needed.
    Traces: ``raw`` = ``C + YrA``, ``denoised`` = ``C``, ``deconvolved`` = ``S``,
    ``dff`` = ``F_dff``, ``background`` = ``f``; each exists only when its
    fields are stored (not ``NoneType``). Properties: ``is_accepted``, and
    ``snr`` (``SNR_comp``), ``r_values``, ``cnn_preds`` when stored with one
    value per component. Images: ``correlation`` (``Cn``) when stored.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CorruptFileError
        The file cannot be opened as HDF5, or is not a valid CNMF result.
    UnsupportedFeatureError
        A 3-D (volumetric) CaImAn result.
    """

    sniff = staticmethod(sniff)

    def __init__(self, file_path: str | os.PathLike[str], *, sampling_frequency: float | None = None) -> None:
        path = Path(os.fspath(file_path))
        self._path = path
        self._file: h5py.File | None = None
        if sampling_frequency is not None:
            try:
                rate = float(sampling_frequency)
            except (TypeError, ValueError):
                raise ValueError(f"sampling_frequency must be a number > 0, not {sampling_frequency!r}") from None
            if not math.isfinite(rate) or rate <= 0:
                raise ValueError(f"sampling_frequency must be a finite number > 0, not {sampling_frequency!r}")
            sampling_frequency = rate
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        if path.is_dir():
            raise CorruptFileError(f"{path}: is a folder, not a CaImAn HDF5 file", path=path)
        try:
            handle = h5py.File(path, "r")
        except (PermissionError, FileNotFoundError):
            raise  # an unreadable or vanished file is not a damaged one; h5py's message names it
        except Exception as exc:
            raise CorruptFileError(
                f"{path}: cannot be opened as HDF5 ({type(exc).__name__}: {exc}); the file is truncated or not HDF5",
                path=path,
            ) from exc
        try:
            _refuse_external_links(handle, path)
            contents = parse(handle, str(path), sampling_frequency)
        except RoicoreError:
            handle.close()
            raise
        except Exception as exc:
            handle.close()
            raise CorruptFileError(f"{path}: cannot be read as a CaImAn result ({type(exc).__name__}: {exc})", path=path) from exc
        self._file = handle
        self._contents: CaimanContents = contents
        self._images: dict[str, np.ndarray] | None = None
        self.acceptance_evaluated: bool = contents.acceptance_evaluated
        self.acceptance_note: str = contents.acceptance_note
        self.notes: tuple[str, ...] = tuple(contents.notes)
        self.provenance: dict[str, Any] | None = contents.provenance
        self.origin_note: str | None = _origin_note(contents)
        if contents.accepted is not None:
            self.set_property("is_accepted", contents.accepted)
        for key, values in {**contents.metrics, **contents.extra_properties}.items():
            if key != "is_accepted":
                self.set_property(key, values)

    # -- metadata -----------------------------------------------------------------

    def get_roi_ids(self) -> list[Any]:
        return list(self._contents.roi_ids)

    def get_background_ids(self) -> list[Any]:
        return list(self._contents.background_ids)

    def get_frame_shape(self) -> tuple[int, int]:
        return self._contents.frame_shape

    def get_num_samples(self) -> int:
        return self._contents.num_samples

    def get_sampling_frequency(self) -> float | None:
        return self._contents.sampling_frequency

    def get_trace_names(self) -> list[str]:
        return list(self._contents.traces)

    @property
    def file_path(self) -> Path:
        """The file this extractor reads."""
        return self._path

    # -- masks --------------------------------------------------------------------

    def _sparse_c_order(self, stored: SparseGroupInfo | h5py.Dataset, count: int, what: str) -> Any:
        from scipy import sparse

        rows, columns = self._contents.frame_shape
        pixels = rows * columns
        if isinstance(stored, SparseGroupInfo):
            data, indices, indptr = read_sparse_group(stored, what)
            matrix = sparse.csc_matrix(
                (data, fortran_to_c_pixels(indices, rows, columns), indptr), shape=(pixels, count)
            )
        else:
            values = np.asarray(stored[()], dtype=np.float64)
            if values.ndim == 1:
                values = values.reshape(-1, 1)
            if not np.all(np.isfinite(values)):
                raise corrupt(stored, f"{what} holds non-finite values")
            matrix = sparse.csc_matrix(dense_fortran_to_c(values, rows, columns))
        if matrix.nnz and matrix.data.min() < 0:
            node = stored.group if isinstance(stored, SparseGroupInfo) else stored
            raise corrupt(
                node,
                f"{what} holds {int((matrix.data < 0).sum())} negative weights (minimum {matrix.data.min():g}); "
                "roicore masks must be non-negative",
            )
        return RoiMasks(matrix, (rows, columns))

    def get_roi_pixel_masks(self, roi_ids: Any = None) -> list[np.ndarray]:
        """One ``(k, 3)`` float64 ``[row, column, weight]`` array per ROI, pixels in C order.

        The same arrays as from the masks, decoded straight from the stored
        CSC arrays when the masks have not been built yet: a first read of
        pixel masks then needs no scipy (importing it was ~85 ms, half of a
        fresh process's open + all masks + all traces).
        """
        stored = self._contents.footprints
        self._check_open()
        if self._masks_cache is not None or not isinstance(stored, SparseGroupInfo):
            return super().get_roi_pixel_masks(roi_ids)
        positions = self._positions(roi_ids)
        per_roi = self._guarded(lambda: self._pixel_masks(stored, self._contents.num_components, "estimates/A"))
        return [per_roi[p].copy() for p in positions.tolist()]

    def _pixel_masks(self, stored: SparseGroupInfo, count: int, what: str) -> list[np.ndarray]:
        """Pixel masks of every component, validated as :meth:`_sparse_c_order` and RoiMasks validate them."""
        rows, columns = self._contents.frame_shape
        pixels = rows * columns
        data, indices, indptr = read_sparse_group(stored, what)
        if indptr.size != count + 1:
            raise corrupt(stored.group, f"{what} has {indptr.size - 1} columns for {count} components")
        if data.size and data.min() < 0:
            raise corrupt(
                stored.group,
                f"{what} holds {int((data < 0).sum())} negative weights (minimum {data.min():g}); "
                "roicore masks must be non-negative",
            )
        owner = np.repeat(np.arange(count, dtype=np.int64), np.diff(indptr))
        key = owner * pixels + fortran_to_c_pixels(indices, rows, columns)
        order = np.argsort(key, kind="stable")  # by component, then C-order pixel
        key, values = key[order], data[order]
        if key.size:  # duplicates summed, then zeros dropped, as RoiMasks does
            starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
            values = np.add.reduceat(values, starts)
            key = key[starts]
            kept = values != 0
            key, values = key[kept], values[kept]
        flat = np.empty((key.size, 3), dtype=np.float64)
        component, pixel = np.divmod(key, pixels)
        flat[:, 0], flat[:, 1] = np.divmod(pixel, columns)
        flat[:, 2] = values
        bounds = np.cumsum(np.bincount(component, minlength=count))[:-1]
        return np.split(flat, bounds)

    def _get_roi_masks(self) -> RoiMasks:
        return self._guarded(
            lambda: self._sparse_c_order(self._contents.footprints, self._contents.num_components, "estimates/A")
        )

    def _get_background_masks(self) -> RoiMasks | None:
        stored = self._contents.background
        if stored is None and self._contents.num_background:
            raise UnsupportedFeatureError(
                f"{self._path}: has {self._contents.num_background} background trace(s) (estimates/f) but no "
                "background footprints (estimates/b is missing or NoneType), so there are no background masks"
            )
        if stored is None:
            return None  # no background
        return self._guarded(lambda: self._sparse_c_order(stored, self._contents.num_background, "estimates/b"))

    # -- traces -------------------------------------------------------------------

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        return self._guarded(lambda: self._read_window(name, positions, start, end))

    def _read_window(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        """``(end - start, n)`` traces; Fortran-ordered, so rows of CaImAn's ``(K, T)`` fields are copied, not transposed."""
        sources = self._contents.traces[name]
        dtype = _trace_dtype(sources)
        width = end - start
        out = np.empty((width, positions.size), dtype=dtype, order="F")
        if positions.size == 0 or width == 0:
            return out
        rows = out.T  # (n, width), C-contiguous, shares out's memory
        rows_per_block = max(1, BLOCK_BYTES // (width * dtype.itemsize))
        scratch: np.ndarray | None = None
        for first in range(0, positions.size, rows_per_block):
            chunk = positions[first : first + rows_per_block]
            target = rows[first : first + chunk.size]
            read_rows_into(sources[0], chunk, start, end, target)
            for extra in sources[1:]:
                if scratch is None or scratch.shape[0] < chunk.size or scratch.dtype != extra.dtype:
                    scratch = np.empty((min(rows_per_block, positions.size), width), dtype=extra.dtype)
                part = scratch[: chunk.size]
                read_rows_into(extra, chunk, start, end, part)
                np.add(target, part, out=target, casting="unsafe")
        return out

    # -- images -------------------------------------------------------------------

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """``{"correlation": Cn}`` when the file stores ``estimates/Cn`` (plus images roicore wrote)."""
        self._check_open()
        if self._images is None:
            stored: dict[str, h5py.Dataset] = dict(self._contents.extra_images)
            if self._contents.correlation is not None:
                stored["correlation"] = self._contents.correlation
            self._images = self._guarded(
                lambda: {name: np.asarray(node[()], dtype=np.float64) for name, node in stored.items()}
            )
        return {name: image.copy() for name, image in self._images.items()}

    # -- lifecycle ----------------------------------------------------------------

    def _guarded(self, read: Any) -> Any:
        """Run a read; h5py/numpy failures on damaged data become CorruptFileError naming the file."""
        self._check_open()
        try:
            return read()
        except RoicoreError:
            raise
        except MemoryError:
            raise
        except Exception as exc:
            raise CorruptFileError(
                f"{self._path}: reading failed ({type(exc).__name__}: {exc}); the file is damaged", path=self._path
            ) from exc

    def _close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()

    def _describe(self) -> str:
        accepted = ""
        if self.acceptance_evaluated and "is_accepted" in self.get_property_keys():
            accepted = f", {int(self.get_property('is_accepted').sum())} accepted"
        elif not self.acceptance_evaluated:
            accepted = ", acceptance not evaluated"
        return f"{super()._describe()}{accepted}; {self._path.name}"
