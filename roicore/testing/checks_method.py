"""Signal-extraction method checks: shape and ids, permutation, subsets, chunking, determinism."""

from __future__ import annotations

import numpy as np

from roicore.testing.checks import NotApplicable, check
from roicore.testing.compare import expect, expect_equal_arrays


def _method_check(check_id: str, depends_on: tuple[str, ...] = ("method.output",), requires: tuple[str, ...] = ()):
    return check(check_id, component="method", subject="method-sample", depends_on=depends_on, requires=requires)


def _run(case, masks=None, roi_ids=None, **options):
    function = case.spec.load_method()
    sample = case.sample
    result = function(
        sample.imaging,
        sample.masks if masks is None else masks,
        roi_ids=list(sample.roi_ids if roi_ids is None else roi_ids),
        **{**sample.options, **options},
    )
    case.session.track(result)
    return result


@_method_check("method.output", depends_on=("registry.plugin.loads",))
def output(case):
    """The result is a SegmentationExtractor with the input's ROI ids, (time, rois) float raw traces, and the true values."""
    from roicore.segmentation import SegmentationExtractor

    sample = case.sample
    result = _run(case)
    expect(isinstance(result, SegmentationExtractor), f"the method returned {type(result).__name__}")
    expect(list(result.get_roi_ids()) == list(sample.roi_ids), f"ROI ids {list(result.get_roi_ids())}, expected {list(sample.roi_ids)}")
    raw = result.get_traces(name="raw")
    n = sample.imaging.get_num_samples()
    expect(raw.shape == (n, len(sample.roi_ids)), f"raw traces have shape {raw.shape}, expected {(n, len(sample.roi_ids))}")
    expect(raw.dtype.kind == "f", f"raw traces have dtype {raw.dtype}")
    expect(result.get_num_samples() == n, f"the result has {result.get_num_samples()} samples, expected {n}")
    if sample.expected_traces is not None:
        expect_equal_arrays(raw, sample.expected_traces.astype(raw.dtype), "raw traces vs the reference", rtol=sample.rtol, atol=1e-6, check_dtype=False)


@_method_check("method.roi_permutation")
def roi_permutation(case):
    """Permuting the ROIs permutes the output's columns and ids."""
    from roicore.segmentation import RoiMasks

    sample = case.sample
    count = len(sample.roi_ids)
    if count < 2:
        raise NotApplicable("the sample has fewer than two ROIs")
    order = np.random.default_rng(7).permutation(count)
    permuted = RoiMasks(sample.masks.matrix[:, order], sample.masks.frame_shape)
    ids = [sample.roi_ids[i] for i in order]
    base = _run(case).get_traces(name="raw")
    result = _run(case, permuted, ids)
    expect(list(result.get_roi_ids()) == ids, "the ids were not permuted with the masks")
    expect_equal_arrays(result.get_traces(name="raw"), base[:, order], "traces of permuted ROIs", rtol=1e-5, atol=1e-6)


@_method_check("method.subset")
def subset(case):
    """Extracting a subset of non-overlapping ROIs equals the same columns of the full extraction."""
    from roicore.segmentation import RoiMasks

    sample = case.sample
    matrix = sample.masks.matrix
    shared = np.asarray((matrix != 0).sum(axis=1)).ravel() > 1
    if shared.any():
        raise NotApplicable("the sample's ROIs overlap, so a subset may legitimately change the result")
    count = len(sample.roi_ids)
    positions = list(range(0, count, 2)) or [0]
    base = _run(case).get_traces(name="raw")
    result = _run(case, RoiMasks(matrix[:, positions], sample.masks.frame_shape), [sample.roi_ids[p] for p in positions])
    expect_equal_arrays(result.get_traces(name="raw"), base[:, positions], "traces of a ROI subset", rtol=1e-5, atol=1e-6)


@_method_check("method.chunk_invariance", requires=("chunk_invariant",))
def chunk_invariance(case):
    """chunk_size=1, 3 and the default give the same traces."""
    base = _run(case).get_traces(name="raw")
    for size in (1, 3):
        expect_equal_arrays(_run(case, chunk_size=size).get_traces(name="raw"), base, f"chunk_size={size}", rtol=1e-5, atol=1e-6)


@_method_check("method.determinism")
def determinism(case):
    """Two runs give identical traces, and neither the video nor the masks are changed."""
    sample = case.sample
    video_before = sample.imaging.get_series()
    matrix_before = sample.masks.matrix.copy()
    first = _run(case).get_traces(name="raw")
    second = _run(case).get_traces(name="raw")
    expect_equal_arrays(second, first, "a second run")
    expect_equal_arrays(sample.imaging.get_series(), video_before, "the video after extraction")
    difference = abs(sample.masks.matrix - matrix_before)
    expect(difference.nnz == 0 or difference.max() == 0, "the method changed the input masks")
