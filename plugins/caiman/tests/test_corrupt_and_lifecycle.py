"""Damaged files raise CorruptFileError naming the file; opening reads no traces; handles close."""

from __future__ import annotations

import gc
import shutil

import h5py
import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError
from roicore_caiman.reader import CaimanSegmentationExtractor

TRACE_FIELDS = ("/estimates/C", "/estimates/YrA", "/estimates/S", "/estimates/F_dff", "/estimates/f")


def _expect_corrupt(path, match: str = "", *, at: str = "open") -> CorruptFileError:
    if at == "open":
        with pytest.raises(CorruptFileError, match=match) as info:
            CaimanSegmentationExtractor(path)
    else:
        with CaimanSegmentationExtractor(path) as seg, pytest.raises(CorruptFileError, match=match) as info:
            if at == "masks":
                seg.get_roi_masks()
            elif at == "background":
                seg.get_background_masks()
            else:
                seg.get_traces(name=at)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    return info.value


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file(samples, tmp_path, keep):
    source = samples["evaluated"].path
    data = source.read_bytes()
    path = tmp_path / "truncated.hdf5"
    path.write_bytes(data[: int(len(data) * keep)])
    try:
        with CaimanSegmentationExtractor(path) as seg:
            seg.get_roi_masks()
            for name in seg.get_trace_names():
                seg.get_traces(name=name)
    except CorruptFileError as exc:
        assert str(path) in str(exc)
    else:  # pragma: no cover - HDF5 keeps its metadata at the start; a cut this deep must be noticed
        pytest.fail("a truncated file read without error")


def test_empty_and_non_hdf5_files(tmp_path):
    empty = tmp_path / "empty.hdf5"
    empty.write_bytes(b"")
    _expect_corrupt(empty, "cannot be opened as HDF5")
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5\n")
    _expect_corrupt(text, "cannot be opened as HDF5")
    folder = tmp_path / "folder.hdf5"
    folder.mkdir()
    _expect_corrupt(folder, "folder")
    with pytest.raises(FileNotFoundError):
        CaimanSegmentationExtractor(tmp_path / "missing.hdf5")


@pytest.mark.parametrize("member", ["data", "indices", "indptr", "shape"])
def test_missing_a_member(build, member):
    built = build(edit=lambda handle: handle["estimates/A"].__delitem__(member))
    _expect_corrupt(built.path, f"member '{member}'")


@pytest.mark.parametrize(
    ("edit", "match", "at"),
    [
        (lambda h: h["estimates"].__delitem__("A"), "no spatial footprints 'A'", "open"),
        (lambda h: (h["estimates"].__delitem__("A"), h["estimates"].__setitem__("A", "NoneType")), "saved before fitting", "open"),
        (lambda h: h.__delitem__("estimates"), "no 'estimates' group", "open"),
        (lambda h: (h["estimates/A"].__delitem__("shape"), h["estimates/A"].__setitem__("shape", np.array([55, 4]))), "55 pixel rows", "open"),
        (lambda h: (h["estimates/A"].__delitem__("shape"), h["estimates/A"].__setitem__("shape", np.array([54, 5]))), "indptr has 5 entries", "open"),
        (lambda h: (h["estimates"].__delitem__("C"), h["estimates"].__setitem__("C", np.ones((3, 20)))), r"shape \(3, 20\); expected \(4, frames\)", "open"),
        (lambda h: (h["estimates"].__delitem__("S"), h["estimates"].__setitem__("S", np.ones((4, 19)))), "disagree on the number of frames", "open"),
        (lambda h: (h["estimates"].__delitem__("f"), h["estimates"].__setitem__("f", np.ones((1, 21)))), "21 frames", "open"),
        (lambda h: (h["estimates"].__delitem__("b"), h["estimates"].__setitem__("b", np.ones((53, 1)))), "53", "open"),
        (lambda h: (h["estimates"].__delitem__("C"), h["estimates"].__setitem__("C", np.array([b"x"] * 4))), "must hold numbers", "open"),
        (lambda h: h["params/data"].__delitem__("dims") or h["estimates"].__delitem__("dims") or h.__delitem__("dims"), "no image dimensions", "open"),
        (lambda h: (h["params/data"].__delitem__("fr"), h["params/data"].__setitem__("fr", b"fast")), "must be a number", "open"),
        (lambda h: (h["params/data"].__delitem__("fr"), h["params/data"].__setitem__("fr", 0.0)), "finite number > 0", "open"),
        (lambda h: h["estimates/A/indices"].__setitem__(0, 10_000), "row indices outside", "masks"),
        (lambda h: h["estimates/A/indptr"].__setitem__(1, 10_000), "index pointer", "masks"),
        (lambda h: h["estimates/A/data"].__setitem__(0, -1.0), "negative weights", "masks"),
        (lambda h: h["estimates/A/data"].__setitem__(0, np.nan), "non-finite", "masks"),
    ],
)
def test_damaged_layouts(build, edit, match, at):
    built = build(edit=edit)
    _expect_corrupt(built.path, match, at=at)


