"""The mean image: exact for integer videos of every width, whatever the bands, chunks and workers.

Integer frames are summed in integers (or in float32 partial sums of whole
numbers below 2**24, which are exact), so the mean equals numpy's float64
mean of the same frames exactly: both divide the same exact integer sum by
the frame count once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import roicore_sima.kernel as kernel_module
from roicore_sima.reference import reference_mean, reference_traces
from roicore_sima.samples import make_movie

import roicore
from roicore.memory import NumpyImagingExtractor

DTYPES = {
    "uint8": (np.uint8, 0, 255),
    "int16": (np.int16, -32768, 32767),
    "uint16": (np.uint16, 0, 65535),
    "int32": (np.int32, -(2**31), 2**31 - 1),
    "uint32": (np.uint32, 0, 2**32 - 1),
    "int64": (np.int64, -(2**40), 2**40),
    "bool": (np.bool_, 0, 1),
}


def _extreme_video(dtype: type, low: int, high: int, frames: int, shape: tuple[int, int], seed: int = 5) -> np.ndarray:
    """Values at the ends of the dtype's range, so float32 partial sums would overflow 2**24 if never flushed."""
    rng = np.random.default_rng(seed)
    video = rng.integers(low, high, (frames, *shape), endpoint=True, dtype=np.int64 if dtype is not np.uint32 else np.uint64)
    video[:, :4] = high - rng.integers(0, 2, (frames, 4, shape[1])).astype(video.dtype)
    return video.astype(dtype)


@pytest.mark.parametrize("band_pass", ["compiled", "numpy"])
@pytest.mark.parametrize("name", sorted(DTYPES))
@pytest.mark.parametrize("workers, chunk", [(1, 7), (2, 5), (2, 300), (3, 64)])
def test_integer_mean_equals_numpys_float64_mean_exactly(monkeypatch, band_pass, name, workers, chunk):
    if band_pass == "numpy":
        monkeypatch.setattr(kernel_module, "_bandpass", None)
    dtype, low, high = DTYPES[name]
    movie = make_movie(frames=4)
    video = _extreme_video(dtype, low, high, 1500, movie.masks.shape[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = roicore.extract(
            NumpyImagingExtractor(video, 30.0), movie.masks, method="sima", n_workers=workers, chunk_size=chunk
        )
    expected = video.astype(np.float64).mean(axis=0)
    np.testing.assert_array_equal(result.get_image("mean"), expected)


@pytest.mark.parametrize("band", [1, 7, 40, 10**6])
@pytest.mark.parametrize("video_kind", ["uint16", "uint16-numpy-pass", "float32-nan"])
def test_bands_change_neither_traces_nor_mean(monkeypatch, band, video_kind):
    movie = make_movie(frames=37, nan_border=video_kind == "float32-nan", weighted=True)
    options = dict(n_workers=2, chunk_size=6, remove_overlap=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        base = roicore.extract(movie.imaging(), movie.masks, method="sima", **options)
        if video_kind.endswith("-numpy-pass"):  # the numpy pass's traces are bitwise the compiled pass's
            monkeypatch.setattr(kernel_module, "_bandpass", None)
        monkeypatch.setattr(kernel_module, "BAND_PIXELS", band)
        monkeypatch.setattr(kernel_module, "COMPILED_BAND_PIXELS", band)
        monkeypatch.setattr(kernel_module, "DENSE_COMPILED_BAND_PIXELS", band)
        banded = roicore.extract(movie.imaging(), movie.masks, method="sima", **options)
    # the bands of a row are summed in the row's column order: bitwise the same traces
    np.testing.assert_array_equal(banded.get_traces(), base.get_traces())
    expected = reference_traces(movie.video, movie.masks, remove_overlap=False, sima_compat=False)
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(banded.get_traces()[ok], expected[ok], rtol=1e-5)
    mean = reference_mean(movie.video)
    np.testing.assert_array_equal(np.isnan(banded.get_image("mean")), np.isnan(mean))
    np.testing.assert_allclose(banded.get_image("mean"), mean, rtol=1e-6)
    if video_kind.startswith("uint16"):
        np.testing.assert_array_equal(banded.get_image("mean"), movie.video.astype(np.float64).mean(axis=0))


def test_float_mean_leaves_out_non_finite_values_pixel_by_pixel():
    movie = make_movie(frames=30, nan_border=True)
    video = movie.video.copy()
    video[3, 10, 10] = np.inf
    video[4, 11, 12] = -np.inf
    video[:, 12, 14] = np.nan  # never imaged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for workers in (1, 2):
            result = roicore.extract(NumpyImagingExtractor(video, 30.0), movie.masks, method="sima", n_workers=workers, chunk_size=4)
            mean = result.get_image("mean")
            np.testing.assert_allclose(mean, reference_mean(video), rtol=1e-6, equal_nan=True)
            assert np.isnan(mean[12, 14]) and np.isfinite(mean[10, 10]) and np.isfinite(mean[11, 12])


@pytest.mark.skipif(kernel_module._bandpass is None, reason="the compiled band pass is not built here")
@pytest.mark.parametrize("limit, one_pass", [(None, True), (9, False)])
def test_compiled_sums_of_several_workers_merge_exactly_in_one_pass_or_through_float64(monkeypatch, limit, one_pass):
    """Within the int32 limit the workers' int32 sums are added and divided once; beyond it they go through float64."""
    movie = make_movie(frames=4)
    video = _extreme_video(np.uint16, 0, 65535, 40, movie.masks.shape[:2])
    taken: list[bool] = []
    take = kernel_module._take_int_sums

    def recorded(used):
        found = take(used)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(kernel_module, "_take_int_sums", recorded)
    if limit is not None:
        original = kernel_module.Scratch.__init__

        def small_limit(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.limit = limit

        monkeypatch.setattr(kernel_module.Scratch, "__init__", small_limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = roicore.extract(NumpyImagingExtractor(video, 30.0), movie.masks, method="sima", n_workers=2, chunk_size=6)
    assert taken == [one_pass]
    np.testing.assert_array_equal(result.get_image("mean"), video.astype(np.float64).mean(axis=0))
