"""Regressions for what the reader fuzzer (tests/fuzz) found: every problem that lies in a file is a
roicore error (or FileNotFoundError / PermissionError) naming the file at fault, never a plain ValueError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError
from roicore_memmap.npy import NpyImagingExtractor
from roicore_memmap.raw import RawImagingExtractor
from roicore_memmap.samples import COLUMNS, ROWS


def _raw_sidecar(data: str = "movie.bin", **fields: Any) -> dict[str, Any]:
    return {"format": "roicore-raw-video", "version": 1, "data": data, "dtype": "<u2", "axes": "tyx",
            "shape": {"t": 12, "y": ROWS, "x": COLUMNS}, "sampling_frequency": 30.0, **fields}


def _npy_sidecar(data: str = "movie.npy", **fields: Any) -> dict[str, Any]:
    return {"format": "roicore-npy-video", "version": 1, "data": data, "sampling_frequency": 30.0, **fields}


@pytest.fixture
def movie(tmp_path: Path, video: np.ndarray) -> Path:
    path = tmp_path / "movie.bin"
    path.write_bytes(video.astype("<u2").tobytes())
    return path


def _sidecar(data_path: Path, content: Any) -> Path:
    sidecar = data_path.with_name(data_path.name + ".json")
    sidecar.write_text(json.dumps(content), encoding="utf-8")
    return sidecar


def _broken(sidecar: Path, how: str) -> None:
    """Put a folder or a symlink loop where the sidecar is."""
    if how == "folder":
        sidecar.mkdir()
    else:
        sidecar.symlink_to(sidecar.name)


@pytest.mark.parametrize("how", ["folder", "symlink-loop"])
def test_raw_sidecar_that_is_no_file_is_corrupt_not_missing(movie: Path, how: str) -> None:
    sidecar = movie.with_name("movie.bin.json")
    _broken(sidecar, how)
    for reader in ("memmap", None):  # auto-detection now claims it (MAYBE) so the reader says what is wrong
        with pytest.raises(CorruptFileError, match="movie.bin.json") as info:
            roicore.open(movie, reader=reader)
        assert info.value.path == str(sidecar)


@pytest.mark.parametrize("how", ["folder", "symlink-loop"])
def test_npy_sidecar_that_is_no_file_is_not_ignored(tmp_path: Path, video: np.ndarray, how: str) -> None:
    path = tmp_path / "movie.npy"
    np.save(path, video, allow_pickle=False)
    _broken(tmp_path / "movie.npy.json", how)
    with pytest.raises(CorruptFileError, match="movie.npy.json"):
        NpyImagingExtractor(path)


def test_npy_sidecar_without_axes_for_a_4d_array(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "movie.npy"
    np.save(path, np.stack([video, video], axis=-1), allow_pickle=False)
    sidecar = _sidecar(path, _npy_sidecar())
    with pytest.raises(CorruptFileError, match="field 'axes' is missing") as info:
        NpyImagingExtractor(path)
    assert info.value.path == str(sidecar)
    with pytest.raises(ValueError, match="volumetric=True"):  # no sidecar: the caller must say
        sidecar.unlink()
        NpyImagingExtractor(path, 1.0)


def test_npy_axes_that_do_not_fit_the_array(tmp_path: Path, video: np.ndarray) -> None:
    path = tmp_path / "movie.npy"
    np.save(path, video, allow_pickle=False)
    sidecar = _sidecar(path, _npy_sidecar(axes="tyxz"))
    with pytest.raises(CorruptFileError, match="gives 4 axes") as info:
        NpyImagingExtractor(path)
    assert info.value.path == str(sidecar)
    sidecar.unlink()
    with pytest.raises(CorruptFileError, match="axes gives 4 axes") as info:
        NpyImagingExtractor(path, 1.0, axes="tyxz")
    assert isinstance(info.value, ValueError) and info.value.path == str(path)


def test_sidecar_format_that_contradicts_its_data(tmp_path: Path, movie: Path, video: np.ndarray) -> None:
    sidecar = _sidecar(movie, _npy_sidecar(data="movie.bin"))
    with pytest.raises(CorruptFileError, match="field 'format'") as info:
        RawImagingExtractor(movie)
    assert info.value.path == str(sidecar)
    npy = tmp_path / "clip.npy"
    np.save(npy, video, allow_pickle=False)
    raw_described = _sidecar(npy, _raw_sidecar(data="clip.npy"))
    with pytest.raises(CorruptFileError, match="field 'format'"):
        NpyImagingExtractor(raw_described)


def test_sidecar_data_path_with_a_nul_byte(movie: Path) -> None:
    sidecar = _sidecar(movie, _raw_sidecar(data="movie\u0000.bin"))
    for reader in ("memmap", None):
        with pytest.raises(CorruptFileError, match="field 'data'"):
            roicore.open(sidecar, reader=reader)


def test_frame_count_error_names_the_sidecar_it_comes_from(movie: Path) -> None:
    sidecar = _sidecar(movie, _raw_sidecar(shape={"t": 13, "y": ROWS, "x": COLUMNS}))
    with pytest.raises(CorruptFileError, match=r"described by sidecar movie\.bin\.json.*declares 13 frames") as info:
        roicore.open(sidecar)
    assert info.value.path == str(movie)


def test_missing_data_file_names_its_sidecar(tmp_path: Path) -> None:
    sidecar = tmp_path / "gone.bin.json"
    sidecar.write_text(json.dumps(_raw_sidecar(data="gone.bin")), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="named by sidecar gone.bin.json") as info:
        RawImagingExtractor(sidecar)
    assert info.value.filename == str(tmp_path / "gone.bin")


def test_npy_path_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "movie.npy").mkdir()
    with pytest.raises(CorruptFileError, match="is a folder"):
        NpyImagingExtractor(tmp_path / "movie.npy", 1.0)


def test_unreadable_file_is_a_permission_error_not_corrupt(movie: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mapping happens on the first read; a PermissionError there is reported as what it is."""
    _sidecar(movie, _raw_sidecar())

    def denied(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(movie))

    with RawImagingExtractor(movie) as extractor:
        monkeypatch.setattr(np, "memmap", denied)
        with pytest.raises(PermissionError, match="movie.bin"):
            extractor.get_series()
