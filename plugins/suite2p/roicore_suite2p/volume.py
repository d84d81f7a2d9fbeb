"""Every ``planeN`` folder of a ``suite2p/`` folder read as one volumetric segmentation (``plane="volume"``).

Each plane folder is read by :class:`~roicore_suite2p.reader.Suite2pSegmentationExtractor`;
this module only stacks them: plane ``k`` of the volume is ``planeK``, its
ROIs' masks get plane index ``k``, and everything per ROI is concatenated in
plane order (plane 0's ROIs first), the order of suite2p's own ``combined``
folder.

ROI ids are the positions in that concatenation: ROI ``i`` of ``planeK/stat.npy``
has id ``sum(n_0 .. n_{k-1}) + i``; the properties ``plane`` (``k``) and
``plane_roi`` (``i``) map an id back to its file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError
from roicore.segmentation import RoiMasks, SegmentationExtractor
from roicore_suite2p.layout import TRACE_FILES, check_rate, plane_folders
from roicore_suite2p.sniff import sniff_folder

__all__ = ["Suite2pVolumeSegmentationExtractor"]

#: properties derived from a file of their own (absent from a plane when the file is)
_FILE_PROPERTIES = {"is_accepted": "iscell.npy", "cell_probability": "iscell.npy",
                    "is_red": "redcell.npy", "red_probability": "redcell.npy"}


class Suite2pVolumeSegmentationExtractor(SegmentationExtractor):
    """The ``planeN`` folders of a suite2p output folder as one volumetric segmentation.

    Made by ``Suite2pSegmentationExtractor(folder, plane="volume")`` (and so
    by ``roicore.open(folder, plane="volume")``).

    Parameters
    ----------
    folder_path : path-like
        A ``suite2p`` output folder holding ``plane0`` .. ``plane{P-1}``.
    sampling_frequency : float, optional
        Overrides every plane's ``fs``.

    Notes
    -----
    Frame shape ``(Ly, Lx)`` of each plane; masks, image masks
    ``(rows, columns, planes, n)`` and pixel masks ``[row, column, plane,
    weight]`` on the ``(Ly, Lx, planes)`` volume. Traces, properties and
    classifier output are the planes' concatenated along ROIs; images are
    the planes' stacked on the last axis, ``(rows, columns, planes)``. See
    the module for the ROI id scheme; ``select_plane(k)`` gives back plane
    ``k``'s ROIs (with their volume ids).

    Raises
    ------
    CorruptFileError
        A plane folder is missing from the numbering, a plane cannot be read,
        or the planes disagree (frame shape, rate, which trace files,
        classifier files or images exist); the message names the plane folder or file.
    UnsupportedFeatureError
        The planes have different numbers of frames (read them one at a time with ``plane=N``).
    ValueError
        ``folder_path`` is a single plane folder, not a folder of planes.
    """

    is_volumetric = True
    sniff = staticmethod(sniff_folder)

    def __init__(self, folder_path: str | os.PathLike[str], *, sampling_frequency: float | None = None) -> None:
        from roicore_suite2p.reader import Suite2pSegmentationExtractor

        root = Path(os.fspath(folder_path))
        check_rate(sampling_frequency)
        if not root.exists():
            raise FileNotFoundError(2, "No such file or directory", str(root))
        if not root.is_dir():
            raise CorruptFileError(f"{root}: is a file, not a suite2p output folder", path=root)
        folders = plane_folders(root)
        if not folders:
            if os.path.lexists(root / "stat.npy"):
                raise ValueError(f"{root} is a single plane folder; plane='volume' needs the suite2p folder of planeN folders")
            raise CorruptFileError(f"{root}: no planeN folders, so there is no volume to read", path=root)
        missing = sorted(set(range(max(folders) + 1)) - set(folders))
        if missing:
            raise CorruptFileError(f"{root}: plane{missing[0]} is missing between the plane folders "
                                   f"{', '.join(p.name for p in folders.values())}", path=root / f"plane{missing[0]}")
        self._root = root
        self._planes: list[Any] = []
        try:
            for folder in folders.values():
                self._planes.append(Suite2pSegmentationExtractor(folder, sampling_frequency=sampling_frequency))
            self._check_planes_agree()
        except BaseException:
            self._close()
            raise
        counts = [plane.get_num_rois() for plane in self._planes]
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
        self._images: dict[str, np.ndarray] | None = None
        for key, values in self._stacked_properties().items():
            self.set_property(key, values)
        self.set_property("plane", np.repeat(np.arange(len(counts)), counts),
                          description="the suite2p plane (planeN folder) of the ROI")
        self.set_property("plane_roi", np.concatenate([np.arange(n) for n in counts]).astype(np.int64),
                          description="the ROI's index in its plane's stat.npy")

    # -- consistency of the planes ----------------------------------------------------------------

    def _check_planes_agree(self) -> None:
        first = self._planes[0]
        for plane in self._planes[1:]:
            folder = plane.folder_path
            if plane.get_frame_shape() != first.get_frame_shape():
                raise CorruptFileError(f"{folder}: its frame is {plane.get_frame_shape()} (Ly, Lx), "
                                       f"{first.folder_path.name}'s is {first.get_frame_shape()}", path=folder)
            if plane.get_sampling_frequency() != first.get_sampling_frequency():
                raise CorruptFileError(f"{folder}: its rate fs is {plane.get_sampling_frequency()}, "
                                       f"{first.folder_path.name}'s is {first.get_sampling_frequency()}", path=folder)
            for name in set(plane.get_trace_names()) ^ set(first.get_trace_names()):
                lacking = plane if name not in plane.get_trace_names() else first
                missing = lacking.folder_path / TRACE_FILES[name]
                raise CorruptFileError(f"{missing}: missing, while the other planes have it", path=missing)
            if plane.get_num_samples() != first.get_num_samples():
                raise UnsupportedFeatureError(
                    f"{folder}: {plane.get_num_samples()} frames, {first.folder_path.name} has "
                    f"{first.get_num_samples()}; planes of different lengths cannot be read as one volume "
                    "(read them one at a time with plane=N)")
            for key, filename in _FILE_PROPERTIES.items():
                if (key in plane.get_property_keys()) != (key in first.get_property_keys()):
                    lacking = plane if key not in plane.get_property_keys() else first
                    missing = lacking.folder_path / filename
                    raise CorruptFileError(f"{missing}: missing or without {key!r}, while the other planes have it",
                                           path=missing)

    def _stacked_properties(self) -> dict[str, np.ndarray]:
        """The planes' properties concatenated; a stat field must be in every plane that has ROIs."""
        holding = [plane for plane in self._planes if plane.get_num_rois()]
        keys = [key for key in (holding[0].get_property_keys() if holding else [])
                if all(key in plane.get_property_keys() for plane in holding)]
        for plane in holding:
            extra = set(plane.get_property_keys()) - set(keys)
            if extra:
                stat = plane.folder_path / "stat.npy"
                raise CorruptFileError(f"{stat}: ROI fields {sorted(extra)} that other planes' stat.npy lack", path=stat)
        stacked = {}
        for key in keys:
            parts = [plane.get_property(key) for plane in holding]
            stacked[key] = np.concatenate(parts)
        return stacked

    # -- metadata ---------------------------------------------------------------------------------

    def get_roi_ids(self) -> list[Any]:
        return list(range(int(self._offsets[-1])))

    def get_frame_shape(self) -> tuple[int, int]:
        return self._planes[0].get_frame_shape()

    def get_num_planes(self) -> int:
        return len(self._planes)

    def get_num_samples(self) -> int:
        return self._planes[0].get_num_samples()

    def get_sampling_frequency(self) -> float | None:  # type: ignore[override]
        return self._planes[0].get_sampling_frequency()

    def get_trace_names(self) -> list[str]:
        return self._planes[0].get_trace_names()

    @property
    def folder_path(self) -> Path:
        """The suite2p folder read."""
        return self._root

    @property
    def plane_folders(self) -> list[Path]:
        """The plane folders, plane 0 first."""
        return [plane.folder_path for plane in self._planes]

    @property
    def layout(self) -> str:
        """``"0.x"`` or ``"1.x"``; ``"mixed"`` if the planes differ."""
        layouts = {plane.layout for plane in self._planes}
        return layouts.pop() if len(layouts) == 1 else "mixed"

    # -- masks, traces, images --------------------------------------------------------------------

    def _get_roi_masks(self) -> RoiMasks:
        from scipy import sparse

        planes = len(self._planes)
        rows, cols, values = [], [], []
        for k, plane in enumerate(self._planes):
            coo = plane._masks().matrix.tocoo()
            # pixel = (row * columns + column) * planes + plane
            rows.append(coo.row.astype(np.int64) * planes + k)
            cols.append(coo.col.astype(np.int64) + self._offsets[k])
            values.append(coo.data)
        shape = (*self.get_frame_shape(), planes)
        matrix = sparse.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(int(np.prod(shape)), int(self._offsets[-1])))
        return RoiMasks(matrix, shape)

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        self._check_open()
        owners = np.searchsorted(self._offsets, positions, side="right") - 1
        parts = [self._planes[k]._traces_at(name, positions[owners == k] - self._offsets[k], start, end)
                 for k in np.unique(owners).tolist()]
        if not parts:
            return np.empty((end - start, 0), dtype=np.float32)
        return np.concatenate(parts, axis=1)

    def get_images_dict(self) -> dict[str, np.ndarray]:
        """Each image the planes store, stacked to ``(rows, columns, planes)``; new float64 arrays."""
        self._check_open()
        if self._images is None:
            per_plane = [plane.get_images_dict() for plane in self._planes]
            for plane, images in zip(self._planes, per_plane):
                if set(images) != set(per_plane[0]):
                    differ = sorted(set(images) ^ set(per_plane[0]))
                    raise CorruptFileError(f"{plane.folder_path}: images {differ} are stored in some planes only",
                                           path=plane.folder_path)
            self._images = {name: np.stack([images[name] for images in per_plane], axis=-1) for name in per_plane[0]}
        return {name: image.copy() for name, image in self._images.items()}

    # -- lifecycle --------------------------------------------------------------------------------

    def _close(self) -> None:
        for plane in getattr(self, "_planes", []):
            plane.close()

    def _describe(self) -> str:
        return f"{super()._describe()}; suite2p {self.layout} layout, {len(self._planes)} planes of {self._root.name}"
