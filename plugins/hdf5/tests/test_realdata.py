"""The shared real recordings: SIMA's HDF5 videos read equal to h5py; NWB and CaImAn files are never claimed."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, NoReaderFoundError
from roicore.registry.specs import SupportLevel
from roicore_hdf5.sniff import sniff


def real_file(folder, name: str):
    """``folder / name``; skips with the reason when that recording is absent."""
    path = folder / name
    if not path.is_file():
        pytest.skip(f"the real recording {path} is absent")
    return path


def _header(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


def test_sima_example_reads_equal_to_h5py(realdata):
    path = real_file(realdata, "sima_example.h5")
    with h5py.File(path, "r") as handle:
        stored = handle["imaging"][()]  # (128, 256, 20): y, x, t
        assert "DIMENSION_LABELS" not in handle["imaging"].attrs and not dict(handle["imaging"].attrs)
    expected = np.moveaxis(stored, 2, 0)
    with roicore.open(path, axes="yxt") as video:
        assert video.source.reader == "hdf5"
        assert video.shape == (20, 128, 256) and video.dtype == np.uint16
        np.testing.assert_array_equal(np.asarray(video), expected)
        np.testing.assert_array_equal(video.get_series(7, 11), expected[7:11])
        np.testing.assert_array_equal(video.get_samples([19, 0, 4]), expected[[19, 0, 4]])
        assert video.get_sampling_frequency() is None  # the file stores no rate: none is invented
    with roicore.open(path, axes="yxt", sampling_frequency=15.0) as video:
        assert video.get_sampling_frequency() == 15.0


def test_sima_example_without_axes_asks_for_them(realdata):
    path = real_file(realdata, "sima_example.h5")
    with pytest.raises(ValueError, match=r"sima_example\.h5.*no dimension labels.*axes='yxt'"):
        roicore.open(path)


def test_sima_example_equals_the_raw_copy(realdata):
    path = real_file(realdata, "sima_example.h5")
    raw = real_file(realdata, "sima_example_t20_y128_x256_uint16le.raw")
    expected = np.fromfile(raw, dtype="<u2").reshape(20, 128, 256)
    with roicore.open(path, axes="yxt") as video:
        np.testing.assert_array_equal(np.asarray(video), expected)


@pytest.mark.parametrize("channel", [0, 1])
def test_sima_volume_reads_equal_to_h5py(realdata, channel):
    path = real_file(realdata, "sima_example-volume.h5")
    with h5py.File(path, "r") as handle:
        stored = handle["imaging"][()]  # (10, 3, 64, 64, 2): t, z, y, x, c
    assert stored.shape == (10, 3, 64, 64, 2)  # two channels, although channel_names lists one
    expected = np.moveaxis(stored[..., channel], 1, 3)  # (t, y, x, z)
    with roicore.open(path, channel=channel) as video:
        assert video.source.reader == "hdf5"
        assert video.is_volumetric and video.shape == (10, 64, 64, 3)
        assert video.axes == "tzyxc"
        assert video.get_channel_names() is None  # one name for two channels cannot say which is which
        np.testing.assert_array_equal(np.asarray(video), expected)
        np.testing.assert_array_equal(video.get_series(2, 9), expected[2:9])
        np.testing.assert_array_equal(video.get_samples([9, 3, 3, 0]), expected[[9, 3, 3, 0]])
        np.testing.assert_array_equal(video.select_plane(2).get_series(0, 10), expected[..., 2])


def test_sima_volume_channels_differ(realdata):
    path = real_file(realdata, "sima_example-volume.h5")
    with roicore.open(path, channel=0) as first, roicore.open(path, channel=1) as second:
        assert not np.array_equal(np.asarray(first), np.asarray(second))
    with pytest.raises(IndexError, match="2 channel"):
        roicore.open(path, channel=2)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("caiman_analysis.nwb", "NWB file"), ("caiman_analysis.hdf5", "CaImAn result")],
)
def test_nwb_and_caiman_results_are_never_claimed(realdata, name, reason):
    path = real_file(realdata, name)
    support = sniff(path, _header(path))
    assert support.level is SupportLevel.NO and reason in support.reason
    report = roicore.explain(path)
    mine = [c for c in report.candidates if c.reader == "roicore-hdf5:hdf5"]
    assert mine and mine[0].verdict == "no" and reason in mine[0].reason
    assert report.chosen != "roicore-hdf5:hdf5"
    try:
        opened = roicore.open(path)
    except NoReaderFoundError:
        return  # no reader of that format installed here: still not claimed by this plugin
    with opened:
        assert opened.source.reader != "hdf5"


def test_caiman_result_opens_with_caiman(realdata):
    path = real_file(realdata, "caiman_analysis.hdf5")
    if not any(c.qualified_id == "roicore-caiman:caiman" for c in roicore.readers()):
        pytest.skip("roicore-caiman is not installed")
    with roicore.open(path) as result:
        assert result.source.reader == "caiman"


def test_explicit_reader_on_an_nwb_file_needs_a_dataset(realdata):
    path = real_file(realdata, "caiman_analysis.nwb")
    with pytest.raises(CorruptFileError, match=r"caiman_analysis\.nwb is an NWB file.*dataset="):
        roicore.open(path, reader="hdf5")
