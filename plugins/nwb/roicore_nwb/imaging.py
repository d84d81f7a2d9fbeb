"""The roicore reader of NWB imaging series (TwoPhotonSeries / OnePhotonSeries), with h5py.

The series' ``data`` dataset is read lazily, one window of samples per call,
and returned in roicore's ``(time, rows, columns[, planes])`` order (NWB
producers store ``(time, x, y[, z])`` with x the column, see
:mod:`roicore_nwb.producers`). A series stored in external files
(``external_file``, e.g. suite2p's and CaImAn's exports) is opened through
:func:`roicore.open`, resolved relative to the NWB file, with the NWB file's
time base.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.errors import CorruptFileError, RoicoreError
from roicore.imaging import ImagingExtractor
from roicore_nwb.arrays import swap_rows_columns
from roicore_nwb.layout import PHOTON_SERIES, corrupt, first_line, iter_typed, open_nwb, text
from roicore_nwb.producers import CONVENTIONS, detect_convention
from roicore_nwb.segmentation import ChoiceError, _rate_argument
from roicore_nwb.sniff import sniff_imaging
from roicore_nwb.timing import Timing, read_timing, stamps_window

__all__ = ["NwbImagingExtractor", "ExternalSeriesImagingExtractor", "open_nwb_imaging", "choose_series"]


def choose_series(handle: h5py.File, path: Path, choice: str | None) -> h5py.Group:
    """The photon series named ``choice`` (name or path), or the only one."""
    found = [group for _, group in iter_typed(handle, PHOTON_SERIES + ("ImageSeries",), max_depth=3)]
    candidates = [g for g in found if text(g.attrs.get("neurodata_type")) in PHOTON_SERIES]
    if choice is not None:
        for group in found:
            if choice in (group.name, group.name.lstrip("/"), group.name.rsplit("/", 1)[-1]):
                return group
        listed = ", ".join(g.name for g in found) or "none"
        raise ChoiceError(f"{path}: no imaging series {choice!r}; the file holds {listed}")
    if not candidates:
        raise corrupt(path, "holds no TwoPhotonSeries or OnePhotonSeries")
    if len(candidates) > 1:
        listed = ", ".join(g.name for g in candidates)
        raise ChoiceError(f"{path}: holds {len(candidates)} imaging series ({listed}); choose one with series=<name>")
    return candidates[0]


def _nominal_rate(group: h5py.Group) -> Any:
    plane = group.get("imaging_plane")
    if isinstance(plane, h5py.Group) and isinstance(plane.get("imaging_rate"), h5py.Dataset):
        return plane["imaging_rate"][()]
    return None


def _external_files(group: h5py.Group) -> list[str]:
    node = group.get("external_file")
    if not isinstance(node, h5py.Dataset):
        return []
    return [text(v) for v in np.atleast_1d(node[()]).tolist() if text(v)]


def open_nwb_imaging(
    file_path: str | os.PathLike[str],
    *,
    series: str | None = None,
    sampling_frequency: float | None = None,
    convention: str | None = None,
    external_kwargs: dict[str, Any] | None = None,
) -> ImagingExtractor:
    """Open an imaging series of an NWB file (the reader named by roicore-nwb's spec).

    Parameters
    ----------
    file_path : path-like
    series : str, optional
        The series' name or path, when the file holds several.
    sampling_frequency : float, optional
        Overrides the file's rate.
    convention : str, optional
        Force a producer's axis convention (see :mod:`roicore_nwb.producers`).
    external_kwargs : dict, optional
        Reader arguments for the external files of an ``external_file`` series.

    Returns
    -------
    NwbImagingExtractor or ExternalSeriesImagingExtractor
    """
    path, handle = open_nwb(file_path)
    try:
        group = choose_series(handle, path, series)
        files = _external_files(group)
        data = group.get("data")
        stored = isinstance(data, h5py.Dataset) and data.ndim >= 3 and data.shape[0] > 0
    except RoicoreError:
        raise
    except Exception as exc:
        raise CorruptFileError(f"{path}: cannot be read as an NWB imaging series ({first_line(exc)})", path=path) from exc
    finally:
        handle.close()
    if files and not stored:
        return ExternalSeriesImagingExtractor(path, series=series, sampling_frequency=sampling_frequency,
                                              external_kwargs=external_kwargs)
    return NwbImagingExtractor(path, series=series, sampling_frequency=sampling_frequency, convention=convention)


class NwbImagingExtractor(ImagingExtractor):
    """A TwoPhotonSeries / OnePhotonSeries stored in an NWB file, read lazily.

    Parameters
    ----------
    file_path : str or path-like
    series : str, optional
        The series' name or HDF5 path; needed when the file holds several.
    sampling_frequency : float, optional
        Overrides the file's rate (always wins).
    convention : str, optional
        ``"rows-first"`` for files storing ``(time, rows, columns)``; by default
        the producer's convention (``(time, x = columns, y = rows)``).

    Notes
    -----
    Values are the stored ones: the series' ``conversion``/``offset`` are not
    applied, so integer videos stay integer.
    """

    sniff = staticmethod(sniff_imaging)

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        *,
        series: str | None = None,
        sampling_frequency: float | None = None,
        convention: str | None = None,
    ) -> None:
        self._file: h5py.File | None = None
        rate = _rate_argument(sampling_frequency)
        if convention is not None and convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, not {convention!r}")
        path, handle = open_nwb(file_path)
        self._path = path
        try:
            group = choose_series(handle, path, series)
            data = group.get("data")
            if not isinstance(data, h5py.Dataset) or data.ndim not in (3, 4):
                shape = data.shape if isinstance(data, h5py.Dataset) else "missing"
                raise corrupt(path, f"{group.name}/data is {shape}; an imaging series needs (time, x, y[, z])")
            if data.dtype.kind not in "biuf":
                raise corrupt(path, f"{data.name} holds {data.dtype} values, not pixel values")
            self._convention = detect_convention(handle, convention)
            self._timing: Timing = read_timing(group, int(data.shape[0]), path, _nominal_rate(group))
        except RoicoreError:
            handle.close()
            raise
        except Exception as exc:
            handle.close()
            raise CorruptFileError(f"{path}: cannot be read as an NWB imaging series ({first_line(exc)})", path=path) from exc
        self._file = handle
        self._data = data
        self._series_path = group.name
        self._transpose = self._convention.series == "columns-first"
        a, b = int(data.shape[1]), int(data.shape[2])
        self._shape = (b, a) if self._transpose else (a, b)
        self._planes = int(data.shape[3]) if data.ndim == 4 else 1
        self.is_volumetric = data.ndim == 4
        self._rate = rate if rate is not None else self._timing.rate

    @property
    def series_path(self) -> str:
        """The HDF5 path of the series read."""
        return self._series_path

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_planes(self) -> int:
        return self._planes

    def get_num_samples(self) -> int:
        return int(self._timing.num_samples)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_dtype(self) -> np.dtype:
        return self._data.dtype

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray | None:
        return stamps_window(self._timing.timestamps, start_sample, end_sample, self.get_num_samples())

    def _orient(self, block: np.ndarray) -> np.ndarray:
        if self._transpose:
            return swap_rows_columns(block)
        return block

    def _read_series(self, start: int, end: int) -> np.ndarray:
        self._check_open()
        try:
            return self._orient(self._data[start:end])
        except Exception as exc:
            raise CorruptFileError(f"{self._path}: reading {self._data.name} failed ({first_line(exc)}); the file is damaged",
                                   path=self._path) from exc

    def _read_samples(self, indices: np.ndarray) -> np.ndarray:
        lo, hi = int(indices[0]), int(indices[-1])
        if hi - lo + 1 <= 2 * indices.size:
            return super()._read_samples(indices)
        self._check_open()
        try:
            return self._orient(self._data[indices.tolist()])
        except Exception as exc:
            raise CorruptFileError(f"{self._path}: reading {self._data.name} failed ({first_line(exc)})", path=self._path) from exc

    def _close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()

    def _describe(self) -> str:
        rows, cols = self._shape
        planes = f" x {self._planes} planes" if self.is_volumetric else ""
        rate = "unknown rate" if self._rate is None else f"{self._rate:g} Hz"
        return f"{self.get_num_samples()} samples of {rows} x {cols}{planes} {self._data.dtype} at {rate}; {self._series_path}; {self._path.name}"


class ExternalSeriesImagingExtractor(ImagingExtractor):
    """An NWB imaging series whose frames live in ``external_file`` files, opened with :func:`roicore.open`.

    The files are resolved relative to the NWB file and concatenated in
    order (``starting_frame`` says where each begins); the time base is the
    NWB series'.
    """

    sniff = staticmethod(sniff_imaging)

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        *,
        series: str | None = None,
        sampling_frequency: float | None = None,
        external_kwargs: dict[str, Any] | None = None,
    ) -> None:
        import roicore

        rate = _rate_argument(sampling_frequency)
        path, handle = open_nwb(file_path)
        self._path = path
        self._parts: list[ImagingExtractor] = []
        try:
            group = choose_series(handle, path, series)
            names = _external_files(group)
            if not names:
                raise corrupt(path, f"{group.name} stores neither data nor external files")
            stated = rate
            if stated is None and isinstance(group.get("starting_time"), h5py.Dataset):
                stated = _rate_argument(group["starting_time"].attrs.get("rate"))
            for name in names:
                target = Path(name)
                target = target if target.is_absolute() else path.parent / target
                if not target.exists():
                    raise CorruptFileError(f"{path}: {group.name} refers to the external file {target}, which does not exist",
                                           path=target)
                self._parts.append(self._open_part(roicore, target, stated, dict(external_kwargs or {})))
            counts = [part.get_num_samples() for part in self._parts]
            self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
            shapes = {part.get_sample_shape() for part in self._parts}
            dtypes = {np.dtype(part.get_dtype()) for part in self._parts}
            if len(shapes) != 1 or len(dtypes) != 1:
                raise corrupt(path, f"the external files of {group.name} differ in frame shape or dtype")
            self._timing = read_timing(group, int(self._offsets[-1]), path, _nominal_rate(group)) if (
                "timestamps" in group or "starting_time" in group) else Timing(int(self._offsets[-1]), None, None, "none")
        except BaseException:
            for part in self._parts:
                part.close()
            handle.close()
            raise
        handle.close()
        self.is_volumetric = self._parts[0].is_volumetric
        own = self._timing.rate
        inner = self._parts[0].get_sampling_frequency()
        self._rate = rate if rate is not None else (own if own is not None else inner)

    @staticmethod
    def _open_part(roicore: Any, target: Path, rate: float | None, kwargs: dict[str, Any]) -> ImagingExtractor:
        """Open one external file; formats that store no rate get the NWB series' rate."""
        if rate is not None and "sampling_frequency" not in kwargs:
            try:
                return roicore.open(target, kind="imaging", sampling_frequency=rate, **kwargs)
            except TypeError:
                pass  # the reader takes no sampling_frequency: its format stores the rate
        return roicore.open(target, kind="imaging", **kwargs)

    def get_image_shape(self) -> tuple[int, int]:
        return self._parts[0].get_image_shape()

    def get_num_planes(self) -> int:
        return self._parts[0].get_num_planes()

    def get_num_samples(self) -> int:
        return int(self._offsets[-1])

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_dtype(self) -> np.dtype:
        return np.dtype(self._parts[0].get_dtype())

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray | None:
        return stamps_window(self._timing.timestamps, start_sample, end_sample, self.get_num_samples())

    def _read_series(self, start: int, end: int) -> np.ndarray:
        blocks = []
        for index, part in enumerate(self._parts):
            lo, hi = int(self._offsets[index]), int(self._offsets[index + 1])
            a, b = max(start, lo), min(end, hi)
            if a < b:
                blocks.append(part.get_series(a - lo, b - lo))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def _close(self) -> None:
        for part in self._parts:
            part.close()

    def _describe(self) -> str:
        rate = "unknown rate" if self._rate is None else f"{self._rate:g} Hz"
        return f"{self.get_num_samples()} samples from {len(self._parts)} external file(s) at {rate}; {self._path.name}"
