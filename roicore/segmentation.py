"""Segmentation extractors: ROI masks, their traces, summary images, properties.

All masks of an extractor live in one :class:`RoiMasks`: a sparse matrix of
shape ``(rows * columns, num_rois)`` (pixels flattened in C order, i.e.
``pixel = row * columns + column``) with float weights. Image masks
``(rows, columns, n)`` and pixel masks (``(k, 3)`` arrays of
``[row, column, weight]``) are derived from it.

A reader implements a handful of getters and two hooks, ``_get_roi_masks()``
and ``_read_traces(name, positions, start, end)``; :class:`SegmentationExtractor`
provides the public API, validation, id lookup, properties and lazy views.

scipy is imported inside the functions that need it, never at import time.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from roicore._base import (
    BaseExtractor,
    _normalize_indices,
    _owned,
    _resolve_range,
)
from roicore._roiextractors_compat import SegmentationCompat, keyword_alias
from roicore.errors import UnsupportedFeatureError

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

__all__ = [
    "RoiMasks",
    "SegmentationExtractor",
    "RoiSubsetSegmentationExtractor",
    "SampleSlicedSegmentationExtractor",
    "PlaneSegmentationExtractor",
]


def _check_frame_shape(frame_shape: Any) -> tuple[int, ...]:
    """``(rows, columns)`` or, for volumetric masks, ``(rows, columns, planes)`` as Python ints."""
    try:
        values = tuple(frame_shape)
    except TypeError:
        raise ValueError(f"frame_shape must be (rows, columns), not {frame_shape!r}") from None
    if len(values) not in (2, 3) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v > 0
        for v in values
    ):
        raise ValueError(
            "frame_shape must be two positive integers (rows, columns), or three "
            f"(rows, columns, planes) for volumetric masks, not {frame_shape!r}"
        )
    return tuple(int(v) for v in values)


def _num_pixels(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _shape_text(shape: tuple[int, ...]) -> str:
    """``"5 x 9 frame"`` or ``"5 x 9 x 3 volume"``."""
    return " x ".join(map(str, shape)) + (" frame" if len(shape) == 2 else " volume")


#: names of the coordinate columns of a pixel mask, by frame dimensionality
_AXES = {2: ("row", "column"), 3: ("row", "column", "plane")}


#: elements per block of the dense scan: bounds its temporaries (a few MiB) whatever the mask size
_SCAN_BLOCK_BYTES = 1 << 23


def _nonzero_flat(values: np.ndarray) -> np.ndarray:
    """Flat indices of the nonzero elements of a C-contiguous array, in order (int64).

    Masks are mostly zeros, so the buffer is first scanned as 64-bit words,
    which skips eight bool (or four uint16) zero elements per comparison;
    only the words that hold something are looked at element by element. The
    scan runs in blocks, so no temporary is larger than a few MiB.
    """
    flat = values.reshape(-1)
    itemsize = flat.dtype.itemsize
    per_word = 8 // itemsize if itemsize <= 8 and 8 % itemsize == 0 else 0
    if per_word == 0 or flat.size < per_word:
        return np.flatnonzero(flat).astype(np.int64)
    whole = flat.size - flat.size % per_word
    words = flat[:whole].view(np.uint64)
    found = []
    step = max(1, _SCAN_BLOCK_BYTES // 8)
    for begin in range(0, words.size, step):
        # "!= 0" first: numpy's nonzero is several times faster on bools than on 64-bit words
        touched = np.flatnonzero(words[begin : begin + step] != 0)
        if touched.size == 0:
            continue
        touched += begin
        # the elements of the touched words; "!= 0" also drops -0.0, whose bits are not all zero
        candidates = (touched[:, None] * per_word + np.arange(per_word)).reshape(-1)
        found.append(candidates[flat[candidates] != 0])
    tail = np.flatnonzero(flat[whole:]) + whole
    if tail.size:
        found.append(tail)
    return np.concatenate(found).astype(np.int64, copy=False) if found else np.empty(0, np.int64)


def _dense_to_csc(dense: np.ndarray) -> sparse.csc_matrix:
    """CSC float64 of a 2-D ``(pixels, rois)`` numeric array without a dense float copy.

    The nonzero elements are found in C order, which is CSR order of the
    matrix; the CSR is assembled directly and converted (``O(nnz)``).
    """
    from scipy import sparse

    values = np.ascontiguousarray(dense)
    if values.dtype == np.bool_:
        values = values.view(np.uint8)
    pixels, count = values.shape
    where = _nonzero_flat(values)
    if count:
        rows, cols = np.divmod(where, count)
    else:
        rows = cols = where
    data = np.ones(where.size) if dense.dtype == np.bool_ else values.reshape(-1)[where].astype(np.float64)
    indptr = np.zeros(pixels + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=pixels), out=indptr[1:])
    index_type = np.int32 if max(where.size, pixels, count) < np.iinfo(np.int32).max else np.int64
    csr = sparse.csr_matrix(
        (data, cols.astype(index_type), indptr.astype(index_type)), shape=(pixels, count)
    )
    return csr.tocsc()


class RoiMasks:
    """The masks of a set of ROIs as one sparse matrix.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array, or 2-D array_like
        Shape ``(rows * columns, num_rois)``: one column per ROI, one row per
        pixel in C order (``pixel = row * columns + column``). Weights must be
        finite and non-negative. The input is copied (see ``copy``).
    frame_shape : tuple of int
        ``(rows, columns)``; or ``(rows, columns, planes)`` for volumetric
        masks, whose matrix has ``rows * columns * planes`` rows in C order of
        ``(rows, columns, planes)``: ``pixel = (row * columns + column) * planes + plane``.
    copy : bool
        False shares the arrays of a sparse float64 matrix that already has
        sorted indices, no duplicates and no stored zeros (it is still
        checked); the caller must not change it afterwards. Any other input
        is copied all the same.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
        float64, sorted indices, no explicit zeros. Treat it as read-only.
    frame_shape : tuple of int
    num_rois : int
    is_volumetric : bool
        True when ``frame_shape`` has three entries.

    Raises
    ------
    ValueError
        A bad frame shape, a row count other than ``rows * columns``, or a
        negative or non-finite weight.

    Examples
    --------
    >>> import numpy as np
    >>> masks = RoiMasks.from_pixel_masks([np.array([[1, 7, 0.5]])], (5, 9))
    >>> masks.matrix.indices  # row 1, column 7 of a 9-column frame
    array([16], dtype=int32)
    >>> masks.to_pixel_masks()[0]
    array([[1. , 7. , 0.5]])
    """

    matrix: sparse.csc_matrix
    frame_shape: tuple[int, ...]

    def __init__(self, matrix: Any, frame_shape: Any, *, copy: bool = True) -> None:
        from scipy import sparse

        shape = _check_frame_shape(frame_shape)
        if sparse.issparse(matrix):
            csc = sparse.csc_matrix(matrix, dtype=np.float64, copy=copy)
            if not copy and not (csc.has_canonical_format and csc.data.all()):
                csc = csc.copy()  # the steps below would rewrite the caller's arrays in place
        else:
            dense = np.asarray(matrix)
            if dense.ndim != 2:
                raise ValueError(
                    f"matrix must be 2-D (pixels, rois), got shape {dense.shape}"
                )
            if dense.dtype.kind not in "biuf":
                raise ValueError(f"matrix must hold numbers, not {dense.dtype}")
            csc = _dense_to_csc(dense)
        if csc.shape[0] != _num_pixels(shape):
            raise ValueError(
                f"matrix has {csc.shape[0]} rows but a {_shape_text(shape)} "
                f"has {_num_pixels(shape)} pixels"
            )
        csc.sum_duplicates()
        if not np.all(np.isfinite(csc.data)):
            raise ValueError("mask weights must be finite")
        if np.any(csc.data < 0):
            raise ValueError("mask weights must not be negative")
        if not csc.data.all():
            csc.eliminate_zeros()
        csc.sort_indices()
        self.matrix = csc
        self.frame_shape = shape

    @classmethod
    def _from_valid(cls, matrix: sparse.csc_matrix, frame_shape: tuple[int, ...]) -> RoiMasks:
        """Wrap a matrix known to satisfy the invariants (no copy, no checks)."""
        masks = cls.__new__(cls)
        masks.matrix = matrix
        masks.frame_shape = frame_shape
        return masks

    # -- constructors -----------------------------------------------------------

    @classmethod
    def from_sparse(cls, matrix: Any, frame_shape: Any) -> RoiMasks:
        """Masks from a sparse ``(pixels, n)`` matrix in pixel C order (see the class)."""
        return cls(matrix, frame_shape)

    @classmethod
    def empty(cls, frame_shape: Any) -> RoiMasks:
        """Masks of no ROIs (a ``(pixels, 0)`` matrix)."""
        from scipy import sparse

        shape = _check_frame_shape(frame_shape)
        return cls(sparse.csc_matrix((_num_pixels(shape), 0), dtype=np.float64), shape)

    @classmethod
    def from_image_masks(cls, image_masks: Any) -> RoiMasks:
        """Masks from a dense ``(rows, columns, n)`` array, bool or numeric.

        A 4-D ``(rows, columns, planes, n)`` array gives volumetric masks.
        Nonzero pixels are kept, with their value (1.0 for True) as weight.
        """
        arr = np.asarray(image_masks)
        if arr.ndim not in (3, 4):
            raise ValueError(
                "image masks must be 3-D (rows, columns, rois), or 4-D (rows, columns, "
                f"planes, rois) when volumetric, got shape {arr.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"image masks must be bool or numeric, not {arr.dtype}")
        frame, n = arr.shape[:-1], arr.shape[-1]
        if 0 in frame:
            raise ValueError(f"image masks have an empty frame: shape {arr.shape}")
        return cls(arr.reshape(_num_pixels(frame), n), frame)

    @classmethod
    def from_pixel_masks(cls, pixel_masks: Iterable[Any], frame_shape: Any) -> RoiMasks:
        """Masks from a list of ``(k, 3)`` arrays of ``[row, column, weight]``.

        With a volumetric ``frame_shape`` ``(rows, columns, planes)`` each mask
        is a ``(k, 4)`` array of ``[row, column, plane, weight]``.

        Raises
        ------
        ValueError
            A mask is not ``(k, 3)`` (``(k, 4)``), a coordinate is not an
            integer or lies outside the frame, a mask lists one pixel twice, or
            a weight is negative or not finite.
        """
        from scipy import sparse

        shape = _check_frame_shape(frame_shape)
        axes = _AXES[len(shape)]
        width = len(shape) + 1
        masks = list(pixel_masks)
        n = len(masks)
        lengths = np.fromiter(map(len, masks), dtype=np.intp, count=n)
        if lengths.sum() == 0:
            flat = np.empty((0, width))
        else:
            try:
                flat = np.concatenate(masks, axis=0, dtype=np.float64)
            except ValueError:
                # mixed shapes, e.g. empty masks given as []; name the offender
                flat = np.concatenate(
                    [_pixel_array(mask, i, axes) for i, mask in enumerate(masks)], axis=0
                )
            if flat.ndim != 2 or flat.shape[1] != width:
                raise ValueError(
                    f"pixel masks must be {_pixel_layout(axes)}, "
                    f"got rows of shape {flat.shape[1:]}"
                )
        owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
        coords = flat[:, :-1]
        invalid = ~np.isfinite(coords).all(axis=1) | (coords != np.floor(coords)).any(axis=1)
        if np.any(invalid):
            bad = int(owner[np.flatnonzero(invalid)[0]])
            names = ", ".join(axes[:-1]) + " or " + axes[-1]
            raise ValueError(f"pixel mask {bad} has a non-integer {names}")
        where = coords.astype(np.int64)
        outside = ((where < 0) | (where >= np.array(shape))).any(axis=1)
        if np.any(outside):
            first = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"pixel mask {int(owner[first])} has pixel {_pixel_text(axes, where[first])} "
                f"outside the {_shape_text(shape)}"
            )
        pixels = _num_pixels(shape)
        pixel = np.ravel_multi_index(tuple(where.T), shape) if n else np.empty(0, np.int64)
        key = np.sort(owner * pixels + pixel)
        repeated = np.flatnonzero(key[1:] == key[:-1])
        if repeated.size:
            roi, pix = divmod(int(key[repeated[0]]), pixels)
            raise ValueError(
                f"pixel mask {roi} lists pixel {_pixel_text(axes, np.unravel_index(pix, shape))} "
                "more than once"
            )
        matrix = sparse.csc_matrix(
            (flat[:, -1], (pixel, owner)), shape=(pixels, n), dtype=np.float64
        )
        return cls(matrix, shape)

    # -- accessors --------------------------------------------------------------

    @property
    def num_rois(self) -> int:
        """Number of ROIs (columns)."""
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return self.num_rois

    @property
    def is_volumetric(self) -> bool:
        """True for masks over ``(rows, columns, planes)`` volumes."""
        return len(self.frame_shape) == 3

    @property
    def num_planes(self) -> int:
        """Number of planes (1 for planar masks)."""
        return self.frame_shape[2] if self.is_volumetric else 1

    def select_plane(self, plane_index: int) -> RoiMasks:
        """Planar ``(rows, columns)`` masks of every ROI cut to plane ``plane_index``.

        ROIs that do not touch the plane keep an empty column.

        Raises
        ------
        UnsupportedFeatureError
            The masks are planar.
        IndexError
            No such plane (negative indices count from the end).
        """
        if not self.is_volumetric:
            raise UnsupportedFeatureError("planar RoiMasks have no planes to select")
        planes = self.frame_shape[2]
        if isinstance(plane_index, (bool, np.bool_)) or not isinstance(plane_index, (int, np.integer)):
            raise TypeError(f"plane_index must be an int, not {plane_index!r}")
        if not -planes <= plane_index < planes:
            raise IndexError(
                f"plane_index={plane_index} is out of range: need -{planes} <= plane_index < {planes}"
            )
        # pixel = (row * columns + column) * planes + plane: one plane is every planes-th row
        sub = self.matrix.tocsr()[int(plane_index) % planes :: planes].tocsc()
        sub.sort_indices()
        return RoiMasks._from_valid(sub, self.frame_shape[:2])

    def _columns(self, positions: Any) -> sparse.csc_matrix:
        if positions is None:
            return self.matrix
        idx = _normalize_indices(positions, self.num_rois, what="ROI position")
        if idx.ndim != 1:
            raise ValueError(f"ROI positions must be 1-D, got shape {idx.shape}")
        sub = self.matrix[:, idx]
        sub.sort_indices()
        return sub

    def copy(self) -> RoiMasks:
        """An independent copy."""
        return RoiMasks._from_valid(self.matrix.copy(), self.frame_shape)

    def select(self, positions: Any) -> RoiMasks:
        """The masks at ROI ``positions`` (integers, in the order given)."""
        sub = self._columns(positions)
        return RoiMasks._from_valid(sub.copy() if sub is self.matrix else sub, self.frame_shape)

    def to_csr(self) -> sparse.csr_matrix:
        """A new CSR copy of the matrix (fast row, i.e. pixel, access)."""
        return self.matrix.tocsr()

    def pixel_counts(self) -> np.ndarray:
        """Number of pixels with a nonzero weight in each mask (int64)."""
        return np.diff(self.matrix.indptr).astype(np.int64)

    def to_image_masks(self, positions: Any = None) -> np.ndarray:
        """Dense masks ``(rows, columns, n)`` (``(rows, columns, planes, n)`` if volumetric), float64.

        Parameters
        ----------
        positions : array_like of int, optional
            ROI positions to convert; all by default.
        """
        sub = self._columns(positions)
        return sub.toarray().reshape(*self.frame_shape, sub.shape[1])

    def to_pixel_masks(self, positions: Any = None) -> list[np.ndarray]:
        """One ``(k, 3)`` float64 array of ``[row, column, weight]`` per ROI.

        Volumetric masks give ``(k, 4)`` arrays of ``[row, column, plane, weight]``.
        Pixels are listed in C order (by row, then column, then plane).
        """
        sub = self._columns(positions)
        if sub.shape[1] == 0:
            return []
        dims = len(self.frame_shape)
        flat = np.empty((sub.indices.size, dims + 1), dtype=np.float64)
        if dims == 2:
            flat[:, 0], flat[:, 1] = np.divmod(sub.indices, self.frame_shape[1])
        else:
            flat[:, :dims] = np.column_stack(np.unravel_index(sub.indices, self.frame_shape))
        flat[:, dims] = sub.data
        return np.split(flat, sub.indptr[1:-1])

    def allclose(self, other: RoiMasks, rtol: float = 1e-05, atol: float = 1e-08) -> bool:
        """True if ``other`` has the same frame, ROI count and weights within tolerance.

        The test is ``numpy.allclose``'s: ``|a - b| <= atol + rtol * |b|``.
        """
        if not isinstance(other, RoiMasks):
            return False
        if self.frame_shape != other.frame_shape or self.matrix.shape != other.matrix.shape:
            return False
        # zero wherever both are zero, so only stored entries need checking
        excess = abs(self.matrix - other.matrix) - rtol * abs(other.matrix)
        return bool(excess.nnz == 0 or excess.max() <= atol)

    def __repr__(self) -> str:
        return (
            f"<RoiMasks: {self.num_rois} ROIs on a {_shape_text(self.frame_shape)}, "
            f"{self.matrix.nnz} weighted pixels>"
        )


def _pixel_layout(axes: tuple[str, ...], one: bool = False) -> str:
    """``"(k, 3) arrays of [row, column, weight]"`` (``one``: "a ... array")."""
    fields = ", ".join((*axes, "weight"))
    kind = f"a (k, {len(axes) + 1}) array" if one else f"(k, {len(axes) + 1}) arrays"
    return f"{kind} of [{fields}]"


def _pixel_text(axes: tuple[str, ...], where: Any) -> str:
    """``"(row 1, column 7)"``."""
    return "(" + ", ".join(f"{axis} {int(v)}" for axis, v in zip(axes, where)) + ")"


def _pixel_array(mask: Any, position: int, axes: tuple[str, ...] = _AXES[2]) -> np.ndarray:
    arr = np.asarray(mask, dtype=np.float64)
    width = len(axes) + 1
    if arr.size == 0:
        return np.empty((0, width))
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(
            f"pixel mask {position} must be {_pixel_layout(axes, one=True)}, "
            f"got shape {arr.shape}"
        )
    return arr


def _id_list(ids: Any, what: str) -> list[Any]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"{what} must be a list of ids, not {type(ids).__name__} ({ids!r})")
    if isinstance(ids, (set, frozenset, dict)):
        raise TypeError(f"{what} must be an ordered sequence, not a {type(ids).__name__}")
    return list(ids)


class SegmentationExtractor(SegmentationCompat, BaseExtractor):
    """Base class of every segmentation extractor.

    Readers implement :meth:`get_roi_ids`, :meth:`get_frame_shape`,
    :meth:`get_num_samples`, :meth:`get_sampling_frequency`,
    :meth:`get_trace_names`, :meth:`_get_roi_masks` and :meth:`_read_traces`;
    optionally :meth:`get_background_ids`, :meth:`_get_background_masks`,
    :meth:`get_images_dict`, :meth:`get_native_timestamps` and ``_close``.
    Properties are set with :meth:`set_property` (a reader may do so in its
    constructor). Everything else lives here.

    ROI ids and background ids are separate sets: background components are
    never listed among the ROIs; their traces are ``name="background"``.

    A volumetric reader sets ``is_volumetric = True`` and implements
    :meth:`get_num_planes`; :meth:`get_frame_shape` stays ``(rows, columns)``
    of one plane (as for imaging), its masks live on
    :meth:`get_volume_shape` ``(rows, columns, planes)`` and
    :meth:`select_plane` gives a planar view of one plane.

    roiextractors 0.10's names work too (``get_traces(start_frame=, end_frame=)``,
    ``get_property(key, ids=)``, ``set_property(..., ids=, description=)``,
    ``get_property_info``, ``get_roi_locations``), so neuroconv's ophys writers
    accept roicore extractors (see ``roicore/_roiextractors_compat.py``).
    """

    _masks_cache: RoiMasks | None = None
    _background_cache: tuple[RoiMasks | None] | None = None
    _roi_index_cache: dict[Any, int] | None = None
    _background_index_cache: dict[Any, int] | None = None

    #: True for readers whose masks live on ``(rows, columns, planes)`` volumes.
    is_volumetric: bool = False

    # -- hooks for readers ------------------------------------------------------

    @abc.abstractmethod
    def get_roi_ids(self) -> list[Any]:
        """The ROI ids (unique ints or strs), in the order of masks and traces."""

    @abc.abstractmethod
    def get_frame_shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the imaging frame (of one plane) the masks live on."""

    def get_num_planes(self) -> int:
        """Number of planes of a volumetric segmentation (1 for planar ones)."""
        return 1

    @abc.abstractmethod
    def get_trace_names(self) -> list[str]:
        """Names of the traces that exist, e.g. ``["raw", "dff"]``.

        ``"background"`` is listed only when background traces exist.
        """

    @abc.abstractmethod
    def _get_roi_masks(self) -> RoiMasks:
        """Hook: the masks of all ROIs, in :meth:`get_roi_ids` order (cached by the base)."""

    @abc.abstractmethod
    def _read_traces(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        """Hook: traces ``name`` of samples ``[start, end)`` for ROI ``positions``.

        ``positions`` is a sorted, unique (possibly empty) intp array; for
        ``name="background"`` it indexes the background ids. The bounds are
        validated (``0 <= start <= end <= n``; they may be equal). Returns
        ``(end - start, len(positions))``; a view is fine (the base copies it).
        """

    def get_background_ids(self) -> list[Any]:
        """Ids of the background components (CNMF's ``b``/``f``); none by default."""
        return []

    def _get_background_masks(self) -> RoiMasks | None:
        """Hook: masks of all background components, or None if there are none."""
        return None

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """Summary images ``(rows, columns)`` by name ("mean", "correlation", "max", ...).

        A volumetric reader's are ``(rows, columns, planes)``.
        """
        return {}

    # -- ids --------------------------------------------------------------------

    def _index(self, background: bool) -> dict[Any, int]:
        attr = "_background_index_cache" if background else "_roi_index_cache"
        index = getattr(self, attr)
        if index is None:
            ids = self.get_background_ids() if background else self.get_roi_ids()
            index = {roi_id: i for i, roi_id in enumerate(ids)}
            if len(index) != len(ids):
                method = "get_background_ids" if background else "get_roi_ids"
                raise RuntimeError(
                    f"{type(self).__name__}.{method}() returned duplicate ids "
                    "(a bug in the reader)"
                )
            setattr(self, attr, index)
        return index

    def _positions(self, ids: Any, background: bool = False) -> np.ndarray:
        """Positions of ``ids`` (all, in order, when None); KeyError names an unknown id."""
        index = self._index(background)
        if ids is None:
            return np.arange(len(index), dtype=np.intp)
        what = "background_ids" if background else "roi_ids"
        ids = _id_list(ids, what)
        try:
            positions = np.fromiter(map(index.__getitem__, ids), dtype=np.intp, count=len(ids))
        except KeyError as error:
            kind = "background id" if background else "ROI id"
            raise KeyError(
                f"unknown {kind} {error.args[0]!r} in {type(self).__name__}"
            ) from None
        return positions

    def get_num_rois(self) -> int:
        """Number of ROIs (background components not included)."""
        return len(self.get_roi_ids())

    def get_num_background_components(self) -> int:
        """Number of background components."""
        return len(self.get_background_ids())

    def get_image_shape(self) -> tuple[int, int]:
        """Alias of :meth:`get_frame_shape`."""
        return self.get_frame_shape()

    def get_volume_shape(self) -> tuple[int, int, int]:
        """``(rows, columns, planes)`` of a volumetric segmentation.

        Raises
        ------
        UnsupportedFeatureError
            The segmentation is not volumetric.
        """
        if not self.is_volumetric:
            raise UnsupportedFeatureError(
                f"{type(self).__name__} is not volumetric; it has no volume shape"
            )
        rows, cols = self.get_frame_shape()
        return (int(rows), int(cols), int(self.get_num_planes()))

    def _mask_shape(self) -> tuple[int, ...]:
        """The shape masks live on: the frame, or the volume when volumetric."""
        if self.is_volumetric:
            return self.get_volume_shape()
        return tuple(int(v) for v in self.get_frame_shape())

    # -- masks ------------------------------------------------------------------

    def _check_masks(self, masks: Any, count: int, hook: str) -> RoiMasks:
        if not isinstance(masks, RoiMasks):
            raise RuntimeError(
                f"{type(self).__name__}.{hook}() returned {type(masks).__name__}, "
                "expected RoiMasks (a bug in the reader)"
            )
        frame = self._mask_shape()
        if masks.num_rois != count or masks.frame_shape != frame:
            raise RuntimeError(
                f"{type(self).__name__}.{hook}() returned {masks.num_rois} masks on a "
                f"{masks.frame_shape} frame, expected {count} on {frame} (a bug in the reader)"
            )
        return masks

    def _masks(self) -> RoiMasks:
        """All ROI masks, validated and cached (callers must not mutate them)."""
        self._check_open()
        if self._masks_cache is None:
            self._masks_cache = self._check_masks(
                self._get_roi_masks(), self.get_num_rois(), "_get_roi_masks"
            )
        return self._masks_cache

    def _background_masks(self) -> RoiMasks | None:
        """All background masks (validated, cached), or None if the reader has none."""
        self._check_open()
        if self._background_cache is None:
            masks = self._get_background_masks()
            if masks is not None:
                masks = self._check_masks(
                    masks, self.get_num_background_components(), "_get_background_masks"
                )
            self._background_cache = (masks,)
        return self._background_cache[0]

    def get_roi_masks(self, roi_ids: Any = None) -> RoiMasks:
        """Masks of ``roi_ids`` (all ROIs by default), in the order given; a new object."""
        masks = self._masks()
        if roi_ids is None:
            return masks.copy()
        return masks.select(self._positions(roi_ids))

    def get_roi_image_masks(self, roi_ids: Any = None) -> np.ndarray:
        """Dense masks ``(rows, columns, n)``, float64 (``(rows, columns, planes, n)`` if volumetric)."""
        return self.get_roi_masks(roi_ids).to_image_masks()

    def get_roi_pixel_masks(self, roi_ids: Any = None) -> list[np.ndarray]:
        """One ``(k, 3)`` float64 array of ``[row, column, weight]`` per ROI.

        Volumetric: ``(k, 4)`` arrays of ``[row, column, plane, weight]``.
        """
        return self.get_roi_masks(roi_ids).to_pixel_masks()

    def get_background_masks(self, background_ids: Any = None) -> RoiMasks:
        """Masks of the background components (an empty RoiMasks if there are none).

        Raises
        ------
        UnsupportedFeatureError
            The reader has background components but no masks for them.
        """
        masks = self._background_masks()
        if masks is None:
            if self.get_num_background_components():
                raise UnsupportedFeatureError(
                    f"{type(self).__name__} has background components but no masks for them"
                )
            masks = RoiMasks.empty(self._mask_shape())
        if background_ids is None:
            return masks.copy()
        return masks.select(self._positions(background_ids, background=True))

    def get_background_image_masks(self, background_ids: Any = None) -> np.ndarray:
        """Dense background masks ``(rows, columns, n)``, float64."""
        return self.get_background_masks(background_ids).to_image_masks()

    def get_background_pixel_masks(self, background_ids: Any = None) -> list[np.ndarray]:
        """Background pixel masks, one ``(k, 3)`` array per component."""
        return self.get_background_masks(background_ids).to_pixel_masks()

    # -- traces -----------------------------------------------------------------

    def _read_traces_checked(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        block = np.asarray(self._read_traces(name, positions, start, end))
        expected = (end - start, positions.size)
        if block.shape != expected:
            raise RuntimeError(
                f"{type(self).__name__}._read_traces({name!r}, ..., {start}, {end}) returned "
                f"shape {block.shape}, expected {expected} (a bug in the reader)"
            )
        if block.dtype.kind not in "biuf":
            raise RuntimeError(
                f"{type(self).__name__}._read_traces({name!r}, ...) returned dtype "
                f"{block.dtype}, expected a real number type (a bug in the reader)"
            )
        if block.dtype not in (np.float32, np.float64):
            block = block.astype(np.float64)
        return block

    def _traces_at(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        """Traces for positions in any order (repeats allowed); a new array."""
        self._check_open()
        unique, inverse = np.unique(positions, return_inverse=True)
        block = self._read_traces_checked(name, unique, start, end)
        if unique.size == positions.size and np.array_equal(unique, positions):
            return _owned(block)
        return block[:, inverse.reshape(-1)]

    def get_traces(
        self,
        roi_ids: Any = None,
        start_sample: int | None = None,
        end_sample: int | None = None,
        name: str = "raw",
        *,
        start_frame: int | None = None,
        end_frame: int | None = None,
    ) -> np.ndarray:
        """Traces ``(time, n)`` of ``roi_ids`` over ``[start_sample, end_sample)``.

        Only the requested window and ROIs are read.

        Parameters
        ----------
        roi_ids : list, optional
            ROI ids in the order wanted (all by default); background ids when
            ``name="background"``.
        start_sample, end_sample : int or None
            ``0 <= start_sample <= end_sample <= num_samples``.
        name : str
            One of :meth:`get_trace_names`.
        start_frame, end_frame : int or None
            roiextractors' names of ``start_sample`` and ``end_sample``.

        Returns
        -------
        numpy.ndarray
            A new float32 or float64 array (integer traces become float64).

        Raises
        ------
        KeyError
            Unknown trace name (the message lists those available) or unknown id.
        IndexError
            The sample range is out of bounds.
        """
        start_sample = keyword_alias(start_sample, start_frame, "start_sample", "start_frame")
        end_sample = keyword_alias(end_sample, end_frame, "end_sample", "end_frame")
        names = list(self.get_trace_names())
        if name not in names:
            raise KeyError(
                f"{type(self).__name__} has no traces named {name!r}; available: {names}"
            )
        positions = self._positions(roi_ids, background=(name == "background"))
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return self._traces_at(name, positions, start, end)

    def get_traces_dict(self) -> dict[str, np.ndarray]:
        """All traces that exist, by name (each a full ``(time, n)`` array)."""
        return {name: self.get_traces(name=name) for name in self.get_trace_names()}

    # -- images -----------------------------------------------------------------

    def get_image(self, name: str = "correlation") -> np.ndarray:
        """The summary image ``name`` (``"correlation"`` by default, as in roiextractors) as a new array.

        Raises
        ------
        KeyError
            No such image; the message lists those available.
        """
        images = self.get_images_dict()
        if name not in images:
            raise KeyError(
                f"{type(self).__name__} has no image named {name!r}; available: {sorted(images)}"
            )
        return np.array(images[name], copy=True)

    # -- properties -------------------------------------------------------------

    def _own_properties(self) -> dict[str, np.ndarray]:
        properties = self.__dict__.get("_properties")
        if properties is None:
            properties = self.__dict__["_properties"] = {}
        return properties

    def _property_store(self) -> dict[str, np.ndarray]:
        """Every property as an array in ROI-id order (views merge their parent's)."""
        return self._own_properties()

    def _pickle_state(self) -> dict[str, Any]:
        state = super()._pickle_state()
        state["_properties"] = self.__dict__.get("_properties")
        state["_property_descriptions"] = self.__dict__.get("_property_descriptions")
        return state

    def set_property(
        self, key: str, values: Any, roi_ids: Any = None, *, ids: Any = None, description: str | None = None
    ) -> None:
        """Set a per-ROI property, e.g. ``"is_accepted"`` (bool).

        Parameters
        ----------
        key : str
        values : array_like
            One value (or row) per ROI in ``roi_ids``.
        roi_ids : list, optional
            The ROIs ``values`` belong to; all ROIs in id order by default. A
            subset updates an existing property; a new property needs every ROI.
        ids : list, optional
            roiextractors' name of ``roi_ids``.
        description : str, optional
            What the property means (returned by ``get_property_info``); kept
            from an earlier call when not given.

        Raises
        ------
        ValueError
            The number of values does not match, or a new property misses ROIs.
        KeyError
            An unknown ROI id.
        """
        roi_ids = keyword_alias(roi_ids, ids, "roi_ids", "ids")
        if not isinstance(key, str):
            raise TypeError(f"property keys must be str, not {type(key).__name__}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a str, not {type(description).__name__}")
        arr = np.array(values, copy=True)
        if arr.ndim == 0:
            raise ValueError(f"property {key!r} needs one value per ROI, got a scalar")
        n = self.get_num_rois()
        positions = self._positions(roi_ids)
        if arr.shape[0] != positions.size:
            raise ValueError(
                f"property {key!r} has {arr.shape[0]} values for {positions.size} ROIs"
            )
        if roi_ids is not None and np.unique(positions).size != positions.size:
            raise ValueError(f"roi_ids for property {key!r} repeat an id")
        current = self._property_store().get(key)
        if roi_ids is None:
            full = arr
        elif current is not None:
            full = current.copy()
            if full.shape[1:] != arr.shape[1:]:
                raise ValueError(
                    f"property {key!r} has values of shape {full.shape[1:]}, "
                    f"got {arr.shape[1:]}"
                )
            full[positions] = arr
        elif positions.size == n:
            full = np.empty_like(arr)
            full[positions] = arr
        else:
            raise ValueError(
                f"new property {key!r} needs a value for every ROI ({n}), "
                f"got {positions.size}"
            )
        self._own_properties()[key] = full
        if description is not None:
            described = self.__dict__.get("_property_descriptions")
            if described is None:
                described = self.__dict__["_property_descriptions"] = {}
            described[key] = description

    def get_property(self, key: str, roi_ids: Any = None, *, ids: Any = None) -> np.ndarray:
        """Values of property ``key`` for ``roi_ids`` (all by default), as a new array.

        ``ids=`` is roiextractors' name of ``roi_ids``.

        Raises
        ------
        KeyError
            No such property (the message lists the keys) or unknown ROI id.
        """
        roi_ids = keyword_alias(roi_ids, ids, "roi_ids", "ids")
        store = self._property_store()
        if key not in store:
            raise KeyError(
                f"{type(self).__name__} has no property {key!r}; available: {sorted(store)}"
            )
        return store[key][self._positions(roi_ids)]

    def get_property_keys(self) -> list[str]:
        """Names of the properties set."""
        return list(self._property_store())

    # -- views ------------------------------------------------------------------

    def select_rois(self, roi_ids: Any) -> RoiSubsetSegmentationExtractor:
        """A lazy view of the ROIs ``roi_ids``, in the order given.

        Masks, traces and properties are subset; images and background
        components are kept unchanged.

        Raises
        ------
        KeyError
            An unknown id.
        ValueError
            An id given twice.
        """
        return RoiSubsetSegmentationExtractor(self, roi_ids)

    def slice_samples(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> SampleSlicedSegmentationExtractor:
        """A lazy view of samples ``[start_sample, end_sample)``.

        Traces are windowed; timestamps are this extractor's for the same
        samples (a slice starting at ``a > 0`` without a time vector starts at
        ``a / fs``).
        """
        return SampleSlicedSegmentationExtractor(self, start_sample, end_sample)

    def select_plane(self, plane_index: int) -> PlaneSegmentationExtractor:
        """A lazy planar view of plane ``plane_index`` of a volumetric segmentation.

        It holds the ROIs (and background components) whose masks touch the
        plane, with their ids, their masks cut to the plane, their traces and
        properties, and each ``(rows, columns, planes)`` image's slice.

        Raises
        ------
        UnsupportedFeatureError
            The segmentation is not volumetric.
        IndexError
            No such plane (negative indices count from the end).
        """
        return PlaneSegmentationExtractor(self, plane_index)

    # -- repr -------------------------------------------------------------------

    def _describe(self) -> str:
        shape = self._mask_shape()
        where = " x ".join(map(str, shape)) + (" volume" if self.is_volumetric else " frame")
        background = self.get_num_background_components()
        extra = f" (+{background} background)" if background else ""
        names = ", ".join(self.get_trace_names()) or "none"
        fs = self.get_sampling_frequency()
        rate = "an unknown rate" if fs is None else f"{fs:g} Hz"
        return (
            f"{self.get_num_rois()} ROIs{extra} on a {where}, "
            f"{self.get_num_samples()} samples at {rate}, traces: {names}"
        )


class _SegmentationView(SegmentationExtractor):
    """Delegation shared by the lazy segmentation views."""

    _parent: SegmentationExtractor

    def get_roi_ids(self) -> list[Any]:
        return self._parent.get_roi_ids()

    def get_frame_shape(self) -> tuple[int, int]:
        return self._parent.get_frame_shape()

    @property
    def is_volumetric(self) -> bool:  # type: ignore[override]
        return self._parent.is_volumetric

    def get_num_planes(self) -> int:
        return self._parent.get_num_planes()

    def get_num_samples(self) -> int:
        return self._parent.get_num_samples()

    def get_sampling_frequency(self) -> float | None:
        return self._parent.get_sampling_frequency()

    def get_trace_names(self) -> list[str]:
        return self._parent.get_trace_names()

    def get_background_ids(self) -> list[Any]:
        return self._parent.get_background_ids()

    def _get_background_masks(self) -> RoiMasks | None:
        return self._parent._background_masks()

    def get_images_dict(self) -> dict[str, np.ndarray]:
        return self._parent.get_images_dict()

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return self._parent.get_native_timestamps(start, end)

    def _fallback_timestamps(self, start: int, end: int) -> np.ndarray:
        return self._view_timestamps(self._parent, start, end, 0)

    def has_time_vector(self) -> bool:
        return self._times is not None or self._parent.has_time_vector()

    def _property_store(self) -> dict[str, np.ndarray]:
        return {**self._parent._property_store(), **self._own_properties()}


class RoiSubsetSegmentationExtractor(_SegmentationView):
    """A lazy view of some ROIs of another segmentation extractor, in a given order.

    Made by :meth:`SegmentationExtractor.select_rois`. Background components,
    images and time are the parent's; closing the view leaves the parent open.

    Parameters
    ----------
    parent : SegmentationExtractor
    roi_ids : list
        Distinct ids of ``parent``'s ROIs.
    """

    def __init__(self, parent: SegmentationExtractor, roi_ids: Any) -> None:
        if not isinstance(parent, SegmentationExtractor):
            raise TypeError(
                f"parent must be a SegmentationExtractor, not {type(parent).__name__}"
            )
        positions = parent._positions(_id_list(roi_ids, "roi_ids"))
        unique, counts = np.unique(positions, return_counts=True)
        if np.any(counts > 1):
            repeated = parent.get_roi_ids()[int(unique[np.argmax(counts > 1)])]
            raise ValueError(f"roi_ids lists the ROI id {repeated!r} more than once")
        # a subset of a plain subset reads from the root
        if (
            isinstance(parent, RoiSubsetSegmentationExtractor)
            and parent._times is None and parent._fs_override is None
            and not parent._own_properties()
        ):
            positions = parent._parent_positions[positions]
            parent = parent._parent
        all_ids = parent.get_roi_ids()
        self._parent = parent
        self._parent_positions = positions
        self._roi_ids = [all_ids[i] for i in positions.tolist()]
        self.source = parent.source

    def get_roi_ids(self) -> list[Any]:
        return list(self._roi_ids)

    def _get_roi_masks(self) -> RoiMasks:
        return self._parent._masks().select(self._parent_positions)

    def _read_traces(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        if name == "background":
            return self._parent._traces_at(name, positions, start, end)
        return self._parent._traces_at(name, self._parent_positions[positions], start, end)

    def _property_store(self) -> dict[str, np.ndarray]:
        inherited = self._parent._property_store()
        subset = {key: values[self._parent_positions] for key, values in inherited.items()}
        return {**subset, **self._own_properties()}

    def _describe(self) -> str:
        return f"{super()._describe()}; ROI subset of {type(self._parent).__name__}"


class SampleSlicedSegmentationExtractor(_SegmentationView):
    """A lazy view of samples ``[start_sample, end_sample)`` of a segmentation extractor.

    Made by :meth:`SegmentationExtractor.slice_samples`. Traces and timestamps
    are windowed; everything else is the parent's.

    Parameters
    ----------
    parent : SegmentationExtractor
    start_sample, end_sample : int or None
        ``0 <= start_sample <= end_sample <= parent.get_num_samples()``.
    """

    def __init__(
        self,
        parent: SegmentationExtractor,
        start_sample: int | None = None,
        end_sample: int | None = None,
    ) -> None:
        if not isinstance(parent, SegmentationExtractor):
            raise TypeError(
                f"parent must be a SegmentationExtractor, not {type(parent).__name__}"
            )
        start, end = _resolve_range(start_sample, end_sample, parent.get_num_samples())
        if (
            isinstance(parent, SampleSlicedSegmentationExtractor)
            and parent._times is None and parent._fs_override is None
            and not parent._own_properties()
        ):
            start, end = start + parent._start, end + parent._start
            parent = parent._parent
        self._parent = parent
        self._start = start
        self._end = end
        self.source = parent.source

    def get_num_samples(self) -> int:
        return self._end - self._start

    def _get_roi_masks(self) -> RoiMasks:
        return self._parent._masks()

    def _read_traces(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        return self._parent._traces_at(name, positions, start + self._start, end + self._start)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        start, end = _resolve_range(start_sample, end_sample, self.get_num_samples())
        return self._parent.get_native_timestamps(start + self._start, end + self._start)

    def _fallback_timestamps(self, start: int, end: int) -> np.ndarray:
        return self._view_timestamps(self._parent, start, end, self._start)

    def _describe(self) -> str:
        return (
            f"{super()._describe()}; samples {self._start}:{self._end} of "
            f"{type(self._parent).__name__}"
        )


class PlaneSegmentationExtractor(_SegmentationView):
    """A lazy planar view of one plane of a volumetric segmentation extractor.

    Made by :meth:`SegmentationExtractor.select_plane`. Holds the ROIs and
    background components whose masks have a nonzero pixel in the plane, in
    the parent's order and with the parent's ids; masks are cut to the plane
    (``(rows, columns)``), traces and properties are the parent's for those
    ROIs, and images of shape ``(rows, columns, planes)`` become their slice
    (other images are kept). Time is the parent's.

    Parameters
    ----------
    parent : SegmentationExtractor
        A volumetric extractor.
    plane_index : int
        ``-planes <= plane_index < planes``.
    """

    is_volumetric = False  # type: ignore[assignment]

    def __init__(self, parent: SegmentationExtractor, plane_index: int) -> None:
        if not isinstance(parent, SegmentationExtractor):
            raise TypeError(
                f"parent must be a SegmentationExtractor, not {type(parent).__name__}"
            )
        if not parent.is_volumetric:
            raise UnsupportedFeatureError(
                f"{type(parent).__name__} is not volumetric; it has no planes to select"
            )
        planes = parent.get_num_planes()
        if isinstance(plane_index, (bool, np.bool_)) or not isinstance(plane_index, (int, np.integer)):
            raise TypeError(f"plane_index must be an int, not {plane_index!r}")
        if not -planes <= plane_index < planes:
            raise IndexError(
                f"plane_index={plane_index} is out of range: need -{planes} <= plane_index < {planes}"
            )
        self._parent = parent
        self._plane = int(plane_index) % planes
        self.source = parent.source
        plane_masks = parent._masks().select_plane(self._plane)
        self._positions_in_parent = np.flatnonzero(plane_masks.pixel_counts()).astype(np.intp)
        self._plane_masks = plane_masks.select(self._positions_in_parent)
        all_ids = parent.get_roi_ids()
        self._roi_ids = [all_ids[i] for i in self._positions_in_parent.tolist()]
        background = parent._background_masks()
        if background is None:
            self._background_positions = np.arange(parent.get_num_background_components(), dtype=np.intp)
            self._plane_background = None
        else:
            cut = background.select_plane(self._plane)
            self._background_positions = np.flatnonzero(cut.pixel_counts()).astype(np.intp)
            self._plane_background = cut.select(self._background_positions)
        all_background = parent.get_background_ids()
        self._background_ids = [all_background[i] for i in self._background_positions.tolist()]

    @property
    def plane_index(self) -> int:
        """The plane of the parent this view shows."""
        return self._plane

    def get_num_planes(self) -> int:
        return 1

    def get_roi_ids(self) -> list[Any]:
        return list(self._roi_ids)

    def get_background_ids(self) -> list[Any]:
        return list(self._background_ids)

    def _get_roi_masks(self) -> RoiMasks:
        return self._plane_masks.copy()

    def _get_background_masks(self) -> RoiMasks | None:
        return None if self._plane_background is None else self._plane_background.copy()

    def _read_traces(
        self, name: str, positions: np.ndarray, start: int, end: int
    ) -> np.ndarray:
        mapping = self._background_positions if name == "background" else self._positions_in_parent
        return self._parent._traces_at(name, mapping[positions], start, end)

    def get_images_dict(self) -> dict[str, np.ndarray]:
        volume = self._parent.get_volume_shape()
        return {
            name: image[..., self._plane].copy() if image.shape == volume else image
            for name, image in self._parent.get_images_dict().items()
        }

    def _property_store(self) -> dict[str, np.ndarray]:
        inherited = self._parent._property_store()
        subset = {key: values[self._positions_in_parent] for key, values in inherited.items()}
        return {**subset, **self._own_properties()}

    def _describe(self) -> str:
        return f"{super()._describe()}; plane {self._plane} of {type(self._parent).__name__}"
