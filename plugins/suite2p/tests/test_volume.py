"""``plane="volume"``: every planeN folder of a suite2p folder as one volumetric segmentation."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, UnsupportedFeatureError
from roicore_suite2p.reader import Suite2pSegmentationExtractor
from roicore_suite2p.samples import PlaneContent, make_plane_content, write_plane
from roicore_suite2p.volume import Suite2pVolumeSegmentationExtractor

SHAPE = (13, 19)
COUNTS = (3, 5, 2)


@pytest.fixture
def volume_folder(tmp_path: Path) -> tuple[Path, list[PlaneContent]]:
    root = tmp_path / "suite2p"
    contents = [make_plane_content(50 + k, SHAPE, n, 16, 9.0, iplane=k) for k, n in enumerate(COUNTS)]
    for k, content in enumerate(contents):
        write_plane(root / f"plane{k}", content, "1.x" if k == 1 else "0.x")
    return root, contents


def test_volume_equals_plain_numpy_reads_of_each_plane(volume_folder) -> None:
    root, contents = volume_folder
    with roicore.open(root, plane="volume") as seg:
        assert isinstance(seg, Suite2pVolumeSegmentationExtractor) and seg.is_volumetric
        assert seg.get_frame_shape() == SHAPE and seg.get_num_planes() == 3
        assert seg.get_volume_shape() == (*SHAPE, 3)
        assert seg.get_roi_ids() == list(range(sum(COUNTS)))
        assert seg.get_sampling_frequency() == 9.0 and seg.get_num_samples() == 16
        # traces: each plane's file, concatenated along ROIs in plane order
        for name, filename in (("raw", "F.npy"), ("neuropil", "Fneu.npy"), ("deconvolved", "spks.npy")):
            expected = np.concatenate([np.load(root / f"plane{k}" / filename) for k in range(3)]).T
            np.testing.assert_array_equal(seg.get_traces(name=name), expected)
        # classifier output: each plane's iscell.npy
        iscell = np.concatenate([np.load(root / f"plane{k}" / "iscell.npy") for k in range(3)])
        np.testing.assert_array_equal(seg.get_property("is_accepted"), iscell[:, 0] != 0)
        np.testing.assert_array_equal(seg.get_property("cell_probability"), iscell[:, 1])
        # the id scheme: ROI i of plane k
        np.testing.assert_array_equal(seg.get_property("plane"), np.repeat([0, 1, 2], COUNTS))
        np.testing.assert_array_equal(seg.get_property("plane_roi"), np.concatenate([np.arange(n) for n in COUNTS]))
        np.testing.assert_array_equal(seg.get_property("iplane"), np.repeat([0, 1, 2], COUNTS))
        np.testing.assert_array_equal(seg.get_property("npix"),
                                      [roi["npix"] for content in contents for roi in content.rois])
        # masks: the generator's ypix/xpix/lam, at plane k
        expected_masks = np.zeros((*SHAPE, 3, sum(COUNTS)))
        roi = 0
        for k, content in enumerate(contents):
            expected_masks[:, :, k, roi:roi + len(content.rois)] = content.image_masks()
            roi += len(content.rois)
        np.testing.assert_allclose(seg.get_roi_image_masks(), expected_masks, rtol=1e-6)
        pixel = seg.get_roi_pixel_masks([4])[0]  # ROI 1 of plane 1
        source = contents[1].rois[1]
        order = np.lexsort((source["xpix"], source["ypix"]))
        np.testing.assert_array_equal(pixel[:, 0], source["ypix"][order])
        np.testing.assert_array_equal(pixel[:, 1], source["xpix"][order])
        np.testing.assert_array_equal(pixel[:, 2], 1)
        np.testing.assert_allclose(pixel[:, 3], source["lam"][order], rtol=1e-6)
        # images: each plane's, stacked on the last axis
        images = seg.get_images_dict()
        assert set(images) == set(contents[0].full_images())
        for name in images:
            assert images[name].shape == (*SHAPE, 3)
            for k, content in enumerate(contents):
                np.testing.assert_allclose(images[name][:, :, k], content.full_images()[name], rtol=1e-6)


def test_select_plane_gives_back_each_plane(volume_folder) -> None:
    root, contents = volume_folder
    with roicore.open(root, plane="volume") as seg:
        start = 0
        for k, content in enumerate(contents):
            with Suite2pSegmentationExtractor(root, plane=k) as single:
                view = seg.select_plane(k)
                assert view.get_roi_ids() == list(range(start, start + len(content.rois)))
                np.testing.assert_array_equal(view.get_roi_image_masks(), single.get_roi_image_masks())
                np.testing.assert_array_equal(view.get_traces(name="neuropil"), single.get_traces(name="neuropil"))
                for name, image in single.get_images_dict().items():
                    np.testing.assert_array_equal(view.get_image(name), image)
                np.testing.assert_array_equal(view.get_property("skew"), single.get_property("skew"))
            start += len(content.rois)


def test_trace_windows_read_only_the_planes_asked(volume_folder) -> None:
    root, _ = volume_folder
    raw = np.concatenate([np.load(root / f"plane{k}" / "F.npy") for k in range(3)]).T
    with roicore.open(root, plane="volume") as seg:
        np.testing.assert_array_equal(seg.get_traces([9, 0, 4], 3, 11), raw[3:11][:, [9, 0, 4]])
        np.testing.assert_array_equal(seg.get_traces([5, 6], 0, 2), raw[0:2][:, [5, 6]])
        assert seg.get_traces([], 2, 5).shape == (3, 0)
    with roicore.open(root, plane="volume") as seg:
        # ROIs 3..7 are plane 1's: only its F.npy is mapped
        np.testing.assert_array_equal(seg.get_traces([3, 7], 0, 4), raw[0:4][:, [3, 7]])
        mapped = [plane._traces["raw"]._array is not None for plane in seg._planes]
        assert mapped == [False, True, False]


def test_argument_rate_wins_and_pickles_as_a_volume(volume_folder) -> None:
    root, _ = volume_folder
    seg = Suite2pSegmentationExtractor(root, plane="volume", sampling_frequency=31.0)
    assert seg.get_sampling_frequency() == 31.0
    again = pickle.loads(pickle.dumps(seg))
    assert isinstance(again, Suite2pVolumeSegmentationExtractor) and again.get_sampling_frequency() == 31.0
    np.testing.assert_array_equal(again.get_traces(), seg.get_traces())
    seg.close()
    again.close()


def test_planes_that_disagree_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "suite2p"
    write_plane(root / "plane0", make_plane_content(1, SHAPE, 2, 10, 9.0))
    write_plane(root / "plane1", make_plane_content(2, (13, 20), 2, 10, 9.0))
    with pytest.raises(CorruptFileError, match=r"plane1: its frame is \(13, 20\)"):
        roicore.open(root, plane="volume")
    write_plane(root / "plane1", make_plane_content(2, SHAPE, 2, 10, 7.0))
    with pytest.raises(CorruptFileError, match="plane1: its rate fs is 7.0"):
        roicore.open(root, plane="volume")
    # the argument rate makes them agree
    with roicore.open(root, plane="volume", sampling_frequency=5.0) as seg:
        assert seg.get_sampling_frequency() == 5.0
    write_plane(root / "plane1", make_plane_content(2, SHAPE, 2, 11, 9.0))
    with pytest.raises(UnsupportedFeatureError, match="11 frames, plane0 has 10"):
        roicore.open(root, plane="volume")
    write_plane(root / "plane1", make_plane_content(2, SHAPE, 2, 10, 9.0))
    (root / "plane1" / "spks.npy").unlink()
    with pytest.raises(CorruptFileError, match=r"plane1/spks.npy: missing"):
        roicore.open(root, plane="volume")
    write_plane(root / "plane1", make_plane_content(2, SHAPE, 2, 10, 9.0))
    (root / "plane0" / "iscell.npy").unlink()
    with pytest.raises(CorruptFileError, match=r"plane0/iscell.npy: missing"):
        roicore.open(root, plane="volume")


def test_missing_plane_number_and_wrong_folders(tmp_path: Path) -> None:
    root = tmp_path / "suite2p"
    write_plane(root / "plane0", make_plane_content(1, SHAPE, 2, 10, 9.0))
    write_plane(root / "plane2", make_plane_content(2, SHAPE, 2, 10, 9.0))
    with pytest.raises(CorruptFileError, match="plane1 is missing"):
        roicore.open(root, plane="volume")
    with pytest.raises(ValueError, match="single plane folder"):
        Suite2pSegmentationExtractor(root / "plane0", plane="volume")
    shutil.rmtree(root / "plane2")
    with roicore.open(root, plane="volume") as seg:  # one plane is a volume of one plane
        assert seg.get_volume_shape() == (*SHAPE, 1) and seg.get_num_rois() == 2
    with pytest.raises(ValueError, match="plane='volume'"):
        write_plane(root / "plane1", make_plane_content(3, SHAPE, 1, 10, 9.0))
        Suite2pSegmentationExtractor(root)


def test_a_plane_without_rois_in_the_volume(tmp_path: Path) -> None:
    root = tmp_path / "suite2p"
    contents = [make_plane_content(1, SHAPE, 2, 10, 9.0), make_plane_content(2, SHAPE, 0, 10, 9.0),
                make_plane_content(3, SHAPE, 3, 10, 9.0)]
    for k, content in enumerate(contents):
        write_plane(root / f"plane{k}", content)
    with roicore.open(root, plane="volume") as seg:
        assert seg.get_num_rois() == 5
        np.testing.assert_array_equal(seg.get_property("plane"), [0, 0, 2, 2, 2])
        np.testing.assert_array_equal(seg.get_property("npix"),
                                      [roi["npix"] for content in contents for roi in content.rois])
        assert seg.select_plane(1).get_roi_ids() == []
        np.testing.assert_array_equal(seg.get_traces(), np.concatenate([c.traces["raw"] for c in contents]).T)


def test_a_volume_is_not_written_by_a_planar_writer(volume_folder, tmp_path: Path) -> None:
    pytest.importorskip("roicore_nwb")
    root, _ = volume_folder
    with roicore.open(root, plane="volume") as seg:
        with pytest.raises(UnsupportedFeatureError, match="select_plane"):
            roicore.write(seg, tmp_path / "out.nwb")
        assert not (tmp_path / "out.nwb").exists()
