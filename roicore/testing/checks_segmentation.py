"""Segmentation checks: ROI ids, masks, traces, images, properties and background against ground truth."""

from __future__ import annotations

from typing import Any


import numpy as np

from roicore.testing.checks import check
from roicore.testing.compare import expect, expect_equal_arrays, expect_rate

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
    expect(bool(x.is_volumetric) == truth.is_volumetric, f"is_volumetric is {x.is_volumetric}, expected {truth.is_volumetric}")
    planes = x.get_num_planes()
    expected_planes = truth.mask_shape[2] if truth.is_volumetric else 1
    expect(type(planes) is int and planes == expected_planes, f"get_num_planes() is {planes!r}, expected {expected_planes}")
    n = x.get_num_samples()
    expect(isinstance(n, (int, np.integer)) and n == truth.num_samples, f"get_num_samples() is {n!r}, expected {truth.num_samples}")
    expect_rate(x.get_sampling_frequency(), truth.sampling_frequency)


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
    """Image masks equal the truth; pixel masks describe the same pixels, inside the frame, weights >= 0.

    Volumetric: image masks ``(rows, columns, planes, n)``, pixel masks ``[row, column, plane, weight]``.
    """
    x, truth = case.extractor, case.truth
    image = x.get_roi_image_masks()
    expect_equal_arrays(image, truth.image_masks.astype(image.dtype), "get_roi_image_masks()", rtol=truth.rtol, atol=1e-12, check_dtype=False)
    pixel = x.get_roi_pixel_masks()
    expect(len(pixel) == image.shape[-1], f"{len(pixel)} pixel masks for {image.shape[-1]} ROIs")
    shape = truth.mask_shape
    width = len(shape) + 1
    for index, mask in enumerate(pixel):
        expect(mask.ndim == 2 and mask.shape[1] == width, f"pixel mask {index} has shape {mask.shape}, expected (k, {width})")
        where, w = mask[:, :-1].astype(int), mask[:, -1]
        expect(bool(np.all((where >= 0) & (where < np.array(shape)))), f"pixel mask {index} has pixels outside the frame")
        expect(bool(np.all(w >= 0)), f"pixel mask {index} has negative weights")
        rebuilt = np.zeros(shape)
        rebuilt[tuple(where.T)] = w
        expect_equal_arrays(rebuilt, image[..., index].astype(np.float64), f"pixel mask {index} vs image mask {index}", rtol=1e-6, atol=1e-12)


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
    expect_equal_arrays(subset.get_roi_image_masks(), x.get_roi_image_masks()[..., positions], "select_rois(...) masks", rtol=1e-12)
    n = truth.num_samples
    a, b = n // 4, n - n // 4
    window = x.slice_samples(a, b)
    expect(window.get_num_samples() == b - a, f"slice_samples({a}, {b}) has {window.get_num_samples()} samples")
    expect_equal_arrays(window.get_traces(name=name), full[a:b], f"slice_samples({a}, {b}).get_traces()", rtol=1e-12)
    expect_equal_arrays(window.get_timestamps(), x.get_timestamps(a, b), "slice_samples timestamps", rtol=1e-12, check_dtype=False)


@_segmentation_check("segmentation.planes", depends_on=("segmentation.masks",))
def planes(case):
    """Volumetric readers declare it and select_plane(k) holds the ROIs touching plane k, cut to it; others raise UnsupportedFeatureError."""
    from roicore.errors import UnsupportedFeatureError

    x, truth = case.extractor, case.truth
    if truth.is_volumetric:
        expect("volumetric" in case.capabilities, "the reader returns volumetric masks but does not declare 'volumetric'")
        ids = list(truth.roi_ids)
        for plane in range(truth.mask_shape[2]):
            cut = truth.image_masks[:, :, plane, :]
            touching = np.flatnonzero(cut.any(axis=(0, 1)))
            view = x.select_plane(plane)
            expect(list(view.get_roi_ids()) == [ids[i] for i in touching],
                   f"select_plane({plane}) has ROIs {list(view.get_roi_ids())[:10]}, expected those touching the plane")
            expect_equal_arrays(view.get_roi_image_masks(), cut[:, :, touching].astype(np.float64), f"select_plane({plane}) masks",
                                rtol=truth.rtol, atol=1e-12, check_dtype=False)
            for name, image in truth.images.items():
                expect_equal_arrays(np.asarray(view.get_image(name)), image[..., plane].astype(np.float64),
                                    f"select_plane({plane}) image {name!r}", rtol=truth.rtol, atol=1e-9, check_dtype=False)
        return
    try:
        x.select_plane(0)
    except UnsupportedFeatureError:
        return
    except Exception as exc:
        case.fail(f"select_plane on a planar segmentation raised {type(exc).__name__}, expected UnsupportedFeatureError")
    case.fail("select_plane on a planar segmentation did not raise UnsupportedFeatureError")


