"""The real CaImAn NWB export (shared/realdata) against the CaImAn HDF5 it came from, and detection."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore_nwb.sniff import sniff_imaging, sniff_segmentation


def _caiman_installed() -> bool:
    return any(c.id == "caiman" for c in roicore.readers())


needs_caiman = pytest.mark.skipif(not _caiman_installed(), reason="needs roicore-caiman to read the CaImAn HDF5 (make install installs it)")


@needs_caiman
def test_caiman_export_reads_equal_to_the_caiman_hdf5(realdata):
    with roicore.open(realdata / "caiman_analysis.nwb") as nwb, roicore.open(realdata / "caiman_analysis.hdf5") as hdf5:
        assert nwb.source.reader == "nwb-segmentation" and hdf5.source.reader == "caiman"
        assert nwb.producer == "caiman"
        assert nwb.get_roi_ids() == hdf5.get_roi_ids() == list(range(20))
        assert nwb.get_background_ids() == hdf5.get_background_ids() == [20]
        assert nwb.get_frame_shape() == hdf5.get_frame_shape()
        # masks: CaImAn's exporter reshaped Fortran-ordered footprints in C order; read back, they are A itself
        np.testing.assert_array_equal(nwb.get_roi_image_masks(), hdf5.get_roi_image_masks())
        np.testing.assert_array_equal(nwb.get_background_image_masks(), hdf5.get_background_image_masks())
        # raw = Fluorescence/RoiResponseSeries (C) + residuals (YrA); denoised = C; background = f
        for name in ("raw", "denoised", "background"):
            np.testing.assert_array_equal(nwb.get_traces(name=name), hdf5.get_traces(name=name))
        np.testing.assert_array_equal(nwb.get_traces([3, 7], 100, 250), hdf5.get_traces([3, 7], 100, 250))
        assert nwb.get_sampling_frequency() == hdf5.get_sampling_frequency() == 15.0
        np.testing.assert_allclose(nwb.get_timestamps(), hdf5.get_timestamps(), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(nwb.get_property("is_accepted"), hdf5.get_property("is_accepted"))
        for key in ("snr", "r_values"):
            np.testing.assert_array_equal(nwb.get_property(key), hdf5.get_property(key))


def test_caiman_export_masks_are_not_the_stored_array(realdata):
    """The stored (n, 64, 64) image_mask read without CaImAn's rule is the transpose of the truth."""
    import h5py

    with h5py.File(realdata / "caiman_analysis.nwb", "r") as handle:
        stored = handle["processing/ophys/ImageSegmentation/PlaneSegmentation/image_mask"][:20]
    with roicore.open(realdata / "caiman_analysis.nwb") as nwb:
        masks = nwb.get_roi_image_masks()
    assert not np.allclose(stored.transpose(1, 2, 0), masks)
    np.testing.assert_array_equal(stored.transpose(2, 1, 0), masks)  # square frame: Fortran reshape = transpose


def test_explain_picks_the_nwb_reader_unambiguously(realdata):
    report = roicore.explain(realdata / "caiman_analysis.nwb")
    text = str(report)
    assert "-> roicore-nwb:nwb-segmentation" in text
    verdicts = {c.reader: c.verdict for c in report.candidates}
    assert report.chosen == "roicore-nwb:nwb-segmentation"
    assert verdicts["roicore-nwb:nwb-segmentation"] == "yes"
    assert [q for q, v in verdicts.items() if v == "yes"] == ["roicore-nwb:nwb-segmentation"]
    if _caiman_installed():
        assert verdicts["roicore-caiman:caiman"] == "no"


@pytest.mark.parametrize("name", ["caiman_analysis.hdf5", "sima_example.h5", "sima_example-volume.h5"])
def test_sniffs_say_no_to_other_hdf5_files(realdata, name):
    path = realdata / name
    header = path.read_bytes()[:4096]
    for sniff in (sniff_segmentation, sniff_imaging):
        verdict = sniff(path, header)
        assert verdict.level.name == "NO", verdict
        assert "nwb_version" in verdict.reason


def test_sniffs_say_no_to_folders_and_the_suite2p_folder(realdata):
    for sniff in (sniff_segmentation, sniff_imaging):
        assert sniff(realdata, b"").level.name == "NO"
        assert sniff(realdata / "suite2p-0.14.6" / "plane0", b"").level.name == "NO"


@needs_caiman
def test_cli_converts_the_caiman_hdf5_to_nwb(realdata, tmp_path):
    script = shutil.which("roicore", path=str(Path(sys.executable).parent)) or shutil.which("roicore")
    assert script, "the roicore console script is not installed"
    out = tmp_path / "out.nwb"
    done = subprocess.run([script, "convert", str(realdata / "caiman_analysis.hdf5"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with roicore.open(out) as converted, roicore.open(realdata / "caiman_analysis.hdf5") as original:
        assert converted.source.reader == "nwb-segmentation" and converted.producer == "roicore"
        assert converted.get_roi_ids() == original.get_roi_ids()
        assert converted.get_background_ids() == original.get_background_ids()
        np.testing.assert_array_equal(converted.get_roi_image_masks(), original.get_roi_image_masks())
        np.testing.assert_array_equal(converted.get_background_image_masks(), original.get_background_image_masks())
        assert sorted(converted.get_trace_names()) == sorted(original.get_trace_names())
        for name in original.get_trace_names():
            np.testing.assert_array_equal(converted.get_traces(name=name), original.get_traces(name=name))
        np.testing.assert_array_equal(converted.get_image("correlation"), original.get_image("correlation"))
        np.testing.assert_array_equal(converted.get_property("is_accepted"), original.get_property("is_accepted"))
        assert converted.get_sampling_frequency() == original.get_sampling_frequency()
    done = subprocess.run([script, "convert", str(realdata / "caiman_analysis.hdf5"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "exists" in done.stderr and "Traceback" not in done.stderr
