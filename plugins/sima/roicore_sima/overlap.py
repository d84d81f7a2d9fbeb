"""Overlapping pixels: finding them, removing them, and unmixing overlapping ROIs.

Everything here is vectorised over the sparse mask matrix: no loop runs per
pixel (SIMA removed overlap with a Python loop over every overlapping pixel of
every mask, O(ROIs x overlap)). The only loop runs over groups of mutually
overlapping ROIs, once per extraction.

Two ROIs *overlap* when they share a pixel with a nonzero weight. A group of
ROIs connected by overlaps is a *component*; least-squares unmixing
(``remove_overlap=False``) couples the ROIs of a component only, so its Gram
matrix is block diagonal and each block is factored once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

__all__ = [
    "OverlapInfo",
    "Component",
    "find_overlap",
    "remove_pixels",
    "overlap_components",
    "overlap_groups",
    "unmixing_matrix",
    "component_footprint",
    "IllConditionedOverlapWarning",
]

#: condition number above which a component's Gram matrix counts as singular
_MAX_CONDITION = 1e8


class IllConditionedOverlapWarning(UserWarning):
    """Overlapping ROIs are (nearly) identical, so least squares cannot tell them apart."""


@dataclass(frozen=True)
class OverlapInfo:
    """Pixels shared by two or more ROIs of the input masks.

    Attributes
    ----------
    pixels : numpy.ndarray
        Sorted flat pixel indices (C order, ``row * columns + column``), int64.
    frame_shape : tuple of int
        ``(rows, columns)``.
    per_roi : numpy.ndarray
        For each ROI, how many of its pixels are shared with another ROI (int64).
    removed : bool
        True when the pixels were removed from every mask (``remove_overlap=True``).
    """

    pixels: np.ndarray
    frame_shape: tuple[int, int]
    per_roi: np.ndarray
    removed: bool

    @property
    def count(self) -> int:
        """Number of overlapping pixels."""
        return int(self.pixels.size)

    def coordinates(self) -> np.ndarray:
        """The overlapping pixels as a ``(k, 2)`` int64 array of ``[row, column]``."""
        rows, cols = np.divmod(self.pixels, self.frame_shape[1])
        return np.stack([rows, cols], axis=1).astype(np.int64)

    def to_sima(self) -> tuple[np.ndarray, np.ndarray]:
        """SIMA's format: ``np.nonzero`` of a ``1 x pixels`` array, i.e. ``(zeros, flat indices)``."""
        return (np.zeros(self.pixels.size, dtype=np.int64), self.pixels.astype(np.int64))


def segment_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """``values[indptr[i]:indptr[i + 1]].sum()`` for every ``i``: 0 for empty segments.

    Integers and booleans are summed in int64, floats in float64, each segment
    in order (``numpy.add.reduceat`` over the non-empty segments: one pass, no
    per-entry owner array).
    """
    counts = np.diff(indptr)
    integer = values.dtype.kind in "biu"
    result = np.zeros(counts.size, dtype=np.int64 if integer else np.float64)
    nonempty = counts > 0
    if nonempty.any():
        end = int(indptr[-1])
        # segments between two non-empty ones are empty, so each sum runs to the next non-empty start
        result[nonempty] = np.add.reduceat(values[:end], indptr[:-1][nonempty], dtype=result.dtype)
    return result


#: weights fewer than the frame's pixels by this factor are sorted to find shared pixels, rather than
#: counted per pixel (measured at 1024 x 1024: 0.13 vs 0.36 ms for 7,450 weights, plus the passes over
#: every pixel the count needs; at 74,500 weights in 512 x 512 sorting was 7x slower)
SORT_BELOW = 16


