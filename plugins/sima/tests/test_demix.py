"""Demixing a second channel's crosstalk in trace space, on data with known crosstalk."""

from __future__ import annotations

import numpy as np
import pytest
from roicore_sima.demix import demix_traces
from roicore_sima.samples import disk_masks

import roicore
from roicore.memory import NumpyImagingExtractor


def _two_channels(seed: int = 0, frames: int = 3000):
    """Signal channel = activity + crosstalk * structural drift; demix channel = the structural signal."""
    rng = np.random.default_rng(seed)
    shape = (30, 40)
    masks = disk_masks(shape, [(7, 8), (8, 28), (21, 12), (22, 31)], 4.0)
    count = masks.shape[2]
    spikes = rng.random((frames, count)) < 0.03
    kernel = np.exp(-np.arange(40) / 8.0)
    activity = np.stack([np.convolve(spikes[:, i], kernel)[:frames] for i in range(count)], axis=1) * 300.0
    t = np.arange(frames)
    # structural signal: slow drift plus motion-like wobble, different per ROI
    structural = (
        800 + 150 * np.sin(2 * np.pi * t[:, None] / rng.uniform(30, 70, count)) + rng.normal(0, 40, (frames, count))
    )
    crosstalk = np.array([0.4, 0.8, 0.2, 0.6])
    footprints = masks.reshape(-1, count).astype(np.float64)
    signal = 500 + (activity + crosstalk * structural) @ footprints.T + rng.normal(0, 2, (frames, footprints.shape[0]))
    red = (structural @ footprints.T) + 100 + rng.normal(0, 2, (frames, footprints.shape[0]))

    def as_video(values: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(values), 0, 65535).astype(np.uint16).reshape(frames, *shape)

    return as_video(signal), as_video(red), masks, activity, crosstalk


def test_demixed_trace_correlates_with_the_true_signal():
    signal, red, masks, activity, crosstalk = _two_channels()
    result = roicore.extract(
        NumpyImagingExtractor(signal, 30.0), masks, method="sima", demix_channel=NumpyImagingExtractor(red, 30.0)
    )
    assert result.get_trace_names() == ["raw", "demixed_raw"]
    raw = result.get_traces(name="raw")
    demixed = result.get_traces(name="demixed_raw")
    for r in range(masks.shape[2]):
        before = np.corrcoef(raw[:, r], activity[:, r])[0, 1]
        after = np.corrcoef(demixed[:, r], activity[:, r])[0, 1]
        assert after > 0.99, (r, before, after)
        assert after > before
    # the estimate is the true crosstalk up to the chance correlation of activity and drift over the recording
    np.testing.assert_allclose(result.get_property("demix_coefficient"), crosstalk, atol=0.08)
    # the baseline (units of raw) is kept
    np.testing.assert_allclose(demixed.mean(axis=0), raw.mean(axis=0), rtol=1e-4)


def test_demix_channel_must_match_the_signal_channel():
    signal, red, masks, *_ = _two_channels(frames=50)
    with pytest.raises(ValueError, match="same frame shape and length"):
        roicore.extract(
            NumpyImagingExtractor(signal, 30.0),
            masks,
            method="sima",
            demix_channel=NumpyImagingExtractor(red[:40], 30.0),
        )
    with pytest.raises(TypeError, match="ImagingExtractor"):
        roicore.extract(NumpyImagingExtractor(signal, 30.0), masks, method="sima", demix_channel=red)


def test_demix_regression_handles_nan_and_constant_references():
    signal = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, np.nan], [4.0, 5.0]], dtype=np.float32)
    reference = np.array([[2.0, 1.0], [4.0, 1.0], [6.0, 1.0], [np.nan, 1.0]], dtype=np.float32)
    demixed, beta = demix_traces(signal, reference)
    assert beta[0] == pytest.approx(0.5) and beta[1] == 0.0
    np.testing.assert_allclose(demixed[:3, 0], 2.0)  # s - 0.5 (d - 4) = 2 for the fitted frames
    assert np.isnan(demixed[3, 0]) and np.isnan(demixed[2, 1])
    np.testing.assert_array_equal(demixed[[0, 1, 3], 1], 5.0)
    with pytest.raises(ValueError, match="differ in shape"):
        demix_traces(signal, reference[:2])
