"""``roicore convert <suite2p plane folder> out.nwb``: the NWB file reads back equal to the suite2p reader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore

samples = pytest.importorskip("roicore_suite2p.samples", reason="needs roicore-suite2p to read suite2p folders (make install)")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("roicore", path=str(Path(sys.executable).parent)) or shutil.which("roicore")
    assert script, "the roicore console script is not installed"
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plane_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The suite2p kit's plane-folder samples, by id."""
    return {s.id: s for s in samples.make_plane_samples(tmp_path_factory.mktemp("suite2p-planes"))}


def _assert_same(suite2p: Any, nwb: Any) -> None:
    """Everything the suite2p reader returns, the NWB reader returns equal (values and dtypes)."""
    assert nwb.source.reader == "nwb-segmentation"
    assert nwb.get_roi_ids() == suite2p.get_roi_ids()
    assert nwb.get_image_shape() == suite2p.get_image_shape()
    assert nwb.get_num_samples() == suite2p.get_num_samples()
    assert nwb.get_sampling_frequency() == suite2p.get_sampling_frequency()
    np.testing.assert_array_equal(nwb.get_roi_image_masks(), suite2p.get_roi_image_masks())
    # NWB keeps no order among the series of a Fluorescence container: compare the names as a set
    assert sorted(nwb.get_trace_names()) == sorted(suite2p.get_trace_names())
    for name in suite2p.get_trace_names():
        want = suite2p.get_traces(name=name)
        got = nwb.get_traces(name=name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    want_images = suite2p.get_images_dict()
    got_images = nwb.get_images_dict()
    assert sorted(got_images) == sorted(want_images)
    for name, image in want_images.items():
        np.testing.assert_array_equal(got_images[name], image, err_msg=name)
    # the writer adds the masks' weighted centroids (ROICentroids); every suite2p property comes back as it was
    assert set(nwb.get_property_keys()) == set(suite2p.get_property_keys()) | {"roi_centroids"}
    for key in suite2p.get_property_keys():
        want = np.asarray(suite2p.get_property(key))
        got = np.asarray(nwb.get_property(key))
        assert got.shape == want.shape, key
        if want.dtype == bool:
            assert got.dtype == bool, key
        np.testing.assert_array_equal(got, want, err_msg=key)
    assert nwb.get_background_ids() == suite2p.get_background_ids() == []


@pytest.mark.parametrize("sample_id", ["v0-full", "v1-split", "v1-merged", "v0-minimal"])
@pytest.mark.parametrize("mask_type", ["image", "pixel"])
def test_convert_suite2p_plane_to_nwb(plane_samples, sample_id, mask_type, tmp_path):
    sample = plane_samples[sample_id]
    out = tmp_path / "plane0.nwb"
    done = _run("convert", str(sample.path), str(out), "--writer-option", f'mask_type="{mask_type}"')
    assert done.returncode == 0, done.stderr
    assert "(suite2p)" in done.stdout
    truth = sample.truth
    with roicore.open(sample.path) as suite2p, roicore.open(out) as nwb:
        _assert_same(suite2p, nwb)
        # and against the generator's input, not only the other reader
        np.testing.assert_array_equal(nwb.get_roi_image_masks(), truth.image_masks)
        assert nwb.get_sampling_frequency() == truth.sampling_frequency
        for name, values in truth.traces.items():
            np.testing.assert_array_equal(nwb.get_traces(name=name), values, err_msg=name)
        if "is_accepted" in truth.properties:
            np.testing.assert_array_equal(nwb.get_property("is_accepted"), truth.properties["is_accepted"])
            np.testing.assert_array_equal(nwb.get_property("cell_probability"), truth.properties["cell_probability"])


def test_convert_suite2p_stores_iscell_as_accepted_and_rejected(plane_samples, tmp_path):
    import h5py

    sample = plane_samples["v0-full"]
    out = tmp_path / "plane0.nwb"
    done = _run("convert", str(sample.path), str(out))
    assert done.returncode == 0, done.stderr
    accepted = sample.truth.properties["is_accepted"]
    with h5py.File(out, "r") as handle:
        table = handle["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        np.testing.assert_array_equal(table["Accepted"][:], accepted.astype(np.int8))
        np.testing.assert_array_equal(table["Rejected"][:], (~accepted).astype(np.int8))
        np.testing.assert_array_equal(table["cell_probability"][:], sample.truth.properties["cell_probability"])
        rate = handle["processing/ophys/Fluorescence/RoiResponseSeries/starting_time"].attrs["rate"]
    assert rate == sample.truth.sampling_frequency


def test_convert_real_suite2p_plane_to_nwb(suite2p_realdata, tmp_path):
    out = tmp_path / "plane0.nwb"
    done = _run("convert", str(suite2p_realdata), str(out))
    assert done.returncode == 0, done.stderr
    with roicore.open(suite2p_realdata) as suite2p, roicore.open(out) as nwb:
        assert suite2p.source.reader == "suite2p"
        _assert_same(suite2p, nwb)
        iscell = np.load(suite2p_realdata / "iscell.npy")
        np.testing.assert_array_equal(nwb.get_property("is_accepted"), iscell[:, 0] != 0)
        np.testing.assert_array_equal(nwb.get_property("cell_probability"), iscell[:, 1])
        np.testing.assert_array_equal(nwb.get_traces(name="raw"), np.load(suite2p_realdata / "F.npy").T)


def test_convert_appends_a_suite2p_plane_to_an_existing_nwb_file(plane_samples, tmp_path):
    first, second = plane_samples["v1-split"], plane_samples["v1-merged"]
    out = tmp_path / "session.nwb"
    assert _run("convert", str(first.path), str(out)).returncode == 0
    refused = _run("convert", str(second.path), str(out))
    assert refused.returncode == 1 and "--append" in refused.stderr
    before = out.read_bytes()
    # the same names as the first plane: refused by the writer, the file is left as it was
    taken = _run("convert", str(second.path), str(out), "--append")
    assert taken.returncode == 1 and "already holds" in taken.stderr, taken.stderr
    assert out.read_bytes() == before
    metadata = ('{"Ophys": {"ImagingPlane": [{"name": "Plane1"}], "ImageSegmentation": {"plane_segmentations": '
                '[{"name": "Plane1ROIs", "imaging_plane": "Plane1"}]}, "Fluorescence": {"name": "Fluorescence1"}, '
                '"SegmentationImages": {"name": "SegmentationImages1"}}}')
    done = _run("convert", str(second.path), str(out), "--append", "--writer-option", f"metadata={metadata}")
    assert done.returncode == 0, done.stderr
    with roicore.open(first.path) as suite2p, roicore.open(out, plane_segmentation="PlaneSegmentation") as nwb:
        _assert_same(suite2p, nwb)
    with roicore.open(second.path) as suite2p, roicore.open(out, plane_segmentation="Plane1ROIs") as nwb:
        np.testing.assert_array_equal(nwb.get_roi_image_masks(), suite2p.get_roi_image_masks())
        for name in suite2p.get_trace_names():
            np.testing.assert_array_equal(nwb.get_traces(name=name), suite2p.get_traces(name=name), err_msg=name)
        np.testing.assert_array_equal(nwb.get_property("is_accepted"), suite2p.get_property("is_accepted"))


def test_convert_append_is_refused_before_reading_for_a_writer_that_cannot(plane_samples, tmp_path):
    if not any(c.id == "caiman" for c in roicore.writers()):
        pytest.skip("needs roicore-caiman's writer, which cannot append (make install)")
    out = tmp_path / "session.hdf5"
    out.write_bytes(b"not touched")
    done = _run("convert", str(plane_samples["v0-minimal"].path), str(out), "--format", "caiman", "--append")
    assert done.returncode == 2 and "cannot add to an existing file" in done.stderr, done.stderr
    assert "nwb-segmentation" in done.stderr
    assert out.read_bytes() == b"not touched"
