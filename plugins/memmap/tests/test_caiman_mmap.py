"""Reader ``caiman-mmap``: CaImAn's naming and layout, both orders, planar and volumetric."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, UnknownSamplingFrequencyError, UnsupportedFeatureError
from roicore_memmap.caiman_mmap import CaimanMmapImagingExtractor, CaimanOrderWarning
from roicore_memmap.caiman_order import guess_order
from roicore_memmap.caiman_name import parse_caiman_name
from roicore_memmap.samples import make_video, write_caiman_mmap


def _caiman_load(path: Path) -> np.ndarray:
    """CaImAn's own reading recipe (load_memmap + reshape), as an independent reference."""
    parts = path.name.split("_")[1:-1]
    d1, d2, d3, frames, order = int(parts[-9]), int(parts[-7]), int(parts[-5]), int(parts[-1]), parts[-3]
    yr = np.memmap(path, mode="r", shape=(d1 * d2 * d3, frames), dtype=np.float32, order=order)
    dims = [d1, d2] if d3 == 1 else [d1, d2, d3]
    images = np.reshape(yr.T, [frames, *dims], order="F")
    return np.array(images)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("planes", [None, 3])
def test_both_orders_match_caimans_own_reading(tmp_path: Path, order: str, planes: int | None) -> None:
    video = make_video("f4", planes=planes, seed=7)
    path = write_caiman_mmap(tmp_path, "Yr", video, order)
    np.testing.assert_array_equal(_caiman_load(path), video)  # the generator follows CaImAn's convention
    with roicore.open(path, sampling_frequency=30.0) as x:
        assert x.source.reader == "caiman-mmap" and x.order == order
        assert x.shape == video.shape and x.dtype == np.float32
        assert x.is_volumetric == (planes is not None)
        np.testing.assert_array_equal(x.get_series(), video)
        np.testing.assert_array_equal(x.get_series(4, 9), video[4:9])
        np.testing.assert_array_equal(x.get_samples([11, 0]), video[[11, 0]])


def test_pixel_order_is_row_fastest(tmp_path: Path) -> None:
    # element (p, t) of a C-order file sits at p * T + t, with p = row + column * rows
    rows, columns, frames = 3, 5, 4
    flat = np.arange(rows * columns * frames, dtype="<f4")
    path = tmp_path / f"x_d1_{rows}_d2_{columns}_d3_1_order_C_frames_{frames}_.mmap"
    flat.tofile(path)
    with CaimanMmapImagingExtractor(path, 1.0) as x:
        frame = x.get_series(1, 2)[0]
        for row in range(rows):
            for column in range(columns):
                assert frame[row, column] == (row + column * rows) * frames + 1
    path = tmp_path / f"x_d1_{rows}_d2_{columns}_d3_1_order_F_frames_{frames}_.mmap"
    flat.tofile(path)
    with CaimanMmapImagingExtractor(path, 1.0) as x:
        frame = x.get_series(1, 2)[0]
        assert frame[2, 3] == 1 * rows * columns + (2 + 3 * rows)


def test_name_parsing() -> None:
    parsed = parse_caiman_name("Yr_d1_512_d2_256_d3_1_order_C_frames_1000_.mmap")
    assert (parsed.rows, parsed.columns, parsed.planes, parsed.order, parsed.frames) == (512, 256, 1, "C", 1000)
    assert parse_caiman_name("memmap__d1_7_d2_11_d3_3_order_F_frames_12.mmap").planes == 3
    for bad in ("Yr_d1_5_d2_5_d3_1_order_X_frames_3_.mmap", "Yr_d1_0_d2_5_d3_1_order_C_frames_3_.mmap",
                "movie.mmap", "Yr_d1_5_d2_5_d3_1_order_C_frames_3_.bin"):
        assert parse_caiman_name(bad) is None


