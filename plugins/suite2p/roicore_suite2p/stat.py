"""suite2p's ``stat.npy``: one dict per ROI; its masks and its per-ROI statistics.

A ROI's mask is ``ypix`` (rows) and ``xpix`` (columns) in the full frame with
weights ``lam`` (suite2p's ``detection/stats.py`` and ``extraction/masks.py``).
That full mask is what this module reads. suite2p also stores per-pixel flags
of the same length, ``overlap`` (pixels shared with another ROI, left out of
suite2p's own trace extraction) and ``soma_crop`` (the pixels kept by its soma
crop, used for ``npix_soma`` and ``radius``), and the ``neuropil_mask``
(flat pixel indices of the surround); those are not part of the mask.

Per-ROI statistics that are one number per ROI (``npix``, ``radius``,
``skew``, ``std``, ``compact``, ``footprint``, ``aspect_ratio``, ``solidity``,
``mrs``, ``npix_norm``, ``snr``, ``iplane``, ...) become properties, and
``med`` (the median pixel, ``[row, column]``) the two properties ``med_row``
and ``med_column``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.segmentation import RoiMasks
from roicore.safeload import load_npy

__all__ = ["read_stat", "stat_masks", "stat_properties", "PIXEL_FIELDS"]

#: fields with one value per mask pixel (or a pixel list): never properties
PIXEL_FIELDS = frozenset({"ypix", "xpix", "lam", "overlap", "soma_crop", "neuropil_mask", "ipix", "ipix_neuropil"})


def _corrupt(path: Path, problem: str) -> CorruptFileError:
    return CorruptFileError(f"{path}: {problem}", path=path)


def read_stat(path: Path) -> list[dict[str, Any]]:
    """The ROI dicts of a ``stat.npy``, read with the safe loader."""
    array = load_npy(path)
    if array.dtype != object or array.ndim != 1:
        raise _corrupt(path, f"expected a 1-D object array of ROI dicts, found a {array.dtype} array {array.shape}")
    rois = array.tolist()
    for index, roi in enumerate(rois):
        if not isinstance(roi, Mapping):
            raise _corrupt(path, f"ROI {index} is a {type(roi).__name__}, not a dict")
    return [dict(roi) for roi in rois]


def _pixels(roi: Mapping[str, Any], key: str, index: int, path: Path) -> np.ndarray:
    if key not in roi:
        raise _corrupt(path, f"ROI {index} has no {key!r}")
    values = np.asarray(roi[key])
    if values.ndim != 1:
        raise _corrupt(path, f"ROI {index}: {key!r} must be 1-D, has shape {values.shape}")
    return values


def stat_masks(rois: list[dict[str, Any]], frame_shape: tuple[int, int], path: Path) -> RoiMasks:
    """The full masks (``ypix``, ``xpix``, ``lam``) as :class:`~roicore.RoiMasks` on the frame.

    Raises
    ------
    CorruptFileError
        A ROI lacks a field, the fields differ in length, a coordinate is not
        an integer or lies outside the frame (never clipped), a pixel is listed
        twice, or a weight is negative or not finite. The message names
        ``path`` and the ROI.
    """
    from scipy import sparse

    rows, columns = frame_shape
    pixel_lists, weight_lists = [], []
    for index, roi in enumerate(rois):
        ypix, xpix, lam = (_pixels(roi, key, index, path) for key in ("ypix", "xpix", "lam"))
        if not ypix.size == xpix.size == lam.size:
            raise _corrupt(
                path, f"ROI {index}: ypix, xpix and lam have {ypix.size}, {xpix.size} and {lam.size} values (must be equal)"
            )
        for key, values in (("ypix", ypix), ("xpix", xpix)):
            if values.size and values.dtype.kind not in "iu":
                if values.dtype.kind != "f" or not np.all(np.isfinite(values)) or np.any(values != np.floor(values)):
                    raise _corrupt(path, f"ROI {index}: {key} holds non-integer values ({values.dtype})")
        y, x = ypix.astype(np.int64), xpix.astype(np.int64)
        outside = (y < 0) | (y >= rows) | (x < 0) | (x >= columns)
        if np.any(outside):
            first = int(np.flatnonzero(outside)[0])
            raise _corrupt(
                path,
                f"ROI {index} has pixel (row {y[first]}, column {x[first]}) outside the {rows} x {columns} frame",
            )
        if lam.dtype.kind not in "biuf":
            raise _corrupt(path, f"ROI {index}: lam must hold numbers, not {lam.dtype}")
        weights = lam.astype(np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise _corrupt(path, f"ROI {index}: lam holds negative or non-finite weights")
        flat = y * columns + x
        if np.unique(flat).size != flat.size:
            raise _corrupt(path, f"ROI {index} lists a pixel more than once")
        pixel_lists.append(flat)
        weight_lists.append(weights)
    count = len(rois)
    lengths = np.fromiter(map(len, pixel_lists), dtype=np.int64, count=count)
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    indices = np.concatenate(pixel_lists) if count else np.empty(0, np.int64)
    data = np.concatenate(weight_lists) if count else np.empty(0)
    matrix = sparse.csc_matrix((data, indices, indptr), shape=(rows * columns, count))
    return RoiMasks(matrix, frame_shape)


def _scalar(value: Any) -> Any:
    """A Python/numpy number (0-d arrays included) as a numpy scalar, else None."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return value[()]
    return None


def stat_properties(rois: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-ROI properties: every field that is one number in every ROI, plus ``med`` as ``med_row``, ``med_column``."""
    if not rois:
        return {}
    properties: dict[str, np.ndarray] = {}
    common = [key for key in rois[0] if key not in PIXEL_FIELDS and all(key in roi for roi in rois)]
    for key in common:
        if key == "med":
            med = [np.asarray(roi["med"]) for roi in rois]
            if all(m.shape == (2,) and m.dtype.kind in "iuf" for m in med):
                # one value per ROI per property, so that every writer can store it as a column
                properties["med_row"], properties["med_column"] = np.array(med, dtype=np.float64).T.copy()
            continue
        values = [_scalar(roi[key]) for roi in rois]
        if any(v is None for v in values):
            continue
        array = np.array(values)
        if array.dtype.kind == "b":
            properties[key] = array.astype(bool)
        elif array.dtype.kind in "iu":
            properties[key] = array.astype(np.int64)
        else:
            properties[key] = array.astype(np.float64)
    return properties
