"""Segmentation checks: ROI ids, masks, traces, images, properties and background against ground truth."""

from __future__ import annotations

import math

import numpy as np

from roicore.testing.checks import check
from roicore.testing.compare import expect, expect_equal_arrays

SEGMENTATION = ("segmentation",)
OPEN = ("segmentation.open",)


def _segmentation_check(check_id: str, depends_on: tuple[str, ...] = ("segmentation.ids",), requires: tuple[str, ...] = ()):
    return check(check_id, component="segmentation", subject="reader-sample", kinds=SEGMENTATION,
                 depends_on=depends_on, requires=requires)


@_segmentation_check("segmentation.open", depends_on=("registry.plugin.loads",))
def opens(case):
    """The reader opens the sample and returns a SegmentationExtractor."""
    from roicore.segmentation import SegmentationExtractor

    extractor = case.extractor
    expect(isinstance(extractor, SegmentationExtractor),
           f"the reader returned {type(extractor).__name__}, not a SegmentationExtractor")


@_segmentation_check("segmentation.metadata", depends_on=OPEN)
def metadata(case):
    """Frame shape, sample count and sampling frequency have the right types and true values."""
    x, truth = case.extractor, case.truth
    shape = x.get_frame_shape()
    expect(isinstance(shape, tuple) and tuple(shape) == truth.frame_shape, f"get_frame_shape() is {shape!r}, expected {truth.frame_shape}")
    expect(x.get_image_shape() == shape, "get_image_shape() differs from get_frame_shape()")
    n = x.get_num_samples()
    expect(isinstance(n, (int, np.integer)) and n == truth.num_samples, f"get_num_samples() is {n!r}, expected {truth.num_samples}")
    fs = x.get_sampling_frequency()
    if truth.sampling_frequency is None:  # the file stores no rate: the reader must not invent one
        expect(fs is None, f"get_sampling_frequency() is {fs!r}, expected None (the sample stores no rate)")
    else:
        expect(isinstance(fs, (float, np.floating)) and math.isfinite(fs) and fs > 0, f"sampling frequency {fs!r} is not a positive float")
        expect(math.isclose(fs, truth.sampling_frequency, rel_tol=1e-9), f"sampling frequency {fs}, expected {truth.sampling_frequency}")


@_segmentation_check("segmentation.ids", depends_on=("segmentation.metadata",))
def ids(case):
    """ROI ids are unique, equal the truth, and are the same across calls and after re-opening."""
    x, truth = case.extractor, case.truth
    first = list(x.get_roi_ids())
    expect(len(set(first)) == len(first), f"ROI ids are not unique: {first}")
    expect(first == list(truth.roi_ids), f"ROI ids {first[:10]}..., expected {list(truth.roi_ids)[:10]}...")
    expect(x.get_num_rois() == len(first), f"get_num_rois() is {x.get_num_rois()}, but there are {len(first)} ids")
    expect(list(x.get_roi_ids()) == first, "ROI ids changed between two calls")
    with case.open() as again:
        expect(list(again.get_roi_ids()) == first, "ROI ids changed after re-opening the file")


@_segmentation_check("segmentation.masks")
def masks(case):
    """Image masks equal the truth; pixel masks describe the same pixels, inside the frame, weights >= 0."""
    x, truth = case.extractor, case.truth
    image = x.get_roi_image_masks()
    expect_equal_arrays(image, truth.image_masks.astype(image.dtype), "get_roi_image_masks()", rtol=truth.rtol, atol=1e-12, check_dtype=False)
    pixel = x.get_roi_pixel_masks()
    expect(len(pixel) == image.shape[2], f"{len(pixel)} pixel masks for {image.shape[2]} ROIs")
    rows, columns = truth.frame_shape
    for index, mask in enumerate(pixel):
        expect(mask.ndim == 2 and mask.shape[1] == 3, f"pixel mask {index} has shape {mask.shape}, expected (k, 3)")
        r, c, w = mask[:, 0].astype(int), mask[:, 1].astype(int), mask[:, 2]
        expect(bool(np.all((r >= 0) & (r < rows) & (c >= 0) & (c < columns))), f"pixel mask {index} has pixels outside the frame")
        expect(bool(np.all(w >= 0)), f"pixel mask {index} has negative weights")
        rebuilt = np.zeros((rows, columns))
        rebuilt[r, c] = w
        expect_equal_arrays(rebuilt, image[:, :, index].astype(np.float64), f"pixel mask {index} vs image mask {index}", rtol=1e-6, atol=1e-12)


@_segmentation_check("segmentation.traces")
def traces(case):
    """Trace names are exactly the truth's; each full trace matrix is (time, rois), float, and equals the truth."""
    x, truth = case.extractor, case.truth
    names = set(x.get_trace_names()) - {"background"}
    expect(names == set(truth.traces), f"trace names {sorted(names)}, expected {sorted(truth.traces)}")
    for name, expected in truth.traces.items():
        actual = x.get_traces(name=name)
        expect(actual.dtype.kind == "f", f"traces {name!r} have dtype {actual.dtype}, expected float")
        expect_equal_arrays(actual, expected.astype(actual.dtype), f"get_traces(name={name!r})", rtol=truth.rtol, atol=1e-9, check_dtype=False)
    try:
        x.get_traces(name="no-such-trace")
    except KeyError:
        pass
    else:
        case.fail("get_traces(name='no-such-trace') did not raise KeyError")
    expect(set(x.get_traces_dict()) - {"background"} == names, "get_traces_dict() holds other names than get_trace_names()")


