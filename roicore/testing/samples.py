"""Sample records: small files in a native format plus the values they must read back.

A plugin's spec names a generator lazily (``samples="my_plugin.samples:make"``).
The generator writes files into the folder it is given and returns records:

* readers: :class:`Sample` (a path, reader arguments, and the ground truth);
* writers: :class:`WriterSample` (an in-memory source extractor to write);
* methods: :class:`MethodSample` (an imaging extractor, masks, and expected traces).

Ground truth is the generator's own input, never a value read back by the
reader under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImagingTruth", "SegmentationTruth", "Sample", "WriterSample", "MethodSample", "KNOWN_DAMAGES"]

# damage names a sample may declare, and what each one must do to the copy
KNOWN_DAMAGES = {"roi-outside-frame": "move one ROI pixel outside the frame (the reader must raise CorruptFileError)"}


@dataclass
class ImagingTruth:
    """What an imaging sample must read back.

    Attributes
    ----------
    series : ndarray
        The full video, ``(time, rows, columns[, planes])``, in the dtype the reader must return.
    sampling_frequency : float or None
        In Hz; None when the file stores no rate (the reader must then report None).
    timestamps : ndarray, optional
        Native timestamps in seconds, when the format stores them.
    """

    series: np.ndarray
    sampling_frequency: float | None
    timestamps: np.ndarray | None = None

    @property
    def volumetric(self) -> bool:
        return self.series.ndim == 4


@dataclass
class SegmentationTruth:
    """What a segmentation sample must read back.

    Attributes
    ----------
    roi_ids : list
        In the order the reader must report them.
    image_masks : ndarray
        ``(rows, columns, n_rois)`` float weights; ``(rows, columns, planes,
        n_rois)`` for a volumetric segmentation (images are then
        ``(rows, columns, planes)``).
    traces : dict of str to ndarray
        Trace name -> ``(time, n_rois)``; exactly the names that must exist (besides "background").
    sampling_frequency : float or None
        None when the sample stores no rate.
    num_samples : int
    images : dict of str to ndarray
        Summary images by name; exactly the names that must exist.
    background_ids : list
    background_masks : ndarray, optional
        ``(rows, columns, n_background)``.
    background_traces : ndarray, optional
        ``(time, n_background)``.
    properties : dict of str to ndarray
        Per-ROI properties that must exist with these values (e.g. ``"is_accepted"``).
    absent_properties : tuple of str
        Properties that must *not* exist (e.g. ``"is_accepted"`` of an unevaluated file).
    rtol : float
        Relative tolerance for float comparisons (formats that store float32 use ~1e-6).
    """

    roi_ids: list[Any]
    image_masks: np.ndarray
    traces: dict[str, np.ndarray]
    sampling_frequency: float | None
    num_samples: int
    images: dict[str, np.ndarray] = field(default_factory=dict)
    background_ids: list[Any] = field(default_factory=list)
    background_masks: np.ndarray | None = None
    background_traces: np.ndarray | None = None
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    absent_properties: tuple[str, ...] = ()
    rtol: float = 1e-6

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(self.image_masks.shape[:2])  # type: ignore[return-value]

    @property
    def mask_shape(self) -> tuple[int, ...]:
        """The frame, or ``(rows, columns, planes)`` when volumetric."""
        return tuple(self.image_masks.shape[:-1])

    @property
    def is_volumetric(self) -> bool:
        return self.image_masks.ndim == 4


@dataclass
class Sample:
    """A reader sample: files in the native format and their ground truth.

    Attributes
    ----------
    id : str
        Stable, unique within the reader, used in test ids (``"uint16-tyx"``).
    path : Path
        The file or folder to open.
    truth : ImagingTruth or SegmentationTruth
    reader_kwargs : dict
        Arguments the reader needs (``{"channel": 1}``); empty for self-describing files.
    detectable : bool
        Whether ``roicore.open(path)`` must find the reader without ``reader=``.
        Headerless files read only with an explicit structure set this to False.
    files : tuple of Path
        Every file that belongs to the sample (data, sidecars); defaults to ``(path,)``.
        The kit damages and deletes each of them in turn (``io.corrupt.companions``),
        so list every companion file, and for a folder sample the folder itself.
    damages : dict of str to callable
        Format-aware damage the kit cannot make by itself, by name. Each function
        takes the main path of a *copy* of the sample (all its files copied) and
        damages it in place; opening and reading the copy must then raise
        ``CorruptFileError``. The kit knows ``"roi-outside-frame"`` (move one ROI
        pixel outside the frame; checked by ``segmentation.masks.outside_frame``).
    """

    id: str
    path: Path
    truth: ImagingTruth | SegmentationTruth
    reader_kwargs: dict[str, Any] = field(default_factory=dict)
    detectable: bool = True
    files: tuple[Path, ...] = ()
    damages: dict[str, Callable[[Path], None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.files = tuple(Path(f) for f in self.files) or (self.path,)
        unknown = sorted(set(self.damages) - set(KNOWN_DAMAGES))
        if unknown:
            raise ValueError(f"sample {self.id!r}: unknown damages {unknown}; known: {list(KNOWN_DAMAGES)}")


@dataclass
class WriterSample:
    """A writer sample: an in-memory extractor to write, and the file name to write it to.

    Attributes
    ----------
    id : str
    source : ImagingExtractor or SegmentationExtractor
        What to write; the ground truth is what it returns.
    filename : str
        A target name inside the check's folder (its suffix may matter to the writer).
    options : dict
        Writer options.
    reader_kwargs : dict
        What the reader needs to read the output back.
    """

    id: str
    source: Any
    filename: str
    options: dict[str, Any] = field(default_factory=dict)
    reader_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodSample:
    """A signal-extraction sample.

    Attributes
    ----------
    id : str
    imaging : ImagingExtractor
    masks : RoiMasks
    roi_ids : list
    expected_traces : ndarray, optional
        ``(time, n_rois)`` reference computed independently of the method, with ``rtol``.
    options : dict
        Method options for this sample.
    rtol : float
    """

    id: str
    imaging: Any
    masks: Any
    roi_ids: list[Any]
    expected_traces: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-5
