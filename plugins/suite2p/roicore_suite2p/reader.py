"""The roicore reader of suite2p output folders (a plane folder, ``combined``, or the ``suite2p/`` folder above them).

Opening reads the small files (``stat.npy``, the settings dicts, ``iscell.npy``,
``redcell.npy``) and the headers of the trace files; traces are memory-mapped
and read per window. Every pickle goes through :func:`roicore.safeload.load_npy`.

Examples
--------
>>> import roicore
>>> with roicore.open("suite2p/plane0") as seg:                 # doctest: +SKIP
...     raw, neuropil = seg.get_traces(name="raw"), seg.get_traces(name="neuropil")
>>> seg = roicore.open("suite2p", plane=1)                       # doctest: +SKIP
>>> volume = roicore.open("suite2p", plane="volume")             # doctest: +SKIP
>>> volume.get_volume_shape(), volume.select_plane(1).get_num_rois()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.segmentation import RoiMasks, SegmentationExtractor
from roicore.safeload import load_npy
from roicore_suite2p.layout import TRACE_FILES, PlaneSettings, check_rate, plane_folders, read_plane_settings
from roicore_suite2p.sniff import sniff_folder
from roicore_suite2p.stat import read_stat, stat_masks, stat_properties
from roicore_suite2p.traces import TraceFile

__all__ = ["Suite2pSegmentationExtractor", "resolve_plane_folder", "IMAGE_KEYS"]

#: roicore image name -> suite2p key; the last two are cropped to yrange/xrange by suite2p
IMAGE_KEYS = {
    "mean": "meanImg",
    "enhanced_mean": "meanImgE",
    "mean_chan2": "meanImg_chan2",
    "mean_chan2_corrected": "meanImg_chan2_corrected",
    "max": "max_proj",
    "correlation": "Vcorr",
}


def resolve_plane_folder(path: Path, plane: int | str | None) -> Path:
    """The plane folder to read: ``path`` itself, or ``planeN`` / ``combined`` inside a ``suite2p/`` folder.

    Parameters
    ----------
    path : Path
        A plane folder (holding ``stat.npy``) or a suite2p output folder (holding ``planeN`` folders).
    plane : int, "combined" or None
        None: the folder itself when it is a plane folder; in a suite2p folder
        its only plane, or ``combined`` when there are several planes.
        (``"volume"`` is handled by :class:`Suite2pSegmentationExtractor` before this.)

    Raises
    ------
    ValueError
        ``plane`` names no folder that exists, or is needed and missing; the message lists the choices.
    CorruptFileError
        The folder is neither a plane folder nor a suite2p output folder.
    """
    if os.path.lexists(path / "stat.npy") and not plane_folders(path):
        if plane is not None:
            raise ValueError(f"{path} is a single plane folder; plane={plane!r} selects nothing in it (omit plane=)")
        return path
    planes = plane_folders(path)
    combined = path / "combined"
    choices = [*planes, *(["combined"] if combined.is_dir() else [])]
    if not choices:
        raise CorruptFileError(f"{path}: neither a suite2p plane folder (no stat.npy) nor a suite2p folder (no planeN folders)", path=path)
    if plane is None:
        if len(planes) == 1:
            return next(iter(planes.values()))
        if combined.is_dir():
            return combined
        raise ValueError(f"{path} holds {len(planes)} planes and no combined folder: choose one with plane= (one of {choices}), "
                         "or read them all as one volume with plane='volume'")
    if plane == "combined":
        if not combined.is_dir():
            raise ValueError(f"{path} has no combined folder; plane= may be one of {choices}")
        return combined
    if isinstance(plane, bool) or not isinstance(plane, (int, np.integer)):
        raise TypeError(f"plane must be an int or 'combined', not {plane!r}")
    if int(plane) not in planes:
        raise ValueError(f"{path} has no plane{int(plane)} folder; plane= may be one of {choices}")
    return planes[int(plane)]


class Suite2pSegmentationExtractor(SegmentationExtractor):
    """suite2p results: masks, traces, classifier output, summary images and ROI statistics.

    Parameters
    ----------
    folder_path : path-like
        A plane folder (``suite2p/plane0``), a ``combined`` folder, or the
        ``suite2p`` folder above them.
    plane : int, "combined" or "volume", optional
        In a ``suite2p`` folder, which plane folder to read (see
        :func:`resolve_plane_folder`); ``"volume"`` reads every ``planeN``
        folder as one volumetric segmentation and returns a
        :class:`~roicore_suite2p.volume.Suite2pVolumeSegmentationExtractor`
        (ROI ``i`` of plane ``k`` gets id ``n_0 + ... + n_{k-1} + i``, and the
        properties ``plane`` = k and ``plane_roi`` = i).
    sampling_frequency : float, optional
        Overrides ``fs`` from the settings (which always loses to it).

    Notes
    -----
    ROI ids are the positions in ``stat.npy`` (0 .. n-1). Masks are the full
    suite2p masks (``ypix``, ``xpix`` in the full frame, weights ``lam``).
    Traces: ``raw`` = ``F.npy``, ``neuropil`` = ``Fneu.npy``, ``deconvolved`` =
    ``spks.npy``, ``raw_chan2`` / ``neuropil_chan2`` from ``F_chan2.npy`` /
    ``Fneu_chan2.npy``; each exists when its file does. Properties:
    ``is_accepted`` (bool) and ``cell_probability`` from ``iscell.npy``,
    ``is_red`` and ``red_probability`` from ``redcell.npy``, and the numeric
    per-ROI fields of ``stat.npy``. Images: ``mean``, ``enhanced_mean``,
    ``mean_chan2``, ``max`` and ``correlation`` when stored; ``max`` and
    ``correlation`` are placed back into the full frame at ``yrange``/``xrange``
    (zero outside, as suite2p's GUI and ``combined()`` do).

    Raises
    ------
    CorruptFileError
        A file is missing (``stat.npy``, the settings) or damaged, refused by
        the safe unpickler, or inconsistent with the others; the message names it.
    """

    sniff = staticmethod(sniff_folder)

    def __new__(cls, *args: Any, plane: int | str | None = None, **kwargs: Any) -> Any:
        if cls is Suite2pSegmentationExtractor and isinstance(plane, str) and plane == "volume":
            # a different class, so __init__ below is not run on it; it pickles as itself
            from roicore_suite2p.volume import Suite2pVolumeSegmentationExtractor

            return Suite2pVolumeSegmentationExtractor(*args, **kwargs)
        return super().__new__(cls, *args, plane=plane, **kwargs)

    def __init__(
        self,
        folder_path: str | os.PathLike[str],
        *,
        plane: int | str | None = None,
        sampling_frequency: float | None = None,
    ) -> None:
        root = Path(os.fspath(folder_path))
        rate = check_rate(sampling_frequency)
        if not root.exists():
            raise FileNotFoundError(2, "No such file or directory", str(root))
        if not root.is_dir():
            raise CorruptFileError(f"{root}: is a file, not a suite2p output folder", path=root)
        folder = resolve_plane_folder(root, plane)
        self._folder = folder
        stat_path = folder / "stat.npy"
        if not os.path.lexists(stat_path):
            raise CorruptFileError(f"{stat_path}: missing; a suite2p plane folder needs it", path=stat_path)
        self._settings: PlaneSettings = read_plane_settings(folder)
        self._frame_shape = self._settings.frame_shape(folder)
        self._rois = read_stat(stat_path)
        count = len(self._rois)
        # headers only: nothing stays open until the first trace read maps a file
        self._traces: dict[str, TraceFile] = {
            name: TraceFile(folder / filename, count)
            for name, filename in TRACE_FILES.items()
            if os.path.lexists(folder / filename)
        }
        lengths = {name: trace.num_frames for name, trace in self._traces.items()}
        if len(set(lengths.values())) > 1:
            raise CorruptFileError(
                f"{folder}: the trace files have different numbers of frames: "
                + ", ".join(f"{TRACE_FILES[n]} {t}" for n, t in lengths.items()),
                path=folder,
            )
        self._num_samples = next(iter(lengths.values())) if lengths else self._frames_from_settings()
        self._rate = rate if rate is not None else self._settings.sampling_frequency
        self._images: dict[str, np.ndarray] | None = None
        self._set_classifier_properties(count)
        for key, values in stat_properties(self._rois).items():
            self.set_property(key, values)

    # -- metadata ---------------------------------------------------------------------------------

    def _frames_from_settings(self) -> int:
        value = self._settings.values.get("nframes", 0)
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            raise CorruptFileError(f"{self._settings.source_of('nframes')}: 'nframes' is not an integer ({value!r})",
                                   path=self._settings.source_of("nframes")) from None

    def _set_classifier_properties(self, count: int) -> None:
        for filename, flag, probability in (("iscell.npy", "is_accepted", "cell_probability"),
                                            ("redcell.npy", "is_red", "red_probability")):
            path = self._folder / filename
            if not os.path.lexists(path):
                continue
            values = load_npy(path)
            if values.dtype.kind not in "biuf" or values.ndim not in (1, 2) or values.shape[0] != count:
                raise CorruptFileError(
                    f"{path}: expected {count} rows (one per ROI in stat.npy) of numbers, found {values.dtype} {values.shape}",
                    path=path,
                )
            columns = values.reshape(count, values.shape[1] if values.ndim == 2 else 1)
            if columns.shape[1] not in (1, 2) or not np.all(np.isfinite(columns)):
                raise CorruptFileError(f"{path}: expected (n, 2) finite values [label, probability], found {values.shape}",
                                       path=path)
            self.set_property(flag, columns[:, 0] != 0)
            if columns.shape[1] == 2:
                self.set_property(probability, columns[:, 1].astype(np.float64))

    def get_roi_ids(self) -> list[Any]:
        return list(range(len(self._rois)))

    def get_frame_shape(self) -> tuple[int, int]:
        return self._frame_shape

    def get_num_samples(self) -> int:
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:  # type: ignore[override]
        return self._rate

    def get_trace_names(self) -> list[str]:
        return list(self._traces)

    @property
    def folder_path(self) -> Path:
        """The plane folder read."""
        return self._folder

    @property
    def layout(self) -> str:
        """``"0.x"`` (flat ``ops.npy``) or ``"1.x"`` (``db.npy``, ``settings.npy``, ...)."""
        return self._settings.layout

    @property
    def settings(self) -> dict[str, Any]:
        """A copy of the merged, flat settings of the plane."""
        return dict(self._settings.values)

    # -- masks and traces -------------------------------------------------------------------------

    def _get_roi_masks(self) -> RoiMasks:
        return stat_masks(self._rois, self._frame_shape, self._folder / "stat.npy")

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        self._check_open()
        return self._traces[name].read(positions, start, end)

    # -- images -----------------------------------------------------------------------------------

    def _place(self, key: str) -> np.ndarray | None:
        values = self._settings.values
        if key not in values or values[key] is None:
            return None
        source = self._settings.source_of(key)
        image = np.asarray(values[key])
        if image.dtype.kind not in "biuf" or image.ndim != 2:
            raise CorruptFileError(f"{source}: {key!r} is not a 2-D image ({image.dtype} {image.shape})", path=source)
        rows, columns = self._frame_shape
        if image.shape == (rows, columns):
            return image.astype(np.float64)
        # suite2p stores max_proj and Vcorr cropped to the registered region [yrange) x [xrange)
        (y0, y1), (x0, x1) = (self._range(axis, source) for axis in ("yrange", "xrange"))
        if image.shape != (y1 - y0, x1 - x0):
            raise CorruptFileError(
                f"{source}: {key!r} has shape {image.shape}, neither the frame {self._frame_shape} nor the "
                f"yrange/xrange crop {(y1 - y0, x1 - x0)}",
                path=source,
            )
        full = np.zeros((rows, columns))
        full[y0:y1, x0:x1] = image
        return full

    def _range(self, key: str, source: Path) -> tuple[int, int]:
        limit = self._frame_shape[0 if key == "yrange" else 1]
        value = self._settings.values.get(key)
        try:
            low, high = (int(v) for v in np.asarray(value).ravel()[[0, -1]])
        except (TypeError, ValueError, IndexError):
            raise CorruptFileError(f"{source}: {key!r} must be [start, end], not {value!r}", path=source) from None
        if not 0 <= low < high <= limit:
            raise CorruptFileError(f"{source}: {key!r} = [{low}, {high}] lies outside the frame (0..{limit})", path=source)
        return low, high

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """The summary images stored for the plane (see the class notes), each a new float64 array."""
        self._check_open()
        if self._images is None:
            images = {}
            for name, key in IMAGE_KEYS.items():
                image = self._place(key)
                if image is not None:
                    images[name] = image
            self._images = images
        return {name: image.copy() for name, image in self._images.items()}

    # -- lifecycle --------------------------------------------------------------------------------

    def _close(self) -> None:
        for trace in getattr(self, "_traces", {}).values():
            trace.close()

    def _describe(self) -> str:
        return f"{super()._describe()}; suite2p {self.layout} layout, {self._folder.name}"
