"""SIMA compatibility: SIMA's documented expected values and its result dict."""

from __future__ import annotations

import re

import numpy as np
import pytest
from roicore_sima.reference import reference_traces
from roicore_sima.samples import make_movie
from scipy import sparse

import roicore
from roicore.memory import NumpyImagingExtractor


def test_constant_data_give_one():
    """SIMA's Test_ConstantData: a region of value 1000 extracts to 1.0 (each pixel over its own average)."""
    video = np.full((10, 8, 12), 1000, dtype=np.uint16)
    masks = np.zeros((8, 12, 2), dtype=bool)
    masks[1:5, 1:6, 0] = True
    masks[4:7, 5:10, 1] = True
    for remove in (True, False):
        result = roicore.extract(
            NumpyImagingExtractor(video, 1.0), masks, method="sima", sima_compat=True, remove_overlap=remove
        )
        np.testing.assert_allclose(result.get_traces(), 1.0, rtol=1e-6)
    default = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima")
    np.testing.assert_allclose(default.get_traces(), 1000.0, rtol=1e-6)


def test_weights_summing_to_three_give_three():
    """SIMA's test_non_boolean_mask: weighted masks are not normalised."""
    video = np.full((6, 5, 7), 250.0, dtype=np.float32)
    masks = np.zeros((5, 7, 1))
    masks[1, 1, 0], masks[2, 3, 0], masks[3, 5, 0] = 0.5, 1.5, 1.0
    compat = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima", sima_compat=True)
    np.testing.assert_allclose(compat.get_traces(), 3.0, rtol=1e-6)
    default = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima")
    np.testing.assert_allclose(default.get_traces(), 250.0, rtol=1e-6)


def test_compat_divides_each_pixel_by_its_own_time_average():
    rng = np.random.default_rng(5)
    video = rng.uniform(100, 1000, (20, 4, 5))
    masks = np.zeros((4, 5, 1), dtype=bool)
    masks[1:3, 1:4, 0] = True
    result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima", sima_compat=True)
    pixels = video[:, 1:3, 1:4].reshape(20, -1)
    np.testing.assert_allclose(result.get_traces()[:, 0], (pixels / pixels.mean(axis=0)).mean(axis=1), rtol=1e-5)


def test_compat_treats_zero_average_pixels_as_never_imaged():
    video = np.full((4, 3, 4), 50.0)
    video[:, 1, 1] = 0.0  # dead pixel: SIMA's dF/F is not finite there
    masks = np.zeros((3, 4, 1), dtype=bool)
    masks[0:2, 0:3, 0] = True
    result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima", sima_compat=True)
    np.testing.assert_allclose(result.get_traces(), 1.0)
    expected = reference_traces(video, masks, sima_compat=True)
    np.testing.assert_allclose(result.get_traces(), expected)


def test_compat_with_overlap_kept_uses_simas_model():
    movie = make_movie(nan_border=True, weighted=True, scale=2.0)
    result = roicore.extract(movie.imaging(), movie.masks, method="sima", sima_compat=True, remove_overlap=False)
    expected = reference_traces(movie.video, movie.masks, remove_overlap=False, sima_compat=True)
    np.testing.assert_allclose(result.get_traces(), expected, rtol=1e-5, equal_nan=True)


def test_to_sima_dict_has_simas_keys():
    movie = make_movie()
    other = make_movie(seed=9)
    result = roicore.extract(movie.imaging(), movie.masks, method="sima", label="session-1")
    sima = result.to_sima_dict()
    assert set(sima) == {"raw", "mean_frame", "overlap", "signal_channel", "rois", "timestamp"}
    assert len(sima["raw"]) == 1 and sima["raw"][0].shape == (6, 48)
    np.testing.assert_array_equal(sima["raw"][0], result.get_traces().T)
    assert sima["mean_frame"].shape == (1, 26, 33)
    assert sima["signal_channel"] == 0
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}h\d{2}m\d{2}s", sima["timestamp"])
    roi = sima["rois"][2]
    assert set(roi) == {"mask", "polygons", "id", "label", "tags", "im_shape"}
    assert roi["id"] == 2 and roi["im_shape"] == (1, 26, 33)
    assert sparse.issparse(roi["mask"][0])
    np.testing.assert_array_equal(roi["mask"][0].toarray() != 0, movie.masks[..., 2])

    demixed = roicore.extract(
        movie.imaging(), movie.masks, method="sima", demix_channel=other.imaging(), remove_overlap=False
    ).to_sima_dict()
    assert set(demixed) == {"raw", "demixed_raw", "mean_frame", "signal_channel", "demix_channel", "rois", "timestamp"}
    assert demixed["demix_channel"] == 1


def test_label_defaults_to_the_sima_timestamp():
    movie = make_movie(frames=5)
    result = roicore.extract(movie.imaging(), movie.masks, method="sima")
    assert result.label == result.provenance["timestamp"]
    named = roicore.extract(movie.imaging(), movie.masks, method="sima", label="baseline")
    assert named.label == "baseline" and named.provenance["options"]["label"] == "baseline"
    with pytest.raises(TypeError, match="label"):
        roicore.extract(movie.imaging(), movie.masks, method="sima", label=3)
