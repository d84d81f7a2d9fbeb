"""Conformance samples of the ``sima`` method: small movies with known footprints.

Every movie is generated from known ROI traces (calcium-like transients on a
baseline) painted into known footprints plus noise; the expected traces come
from :mod:`roicore_sima.reference`, a dense float64 numpy reference that
shares no code with the implementation. Frames are asymmetric
(rows != columns) so a transposed read is caught.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_samples", "synthetic_movie", "disk_masks", "SyntheticMovie", "make_movie"]


def disk_masks(
    shape: tuple[int, int], centres: list[tuple[int, int]], radius: float, *, weighted: bool = False, sigma: float = 2.0
) -> np.ndarray:
    """``(rows, columns, n)`` disk masks, boolean or Gaussian-weighted (peak 1)."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    masks = np.zeros((rows, cols, len(centres)), dtype=np.float64 if weighted else bool)
    for i, (cy, cx) in enumerate(centres):
        distance2 = (yy - cy) ** 2 + (xx - cx) ** 2
        inside = distance2 <= radius**2
        if weighted:
            masks[..., i] = np.where(inside, np.exp(-distance2 / (2 * sigma**2)), 0.0)
        else:
            masks[..., i] = inside
    return masks


def synthetic_movie(
    rng: np.random.Generator,
    masks: np.ndarray,
    frames: int,
    *,
    baseline: float = 1000.0,
    amplitude: float = 400.0,
    noise: float = 5.0,
    dtype: Any = np.uint16,
) -> tuple[np.ndarray, np.ndarray]:
    """A movie ``(frames, rows, columns)`` made of known traces in known footprints.

    Returns
    -------
    video : numpy.ndarray
    traces : numpy.ndarray
        ``(frames, n)`` the true ROI activity (added on top of ``baseline``).
    """
    rows, cols, count = masks.shape
    spikes = rng.random((frames, count)) < 0.08
    kernel = np.exp(-np.arange(20) / 5.0)
    traces = np.stack([np.convolve(spikes[:, i], kernel)[:frames] for i in range(count)], axis=1) * amplitude
    footprints = np.asarray(masks, dtype=np.float64).reshape(rows * cols, count)
    peak = footprints.max(axis=0)
    footprints = footprints / np.where(peak > 0, peak, 1.0)
    video = baseline + traces @ footprints.T + rng.normal(0.0, noise, (frames, rows * cols))
    video = video.reshape(frames, rows, cols)
    if np.dtype(dtype).kind in "iu":
        video = np.clip(np.rint(video), 0, np.iinfo(dtype).max)
    return video.astype(dtype), traces


class SyntheticMovie:
    """A synthetic movie, its masks and the truth it was made from (for tests and examples).

    Attributes
    ----------
    video : numpy.ndarray
        ``(frames, rows, columns)``.
    masks : numpy.ndarray
        ``(rows, columns, rois)`` image masks.
    truth : numpy.ndarray
        ``(frames, rois)`` activity painted into the footprints.
    """

    def __init__(self, video: np.ndarray, masks: np.ndarray, truth: np.ndarray) -> None:
        self.video = video
        self.masks = masks
        self.truth = truth

    def imaging(self, rate: float = 20.0) -> Any:
        """The video as a :class:`roicore.memory.NumpyImagingExtractor`."""
        from roicore.memory import NumpyImagingExtractor

        return NumpyImagingExtractor(self.video, rate)


def make_movie(
    *,
    frames: int = 48,
    weighted: bool = False,
    overlapping: bool = True,
    dtype: Any = np.uint16,
    nan_border: bool = False,
    seed: int = 1,
    scale: float = 1.0,
) -> SyntheticMovie:
    """Six disk ROIs on a 26 x 33 frame (rows != columns), four of them in two overlapping pairs.

    Parameters
    ----------
    frames : int
    weighted : bool
        Gaussian-weighted masks (peak ``scale``) instead of boolean ones.
    overlapping : bool
        Place two pairs of ROIs so that they share pixels.
    dtype : numpy dtype
        Of the video.
    nan_border : bool
        Make the video float32 with unimaged pixels: a 3-column border never
        imaged, a 4-row border every 5th frame, and frame 7 entirely.
    seed : int
    scale : float
        Peak weight of weighted masks.
    """
    rng = np.random.default_rng(seed)
    if overlapping:
        centres = [(6, 6), (8, 11), (18, 24), (20, 28), (5, 27), (19, 8)]
    else:
        centres = [(6, 6), (6, 17), (18, 24), (19, 8), (5, 27), (13, 15)]
    masks = disk_masks((26, 33), centres, 3.6, weighted=weighted)
    if weighted:
        masks = masks * scale
    video, truth = synthetic_movie(rng, masks, frames, dtype=dtype)
    if nan_border:
        video = video.astype(np.float32) if video.dtype.kind != "f" else video
        video[:, :, :3] = np.nan
        video[::5, :4, :] = np.nan
        video[7, :, :] = np.nan
    return SyntheticMovie(video, masks, truth)


def make_samples(folder: Path) -> list[Any]:
    """Method samples for the roicore conformance kit (nothing is written to ``folder``)."""
    from roicore.memory import NumpyImagingExtractor
    from roicore.segmentation import RoiMasks
    from roicore.testing.samples import MethodSample
    from roicore_sima.reference import reference_traces

    rng = np.random.default_rng(20240611)
    shape = (24, 31)
    samples = []

    def add(sample_id: str, video: np.ndarray, masks: np.ndarray, ids: list[Any], **options: Any) -> None:
        expected = reference_traces(
            video,
            masks,
            remove_overlap=options.get("remove_overlap", True),
            sima_compat=options.get("sima_compat", False),
        )
        samples.append(
            MethodSample(
                id=sample_id,
                imaging=NumpyImagingExtractor(video, 30.0),
                masks=RoiMasks.from_image_masks(masks),
                roi_ids=ids,
                expected_traces=expected,
                options=options,
                rtol=1e-5,
            )
        )

    disjoint = disk_masks(shape, [(5, 6), (6, 20), (15, 10), (17, 25), (12, 16)], 3.2)
    video, _ = synthetic_movie(rng, disjoint, 40)
    add("uint16-boolean-disjoint", video, disjoint, [10, 11, 12, 13, 14], n_workers=2)

    overlapping = disk_masks(shape, [(8, 8), (10, 12), (16, 22), (17, 26), (4, 26)], 4.0, weighted=True)
    video, _ = synthetic_movie(rng, overlapping, 36, dtype=np.float32)
    video[:, :, :2] = np.nan  # an unimaged border, as motion correction leaves it
    video[5, 6:12, :] = np.nan
    add("float32-weighted-overlap-removed-nan", video, overlapping, ["a", "b", "c", "d", "e"])

    video, _ = synthetic_movie(rng, overlapping, 30)
    add("uint16-weighted-least-squares", video, overlapping, ["a", "b", "c", "d", "e"], remove_overlap=False)

    mixed = disk_masks(shape, [(6, 7), (15, 20), (18, 8)], 3.5, weighted=True) * 3.0
    mixed[..., 1] = mixed[..., 1] > 0  # one boolean mask among weighted ones
    video, _ = synthetic_movie(rng, mixed, 32)
    add("uint16-sima-compat", video, mixed, [1, 2, 3], sima_compat=True)
    return samples
