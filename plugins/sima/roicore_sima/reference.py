"""A float64 reference of the ``sima`` method's semantics, written directly in dense numpy.

It shares no code with the streaming implementation: dense masks, one frame
and one ROI (or one least-squares problem) at a time, float64 throughout,
SIMA's global pseudo-inverse model written the way SIMA wrote it. It is slow
and meant for small movies: the conformance samples' expected traces and the
plugin's tests compare the implementation against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reference_weights", "reference_traces", "reference_mean", "reference_demix"]


def reference_weights(image_masks: np.ndarray, *, remove_overlap: bool, sima_compat: bool) -> np.ndarray:
    """Dense weights ``(rois, pixels)`` float64 as the method uses them.

    Parameters
    ----------
    image_masks : numpy.ndarray
        ``(rows, columns, rois)`` non-negative weights (True/1.0 for boolean masks).
    remove_overlap, sima_compat : bool
        As for the method.
    """
    masks = np.asarray(image_masks, dtype=np.float64)
    rows, cols, count = masks.shape
    weights = masks.reshape(rows * cols, count).T.copy()
    boolean = np.array([np.all(w[w != 0] == 1.0) and np.any(w != 0) for w in weights])
    if remove_overlap:
        shared = (weights != 0).sum(axis=0) > 1
        weights[:, shared] = 0.0
    for r in range(count):
        total = weights[r].sum()
        if total == 0:
            continue
        if sima_compat:
            if boolean[r]:
                weights[r] = (weights[r] != 0) / np.count_nonzero(weights[r])
        else:
            weights[r] = weights[r] / total
    return weights


def reference_mean(video: np.ndarray) -> np.ndarray:
    """Time average of every pixel over its finite values (NaN where there is none)."""
    frames = np.asarray(video, dtype=np.float64)
    finite = np.isfinite(frames)
    counts = finite.sum(axis=0)
    total = np.where(finite, frames, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def _weighted_mean_frame(weights: np.ndarray, frame: np.ndarray, power: int) -> np.ndarray:
    """Per ROI: ``sum_imaged(w x) * sum(w^p) / sum_imaged(w^p)``, NaN without an imaged pixel."""
    out = np.full(weights.shape[0], np.nan)
    imaged = np.isfinite(frame)
    for r, w in enumerate(weights):
        support = w != 0
        if not support.any():
            continue
        seen = support & imaged
        if not seen.any():
            continue
        total = np.sum(w[support] ** power)
        part = np.sum(w[seen] ** power)
        out[r] = np.sum(w[seen] * frame[seen]) * total / part
    return out


def _lstsq_frame(footprints: np.ndarray, support: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Least squares ``frame ~ footprints @ s`` over imaged pixels; NaN for ROIs with none."""
    out = np.full(footprints.shape[1], np.nan)
    imaged = np.isfinite(frame)
    seen = (support & imaged[:, None]).any(axis=0)
    if seen.any():
        out[seen] = np.linalg.lstsq(footprints[imaged][:, seen], frame[imaged], rcond=None)[0]
    return out


def reference_traces(
    video: np.ndarray, image_masks: np.ndarray, *, remove_overlap: bool = True, sima_compat: bool = False
) -> np.ndarray:
    """Expected ``(time, rois)`` traces of the ``sima`` method, in float64.

    Parameters
    ----------
    video : numpy.ndarray
        ``(time, rows, columns)``; NaN/inf mark unimaged pixels.
    image_masks : numpy.ndarray
        ``(rows, columns, rois)``.
    remove_overlap, sima_compat : bool
        As for the method.
    """
    frames = np.asarray(video, dtype=np.float64).reshape(video.shape[0], -1)
    frames = np.where(np.isfinite(frames), frames, np.nan)
    masks = np.asarray(image_masks, dtype=np.float64)
    weights = reference_weights(masks, remove_overlap=remove_overlap, sima_compat=sima_compat)
    count = weights.shape[0]
    support = (weights != 0).T  # (pixels, rois)
    overlapping = not remove_overlap and np.any(support.sum(axis=1) > 1)
    out = np.full((frames.shape[0], count), np.nan)
    alive = support.any(axis=0)
    if sima_compat:
        mean = reference_mean(video).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            frames = (frames - mean) / mean + 1.0  # SIMA's dF/F, plus its sum of weights
        frames = np.where(np.isfinite(frames), frames, np.nan)
        if overlapping:
            # SIMA: A = pinv of the masks on the masked pixels, weights = pinv(A_imaged) per frame
            stack = weights[alive]
            pseudo_inverse = np.linalg.pinv(stack)  # (pixels, alive rois)
            for t, frame in enumerate(frames):
                out[t, alive] = _lstsq_frame(pseudo_inverse, support[:, alive], frame)
            return out
        for t, frame in enumerate(frames):
            out[t] = _weighted_mean_frame(weights, frame, power=2)
        return out
    if not remove_overlap:
        norms = np.sum(weights * weights, axis=1)
        footprints = (weights[alive] / norms[alive, None]).T
        for t, frame in enumerate(frames):
            out[t, alive] = _lstsq_frame(footprints, support[:, alive], frame)
        return out
    for t, frame in enumerate(frames):
        out[t] = _weighted_mean_frame(weights, frame, power=1)
    return out


def reference_demix(signal: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per ROI, ``s - beta (d - mean d)`` with ``beta`` from ``numpy.polyfit`` of ``s`` on ``d``."""
    out = np.empty(signal.shape)
    for r in range(signal.shape[1]):
        s, d = signal[:, r].astype(np.float64), reference[:, r].astype(np.float64)
        ok = np.isfinite(s) & np.isfinite(d)
        beta = np.polyfit(d[ok], s[ok], 1)[0] if ok.sum() >= 2 and np.ptp(d[ok]) > 0 else 0.0
        out[:, r] = s - beta * (d - d[ok].mean())
    return out