def find_overlap(
    csc: sparse.csc_matrix, frame_shape: tuple[int, int], *, removed: bool
) -> tuple[OverlapInfo, np.ndarray]:
    """Find the pixels with a nonzero weight in two or more masks.

    Parameters
    ----------
    csc : scipy.sparse.csc_matrix
        ``(pixels, rois)`` with sorted indices and no explicit zeros.
    frame_shape : tuple of int
    removed : bool
        Recorded in the result: whether the caller removes these pixels.

    Returns
    -------
    info : OverlapInfo
    shared : numpy.ndarray
        Boolean, one per stored entry of ``csc``: the entry's pixel is shared.
    """
    indices = csc.indices
    if indices.size * SORT_BELOW < csc.shape[0]:
        # few weights in a large frame: sorting them beats counting over every pixel of the frame
        ordered = np.sort(indices)
        pixels = np.unique(ordered[1:][ordered[1:] == ordered[:-1]]).astype(np.int64)
        shared = np.isin(indices, pixels) if pixels.size else np.zeros(indices.size, dtype=bool)
    else:
        # the narrowest counter that cannot wrap (a pixel is in each ROI at most once): bincount's int64
        # counts are 2 MiB at 512 x 512, and touching that fresh memory cost more than the counting
        counts = np.zeros(csc.shape[0], dtype=np.min_scalar_type(csc.shape[1]))
        np.add.at(counts, indices, counts.dtype.type(1))
        shared_pixel = counts > 1
        shared = shared_pixel[indices]
        pixels = np.flatnonzero(shared_pixel).astype(np.int64)
    per_roi = segment_sums(shared, csc.indptr)
    info = OverlapInfo(
        pixels=pixels,
        frame_shape=(int(frame_shape[0]), int(frame_shape[1])),
        per_roi=per_roi,
        removed=removed,
    )
    return info, shared


def remove_pixels(csc: sparse.csc_matrix, drop: np.ndarray) -> sparse.csc_matrix:
    """A copy of ``csc`` without the stored entries flagged in ``drop`` (vectorised).

    Parameters
    ----------
    csc : scipy.sparse.csc_matrix
    drop : numpy.ndarray
        Boolean, one per stored entry.
    """
    keep = ~drop
    indptr = np.zeros(csc.shape[1] + 1, dtype=np.int64)
    np.cumsum(segment_sums(keep, csc.indptr), out=indptr[1:])
    return sparse.csc_matrix((csc.data[keep], csc.indices[keep], indptr), shape=csc.shape)


def overlap_components(weights: sparse.csr_matrix) -> np.ndarray:
    """Label each ROI with its overlap component (connected ROIs share a label).

    Parameters
    ----------
    weights : scipy.sparse.csr_matrix
        ``(rois, pixels)``.

    Returns
    -------
    numpy.ndarray
        int64 labels, one per ROI.
    """
    from scipy.sparse.csgraph import connected_components

    pattern = weights.copy()
    pattern.data = np.ones_like(pattern.data)
    gram = (pattern @ pattern.T).tocsr()
    _, labels = connected_components(gram, directed=False)
    return labels.astype(np.int64)


@dataclass
class Component:
    """A group of two or more mutually overlapping ROIs, for least squares.

    Attributes
    ----------
    rois : numpy.ndarray
        ROI positions (rows of the weight matrix), int64.
    pixels : numpy.ndarray
        The union of their pixels (flat indices), int64.
    footprints : numpy.ndarray
        ``(len(pixels), len(rois))`` float64: the model of the video on these
        pixels is ``footprints @ traces``; frames with unimaged pixels are
        solved by least squares on the imaged rows.
    support : numpy.ndarray
        ``(len(pixels), len(rois))`` bool: the pixel is in the ROI's mask (a
        ROI with no imaged pixel in a frame gets NaN for that frame).
    """

    rois: np.ndarray
    pixels: np.ndarray
    footprints: np.ndarray = field(repr=False)
    support: np.ndarray = field(repr=False)


