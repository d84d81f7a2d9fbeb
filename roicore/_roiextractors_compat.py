"""What roiextractors' API and neuroconv's ophys writers read that roicore's own API does not name.

neuroconv 0.10 (``neuroconv.tools.roiextractors``: ``add_segmentation_to_nwbfile``,
``write_segmentation_to_nwbfile``, ``add_fluorescence_traces_to_nwbfile``, ...) takes any object
that looks like a roiextractors 0.10 extractor; it never checks the class. Everything it reads
beyond roicore's public API is here, one member per attribute, each saying who reads it, so the
shim can be dropped member by member as those callers change. The keyword aliases of
roiextractors 0.10 (``get_traces(start_frame=, end_frame=)``, ``get_property(key, ids=)``,
``set_property(..., ids=, description=)``) are resolved by :func:`keyword_alias`.

Mixed into :class:`roicore.SegmentationExtractor`. Imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SegmentationCompat", "MaskStoreType", "PropertyInfo", "keyword_alias"]


def keyword_alias(value: Any, alias: Any, name: str, alias_name: str) -> Any:
    """``value``, or ``alias`` (roiextractors' name for the same argument) when only that is given.

    Raises
    ------
    TypeError
        Both are given.
    """
    if alias is None:
        return value
    if value is not None:
        raise TypeError(f"give {name}= or {alias_name}= (roiextractors' name for it), not both")
    return alias


@dataclass(frozen=True)
class MaskStoreType:
    """What ``extractor._roi_masks`` is to neuroconv: only its ``mask_tpe`` is read."""

    #: roiextractors' name of the native mask layout; roicore stores masks sparsely, i.e. as pixel masks
    mask_tpe: str = "nwb-pixel_mask"


@dataclass(frozen=True)
class PropertyInfo:
    """A property's values and description, as roiextractors' ``get_property_info`` returns them."""

    data: np.ndarray
    description: str = ""


class _Default:
    """A class-level default that an instance attribute of the same name replaces.

    Unlike a property, it has no ``__set__``: a reader ported from roiextractors
    that assigns ``self._roi_masks`` or ``self._channel_names`` keeps working.
    """

    def __init__(self, make: Any) -> None:
        self._make = make

    def __get__(self, instance: Any, owner: type) -> Any:
        return self if instance is None else self._make()


class SegmentationCompat:
    """roiextractors-only members of a segmentation extractor (see the module docstring)."""

    # read by neuroconv _add_plane_segmentation_to_nwbfile (dict metadata): ``_roi_masks.mask_tpe``
    # picks get_roi_pixel_masks() or get_roi_image_masks(); pixel masks are roicore's native form
    _roi_masks = _Default(MaskStoreType)

    # read by neuroconv get_nwb_segmentation_metadata (list metadata): the optical channel names;
    # roiextractors' base sets this same single default, and no roicore reader has channels
    _channel_names = _Default(lambda: ["OpticalChannel"])

    def get_roi_locations(self, roi_ids: Any = None) -> np.ndarray:
        """ROI centres, ``(2, n)`` int: row and column of each mask's peak (roiextractors' definition).

        Read by neuroconv's list-metadata plane segmentation (``include_roi_centroids=True``, the
        default). For each ROI: the median row and the median column of the pixels holding the
        mask's largest weight, truncated to int, as roiextractors 0.10 computes it. A volumetric
        segmentation gives ``(3, n)``: row, column and plane.
        """
        masks = self.get_roi_masks(roi_ids)  # type: ignore[attr-defined]
        shape = masks.frame_shape
        matrix = masks.matrix
        locations = np.zeros((len(shape), masks.num_rois), dtype=int)
        for position in range(masks.num_rois):
            start, end = matrix.indptr[position], matrix.indptr[position + 1]
            weights = matrix.data[start:end]
            if weights.size == 0:  # an empty mask: its maximum (0) is everywhere
                locations[:, position] = [int(np.median(np.arange(size))) for size in shape]
                continue
            peak = matrix.indices[start:end][weights == weights.max()]
            locations[:, position] = [int(np.median(axis)) for axis in np.unravel_index(peak, shape)]
        return locations

    def get_property_info(self, key: str) -> PropertyInfo:
        """Values (all ROIs, in id order) and description of property ``key`` (roiextractors 0.10 API).

        Raises
        ------
        KeyError
            No such property.
        """
        values = self.get_property(key)  # type: ignore[attr-defined]
        return PropertyInfo(values, self._property_description(key))

    def _property_description(self, key: str) -> str:
        """The description given to ``set_property(..., description=)``, here or in a parent view."""
        node: Any = self
        while node is not None:
            described = node.__dict__.get("_property_descriptions") or {}
            if key in described:
                return described[key]
            node = node.__dict__.get("_parent")
        return ""