@_segmentation_check("segmentation.traces.windows", depends_on=("segmentation.traces",))
def trace_windows(case):
    """get_traces over any window and ROI subset equals the same window of the full traces."""
    from hypothesis import strategies as st

    x, truth = case.extractor, case.truth
    if not truth.traces:
        return
    name = sorted(truth.traces)[0]
    full = x.get_traces(name=name)
    ids = list(truth.roi_ids)
    n = truth.num_samples

    def window(data):
        a = data.draw(st.integers(0, n))
        b = data.draw(st.integers(a, n))
        positions = data.draw(st.lists(st.integers(0, len(ids) - 1), min_size=1, max_size=len(ids), unique=True))
        chosen = [ids[p] for p in positions]
        actual = x.get_traces(roi_ids=chosen, start_sample=a, end_sample=b, name=name)
        expect_equal_arrays(actual, full[a:b][:, positions], f"get_traces({chosen}, {a}, {b}, name={name!r})", rtol=1e-12, atol=0)

    if ids:
        case.given(window, st.data())
    for start, end in [(-1, n), (0, n + 1)]:
        try:
            x.get_traces(start_sample=start, end_sample=end, name=name)
        except IndexError:
            continue
        case.fail(f"get_traces(start_sample={start}, end_sample={end}) did not raise IndexError")


@_segmentation_check("segmentation.images")
def images(case):
    """Summary images are exactly the truth's names, with the frame's shape and the true values."""
    x, truth = case.extractor, case.truth
    found = x.get_images_dict()
    expect(set(found) == set(truth.images), f"images {sorted(found)}, expected {sorted(truth.images)}")
    for name, expected in truth.images.items():
        expect_equal_arrays(np.asarray(found[name]), expected.astype(np.asarray(found[name]).dtype), f"image {name!r}", rtol=truth.rtol, atol=1e-9, check_dtype=False)


@_segmentation_check("segmentation.properties")
def properties(case):
    """Properties equal the truth, is_accepted is bool, and absent properties are absent (not None)."""
    x, truth = case.extractor, case.truth
    keys = set(x.get_property_keys())
    for key, expected in truth.properties.items():
        expect(key in keys, f"property {key!r} is missing (present: {sorted(keys)})")
        actual = np.asarray(x.get_property(key))
        if key == "is_accepted":
            expect(actual.dtype == bool, f"is_accepted has dtype {actual.dtype}, expected bool")
        expect_equal_arrays(actual, np.asarray(expected).astype(actual.dtype), f"property {key!r}", rtol=truth.rtol, check_dtype=False)
    for key in truth.absent_properties:
        expect(key not in keys, f"property {key!r} must be absent for this sample")


@_segmentation_check("segmentation.background")
def background(case):
    """Background components are kept apart from ROIs, with their own ids, masks and traces."""
    x, truth = case.extractor, case.truth
    background_ids = list(x.get_background_ids())
    expect(background_ids == list(truth.background_ids), f"background ids {background_ids}, expected {truth.background_ids}")
    shared = set(background_ids) & set(x.get_roi_ids())
    expect(not shared, f"background ids {sorted(shared, key=str)} appear among the ROI ids")
    if truth.background_masks is not None:
        masks = x.get_background_image_masks()
        expect_equal_arrays(masks, truth.background_masks.astype(masks.dtype), "get_background_image_masks()", rtol=truth.rtol, atol=1e-12, check_dtype=False)
    if truth.background_traces is not None:
        traces = x.get_traces(name="background")
        expect_equal_arrays(traces, truth.background_traces.astype(traces.dtype), "get_traces(name='background')", rtol=truth.rtol, atol=1e-9, check_dtype=False)
    elif not background_ids:
        expect("background" not in x.get_trace_names(), "no background components but a 'background' trace exists")


@_segmentation_check("segmentation.views", depends_on=("segmentation.traces",))
def views(case):
    """select_rois and slice_samples equal indexing the full arrays."""
    x, truth = case.extractor, case.truth
    ids = list(truth.roi_ids)
    if not ids or not truth.traces:
        return
    name = sorted(truth.traces)[0]
    full = x.get_traces(name=name)
    chosen = ids[::-2]
    positions = [ids.index(i) for i in chosen]
    subset = x.select_rois(chosen)
    expect(list(subset.get_roi_ids()) == chosen, f"select_rois ids {list(subset.get_roi_ids())}, expected {chosen}")
    expect_equal_arrays(subset.get_traces(name=name), full[:, positions], "select_rois(...).get_traces()", rtol=1e-12)
    expect_equal_arrays(subset.get_roi_image_masks(), x.get_roi_image_masks()[:, :, positions], "select_rois(...) masks", rtol=1e-12)
    n = truth.num_samples
    a, b = n // 4, n - n // 4
    window = x.slice_samples(a, b)
    expect(window.get_num_samples() == b - a, f"slice_samples({a}, {b}) has {window.get_num_samples()} samples")
    expect_equal_arrays(window.get_traces(name=name), full[a:b], f"slice_samples({a}, {b}).get_traces()", rtol=1e-12)
    expect_equal_arrays(window.get_timestamps(), x.get_timestamps(a, b), "slice_samples timestamps", rtol=1e-12, check_dtype=False)
