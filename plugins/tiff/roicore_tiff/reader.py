"""The ``tiff`` reader: a TIFF, BigTIFF, OME-TIFF or ImageJ file, or a folder of TIFF files, as one video."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError

from roicore_tiff.files import list_tiffs
from roicore_tiff.layout import interleaved
from roicore_tiff.metadata import StackInfo, describe_stack
from roicore_tiff.paged import PagedImagingExtractor, check_rate, sample_window
from roicore_tiff.pages import PageSequence, TiffPages, open_tiff, tifffile_damage

__all__ = ["TiffImagingExtractor"]


def _positive_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    return int(value)


def _open_file(path: Path) -> tuple[TiffPages, StackInfo]:
    tif = open_tiff(path)
    pages = TiffPages(path, tif)
    try:
        try:
            with tifffile_damage(path):
                info = describe_stack(pages.tif, path, pages.count)
        except (CorruptFileError, UnsupportedFeatureError):
            raise
        except Exception as exc:  # tifffile's metadata parsers raise many kinds on damaged descriptions
            raise CorruptFileError(f"{path}: unreadable TIFF metadata: {exc}", path=path) from None
        if info.contiguous is not None:
            pages.set_contiguous(*info.contiguous)
    except BaseException:
        pages.close()
        raise
    return pages, info


class TiffImagingExtractor(PagedImagingExtractor):
    """A multi-page TIFF video, or a folder of TIFF files read end to end.

    Parameters
    ----------
    file_path : str or path-like
        A ``.tif``/``.tiff``/``.btf`` file (classic TIFF or BigTIFF, OME-TIFF,
        ImageJ hyperstack, tifffile stack), or a folder whose TIFF files, in
        natural name order (``frame2.tif`` before ``frame10.tif``), hold one
        frame or one block of frames each.
    sampling_frequency : float, optional
        Hz. Wins over the file's value (ImageJ ``finterval``, OME
        ``TimeIncrement``); without either the rate is unknown (None).
    channel : int or str
        The channel to read (index, or name when the OME-XML names channels).
    plane : int, optional
        Read one plane of a volumetric file as a planar video; by default all
        planes, ``(time, rows, columns, planes)``.
    planes, channels : int, optional
        For files whose metadata name no axes (plain multi-page TIFFs, folders):
        the pages interleave ``channels`` channels (fastest), then ``planes``
        planes, then time, as ImageJ and ScanImage store them.

    Raises
    ------
    CorruptFileError
        Not a readable TIFF, metadata that contradict the pages, files of a
        folder that differ in frame shape or dtype.
    UnsupportedFeatureError
        RGB or multi-sample pages, OME-TIFF planes spread over several files.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        *,
        sampling_frequency: float | None = None,
        channel: int | str = 0,
        plane: int | None = None,
        planes: int | None = None,
        channels: int | None = None,
    ) -> None:
        path = Path(os.fspath(file_path))
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        rate = check_rate(sampling_frequency)
        files = self._files(path)
        opened: list[TiffPages] = []
        self._plane_times: np.ndarray | None = None
        try:
            infos = []
            for number, file in enumerate(files):
                pages, info = _open_file(file)
                opened.append(pages)
                infos.append(info)
                if number >= 1:
                    pages.close()  # reopened on demand: a long folder must not hold every file open
            sequence = PageSequence(opened)
            layout, info = self._layout(path, sequence, infos, planes, channels)
            self._init_pages(
                sequence,
                layout,
                name=path.name,
                channel=channel,
                plane=plane,
                rate=rate if rate is not None else info.rate,
                channel_names=info.channel_names,
            )
            if len(files) == 1:
                self._plane_times = info.plane_times
        except BaseException:
            for pages in opened:
                pages.close()
            raise
        self._kind = info.kind if len(files) == 1 else "sequence"

    @staticmethod
    def _files(path: Path) -> list[Path]:
        if not path.is_dir():
            return [path]
        files = list_tiffs(path)
        if not files:
            raise CorruptFileError(f"{path}: the folder holds no .tif/.tiff file", path=path)
        return files

    @staticmethod
    def _layout(
        path: Path, sequence: PageSequence, infos: list[StackInfo], planes: int | None, channels: int | None
    ) -> tuple[Any, StackInfo]:
        first = infos[0]
        described = len(infos) == 1 and first.kind != "plain"
        if planes is None and channels is None:
            if len(infos) == 1:
                return first.layout, first
            for file, info in zip(sequence.files, infos):
                if info.layout.planes > 1 or info.layout.channels > 1:
                    raise UnsupportedFeatureError(
                        f"{file.path}: a folder of TIFF files is read as one planar, single-channel video, but this "
                        f"file has {info.layout.planes} planes and {info.layout.channels} channels; open it on its own"
                    )
            return interleaved(sequence.count), first
        planes = 1 if planes is None else _positive_count(planes, "planes")
        channels = 1 if channels is None else _positive_count(channels, "channels")
        if described and (first.layout.planes, first.layout.channels) != (planes, channels):
            raise ValueError(
                f"{path}: its {first.kind} metadata describe {first.layout.planes} plane(s) and "
                f"{first.layout.channels} channel(s); planes={planes}, channels={channels} contradict them"
            )
        if described:
            return first.layout, first
        return interleaved(sequence.count, planes, channels), first

    @property
    def kind(self) -> str:
        """What described the layout: ``"ome"``, ``"imagej"``, ``"shaped"``, ``"plain"`` or ``"sequence"``."""
        return self._kind

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """OME ``Plane/@DeltaT`` of the selected channel's first selected plane, when every plane has one."""
        if self._plane_times is None:
            return None
        start, end = sample_window(start_sample, end_sample, self.get_num_samples())
        return self._plane_times[start:end, self._planes[0], self._channel].copy()
