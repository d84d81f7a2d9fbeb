"""Reader ``npy``: header parsing, C and Fortran order, axes, sidecar, and refusing pickled data."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, UnknownSamplingFrequencyError, UnsupportedFeatureError
from roicore_memmap.npy import NpyImagingExtractor
from roicore_memmap.npy_header import read_npy_header
from roicore_memmap.samples import make_npy_samples, make_video


def _sample_ids() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        return [s.id for s in make_npy_samples(Path(folder))]


@pytest.mark.parametrize("sample_id", _sample_ids())
def test_every_npy_sample_reads_its_truth(tmp_path: Path, sample_id: str) -> None:
    sample = next(s for s in make_npy_samples(tmp_path) if s.id == sample_id)
    truth = sample.truth.series
    with roicore.open(sample.path, **sample.reader_kwargs) as x:
        assert x.source.reader == "npy"
        assert x.shape == truth.shape and x.dtype == truth.dtype
        np.testing.assert_array_equal(x.get_series(), truth)
        np.testing.assert_array_equal(x.get_series(2, 5), truth[2:5])
        np.testing.assert_array_equal(x.get_samples([7, 1, 1]), truth[[7, 1, 1]])
        assert x.get_series(0, 3).flags.c_contiguous


def test_fortran_order_is_read_in_place(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(video))
    assert read_npy_header(path).fortran_order
    with NpyImagingExtractor(path, 10.0) as x:
        assert x.structure.axes == "xyt"  # Fortran (t, y, x) is C-order (x, y, t)
        np.testing.assert_array_equal(x.get_series(), video)


def test_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    array = np.empty((2, 3, 4), dtype=object)
    array[...] = "x"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(UnsupportedFeatureError, match="pickled data") as info:
        NpyImagingExtractor(path, 10.0)
    assert "objects.npy" in str(info.value) and "allow_pickle is never enabled" in str(info.value)
    with pytest.raises(roicore.errors.NoReaderFoundError, match="pickled"):
        roicore.open(path, sampling_frequency=1.0)


def test_structured_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "structured.npy"
    np.save(path, np.zeros((2, 3, 4), dtype=[("a", "<u2"), ("b", "<f4")]))
    with pytest.raises(UnsupportedFeatureError, match="structured"):
        NpyImagingExtractor(path, 10.0)


def test_no_rate_opens_with_an_unknown_rate(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "movie.npy"
    np.save(path, video)
    with roicore.open(path) as x:
        assert x.get_sampling_frequency() is None
        np.testing.assert_array_equal(x.get_series(), video)  # reading needs no rate
        with pytest.raises(UnknownSamplingFrequencyError, match="movie.npy") as info:
            x.get_timestamps()
        assert "sampling_frequency=30" in str(info.value) and "set_sampling_frequency" in str(info.value)
        assert isinstance(info.value, ValueError)
        x.set_sampling_frequency(4.0)
        np.testing.assert_allclose(x.get_timestamps(0, 3), [0.0, 0.25, 0.5])
    sidecar = tmp_path / "movie.npy.json"
    sidecar.write_text(json.dumps({"format": "roicore-npy-video", "version": 1, "data": "movie.npy",
                                   "sampling_frequency": None}))
    with roicore.open(path) as x:  # a null rate in the sidecar is "unknown" too
        assert x.get_sampling_frequency() is None
    sidecar.write_text(json.dumps({"format": "roicore-npy-video", "version": 1, "data": "movie.npy",
                                   "sampling_frequency": 3.0}))
    with roicore.open(path, sampling_frequency=7.0) as x:  # the explicit argument wins over the file
        assert x.get_sampling_frequency() == 7.0


def test_sidecar_gives_rate_and_axes_and_can_be_opened(tmp_path: Path) -> None:
    volume = make_video("f4", planes=3, seed=5)
    path = tmp_path / "volume.npy"
    np.save(path, volume)
    sidecar = tmp_path / "volume.npy.json"
    sidecar.write_text(json.dumps({"format": "roicore-npy-video", "version": 1, "data": "volume.npy",
                                   "axes": "tyxz", "sampling_frequency": 3.0}))
    for opened in (roicore.open(path), roicore.open(sidecar), roicore.open(path, reader="memmap")):
        with opened as x:
            assert isinstance(x, NpyImagingExtractor) and x.is_volumetric and x.get_num_planes() == 3
            assert x.get_sampling_frequency() == 3.0
            np.testing.assert_array_equal(x.get_series(), volume)


def test_four_dimensions_need_a_declaration(tmp_path: Path) -> None:
    volume = make_video("u2", planes=2)
    path = tmp_path / "v.npy"
    np.save(path, volume)
    with pytest.raises(ValueError, match="volumetric=True"):
        NpyImagingExtractor(path, 1.0)
    with NpyImagingExtractor(path, 1.0, volumetric=True) as x:
        np.testing.assert_array_equal(x.get_series(), volume)
    with NpyImagingExtractor(path, 1.0, axes="tyxc", channel=1) as x:
        np.testing.assert_array_equal(x.get_series(), volume[..., 1])
    with pytest.raises(ValueError, match="contradicts"):
        NpyImagingExtractor(path, 1.0, axes="tyxz", volumetric=False)
    with pytest.raises(ValueError, match="gives 3 axes"):
        NpyImagingExtractor(path, 1.0, axes="tyx")


@pytest.mark.parametrize("shape", [(5,), (5, 6), (2, 2, 2, 2, 2)])
def test_not_a_video(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(shape, dtype=np.uint8))
    with pytest.raises(CorruptFileError, match="not a video"):
        NpyImagingExtractor(path, 1.0)


def test_zero_frames_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 7, 11), dtype=np.uint16))
    with pytest.raises(CorruptFileError, match="no frames"):
        NpyImagingExtractor(path, 1.0)


def test_truncated_npy(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "cut.npy"
    np.save(path, video)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(CorruptFileError, match="truncated") as info:
        NpyImagingExtractor(path, 1.0)
    assert "cut.npy" in str(info.value)
    path.write_bytes(data[:40])
    with pytest.raises(CorruptFileError, match="invalid .npy header"):
        NpyImagingExtractor(path, 1.0)
    path.write_bytes(data + b"\0\0")
    with pytest.warns(UserWarning, match="ignoring 2 bytes"):
        NpyImagingExtractor(path, 1.0).close()


def test_not_npy_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.npy"
    path.write_bytes(b"hello world, not numpy")
    with pytest.raises(CorruptFileError, match="not a .npy file"):
        NpyImagingExtractor(path, 1.0)
