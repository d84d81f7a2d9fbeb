"""Overlap: found and recorded, removed without a per-pixel loop, or unmixed by least squares."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from roicore_sima.overlap import (
    IllConditionedOverlapWarning,
    find_overlap,
    overlap_components,
    overlap_groups,
    remove_pixels,
    unmixing_matrix,
)
from roicore_sima.weights import EmptyRoiWarning, build_weights
from scipy import sparse

import roicore
from roicore.memory import NumpyImagingExtractor
from roicore.segmentation import RoiMasks


def _masks(shape=(6, 9)):
    masks = np.zeros((*shape, 4), dtype=bool)
    masks[0:3, 0:4, 0] = True
    masks[2:5, 2:6, 1] = True  # shares (2,2), (2,3) with ROI 0
    masks[1:3, 3:5, 2] = True  # shares (1,3), (2,3), (2,4) with 0 and/or 1
    masks[4:6, 7:9, 3] = True  # alone
    return masks


def test_overlap_is_found_and_recorded_with_coordinates_and_per_roi_counts():
    masks = _masks()
    expected = np.argwhere(masks.sum(axis=2) > 1)
    result = roicore.extract(NumpyImagingExtractor(np.ones((4, 6, 9), np.uint16), 1.0), masks, method="sima")
    np.testing.assert_array_equal(result.overlap.coordinates(), expected)
    assert result.overlap.removed and result.overlap.count == len(expected)
    shared = masks.sum(axis=2) > 1
    per_roi = [(masks[..., r] & shared).sum() for r in range(4)]
    np.testing.assert_array_equal(result.get_property("num_overlap_pixels"), per_roi)
    np.testing.assert_array_equal(
        result.get_property("num_pixels"), [(masks[..., r] & ~shared).sum() for r in range(4)]
    )
    zeros, flat = result.overlap.to_sima()
    np.testing.assert_array_equal(zeros, 0)
    np.testing.assert_array_equal(flat, np.ravel_multi_index(expected.T, (6, 9)))
    # the masks as used no longer hold a shared pixel
    used = result.get_roi_image_masks()
    assert not np.any((used > 0).sum(axis=2) > 1)


def test_keeping_overlap_records_it_without_removing():
    masks = _masks()
    result = roicore.extract(
        NumpyImagingExtractor(np.ones((4, 6, 9), np.uint16), 1.0), masks, method="sima", remove_overlap=False
    )
    assert not result.overlap.removed and result.overlap.count == 4
    np.testing.assert_array_equal(result.get_roi_image_masks() > 0, masks)
    assert "overlap" not in result.to_sima_dict()


def test_removal_is_vectorised_and_equals_a_dense_reference():
    rng = np.random.default_rng(0)
    dense = (rng.random((400, 60)) < 0.05) * rng.uniform(0.5, 2.0, (400, 60))
    csc = sparse.csc_matrix(dense)
    info, shared = find_overlap(csc, (20, 20), removed=True)
    cleaned = remove_pixels(csc, shared).toarray()
    expected = dense.copy()
    expected[(dense != 0).sum(axis=1) > 1] = 0.0
    np.testing.assert_array_equal(cleaned, expected)
    np.testing.assert_array_equal(info.pixels, np.flatnonzero((dense != 0).sum(axis=1) > 1))


def _random_disks(count: int, rows: int = 512, cols: int = 512) -> RoiMasks:
    """``count`` disks of 149 pixels at random positions (many overlap)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[-7:8, -7:8]
    disk = yy**2 + xx**2 <= 49
    pixel_lists = []
    for _ in range(count):
        cy, cx = rng.integers(8, rows - 8), rng.integers(8, cols - 8)
        pixel_lists.append((cy + yy[disk]) * cols + cx + xx[disk])
    owner = np.repeat(np.arange(count), disk.sum())
    matrix = sparse.csc_matrix((np.ones(owner.size), (np.concatenate(pixel_lists), owner)), shape=(rows * cols, count))
    return RoiMasks(matrix, (rows, cols))


def test_removal_scales_to_many_rois_without_a_per_pixel_loop():
    """SIMA's DOK loop over shared pixels took ~24 s for 500 ROIs: the Python lines run here must not grow with them."""
    import sys

    lines = {}
    for count in (500, 3000):
        masks = _random_disks(count)
        seen = [0]

        def trace(frame, event, arg, seen=seen):
            if event == "line":
                seen[0] += 1
            return trace

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyRoiWarning)
            sys.settrace(trace)
            try:
                weights = build_weights(masks, remove_overlap=True, sima_compat=False)
            finally:
                sys.settrace(None)
        assert weights.overlap.count > 1000
        lines[count] = seen[0]
    # about the same lines run for 500 and for 3,000 ROIs (measured: 641 and 659); a loop per ROI adds thousands
    assert abs(lines[3000] - lines[500]) < 200, lines


