"""The result of a ``sima`` extraction: an in-memory segmentation extractor plus provenance.

:class:`ExtractionResult` is a :class:`roicore.memory.NumpySegmentationExtractor`,
so everything that accepts a segmentation accepts it (``roicore.write(result,
path, format=...)`` writes it without pickling anything). It adds:

``provenance``
    A dict: ``method`` ("sima"), ``plugin`` and ``version``, ``options`` (every
    option as resolved, e.g. the chunk size and worker count actually used),
    ``label``, ``time`` (ISO 8601, UTC, when the extraction finished),
    ``timestamp`` (the same instant in SIMA's ``%Y-%m-%d-%Hh%Mm%Ss`` format,
    local time), ``duration_s``, ``num_samples``, ``frame_shape``, ``dtype``
    and ``imaging`` (the input's repr).
``label``
    The ``label`` option, or the SIMA-style timestamp when none was given.
``overlap``
    :class:`roicore_sima.overlap.OverlapInfo`: the pixels shared by two or
    more input masks, and per ROI how many of its pixels were shared.
``input_masks``
    The masks as given (the result's own masks are the weights as used).

Traces: ``"raw"`` and, with a demix channel, ``"demixed_raw"`` (float32).
Images: ``"mean"`` (float64; NaN where a pixel was never finite; absent
with ``mean_image=False``). Properties:
``num_pixels`` (pixels used), ``num_overlap_pixels`` (pixels shared with
another ROI, removed when ``remove_overlap=True``), ``is_empty`` (no pixel
used: all-NaN trace) and, when demixing, ``demix_coefficient``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from roicore.memory import NumpySegmentationExtractor

__all__ = ["ExtractionResult", "SIMA_TIMESTAMP_FORMAT"]

#: SIMA's timestamp format (``datetime.strftime``)
SIMA_TIMESTAMP_FORMAT = "%Y-%m-%d-%Hh%Mm%Ss"


class ExtractionResult(NumpySegmentationExtractor):
    """Masks as used, traces, mean image, properties and provenance of one extraction.

    Parameters
    ----------
    roi_masks : roicore.RoiMasks
        The weights as used (after overlap removal and normalisation).
    sampling_frequency : float
        The video's rate in Hz.
    traces : dict of str to numpy.ndarray
        ``"raw"`` and optionally ``"demixed_raw"``, each ``(time, rois)``.
    roi_ids : list
    images : dict of str to numpy.ndarray
        ``{"mean": (rows, columns)}``.
    properties : dict of str to numpy.ndarray
    timestamps : numpy.ndarray, optional
        The video's timestamps when it has a time vector.
    provenance : dict
        See the module docstring.
    overlap : OverlapInfo
    input_masks : roicore.RoiMasks
        The masks as given to the method.
    """

    def __init__(
        self,
        roi_masks: Any,
        sampling_frequency: float,
        *,
        traces: Mapping[str, np.ndarray],
        roi_ids: list[Any],
        images: Mapping[str, np.ndarray],
        properties: Mapping[str, np.ndarray],
        timestamps: np.ndarray | None,
        provenance: Mapping[str, Any],
        overlap: Any,
        input_masks: Any,
        num_samples: int | None = None,
    ) -> None:
        super().__init__(
            roi_masks,
            sampling_frequency,
            traces=traces,
            roi_ids=roi_ids,
            images=images,
            properties=properties,
            timestamps=timestamps,
            num_samples=num_samples,
        )
        self._provenance = copy.deepcopy(dict(provenance))
        self.overlap = overlap
        self.input_masks = input_masks

    @property
    def provenance(self) -> dict[str, Any]:
        """A copy of the provenance record (method, options, label, time, ...)."""
        return copy.deepcopy(self._provenance)

    @property
    def label(self) -> str:
        """The extraction's label (SIMA's ``label``)."""
        return str(self._provenance["label"])

    def _describe(self) -> str:
        return f"{super()._describe()}; method sima, label {self.label!r}"

    def to_sima_dict(self) -> dict[str, Any]:
        """The result in the layout of SIMA's ``ImagingDataset.extract`` return value.

        Keys, as SIMA has them: ``raw`` (a list with one ``(rois, frames)``
        array: SIMA keeps one per sequence and roicore has one sequence),
        ``demixed_raw`` (only when a demix channel was used), ``mean_frame``
        (``(planes, rows, columns)``; None with ``mean_image=False``), ``overlap`` (only with
        ``remove_overlap=True``; SIMA's ``(zeros, flat pixel indices)``),
        ``signal_channel`` (0), ``demix_channel`` (1, only when used: roicore
        takes one extractor per channel, counted as channels 0 and 1),
        ``rois`` (one dict per ROI with SIMA's ``ROI.todict()`` keys: ``mask``
        (a list of one ``(rows, columns)`` scipy sparse matrix of the input
        weights), ``polygons`` (None: masks carry no polygons), ``id``,
        ``label``, ``tags``, ``im_shape``) and ``timestamp``.

        Returns
        -------
        dict
            New arrays; nothing is shared with the result.
        """
        from scipy import sparse

        names = self.get_trace_names()
        rows, cols = self.get_frame_shape()
        signals: dict[str, Any] = {"raw": [self.get_traces(name="raw").T.copy()]}
        if "demixed_raw" in names:
            signals["demixed_raw"] = [self.get_traces(name="demixed_raw").T.copy()]
        images = self.get_images_dict()
        signals["mean_frame"] = images["mean"][None, :, :] if "mean" in images else None
        if self.overlap.removed:
            signals["overlap"] = self.overlap.to_sima()
        signals["signal_channel"] = 0
        if "demixed_raw" in names:
            signals["demix_channel"] = 1
        matrix = self.input_masks.matrix.tocsc()
        rois = []
        for position, roi_id in enumerate(self.get_roi_ids()):
            column = matrix[:, position]
            pixel = column.indices
            mask = sparse.lil_matrix(
                sparse.csr_matrix((column.data, (pixel // cols, pixel % cols)), shape=(rows, cols))
            )
            rois.append(
                {
                    "mask": [mask],
                    "polygons": None,
                    "id": roi_id,
                    "label": None,
                    "tags": set(),
                    "im_shape": (1, rows, cols),
                }
            )
        signals["rois"] = rois
        signals["timestamp"] = self._provenance["timestamp"]
        return signals
