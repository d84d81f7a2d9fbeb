"""``roicore.extract``: normalise ROIs and dispatch to a signal-extraction method plugin."""

from __future__ import annotations

from typing import Any

__all__ = ["extract", "as_roi_masks"]


def as_roi_masks(rois: Any, frame_shape: tuple[int, int]) -> tuple[Any, list[Any]]:
    """Turn any accepted ROI form into ``(RoiMasks, roi_ids)``.

    Parameters
    ----------
    rois : SegmentationExtractor, RoiMasks, scipy sparse matrix, ndarray or list
        A segmentation (its masks and ids are used); a :class:`~roicore.RoiMasks`; a
        sparse ``(pixels in C order, n_rois)`` matrix; image masks
        ``(rows, columns, n_rois)``; or pixel masks, a list of ``(k, 3)``
        arrays ``[row, column, weight]``.
    frame_shape : (int, int)
        The video's ``(rows, columns)``; the masks must match it.

    Raises
    ------
    ValueError
        The masks do not fit the frame, or the form is not recognised.
    """
    import numpy as np

    from roicore.segmentation import RoiMasks, SegmentationExtractor

    frame_shape = tuple(int(n) for n in frame_shape)  # type: ignore[assignment]
    if isinstance(rois, SegmentationExtractor):
        masks, ids = rois.get_roi_masks(), list(rois.get_roi_ids())
    elif isinstance(rois, RoiMasks):
        masks, ids = rois, list(range(rois.num_rois))
    elif hasattr(rois, "tocsc") and hasattr(rois, "nnz"):  # a scipy sparse matrix or array
        masks = RoiMasks(rois, frame_shape)
        ids = list(range(masks.num_rois))
    elif isinstance(rois, np.ndarray) and rois.ndim == 3:
        masks = RoiMasks.from_image_masks(rois)
        ids = list(range(masks.num_rois))
    elif isinstance(rois, (list, tuple)):
        masks = RoiMasks.from_pixel_masks(list(rois), frame_shape)
        ids = list(range(masks.num_rois))
    else:
        raise ValueError(
            "rois must be a SegmentationExtractor, a RoiMasks, a sparse matrix (pixels x ROIs), "
            f"image masks (rows, columns, n) or a list of pixel masks, not {type(rois).__name__}"
        )
    if tuple(masks.frame_shape) != frame_shape:
        raise ValueError(f"the ROI masks are for frames of shape {tuple(masks.frame_shape)}, the video's are {frame_shape}")
    return masks, ids


def extract(imaging: Any, rois: Any, method: str = "sima", **options: Any) -> Any:
    """Extract one fluorescence trace per ROI from an imaging video.

    Parameters
    ----------
    imaging : ImagingExtractor
        The video.
    rois : SegmentationExtractor, RoiMasks, sparse matrix, image masks or pixel masks
        See :func:`~roicore.extraction.as_roi_masks`.
    method : str
        A method id registered by a plugin (``roicore plugins`` lists them).
    **options
        Passed to the method (e.g. ``remove_overlap``, ``n_workers``, ``chunk_size``).

    Returns
    -------
    SegmentationExtractor
        The masks as used, the traces, the mean image and provenance.

    Raises
    ------
    ValueError
        Unknown method, or masks that do not fit the video.
    """
    from roicore.imaging import ImagingExtractor
    from roicore.registry.discovery import get_registry

    if not isinstance(imaging, ImagingExtractor):
        raise TypeError(f"imaging must be an ImagingExtractor, not {type(imaging).__name__}")
    try:
        contribution = get_registry().lookup("method", method)
    except KeyError as exc:
        raise ValueError(f"unknown extraction method {method!r}: {exc.args[0]}") from None
    masks, roi_ids = as_roi_masks(rois, imaging.get_image_shape())
    function = contribution.spec.load_method()
    result = function(imaging, masks, roi_ids=roi_ids, **options)
    # messages about the result (e.g. an unknown rate) then name the video it came from
    result.derived_from = imaging._source_name()
    return result
