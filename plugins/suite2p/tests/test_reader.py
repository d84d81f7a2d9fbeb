"""The segmentation reader against plain numpy reads of the files, in both layouts and on the real folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.safeload import load_npy
from roicore_suite2p.reader import Suite2pSegmentationExtractor


def _manual_image_masks(stat: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    masks = np.zeros((*frame_shape, len(stat)))
    for k, roi in enumerate(stat):
        masks[roi["ypix"], roi["xpix"], k] = roi["lam"]
    return masks


def test_real_suite2p_0_14_6_folder_reads_exactly(real_plane: Path) -> None:
    # the independent reference: numpy's own loader on the known-good real files (test only)
    stat = np.load(real_plane / "stat.npy", allow_pickle=True)
    ops = np.load(real_plane / "ops.npy", allow_pickle=True).item()
    iscell = np.load(real_plane / "iscell.npy")
    with roicore.open(real_plane) as seg:
        assert seg.source.reader == "suite2p" and seg.layout == "0.x"
        assert seg.get_frame_shape() == (64, 64) and type(seg.get_frame_shape()[0]) is int
        assert seg.get_num_samples() == 600 and type(seg.get_num_samples()) is int
        assert seg.get_sampling_frequency() == 15.0
        assert seg.get_roi_ids() == list(range(18))
        np.testing.assert_array_equal(seg.get_roi_image_masks(), _manual_image_masks(stat, (64, 64)))
        for k, pixel_mask in enumerate(seg.get_roi_pixel_masks()):
            order = np.lexsort((stat[k]["xpix"], stat[k]["ypix"]))
            np.testing.assert_array_equal(pixel_mask[:, 0], stat[k]["ypix"][order])
            np.testing.assert_array_equal(pixel_mask[:, 1], stat[k]["xpix"][order])
            np.testing.assert_array_equal(pixel_mask[:, 2], stat[k]["lam"][order].astype(np.float64))
        assert seg.get_trace_names() == ["raw", "neuropil", "deconvolved"]
        for name, filename in (("raw", "F.npy"), ("neuropil", "Fneu.npy"), ("deconvolved", "spks.npy")):
            expected = np.load(real_plane / filename).T
            traces = seg.get_traces(name=name)
            assert traces.dtype == np.float32
            np.testing.assert_array_equal(traces, expected)
            np.testing.assert_array_equal(seg.get_traces([3, 0], 100, 130, name=name), expected[100:130, [3, 0]])
        np.testing.assert_array_equal(seg.get_property("is_accepted"), iscell[:, 0] == 1)
        np.testing.assert_array_equal(seg.get_property("cell_probability"), iscell[:, 1])
        for key in ("npix", "radius", "skew", "compact", "footprint", "solidity", "npix_norm"):
            np.testing.assert_array_equal(seg.get_property(key), [roi[key] for roi in stat])
        np.testing.assert_array_equal(seg.get_property("med_row"), [roi["med"][0] for roi in stat])
        np.testing.assert_array_equal(seg.get_property("med_column"), [roi["med"][1] for roi in stat])
        images = seg.get_images_dict()
        assert sorted(images) == ["correlation", "enhanced_mean", "max", "mean"]
        np.testing.assert_array_equal(images["mean"], ops["meanImg"])
        np.testing.assert_array_equal(images["enhanced_mean"], ops["meanImgE"])
        (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
        for name, key in (("max", "max_proj"), ("correlation", "Vcorr")):
            expected = np.zeros((64, 64))
            expected[y0:y1, x0:x1] = ops[key]
            np.testing.assert_array_equal(images[name], expected)
        assert seg.settings["suite2p_version"] == "0.14.6"


@pytest.mark.parametrize("layout", ["0.x", "1.x"])
def test_layouts_equal_plain_numpy_reads(plane, layout: str) -> None:
    folder, content = plane(layout, shape=(13, 22), count=6, frames=17, rate=12.5, chan2=True)
    stat = load_npy(folder / "stat.npy")
    with Suite2pSegmentationExtractor(folder) as seg:
        assert seg.layout == layout
        assert seg.get_frame_shape() == (13, 22)
        assert seg.get_sampling_frequency() == 12.5
        np.testing.assert_array_equal(seg.get_roi_image_masks(), _manual_image_masks(stat, (13, 22)))
        expected_names = {"raw": "F", "neuropil": "Fneu", "deconvolved": "spks", "raw_chan2": "F_chan2",
                          "neuropil_chan2": "Fneu_chan2"}
        assert seg.get_trace_names() == list(expected_names)
        for name, stem in expected_names.items():
            np.testing.assert_array_equal(seg.get_traces(name=name), np.load(folder / f"{stem}.npy").T)
        redcell = np.load(folder / "redcell.npy")
        np.testing.assert_array_equal(seg.get_property("is_red"), redcell[:, 0] != 0)
        np.testing.assert_array_equal(seg.get_property("red_probability"), redcell[:, 1])
        images = seg.get_images_dict()
        assert set(images) == {"mean", "enhanced_mean", "mean_chan2", "max", "correlation"}
        for name, expected in content.full_images().items():
            np.testing.assert_array_equal(images[name], expected)


def test_1x_rate_comes_from_settings_and_the_argument_wins(plane) -> None:
    folder, _ = plane("1.x", rate=30.0)
    settings = load_npy(folder / "settings.npy").item()
    assert "fs" not in load_npy(folder / "db.npy").item() and settings["fs"] == 30.0
    with Suite2pSegmentationExtractor(folder) as seg:
        assert seg.get_sampling_frequency() == 30.0
        assert seg.settings["tau"] == 1.0 and "registration" not in seg.settings  # nested sections stay out
    with roicore.open(folder, sampling_frequency=7.0) as seg:
        assert seg.get_sampling_frequency() == 7.0
    with pytest.raises(ValueError, match="sampling_frequency"):
        Suite2pSegmentationExtractor(folder, sampling_frequency=-1)


def test_1x_with_merged_ops_and_without(plane) -> None:
    merged, _ = plane("1.x", name="a/plane0", merged_ops=True, seed=5)
    split, _ = plane("1.x", name="b/plane0", merged_ops=False, seed=5)
    assert (merged / "ops.npy").is_file() and not (split / "ops.npy").exists()
    with Suite2pSegmentationExtractor(merged) as one, Suite2pSegmentationExtractor(split) as two:
        assert one.layout == two.layout == "1.x"
        assert one.get_images_dict().keys() == two.get_images_dict().keys()
        for name, image in one.get_images_dict().items():
            np.testing.assert_array_equal(image, two.get_images_dict()[name])
        np.testing.assert_array_equal(one.get_traces(), two.get_traces())


def test_0x_ops_without_rate_gives_none(plane) -> None:
    folder, _ = plane("0.x")
    ops = load_npy(folder / "ops.npy").item()
    del ops["fs"]
    np.save(folder / "ops.npy", np.array(ops, dtype=object))
    with Suite2pSegmentationExtractor(folder) as seg:
        assert seg.get_sampling_frequency() is None
    with Suite2pSegmentationExtractor(folder, sampling_frequency=3.0) as seg:
        assert seg.get_sampling_frequency() == 3.0


def test_missing_optional_files(plane) -> None:
    folder, content = plane("0.x", optional=False)
    assert not (folder / "iscell.npy").exists() and not (folder / "Fneu.npy").exists()
    with Suite2pSegmentationExtractor(folder) as seg:
        assert seg.get_trace_names() == ["raw"]
        assert "is_accepted" not in seg.get_property_keys()
        assert list(seg.get_images_dict()) == ["mean"]
        with pytest.raises(KeyError, match="neuropil"):
            seg.get_traces(name="neuropil")


def test_detection_only_folder_has_no_traces_and_nframes_from_ops(plane) -> None:
    folder, content = plane("0.x")
    for stem in ("F", "Fneu", "spks"):
        (folder / f"{stem}.npy").unlink()
    with roicore.open(folder) as seg:
        assert seg.get_trace_names() == [] and seg.get_num_samples() == content.frames
        assert seg.get_num_rois() == len(content.rois)


def test_plane_selection_in_a_suite2p_folder(tmp_path: Path) -> None:
    from roicore_suite2p.samples import make_plane_content, write_plane

    root = tmp_path / "suite2p"
    contents = [make_plane_content(k, (9, 14), 2 + k, 10, 6.0, iplane=k) for k in range(2)]
    for k, content in enumerate(contents):
        write_plane(root / f"plane{k}", content, "1.x" if k else "0.x")
    for k, content in enumerate(contents):
        with roicore.open(root, plane=k) as seg:
            assert seg.folder_path == root / f"plane{k}"
            assert seg.get_num_rois() == len(content.rois)
            np.testing.assert_array_equal(seg.get_traces(), content.traces["raw"].T)
            np.testing.assert_array_equal(seg.get_property("iplane"), [k] * len(content.rois))
    with pytest.raises(ValueError, match=r"plane= \(one of \[0, 1\]\)"):
        Suite2pSegmentationExtractor(root)
    with pytest.raises(ValueError, match="no plane7 folder"):
        Suite2pSegmentationExtractor(root, plane=7)
    with pytest.raises(ValueError, match="no combined folder"):
        Suite2pSegmentationExtractor(root, plane="combined")
    with pytest.raises(TypeError):
        Suite2pSegmentationExtractor(root, plane="1")
    with pytest.raises(ValueError, match="single plane folder"):
        Suite2pSegmentationExtractor(root / "plane0", plane=0)
    combined = make_plane_content(9, (18, 14), 5, 10, 6.0)
    write_plane(root / "combined", combined)
    with roicore.open(root) as seg:  # several planes: combined by default, as suite2p's GUI does
        assert seg.folder_path == root / "combined" and seg.get_num_rois() == 5


def test_reads_are_fresh_copies(plane) -> None:
    folder, _ = plane("0.x")
    with Suite2pSegmentationExtractor(folder) as seg:
        first = seg.get_traces()
        first[:] = -1
        assert not np.array_equal(seg.get_traces(), first)
        image = seg.get_images_dict()["mean"]
        image[:] = -1
        assert seg.get_image("mean").min() >= 0


def test_pickles_by_path(plane) -> None:
    import pickle

    folder, _ = plane("1.x")
    with Suite2pSegmentationExtractor(folder, sampling_frequency=4.0) as seg:
        payload = pickle.dumps(seg)
        assert len(payload) < 4000
        with pickle.loads(payload) as clone:
            np.testing.assert_array_equal(clone.get_traces(), seg.get_traces())
            assert clone.get_sampling_frequency() == 4.0


def test_combined_folder_is_the_planes_tiled(tmp_path: Path) -> None:
    """The combined sample (made like suite2p's combined()) reads as the planes' ROIs shifted onto the canvas."""
    from roicore_suite2p.samples import make_folder_samples

    root = next(s.path for s in make_folder_samples(tmp_path) if s.id == "multiplane-combined")
    with roicore.open(root, plane="combined") as combined:
        canvas = combined.get_image("mean")
        first = 0
        for k in range(3):
            with roicore.open(root, plane=k) as seg:
                rows, columns = seg.get_frame_shape()
                count = seg.get_num_rois()
                ids = list(range(first, first + count))
                np.testing.assert_array_equal(combined.get_property("iplane", ids), [k] * count)
                np.testing.assert_array_equal(combined.get_traces(ids), seg.get_traces())
                found = [
                    (dy, dx) for dy in range(0, canvas.shape[0], rows) for dx in range(0, canvas.shape[1], columns)
                    if np.array_equal(canvas[dy:dy + rows, dx:dx + columns], seg.get_image("mean"))
                ]
                assert len(found) == 1, k
                (dy, dx), tiles = found[0], combined.get_roi_image_masks(ids)
                np.testing.assert_array_equal(tiles[dy:dy + rows, dx:dx + columns], seg.get_roi_image_masks())
                assert tiles.sum() == seg.get_roi_image_masks().sum()
                cropped = combined.get_image("correlation")[dy:dy + rows, dx:dx + columns]
                np.testing.assert_array_equal(cropped, seg.get_image("correlation"))
                first += count
        assert first == combined.get_num_rois()


def test_a_plane_without_rois(plane) -> None:
    # not a kit sample: the reliability harness draws ROI subsets of at least one ROI
    from roicore_suite2p.samples import plane_truth

    folder, content = plane("1.x", count=0, frames=11)
    assert load_npy(folder / "stat.npy").shape == (0,)
    truth = plane_truth(content)
    with roicore.open(folder) as seg:
        assert seg.get_roi_ids() == [] and seg.get_num_samples() == 11
        assert seg.get_traces().shape == (11, 0) and seg.get_roi_image_masks().shape == (11, 17, 0)
        assert sorted(seg.get_property_keys()) == ["cell_probability", "is_accepted"]
        for name, image in truth.images.items():
            np.testing.assert_array_equal(seg.get_image(name), image)
