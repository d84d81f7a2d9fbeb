"""A missing frame rate never blocks opening: None until given, errors only where time is needed.

The command line and the Python API give the same advice in their own syntax.
"""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import RoicoreError, UnknownSamplingFrequencyError, cli_syntax, option_hint, reader_hint
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor

from test_cli_commands import NEEDED, _installed, roicore_command

plugins_needed = pytest.mark.skipif(
    not NEEDED <= _installed(),
    reason="needs the roicore-memmap, roicore-caiman and roicore-sima plugins (make test installs them)",
)


@pytest.fixture
def video() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 1000, size=(20, 12, 14)).astype(np.uint16)


def test_imaging_without_a_rate_reads_and_refuses_only_time(video: np.ndarray) -> None:
    x = NumpyImagingExtractor(video, None)
    assert x.get_sampling_frequency() is None
    np.testing.assert_array_equal(x.get_series(3, 5), video[3:5])
    np.testing.assert_array_equal(x[::4, 2], video[::4, 2])
    assert "rate unknown" in repr(x)
    assert x.has_time_vector() is False
    for call in (x.get_timestamps, lambda: x.time_to_sample_indices([0.1, 0.2]), x.slice_samples(2, 9).get_timestamps):
        with pytest.raises(UnknownSamplingFrequencyError) as info:
            call()
        assert isinstance(info.value, RoicoreError) and isinstance(info.value, ValueError)
        message = str(info.value)
        assert "sampling_frequency=30" in message and "set_sampling_frequency(30)" in message
        assert "--option" not in message  # Python callers get Python syntax


def test_set_times_makes_the_rate_unnecessary(video: np.ndarray) -> None:
    x = NumpyImagingExtractor(video, None)
    times = np.linspace(1.0, 3.0, 20)
    x.set_times(times)
    np.testing.assert_array_equal(x.get_timestamps(), times)
    np.testing.assert_array_equal(x.time_to_sample_indices([1.0, 3.0]), [0, 19])


def test_set_sampling_frequency_wins_and_is_seen_by_views_and_pickles(video: np.ndarray) -> None:
    x = NumpyImagingExtractor(video, 10.0)
    sliced = x.slice_samples(4, 8)
    x.set_sampling_frequency(4)
    assert x.get_sampling_frequency() == 4.0 and type(x.get_sampling_frequency()) is float
    np.testing.assert_allclose(sliced.get_timestamps(), [1.0, 1.25, 1.5, 1.75])
    restored = pickle.loads(pickle.dumps(x))
    assert restored.get_sampling_frequency() == 4.0
    for bad in (0, -1, float("nan"), "fast", True):
        with pytest.raises(ValueError, match="sampling_frequency"):
            x.set_sampling_frequency(bad)


def test_segmentation_without_a_rate(video: np.ndarray) -> None:
    masks = np.zeros((12, 14, 2), dtype=bool)
    masks[2:4, 2:4, 0] = masks[6:9, 8:11, 1] = True
    traces = np.arange(40, dtype=np.float64).reshape(20, 2)
    seg = NumpySegmentationExtractor(masks, None, traces={"raw": traces})
    assert seg.get_sampling_frequency() is None
    np.testing.assert_array_equal(seg.get_traces(start_sample=5, end_sample=7), traces[5:7])
    assert "samples at an unknown rate" in repr(seg)
    with pytest.raises(UnknownSamplingFrequencyError):
        seg.slice_samples(1, 3).get_timestamps()
    seg.set_sampling_frequency(2.0)
    np.testing.assert_allclose(seg.slice_samples(1, 3).get_timestamps(), [0.5, 1.0])


def test_hints_follow_the_callers_syntax() -> None:
    assert option_hint("sampling_frequency", "30") == "sampling_frequency=30"
    assert reader_hint("memmap") == "reader='memmap'"
    with cli_syntax():
        assert option_hint("sampling_frequency", "30") == "--option sampling_frequency=30"
        assert reader_hint("memmap") == "--reader memmap"
        message = str(UnknownSamplingFrequencyError("movie.npy", needed_for="writing"))
        assert "--option sampling_frequency=30" in message and "set_sampling_frequency" not in message
    assert option_hint("x") == "x=..."  # restored on exit


