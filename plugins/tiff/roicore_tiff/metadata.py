"""What a TIFF file's own metadata says about its axes and rate: OME-XML, ImageJ, tifffile's shaped JSON.

Each parser returns a :class:`StackInfo`: the page layout (sizes and strides of
time, plane and channel), the frame rate when the file stores one, channel
names, OME's per-plane times, and where the pages are contiguous in the file
when the metadata says so (then no per-page IFD is ever parsed).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError

from roicore_tiff.layout import FrameLayout, interleaved

__all__ = ["StackInfo", "describe_stack"]

_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}


@dataclass
class StackInfo:
    """A TIFF file's video structure as its metadata describe it.

    Attributes
    ----------
    layout : FrameLayout
    rate : float or None
        Hz, when the file stores a frame interval.
    kind : str
        ``"ome"``, ``"imagej"``, ``"shaped"`` or ``"plain"``.
    channel_names : list of str or None
    contiguous : tuple of int or None
        ``(offset, pages)`` when the metadata guarantee the pages lie back to back.
    plane_times : ndarray or None
        OME ``DeltaT`` per ``(t, z, c)``, in seconds, when every plane has one.
    """

    layout: FrameLayout
    rate: float | None
    kind: str
    channel_names: list[str] | None = None
    contiguous: tuple[int, int] | None = None
    plane_times: np.ndarray | None = None


def _positive_rate(interval: Any) -> float | None:
    try:
        value = float(interval)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return 1.0 / value


def _series_offset(tif: Any) -> int | None:
    try:
        offset = tif.series[0].dataoffset
    except Exception:  # tifffile's series detection on odd files: fall back to per-page offsets
        return None
    return None if offset is None else int(offset)


def _from_imagej(tif: Any, path: Path, pages: int) -> StackInfo:
    meta = tif.imagej_metadata or {}
    try:
        channels = int(meta.get("channels", 1) or 1)
        slices = int(meta.get("slices", 1) or 1)
        images = int(meta.get("images", pages) or pages)
    except (TypeError, ValueError):
        raise CorruptFileError(f"{path}: ImageJ metadata with non-integer sizes: {meta}", path=path) from None
    if channels < 1 or slices < 1 or images < 1:
        raise CorruptFileError(f"{path}: ImageJ metadata with sizes below 1: {meta}", path=path)
    layout = interleaved(images, slices, channels)
    frames = meta.get("frames")
    # ImageJ stores images = channels x slices x frames; anything else is a damaged description
    if frames is not None and int(frames) * slices * channels != images:
        raise CorruptFileError(
            f"{path}: ImageJ metadata describe {frames} frames x {slices} slices x {channels} channels but "
            f"{images} images",
            path=path,
        )
    rate = _positive_rate(meta.get("finterval"))
    if rate is None and meta.get("fps"):
        try:
            fps = float(meta["fps"])
            rate = fps if math.isfinite(fps) and fps > 0 else None
        except (TypeError, ValueError):
            rate = None
    contiguous = None
    offset = _series_offset(tif)
    if offset is not None:
        contiguous = (offset, images)
    elif images > pages:
        raise UnsupportedFeatureError(
            f"{path}: ImageJ metadata promise {images} images but the file has {pages} IFDs and no contiguous data"
        )
    return StackInfo(layout, rate, "imagej", contiguous=contiguous)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Any, name: str) -> list[Any]:
    return [item for item in element if _local(item.tag) == name]


def _from_ome(tif: Any, path: Path, pages: int) -> StackInfo:
    text = tif.ome_metadata
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise CorruptFileError(f"{path}: the OME-XML does not parse: {exc}", path=path) from None
    images = _child(root, "Image")
    if not images or not _child(images[0], "Pixels"):
        raise CorruptFileError(f"{path}: the OME-XML has no Image/Pixels element", path=path)
    pixels = _child(images[0], "Pixels")[0]
    try:
        size = {axis: int(pixels.get(f"Size{axis}", "1")) for axis in "XYZCT"}
    except ValueError:
        raise CorruptFileError(f"{path}: OME Pixels with non-integer sizes", path=path) from None
    order = pixels.get("DimensionOrder", "XYZCT")
    if sorted(order) != sorted("XYZCT") or not order.startswith("XY"):
        raise CorruptFileError(f"{path}: OME DimensionOrder {order!r} is not a permutation starting with XY", path=path)
    for tiff_data in _child(pixels, "TiffData"):
        if _child(tiff_data, "UUID") and any(u.get("FileName") not in (None, path.name) for u in _child(tiff_data, "UUID")):
            raise UnsupportedFeatureError(f"{path}: an OME-TIFF whose planes are spread over several files")
        if int(tiff_data.get("IFD", "0")) != 0 and len(_child(pixels, "TiffData")) == 1:
            raise UnsupportedFeatureError(f"{path}: OME TiffData starting at IFD {tiff_data.get('IFD')} is not supported")
    stride, strides = 1, {}
    for axis in order[2:]:
        strides[axis] = stride
        stride *= size[axis]
    if stride > pages:
        raise CorruptFileError(
            f"{path}: OME-XML promises {size['Z']} x {size['C']} x {size['T']} = {stride} planes but the file has "
            f"{pages} pages",
            path=path,
        )
    layout = FrameLayout(size["T"], size["Z"], size["C"], strides["T"], strides["Z"], strides["C"])
    increment = pixels.get("TimeIncrement")
    unit = _TIME_UNITS.get(pixels.get("TimeIncrementUnit", "s"), None)
    rate = None
    if increment is not None and unit is not None:
        try:
            rate = _positive_rate(float(increment) * unit)
        except ValueError:
            rate = None
    names = [channel.get("Name") for channel in _child(pixels, "Channel")]
    channel_names = names if names and all(names) and len(set(names)) == len(names) else None
    plane_times = _ome_plane_times(pixels, size)
    offset = _series_offset(tif) if len(images) == 1 else None
    contiguous = (offset, stride) if offset is not None else None
    return StackInfo(layout, rate, "ome", channel_names=channel_names, contiguous=contiguous, plane_times=plane_times)


def _ome_plane_times(pixels: Any, size: dict[str, int]) -> np.ndarray | None:
    planes = _child(pixels, "Plane")
    if not planes:
        return None
    times = np.full((size["T"], size["Z"], size["C"]), np.nan)
    for plane in planes:
        try:
            t, z, c = (int(plane.get(f"The{axis}", "0")) for axis in "TZC")
            delta = plane.get("DeltaT")
            if delta is None:
                return None
            unit = _TIME_UNITS.get(plane.get("DeltaTUnit", "s"))
            if unit is None:
                return None
            times[t, z, c] = float(delta) * unit
        except (ValueError, IndexError):
            return None
    return None if np.isnan(times).any() else times


def _from_shaped(tif: Any, path: Path, pages: int) -> StackInfo | None:
    meta = tif.shaped_metadata[0] if tif.shaped_metadata else {}
    shape = [int(v) for v in meta.get("shape", [])]
    axes = str(meta.get("axes", "")).upper()
    frame = tif.pages.first.shape
    if len(shape) < 2 or tuple(shape[-2:]) != tuple(frame):
        return None
    leading = shape[:-2]
    total = int(np.prod(leading)) if leading else 1
    if not axes:
        if len(leading) > 1:
            return None  # unnamed 4-D: let the caller treat the pages as frames (or planes=/channels=)
        axes = "T" * len(leading) + "YX"
    axes = axes[: len(leading)]
    if len(set(axes)) != len(axes) or not set(axes) <= set("TZCQI"):
        return None
    axes = axes.replace("Q", "T").replace("I", "T")
    sizes = dict(zip(axes, leading))
    strides, stride = {}, 1
    for axis in reversed(axes):
        strides[axis] = stride
        stride *= sizes[axis]
    layout = FrameLayout(
        sizes.get("T", 1), sizes.get("Z", 1), sizes.get("C", 1), strides.get("T", 0), strides.get("Z", 0), strides.get("C", 0)
    )
    offset = _series_offset(tif)
    contiguous = (offset, total) if offset is not None else None
    return StackInfo(layout, None, "shaped", contiguous=contiguous)


def describe_stack(tif: Any, path: Path, pages: int) -> StackInfo:
    """The structure of an open ``tifffile.TiffFile`` holding ``pages`` IFDs.

    Raises
    ------
    CorruptFileError
        Metadata that contradict the file (more planes than pages, bad XML).
    UnsupportedFeatureError
        Layouts this plugin does not read (multi-file OME-TIFF).
    """
    if tif.is_ome:
        return _from_ome(tif, path, pages)
    if tif.is_imagej:
        return _from_imagej(tif, path, pages)
    if tif.is_shaped:
        shaped = _from_shaped(tif, path, pages)
        if shaped is not None:
            return shaped
    return StackInfo(FrameLayout(pages), None, "plain")
