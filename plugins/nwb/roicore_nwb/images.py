"""Summary images from NWB ``Images`` containers, named for what they are.

Only images whose name says what they are become ``"mean"``, ``"correlation"``
or ``"max"`` (suite2p's ``meanImg``/``Vcorr``/``max_proj``, CaImAn's
``local_correlations``, neuroconv's ``mean``/``correlation``); every other
2-D image keeps its own name. Orientation follows the producer's convention;
an image whose stored shape only fits the frame the other way round (a
non-square frame) is turned to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from roicore_nwb.layout import iter_typed
from roicore_nwb.producers import Convention

__all__ = ["StoredImage", "find_images", "canonical_image_name"]

_ALIASES = {
    "mean": ("mean", "meanimg", "mean_image", "meanimage", "mean_img", "average", "average_image", "avg"),
    "correlation": ("correlation", "vcorr", "local_correlations", "local_correlation", "cn", "correlation_image", "corr"),
    "max": ("max", "max_proj", "maxproj", "max_projection", "maximum_projection", "max_image", "maximum"),
}


def canonical_image_name(name: str) -> str:
    """``"mean"``, ``"correlation"`` or ``"max"`` when ``name`` says so, else ``name`` itself."""
    lowered = name.lower()
    for canonical, aliases in _ALIASES.items():
        if lowered in aliases:
            return canonical
    return name


@dataclass
class StoredImage:
    """A 2-D image dataset and whether it must be transposed to (rows, columns)."""

    dataset: h5py.Dataset
    transpose: bool

    def read(self) -> np.ndarray:
        values = np.asarray(self.dataset[()], dtype=np.float64)
        return np.ascontiguousarray(values.T) if self.transpose else values


def find_images(
    handle: h5py.File, frame_shape: tuple[int, int], convention: Convention, prefer: tuple[str, ...] = ()
) -> tuple[dict[str, StoredImage], list[str]]:
    """Images fitting ``frame_shape`` by roicore name, and notes about the ones left out.

    When two containers hold an image of the same name, the one whose
    container name contains a string of ``prefer`` (the PlaneSegmentation's
    name, suite2p's ``Backgrounds_<plane>``) wins, else the first.
    """

    def preferred(container_path: str) -> bool:
        leaf = container_path.rsplit("/", 1)[-1]
        return any(p and p in leaf for p in prefer)

    images: dict[str, StoredImage] = {}
    owners: dict[str, str] = {}
    notes: list[str] = []
    for container_path, container in iter_typed(handle, ("Images",), max_depth=2):
        for key in sorted(container):
            node = container.get(key)
            if not isinstance(node, h5py.Dataset) or node.ndim != 2 or node.dtype.kind not in "biuf":
                continue
            stored = tuple(int(v) for v in node.shape)
            transpose = convention.images == "columns-first"
            oriented = stored[::-1] if transpose else stored
            if oriented != frame_shape:
                if oriented[::-1] == frame_shape:
                    transpose = not transpose
                else:
                    notes.append(f"image {node.name} {stored} does not fit the {frame_shape[0]} x {frame_shape[1]} frame")
                    continue
            name = canonical_image_name(key)
            if name in images:
                if preferred(container_path) and not preferred(owners[name].rsplit("/", 1)[0]):
                    notes.append(f"image {owners[name]} left out: {node.name} belongs to the chosen table")
                else:
                    notes.append(f"image {node.name} left out: {owners[name]} already gives {name!r}")
                    continue
            images[name] = StoredImage(node, transpose)
            owners[name] = node.name
    return images, notes
