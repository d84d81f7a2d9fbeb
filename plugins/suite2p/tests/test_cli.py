"""``roicore extract data.bin --rois plane0`` and ``roicore convert plane0 out.hdf5`` through the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore_suite2p.samples import make_plane_content, write_plane

NEEDED = {("writer", "caiman"), ("method", "sima")}


def _installed() -> set[tuple[str, str]]:
    return {("writer", c.id) for c in roicore.writers()} | {("method", c.id) for c in roicore.methods()}


pytestmark = pytest.mark.skipif(
    not NEEDED <= _installed(), reason="needs the roicore-caiman writer and the roicore-sima method (make install)"
)


def roicore_command(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("roicore", path=str(Path(sys.executable).parent)) or shutil.which("roicore")
    assert script, "the roicore console script is not installed"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=300, env=environment)


@pytest.fixture(scope="module")
def plane0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A suite2p plane folder with its registered binary, as suite2p leaves it."""
    content = make_plane_content(7, (21, 30), 5, 40, 10.0)
    folder = write_plane(tmp_path_factory.mktemp("cli") / "suite2p" / "plane0", content)
    rng = np.random.default_rng(8)
    rng.integers(0, 3000, (40, 21, 30), dtype=np.int16).astype("<i2").tofile(folder / "data.bin")
    return folder


def test_extract_from_data_bin_with_the_plane_folder_as_rois(plane0: Path, tmp_path: Path) -> None:
    out = tmp_path / "traces.hdf5"
    done = roicore_command("extract", str(plane0 / "data.bin"), "--rois", str(plane0), "-o", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "extracted 5 traces of 40 samples" in done.stdout
    with roicore.open(out) as written, roicore.open(plane0 / "data.bin") as video, roicore.open(plane0) as rois:
        assert video.source.reader == "suite2p-binary" and rois.source.reader == "suite2p"
        expected = roicore.extract(video, rois, method="sima", n_workers=1)
        np.testing.assert_allclose(written.get_traces(), expected.get_traces(), rtol=1e-6)
        assert written.get_roi_masks().allclose(expected.get_roi_masks())


def test_convert_plane_folder_to_caiman(plane0: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.hdf5"
    done = roicore_command("convert", str(plane0), str(out))
    assert done.returncode == 0, done.stderr
    with roicore.open(out) as converted, roicore.open(plane0) as original:
        assert converted.source.reader == "caiman"
        assert converted.get_roi_masks().allclose(original.get_roi_masks())
        np.testing.assert_allclose(converted.get_traces(name="raw"), original.get_traces(name="raw"), rtol=1e-6)
        np.testing.assert_array_equal(converted.get_property("is_accepted"), original.get_property("is_accepted"))
        assert converted.get_sampling_frequency() == original.get_sampling_frequency() == 10.0
