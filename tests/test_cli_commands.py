"""``roicore extract``, ``convert`` and ``show``, driven through the console script in subprocesses.

The inputs are a small synthetic session (known footprints and calcium)
written with the installed writers; results are compared with the ground
truth and with the same call made in-process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.demo.session import make_session
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor

NEEDED = {("writer", "memmap"), ("writer", "caiman"), ("method", "sima")}


def _installed() -> set[tuple[str, str]]:
    return {("writer", c.id) for c in roicore.writers()} | {("method", c.id) for c in roicore.methods()}


pytestmark = pytest.mark.skipif(
    not NEEDED <= _installed(),
    reason="needs the roicore-memmap, roicore-caiman and roicore-sima plugins (make test installs them)",
)


def roicore_command(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``roicore`` console script (the entry point users call)."""
    script = shutil.which("roicore", path=str(Path(sys.executable).parent)) or shutil.which("roicore")
    assert script, "the roicore console script is not installed"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=300, env=environment)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stderr
    lines = done.stderr.rstrip().splitlines()
    # one error line; detection failures add indented lines saying why each candidate declined
    assert lines and lines[0].startswith("roicore") and all(line.startswith("  ") for line in lines[1:]), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    truth = make_session(num_frames=240, shape=(40, 48), num_neurons=6, seed=3)
    video = NumpyImagingExtractor(truth.video, truth.sampling_frequency)
    masks = NumpySegmentationExtractor(truth.footprints, truth.sampling_frequency, traces={"denoised": truth.calcium})
    paths = {
        "npy": roicore.write(video, folder / "movie.npy", format="memmap"),
        "bin": roicore.write(video, folder / "movie.bin", format="memmap"),
        "rois": roicore.write(masks, folder / "rois.hdf5", format="caiman"),
    }
    return truth, folder, paths


def test_every_command_has_help_with_an_example():
    for command in ("extract", "convert", "show", "demo", "info", "explain", "check", "new-plugin"):
        done = roicore_command(command, "--help")
        assert done.returncode == 0 and "example" in done.stdout, command


