"""The hdf5 writer: the layout it writes (checked with h5py), round trips, streaming, atomicity."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import roicore
from roicore.memory import NumpyImagingExtractor
from roicore_hdf5.samples import make_video


@pytest.mark.parametrize(
    ("options", "filters"),
    [
        ({}, ("gzip", 4, True)),
        ({"compression": "gzip", "compression_level": 9}, ("gzip", 9, True)),
        ({"compression": "lzf"}, ("lzf", None, True)),
        ({"compression": "none"}, (None, None, False)),
        ({"compression": None}, (None, None, False)),
    ],
)
def test_layout_written(tmp_path, options, filters):
    video = make_video("u2", frames=30, seed=1)
    path = roicore.write(NumpyImagingExtractor(video, 12.5), tmp_path / "out.h5", **options)
    with h5py.File(path, "r") as handle:
        assert handle.attrs["roicore_format"] == "roicore-hdf5-video"
        dataset = handle["imaging"]
        np.testing.assert_array_equal(dataset[()], video)  # (t, y, x), as written by h5py's own read
        assert [d.label for d in dataset.dims] == ["t", "y", "x"]
        assert dataset.attrs["sampling_frequency"] == 12.5 and dataset.attrs["axes"] == "tyx"
        assert (dataset.compression, dataset.compression_opts, dataset.shuffle) == filters
        assert dataset.chunks == (30, 7, 11)  # whole frames, up to ~1 MiB: here the whole short video


def test_chunks_hold_about_a_mebibyte_of_whole_frames(tmp_path):
    video = np.zeros((40, 256, 200), np.uint16)  # 100 KiB frames
    path = roicore.write(NumpyImagingExtractor(video, 5.0), tmp_path / "big.h5")
    with h5py.File(path, "r") as handle:
        assert handle["imaging"].chunks == (10, 256, 200)


@pytest.mark.parametrize("dtype", ["u1", "i2", "u2", "i4", "f4", "f8", "b1"])
def test_round_trip_dtypes(tmp_path, dtype):
    video = make_video(dtype, frames=17, seed=2)
    path = roicore.write(NumpyImagingExtractor(video, 3.0), tmp_path / f"{dtype}.h5", chunk_frames=4)
    with roicore.open(path) as back:
        assert back.source.reader == "hdf5" and back.dtype == video.dtype
        np.testing.assert_array_equal(np.asarray(back), video)
        np.testing.assert_array_equal(back.get_samples([16, 3, 8]), video[[16, 3, 8]])
        assert back.get_sampling_frequency() == 3.0


def test_round_trip_volume_and_dataset_name(tmp_path):
    video = make_video("f4", frames=9, planes=4, seed=3)
    path = roicore.write(
        NumpyImagingExtractor(video, 2.0, volumetric=True), tmp_path / "volume.hdf5", format="hdf5", dataset="data/volume"
    )
    with h5py.File(path, "r") as handle:
        assert [d.label for d in handle["data/volume"].dims] == ["t", "y", "x", "z"]
    with roicore.open(path) as back:
        assert back.is_volumetric and back.dataset_name == "/data/volume"
        np.testing.assert_array_equal(np.asarray(back), video)


def test_unknown_rate_is_not_written(tmp_path):
    video = make_video("u2", seed=4)
    source = NumpyImagingExtractor(video, 10.0)
    source.get_sampling_frequency = lambda: None  # a source whose file stores no rate
    path = roicore.write(source, tmp_path / "norate.h5")
    with h5py.File(path, "r") as handle:
        assert "sampling_frequency" not in handle["imaging"].attrs
    with roicore.open(path) as back:
        assert back.get_sampling_frequency() is None


def test_real_sima_movie_converts(realdata, tmp_path):
    path = realdata / "sima_example.h5"
    if not path.is_file():
        pytest.skip(f"the real recording {path} is absent")
    with roicore.open(path, axes="yxt", sampling_frequency=15.0) as source:
        out = roicore.write(source, tmp_path / "sima_tyx.h5", compression="lzf")
        expected = np.asarray(source)
    with roicore.open(out) as back:
        np.testing.assert_array_equal(np.asarray(back), expected)


class _Counting(NumpyImagingExtractor):
    """Records each read window; fails on the read starting at ``fail_at``."""

    def __init__(self, video, rate, fail_at=None):
        super().__init__(video, rate)
        self.windows = []
        self.fail_at = fail_at

    def _read_series(self, start, end):
        if start == self.fail_at:
            raise RuntimeError("the source failed mid-write")
        self.windows.append((start, end))
        return super()._read_series(start, end)


def test_streams_in_blocks_of_whole_chunks(tmp_path, monkeypatch):
    import roicore_hdf5.writer as writer

    monkeypatch.setattr(writer, "_BLOCK_BYTES", 4 * 7 * 11 * 2)  # four frames per block
    video = make_video("u2", frames=21, seed=5)
    source = _Counting(video, 4.0)
    path = roicore.write(source, tmp_path / "streamed.h5", chunk_frames=2)
    assert source.windows == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 21)]
    with roicore.open(path) as back:
        np.testing.assert_array_equal(np.asarray(back), video)


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    import roicore_hdf5.writer as writer

    monkeypatch.setattr(writer, "_BLOCK_BYTES", 4 * 7 * 11 * 2)
    target = tmp_path / "movie.h5"
    old = make_video("u2", seed=6)
    roicore.write(NumpyImagingExtractor(old, 1.0), target)
    with pytest.raises(RuntimeError, match="mid-write"):
        roicore.write(_Counting(make_video("u2", seed=7), 1.0, fail_at=8), target, overwrite=True, chunk_frames=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.h5"]
    with roicore.open(target) as back:
        np.testing.assert_array_equal(np.asarray(back), old)


def test_existing_target_is_refused(tmp_path):
    target = tmp_path / "movie.h5"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        roicore.write(NumpyImagingExtractor(make_video("u2"), 1.0), target)
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"compression": "zstd"}, "compression must be one of gzip, lzf, none"),
        ({"compression_level": 12}, "compression_level must be an integer 0..9"),
        ({"chunk_frames": 0}, "chunk_frames must be an integer >= 1"),
        ({"chunk_frames": 2.5}, "chunk_frames must be an integer >= 1"),
        ({"dataset": "/"}, "dataset must be a non-empty dataset name"),
    ],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        roicore.write(NumpyImagingExtractor(make_video("u2"), 1.0), tmp_path / "bad.h5", **options)
    assert list(tmp_path.iterdir()) == []


def test_time_vector_warns(tmp_path):
    source = NumpyImagingExtractor(make_video("u2"), 10.0)
    source.set_times(np.arange(13) * 0.2)
    with pytest.warns(UserWarning, match="time vector"):
        roicore.write(source, tmp_path / "timed.h5")