@plugins_needed
def test_npy_without_a_rate_through_the_command_line(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "movie.npy"
    np.save(path, video)
    done = roicore_command("info", str(path))
    assert done.returncode == 0, done.stderr
    assert "rate:       unknown (give it with --option sampling_frequency=30)" in done.stdout
    assert done.stderr == ""
    converted = tmp_path / "copy.npy"
    done = roicore_command("convert", str(path), str(converted))
    assert done.returncode == 0, done.stderr
    with roicore.open(converted) as copy:
        np.testing.assert_array_equal(copy.get_series(), video)
        assert copy.get_sampling_frequency() is None  # still unknown, never invented
    done = roicore_command("show", str(path), "-o", str(tmp_path / "look.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "look.png").stat().st_size > 0
    done = roicore_command("info", str(path), "--option", "sampling_frequency=12.5")
    assert "rate:       12.5 Hz" in done.stdout


@plugins_needed
def test_a_writer_that_needs_the_rate_says_so_in_each_syntax(tmp_path: Path) -> None:
    truth = roicore.demo.session.make_session(num_frames=60, shape=(24, 28), num_neurons=3, seed=2)
    movie = tmp_path / "movie.npy"
    np.save(movie, truth.video)
    rois = tmp_path / "rois.hdf5"
    roicore.write(NumpySegmentationExtractor(truth.footprints, 30.0, traces={"raw": truth.calcium}), rois)
    output = tmp_path / "traces.hdf5"
    done = roicore_command("extract", str(movie), "--rois", str(rois), "-o", str(output))
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert "movie.npy" in first and "--option sampling_frequency=30" in first, done.stderr
    assert "set_sampling_frequency" not in done.stderr and not output.exists()
    with roicore.open(movie) as video, roicore.open(rois) as segmentation:
        result = roicore.extract(video, segmentation)
        assert result.get_sampling_frequency() is None
        with pytest.raises(UnknownSamplingFrequencyError, match=r"sampling_frequency=30\) or extractor"):
            roicore.write(result, output)
    done = roicore_command("extract", str(movie), "--option", "sampling_frequency=30", "--rois", str(rois),
                           "-o", str(output))
    assert done.returncode == 0, done.stderr
    with roicore.open(output) as written:
        assert written.get_sampling_frequency() == 30.0


def test_cli_usage_messages_use_cli_syntax(tmp_path: Path) -> None:
    unknown = tmp_path / "mystery.bin"
    unknown.write_bytes(b"\0" * 64)
    done = subprocess.run(
        [*_command(), "info", str(unknown)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "reader=..." not in done.stderr and "roicore.open(" not in done.stderr, done.stderr
    assert "--reader" in done.stderr


def _command() -> list[str]:
    import shutil
    import sys

    script = shutil.which("roicore", path=str(Path(sys.executable).parent))
    assert script
    return [script]


def test_a_rate_set_on_a_view_stays_with_its_slices(video: np.ndarray) -> None:
    x = NumpyImagingExtractor(video, None)
    view = x.slice_samples(2, 12)
    view.set_sampling_frequency(5.0)
    # like any slice of a video without a time vector: sample i of the root at i / fs
    np.testing.assert_allclose(view.slice_samples(1, 3).get_timestamps(), [0.6, 0.8])
    assert x.get_sampling_frequency() is None
    masks = np.ones((12, 14, 1), dtype=bool)
    seg = NumpySegmentationExtractor(masks, None, traces={"raw": np.zeros((20, 1))})
    part = seg.slice_samples(4, 10)
    part.set_sampling_frequency(2.0)
    np.testing.assert_allclose(part.slice_samples(2, 4).get_timestamps(), [3.0, 3.5])
    subset = seg.select_rois([0])
    subset.set_sampling_frequency(3.0)
    assert subset.select_rois([0]).get_sampling_frequency() == 3.0