def test_extract_writes_traces_equal_to_the_library_call(session, tmp_path):
    truth, _, paths = session
    out = tmp_path / "traces.hdf5"
    done = roicore_command("extract", str(paths["bin"]), "--rois", str(paths["rois"]), "-o", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "extracted 6 traces of 240 samples" in done.stdout and str(out) in done.stdout
    with roicore.open(out) as written, roicore.open(paths["bin"]) as video, roicore.open(paths["rois"]) as rois:
        expected = roicore.extract(video, rois, method="sima", n_workers=1)
        np.testing.assert_array_equal(written.get_traces(), expected.get_traces())
        extracted = written.get_traces()
    correlation = [np.corrcoef(extracted[:, i], truth.calcium[:, i])[0, 1] for i in range(truth.num_neurons)]
    assert np.median(correlation) > 0.9

    parallel = tmp_path / "parallel.hdf5"
    done = roicore_command("extract", str(paths["npy"]), "--rois", str(paths["rois"]), "-o", str(parallel),
                           "--workers", "2", "--chunk-size", "7")
    assert done.returncode == 0, done.stderr
    with roicore.open(parallel) as other:
        np.testing.assert_array_equal(other.get_traces(), extracted)


def test_extract_without_overlap_removal_unmixes(session, tmp_path):
    _, _, paths = session
    out = tmp_path / "kept.hdf5"
    done = roicore_command("extract", str(paths["bin"]), "--rois", str(paths["rois"]), "-o", str(out),
                           "--no-remove-overlap", "--format", "caiman")
    assert done.returncode == 0, done.stderr
    with roicore.open(out) as written, roicore.open(paths["bin"]) as video, roicore.open(paths["rois"]) as rois:
        expected = roicore.extract(video, rois, method="sima", remove_overlap=False)
        np.testing.assert_allclose(written.get_traces(), expected.get_traces(), rtol=1e-6)


def test_convert_streams_video_and_segmentation_losslessly(session, tmp_path):
    truth, _, paths = session
    out = tmp_path / "movie.bin"
    done = roicore_command("convert", str(paths["npy"]), str(out), "--progress")
    assert done.returncode == 0, done.stderr
    assert "240 frames" in done.stdout
    with roicore.open(out) as converted:
        assert converted.source.reader == "memmap"
        np.testing.assert_array_equal(converted.get_series(), truth.video)
    assert "100%" in done.stderr  # the forced progress bar ran to the end

    copy = tmp_path / "copy.hdf5"
    done = roicore_command("convert", str(paths["rois"]), str(copy), "--format", "caiman")
    assert done.returncode == 0, done.stderr
    with roicore.open(copy) as converted, roicore.open(paths["rois"]) as original:
        assert (converted.get_roi_masks().matrix != original.get_roi_masks().matrix).nnz == 0
        np.testing.assert_array_equal(converted.get_traces(name="denoised"), truth.calcium.astype(converted.get_traces(name="denoised").dtype))


def test_show_draws_both_kinds(session, tmp_path):
    pytest.importorskip("matplotlib", reason="roicore show needs matplotlib (roicore[plot])")
    from matplotlib.image import imread

    _, _, paths = session
    for name in ("bin", "rois"):
        figure = tmp_path / f"{name}.png"
        done = roicore_command("show", str(paths[name]), "-o", str(figure))
        assert done.returncode == 0, done.stderr
        pixels = imread(figure)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 400
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
    assert not list(tmp_path.glob(".*roicore-tmp*"))


def test_bad_input_gives_one_line_and_the_exit_code(session, tmp_path):
    _, folder, paths = session
    missing = tmp_path / "nope.npy"
    one_line_error(roicore_command("convert", str(missing), str(tmp_path / "x.bin")), 1, "nope.npy",
                   "No such file")
    one_line_error(roicore_command("show", str(missing), "-o", str(tmp_path / "x.png")), 1, "nope.npy")
    one_line_error(roicore_command("extract", str(missing), "--rois", str(paths["rois"]), "-o",
                                   str(tmp_path / "t.hdf5")), 1, "nope.npy")

    unreadable = tmp_path / "broken.npy"
    unreadable.write_bytes(b"\x93NUMPY\x01\x00garbage, not a header")
    one_line_error(roicore_command("convert", str(unreadable), str(tmp_path / "y.bin")), 1, "broken.npy")
    assert not (tmp_path / "y.bin").exists()

    one_line_error(roicore_command("convert", str(paths["npy"]), str(tmp_path / "z.bin"), "--format", "no-such"),
                   2, "'no-such'", "available")
    one_line_error(roicore_command("extract", str(paths["bin"]), "--rois", str(paths["rois"]), "-o",
                                   str(tmp_path / "t.hdf5"), "--format", "memmap"), 2, "'memmap'")
    one_line_error(roicore_command("extract", str(paths["bin"]), "--rois", str(paths["rois"]), "-o",
                                   str(tmp_path / "t.hdf5"), "--method", "no-such"), 2, "'no-such'")
    one_line_error(roicore_command("show", str(paths["bin"]), "-o", str(tmp_path / "figure")), 2, "suffix")

    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"keep me")
    one_line_error(roicore_command("convert", str(paths["npy"]), str(existing)), 1, "existing.bin", "--overwrite")
    assert existing.read_bytes() == b"keep me"

    usage = roicore_command("extract", str(paths["bin"]), "-o", str(tmp_path / "t.hdf5"))  # no --rois
    assert usage.returncode == 2 and "--rois" in usage.stderr
    workers = roicore_command("extract", str(paths["bin"]), "--rois", str(paths["rois"]), "-o",
                              str(tmp_path / "t.hdf5"), "--workers", "0")
    assert workers.returncode == 2 and "positive" in workers.stderr
    assert not (tmp_path / "t.hdf5").exists()
    debug = roicore_command("--debug", "convert", str(missing), str(tmp_path / "x.bin"))
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_output_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """``roicore info X | head -1``: the reader leaves early; no traceback, exit status 0."""
    movie = tmp_path / "movie.npy"
    np.save(movie, np.zeros((4, 3, 5), dtype=np.uint16))
    script = shutil.which("roicore", path=str(Path(sys.executable).parent))
    assert script
    for args in (["info", str(movie)], ["formats"], ["plugins", "--verbose"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody will read: the first write fails with EPIPE
        try:
            done = subprocess.run([script, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.close(write_end)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