@pytest.mark.parametrize("dtype", ["uint16", "float32"])  # float videos check for NaN pixels after the pass
@pytest.mark.parametrize("options", [{}, {"n_workers": 2, "chunk_size": 2}], ids=["one-chunk", "chunks"])
def test_a_roi_left_without_pixels_gets_nan_and_a_warning(dtype, options):
    masks = np.zeros((5, 7, 3), dtype=bool)
    masks[0:2, 0:2, 0] = True
    masks[0:2, 0:2, 1] = True  # identical to ROI 0: both lose every pixel
    masks[3:5, 4:7, 2] = True
    video = np.random.default_rng(0).integers(0, 100, (6, 5, 7)).astype(dtype)
    with pytest.warns(EmptyRoiWarning, match=r"2 ROI\(s\) have no pixel left.*\['x', 'y'\]"):
        result = roicore.extract(
            NumpyImagingExtractor(video, 1.0),
            roicore.memory.NumpySegmentationExtractor(masks, 1.0, num_samples=1, roi_ids=["x", "y", "z"]),
            method="sima",
            **options,
        )
    traces = result.get_traces()
    assert np.isnan(traces[:, :2]).all() and not np.isnan(traces[:, 2]).any()
    np.testing.assert_allclose(traces[:, 2], video[:, 3:5, 4:7].astype(np.float64).mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(result.get_property("is_empty"), [True, True, False])


def test_an_empty_input_mask_gets_nan_and_a_warning():
    masks = np.zeros((5, 7, 2), dtype=bool)
    masks[1:3, 1:3, 1] = True
    with pytest.warns(EmptyRoiWarning):
        result = roicore.extract(NumpyImagingExtractor(np.ones((3, 5, 7), np.uint16), 1.0), masks, method="sima")
    assert np.isnan(result.get_traces()[:, 0]).all()
    np.testing.assert_array_equal(result.get_traces()[:, 1], 1.0)


def test_identical_rois_under_least_squares_warn_and_split_evenly():
    masks = np.zeros((5, 7, 2), dtype=bool)
    masks[1:4, 1:4, :] = True
    video = np.full((3, 5, 7), 10.0, dtype=np.float32)
    with pytest.warns(IllConditionedOverlapWarning):
        result = roicore.extract(NumpyImagingExtractor(video, 1.0), masks, method="sima", remove_overlap=False)
    # minimum-norm solution: the two identical ROIs share the signal equally
    np.testing.assert_allclose(result.get_traces(), 5.0, rtol=1e-5)


def test_unmixing_matrix_is_block_diagonal_over_components():
    weights = sparse.csr_matrix(
        np.array(
            [
                [0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.5, 0.5, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            ]
        )
    )
    labels = overlap_components(weights)
    assert labels[0] == labels[1] and len(set(labels)) == 3
    groups = overlap_groups(labels)
    assert [g.tolist() for g in groups] == [[0, 1]]
    unmix = unmixing_matrix(weights, groups).toarray()
    np.testing.assert_allclose(unmix[2:, 2:], np.eye(2))
    np.testing.assert_array_equal(unmix[:2, 2:], 0)
    dense = weights.toarray()
    gram = dense[:2] @ dense[:2].T
    np.testing.assert_allclose(unmix[:2, :2], np.diag(np.diag(gram)) @ np.linalg.inv(gram))


@pytest.mark.parametrize("rois, per_roi", [(0, 0), (1, 5), (6, 3), (40, 30), (300, 60)])
def test_sorting_and_counting_find_the_same_shared_pixels(monkeypatch, rois, per_roi):
    import roicore_sima.overlap as overlap_module

    rng = np.random.default_rng(rois)
    pixels = 2000
    rows = np.concatenate([rng.choice(pixels, per_roi, replace=False) for _ in range(rois)] or [np.zeros(0, int)])
    csc = sparse.csc_matrix((np.ones(rows.size), (rows, np.repeat(np.arange(rois), per_roi))), shape=(pixels, rois))
    csc.sort_indices()
    found = {}
    for name, factor in (("sorted", 0), ("counted", 10**9)):
        monkeypatch.setattr(overlap_module, "SORT_BELOW", factor)
        found[name] = overlap_module.find_overlap(csc, (40, 50), removed=True)
    expected = np.flatnonzero(np.bincount(rows, minlength=pixels) > 1)
    for info, shared in found.values():
        np.testing.assert_array_equal(info.pixels, expected)
        assert info.pixels.dtype == np.int64
        np.testing.assert_array_equal(shared, np.isin(csc.indices, expected))
        np.testing.assert_array_equal(info.per_roi, [np.isin(csc[:, j].indices, expected).sum() for j in range(rois)])


@pytest.mark.parametrize("rois", [255, 256, 70_000])
def test_a_pixel_in_every_roi_is_shared_however_many_rois_there_are(rois):
    # the per-pixel counter is as narrow as the ROI count allows: it must never wrap (256 in a uint8 is 0)
    pixels = 4 * rois
    rows = np.stack([np.full(rois, 7), 8 + np.arange(rois)], axis=1).ravel()  # pixel 7, plus one of its own
    csc = sparse.csc_matrix((np.ones(rows.size), (rows, np.repeat(np.arange(rois), 2))), shape=(pixels, rois))
    csc.sort_indices()
    info, shared = find_overlap(csc, (4, rois), removed=True)
    np.testing.assert_array_equal(info.pixels, [7])
    np.testing.assert_array_equal(shared, csc.indices == 7)
    np.testing.assert_array_equal(info.per_roi, np.ones(rois))


@pytest.mark.parametrize("remove_overlap", [True, False])
@pytest.mark.parametrize("overlapping", [True, False])
def test_weights_never_share_or_change_the_callers_masks(remove_overlap, overlapping):
    dense = _masks()
    if not overlapping:
        dense[..., 1:3] = False
    masks = RoiMasks.from_image_masks(dense.astype(np.float64) * 3.0)
    before = [masks.matrix.data.copy(), masks.matrix.indices.copy(), masks.matrix.indptr.copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRoiWarning)
        weights = build_weights(masks, remove_overlap=remove_overlap, sima_compat=False)
    for array, saved in zip((masks.matrix.data, masks.matrix.indices, masks.matrix.indptr), before):
        np.testing.assert_array_equal(array, saved)
    assert not np.shares_memory(weights.matrix.data, masks.matrix.data)
    assert not np.shares_memory(weights.matrix.indices, masks.matrix.indices)
    np.testing.assert_allclose(weights.matrix.sum(axis=1).A1[weights.num_pixels > 0], 1.0)  # the copy is normalised
