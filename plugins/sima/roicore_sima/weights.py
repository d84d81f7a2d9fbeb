"""From ROI masks to the weight matrix that extraction multiplies frames by.

Rules (documented in the method's docstring and the README):

* Overlap is found on the input masks. With ``remove_overlap=True`` the
  shared pixels are removed from every mask *before* normalisation (as SIMA
  does), so each ROI averages only the pixels it owns.
* Default normalisation: every mask is scaled to sum to 1, so a trace is a
  weighted mean; a boolean mask (stored as weights 1.0) becomes 1/n per pixel,
  a plain mean.
* ``sima_compat=True``: boolean masks (every weight exactly 1.0, which is how
  :class:`roicore.RoiMasks` stores True) become 1/n as in SIMA; weighted masks
  are used as given (weights summing to 3 give 3 times the weighted mean).
* A ROI left with no pixel is *empty*: its trace is NaN (with a warning).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from roicore_sima.overlap import OverlapInfo, find_overlap, remove_pixels, segment_sums

__all__ = ["Weights", "EmptyRoiWarning", "build_weights", "product_weights"]


class EmptyRoiWarning(UserWarning):
    """A ROI has no pixel left (empty input mask, or every pixel was shared and removed)."""


@dataclass
class Weights:
    """The weights as used, and what was done to the input masks.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``(rois, pixels)`` float64, sorted indices: trace ``r`` of a fully
        imaged frame ``x`` is ``matrix[r] @ x`` (before least-squares
        unmixing, when ``remove_overlap=False``).
    frame_shape : tuple of int
    overlap : OverlapInfo
        Overlapping pixels of the *input* masks.
    empty : numpy.ndarray
        Boolean per ROI: no pixel left.
    num_pixels : numpy.ndarray
        Pixels used per ROI (int64).
    boolean : numpy.ndarray
        Boolean per ROI: every input weight was exactly 1.0.
    """

    matrix: sparse.csr_matrix
    frame_shape: tuple[int, int]
    overlap: OverlapInfo
    empty: np.ndarray
    num_pixels: np.ndarray
    boolean: np.ndarray

    @property
    def num_rois(self) -> int:
        """Number of ROIs (rows)."""
        return int(self.matrix.shape[0])

    def as_masks(self) -> Any:
        """The weights as used, as a :class:`roicore.RoiMasks` (pixels x ROIs) sharing this matrix's arrays."""
        from roicore.segmentation import RoiMasks

        return RoiMasks(self.matrix.T.tocsc(), self.frame_shape, copy=False)


def build_weights(masks: Any, *, remove_overlap: bool, sima_compat: bool, roi_ids: list[Any] | None = None) -> Weights:
    """Turn :class:`roicore.RoiMasks` into the weights extraction uses.

    Parameters
    ----------
    masks : roicore.RoiMasks
        ``masks.matrix`` is ``(pixels, rois)`` CSC, float64, non-negative.
    remove_overlap : bool
        Remove pixels shared by two or more ROIs from all of them.
    sima_compat : bool
        Normalise boolean masks only, as SIMA does.
    roi_ids : list, optional
        Used to name empty ROIs in the warning.

    Returns
    -------
    Weights

    Warns
    -----
    EmptyRoiWarning
        Some ROIs have no pixel (their traces will be NaN).
    """
    csc, owned = _canonical(masks.matrix)
    frame_shape = (int(masks.frame_shape[0]), int(masks.frame_shape[1]))
    boolean_entries = csc.data == 1.0
    boolean = (segment_sums(boolean_entries, csc.indptr) == np.diff(csc.indptr)) & (np.diff(csc.indptr) > 0)

    overlap, shared = find_overlap(csc, frame_shape, removed=remove_overlap)
    if remove_overlap and overlap.count:
        csc = remove_pixels(csc, shared)
    elif not owned:
        csc = csc.copy()  # its data are scaled below: never the caller's

    num_pixels = np.diff(csc.indptr).astype(np.int64)
    empty = num_pixels == 0
    if sima_compat:
        scale = np.where(boolean & ~empty, 1.0 / np.maximum(num_pixels, 1), 1.0)
    else:
        sums = segment_sums(csc.data, csc.indptr)
        scale = np.where(sums > 0, 1.0 / np.where(sums > 0, sums, 1.0), 1.0)
    csc.data *= np.repeat(scale, num_pixels)
    if np.any(empty):
        names = [roi_ids[i] for i in np.flatnonzero(empty)] if roi_ids is not None else np.flatnonzero(empty).tolist()
        shown = names[:10] + (["..."] if len(names) > 10 else [])
        warnings.warn(
            f"{len(names)} ROI(s) have no pixel left and get all-NaN traces: {shown}",
            EmptyRoiWarning,
            stacklevel=3,
        )
    matrix = csc.T.tocsr()  # (rois, pixels); the transpose of a CSC is a CSR
    matrix.sort_indices()
    return Weights(
        matrix=matrix, frame_shape=frame_shape, overlap=overlap, empty=empty, num_pixels=num_pixels, boolean=boolean
    )


