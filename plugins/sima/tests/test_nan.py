"""Unimaged (NaN or inf) pixels: weights rescaled per frame over the finite pixels."""

from __future__ import annotations

import numpy as np
import pytest
from roicore_sima.reference import reference_mean, reference_traces
from roicore_sima.samples import make_movie

import roicore
from roicore.memory import NumpyImagingExtractor


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("remove_overlap", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_nan_borders_match_the_reference(remove_overlap, weighted, workers):
    movie = make_movie(nan_border=True, weighted=weighted)
    result = roicore.extract(
        movie.imaging(), movie.masks, method="sima", remove_overlap=remove_overlap, chunk_size=4, n_workers=workers
    )
    expected = reference_traces(movie.video, movie.masks, remove_overlap=remove_overlap)
    traces = result.get_traces()
    np.testing.assert_array_equal(np.isnan(traces), np.isnan(expected))
    np.testing.assert_allclose(traces, expected, rtol=1e-5, equal_nan=True)
    # frame 7 has no imaged pixel: every ROI is NaN there, and only there for ROIs off the borders
    assert np.isnan(traces[7]).all()
    np.testing.assert_allclose(result.get_image("mean"), reference_mean(movie.video), rtol=1e-6, equal_nan=True)


def test_boolean_roi_is_the_mean_of_its_imaged_pixels():
    masks = np.zeros((4, 6, 1), dtype=bool)
    masks[1:3, 1:5, 0] = True  # 8 pixels
    video = np.arange(3 * 4 * 6, dtype=np.float32).reshape(3, 4, 6)
    video[1, 1, 1:3] = np.nan
    video[2, 1:3, 1:5] = np.nan  # the whole ROI unimaged
    result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima")
    traces = result.get_traces()[:, 0]
    assert traces[0] == pytest.approx(video[0, 1:3, 1:5].mean())
    assert traces[1] == pytest.approx(np.nanmean(video[1, 1:3, 1:5]))
    assert np.isnan(traces[2])


def test_infinite_pixels_count_as_unimaged():
    masks = np.zeros((4, 6, 1), dtype=bool)
    masks[1:3, 1:5, 0] = True
    video = np.full((2, 4, 6), 7.0)
    video[0, 1, 1] = np.inf
    video[1, 2, 2] = -np.inf
    result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima")
    np.testing.assert_allclose(result.get_traces()[:, 0], 7.0)
    np.testing.assert_allclose(result.get_image("mean")[1, 1], 7.0)


def test_nan_outside_every_roi_changes_no_trace_and_only_the_mean_image():
    movie = make_movie(dtype=np.float32)
    clean = roicore.extract(movie.imaging(), movie.masks, method="sima")
    dirty_video = movie.video.copy()
    outside = movie.masks.sum(axis=2) == 0
    dirty_video[3][outside] = np.nan
    dirty = roicore.extract(NumpyImagingExtractor(dirty_video, 20.0), movie.masks, method="sima")
    np.testing.assert_array_equal(dirty.get_traces(), clean.get_traces())
    np.testing.assert_allclose(dirty.get_image("mean"), reference_mean(dirty_video), rtol=1e-6)


def test_a_pixel_never_imaged_has_a_nan_mean():
    video = np.ones((5, 3, 4), dtype=np.float64)
    video[:, 0, 0] = np.nan
    masks = np.ones((3, 4, 1), dtype=bool)
    result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima")
    mean = result.get_image("mean")
    assert np.isnan(mean[0, 0]) and np.all(mean.ravel()[1:] == 1.0)
    np.testing.assert_allclose(result.get_traces(), 1.0, rtol=1e-6)
