"""``roicore extract ... -o traces.nwb`` and ``roicore convert`` to and from NWB, through the console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import roicore

pytestmark = pytest.mark.skipif(
    not any(m.id == "sima" for m in roicore.methods()), reason="needs the roicore-sima extraction method (make install)"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("roicore", path=str(Path(sys.executable).parent)) or shutil.which("roicore")
    assert script, "the roicore console script is not installed"
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=300)


def test_extract_writes_nwb_traces_equal_to_the_library_call(seg_samples, img_samples, tmp_path):
    from roicore.memory import NumpySegmentationExtractor

    video = img_samples["two-photon-rate"]
    with roicore.open(video.path) as imaging:
        frame = imaging.get_image_shape()
        masks = np.zeros(frame + (2,))
        masks[1:4, 2:6, 0] = 1.0
        masks[5:8, 7:12, 1] = 1.0
        rois = roicore.write(NumpySegmentationExtractor(masks, 30.0, num_samples=1), tmp_path / "rois.nwb")
        expected = roicore.extract(imaging, masks)
        want = expected.get_traces()
        want_masks = expected.get_roi_image_masks()
    out = tmp_path / "traces.nwb"
    done = _run("extract", str(video.path), "--rois", str(rois), "-o", str(out))
    assert done.returncode == 0, done.stderr
    with roicore.open(out) as traces:
        assert traces.source.reader == "nwb-segmentation"
        np.testing.assert_allclose(traces.get_traces(), want, rtol=1e-6)
        np.testing.assert_array_equal(traces.get_roi_image_masks(), want_masks)
        assert sorted(traces.get_images_dict()) == sorted(expected.get_images_dict())
        assert traces.get_sampling_frequency() == 30.0


def test_convert_nwb_video_to_nwb(img_samples, tmp_path):
    sample = img_samples["volumetric"]
    out = tmp_path / "copy.nwb"
    done = _run("convert", str(sample.path), str(out))
    assert done.returncode == 0, done.stderr
    with roicore.open(out) as copy:
        np.testing.assert_array_equal(copy.get_series(), sample.truth.series)
