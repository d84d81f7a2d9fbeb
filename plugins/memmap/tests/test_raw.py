"""Reader ``memmap``: real data, every sample against its truth, file-size validation, channels."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError
from roicore_memmap.raw import RawImagingExtractor
from roicore_memmap.samples import COLUMNS, ROWS, make_raw_samples, make_video
from roicore_memmap.structure import VideoStructure

SIMA_RAW = "sima_example_t20_y128_x256_uint16le.raw"
SIMA_STRUCTURE = VideoStructure(rows=128, columns=256, axes="tyx")


# -- real data ------------------------------------------------------------------------------------
def _sima_reference(realdata: Path) -> np.ndarray:
    h5py = pytest.importorskip("h5py", reason="h5py reads the reference copy of the real movie")
    with h5py.File(realdata / "sima_example.h5", "r") as handle:
        imaging = handle["/imaging"][...]  # (y, x, t) per the README
    assert imaging.shape == (128, 256, 20)
    return np.moveaxis(imaging, 2, 0)


def test_real_sima_movie_equals_the_hdf5_copy_frame_by_frame(realdata: Path) -> None:
    reference = _sima_reference(realdata)
    with roicore.open(
        realdata / SIMA_RAW, reader="memmap", structure=SIMA_STRUCTURE, dtype="<u2", sampling_frequency=15.0
    ) as x:
        assert x.shape == (20, 128, 256) and x.dtype == np.uint16
        assert x.source.reader == "memmap"
        for t in range(20):
            np.testing.assert_array_equal(x.get_series(t, t + 1)[0], reference[t], err_msg=f"frame {t}")
        np.testing.assert_array_equal(x.get_series(), reference)
        np.testing.assert_array_equal(x.get_samples([19, 0, 7]), reference[[19, 0, 7]])
        assert x.get_sampling_frequency() == 15.0


def test_real_movie_with_a_dict_structure_and_either_byte_order(realdata: Path) -> None:
    reference = _sima_reference(realdata)
    structure = {"rows": 128, "columns": 256, "axes": "tyx", "sampling_frequency": 15.0}
    with RawImagingExtractor(realdata / SIMA_RAW, structure, dtype="<u2") as x:
        np.testing.assert_array_equal(x[3], reference[3])
    # the wrong byte order is a mistake the file size cannot reveal: the values come out byte-swapped
    with RawImagingExtractor(realdata / SIMA_RAW, structure, dtype=">u2") as x:
        assert x.dtype == np.dtype("=u2")
        np.testing.assert_array_equal(x.get_series(), reference.byteswap())


@pytest.mark.parametrize(
    ("structure", "dtype", "words"),
    [
        (VideoStructure(rows=128, columns=255), "<u2", "not a whole number of frames"),
        (VideoStructure(rows=100, columns=256), "<u2", "not a whole number of frames"),
        (VideoStructure(rows=128, columns=256, frames=21), "<u2", "declares 21 frames"),
        (VideoStructure(rows=1024, columns=1024), "<u2", "shorter than one frame"),
        (VideoStructure(rows=128, columns=256, offset=3), "<u2", "not a whole number of frames"),
        (VideoStructure(rows=128, columns=256, offset=10**9), "<u2", "past the end"),
    ],
)
def test_wrong_structures_of_the_real_movie(realdata: Path, structure: VideoStructure, dtype: str, words: str) -> None:
    with pytest.raises(CorruptFileError, match=words) as info:
        RawImagingExtractor(realdata / SIMA_RAW, structure, dtype=dtype, sampling_frequency=15.0)
    assert SIMA_RAW in str(info.value)


def test_swapped_rows_and_columns_fit_the_size_but_not_the_image(realdata: Path) -> None:
    # 256 x 128 has the same frame size as 128 x 256: only the image can tell, so it reads
    reference = _sima_reference(realdata)
    with RawImagingExtractor(realdata / SIMA_RAW, VideoStructure(256, 128), dtype="<u2", sampling_frequency=1) as x:
        assert x.shape == (20, 256, 128)
        np.testing.assert_array_equal(x.get_series(), reference.reshape(20, 256, 128))
        assert not np.array_equal(x.get_series(), np.swapaxes(reference, 1, 2))


# -- samples against their ground truth ------------------------------------------------------------
def _sample_ids() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return [s.id for s in make_raw_samples(Path(folder))]


@pytest.mark.parametrize("sample_id", _sample_ids())
def test_every_raw_sample_reads_its_truth(tmp_path: Path, sample_id: str) -> None:
    sample = next(s for s in make_raw_samples(tmp_path) if s.id == sample_id)
    truth = sample.truth.series
    with roicore.open(sample.path, reader="memmap", **sample.reader_kwargs) as x:
        assert x.shape == truth.shape and x.dtype == truth.dtype and x.dtype.isnative
        np.testing.assert_array_equal(x.get_series(), truth)
        np.testing.assert_array_equal(x.get_series(3, 8), truth[3:8])
        np.testing.assert_array_equal(x.get_samples([5, 0, 5, -1]), truth[[5, 0, 5, -1]])
        np.testing.assert_array_equal(x[:, 2, 9], truth[:, 2, 9])
        assert x.get_sampling_frequency() == sample.truth.sampling_frequency
        assert x.is_volumetric == (truth.ndim == 4)
        block = x.get_series(0, 4)
        assert block.flags.c_contiguous and block.flags.owndata and type(block) is np.ndarray


# -- truncated files ------------------------------------------------------------------------------
FRAME = ROWS * COLUMNS * 2


def _raw(tmp_path: Path, video: np.ndarray, cut: int = 0, name: str = "movie.bin") -> Path:
    data = video.astype("<u2").tobytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) - cut] if cut else data)
    return path


def _open(path: Path, **kwargs) -> RawImagingExtractor:
    return RawImagingExtractor(path, VideoStructure(ROWS, COLUMNS), dtype="<u2", sampling_frequency=10.0, **kwargs)


@pytest.mark.parametrize(("cut", "remainder"), [(1, FRAME - 1), (FRAME // 2, FRAME - FRAME // 2)])
def test_truncated_last_frame_raises_with_sizes(tmp_path: Path, video: np.ndarray, cut: int, remainder: int) -> None:
    path = _raw(tmp_path, video, cut)
    length = video.nbytes - cut
    with pytest.raises(CorruptFileError) as info:
        _open(path)
    message = str(info.value)
    assert "movie.bin" in message and f"one frame is {FRAME} bytes" in message
    assert f"data length {length} bytes" in message and f"remainder of {remainder} bytes" in message
    assert "allow_partial_frame=True" in message
    assert info.value.path == str(path)


@pytest.mark.parametrize("cut", [1, FRAME // 2])
def test_truncated_last_frame_is_dropped_with_a_warning_on_request(tmp_path: Path, video: np.ndarray, cut: int) -> None:
    path = _raw(tmp_path, video, cut)
    with pytest.warns(UserWarning, match=f"ignoring the last {FRAME - cut} bytes"):
        x = _open(path, allow_partial_frame=True)
    with x:
        assert x.get_num_samples() == len(video) - 1
        np.testing.assert_array_equal(x.get_series(), video[:-1])


def test_whole_file_reads_without_warning_when_partial_frames_are_allowed(tmp_path: Path, video: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _open(_raw(tmp_path, video), allow_partial_frame=True) as x:
            np.testing.assert_array_equal(x.get_series(), video)


@pytest.mark.parametrize("allow", [False, True])
@pytest.mark.parametrize("size", [0, 1, FRAME - 1])
def test_shorter_than_one_frame_is_always_an_error(tmp_path: Path, video: np.ndarray, size: int, allow: bool) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(video.astype("<u2").tobytes()[:size])
    with pytest.raises(CorruptFileError, match="shorter than one frame") as info:
        _open(path, allow_partial_frame=allow)
    assert "short.bin" in str(info.value) and f"data length {size} bytes" in str(info.value)


def test_interleaved_frames_cannot_drop_a_partial_frame(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "yxt.bin"
    path.write_bytes(np.ascontiguousarray(np.moveaxis(video, 0, 2)).astype("<u2").tobytes()[:-2])
    with pytest.raises(CorruptFileError, match="interleaved"):
        RawImagingExtractor(path, VideoStructure(ROWS, COLUMNS, axes="yxt"), dtype="<u2",
                            sampling_frequency=1.0, allow_partial_frame=True)


def test_truncated_file_with_a_sidecar_that_declares_frames(tmp_path: Path, video: np.ndarray) -> None:
    path = _raw(tmp_path, video, FRAME)  # exactly one frame missing
    sidecar = {"format": "roicore-raw-video", "version": 1, "data": "movie.bin", "dtype": "<u2", "axes": "tyx",
               "shape": {"t": len(video), "y": ROWS, "x": COLUMNS}, "sampling_frequency": 10.0}
    (tmp_path / "movie.bin.json").write_text(json.dumps(sidecar))
    with pytest.raises(CorruptFileError, match=f"declares {len(video)} frames"):
        roicore.open(path)


# -- explicit arguments ---------------------------------------------------------------------------
def test_missing_dtype_or_structure_is_explained(tmp_path: Path, video: np.ndarray) -> None:
    path = _raw(tmp_path, video)
    with pytest.raises(ValueError, match="dtype is required"):
        RawImagingExtractor(path, VideoStructure(ROWS, COLUMNS), sampling_frequency=1.0)
    with RawImagingExtractor(path, VideoStructure(ROWS, COLUMNS), dtype="<u2") as unknown:
        assert unknown.get_sampling_frequency() is None
        np.testing.assert_array_equal(unknown.get_series(), video.astype("<u2"))
    with pytest.raises(ValueError, match="no sidecar movie.bin.json"):
        RawImagingExtractor(path)
    with pytest.raises(ValueError, match="given twice"):
        RawImagingExtractor(path, VideoStructure(ROWS, COLUMNS, dtype="<u2"), dtype="<i2", sampling_frequency=1.0)
    with pytest.raises(TypeError, match="allow_partial_frame"):
        _open(path, allow_partial_frame="yes")
    with pytest.raises(FileNotFoundError):
        RawImagingExtractor(tmp_path / "absent.bin", VideoStructure(ROWS, COLUMNS), dtype="<u2", sampling_frequency=1)


def test_header_offset_is_skipped(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "header.dat"
    path.write_bytes(b"HEADER!" + video.astype(">u2").tobytes())
    with RawImagingExtractor(path, {"rows": ROWS, "columns": COLUMNS}, dtype=">u2", offset=7,
                             sampling_frequency=2.0) as x:
        assert x.dtype == np.dtype("u2") and x.dtype.isnative
        np.testing.assert_array_equal(x.get_series(), video)


# -- channels -------------------------------------------------------------------------------------
@pytest.fixture
def three_channels(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    channels = [make_video("u2", seed=200 + k) for k in range(3)]
    path = tmp_path / "tcyx.bin"
    path.write_bytes(np.stack(channels, axis=1).astype("<u2").tobytes())  # (t, c, y, x)
    return path, channels


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_channel_selection(three_channels: tuple[Path, list[np.ndarray]], channel: int) -> None:
    path, channels = three_channels
    structure = VideoStructure(ROWS, COLUMNS, channels=3, axes="tcyx", dtype="<u2", sampling_frequency=5.0)
    with roicore.open(path, reader="memmap", structure=structure, channel=channel) as x:
        assert x.shape == channels[channel].shape and x.channel == channel
        np.testing.assert_array_equal(x.get_series(), channels[channel])


@pytest.mark.parametrize(("channel", "error", "words"), [
    (3, IndexError, r"need 0 <= channel < 3"),
    (-1, IndexError, r"need 0 <= channel < 3"),
    ("green", KeyError, "no channel named 'green'"),
    (1.0, TypeError, "channel must be an integer"),
    (True, TypeError, "bool"),
])
def test_channel_out_of_range(three_channels, channel, error, words) -> None:
    path, _ = three_channels
    structure = VideoStructure(ROWS, COLUMNS, channels=3, axes="tcyx", dtype="<u2", sampling_frequency=5.0)
    with pytest.raises(error, match=words):
        RawImagingExtractor(path, structure, channel=channel)


def test_single_channel_file_accepts_only_channel_zero(tmp_path: Path, video: np.ndarray) -> None:
    with pytest.raises(IndexError, match="1 channel"):
        _open(_raw(tmp_path, video), channel=1)


# -- laziness and closing ---------------------------------------------------------------------------
def test_open_maps_nothing_and_close_unmaps(tmp_path: Path, video: np.ndarray) -> None:
    x = _open(_raw(tmp_path, video))
    assert x._array is None  # nothing mapped by the constructor
    x.get_series(0, 1)
    assert x._array is not None
    x.close()
    assert x._array is None and x.closed
    with pytest.raises(ValueError, match="closed"):
        x.get_series(0, 1)
    x.close()  # idempotent


def test_reads_are_copies(tmp_path: Path, video: np.ndarray) -> None:
    with _open(_raw(tmp_path, video)) as x:
        block = x.get_series(0, 2)
        block[...] = 0
        np.testing.assert_array_equal(x.get_series(0, 2), video[:2])


@pytest.mark.parametrize("reader", ["memmap", "caiman-mmap", "npy"])
def test_a_folder_is_named_as_a_folder(tmp_path: Path, reader: str) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    with pytest.raises(CorruptFileError, match=r"session is a folder, not") as info:
        roicore.open(folder, reader=reader)
    assert info.value.path == str(folder)
    done = subprocess.run([str(Path(sys.executable).parent / "roicore"), "info", str(folder), "--reader", reader],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "is a folder" in done.stderr and "Traceback" not in done.stderr
