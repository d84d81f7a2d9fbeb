"""Detection: every detectable sample is found by roicore.open; bare raw files are declined with advice."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, NoReaderFoundError
from roicore_memmap.samples import make_caiman_samples, make_npy_samples, make_raw_samples
from roicore_memmap.sniff import sniff_caiman_mmap, sniff_npy, sniff_raw

GENERATORS = {"memmap": make_raw_samples, "npy": make_npy_samples, "caiman-mmap": make_caiman_samples}


def _all_samples() -> list[tuple[str, str, bool]]:
    found = []
    with tempfile.TemporaryDirectory() as folder:
        for reader, make in GENERATORS.items():
            (Path(folder) / reader).mkdir()
            found += [(reader, sample.id, sample.detectable) for sample in make(Path(folder) / reader)]
    return found


@pytest.mark.parametrize(("reader", "sample_id", "detectable"), _all_samples())
def test_open_detects_every_detectable_sample(tmp_path: Path, reader: str, sample_id: str, detectable: bool) -> None:
    sample = next(s for s in GENERATORS[reader](tmp_path) if s.id == sample_id)
    if not detectable:
        with pytest.raises(NoReaderFoundError, match="no sidecar"):
            roicore.open(sample.path)
        return
    report = roicore.explain(sample.path)
    assert report.chosen == f"roicore-memmap:{reader}", str(report)
    with roicore.open(sample.path, **sample.reader_kwargs) as x:
        assert x.source.reader == reader and x.source.plugin == "roicore-memmap"
        np.testing.assert_array_equal(x.get_series(), sample.truth.series)


def test_bare_raw_file_says_how_to_describe_it(tmp_path: Path) -> None:
    path = tmp_path / "movie.dat"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(NoReaderFoundError) as info:
        roicore.open(path)
    message = str(info.value)
    assert "no sidecar movie.dat.json" in message and "reader='memmap'" in message
    assert info.value.report.candidates[0].verdict == "no"


def test_invalid_sidecar_is_reported_when_opening(tmp_path: Path) -> None:
    path = tmp_path / "movie.bin"
    path.write_bytes(b"\0" * 154)
    (tmp_path / "movie.bin.json").write_text("{broken")
    assert sniff_raw(path, b"").level.name == "MAYBE"
    with pytest.raises(CorruptFileError, match="movie.bin.json is not valid JSON"):
        roicore.open(path)


def test_foreign_json_is_not_claimed(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"format": "something", "data": "x"}))
    assert not sniff_raw(path, path.read_bytes())
    path.write_text("[1, 2, 3]")
    assert not sniff_raw(path, path.read_bytes())
    data = tmp_path / "movie.bin"
    data.write_bytes(b"\0" * 10)
    (tmp_path / "movie.bin.json").write_text(json.dumps({"format": "other-tool", "version": 3}))
    verdict = sniff_raw(data, b"")
    assert verdict.level.name == "NO" and "not a roicore video description" in verdict.reason


def test_sniffs_decline_without_raising(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY\x01\x00\xff\xff{garbage")
    assert not sniff_npy(junk, junk.read_bytes())
    assert not sniff_npy(junk, b"")
    one_d = tmp_path / "line.npy"
    np.save(one_d, np.arange(5))
    assert "1-D" in sniff_npy(one_d, one_d.read_bytes()).reason
    assert not sniff_caiman_mmap(tmp_path / "x_d1_x_d2_x_d3_x_order_x_frames_x.mmap", b"")
    directory = tmp_path / "folder.bin"
    directory.mkdir()
    assert not sniff_raw(directory, b"")