def _canonical(matrix: Any) -> tuple[sparse.csc_matrix, bool]:
    """``matrix`` as a float64 CSC with sorted indices, no duplicates and no stored zeros.

    Returns the matrix and whether it is a new one: a matrix that already
    is one (``RoiMasks`` keeps its masks so) is returned as it is, not
    copied, and must not be changed.
    """
    if (
        sparse.isspmatrix_csc(matrix)
        and matrix.dtype == np.float64
        and matrix.has_canonical_format
        and matrix.has_sorted_indices
        and np.all(matrix.data)
    ):
        return matrix, False
    csc = sparse.csc_matrix(matrix, dtype=np.float64, copy=True)
    csc.sum_duplicates()
    csc.eliminate_zeros()
    csc.sort_indices()
    return csc, True


def product_weights(
    matrix: sparse.csr_matrix, *, power: np.ndarray, pixel_scale: np.ndarray | None = None, rescale: bool = True
) -> tuple[sparse.csr_matrix, sparse.csr_matrix | None, np.ndarray | None, np.ndarray]:
    """The float32 product and rescale matrices the kernel uses.

    A fully imaged frame gives ``A @ x``. A frame with unimaged (non-finite)
    pixels gives ``(A @ x0) * b / (B @ f)``, with ``x0`` the frame with
    non-finite values set to 0, ``f`` the indicator of finite pixels, ``B``
    the weights raised to ``power`` and ``b = B @ 1``: ``power=1`` rescales a
    weighted mean to the imaged pixels; ``power=2`` is SIMA's (least-squares)
    rule ``|w|^2 / |w_imaged|^2``.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        ``(rois, pixels)`` float64 weights.
    power : numpy.ndarray
        1 or 2 per ROI.
    pixel_scale : numpy.ndarray, optional
        SIMA compatibility: ``1 / mean`` per pixel, folded into ``A`` (each
        pixel divided by its own time average). Pixels whose average is zero
        or not finite are never imaged in SIMA (their dF/F is not finite); they
        are dropped from ``A`` and ``B``, and ``A`` is multiplied by SIMA's
        rescale factor for them, a constant per ROI.
    rescale : bool
        Build ``B`` and ``b``. Only frames with non-finite pixels use them, so
        integer videos need neither; False returns None for both.

    Returns
    -------
    A, B : scipy.sparse.csr_matrix
        float32, same sparsity (``B`` may have fewer entries when pixels are dropped).
    b : numpy.ndarray
        float32 ``B @ 1``, computed by the same product as the per-frame
        denominators, so a fully imaged ROI is rescaled by exactly 1.
    dead : numpy.ndarray
        Boolean per ROI: it has pixels, but none that is ever imaged (SIMA
        compatibility only); its trace is NaN.
    """
    data = matrix.data
    indices = matrix.indices
    indptr = matrix.indptr
    keep = None
    dead = np.zeros(matrix.shape[0], dtype=bool)
    product_data = data
    if pixel_scale is not None:
        owner = _owners(matrix)
        scale = pixel_scale[indices]
        valid = np.isfinite(scale)
        all_sq = np.bincount(owner, weights=data * data, minlength=matrix.shape[0])
        valid_sq = np.bincount(owner, weights=np.where(valid, data * data, 0.0), minlength=matrix.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(valid_sq > 0, all_sq / valid_sq, np.nan)
        product_data = np.where(valid, data * np.where(valid, scale, 0.0) * factor[owner], 0.0)
        keep = valid
        counts = np.bincount(owner[keep], minlength=matrix.shape[0])
        indptr = np.concatenate(([0], np.cumsum(counts)))
        # ROIs with no valid pixel at all: NaN through their (absent) weights
        dead = ~(valid_sq > 0) & (np.diff(matrix.indptr) > 0)
    product = _float32_matrix(product_data, indices, indptr, keep, matrix.shape)
    if not rescale:
        return product, None, None, dead
    squared = power[_owners(matrix)] == 2
    rescale_matrix = _float32_matrix(np.where(squared, data * data, data), indices, indptr, keep, matrix.shape)
    from roicore_sima.kernel import csr_matvec

    b = np.zeros(matrix.shape[0], dtype=np.float32)
    csr_matvec(rescale_matrix, np.ones(matrix.shape[1], dtype=np.float32), b)
    return product, rescale_matrix, b, dead


def _owners(matrix: sparse.csr_matrix) -> np.ndarray:
    """The row of every stored entry of ``matrix``."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _float32_matrix(
    data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, keep: np.ndarray | None, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """A new float32 CSR of ``data`` on ``indices`` (the entries flagged in ``keep`` only, if given)."""
    if keep is None:
        data, indices, indptr = data.astype(np.float32), indices.copy(), indptr.copy()
    else:
        data, indices = data[keep].astype(np.float32), indices[keep]
    result = sparse.csr_matrix((data, indices, indptr), shape=shape)
    result.sort_indices()
    return result
