"""RoiResponseSeries: find them, map their ``rois`` regions to table rows, name them, read windows.

Every RoiResponseSeries under ``/processing`` whose ``rois`` region points at
a PlaneSegmentation is found, whatever its name or container. Its name in
roicore follows the container and series names (:func:`trace_name`), e.g.
``Fluorescence/RoiResponseSeries`` -> ``raw``, ``DfOverF/*`` -> ``dff``,
suite2p's ``Neuropil/plane0`` -> ``neuropil``, ``*Background*`` ->
``background``. Several series with one name and disjoint regions (suite2p's
``plane0``, ``plane1``, ...) form one trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore_nwb.layout import attr_text, corrupt, first_line, iter_typed, neurodata_type
from roicore_nwb.timing import Timing, read_timing

__all__ = ["Series", "find_series", "trace_name", "TracePart", "read_parts", "KNOWN_TRACES"]

KNOWN_TRACES = ("raw", "dff", "neuropil", "deconvolved", "denoised", "baseline", "background")
#: upper bound of one block read from a trace dataset (bytes)
SPAN_BYTES = 8 * 2**20


@dataclass
class Series:
    """One RoiResponseSeries (or CaImAn's residuals TimeSeries)."""

    group: h5py.Group
    data: h5py.Dataset
    table: str | None
    rows: np.ndarray | None
    timing: Timing
    container: str
    container_type: str
    conversion: float
    offset: float

    @property
    def name(self) -> str:
        return self.group.name.rsplit("/", 1)[-1]

    @property
    def width(self) -> int:
        return 1 if self.data.ndim == 1 else int(self.data.shape[1])


def _scale(data: h5py.Dataset) -> tuple[float, float]:
    conversion = data.attrs.get("conversion", 1.0)
    offset = data.attrs.get("offset", 0.0)
    try:
        return float(conversion), float(offset)
    except (TypeError, ValueError):
        return 1.0, 0.0


def _resolve_table(handle: h5py.File, rois: h5py.Dataset, path: Path) -> str:
    ref = rois.attrs.get("table")
    if ref is None:
        raise corrupt(path, f"{rois.name} (a DynamicTableRegion) has no 'table' reference")
    try:
        name = handle[ref].name
    except Exception as exc:
        raise corrupt(path, f"{rois.name} refers to a table that cannot be resolved ({first_line(exc)})") from exc
    if name is None or not isinstance(handle.get(name), h5py.Group):
        raise corrupt(path, f"{rois.name} refers to a table that cannot be resolved (it is no longer in the file)")
    return name


def _table_rows(handle: h5py.File, table: str) -> int:
    ids = handle[table].get("id")
    return int(ids.shape[0]) if isinstance(ids, h5py.Dataset) else 0


def _open_series(handle: h5py.File, group: h5py.Group, path: Path, nominal_rate: Any, with_region: bool) -> Series:
    data = group.get("data")
    if not isinstance(data, h5py.Dataset):
        raise corrupt(path, f"{group.name} has no 'data' dataset")
    if data.ndim not in (1, 2) or data.dtype.kind not in "biuf":
        raise corrupt(path, f"{data.name} has shape {data.shape} and dtype {data.dtype}, expected (time, rois) numbers")
    table = rows = None
    if with_region:
        rois = group.get("rois")
        if not isinstance(rois, h5py.Dataset):
            raise corrupt(path, f"{group.name} has no 'rois' region naming the ROIs of its columns")
        table = _resolve_table(handle, rois, path)
        rows = np.asarray(rois[()], dtype=np.int64).reshape(-1)
        count = _table_rows(handle, table)
        if rows.size and (rows.min() < 0 or rows.max() >= count):
            bad = int(rows[(rows < 0) | (rows >= count)][0])
            raise corrupt(path, f"{rois.name} refers to row {bad} of {table}, which has {count} rows")
        width = 1 if data.ndim == 1 else int(data.shape[1])
        if rows.size != width:
            raise corrupt(path, f"{data.name} has {width} columns but its region {rois.name} names {rows.size} ROIs")
    timing = read_timing(group, int(data.shape[0]), path, nominal_rate)
    parent = group.parent
    conversion, offset = _scale(data)
    return Series(group, data, table, rows, timing, parent.name.rsplit("/", 1)[-1], neurodata_type(parent), conversion, offset)


def find_series(handle: h5py.File, path: Path, nominal_rate: Any = None) -> list[Series]:
    """Every RoiResponseSeries under /processing, and CaImAn's ``residuals`` TimeSeries."""
    found = []
    processing = handle.get("processing")
    if not isinstance(processing, h5py.Group):
        return found
    for _, group in iter_typed(handle, ("RoiResponseSeries",), max_depth=3):
        if group.name.startswith("/processing/"):
            found.append(_open_series(handle, group, path, nominal_rate, with_region=True))
    for module in processing.values():
        residuals = module.get("residuals") if isinstance(module, h5py.Group) else None
        if isinstance(residuals, h5py.Group) and neurodata_type(residuals) == "TimeSeries":
            found.append(_open_series(handle, residuals, path, nominal_rate, with_region=False))
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower() or "traces"


def trace_name(series: Series) -> str:
    """The roicore name of a series' traces, from its container and its own name."""
    name, container = series.name, series.container
    stated = re.fullmatch(r"roicore trace: ([A-Za-z0-9_]+)", attr_text(series.group, "comments"))
    if stated:
        return stated.group(1)
    lowered, container_lowered = name.lower(), container.lower()
    if "background" in lowered or "background" in container_lowered:
        return "background"
    # neuroconv 0.10 writes dF/F as Fluorescence/DfOverF
    if series.container_type == "DfOverF" or container_lowered in ("dfoverf", "dff", "df_over_f") or lowered in ("dfoverf", "df_over_f"):
        return "dff"
    for known in KNOWN_TRACES:
        if lowered == known or container_lowered == known:
            return known
    if lowered in ("fluorescence", "f") or re.fullmatch(r"plane\d+|roiresponseseries\d*", lowered):
        if container_lowered == "fluorescence" or series.container_type == "Fluorescence":
            return "raw"
    if lowered in ("spikes", "spks", "deconvolved_activity"):
        return "deconvolved"
    if lowered in ("fneu", "neuropil_fluorescence"):
        return "neuropil"
    return _slug(f"{container}_{name}" if container_lowered not in ("fluorescence",) else name)


@dataclass
class TracePart:
    """Columns ``columns`` of ``series`` hold the traces of ROI positions ``positions`` (both sorted by position)."""

    series: Series
    positions: np.ndarray
    columns: np.ndarray


def _read_columns(data: h5py.Dataset, columns: np.ndarray, start: int, end: int) -> np.ndarray:
    """``data[start:end, columns]`` for any column order (a bounding block when it is small)."""
    if data.ndim == 1:
        return np.asarray(data[start:end]).reshape(-1, 1)[:, np.zeros(columns.size, dtype=np.intp)]
    if columns.size == 0 or start == end:
        return np.empty((end - start, columns.size), dtype=data.dtype)
    low, high = int(columns.min()), int(columns.max()) + 1
    if (high - low) <= 2 * columns.size or (end - start) * (high - low) * data.dtype.itemsize <= SPAN_BYTES:
        return np.asarray(data[start:end, low:high])[:, columns - low]
    order = np.argsort(columns)
    block = np.asarray(data[start:end, columns[order].tolist()])
    return block[:, np.argsort(order)]


def read_parts(parts: list[TracePart], positions: np.ndarray, start: int, end: int, extra: list[TracePart] | None = None) -> np.ndarray:
    """Traces ``(end - start, len(positions))`` from ``parts`` (plus ``extra`` added, for CaImAn's residuals)."""
    dtype = np.result_type(np.float32, *(p.series.data.dtype for p in parts + (extra or [])))
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    out = np.zeros((end - start, positions.size), dtype=dtype)
    for group in (parts, extra or []):
        for part in group:
            where = np.searchsorted(part.positions, positions)
            where = np.clip(where, 0, max(part.positions.size - 1, 0))
            hit = part.positions.size > 0
            inside = (part.positions[where] == positions) if hit else np.zeros(positions.size, bool)
            if not inside.any():
                continue
            block = _read_columns(part.series.data, part.columns[where[inside]], start, end).astype(dtype, copy=False)
            if part.series.conversion != 1.0 or part.series.offset != 0.0:
                block = block * part.series.conversion + part.series.offset
            out[:, inside] += block
    return out