def test_damaged_trace_data_is_reported(build, tmp_path):
    """Bytes of the C dataset overwritten with garbage that HDF5 notices -> CorruptFileError, never an h5py error."""
    built = build(frames=2000, count=4)
    with h5py.File(built.path, "r") as handle:
        offset = handle["estimates/C"].id.get_offset()
    assert offset is not None
    data = bytearray(built.path.read_bytes())
    del data[offset + 16 :]  # the file now ends inside C
    built.path.write_bytes(bytes(data))
    try:
        with CaimanSegmentationExtractor(built.path) as seg:
            seg.get_traces(name="raw")
    except CorruptFileError as exc:
        assert str(built.path) in str(exc)


def test_open_reads_no_trace_data(monkeypatch, samples):
    """Spy on every h5py dataset read during open: no trace matrix and no footprint data is touched."""
    touched: list[str] = []
    original_getitem, original_direct = h5py.Dataset.__getitem__, h5py.Dataset.read_direct

    def spy(self, key, *args, **kwargs):
        if self.shape != ():  # reading a scalar "NoneType" placeholder is not reading data
            touched.append(self.name)
        return original_getitem(self, key, *args, **kwargs)

    def spy_direct(self, dest, *args, **kwargs):
        touched.append(self.name)
        return original_direct(self, dest, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "read_direct", spy_direct)
    for sample in samples.values():
        touched.clear()
        seg = CaimanSegmentationExtractor(sample.path)
        try:
            bulk = [name for name in touched if name in TRACE_FIELDS or name.startswith(("/estimates/A", "/estimates/b"))]
            trace_reads = [name for name in bulk if not name.endswith("/shape")]
            assert trace_reads == [], (sample.id, trace_reads)
            repr(seg)
            seg.get_roi_ids(), seg.get_num_samples(), seg.get_trace_names(), seg.get_property_keys()
            assert [n for n in touched if n in TRACE_FIELDS] == []
            touched.clear()
            seg.get_traces(roi_ids=[1], start_sample=2, end_sample=5, name="denoised")
            assert set(touched) == {"/estimates/C"}
        finally:
            seg.close()


def test_window_reads_only_the_window(monkeypatch, samples):
    """The selections passed to h5py for a window stay inside that window."""
    selections: list[tuple[str, object]] = []
    original_getitem, original_direct = h5py.Dataset.__getitem__, h5py.Dataset.read_direct

    def spy(self, key, *args, **kwargs):
        selections.append((self.name, key))
        return original_getitem(self, key, *args, **kwargs)

    def spy_direct(self, dest, source_sel=None, *args, **kwargs):
        selections.append((self.name, source_sel))
        return original_direct(self, dest, source_sel, *args, **kwargs)

    with CaimanSegmentationExtractor(samples["evaluated"].path) as seg:
        monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
        monkeypatch.setattr(h5py.Dataset, "read_direct", spy_direct)
        got = seg.get_traces(roi_ids=[2, 3], start_sample=10, end_sample=14, name="raw")
        scattered = seg.get_traces(roi_ids=[8, 0], start_sample=30, end_sample=31, name="denoised")
    np.testing.assert_array_equal(got, samples["evaluated"].truth.traces["raw"][10:14, [2, 3]])
    np.testing.assert_array_equal(scattered, samples["evaluated"].truth.traces["denoised"][30:31, [8, 0]])
    assert {name for name, _ in selections} == {"/estimates/C", "/estimates/YrA"}
    for _, key in selections:
        rows, columns = key
        assert (columns.start, columns.stop) in ((10, 14), (30, 31))
        assert (rows.start, rows.stop) in ((2, 4), (0, 9))


def _reopen_for_writing_works(path) -> bool:
    """h5py refuses 'r+' while this process still holds the file open read-only."""
    try:
        with h5py.File(path, "r+"):
            return True
    except OSError:
        return False


def test_close_and_context_exit_release_the_file(samples, tmp_path):
    path = tmp_path / "copy.hdf5"
    shutil.copy(samples["evaluated"].path, path)
    seg = CaimanSegmentationExtractor(path)
    seg.get_traces(name="raw")
    assert not _reopen_for_writing_works(path)
    seg.close()
    assert seg.closed and seg._file is None
    assert _reopen_for_writing_works(path)
    seg.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        seg.get_traces(name="raw")
    with pytest.raises(ValueError, match="closed"):
        seg.get_images_dict()
    with CaimanSegmentationExtractor(path) as seg:
        seg.get_roi_image_masks()
    assert _reopen_for_writing_works(path)


def test_failed_open_leaves_no_handle(build):
    built = build(edit=lambda h: h["estimates/A"].__delitem__("indices"))
    with pytest.raises(CorruptFileError):
        CaimanSegmentationExtractor(built.path)
    gc.collect()
    assert _reopen_for_writing_works(built.path)


def test_roicore_open_names_the_file(build):
    built = build(edit=lambda h: h["estimates/A"].__delitem__("indptr"))
    with pytest.raises(CorruptFileError) as info:
        roicore.open(built.path)
    assert str(built.path) in str(info.value)
