"""The ``scanimage`` reader on files laid out byte for byte as ScanImage writes them."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import tifffile

import roicore
from roicore.errors import CorruptFileError, UnsupportedFeatureError
from roicore_tiff.samples import COLUMNS, ROWS, make_video, scanimage_acquisition, scanimage_settings
from roicore_tiff.scanimage import ScanImageImagingExtractor


def _volumes(tmp_path, *, planes=3, flyback=2, channels=2, frames=12, **kwargs):
    videos = [make_video("i2", frames=frames, planes=planes if planes > 1 else None, seed=40 + k) for k in range(channels)]
    settings = scanimage_settings(channels=[1, 2, 3][:channels], planes=planes, flyback=flyback, frame_rate=60.0,
                                  modern=kwargs.pop("modern", False), frames=frames)
    files, times, junk = scanimage_acquisition(tmp_path, "acq", videos, settings, planes=planes, flyback=flyback,
                                               frame_rate=60.0, **kwargs)
    return videos, files, times, junk


def test_tifffile_recognises_the_generated_layout(tmp_path):
    _, files, _, _ = _volumes(tmp_path)
    data = files[0].read_bytes()
    assert data[:4] == b"II+\x00"
    magic, version, frame_length, roi_length = struct.unpack("<IIII", data[16:32])
    assert (magic, version) == (117637889, 3)
    assert data[32:35] == b"SI."
    json.loads(data[32 + frame_length:32 + frame_length + roi_length - 1])
    with tifffile.TiffFile(files[0]) as tif:
        assert tif.is_scanimage and tif.is_bigtiff
        meta = tif.scanimage_metadata
        assert meta["version"] == 3 and "RoiGroups" in meta
        assert meta["FrameData"]["SI.hStackManager.numSlices"] == 3
        assert meta["FrameData"]["SI.hFastZ.numDiscardFlybackFrames"] == 2
        assert tifffile.matlabstr2py(tif.pages[2].description)["frameNumbers"] == 2
        assert tif.pages[1].software.startswith("SI.")


def test_interleaved_channels_planes_and_flyback(tmp_path):
    videos, files, times, junk = _volumes(tmp_path)
    for channel in (0, 1):
        with roicore.open(files[0], channel=channel) as x:
            assert x.source.reader == "scanimage"
            assert x.shape == (12, ROWS, COLUMNS, 3) and x.num_flyback_frames == 2
            np.testing.assert_array_equal(x.get_series(), videos[channel])
            np.testing.assert_array_equal(x.get_samples([7, 0, 7]), videos[channel][[7, 0, 7]])
            assert x.get_sampling_frequency() == pytest.approx(60.0 / 5)  # scanVolumeRate
            np.testing.assert_array_equal(x.get_timestamps(), times[:, 0, channel])
    with roicore.open(files[0], channel="Ch2", plane=1) as x:
        np.testing.assert_array_equal(x.get_series(), videos[1][..., 1])
        np.testing.assert_array_equal(x.get_timestamps(), times[:, 1, 1])
    # flyback pages hold other values; none of them may appear in a read
    with tifffile.TiffFile(files[0]) as tif:
        np.testing.assert_array_equal(tif.pages[3 * 2].asarray(), junk[0, 0, 0])


def test_scanimage_2020_keys_and_version_4(tmp_path):
    videos, files, times, _ = _volumes(tmp_path, planes=2, flyback=1, channels=1, modern=True, version=4)
    with roicore.open(files[0]) as x:
        np.testing.assert_array_equal(x.get_series(), videos[0])
        assert x.scanimage_settings["SI.hStackManager.actualNumSlices"] == 2


def test_planar_two_channels(tmp_path):
    videos, files, times, _ = _volumes(tmp_path, planes=1, flyback=0)
    with roicore.open(files[0], channel=1) as x:
        assert not x.is_volumetric
        np.testing.assert_array_equal(x.get_series(), videos[1])
        assert x.get_sampling_frequency() == 60.0
        assert x.get_channel_names() == ["Ch1", "Ch2"]


def test_split_acquisition_from_any_file_or_the_folder(tmp_path):
    videos, files, times, _ = _volumes(tmp_path, frames_per_file=5)
    assert [f.name for f in files] == ["acq_00001.tif", "acq_00002.tif", "acq_00003.tif"]
    for target in (*files, tmp_path):
        with roicore.open(target, channel=1) as x:
            assert x.file_paths == files
            np.testing.assert_array_equal(x.get_series(), videos[1])
            np.testing.assert_array_equal(x.get_series(4, 6), videos[1][4:6])  # across a file boundary
            np.testing.assert_array_equal(x.get_timestamps(), times[:, 0, 1])
    with ScanImageImagingExtractor(files[2], file_paths=files[1:]) as x:
        np.testing.assert_array_equal(x.get_series(), videos[0][5:])


def test_another_acquisition_is_not_merged(tmp_path):
    """acq_00001.tif and acq_00002.tif of two acquisitions (frame numbers restart): each alone."""
    first = make_video("i2", frames=4, seed=1)
    second = make_video("i2", frames=6, seed=2)
    settings = scanimage_settings(channels=[1], frames=4)
    files_a, _, _ = scanimage_acquisition(tmp_path, "one", [first], settings)
    files_b, _, _ = scanimage_acquisition(tmp_path, "two", [second], settings)
    files_b[0].rename(tmp_path / "one_00002.tif")
    with roicore.open(files_a[0]) as x:
        assert x.file_paths == files_a
        np.testing.assert_array_equal(x.get_series(), first)
    with roicore.open(tmp_path / "one_00002.tif") as x:
        np.testing.assert_array_equal(x.get_series(), second)


def test_folder_with_two_acquisitions_is_refused(tmp_path):
    settings = scanimage_settings(channels=[1], frames=4)
    scanimage_acquisition(tmp_path, "mouse1", [make_video("i2", frames=4)], settings)
    scanimage_acquisition(tmp_path, "mouse2", [make_video("i2", frames=4)], settings)
    with pytest.raises(ValueError, match="mouse1.*mouse2"):
        ScanImageImagingExtractor(tmp_path)


def test_detection_is_unambiguous(tmp_path):
    _, files, _, _ = _volumes(tmp_path)
    report = roicore.explain(files[0])
    assert report.chosen == "roicore-tiff:scanimage"
    verdicts = {c.reader: c.verdict for c in report.candidates}
    assert verdicts["roicore-tiff:tiff"] == "no"


def test_errors(tmp_path):
    videos, files, _, _ = _volumes(tmp_path)
    with pytest.raises(IndexError, match="plane"):
        ScanImageImagingExtractor(files[0], plane=3)
    with pytest.raises(KeyError, match="Ch1"):
        ScanImageImagingExtractor(files[0], channel="Ch4")
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, make_video("u2"))
    with pytest.raises(CorruptFileError, match="plain.tif"):
        ScanImageImagingExtractor(plain)
    slow = scanimage_settings(channels=[1], planes=2, frames=4)
    slow["SI.hStackManager.framesPerSlice"] = 4
    slow["SI.hFastZ.enable"] = False
    slow["SI.hStackManager.enable"] = True
    folder = tmp_path / "slow"
    folder.mkdir()
    stack, _, _ = scanimage_acquisition(folder, "stack", [make_video("i2", frames=4, planes=2)], slow, planes=2)
    with pytest.raises(UnsupportedFeatureError, match="frames per slice"):
        ScanImageImagingExtractor(stack[0])
    # a file cut in the middle of a volume
    data = files[0].read_bytes()
    cut = tmp_path / "cut" / "acq_00001.tif"
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptFileError, match="acq_00001.tif"):
        with roicore.open(cut) as x:
            x.get_series()


def _open_files(folder):
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to list open files")
def test_a_long_split_acquisition_keeps_few_files_open(tmp_path):
    videos, files, _, _ = _volumes(tmp_path, planes=1, flyback=0, channels=1, frames_per_file=1)
    assert len(files) == 12
    with roicore.open(files[5]) as x:
        assert len(_open_files(tmp_path)) <= 1  # the file that was opened; the others reopen when read
        np.testing.assert_array_equal(x.get_series(), videos[0])
        assert x.file_paths == files
    assert _open_files(tmp_path) == []