def overlap_groups(labels: np.ndarray) -> list[np.ndarray]:
    """Positions of the ROIs of every component with two or more ROIs, in label order."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    breaks = np.flatnonzero(np.diff(sorted_labels)) + 1
    return [group for group in np.split(order, breaks) if group.size > 1]


def unmixing_matrix(weights: sparse.csr_matrix, groups: list[np.ndarray], roi_ids: Any = None) -> sparse.csr_matrix:
    """The least-squares unmixing ``K = D G^-1`` of every component, as one sparse matrix.

    With weights ``W`` (rows summing to 1), each ROI's footprint is modelled as
    ``a_r = w_r / |w_r|^2`` (a profile proportional to its weights, scaled so
    that an isolated ROI's amplitude is its weighted mean). The least-squares
    amplitudes of a frame ``x`` are then ``s = D G^-1 (W x)`` with the Gram
    matrix ``G = W W^T`` and ``D = diag(|w_r|^2)``: the traces ``F = W x`` are
    unmixed by the small matrix ``K = D G^-1``, block diagonal over components
    and identity for isolated ROIs. ``G`` is computed once for all ROIs and
    each block is inverted through its eigendecomposition (symmetric, small).

    Parameters
    ----------
    weights : scipy.sparse.csr_matrix
        ``(rois, pixels)`` float64.
    groups : list of numpy.ndarray
        From :func:`overlap_groups`.
    roi_ids : list, optional
        Used to name ROIs in warnings.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(rois, rois)`` float64. A (nearly) singular block (identical ROIs)
        is pseudo-inverted, giving the minimum-norm solution, with an
        :class:`IllConditionedOverlapWarning`.
    """
    n = weights.shape[0]
    gram = (weights @ weights.T).tocsr()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    values: list[np.ndarray] = []
    in_group = np.zeros(n, dtype=bool)
    for group in groups:
        in_group[group] = True
        block = gram[group][:, group].toarray()
        eigenvalues, eigenvectors = np.linalg.eigh(block)
        largest = float(eigenvalues[-1])
        keep = eigenvalues > largest / _MAX_CONDITION
        if not keep.all():
            names = [roi_ids[i] for i in group] if roi_ids is not None else group.tolist()
            warnings.warn(
                f"ROIs {names} overlap so much that least squares cannot separate them; "
                "their traces are the minimum-norm least-squares solution",
                IllConditionedOverlapWarning,
                stacklevel=4,
            )
        basis = eigenvectors[:, keep]
        inverse = (basis / eigenvalues[keep]) @ basis.T
        unmix = np.diag(block)[:, None] * inverse
        r, c = np.meshgrid(group, group, indexing="ij")
        rows.append(r.ravel())
        cols.append(c.ravel())
        values.append(unmix.ravel())
    isolated = np.flatnonzero(~in_group)
    rows.append(isolated)
    cols.append(isolated)
    values.append(np.ones(isolated.size))
    matrix = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    matrix.sort_indices()
    return matrix


def component_footprint(weights: sparse.csr_matrix, group: np.ndarray, *, sima_pinv: bool) -> Component:
    """The footprint model of one component, for frames with unimaged pixels.

    Parameters
    ----------
    weights : scipy.sparse.csr_matrix
        ``(rois, pixels)`` float64.
    group : numpy.ndarray
        The component's ROI positions.
    sima_pinv : bool
        False: footprints ``w_r / |w_r|^2`` (see :func:`unmixing_matrix`).
        True: SIMA's model, the columns of the pseudo-inverse ``M^T (M M^T)^-1``
        of the component's mask rows ``M`` (on fully imaged frames it gives
        back the plain weighted sums ``M x``).
    """
    block = weights[group].tocsr()
    pixels = np.unique(block.indices).astype(np.int64)
    dense = block[:, pixels].toarray()  # (rois, pixels)
    if sima_pinv:
        footprints = np.linalg.pinv(dense)  # (pixels, rois) = M^T (M M^T)^-1 when M has full row rank
    else:
        footprints = (dense / np.sum(dense * dense, axis=1, keepdims=True)).T
    return Component(
        rois=group.astype(np.int64),
        pixels=pixels,
        footprints=np.ascontiguousarray(footprints),
        support=np.ascontiguousarray((dense != 0).T),
    )
