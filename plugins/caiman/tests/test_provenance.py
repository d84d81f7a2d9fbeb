"""Extraction output that says what it is, and CaImAn-to-CaImAn conversion that keeps what it read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import roicore
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
from roicore.registry.specs import WriterSpec
from roicore_caiman.samples import make_reader_samples
from roicore_caiman.writer import RAW_AS_C_NOTE

needs_sima = pytest.mark.skipif(
    "sima" not in {c.id for c in roicore.methods()}, reason="needs the roicore-sima plugin (make test installs it)"
)


def _roicore(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("roicore", path=str(Path(sys.executable).parent))
    assert script
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {s.id: s for s in make_reader_samples(tmp_path_factory.mktemp("caiman"))}


@needs_sima
def test_extraction_written_as_caiman_is_marked_and_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    video = NumpyImagingExtractor(rng.integers(0, 500, (30, 12, 16), dtype=np.uint16), 20.0)
    masks = np.zeros((12, 16, 2), dtype=bool)
    masks[1:4, 2:6, 0] = masks[6:10, 9:14, 1] = True
    result = roicore.extract(video, masks, label="provenance test")
    output = roicore.write(result, tmp_path / "traces.hdf5")  # chosen by its suffix: the CaImAn writer

    with h5py.File(output, "r") as handle:
        assert handle["estimates/C"].attrs["roicore_note"] == RAW_AS_C_NOTE
        np.testing.assert_array_equal(handle["estimates/YrA"][()], 0)
        provenance = json.loads(handle["roicore"].attrs["provenance"])
    assert provenance["method"] == "sima" and provenance["options"]["label"] == "provenance test"
    with roicore.open(output) as written:
        assert written.get_trace_names() == ["raw"]  # never offered as CaImAn's denoised C
        np.testing.assert_allclose(written.get_traces(), result.get_traces())
        assert written.provenance == provenance
        assert written.origin_note.startswith("roicore extraction (method 'sima', roicore-sima")
        assert "estimates/C holds raw traces" in written.origin_note
    done = _roicore("info", str(output))
    assert done.returncode == 0, done.stderr
    assert "origin:     roicore extraction (method 'sima'" in done.stdout


def test_caiman_files_of_caiman_itself_have_no_origin_note(samples: dict[str, Any]) -> None:
    with roicore.open(samples["evaluated"].path) as segmentation:
        assert segmentation.origin_note is None and segmentation.provenance is None
    denoised_free = NumpySegmentationExtractor(np.ones((3, 4, 1)), 5.0, traces={"raw": np.ones((6, 1))})
    assert getattr(denoised_free, "origin_note", None) is None


def _tree(group: h5py.Group, prefix: str = "") -> dict[str, Any]:
    """Every dataset (value) and attribute under ``group``, by path."""
    items: dict[str, Any] = {f"{prefix}@{k}": group.attrs[k] for k in group.attrs}
    for key, node in group.items():
        path = f"{prefix}/{key}"
        if isinstance(node, h5py.Group):
            items.update(_tree(node, path))
        else:
            items[path] = node[()]
            items.update({f"{path}@{k}": node.attrs[k] for k in node.attrs})
    return items


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype.kind == b.dtype.kind and bool(np.all((a == b) | ((a != a) & (b != b))))


@pytest.mark.parametrize("through", ["python", "command line"])
def test_caiman_to_caiman_keeps_every_estimates_field_and_params(samples: dict[str, Any], tmp_path: Path,
                                                                 through: str) -> None:
    source = samples["evaluated"].path
    output = tmp_path / "copy.hdf5"
    if through == "python":
        with roicore.open(source) as segmentation:
            roicore.write(segmentation, output)
    else:
        done = _roicore("convert", str(source), str(output))
        assert done.returncode == 0, done.stderr
    with h5py.File(source, "r") as original, h5py.File(output, "r") as copy:
        for group in ("estimates", "params"):
            before, after = _tree(original[group]), _tree(copy[group])
            missing = sorted(set(before) - set(after))
            assert not missing, missing
            differing = [key for key in before if not _same(before[key], after[key])]
            # A is rewritten from the masks in the same CSC layout, sorted the same way
            assert not [key for key in differing if not key.startswith("/A/")], differing
        for key in ("sn", "g", "center"):  # fields roicore does not compute, present in the sample
            assert key in copy["estimates"] and _same(copy["estimates"][key][()], original["estimates"][key][()])
    with roicore.open(source) as a, roicore.open(output) as b:
        assert a.get_trace_names() == b.get_trace_names() and b.origin_note is None
        for name in a.get_trace_names():
            np.testing.assert_array_equal(b.get_traces(name=name), a.get_traces(name=name))
        assert b.get_roi_masks().allclose(a.get_roi_masks())


def test_a_subset_is_not_passed_through(samples: dict[str, Any], tmp_path: Path) -> None:
    """Per-component CaImAn fields would not match a subset of the ROIs, so they are not copied."""
    with roicore.open(samples["evaluated"].path) as segmentation:
        roicore.write(segmentation.select_rois([0, 2]), tmp_path / "subset.hdf5")
        roicore.write(segmentation.slice_samples(0, 10), tmp_path / "window.hdf5")
    for name in ("subset.hdf5", "window.hdf5"):
        with h5py.File(tmp_path / name, "r") as handle:
            assert handle["estimates/center"][()] in (b"NoneType", "NoneType")


def _nwb_like_writer(extractor: Any, target: Any) -> None:
    Path(target.temporary()).write_text(f"{extractor.get_num_rois()} ROIs\n")


def test_the_writer_is_chosen_by_any_plugins_suffix(tmp_path: Path) -> None:
    """``.nwb`` (or any suffix) goes to the plugin that declares it: nothing is hard-coded."""
    module = types.ModuleType("roicore_test_nwb_like")
    module.write = _nwb_like_writer  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module

    @roicore.hookimpl
    def roicore_writers() -> list[WriterSpec]:
        return [WriterSpec(id="nwb-like", kind="segmentation", writer=f"{module.__name__}:write", suffixes=(".nwb",))]

    plugin = types.SimpleNamespace(roicore_writers=roicore_writers)
    name = roicore.register(plugin, name="nwb-like-test")
    try:
        segmentation = NumpySegmentationExtractor(np.ones((3, 4, 2)), 5.0, traces={"raw": np.ones((6, 2))})
        written = roicore.write(segmentation, tmp_path / "session.nwb")
        assert written.read_text() == "2 ROIs\n"
        assert roicore.writing.choose_writer("segmentation", "x.NWB").spec.id == "nwb-like"
        with pytest.raises(roicore.errors.NoReaderFoundError, match=r"format=\.\.\..*nwb-like \(\.nwb\)"):
            roicore.write(segmentation, tmp_path / "session.unknown")
    finally:
        roicore.unregister(name)
        del sys.modules[module.__name__]


def test_extract_refuses_an_output_no_writer_takes_before_any_work(samples: dict[str, Any], tmp_path: Path) -> None:
    movie = tmp_path / "movie.npy"
    np.save(movie, np.zeros((5, 23, 31), dtype=np.uint16))
    done = _roicore("extract", str(movie), "--rois", str(samples["evaluated"].path), "-o", str(tmp_path / "out.xyz"))
    assert done.returncode == 2, done.stderr
    assert "no writer of segmentation data is chosen by the name out.xyz" in done.stderr
    assert "--format ID" in done.stderr and "format=..." not in done.stderr
