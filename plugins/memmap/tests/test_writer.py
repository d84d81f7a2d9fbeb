"""Writer ``memmap``: round trips, chunked streaming, atomicity and refusing to overwrite."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.imaging import ImagingExtractor
from roicore.memory import NumpyImagingExtractor
from roicore_memmap.samples import make_video, make_writer_samples


def _writer_ids() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        return [s.id for s in make_writer_samples(Path(folder))]


class Spy(ImagingExtractor):
    """Wraps an extractor, records every read window, and can fail at a given read."""

    def __init__(self, source: ImagingExtractor, fail_at: int | None = None) -> None:
        self._source, self.fail_at, self.reads = source, fail_at, []
        self.is_volumetric = source.is_volumetric

    def get_image_shape(self):
        return self._source.get_image_shape()

    def get_num_planes(self):
        return self._source.get_num_planes()

    def get_num_samples(self):
        return self._source.get_num_samples()

    def get_sampling_frequency(self):
        return self._source.get_sampling_frequency()

    def get_dtype(self):
        return self._source.get_dtype()

    def _read_series(self, start, end):
        self.reads.append((start, end))
        if self.fail_at is not None and len(self.reads) >= self.fail_at:
            raise RuntimeError("injected failure")
        return self._source.get_series(start, end)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("sample_id", _writer_ids())
def test_round_trip_of_every_writer_sample(tmp_path: Path, sample_id: str) -> None:
    sample = next(s for s in make_writer_samples(tmp_path) if s.id == sample_id)
    source = sample.source
    target = tmp_path / sample.filename
    written = roicore.write(source, target, **sample.options)
    assert written == target
    assert _files(tmp_path) == sorted([target.name, target.name + ".json"])
    expected_reader = "npy" if target.suffix == ".npy" else "memmap"
    for opened in (roicore.open(target), roicore.open(target, reader="memmap")):
        with opened as x:
            assert opened.source.reader in (expected_reader, "memmap")
            assert x.shape == source.shape and x.dtype == source.dtype
            assert x.is_volumetric == source.is_volumetric
            assert x.get_sampling_frequency() == source.get_sampling_frequency()
            np.testing.assert_array_equal(x.get_series(), source.get_series())
    assert roicore.open(target).source.reader == expected_reader


def test_raw_output_layout_and_sidecar(tmp_path: Path, video: np.ndarray) -> None:
    source = NumpyImagingExtractor(video, 12.5)
    roicore.write(source, tmp_path / "movie.bin", metadata={"note": "test"})
    assert (tmp_path / "movie.bin").read_bytes() == video.astype(video.dtype.newbyteorder("=")).tobytes()
    sidecar = json.loads((tmp_path / "movie.bin.json").read_text())
    assert sidecar == {
        "format": "roicore-raw-video",
        "version": 1,
        "data": "movie.bin",
        "dtype": np.dtype("=u2").str,
        "axes": "tyx",
        "shape": {"t": 12, "y": 7, "x": 11},
        "offset": 0,
        "sampling_frequency": 12.5,
        "metadata": {"note": "test"},
    }


def test_npy_output_is_a_plain_npy_file(tmp_path: Path) -> None:
    volume = make_video("f4", planes=2)
    roicore.write(NumpyImagingExtractor(volume, 3.0, volumetric=True), tmp_path / "volume.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "volume.npy", allow_pickle=False), volume)
    sidecar = json.loads((tmp_path / "volume.npy.json").read_text())
    assert sidecar["format"] == "roicore-npy-video" and sidecar["axes"] == "tyxz"
    assert sidecar["sampling_frequency"] == 3.0


@pytest.mark.parametrize("chunk_frames", [1, 5, 12, 100])
def test_streams_in_chunks_never_the_whole_video(tmp_path: Path, video: np.ndarray, chunk_frames: int) -> None:
    spy = Spy(NumpyImagingExtractor(video, 1.0))
    roicore.write(spy, tmp_path / "movie.raw", chunk_frames=chunk_frames)
    size = min(chunk_frames, len(video))
    assert spy.reads == [(a, min(a + size, len(video))) for a in range(0, len(video), size)]
    with roicore.open(tmp_path / "movie.raw") as x:
        np.testing.assert_array_equal(x.get_series(), video)


def test_default_chunk_is_bounded(tmp_path: Path) -> None:
    # 64 MiB chunks: a 1024 x 1024 float64 frame is 8 MiB, so 8 frames per read
    from roicore_memmap.writer import _chunk_frames

    assert _chunk_frames(None, 1024 * 1024 * 8) == 8
    assert _chunk_frames(None, 10**9) == 1
    with pytest.raises(ValueError, match="chunk_frames"):
        _chunk_frames(0, 10)


def test_refuses_to_overwrite_and_replaces_on_request(tmp_path: Path, video: np.ndarray) -> None:
    target = tmp_path / "movie.bin"
    roicore.write(NumpyImagingExtractor(video, 1.0), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError):
        roicore.write(NumpyImagingExtractor(video[:3], 2.0), target)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    roicore.write(NumpyImagingExtractor(video[:3], 2.0), target, overwrite=True)
    with roicore.open(target) as x:
        assert x.get_num_samples() == 3 and x.get_sampling_frequency() == 2.0


def test_an_existing_sidecar_is_not_replaced(tmp_path: Path, video: np.ndarray) -> None:
    sidecar = tmp_path / "movie.bin.json"
    sidecar.write_text("precious")
    with pytest.raises(FileExistsError, match="movie.bin.json"):
        roicore.write(NumpyImagingExtractor(video, 1.0), tmp_path / "movie.bin")
    assert _files(tmp_path) == ["movie.bin.json"] and sidecar.read_text() == "precious"


@pytest.mark.parametrize("name", ["movie.bin", "movie.npy"])
def test_failure_leaves_no_temporary_files(tmp_path: Path, video: np.ndarray, name: str) -> None:
    spy = Spy(NumpyImagingExtractor(video, 1.0), fail_at=2)
    with pytest.raises(RuntimeError, match="injected failure"):
        roicore.write(spy, tmp_path / name, chunk_frames=4)
    assert _files(tmp_path) == []


def test_failed_overwrite_keeps_the_previous_files(tmp_path: Path, video: np.ndarray) -> None:
    target = tmp_path / "movie.npy"
    roicore.write(NumpyImagingExtractor(video, 1.0), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError, match="injected failure"):
        roicore.write(Spy(NumpyImagingExtractor(video[::-1].copy(), 9.0), fail_at=3), target,
                      overwrite=True, chunk_frames=2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unsupported_targets_and_sources(tmp_path: Path, video: np.ndarray) -> None:
    source = NumpyImagingExtractor(video, 1.0)
    with pytest.raises(ValueError, match="writes .bin, .raw, .dat, .npy"):
        roicore.write(source, tmp_path / "movie.tif", format="memmap")
    with pytest.raises(ValueError, match="no samples"):
        roicore.write(NumpyImagingExtractor(video[:0], 1.0), tmp_path / "empty.bin")
    with pytest.raises(TypeError, match="metadata"):
        roicore.write(source, tmp_path / "movie.bin", metadata=["x"])
    assert _files(tmp_path) == []


def test_time_vector_is_not_stored_and_says_so(tmp_path: Path, video: np.ndarray) -> None:
    source = NumpyImagingExtractor(video, 1.0)
    source.set_times(np.arange(len(video)) * 2.0 + 5)
    with pytest.warns(UserWarning, match="time vector"):
        roicore.write(source, tmp_path / "movie.bin")
