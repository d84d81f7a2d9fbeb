"""The hdf5 reader against the generator's arrays, for every layout, and its reading strategy."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import roicore
from roicore_hdf5.opening import ChannelNotFoundError
from roicore_hdf5.reader import Hdf5ImagingExtractor
from roicore_hdf5.samples import COLUMNS, MARKER, ROWS, make_video, write_video_file

SAMPLE_IDS = [
    "uint16-tyx-gzip",
    "int16-yxt-unlabelled",
    "float32-tyx-lzf-tiles",
    "float64be-xyt",
    "uint8-tzyx-volume",
    "uint16-tzyxc-channel1",
    "int32-ctyx-green",
    "float32-yxtc-rate-on-root",
    "uint16-two-datasets",
]


@pytest.mark.parametrize("sample_id", SAMPLE_IDS)
def test_every_layout_reads_the_generators_array(samples, sample_id):
    sample = samples[sample_id]
    truth = sample.truth.series
    with roicore.open(sample.path, **sample.reader_kwargs) as video:
        assert video.source.reader == "hdf5"
        assert video.shape == truth.shape and video.dtype == truth.dtype.newbyteorder("=")
        np.testing.assert_array_equal(np.asarray(video), truth)
        np.testing.assert_array_equal(video.get_series(3, 9), truth[3:9])
        np.testing.assert_array_equal(video.get_samples([12, 0, 5, 5, -1]), truth[[12, 0, 5, 5, -1]])
        assert video.get_sampling_frequency() == sample.truth.sampling_frequency
        # the marker sits at row 2, column 9 in every frame: no transpose or flip slipped in
        top = np.iinfo(truth.dtype).max if truth.dtype.kind in "iu" else 100.0
        assert np.all(np.asarray(video)[:, MARKER[0], MARKER[1], ...] == top)
        assert video.get_image_shape() == (ROWS, COLUMNS)
        assert all(type(v) is int for v in (*video.get_image_shape(), video.get_num_samples(), video.get_num_planes()))


def test_big_endian_file_reads_in_native_order(samples):
    with roicore.open(samples["float64be-xyt"].path) as video:
        assert video.dtype.byteorder in ("=", "|") and video.get_series(0, 2).dtype.isnative


def test_volume_and_channel_metadata(samples):
    with roicore.open(samples["uint16-tzyxc-channel1"].path, channel=1) as video:
        assert video.is_volumetric and video.get_num_planes() == 2
        assert video.axes == "tzyxc" and video.channel == 1 and video.dataset_name == "/imaging"
        assert video.get_channel_names() == ["red", "green"]
    with roicore.open(samples["uint16-tzyxc-channel1"].path, channel="red") as red:
        other = samples["uint16-tzyxc-channel1"].truth.series
        assert not np.array_equal(np.asarray(red), other)  # channel 0 is another video


def test_channel_errors(samples):
    path = samples["int32-ctyx-green"].path
    with pytest.raises(IndexError, match=r"channel=3 is out of range: the dataset has 3 channel"):
        roicore.open(path, channel=3)
    with pytest.raises(ChannelNotFoundError, match=r"no channel named 'violet'.*\['red', 'green', 'blue'\]") as caught:
        roicore.open(path, channel="violet")
    assert isinstance(caught.value, KeyError) and caught.value.path == str(path)
    with pytest.raises(TypeError, match="not a bool"):
        roicore.open(path, channel=True)
    with pytest.raises(IndexError, match="no channel axis"):
        roicore.open(samples["uint16-tyx-gzip"].path, channel=1)


def test_explicit_arguments_win_over_the_file(samples):
    path = samples["uint16-tyx-gzip"].path  # labelled t, y, x, rate 30 Hz
    with roicore.open(path, sampling_frequency=12.5) as video:
        assert video.get_sampling_frequency() == 12.5
    truth = samples["uint16-tyx-gzip"].truth.series
    with roicore.open(path, axes="txy") as swapped:  # the labels are overridden, not merged
        np.testing.assert_array_equal(np.asarray(swapped), truth.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="sampling_frequency must be a finite number > 0"):
        roicore.open(path, sampling_frequency=-1)


def test_no_stored_rate_is_none(tmp_path):
    video = make_video("u2", seed=3)
    path = write_video_file(tmp_path / "norate.h5", [video], axes="tyx", rate=None)
    with roicore.open(path) as x:
        assert x.get_sampling_frequency() is None
        np.testing.assert_array_equal(np.asarray(x), video)
        assert "rate unknown" in repr(x)


def test_caiman_style_fr_attribute_is_the_rate(tmp_path):
    video = make_video("f4", seed=4)
    path = write_video_file(tmp_path / "mov.h5", [video], axes="tyx", dataset="mov", rate=11.0, rate_attribute="fr")
    with roicore.open(path) as x:
        assert x.get_sampling_frequency() == 11.0


# -- chunk-aligned reading ------------------------------------------------------------------------------


class CountingDataset:
    """Forwards reads to an h5py dataset and records the time range of each."""

    def __init__(self, dataset: Any, time_axis: int) -> None:
        self._dataset = dataset
        self._time_axis = time_axis
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key: Any) -> Any:
        time = key[self._time_axis]
        self.reads.append((time.start, time.stop))
        return self._dataset[key]

    def read_direct(self, out: np.ndarray, selection: Any) -> None:
        self.reads.append((selection.start, selection.stop))
        self._dataset.read_direct(out, selection)


def _counted(path: Path) -> tuple[Hdf5ImagingExtractor, CountingDataset]:
    video = Hdf5ImagingExtractor(path)
    counting = CountingDataset(video._dataset, video.axes.index("t"))
    video._dataset = counting
    return video, counting


@pytest.fixture
def chunked(tmp_path) -> tuple[Path, np.ndarray]:
    """50 frames, gzip, chunks of 8 frames (the last chunk row holds 2)."""
    video = make_video("u2", frames=50, seed=7)
    path = write_video_file(tmp_path / "chunked.h5", [video], axes="tyx", chunks=(8, ROWS, COLUMNS), compression="gzip")
    return path, video


def test_sequential_single_frames_decode_each_chunk_row_once(chunked):
    path, truth = chunked
    video, counting = _counted(path)
    with video:
        for frame in range(50):
            np.testing.assert_array_equal(video.get_series(frame, frame + 1), truth[frame : frame + 1])
    assert counting.reads == [(s, min(s + 8, 50)) for s in range(0, 50, 8)]


def test_windows_read_whole_rows_in_one_call_and_keep_only_the_edges(chunked):
    path, truth = chunked
    video, counting = _counted(path)
    with video:
        np.testing.assert_array_equal(video.get_series(5, 43), truth[5:43])
        # head row 0, rows 1..4 in one aligned call, tail row 5
        assert counting.reads == [(0, 8), (8, 40), (40, 48)]
        np.testing.assert_array_equal(video.get_series(43, 47), truth[43:47])  # inside the kept tail row
        assert len(counting.reads) == 3
        np.testing.assert_array_equal(video.get_series(16, 50), truth[16:50])  # aligned start, end of video
        assert counting.reads[3:] == [(16, 50)]


def test_sample_reads_decode_each_touched_row_once(chunked):
    path, truth = chunked
    video, counting = _counted(path)
    with video:
        indices = [49, 1, 2, 3, 30, 31, 1]
        np.testing.assert_array_equal(video.get_samples(indices), truth[indices])
    assert counting.reads == [(0, 8), (24, 32), (48, 50)]


def test_random_windows_equal_numpy(chunked):
    path, truth = chunked
    rng = np.random.default_rng(0)
    with Hdf5ImagingExtractor(path) as video:
        for _ in range(60):
            start = int(rng.integers(0, 50))
            end = int(rng.integers(start, 51))
            np.testing.assert_array_equal(video.get_series(start, end), truth[start:end])
            picks = rng.integers(-50, 50, size=int(rng.integers(1, 12)))
            np.testing.assert_array_equal(video.get_samples(picks), truth[picks])
            np.testing.assert_array_equal(video[start:end:3, 1:5, ::-2], truth[start:end:3, 1:5, ::-2])


def test_reads_are_fresh_copies_of_the_kept_row(chunked):
    path, truth = chunked
    with Hdf5ImagingExtractor(path) as video:
        first = video.get_series(1, 3)
        first[:] = 0
        second = np.asarray(video[1:3])
        second[:] = 1
        np.testing.assert_array_equal(video.get_series(1, 3), truth[1:3])
        owned = video.get_series(2, 4)
        assert owned.flags.writeable and not np.shares_memory(owned, video._row[1])
        shared = video.get_series(2, 4, copy=False)  # may share the kept row, but only read-only
        assert not shared.flags.writeable
        np.testing.assert_array_equal(shared, truth[2:4])


def test_uncompressed_chunked_dataset_is_read_directly(tmp_path):
    video = make_video("i2", frames=20, seed=8)
    path = write_video_file(tmp_path / "plain.h5", [video], axes="tyx", chunks=(10, ROWS, COLUMNS))
    counted, counting = _counted(path)
    with counted:
        np.testing.assert_array_equal(counted.get_series(3, 4), video[3:4])
    assert counting.reads == [(3, 4)]  # no reason to read the whole chunk: nothing to decode


def test_time_last_chunked_dataset(tmp_path):
    video = make_video("u2", frames=30, seed=9)
    path = write_video_file(tmp_path / "yxt.h5", [video], axes="yxt", chunks=(4, 4, 7), compression="gzip")
    with Hdf5ImagingExtractor(path) as x:
        np.testing.assert_array_equal(np.asarray(x), video)
        np.testing.assert_array_equal(x.get_series(6, 22), video[6:22])
        np.testing.assert_array_equal(x.get_samples([29, 0, 13]), video[[29, 0, 13]])


# -- lifecycle ------------------------------------------------------------------------------------------


def test_close_releases_the_file(chunked):
    path, _ = chunked
    video = Hdf5ImagingExtractor(path)
    video.get_series(0, 2)
    handle = video._handle
    video.close()
    assert not handle.id.valid and video._row is None
    with h5py.File(path, "a") as writable:  # nothing holds the file any more
        writable.attrs["touched"] = 1
    with pytest.raises(ValueError, match="closed"):
        video.get_series(0, 1)


def test_failed_open_leaves_no_handle(samples):
    before = h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)
    with pytest.raises(ValueError):
        Hdf5ImagingExtractor(samples["int16-yxt-unlabelled"].path)  # no labels, no axes
    assert h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE) == before


def test_pickles_by_arguments(samples):
    sample = samples["int32-ctyx-green"]
    with Hdf5ImagingExtractor(sample.path, **sample.reader_kwargs) as video:
        clone = pickle.loads(pickle.dumps(video))
    with clone:
        np.testing.assert_array_equal(np.asarray(clone), sample.truth.series)


@pytest.mark.parametrize(
    ("dtype", "planes", "axes", "file_dtype"),
    [
        ("b1", None, "tyx", None),  # direct reads into the output
        ("u2", None, "tyx", ">u2"),  # byte-swapped on the way
        ("f4", 3, "tzyx", None),  # planes moved last
        ("i2", None, "yxt", None),  # time last
        ("u1", 2, "tzyxc", None),  # a channel selected
    ],
)
def test_windows_across_chunk_rows_in_every_layout(tmp_path, dtype, planes, axes, file_dtype):
    videos = [make_video(dtype, frames=37, planes=planes, seed=s) for s in (20, 21)]
    chunks = tuple(5 if a == "t" else 1 if a == "c" else {"y": ROWS, "x": COLUMNS, "z": planes}[a] for a in axes)
    channels = videos if "c" in axes else videos[:1]
    path = write_video_file(
        tmp_path / "layout.h5", channels, axes=axes, file_dtype=file_dtype, chunks=chunks, compression="gzip"
    )
    truth = videos[1] if "c" in axes else videos[0]
    rng = np.random.default_rng(1)
    with Hdf5ImagingExtractor(path, channel=1 if "c" in axes else 0) as video:
        assert video._by_rows
        for _ in range(25):
            start = int(rng.integers(0, 37))
            end = int(rng.integers(start, 38))
            np.testing.assert_array_equal(video.get_series(start, end), truth[start:end])
        picks = rng.integers(0, 37, 30)
        np.testing.assert_array_equal(video.get_samples(picks), truth[picks])
