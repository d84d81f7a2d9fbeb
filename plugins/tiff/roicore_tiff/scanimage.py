"""The ``scanimage`` reader: ScanImage 2016+ TIFF files, one or an acquisition split over several.

ScanImage writes one IFD per channel per frame, the channels of a frame
next to each other, the slices of a volume after each other, and with fast z
``numDiscardFlybackFrames`` flyback frames (of every channel) at the end of
each volume. The non-varying settings (``SI.*``) are in the static block after
the BigTIFF header and in every page's Software tag; per-frame values
(``frameNumbers``, ``frameTimestamps_sec``) are in each page's ImageDescription.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError

from roicore_tiff.files import counter_siblings, list_tiffs, split_counter
from roicore_tiff.header import read_tiff_header
from roicore_tiff.layout import interleaved
from roicore_tiff.paged import PagedImagingExtractor, check_rate, sample_window
from roicore_tiff.pages import PageSequence, TiffPages, open_tiff, tifffile_damage

__all__ = ["ScanImageImagingExtractor", "ScanImageSettings", "read_frame_data"]

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_TIMESTAMP = re.compile(r"^frameTimestamps_sec\s*=\s*" + _NUMBER, re.MULTILINE)
_FRAME_NUMBER = re.compile(r"^frameNumbers\s*=\s*(\d+)", re.MULTILINE)
_ACQUISITION = re.compile(r"^acquisitionNumbers\s*=\s*(\d+)", re.MULTILINE)


def read_frame_data(tif: Any, path: Path) -> dict[str, Any]:
    """The non-varying ``SI.*`` settings: from the static block, else from the first page's Software tag.

    Raises
    ------
    CorruptFileError
        Neither holds ScanImage settings.
    """
    from tifffile import matlabstr2py

    try:
        with tifffile_damage(path):
            meta = tif.scanimage_metadata or {}
    except CorruptFileError:
        raise
    except Exception:  # an unreadable static block: the Software tag still holds the settings
        meta = {}
    frame_data = meta.get("FrameData") or {}
    if not frame_data:
        software = str(tif.pages.first.software or "")
        if software.startswith("SI."):
            try:
                frame_data = matlabstr2py(software)
            except Exception as exc:
                raise CorruptFileError(f"{path}: the ScanImage settings do not parse: {exc}", path=path) from None
    if not isinstance(frame_data, dict) or not frame_data:
        raise CorruptFileError(
            f"{path}: no ScanImage SI.* settings (neither a static metadata block nor SI. frame data in the Software "
            "tag); ScanImage before 2016 (state.* headers) is not supported",
            path=path,
        )
    return frame_data


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in _flatten(part)]
    return [value]


def _as_int(settings: dict[str, Any], key: str, default: int | None, path: Path) -> int | None:
    value = settings.get(key, default)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CorruptFileError(f"{path}: ScanImage setting {key} = {value!r} is not a number", path=path) from None
    if not math.isfinite(number):
        return None
    return int(number)


class ScanImageSettings:
    """The ScanImage settings that decide the layout and the rate.

    Attributes
    ----------
    channels : list of int
        ``SI.hChannels.channelSave``: the saved channels (1-based ids).
    channel_names : list of str or None
        Their names from ``SI.hChannels.channelName``.
    planes : int
        Slices per volume (1 unless fast z or the stack manager is on with more than one slice).
    flyback : int
        Flyback frames per volume (each holding every saved channel).
    rate : float or None
        ``scanVolumeRate`` for volumes, ``scanFrameRate`` otherwise.
    frames_per_file : int or None
        ``SI.hScan2D.logFramesPerFile`` (None: all in one file).
    """

    def __init__(self, settings: dict[str, Any], path: Path) -> None:
        self.raw = settings
        saved = settings.get("SI.hChannels.channelSave", 1)
        try:
            self.channels = [int(c) for c in _flatten(saved)]
        except (TypeError, ValueError):
            raise CorruptFileError(f"{path}: SI.hChannels.channelSave = {saved!r} is not a list of channel ids", path=path) from None
        if not self.channels:
            raise CorruptFileError(f"{path}: SI.hChannels.channelSave lists no channel", path=path)
        names = settings.get("SI.hChannels.channelName")
        names = _flatten(names) if names is not None else []
        if names and all(isinstance(n, str) for n in names) and all(1 <= c <= len(names) for c in self.channels):
            self.channel_names: list[str] | None = [names[c - 1] for c in self.channels]
            if len(set(self.channel_names)) != len(self.channel_names):
                self.channel_names = None
        else:
            self.channel_names = None
        slices = _as_int(settings, "SI.hStackManager.actualNumSlices", None, path)
        if slices is None:
            slices = _as_int(settings, "SI.hStackManager.numSlices", 1, path) or 1
        fast_z = bool(settings.get("SI.hFastZ.enable", False))
        stack = bool(settings.get("SI.hStackManager.enable", False))
        volumetric = slices > 1 and (fast_z or stack)
        self.planes = slices if volumetric else 1
        self.flyback = 0
        if volumetric:
            frames_per_slice = _as_int(settings, "SI.hStackManager.framesPerSlice", 1, path)
            if frames_per_slice not in (None, 1):
                raise UnsupportedFeatureError(
                    f"{path}: a z-stack with {frames_per_slice} frames per slice (slow stack averaging) is not a "
                    "time series; only fast-z volumes (one frame per slice) are read"
                )
            with_flyback = _as_int(settings, "SI.hStackManager.numFramesPerVolumeWithFlyback", None, path)
            per_volume = _as_int(settings, "SI.hStackManager.numFramesPerVolume", None, path)
            if with_flyback is not None and per_volume is not None:
                self.flyback = with_flyback - per_volume
            elif fast_z:
                self.flyback = _as_int(settings, "SI.hFastZ.numDiscardFlybackFrames", 0, path) or 0
            if self.flyback < 0:
                raise CorruptFileError(f"{path}: a negative number of flyback frames ({self.flyback})", path=path)
        key = "SI.hRoiManager.scanVolumeRate" if volumetric else "SI.hRoiManager.scanFrameRate"
        self.rate_key = key
        value = settings.get(key)
        try:
            rate = float(value) if value is not None else None
        except (TypeError, ValueError):
            rate = None
        self.rate = rate if rate is not None and math.isfinite(rate) and rate > 0 else None
        self.frames_per_file = _as_int(settings, "SI.hScan2D.logFramesPerFile", None, path)

    def same_layout(self, other: ScanImageSettings) -> bool:
        return (self.channels, self.planes, self.flyback) == (other.channels, other.planes, other.flyback)


def _is_scanimage(path: Path) -> bool:
    try:
        return read_tiff_header(path).is_scanimage
    except (ValueError, OSError):
        return False


def _frame_numbers(pages: TiffPages) -> tuple[int, int, int] | None:
    """(acquisition, first frame number, last frame number) of a file, from its first and last descriptions."""
    first, last = pages.description(0), pages.description(pages.count - 1)
    numbers = [_FRAME_NUMBER.search(text) for text in (first, last)]
    acquisition = _ACQUISITION.search(first)
    if None in numbers or acquisition is None:
        return None
    return int(acquisition.group(1)), int(numbers[0].group(1)), int(numbers[1].group(1))  # type: ignore[union-attr]


class ScanImageImagingExtractor(PagedImagingExtractor):
    """A ScanImage acquisition: one TIFF file, or all the files of a split acquisition.

    Parameters
    ----------
    file_path : str or path-like
        One ScanImage file (``file_00001.tif`` or any later part: the other
        files of the acquisition next to it are found by their counter and
        checked by their frame numbers), or a folder holding one acquisition.
    channel : int or str
        Index into the saved channels (``SI.hChannels.channelSave``), or a channel name.
    plane : int, optional
        One plane of a volumetric acquisition, read as a planar video; by
        default every plane, ``(time, rows, columns, planes)``.
    sampling_frequency : float, optional
        Hz; wins over ``scanVolumeRate``/``scanFrameRate``.
    file_paths : list of path-like, optional
        The acquisition's files in order, instead of finding them.

    Raises
    ------
    CorruptFileError
        Not a ScanImage file, unreadable settings, files of one acquisition that
        disagree, or a frame count that is not whole volumes.
    ValueError
        A folder holding several acquisitions (the message lists them).
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        *,
        channel: int | str = 0,
        plane: int | None = None,
        sampling_frequency: float | None = None,
        file_paths: list[str | os.PathLike[str]] | None = None,
    ) -> None:
        path = Path(os.fspath(file_path))
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        rate = check_rate(sampling_frequency)
        opened: list[TiffPages] = []
        try:
            files = [Path(os.fspath(p)) for p in file_paths] if file_paths else None
            if files is None:
                files, opened = self._find_files(path)
            else:
                for file in files:
                    if not file.is_file():
                        raise FileNotFoundError(2, "No such file (listed in file_paths)", str(file))
                    opened.append(TiffPages(file, open_tiff(file)))
            settings = ScanImageSettings(read_frame_data(opened[0].tif, files[0]), files[0])
            for pages in opened[1:]:
                other = ScanImageSettings(read_frame_data(pages.tif, pages.path), pages.path)
                if not settings.same_layout(other):
                    raise CorruptFileError(
                        f"{pages.path}: its ScanImage channels/slices/flyback differ from {files[0].name}'s; "
                        "the files are not one acquisition",
                        path=pages.path,
                    )
            for pages in opened[1:]:
                pages.close()  # reopened on demand
            sequence = PageSequence(opened)
            channels = len(settings.channels)
            layout = interleaved(sequence.count, settings.planes, channels, settings.flyback * channels)
            if rate is None and settings.rate is None:
                # ScanImage always records it: its absence means damaged settings, not an unknown rate
                raise CorruptFileError(
                    f"{files[0]}: the ScanImage settings hold no valid {settings.rate_key} (pass sampling_frequency= "
                    "to read the file anyway)",
                    path=files[0],
                )
            self._settings = settings
            self._init_pages(
                sequence,
                layout,
                name=files[0].name if len(files) == 1 else f"{files[0].name} (+{len(files) - 1} files)",
                channel=channel,
                plane=plane,
                rate=rate if rate is not None else settings.rate,
                channel_names=settings.channel_names,
            )
        except BaseException:
            for pages in opened:
                pages.close()
            raise
        self._stamps = np.full(self.get_num_samples(), np.nan)
        self._has_stamps = _TIMESTAMP.search(sequence.files[0].description(0)) is not None

    # -- which files ------------------------------------------------------------------------------
    @staticmethod
    def _find_files(path: Path) -> tuple[list[Path], list[TiffPages]]:
        if path.is_dir():
            candidates = [p for p in list_tiffs(path) if _is_scanimage(p)]
            if not candidates:
                raise CorruptFileError(f"{path}: the folder holds no ScanImage TIFF file", path=path)
            groups: dict[str, list[Path]] = {}
            for candidate in candidates:
                parts = split_counter(candidate)
                groups.setdefault(parts[0] if parts else candidate.name, []).append(candidate)
            if len(groups) > 1:
                raise ValueError(
                    f"{path}: the folder holds {len(groups)} ScanImage acquisitions ({', '.join(sorted(groups))}); "
                    "open one of their files"
                )
            path = next(iter(groups.values()))[0]
        siblings = [p for p in counter_siblings(path) if p == path or _is_scanimage(p)]
        opened: list[TiffPages] = []
        numbers = []
        try:
            for sibling in siblings:
                pages = TiffPages(sibling, open_tiff(sibling))
                opened.append(pages)
                numbers.append(_frame_numbers(pages))
                if sibling != path:
                    pages.close()  # reopened when read: a long acquisition must not hold every file open
            keep = ScanImageImagingExtractor._continuous_run(numbers, siblings.index(path))
        except BaseException:
            for pages in opened:
                pages.close()
            raise
        for number, pages in enumerate(opened):
            if number not in keep:
                pages.close()
        chosen = [opened[number] for number in keep]
        return [pages.path for pages in chosen], chosen

    @staticmethod
    def _continuous_run(numbers: list[tuple[int, int, int] | None], anchor: int) -> list[int]:
        """Indices of the files around ``anchor`` whose frame numbers continue each other in one acquisition."""
        if numbers[anchor] is None:
            return [anchor]

        def follows(a: int, b: int) -> bool:
            first, second = numbers[a], numbers[b]
            return first is not None and second is not None and first[0] == second[0] and second[1] == first[2] + 1

        low = anchor
        while low > 0 and follows(low - 1, low):
            low -= 1
        high = anchor
        while high + 1 < len(numbers) and follows(high, high + 1):
            high += 1
        return list(range(low, high + 1))

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def scanimage_settings(self) -> dict[str, Any]:
        """The non-varying ``SI.*`` settings of the first file (a copy)."""
        return dict(self._settings.raw)

    @property
    def num_flyback_frames(self) -> int:
        """Flyback frames per volume skipped in the files."""
        return self._settings.flyback

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """``frameTimestamps_sec`` of each sample's first selected plane (in the selected channel)."""
        start, end = sample_window(start_sample, end_sample, self.get_num_samples())
        if not self._has_stamps:
            return None
        window = self._stamps[start:end]
        missing = np.flatnonzero(np.isnan(window)) + start
        if missing.size:
            table = self.page_indices(missing)[:, 0]
            for sample, page in zip(missing.tolist(), table.tolist()):
                pages, local = self._pages.locate(page)
                found = _TIMESTAMP.search(pages.description(local))
                if found is None:
                    raise CorruptFileError(
                        f"{pages.path}: page {local} has no frameTimestamps_sec in its description", path=pages.path
                    )
                self._stamps[sample] = float(found.group(1))
        return self._stamps[start:end].copy()
