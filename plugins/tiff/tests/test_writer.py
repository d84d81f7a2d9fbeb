"""The ``ome-tiff`` writer: round trips, streaming, BigTIFF, metadata other tools read."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import roicore
from roicore.imaging import SampleSlicedImagingExtractor
from roicore.memory import NumpyImagingExtractor
from roicore_tiff import writer as writer_module
from roicore_tiff.samples import make_video


class _Counting(SampleSlicedImagingExtractor):
    def __init__(self, source):
        super().__init__(source)
        self.windows = []

    def _read_series(self, start, end):
        self.windows.append((start, end))
        return super()._read_series(start, end)


def test_round_trip_planar_and_volumetric(tmp_path):
    video = make_video("u2", frames=30, seed=1)
    out = roicore.write(NumpyImagingExtractor(video, 15.0), tmp_path / "a.ome.tif")
    with roicore.open(out) as x:
        assert x.source.reader == "tiff" and x.kind == "ome"
        np.testing.assert_array_equal(x.get_series(), video)
        assert x.get_sampling_frequency() == pytest.approx(15.0)
    volume = make_video("f4", frames=6, planes=4, seed=2)
    out = roicore.write(NumpyImagingExtractor(volume, 2.0, volumetric=True), tmp_path / "v.ome.tif")
    with tifffile.TiffFile(out) as tif:  # other tools see a T/Z stack
        assert tif.is_ome and tif.series[0].axes == "TZYX" and tif.series[0].shape == (6, 4, 7, 11)
        np.testing.assert_array_equal(tif.asarray().transpose(0, 2, 3, 1), volume)
    with roicore.open(out) as x:
        np.testing.assert_array_equal(x.get_series(), volume)


def test_streams_in_chunks(tmp_path):
    video = make_video("i2", frames=23, seed=3)
    source = _Counting(NumpyImagingExtractor(video, 5.0))
    roicore.write(source, tmp_path / "c.ome.tif", chunk_frames=5)
    assert source.windows == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    with roicore.open(tmp_path / "c.ome.tif") as x:
        np.testing.assert_array_equal(x.get_series(), video)


def test_bigtiff_when_large(tmp_path, monkeypatch):
    video = make_video("u1", frames=10, seed=4)
    roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "small.ome.tif")
    monkeypatch.setattr(writer_module, "BIGTIFF_THRESHOLD", video.nbytes - 1)
    roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "big.ome.tif")
    with tifffile.TiffFile(tmp_path / "small.ome.tif") as small, tifffile.TiffFile(tmp_path / "big.ome.tif") as big:
        assert not small.is_bigtiff and big.is_bigtiff
    with pytest.raises(ValueError, match="BigTIFF"):
        roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "forced.ome.tif", bigtiff=False)
    assert not (tmp_path / "forced.ome.tif").exists()


def test_time_vector_and_compression(tmp_path):
    video = make_video("f4", seed=5)
    source = NumpyImagingExtractor(video, 10.0)
    times = np.arange(12) * 0.1 + np.linspace(0, 0.01, 12)
    source.set_times(times)
    out = roicore.write(source, tmp_path / "t.ome.tif", compression="zlib")
    with tifffile.TiffFile(out) as tif:
        assert tif.pages.first.compression == 8  # ADOBE_DEFLATE
    with roicore.open(out) as x:
        np.testing.assert_array_equal(x.get_series(), video)
        np.testing.assert_allclose(x.get_timestamps(), times, rtol=1e-12)


def test_refusals(tmp_path):
    video = make_video("u2", seed=6)
    target = tmp_path / "x.ome.tif"
    roicore.write(NumpyImagingExtractor(video, 1.0), target)
    before = target.read_bytes()
    with pytest.raises(FileExistsError):
        roicore.write(NumpyImagingExtractor(video, 1.0), target)
    assert target.read_bytes() == before
    with pytest.raises(ValueError, match="compression"):
        roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "y.ome.tif", compression="jpeg")
    with pytest.raises(ValueError, match="chunk_frames"):
        roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "z.ome.tif", chunk_frames=0)
