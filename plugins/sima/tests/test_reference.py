"""Ground truth: every option combination equals the float64 numpy reference within 1e-5 relative."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import roicore_sima.kernel as kernel_module
from roicore_sima.reference import reference_demix, reference_mean, reference_traces
from roicore_sima.samples import make_movie
from scipy import sparse

import roicore
from roicore.memory import NumpySegmentationExtractor
from roicore.segmentation import RoiMasks


def _close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5) -> None:
    """Elementwise relative agreement, NaN where the reference has NaN."""
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    scale = np.abs(expected[ok])
    error = np.abs(actual[ok].astype(np.float64) - expected[ok])
    assert np.all(error <= rtol * scale + 1e-9), f"max relative error {np.max(error / np.maximum(scale, 1e-300)):.2e}"


GRID = list(
    itertools.product(
        [True, False],  # remove_overlap
        [False, True],  # sima_compat
        [False, True],  # weighted masks
        ["uint16", "uint16-numpy-pass", "float32-nan"],  # video (uint16 through both band passes)
        [False, True],  # demix channel
    )
)


@pytest.mark.parametrize(
    "remove_overlap, sima_compat, weighted, video_kind, demix",
    GRID,
    ids=[
        "-".join(
            ["remove" if r else "keep", "compat" if c else "default", "weighted" if w else "boolean", v]
            + ["demix" if d else "nodemix"]
        )
        for r, c, w, v, d in GRID
    ],
)
def test_every_option_combination_matches_the_float64_reference(
    monkeypatch, remove_overlap, sima_compat, weighted, video_kind, demix
):
    if video_kind.endswith("-numpy-pass"):
        monkeypatch.setattr(kernel_module, "_bandpass", None)
    movie = make_movie(
        weighted=weighted, nan_border=video_kind == "float32-nan", scale=3.0 if weighted else 1.0, seed=3
    )
    other = make_movie(weighted=weighted, nan_border=video_kind == "float32-nan", seed=4)
    options = dict(remove_overlap=remove_overlap, sima_compat=sima_compat, n_workers=2, chunk_size=5)
    if demix:
        options["demix_channel"] = other.imaging()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = roicore.extract(movie.imaging(), movie.masks, method="sima", **options)
    expected = reference_traces(movie.video, movie.masks, remove_overlap=remove_overlap, sima_compat=sima_compat)
    _close(result.get_traces(name="raw"), expected)
    mean = reference_mean(movie.video)
    np.testing.assert_array_equal(np.isnan(result.get_image("mean")), np.isnan(mean))
    np.testing.assert_allclose(result.get_image("mean"), mean, rtol=1e-6)
    if demix:
        reference_other = reference_traces(
            other.video, movie.masks, remove_overlap=remove_overlap, sima_compat=sima_compat
        )
        expected_demixed = reference_demix(expected, reference_other)
        actual = result.get_traces(name="demixed_raw").astype(np.float64)
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected_demixed))
        ok = ~np.isnan(expected_demixed)
        # demixing subtracts two traces of similar size: compare relative to the signal's scale
        np.testing.assert_allclose(actual[ok], expected_demixed[ok], rtol=1e-5, atol=1e-5 * np.nanmax(np.abs(expected)))
    else:
        assert result.get_trace_names() == ["raw"]


def test_boolean_masks_give_plain_means_of_their_own_pixels(movie):
    result = roicore.extract(movie.imaging(), movie.masks, method="sima")
    shared = movie.masks.sum(axis=2) > 1
    frames = movie.video.astype(np.float64)
    for r in range(movie.masks.shape[2]):
        own = movie.masks[..., r] & ~shared
        _close(result.get_traces(name="raw")[:, r : r + 1], frames[:, own].mean(axis=1)[:, None])


def test_weighted_masks_are_normalised_to_a_weighted_mean():
    movie = make_movie(weighted=True, overlapping=False, scale=7.0)
    result = roicore.extract(movie.imaging(), movie.masks, method="sima")
    weights = movie.masks.reshape(-1, movie.masks.shape[2])
    frames = movie.video.reshape(movie.video.shape[0], -1).astype(np.float64)
    _close(result.get_traces(name="raw"), frames @ weights / weights.sum(axis=0))
    used = result.get_roi_masks().matrix
    np.testing.assert_allclose(np.asarray(used.sum(axis=0)).ravel(), 1.0)


def test_every_roi_form_gives_the_same_traces(movie):
    imaging = movie.imaging()
    masks = RoiMasks.from_image_masks(movie.masks)
    forms = {
        "image masks": movie.masks,
        "RoiMasks": masks,
        "sparse": sparse.csr_matrix(masks.matrix),
        "pixel masks": masks.to_pixel_masks(),
        "segmentation": NumpySegmentationExtractor(masks, 20.0, num_samples=3, roi_ids=list("abcdef")),
    }
    results = {name: roicore.extract(imaging, rois, method="sima") for name, rois in forms.items()}
    base = results["image masks"].get_traces()
    for name, result in results.items():
        np.testing.assert_array_equal(result.get_traces(), base, err_msg=name)
    assert results["segmentation"].get_roi_ids() == list("abcdef")
    assert results["RoiMasks"].get_roi_ids() == list(range(6))


def test_least_squares_recovers_the_true_traces_of_overlapping_rois():
    """Noise-free data made exactly of the footprint model: least squares returns the amplitudes."""
    movie = make_movie(weighted=True, frames=30)
    weights = movie.masks.reshape(-1, movie.masks.shape[2])
    weights = weights / weights.sum(axis=0)
    footprints = weights / np.sum(weights * weights, axis=0)  # a_r = w_r / |w_r|^2
    amplitudes = 500.0 + np.random.default_rng(0).uniform(0, 300, (30, weights.shape[1]))
    video = (amplitudes @ footprints.T).reshape(30, *movie.masks.shape[:2]).astype(np.float32)
    from roicore.memory import NumpyImagingExtractor

    kept = roicore.extract(NumpyImagingExtractor(video, 10.0), movie.masks, method="sima", remove_overlap=False)
    np.testing.assert_allclose(kept.get_traces(), amplitudes, rtol=1e-5)
    removed = roicore.extract(NumpyImagingExtractor(video, 10.0), movie.masks, method="sima", remove_overlap=True)
    # removing shared pixels does not unmix: the overlapping ROIs' means are biased by their neighbours
    overlapping = movie.masks.reshape(-1, 6)[(movie.masks.sum(axis=2) > 1).ravel()].any(axis=0)
    assert not np.allclose(removed.get_traces()[:, overlapping], amplitudes[:, overlapping], rtol=1e-3)
