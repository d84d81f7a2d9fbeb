"""A PlaneSegmentation table read with h5py: ids, mask column, other columns.

Masks are decoded into roicore's pixel C order according to the producer's
:class:`~roicore_nwb.producers.Convention`; nothing is read at construction
except the small ``id`` column and the shapes of the mask datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.errors import UnsupportedFeatureError
from roicore_nwb.layout import attr_text, corrupt, ragged_rows
from roicore_nwb.producers import Convention

__all__ = ["PlaneTable", "MASK_COLUMNS", "BLOCK_BYTES"]

MASK_COLUMNS = ("image_mask", "pixel_mask", "voxel_mask")
#: upper bound of one block of image masks read at a time (bytes)
BLOCK_BYTES = 32 * 2**20


@dataclass
class PlaneTable:
    """One PlaneSegmentation group.

    Attributes
    ----------
    group : h5py.Group
    path : Path
        The NWB file (for messages).
    convention : Convention
    ids : ndarray
        The ``id`` column (int64).
    mask_kind : str or None
        ``"image_mask"``, ``"pixel_mask"``, ``"voxel_mask"`` or None (no masks stored).
    stored_shape : tuple of int or None
        The frame shape the mask column implies, in (rows, columns), when it implies one.
    columns : list of str
        Every column named in ``colnames`` (masks included).
    """

    group: h5py.Group
    path: Path
    convention: Convention
    ids: np.ndarray = field(init=False)
    mask_kind: str | None = field(init=False)
    stored_shape: tuple[int, int] | None = field(init=False)
    columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        group, path = self.group, self.path
        ids = group.get("id")
        if not isinstance(ids, h5py.Dataset):
            raise corrupt(path, f"{group.name} has no 'id' column: the PlaneSegmentation table is incomplete")
        values = np.asarray(ids[()]).reshape(-1)
        if values.dtype.kind not in "iu":
            raise corrupt(path, f"{ids.name} holds {values.dtype} values, not integer ROI ids")
        self.ids = values.astype(np.int64)
        raw_names = group.attrs.get("colnames", ())
        self.columns = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(raw_names).tolist()]
        kinds = [name for name in MASK_COLUMNS if isinstance(group.get(name), h5py.Dataset)]
        self.mask_kind = kinds[0] if kinds else None
        self.stored_shape = None
        if self.mask_kind == "image_mask":
            masks = group["image_mask"]
            if masks.ndim == 4:
                raise UnsupportedFeatureError(
                    f"{path}: {masks.name} holds 3-D (volumetric) image masks {masks.shape}; roicore segmentation is planar"
                )
            if masks.ndim != 3 or masks.shape[0] != self.num_rows:
                raise corrupt(path, f"{masks.name} has shape {masks.shape}, expected ({self.num_rows}, x, y)")
            if masks.dtype.kind not in "biuf":
                raise corrupt(path, f"{masks.name} holds {masks.dtype} values, not mask weights")
            a, b = int(masks.shape[1]), int(masks.shape[2])
            self.stored_shape = (b, a) if self.convention.image_mask == "columns-first" else (a, b)
        elif self.mask_kind is not None:
            index = group.get(f"{self.mask_kind}_index")
            if not isinstance(index, h5py.Dataset):
                raise corrupt(path, f"{group.name}/{self.mask_kind} has no {self.mask_kind}_index: the table is incomplete")
            if index.shape[0] != self.num_rows:
                raise corrupt(path, f"{index.name} has {index.shape[0]} rows, the table {self.num_rows}")

    @property
    def name(self) -> str:
        """The group's name (last path element)."""
        return self.group.name.rsplit("/", 1)[-1]

    @property
    def num_rows(self) -> int:
        return int(self.ids.size)

    # -- masks --------------------------------------------------------------------

    def max_coordinates(self) -> tuple[int, int] | None:
        """``(max row + 1, max column + 1)`` over all pixel/voxel masks (None without such masks)."""
        if self.mask_kind not in ("pixel_mask", "voxel_mask"):
            return None
        data = self.group[self.mask_kind]
        if data.shape[0] == 0:
            return None
        rows, cols = self._coordinate_fields(data)
        return int(np.max(data[rows])) + 1, int(np.max(data[cols])) + 1

    def _coordinate_fields(self, data: h5py.Dataset) -> tuple[str, str]:
        names = data.dtype.names or ()
        if not {"x", "y", "weight"} <= set(names):
            raise corrupt(self.path, f"{data.name} is not a compound of (x, y[, z], weight): fields {names}")
        row = self.convention.pixel_row_field
        return row, ("y" if row == "x" else "x")

    def masks(self, rows: np.ndarray, frame_shape: tuple[int, int], plane: int | None) -> Any:
        """A sparse ``(pixels, len(rows))`` CSC matrix (pixel C order) of table rows ``rows``."""
        if self.mask_kind is None:
            raise UnsupportedFeatureError(f"{self.path}: {self.group.name} stores no image, pixel or voxel masks")
        if self.mask_kind == "image_mask":
            return self._image_masks(rows, frame_shape)
        return self._sparse_masks(rows, frame_shape, plane)

    def _image_masks(self, rows: np.ndarray, frame_shape: tuple[int, int]) -> Any:
        from scipy import sparse

        data = self.group["image_mask"]
        height, width = frame_shape
        pixels = height * width
        per_row = pixels * max(data.dtype.itemsize, 8)
        block = max(1, BLOCK_BYTES // per_row)
        parts = []
        kind = self.convention.image_mask
        for first in range(0, rows.size, block):
            chunk = rows[first : first + block]
            order = np.argsort(chunk, kind="stable")
            sorted_rows = chunk[order]
            if sorted_rows.size and sorted_rows[-1] - sorted_rows[0] + 1 == sorted_rows.size and np.all(np.diff(sorted_rows) == 1):
                stored = data[int(sorted_rows[0]) : int(sorted_rows[-1]) + 1]
            elif np.unique(sorted_rows).size == sorted_rows.size:
                stored = data[sorted_rows.tolist()] if sorted_rows.size else np.empty((0,) + data.shape[1:], data.dtype)
            else:
                stored = np.stack([data[int(r)] for r in sorted_rows]) if sorted_rows.size else np.empty((0,) + data.shape[1:])
            stored = np.asarray(stored, dtype=np.float64)[np.argsort(order, kind="stable")]
            if kind == "columns-first":  # (n, columns, rows)
                flat = stored.transpose(0, 2, 1).reshape(stored.shape[0], pixels)
            elif kind == "fortran":  # C reshape of Fortran-ordered pixels: the flat buffer is the F-order image
                flat = stored.reshape(stored.shape[0], width, height).transpose(0, 2, 1).reshape(stored.shape[0], pixels)
            else:
                flat = stored.reshape(stored.shape[0], pixels)
            if not np.all(np.isfinite(flat)):
                raise corrupt(self.path, f"{data.name} holds non-finite mask weights")
            if np.any(flat < 0):
                raise corrupt(self.path, f"{data.name} holds negative mask weights (minimum {flat.min():g})")
            parts.append(sparse.csc_matrix(flat.T))
        if not parts:
            return sparse.csc_matrix((pixels, 0))
        return sparse.hstack(parts, format="csc")

    def _sparse_masks(self, rows: np.ndarray, frame_shape: tuple[int, int], plane: int | None) -> Any:
        from scipy import sparse

        data, bounds = ragged_rows(self.group[self.mask_kind], self.group[f"{self.mask_kind}_index"], self.path, self.mask_kind)
        row_field, col_field = self._coordinate_fields(data)
        values = data[()]
        height, width = frame_shape
        r = np.asarray(values[row_field], dtype=np.float64)
        c = np.asarray(values[col_field], dtype=np.float64)
        w = np.asarray(values["weight"], dtype=np.float64)
        keep = np.ones(r.shape, dtype=bool)
        if self.mask_kind == "voxel_mask":
            if "z" not in (data.dtype.names or ()):
                raise corrupt(self.path, f"{data.name} has no 'z' field")
            z = np.asarray(values["z"], dtype=np.float64)
            keep = z == (0 if plane is None else plane)
        starts, ends = bounds[rows, 0], bounds[rows, 1]
        lengths = ends - starts
        take = np.concatenate([np.arange(a, b) for a, b in zip(starts.tolist(), ends.tolist())]) if rows.size else np.empty(0, np.int64)
        owner = np.repeat(np.arange(rows.size), lengths)
        take = take.astype(np.int64)
        mask = keep[take]
        take, owner = take[mask], owner[mask]
        rr, cc, ww = r[take], c[take], w[take]
        if not (np.all(np.isfinite(rr)) and np.all(np.isfinite(cc)) and np.all(np.isfinite(ww))):
            raise corrupt(self.path, f"{data.name} holds non-finite coordinates or weights")
        outside = (rr < 0) | (rr >= height) | (cc < 0) | (cc >= width) | (rr != np.floor(rr)) | (cc != np.floor(cc))
        if np.any(outside):
            first = int(np.flatnonzero(outside)[0])
            raise corrupt(
                self.path,
                f"{data.name}: ROI row {int(rows[owner[first]])} has pixel (row {rr[first]:g}, column {cc[first]:g}) "
                f"outside the {height} x {width} frame ({self.convention.producer} convention: "
                f"'{row_field}' holds the row)",
            )
        if np.any(ww < 0):
            raise corrupt(self.path, f"{data.name} holds negative weights")
        pixel = rr.astype(np.int64) * width + cc.astype(np.int64)
        key = owner * (height * width) + pixel
        if np.unique(key).size != key.size:
            raise corrupt(self.path, f"{data.name} lists a pixel twice in one ROI")
        return sparse.csc_matrix((ww, (pixel, owner)), shape=(height * width, rows.size))

    def voxel_planes(self) -> np.ndarray | None:
        """For voxel masks: the plane (z) of each row, or -1 for rows spanning several planes."""
        if self.mask_kind != "voxel_mask":
            return None
        data, bounds = ragged_rows(self.group["voxel_mask"], self.group["voxel_mask_index"], self.path, "voxel_mask")
        z = np.asarray(data["z"], dtype=np.int64) if data.shape[0] else np.empty(0, np.int64)
        planes = np.full(self.num_rows, -1, dtype=np.int64)
        for i, (a, b) in enumerate(bounds.tolist()):
            values = np.unique(z[a:b])
            if values.size == 1:
                planes[i] = values[0]
        return planes

    # -- other columns ------------------------------------------------------------

    def plain_columns(self) -> dict[str, tuple[h5py.Dataset, str]]:
        """Non-ragged, non-mask columns with one value (or row) per table row: ``{name: (dataset, description)}``."""
        found = {}
        for name in self.columns:
            if name in MASK_COLUMNS or f"{name}_index" in self.group:
                continue
            node = self.group.get(name)
            if not isinstance(node, h5py.Dataset) or node.ndim == 0 or node.shape[0] != self.num_rows:
                continue
            if node.dtype.kind not in "biufSUO" or node.dtype.names is not None:
                continue
            if node.dtype.kind == "O" and not h5py.check_string_dtype(node.dtype):
                continue  # object references (DynamicTableRegion columns)
            found[name] = (node, attr_text(node, "description"))
        return found
