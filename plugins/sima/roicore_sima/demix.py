"""Removing a second channel's crosstalk from the signal traces, in trace space.

Method: per-ROI least-squares regression. For each ROI, the signal-channel
trace ``s`` is regressed on the same ROI's trace ``d`` in the demix channel
(the same weights applied to the second video), with an intercept::

    beta = cov(s, d) / var(d)
    demixed = s - beta * (d - mean(d))

The part of ``s`` that follows the demix channel linearly (bleed-through of a
structural channel, shared brightness changes from motion or focus drift) is
removed; the baseline level of ``s`` is kept, so ``demixed_raw`` stays in the
units of ``raw``. ``beta`` is stored per ROI as the property
``demix_coefficient``.

Assumption: the activity signal is uncorrelated with the demix channel over
the recording (true for a structural channel such as tdTomato or a static
anatomical label). Only frames where both traces are finite enter the fit; a
ROI whose demix trace is constant (or has fewer than two such frames) gets
``beta = 0``.

SIMA's own "demixing" is not reproduced: it ran ICA on the two channels'
*time-averaged images* and added the resulting *static* image to every dF/F
frame, so its ``demixed_raw`` was ``raw`` plus a per-ROI constant.
"""

from __future__ import annotations

import numpy as np

__all__ = ["demix_traces"]

#: ROIs per block, to bound the float64 temporaries on long recordings
_BLOCK = 64


def demix_traces(signal: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regress each ROI's reference trace out of its signal trace.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(time, rois)`` signal-channel traces.
    reference : numpy.ndarray
        ``(time, rois)`` traces of the same ROIs in the demix channel.

    Returns
    -------
    demixed : numpy.ndarray
        ``(time, rois)`` float32; NaN where either input is NaN.
    coefficients : numpy.ndarray
        ``beta`` per ROI, float64 (0 where it cannot be estimated).

    Raises
    ------
    ValueError
        The two arrays differ in shape.
    """
    if signal.shape != reference.shape:
        raise ValueError(f"signal traces {signal.shape} and reference traces {reference.shape} differ in shape")
    samples, rois = signal.shape
    demixed = np.empty((samples, rois), dtype=np.float32)
    coefficients = np.zeros(rois, dtype=np.float64)
    for start in range(0, rois, _BLOCK):
        stop = min(rois, start + _BLOCK)
        s = signal[:, start:stop].astype(np.float64)
        d = reference[:, start:stop].astype(np.float64)
        valid = np.isfinite(s) & np.isfinite(d)
        count = valid.sum(axis=0)
        safe = np.maximum(count, 1)
        s0 = np.where(valid, s, 0.0)
        d0 = np.where(valid, d, 0.0)
        mean_s = s0.sum(axis=0) / safe
        mean_d = d0.sum(axis=0) / safe
        ds = np.where(valid, d - mean_d, 0.0)
        ss = np.where(valid, s - mean_s, 0.0)
        variance = (ds * ds).sum(axis=0)
        covariance = (ds * ss).sum(axis=0)
        scale = np.maximum(np.abs(d0).max(axis=0, initial=0.0), 1e-300)
        usable = (count >= 2) & (variance > (1e-12 * scale) ** 2 * np.maximum(count, 1))
        beta = np.where(usable, covariance / np.where(usable, variance, 1.0), 0.0)
        coefficients[start:stop] = beta
        demixed[:, start:stop] = s - beta * (d - mean_d)
    return demixed, coefficients