@pytest.mark.parametrize("delta", [-1, -4 * 77, 4])
def test_size_mismatch_is_corrupt(tmp_path: Path, delta: int) -> None:
    path = write_caiman_mmap(tmp_path, "Yr", make_video("f4"), "C")
    data = path.read_bytes()
    path.write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)
    with pytest.raises(CorruptFileError, match="the name declares 7 x 11 x 1 pixels x 12 frames") as info:
        roicore.open(path, sampling_frequency=1.0)
    assert path.name in str(info.value)


def test_arguments(tmp_path: Path) -> None:
    path = write_caiman_mmap(tmp_path, "Yr", make_video("f4"), "F")
    with CaimanMmapImagingExtractor(path) as unknown:  # CaImAn stores no rate: unknown, not an error
        assert unknown.get_sampling_frequency() is None
        with pytest.raises(UnknownSamplingFrequencyError, match=path.name):
            unknown.get_timestamps()
    with pytest.raises(UnsupportedFeatureError, match="one channel"):
        CaimanMmapImagingExtractor(path, 1.0, channel=1)
    other = tmp_path / "plain.mmap"
    other.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match="convention"):
        CaimanMmapImagingExtractor(other, 1.0)


@pytest.fixture(scope="module")
def movie() -> np.ndarray:
    """A movie with the structure of real data: neurons, uneven illumination, neuropil, noise."""
    from roicore.demo.session import make_session

    return make_session(num_frames=150, shape=(40, 56), num_neurons=8, seed=4).video.astype(np.float32)


def _mislabelled(folder: Path, movie: np.ndarray) -> Path:
    """C-ordered bytes under an order_F name: what caiman.save_memmap(order='F') of one file writes."""
    path = write_caiman_mmap(folder, "Yr", movie, "C")
    wrong = path.with_name(path.name.replace("_order_C_", "_order_F_"))
    path.rename(wrong)
    return wrong


def test_a_mislabelled_order_is_warned_about_and_the_override_reads_it(tmp_path: Path, movie: np.ndarray) -> None:
    path = _mislabelled(tmp_path, movie)
    with pytest.warns(CaimanOrderWarning, match=r"says order_F, but the values look C-ordered") as caught:
        with roicore.open(path, sampling_frequency=30.0) as scrambled:
            assert not np.array_equal(scrambled.get_series(0, 3), movie[:3])  # what the warning is about
    message = str(caught[0].message)
    assert path.name in message and "order='C'" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the override is trusted: no check, no warning
        with roicore.open(path, sampling_frequency=30.0, order="C") as fixed:
            assert fixed.order == "C"
            np.testing.assert_array_equal(fixed.get_series(), movie)
    done = subprocess.run([str(Path(sys.executable).parent / "roicore"), "info", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and """--option order='"C"'""" in done.stderr  # the command line's syntax


@pytest.mark.parametrize("order", ["C", "F"])
def test_correctly_named_movies_open_without_a_warning(tmp_path: Path, movie: np.ndarray, order: str) -> None:
    path = write_caiman_mmap(tmp_path, "Yr", movie, order)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with roicore.open(path) as x:
            np.testing.assert_array_equal(x.get_series(), movie)
    assert guess_order(path, movie[0].size, len(movie), np.dtype("<f4"), 40)[0] == order
    volume = np.stack([movie, movie[:, ::-1] * 0.5], axis=-1)  # planes flatten after rows and columns
    path = write_caiman_mmap(tmp_path, f"vol{order}", volume, order)
    assert guess_order(path, volume[0].size, len(volume), np.dtype("<f4"), 40)[0] == order


def test_noise_gives_no_verdict_and_a_bad_order_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(3).normal(size=(50, 19, 13)).astype(np.float32)
    path = write_caiman_mmap(tmp_path, "noise", noise, "F")
    assert guess_order(path, 19 * 13, 50, np.dtype("<f4"), 19)[0] is None
    # T = 3 x rows: the element at +T is also a near pixel under F, so no verdict whatever the data
    assert guess_order(path, 19 * 13, 57, np.dtype("<f4"), 19)[0] is None
    with pytest.raises(ValueError, match="order must be 'C'"):
        CaimanMmapImagingExtractor(path, order="X")