@check("segmentation.images.copy", component="segmentation", subject="reader-sample", kinds=SEGMENTATION,
       depends_on=("segmentation.images",),
       only_for=("samples with summary images", lambda contribution, sample: bool(sample.truth.images)))
def images_copy(case):
    """get_images_dict() and get_image(name) hand out fresh arrays: writing to one never changes a later read."""
    truth = case.truth
    with case.open() as x:  # a fresh extractor: a reader that fails must not spoil the shared one for other checks
        _write_to_images(x)
        found = x.get_images_dict()
    for name, expected in truth.images.items():
        again = np.asarray(found[name])
        expect_equal_arrays(again, expected.astype(again.dtype), f"image {name!r} after a caller wrote to an earlier result "
                            "(return copies, not the reader's cached arrays)", rtol=truth.rtol, atol=1e-9, check_dtype=False)


def _write_to_images(x) -> None:
    """Overwrite, as a careless caller would, every image the extractor hands out."""
    for name, image in x.get_images_dict().items():
        image = np.asarray(image)
        if image.flags.writeable:
            image[...] = 0
        image = x.get_image(name)
        if image.flags.writeable:
            image[...] = 0


@check("segmentation.masks.outside_frame", component="segmentation", subject="reader-sample", kinds=SEGMENTATION,
       depends_on=("segmentation.masks",),
       only_for=("samples declaring the 'roi-outside-frame' damage",
                 lambda contribution, sample: "roi-outside-frame" in sample.damages))
def masks_outside_frame(case):
    """A ROI pixel moved outside the frame (the sample's 'roi-outside-frame' damage) raises CorruptFileError, never is clipped."""
    from roicore.errors import CorruptFileError
    from roicore.testing.files import copy_sample

    damage = case.sample.damages["roi-outside-frame"]
    main, copied = copy_sample(case.sample, case.scratch("outside"))
    damage(main)
    try:
        with case.open(main) as x:
            x.get_roi_masks()
            x.get_roi_pixel_masks()
    except CorruptFileError as exc:
        names = [main.name, *(p.name for p in copied)]
        expect(any(name in str(exc) for name in names), f"CorruptFileError does not name the file: {exc}")
        return
    except Exception as exc:
        case.fail(f"a ROI pixel outside the frame raised {type(exc).__name__}: {exc} (expected CorruptFileError)")
    case.fail("a ROI pixel outside the frame was accepted (clipped or dropped): raise CorruptFileError naming the file")


LAZY_MINIMUM = 1024 * 1024  # bytes of one trace matrix: below, read granularity (mapping fault-around, HDF5 sieve buffers) hides a window


def _largest_traces(truth: Any) -> tuple[str, int]:
    """The name and byte size of the sample's largest trace matrix (in the truth's dtype)."""
    if not truth.traces:
        return "", 0
    name = max(truth.traces, key=lambda key: truth.traces[key].nbytes)
    return name, int(truth.traces[name].nbytes)


@check("segmentation.traces.lazy", component="segmentation", subject="reader-sample", kinds=SEGMENTATION,
       depends_on=("segmentation.traces.windows",),
       only_for=("samples with a trace matrix of 1 MiB or more",
                 lambda contribution, sample: bool(sample.truth.roi_ids) and _largest_traces(sample.truth)[1] >= LAZY_MINIMUM))
def traces_lazy(case):
    """Opening and reading a small window of one ROI reads much less than the whole trace matrix (read accounting)."""
    from roicore.testing.accounting import count_reads
    from roicore.testing.files import copy_sample

    truth = case.truth
    name, whole = _largest_traces(truth)
    n = truth.num_samples
    start = n // 2
    end = min(start + 8, n)
    roi = [truth.roi_ids[len(truth.roi_ids) // 2]]
    main, copied = copy_sample(case.sample, case.scratch("lazy"))
    with case.open(main) as warm:  # imports and one-time set-up are not the window's cost
        warm.get_traces(roi_ids=roi, start_sample=start, end_sample=end, name=name)
    x = None
    try:
        with count_reads([main, *copied]) as count:
            x = case.open(main)
            window = x.get_traces(roi_ids=roi, start_sample=start, end_sample=end, name=name)
    finally:
        if x is not None:
            x.close()
    expect(window.shape == (end - start, 1), f"the window read has shape {window.shape}")
    budget = whole // 2
    expect(count.largest <= budget,
           f"opening the file and reading get_traces({roi}, {start}, {end}, name={name!r}) ({(end - start) * 8} bytes of data) "
           f"took {count.describe()}; the whole {name!r} matrix is {whole} bytes and the budget is {budget}: "
           "read only the requested window and ROIs")
