"""The sidecar JSON: what the reader accepts, and a CorruptFileError naming sidecar and field for the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, UnknownSamplingFrequencyError
from roicore_memmap.raw import RawImagingExtractor
from roicore_memmap.samples import COLUMNS, ROWS
from roicore_memmap.sidecar import RAW_FORMAT, read_sidecar


def _valid(name: str = "movie.bin", frames: int = 12) -> dict[str, Any]:
    return {
        "format": RAW_FORMAT,
        "version": 1,
        "data": name,
        "dtype": "<u2",
        "axes": "tyx",
        "shape": {"t": frames, "y": ROWS, "x": COLUMNS},
        "offset": 0,
        "sampling_frequency": 30.0,
    }


@pytest.fixture
def movie(tmp_path: Path, video: np.ndarray) -> Path:
    path = tmp_path / "movie.bin"
    path.write_bytes(video.astype("<u2").tobytes())
    return path


def _write(path: Path, content: Any) -> Path:
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return sidecar


def test_valid_sidecar_by_data_path_and_by_sidecar_path(movie: Path, video: np.ndarray) -> None:
    sidecar = _write(movie, {**_valid(), "channel_names": ["gcamp"], "metadata": {"rig": 2}})
    for path in (movie, sidecar):
        with roicore.open(path) as x:
            assert x.source.reader == "memmap"
            assert x.file_path == movie and x.get_channel_names() == ["gcamp"]
            np.testing.assert_array_equal(x.get_series(), video)
    parsed = read_sidecar(sidecar)
    assert parsed.metadata == {"rig": 2} and parsed.structure.frames == 12


def test_optional_fields_and_overrides(movie: Path, video: np.ndarray) -> None:
    content = _valid()
    del content["offset"], content["shape"]["t"]
    _write(movie, content)
    with RawImagingExtractor(movie, sampling_frequency=99.0) as x:  # arguments override the sidecar
        assert x.get_sampling_frequency() == 99.0 and x.get_num_samples() == 12


def test_data_in_a_subfolder_is_allowed(tmp_path: Path, video: np.ndarray) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "movie.bin").write_bytes(video.astype("<u2").tobytes())
    sidecar = tmp_path / "description.json"
    sidecar.write_text(json.dumps(_valid("frames/movie.bin")))
    with roicore.open(sidecar) as x:
        np.testing.assert_array_equal(x.get_series(), video)


@pytest.mark.parametrize("data", ["../movie.bin", "/etc/passwd", "frames/../../movie.bin", "C:/movie.bin",
                                  "..\\movie.bin", ".", ""])
def test_data_path_must_stay_inside_the_sidecar_folder(tmp_path: Path, data: str) -> None:
    folder = tmp_path / "inner"
    folder.mkdir()
    (tmp_path / "movie.bin").write_bytes(b"\0" * 2 * ROWS * COLUMNS)
    sidecar = folder / "escape.bin.json"
    sidecar.write_text(json.dumps(_valid(data)))
    with pytest.raises(CorruptFileError, match="field 'data'") as info:
        RawImagingExtractor(sidecar)
    assert "escape.bin.json" in str(info.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": "something-else"}, "format"),
        ({"version": 2}, "version"),
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"dtype": "object"}, "dtype"),
        ({"dtype": "not-a-dtype"}, "dtype"),
        ({"dtype": 2}, "dtype"),
        ({"axes": "tyq"}, "axes"),
        ({"axes": "ty"}, "axes"),
        ({"shape": [12, ROWS, COLUMNS]}, "shape"),
        ({"shape": {"y": ROWS}}, "shape"),
        ({"shape": {"y": ROWS, "x": COLUMNS, "z": 2}}, "shape"),
        ({"shape": {"y": ROWS, "x": 0}}, "shape"),
        ({"shape": {"y": ROWS, "x": 11.0}}, "shape"),
        ({"offset": -4}, "offset"),
        ({"offset": "0"}, "offset"),
        ({"sampling_frequency": 0}, "sampling_frequency"),
        ({"sampling_frequency": "30"}, "sampling_frequency"),
        ({"channel_names": ["a", "b"]}, "channel_names"),
        ({"channel_names": "gcamp"}, "channel_names"),
        ({"metadata": [1]}, "metadata"),
        ({"data": 3}, "data"),
    ],
)
def test_invalid_field_is_named(movie: Path, change: dict[str, Any], field: str) -> None:
    sidecar = _write(movie, {**_valid(), **change})
    with pytest.raises(CorruptFileError) as info:
        roicore.open(movie, reader="memmap")
    message = str(info.value)
    assert str(sidecar) in message and repr(field) in message
    assert info.value.path == str(sidecar)


@pytest.mark.parametrize("field", ["format", "version", "data", "dtype", "axes", "shape"])
def test_missing_required_field_is_named(movie: Path, field: str) -> None:
    content = _valid()
    del content[field]
    _write(movie, content)
    with pytest.raises(CorruptFileError, match=field) as info:
        RawImagingExtractor(movie)
    assert "movie.bin.json" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"format": "roicore-raw-video", "format": "x"}', "more than once"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_unreadable_sidecar(movie: Path, text: Any, words: str) -> None:
    sidecar = movie.with_name("movie.bin.json")
    sidecar.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CorruptFileError, match=words) as info:
        roicore.open(movie, reader="memmap")
    assert "movie.bin.json" in str(info.value)


def test_unknown_field_is_refused(movie: Path) -> None:
    _write(movie, {**_valid(), "samplingrate": 30})
    with pytest.raises(CorruptFileError, match="unknown field.*samplingrate"):
        RawImagingExtractor(movie)


def test_sidecar_of_another_file(movie: Path) -> None:
    _write(movie, _valid("other.bin"))
    with pytest.raises(CorruptFileError, match="names 'other.bin'"):
        RawImagingExtractor(movie)


def test_sidecar_whose_data_is_missing(tmp_path: Path) -> None:
    sidecar = tmp_path / "gone.bin.json"
    sidecar.write_text(json.dumps(_valid("gone.bin")))
    with pytest.raises(FileNotFoundError, match="gone.bin"):
        roicore.open(sidecar, reader="memmap")


def test_sidecar_describing_the_wrong_size(movie: Path) -> None:
    content = _valid()
    content["shape"] = {"t": 12, "y": COLUMNS, "x": ROWS + 1}
    _write(movie, content)
    with pytest.raises(CorruptFileError, match="movie.bin"):
        roicore.open(movie)


def test_sidecar_without_a_rate_opens_with_an_unknown_rate(movie: Path, video: np.ndarray) -> None:
    content = _valid()
    del content["sampling_frequency"]
    _write(movie, content)
    with roicore.open(movie) as x:
        assert x.get_sampling_frequency() is None
        np.testing.assert_array_equal(x.get_series(), video.astype("<u2"))
        with pytest.raises(UnknownSamplingFrequencyError, match="movie.bin"):
            x.time_to_sample_indices(0.5)
    with roicore.open(movie, sampling_frequency=5.0) as x:
        np.testing.assert_allclose(x.get_timestamps(0, 2), [0.0, 0.2])
