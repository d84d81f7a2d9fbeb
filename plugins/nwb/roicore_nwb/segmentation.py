"""The roicore reader of NWB segmentations (PlaneSegmentation + RoiResponseSeries), with h5py.

Opening reads metadata only: the tables' ``id`` columns, the regions of the
RoiResponseSeries, their time bases and the small per-ROI columns. Masks are
decoded on first use (image masks in bounded blocks of ROIs); traces are read
for the requested window and ROIs only. The file stays open until
:meth:`~NwbSegmentationExtractor.close`.

Examples
--------
>>> import roicore
>>> with roicore.open("session.nwb") as seg:                 # doctest: +SKIP
...     seg.producer, seg.get_trace_names()
...     raw = seg.get_traces(roi_ids=[0, 3], start_sample=100, end_sample=200)
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.errors import CorruptFileError, RoicoreError, UnsupportedFeatureError
from roicore.segmentation import RoiMasks, SegmentationExtractor
from roicore_nwb.images import StoredImage, find_images
from roicore_nwb.layout import attr_text, corrupt, first_line, iter_typed, open_nwb
from roicore_nwb.producers import CONVENTIONS, Convention, detect_convention
from roicore_nwb.responses import KNOWN_TRACES, Series, TracePart, find_series, read_parts, trace_name
from roicore_nwb.sniff import sniff_segmentation
from roicore_nwb.tables import PlaneTable
from roicore_nwb.timing import Timing, stamps_window

__all__ = ["NwbSegmentationExtractor", "ChoiceError"]

#: PlaneSegmentation columns of CaImAn's exporter and their roicore property names (as roicore-caiman names them)
_CAIMAN_COLUMNS = {"keep": "is_accepted", "snr": "snr", "r": "r_values", "cnn": "cnn_preds"}


class ChoiceError(RoicoreError, ValueError):
    """The file holds several candidates (plane segmentations, planes, series) and none was chosen."""


def _rate_argument(value: Any) -> float | None:
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"sampling_frequency must be a number > 0, not {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"sampling_frequency must be a finite number > 0, not {value!r}")
    return rate


def _column_values(node: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    values = node[()]
    if h5py.check_string_dtype(node.dtype) is not None or node.dtype.kind in "SO":
        values = np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in np.ravel(values)])
        values = values.reshape(node.shape)
    return np.asarray(values)[rows]


class NwbSegmentationExtractor(SegmentationExtractor):
    """One PlaneSegmentation of an NWB file, with its traces and summary images.

    Parameters
    ----------
    file_path : str or path-like
        The ``.nwb`` file (HDF5).
    plane_segmentation : str, optional
        The PlaneSegmentation's name or HDF5 path; needed when the file holds
        several (background companions such as neuroconv's
        ``BackgroundPlaneSegmentation`` do not count).
    sampling_frequency : float, optional
        Overrides the rate the file gives (always wins).
    convention : str, optional
        Force a producer's axis convention: ``"caiman"``, ``"suite2p"``,
        ``"neuroconv"``, ``"roicore"``, ``"nwb"`` or ``"rows-first"``; by
        default it is detected from the file (see :attr:`producer`).
    plane : int, optional
        For voxel masks spanning several planes (suite2p's multi-plane
        export): the plane (``z``) whose ROIs to read.
    frame_shape : tuple of int, optional
        ``(rows, columns)`` for pixel masks in files that store no image
        telling the frame size.

    Attributes
    ----------
    producer : str
        The detected (or forced) producer.
    convention : Convention
        The axis convention used, with the evidence for it.
    notes : list of str
        What in the file was left out, and why.

    Notes
    -----
    ROI ids are the table's ``id`` column (or its ``roi_name`` column when
    roicore wrote string ids). Background components (rows referenced by a
    series named ``*Background*``, or a ``Background<name>`` companion table)
    are kept apart from the ROIs.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CorruptFileError
        Not NWB, truncated, a missing or incomplete table, regions pointing
        outside their table, inconsistent shapes.
    ChoiceError
        Several plane segmentations (or planes) and none chosen.
    UnsupportedFeatureError
        3-D image masks, NWB 1.x.
    """

    sniff = staticmethod(sniff_segmentation)

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        *,
        plane_segmentation: str | None = None,
        sampling_frequency: float | None = None,
        convention: str | None = None,
        plane: int | None = None,
        frame_shape: tuple[int, int] | None = None,
    ) -> None:
        self._file: h5py.File | None = None
        rate = _rate_argument(sampling_frequency)
        if plane is not None and (isinstance(plane, bool) or not isinstance(plane, (int, np.integer)) or plane < 0):
            raise ValueError(f"plane must be a non-negative integer, not {plane!r}")
        if convention is not None and convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, not {convention!r}")
        if frame_shape is not None:
            shape = tuple(frame_shape)
            if len(shape) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape):
                raise ValueError(f"frame_shape must be (rows, columns), two positive integers, not {frame_shape!r}")
            frame_shape = (int(shape[0]), int(shape[1]))
        path, handle = open_nwb(file_path)
        self._path = path
        try:
            self._setup(handle, plane_segmentation, rate, convention, None if plane is None else int(plane), frame_shape)
        except RoicoreError:
            handle.close()
            raise
        except Exception as exc:
            handle.close()
            raise CorruptFileError(f"{path}: cannot be read as NWB segmentation ({first_line(exc)})", path=path) from exc
        self._file = handle

    # -- set-up ---------------------------------------------------------------------

    def _setup(
        self,
        handle: h5py.File,
        choice: str | None,
        rate: float | None,
        convention_name: str | None,
        plane: int | None,
        frame_shape: Any,
    ) -> None:
        path = self._path
        groups = [group for _, group in iter_typed(handle, ("PlaneSegmentation",))]
        chosen = self._choose(groups, choice)
        self.convention: Convention = detect_convention(handle, convention_name, table=chosen)
        self.producer: str = self.convention.producer
        self.notes: list[str] = []
        tables = [PlaneTable(group, path, self.convention) for group in groups]
        table = tables[groups.index(chosen)]
        self._table = table
        self._plane = plane
        companion = self._companion(tables, table)
        self._companion_table = companion

        nominal = None
        plane_group = table.group.get("imaging_plane")
        if isinstance(plane_group, h5py.Group) and isinstance(plane_group.get("imaging_rate"), h5py.Dataset):
            nominal = plane_group["imaging_rate"][()]
        series = find_series(handle, path, nominal)
        own = [s for s in series if s.table == table.group.name]
        on_companion = [s for s in series if companion is not None and s.table == companion.group.name]
        residuals = [s for s in series if s.table is None]

        names = {id(s): trace_name(s) for s in own + on_companion}
        background_rows = set()
        for s in own:
            if names[id(s)] == "background":
                background_rows.update(s.rows.tolist())
        cell_rows = np.array([r for r in range(table.num_rows) if r not in background_rows], dtype=np.int64)
        cell_rows = self._select_plane(table, cell_rows, plane)
        self._cell_rows = cell_rows
        self._background_rows = np.array(sorted(background_rows), dtype=np.int64)

        self._roi_ids = self._ids(table, cell_rows)
        if companion is not None:
            self._background_ids = [int(v) for v in companion.ids.tolist()]
            self._background_source = (companion, np.arange(companion.num_rows, dtype=np.int64))
        else:
            self._background_ids = [int(v) for v in table.ids[self._background_rows].tolist()]
            self._background_source = (table, self._background_rows)
        if len(set(self._background_ids)) != len(self._background_ids):
            raise corrupt(path, f"the background rows of {table.group.name} repeat an id")

        self._frame_shape = self._find_frame_shape(handle, table, frame_shape)
        self._traces, self._extra, timing = self._map_traces(own, on_companion, residuals, names)
        self._timing = timing
        if timing is not None:
            self._num_samples = timing.num_samples
            file_rate = timing.rate
        else:
            self._num_samples = 0
            file_rate = None
            try:
                file_rate = float(nominal) if nominal is not None and math.isfinite(float(nominal)) and float(nominal) > 0 else None
            except (TypeError, ValueError):
                file_rate = None
        self._rate = rate if rate is not None else file_rate
        self._set_properties(table, cell_rows)
        self._images, image_notes = find_images(
            handle, self._frame_shape, self.convention, prefer=(table.name, f"Backgrounds_{self._plane or 0}")
        )
        self.notes.extend(image_notes)

    def _choose(self, groups: list[h5py.Group], choice: str | None) -> h5py.Group:
        path = self._path
        if not groups:
            raise corrupt(path, "an NWB file without a PlaneSegmentation table (no segmentation to read)")
        if choice is not None:
            for group in groups:
                if choice in (group.name.rsplit("/", 1)[-1], group.name, group.name.lstrip("/")):
                    return group
            listed = ", ".join(g.name for g in groups)
            raise ChoiceError(f"{path}: no PlaneSegmentation {choice!r}; the file holds {listed}")
        candidates = [g for g in groups if not g.name.rsplit("/", 1)[-1].lower().startswith("background")] or groups
        if len(candidates) > 1:
            listed = ", ".join(g.name for g in candidates)
            raise ChoiceError(
                f"{path}: holds {len(candidates)} plane segmentations ({listed}); "
                "choose one with plane_segmentation=<name>"
            )
        return candidates[0]

    @staticmethod
    def _companion(tables: list[PlaneTable], table: PlaneTable) -> PlaneTable | None:
        wanted = {f"Background{table.name}", f"Background_{table.name}"}
        if table.name == "PlaneSegmentation":
            wanted.add("BackgroundPlaneSegmentation")
        parent = table.group.parent.name
        for other in tables:
            if other is not table and other.name in wanted and other.group.parent.name == parent:
                return other
        return None

    def _select_plane(self, table: PlaneTable, rows: np.ndarray, plane: int | None) -> np.ndarray:
        planes = table.voxel_planes()
        if planes is None:
            if plane not in (None, 0):
                raise ChoiceError(f"{self._path}: plane={plane} given, but {table.group.name} holds planar masks")
            return rows
        found = sorted(set(planes[rows].tolist()))
        if -1 in found:
            raise UnsupportedFeatureError(
                f"{self._path}: {table.group.name} has voxel masks spanning several planes; roicore segmentation is planar"
            )
        if plane is None:
            if len(found) > 1:
                raise ChoiceError(f"{self._path}: the voxel masks of {table.group.name} lie in planes {found}; choose one with plane=<z>")
            self._plane = found[0] if found else 0
            return rows
        if plane not in found:
            raise ChoiceError(f"{self._path}: no ROI of {table.group.name} lies in plane {plane} (planes: {found})")
        return rows[planes[rows] == plane]

    def _ids(self, table: PlaneTable, rows: np.ndarray) -> list[Any]:
        group = table.group
        node = group.get("roi_name")
        names = None
        if "roi_name" in table.columns and isinstance(node, h5py.Dataset) and node.shape[:1] == (table.num_rows,):
            names = [str(v) for v in _column_values(node, rows).tolist()]
            if names == [str(int(v)) for v in table.ids[rows].tolist()]:
                names = None  # neuroconv 0.10 writes str(id): the ids themselves
        if names is not None:
            ids: list[Any] = names
        else:
            ids = [int(v) for v in table.ids[rows].tolist()]
        if len(set(ids)) != len(ids):
            raise corrupt(self._path, f"{group.name} repeats a ROI id")
        return ids

    def _find_frame_shape(self, handle: h5py.File, table: PlaneTable, given: Any) -> tuple[int, int]:
        path = self._path
        if given is not None:
            if table.stored_shape is not None and table.stored_shape != given:
                raise ChoiceError(f"{path}: frame_shape={given} contradicts the image masks' {table.stored_shape}")
            return given
        if table.stored_shape is not None:
            return table.stored_shape
        prefer = (table.name, f"Backgrounds_{self._plane or 0}")
        images = [
            (not any(p in container_path.rsplit("/", 1)[-1] for p in prefer), tuple(int(v) for v in node.shape))
            for container_path, container in iter_typed(handle, ("Images",), max_depth=2)
            for node in container.values()
            if isinstance(node, h5py.Dataset) and node.ndim == 2
        ]
        if images:
            stored = min(images, key=lambda item: item[0])[1]  # an image of the table's own container first
            return stored[::-1] if self.convention.images == "columns-first" else stored  # type: ignore[return-value]
        reference = table.group.get("reference_images")
        if isinstance(reference, h5py.Group):
            for item in reference.values():
                data = item.get("data") if isinstance(item, h5py.Group) else None
                if isinstance(data, h5py.Dataset) and data.ndim >= 3:
                    a, b = int(data.shape[1]), int(data.shape[2])
                    return (b, a) if self.convention.series == "columns-first" else (a, b)
        stated = re.search(r"frame: (\d+) rows x (\d+) columns\)", attr_text(table.group, "description"))
        if stated:
            return (int(stated.group(1)), int(stated.group(2)))
        extent = table.max_coordinates()
        if extent is not None:
            self.notes.append(f"frame shape {extent} taken from the largest pixel coordinates (no image gives it)")
            return extent
        raise corrupt(path, f"{table.group.name}: no mask, image or series tells the frame shape; pass frame_shape=")

    def _parts(self, group: list[Series], rows_to_positions: dict[int, int], count: int, label: str) -> list[TracePart] | None:
        parts, covered = [], []
        for s in group:
            columns, positions = [], []
            for column, row in enumerate(s.rows.tolist()):
                if row in rows_to_positions:
                    columns.append(column)
                    positions.append(rows_to_positions[row])
            if not positions:
                continue
            order = np.argsort(positions)
            parts.append(TracePart(s, np.asarray(positions, np.int64)[order], np.asarray(columns, np.int64)[order]))
            covered.extend(positions)
        if sorted(covered) != list(range(count)):
            missing = count - len(set(covered))
            self.notes.append(
                f"traces {label!r} left out: its series ({', '.join(s.group.name for s in group)}) "
                f"{'repeat ROIs' if len(covered) != len(set(covered)) else f'miss {missing} of the {count} ROIs'}"
            )
            return None
        return parts

    def _map_traces(
        self, own: list[Series], on_companion: list[Series], residuals: list[Series], names: dict[int, str]
    ) -> tuple[dict[str, list[TracePart]], dict[str, list[TracePart]], Timing | None]:
        caiman = self.producer == "caiman"
        grouped: dict[str, list[Series]] = {}
        for s in own + on_companion:
            name = names[id(s)]
            if caiman and name == "raw":
                name = "denoised"  # CaImAn's exporter writes C (the denoised trace) as Fluorescence/RoiResponseSeries
            if s in on_companion and name != "background":
                name = "background"
            grouped.setdefault(name, []).append(s)
        cell_positions = {int(r): i for i, r in enumerate(self._cell_rows.tolist())}
        table, rows = self._background_source
        background_positions = {int(r): i for i, r in enumerate(rows.tolist())}
        order = sorted(grouped, key=lambda n: (n != "raw", n != "denoised", n == "background", n))
        traces: dict[str, list[TracePart]] = {}
        timing: Timing | None = None
        for name in order:
            group = grouped[name]
            if timing is None and name != "background":
                timing = group[0].timing
            if timing is None and name == "background" and not any(n != "background" for n in grouped):
                timing = group[0].timing
            kept = [s for s in group if s.timing.same_base(timing)]
            for s in group:
                if s not in kept:
                    self.notes.append(f"series {s.group.name} left out: its time base differs from {timing.source}")
            if not kept:
                continue
            if name == "background":
                positions, count = background_positions, len(background_positions)
            else:
                positions, count = cell_positions, len(cell_positions)
            parts = self._parts(kept, positions, count, name)
            if parts is not None:
                traces[name] = parts
        extra: dict[str, list[TracePart]] = {}
        if caiman and "denoised" in traces:
            denoised = traces["denoised"]
            width = sum(p.series.width for p in denoised)
            for s in residuals:
                if s.width == width and len(denoised) == 1 and s.timing.same_base(timing):
                    part = denoised[0]
                    traces["raw"] = denoised
                    extra["raw"] = [TracePart(s, part.positions, part.columns)]
                    break
            else:
                if residuals:
                    self.notes.append("CaImAn residuals left out: their shape or time base does not match the traces")
        rank = {name: index for index, name in enumerate(KNOWN_TRACES)}
        ordered = dict(sorted(traces.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))
        return ordered, extra, timing

    def _set_properties(self, table: PlaneTable, rows: np.ndarray) -> None:
        columns = table.plain_columns()
        caiman = self.producer == "caiman"
        accepted = None
        for name, (node, _description) in columns.items():
            if name == "roi_name":
                continue
            values = _column_values(node, rows)
            key = name
            if caiman and name in _CAIMAN_COLUMNS:
                key = _CAIMAN_COLUMNS[name]
                if key == "is_accepted":
                    values = values.astype(bool)
            elif name == "Accepted":
                accepted = values.astype(bool)
                key = "is_accepted"
                values = accepted
            elif name == "ROICentroids" and values.ndim == 2 and values.shape[1] in (2, 3):
                key = "roi_centroids"  # stored (x = column, y = row[, z]); roicore's order is (row, column[, plane])
                values = values[:, [1, 0] + list(range(2, values.shape[1]))]
            self.set_property(key, values)
        if "Rejected" in self.get_property_keys() and accepted is not None:
            rejected = self.get_property("Rejected").astype(bool)
            self._own_properties().pop("Rejected")
            if not np.array_equal(rejected, ~accepted):
                self.set_property("is_rejected", rejected)
        if "iscell" in self.get_property_keys() and "is_accepted" not in self.get_property_keys():
            iscell = self.get_property("iscell")
            flags = iscell[:, 0] if iscell.ndim == 2 else iscell
            self.set_property("is_accepted", flags.astype(bool))

    # -- metadata -------------------------------------------------------------------

    def get_roi_ids(self) -> list[Any]:
        return list(self._roi_ids)

    def get_background_ids(self) -> list[Any]:
        return list(self._background_ids)

    def get_frame_shape(self) -> tuple[int, int]:
        return self._frame_shape

    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_trace_names(self) -> list[str]:
        return list(self._traces)

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray | None:
        stamps = None if self._timing is None else self._timing.timestamps
        return stamps_window(stamps, start_sample, end_sample, self._num_samples)

    @property
    def file_path(self) -> Path:
        """The file this extractor reads."""
        return self._path

    @property
    def plane_segmentation(self) -> str:
        """The HDF5 path of the PlaneSegmentation read."""
        return self._table.group.name

    # -- data -----------------------------------------------------------------------

    def _get_roi_masks(self) -> RoiMasks:
        return self._guarded(lambda: RoiMasks(self._table.masks(self._cell_rows, self._frame_shape, self._plane), self._frame_shape))

    def _get_background_masks(self) -> RoiMasks | None:
        table, rows = self._background_source
        if rows.size == 0:
            return None
        if table.mask_kind is None:
            raise UnsupportedFeatureError(
                f"{self._path}: {table.group.name} holds {rows.size} background component(s) but no image, pixel or "
                "voxel masks for them"
            )
        if table.stored_shape is not None and table.stored_shape != self._frame_shape:
            raise corrupt(self._path, f"{table.group.name} masks are {table.stored_shape}, the ROIs' frame {self._frame_shape}")
        return self._guarded(lambda: RoiMasks(table.masks(rows, self._frame_shape, self._plane), self._frame_shape))

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        return self._guarded(lambda: read_parts(self._traces[name], positions, start, end, self._extra.get(name)))

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """Summary images ``(rows, columns)`` by name, new arrays on every call."""
        stored: dict[str, StoredImage] = self._images
        return self._guarded(lambda: {name: image.read() for name, image in stored.items()})

    # -- lifecycle ------------------------------------------------------------------

    def _guarded(self, read: Any) -> Any:
        self._check_open()
        try:
            return read()
        except (RoicoreError, MemoryError):
            raise
        except Exception as exc:
            raise CorruptFileError(f"{self._path}: reading failed ({first_line(exc)}); the file is damaged", path=self._path) from exc

    def _close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()

    def _describe(self) -> str:
        rows, cols = self._frame_shape
        rate = "unknown rate" if self._rate is None else f"{self._rate:g} Hz"
        return (
            f"{len(self._roi_ids)} ROIs (+{len(self._background_ids)} background) on a {rows} x {cols} frame, "
            f"{self._num_samples} samples at {rate}, traces: {', '.join(self._traces) or 'none'}; "
            f"{self._table.group.name} ({self.producer}); {self._path.name}"
        )
