"""VideoStructure: validation, derived layout, completion by separate arguments."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from roicore_memmap.structure import VideoStructure


def test_defaults_and_derived_sizes() -> None:
    s = VideoStructure(rows=128, columns=256, dtype="<u2", sampling_frequency=30)
    assert (s.planes, s.channels, s.axes, s.offset, s.frames) == (1, 1, "tyx", 0, None)
    assert s.dtype == np.dtype("<u2") and isinstance(s.sampling_frequency, float)
    assert s.frame_size == 128 * 256 and s.frame_bytes == 65536
    assert s.disk_shape(20) == (20, 128, 256)
    assert not s.volumetric and s.frames_outermost


def test_every_axis_order_is_a_permutation() -> None:
    s = VideoStructure(rows=7, columns=11, planes=3, channels=2, axes="xczty", dtype=">f4")
    assert s.disk_shape(5) == (11, 2, 3, 5, 7)
    assert s.volumetric and not s.frames_outermost
    assert s.frame_bytes == 7 * 11 * 3 * 2 * 4


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"rows": 0, "columns": 5}, ValueError, "rows must be >= 1"),
        ({"rows": 5, "columns": 2.5}, TypeError, "columns must be an integer"),
        ({"rows": True, "columns": 5}, TypeError, "bool"),
        ({"rows": 5, "columns": 5, "axes": "tyq"}, ValueError, "unknown letters"),
        ({"rows": 5, "columns": 5, "axes": "tyy"}, ValueError, "repeats"),
        ({"rows": 5, "columns": 5, "axes": "ty"}, ValueError, "lacks"),
        ({"rows": 5, "columns": 5, "axes": ["t", "y", "x"]}, TypeError, "axes must be a str"),
        ({"rows": 5, "columns": 5, "planes": 2}, ValueError, "'z' axis"),
        ({"rows": 5, "columns": 5, "channels": 2}, ValueError, "'c' axis"),
        ({"rows": 5, "columns": 5, "dtype": "object"}, ValueError, "not a pixel type"),
        ({"rows": 5, "columns": 5, "dtype": "U4"}, ValueError, "not a pixel type"),
        ({"rows": 5, "columns": 5, "dtype": "nonsense"}, TypeError, "not a numpy dtype"),
        ({"rows": 5, "columns": 5, "offset": -1}, ValueError, "offset must be >= 0"),
        ({"rows": 5, "columns": 5, "offset": 1.5}, TypeError, "offset"),
        ({"rows": 5, "columns": 5, "sampling_frequency": 0}, ValueError, "sampling_frequency"),
        ({"rows": 5, "columns": 5, "sampling_frequency": float("nan")}, ValueError, "sampling_frequency"),
        ({"rows": 5, "columns": 5, "frames": 0}, ValueError, "frames must be >= 1"),
    ],
)
def test_invalid_fields_are_named(fields: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        VideoStructure(**fields)


def test_from_mapping_and_coerce() -> None:
    s = VideoStructure.coerce({"rows": 4, "columns": 6, "axes": "yxt"})
    assert s == VideoStructure(4, 6, axes="yxt")
    assert VideoStructure.coerce(s) is s
    with pytest.raises(ValueError, match="unknown VideoStructure fields"):
        VideoStructure.from_mapping({"rows": 4, "columns": 6, "num_rows": 4})
    with pytest.raises(ValueError, match="needs"):
        VideoStructure.from_mapping({"rows": 4})
    with pytest.raises(TypeError):
        VideoStructure.coerce([4, 6])


def test_completed_fills_and_refuses_contradictions() -> None:
    s = VideoStructure(4, 6, dtype="<u2")
    done = s.completed(dtype="<u2", offset=8, sampling_frequency=10)
    assert (done.dtype, done.offset, done.sampling_frequency) == (np.dtype("<u2"), 8, 10.0)
    with pytest.raises(ValueError, match="dtype is given twice"):
        s.completed(dtype=">u2")
    assert s.completed() is s


def test_frozen_and_picklable() -> None:
    s = VideoStructure(4, 6, dtype=">i2", sampling_frequency=3.0)
    with pytest.raises(AttributeError):
        s.rows = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.to_dict()["dtype"] == ">i2"
    with pytest.raises(ValueError, match="no dtype"):
        VideoStructure(4, 6).frame_bytes
