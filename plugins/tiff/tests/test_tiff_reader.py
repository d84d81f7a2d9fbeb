"""The ``tiff`` reader: values against the generator's arrays for every layout, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import roicore
from roicore.errors import CorruptFileError, UnsupportedFeatureError
from roicore_tiff.pages import TiffPages
from roicore_tiff.reader import TiffImagingExtractor
from roicore_tiff.samples import COLUMNS, ROWS, _hyperstack, make_video


def test_imagej_hyperstack_channel_planes_and_rate(tmp_path):
    channels = [make_video("u2", planes=3, seed=k) for k in range(2)]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, _hyperstack(channels), imagej=True, metadata={"axes": "TZCYX", "finterval": 0.2})
    with roicore.open(path, channel=1) as x:
        assert x.shape == (12, ROWS, COLUMNS, 3) and x.is_volumetric
        np.testing.assert_array_equal(x.get_series(), channels[1])
        assert x.get_sampling_frequency() == pytest.approx(5.0)
        assert x.get_num_channels() == 2
    with roicore.open(path, plane=2) as x:
        assert not x.is_volumetric
        np.testing.assert_array_equal(x.get_series(), channels[0][..., 2])


def test_ome_dimension_orders(tmp_path):
    """OME's DimensionOrder decides the page order; XYZCT (z fastest) and XYCZT (c fastest) both read."""
    channels = [make_video("f4", planes=2, seed=10 + k) for k in range(3)]
    tzcyx = _hyperstack(channels)
    for axes, data in (("TZCYX", tzcyx), ("TCZYX", np.ascontiguousarray(tzcyx.transpose(0, 2, 1, 3, 4)))):
        path = tmp_path / f"{axes}.ome.tif"
        tifffile.imwrite(path, data, ome=True, photometric="minisblack",
                         metadata={"axes": axes, "TimeIncrement": 0.5, "Channel": {"Name": ["a", "b", "c"]}})
        for name, index in (("a", 0), ("c", 2)):
            with roicore.open(path, channel=name) as x:
                assert x.kind == "ome" and x.get_channel_names() == ["a", "b", "c"]
                np.testing.assert_array_equal(x.get_series(), channels[index])
                assert x.get_sampling_frequency() == pytest.approx(2.0)


def test_ome_time_increment_units(tmp_path):
    path = tmp_path / "ms.ome.tif"
    tifffile.imwrite(path, make_video("u2"), ome=True, metadata={"axes": "TYX", "TimeIncrement": 50, "TimeIncrementUnit": "ms"})
    with roicore.open(path) as x:
        assert x.get_sampling_frequency() == pytest.approx(20.0)


def test_plain_files_have_no_rate_and_the_argument_wins(tmp_path):
    video = make_video("i2", seed=3)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, video, metadata=None)
    with roicore.open(plain) as x:
        assert x.get_sampling_frequency() is None
        np.testing.assert_array_equal(x.get_series(), video)
    imagej = tmp_path / "ij.tif"
    tifffile.imwrite(imagej, video.astype(np.uint16), imagej=True, metadata={"axes": "TYX", "finterval": 0.1})
    with roicore.open(imagej, sampling_frequency=3.0) as x:
        assert x.get_sampling_frequency() == 3.0


@pytest.mark.parametrize("options", [
    {"compression": "zlib"},
    {"bigtiff": True, "byteorder": ">"},
    {"tile": (16, 16)},
    {"metadata": None, "rowsperstrip": 2},  # several strips per page
])
def test_storage_variants_read_equal(tmp_path, options):
    video = make_video("u2", seed=4)
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, video, photometric="minisblack", **options)
    with roicore.open(path, sampling_frequency=1.0) as x:
        np.testing.assert_array_equal(x.get_series(), video)
        np.testing.assert_array_equal(x.get_samples([11, 0, 5, 5]), video[[11, 0, 5, 5]])
        assert x.dtype == np.dtype("u2")


def test_plain_pages_interleaved_by_arguments(tmp_path):
    channels = [make_video("u1", planes=2, seed=20 + k) for k in range(3)]
    path = tmp_path / "interleaved.tif"
    tifffile.imwrite(path, _hyperstack(channels).reshape(-1, ROWS, COLUMNS), metadata=None)
    with roicore.open(path, planes=2, channels=3, channel=2) as x:
        np.testing.assert_array_equal(x.get_series(), channels[2])
    with pytest.raises(ValueError, match="planes"):
        TiffImagingExtractor(path, planes=0)


def test_folder_in_natural_order_and_blocks(tmp_path):
    video = make_video("u2", frames=12, seed=5)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(12):
        tifffile.imwrite(folder / f"img{index}.tif", video[index])
    (folder / "notes.txt").write_text("not a frame")
    with roicore.open(folder, sampling_frequency=10.0) as x:
        np.testing.assert_array_equal(x.get_series(), video)  # img10 after img9, not after img1
        assert [p.name for p in x.file_paths][:3] == ["img0.tif", "img1.tif", "img2.tif"]
        np.testing.assert_array_equal(x.get_series(9, 12), video[9:12])
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    for number, start in enumerate(range(0, 12, 5)):
        tifffile.imwrite(blocks / f"part_{number}.tif", video[start:start + 5], compression="zlib" if number == 1 else None)
    with roicore.open(blocks, sampling_frequency=10.0) as x:
        np.testing.assert_array_equal(x.get_series(), video)
        np.testing.assert_array_equal(x.get_samples([11, 4, 5]), video[[11, 4, 5]])


def test_folder_of_different_frames_is_corrupt(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", make_video("u2", frames=2))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((2, 5, 5), np.uint16))
    with pytest.raises(CorruptFileError, match="b.tif"):
        TiffImagingExtractor(tmp_path)


def test_open_parses_no_per_page_ifd_and_reads_only_requested_pages(tmp_path, monkeypatch):
    video = make_video("u2", frames=40, seed=6)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, video, metadata=None)
    with TiffImagingExtractor(path, sampling_frequency=1.0) as x:
        pages = x._pages.files[0]
        assert (pages._offsets == -1).all()  # nothing parsed beyond the first page and the IFD chain
        np.testing.assert_array_equal(x.get_series(10, 13), video[10:13])
        assert np.flatnonzero(pages._offsets >= 0).tolist() == [10, 11, 12]
    compressed = tmp_path / "zlib.tif"
    tifffile.imwrite(compressed, video, compression="zlib")
    decoded = []
    original = TiffPages._decode
    monkeypatch.setattr(TiffPages, "_decode", lambda self, i, out: decoded.append(i) or original(self, i, out))
    with TiffImagingExtractor(compressed, sampling_frequency=1.0) as x:
        np.testing.assert_array_equal(x.get_samples([30, 2]), video[[30, 2]])
    assert sorted(decoded) == [2, 30]


def test_errors_name_the_file(tmp_path):
    video = make_video("u2", frames=20, seed=7)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, video)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated.tif"):
        with roicore.open(truncated, sampling_frequency=1.0) as x:
            x.get_series()
    with roicore.open(path) as x:
        with pytest.raises(IndexError, match="channel"):
            TiffImagingExtractor(path, channel=1)
        with pytest.raises(KeyError, match="names"):
            TiffImagingExtractor(path, channel="red")
        with pytest.raises(ValueError, match="sampling_frequency"):
            TiffImagingExtractor(path, sampling_frequency=-1)
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((3, 7, 11, 3), np.uint8), photometric="rgb")
    with pytest.raises(UnsupportedFeatureError, match="rgb.tif"):
        TiffImagingExtractor(rgb)
    with pytest.raises(FileNotFoundError):
        TiffImagingExtractor(tmp_path / "missing.tif")


def test_imagej_counts_that_do_not_add_up_are_corrupt(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, make_video("u2"), imagej=True, metadata={"axes": "TYX"})
    data = bytearray(path.read_bytes())
    at = data.find(b"frames=12")
    data[at:at + 9] = b"frames=13"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="ij.tif"):
        TiffImagingExtractor(path)


def test_pickle_reopens_by_path(tmp_path):
    import pickle

    video = make_video("f4", seed=8)
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, video)
    with roicore.open(path, sampling_frequency=2.0) as x:
        with pickle.loads(pickle.dumps(x)) as y:
            np.testing.assert_array_equal(y.get_series(), video)
            assert y.get_sampling_frequency() == 2.0
