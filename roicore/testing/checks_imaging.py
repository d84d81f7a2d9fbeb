"""Imaging checks: values against the sample's ground truth and against numpy semantics."""

from __future__ import annotations

import dataclasses

import numpy as np

from roicore.errors import UnknownSamplingFrequencyError, UnsupportedFeatureError
from roicore.testing.checks import CheckFailed, NotApplicable, check
from roicore.testing.compare import expect, expect_equal_arrays, expect_rate

IMAGING = ("imaging",)
OPEN = ("imaging.open",)
FULL = ("imaging.series.full",)


def _imaging_check(check_id: str, depends_on: tuple[str, ...] = FULL, requires: tuple[str, ...] = ()):
    return check(check_id, component="imaging", subject="reader-sample", kinds=IMAGING, depends_on=depends_on,
                 requires=requires)


@_imaging_check("imaging.open", depends_on=("registry.plugin.loads",))
def opens(case):
    """The reader opens the sample and returns an ImagingExtractor."""
    from roicore.imaging import ImagingExtractor

    extractor = case.extractor
    expect(isinstance(extractor, ImagingExtractor), f"the reader returned {type(extractor).__name__}, not an ImagingExtractor")


@_imaging_check("imaging.axis_order", depends_on=OPEN)
def axis_order(case):
    """Frames are (rows, columns) in matrix order: the shape is not swapped and the values sit where the truth has them."""
    x, truth = case.extractor, case.truth.series
    shape = tuple(x.get_image_shape())
    expected = truth.shape[1:3]
    if shape != expected:
        swapped = shape == expected[::-1]
        case.fail(f"get_image_shape() is {shape}, expected {expected}" + (": rows and columns are swapped" if swapped else ""))
    count = min(len(truth), 8)
    read = np.asarray(x.get_series(0, count))
    expect(read.shape[1:3] == expected, f"get_series returns frames of shape {read.shape[1:3]}, expected {expected}")
    if truth.shape[1] == truth.shape[2]:
        _square_axis_order(read, truth[:count])
        return
    reference = truth[:count].astype(np.float64)
    read = read.astype(np.float64)
    mean_read = read.mean(axis=0).reshape(read.shape[1], read.shape[2], -1).mean(axis=2)
    mean_true = reference.mean(axis=0).reshape(reference.shape[1], reference.shape[2], -1).mean(axis=2)
    where_read = np.unravel_index(np.argmax(mean_read), mean_read.shape)
    where_true = np.unravel_index(np.argmax(mean_true), mean_true.shape)
    expect(where_read == where_true, f"the brightest pixel is at {where_read}, expected {where_true}: axes are permuted or flipped")


def _square_axis_order(read: np.ndarray, truth: np.ndarray) -> None:
    """On square frames the shape cannot show a transpose, so compare the values of the first frames."""
    transposed = truth.swapaxes(1, 2)
    if np.array_equal(truth, transposed, equal_nan=truth.dtype.kind == "f"):
        raise NotApplicable("the sample's frames are square and symmetric; a transpose cannot be seen")
    if np.array_equal(read, truth, equal_nan=truth.dtype.kind == "f"):
        return
    if read.shape == truth.shape and np.array_equal(read, transposed, equal_nan=truth.dtype.kind == "f"):
        raise CheckFailed("on this square sample the frames read back transposed: rows and columns are swapped")
    for axis in (1, 2):
        if np.array_equal(read, np.flip(truth, axis=axis), equal_nan=truth.dtype.kind == "f"):
            raise CheckFailed(f"on this square sample the frames read back flipped along axis {axis}")
    # other differences are not an axis problem: imaging.series.full reports them


@_imaging_check("imaging.metadata", depends_on=("imaging.axis_order",))
def metadata(case):
    """Sample count, image shape, dtype and sampling frequency have the right types and true values."""
    x, truth = case.extractor, case.truth
    n = x.get_num_samples()
    expect(isinstance(n, (int, np.integer)) and not isinstance(n, bool), f"get_num_samples() returned {type(n).__name__}")
    expect(n == truth.series.shape[0], f"get_num_samples() is {n}, expected {truth.series.shape[0]}")
    shape = x.get_image_shape()
    expect(isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(v, (int, np.integer)) for v in shape),
           f"get_image_shape() must be a tuple of two ints, got {shape!r}")
    expect(tuple(shape) == truth.series.shape[1:3], f"get_image_shape() is {shape}, expected {truth.series.shape[1:3]}")
    expect(x.get_sample_shape() == truth.series.shape[1:], f"get_sample_shape() is {x.get_sample_shape()}, expected {truth.series.shape[1:]}")
    expect(isinstance(x.get_dtype(), np.dtype), f"get_dtype() returned {type(x.get_dtype()).__name__}, not numpy.dtype")
    expect(x.get_dtype() == truth.series.dtype, f"get_dtype() is {x.get_dtype()}, expected {truth.series.dtype}")
    expect_rate(x.get_sampling_frequency(), truth.sampling_frequency)
    expect(x.shape == truth.series.shape and len(x) == n and x.ndim == truth.series.ndim,
           f"array protocol: shape {x.shape}, len {len(x)}, ndim {x.ndim}; expected shape {truth.series.shape}")


@_imaging_check("imaging.series.full", depends_on=("imaging.metadata",))
def series_full(case):
    """get_series() equals the ground truth exactly: values, shape and dtype."""
    expect_equal_arrays(case.extractor.get_series(), case.truth.series, "get_series()")


@_imaging_check("imaging.series.bounds")
def series_bounds(case):
    """get_series(a, b) equals full[a:b] for any 0 <= a <= b <= n, and raises IndexError outside."""
    from hypothesis import strategies as st

    x, full = case.extractor, case.truth.series
    n = len(full)
    bound = st.one_of(st.none(), st.integers(0, n))

    def inside(start, end):
        a, b = 0 if start is None else start, n if end is None else end
        if a > b:
            start, end = end, start
        expect_equal_arrays(x.get_series(start, end), full[start:end], f"get_series({start}, {end})")

    case.given(inside, bound, bound)
    for start, end in [(-1, n), (0, n + 1), (n, n + 5), (min(2, n), min(1, n - 1) if n > 1 else -1)]:
        try:
            x.get_series(start, end)
        except IndexError:
            continue
        except Exception as exc:
            case.fail(f"get_series({start}, {end}) raised {type(exc).__name__}, expected IndexError")
        case.fail(f"get_series({start}, {end}) did not raise IndexError (valid: 0 <= start <= end <= {n})")


@_imaging_check("imaging.samples.fancy")
def samples_fancy(case):
    """get_samples(idx) equals full[idx] for unsorted, repeated and negative indices; IndexError out of range."""
    from hypothesis import strategies as st

    x, full = case.extractor, case.truth.series
    n = len(full)

    def fancy(indices):
        idx = np.asarray(indices, dtype=np.int64)
        expect_equal_arrays(x.get_samples(idx), full[idx], f"get_samples({indices})")

    case.given(fancy, st.lists(st.integers(-n, n - 1), min_size=1, max_size=12))
    for bad in ([n], [-n - 1], [0, n + 3]):
        try:
            x.get_samples(bad)
        except IndexError:
            continue
        except Exception as exc:
            case.fail(f"get_samples({bad}) raised {type(exc).__name__}, expected IndexError")
        case.fail(f"get_samples({bad}) did not raise IndexError")


@_imaging_check("imaging.getitem")
def getitem(case):
    """x[key] equals numpy's full[key] for ints, slices with steps, index arrays and Ellipsis."""
    x, full = case.extractor, case.truth.series
    n, rows, columns = full.shape[:3]
    keys = [0, -1, slice(None), slice(1, None, 2), slice(None, None, -1), [n - 1, 0, 0],
            (slice(None), slice(0, rows, 2), columns - 1), (Ellipsis, 0), (-1, slice(None), [0, columns - 1])]
    for key in keys:
        expect_equal_arrays(np.asarray(x[key]), full[key], f"x[{key!r}]")
    expect_equal_arrays(np.asarray(x), full, "numpy.asarray(x)")


@_imaging_check("imaging.chunked")
def chunked(case):
    """Reads in chunks of 1, 2, 7, n-1 and n samples concatenate to the full read."""
    x, full = case.extractor, case.truth.series
    n = len(full)
    for size in sorted({1, 2, 7, max(n - 1, 1), n}):
        parts = [x.get_series(a, min(a + size, n)) for a in range(0, n, size)]
        expect_equal_arrays(np.concatenate(parts), full, f"chunks of {size} concatenated")


@_imaging_check("imaging.returns_copy")
def returns_copy(case):
    """Mutating a returned array never changes a later read."""
    x, full = case.extractor, case.truth.series
    for read in (lambda: x.get_series(), lambda: x.get_samples([0]), lambda: np.asarray(x[0:1])):
        block = read()
        expect(block.flags.writeable, "returned arrays must be writeable copies")
        block[...] = 1 if block.dtype.kind != "b" else True
    expect_equal_arrays(x.get_series(), full, "get_series() after mutating earlier results")


@_imaging_check("imaging.series.nocopy")
def series_nocopy(case):
    """get_series(copy=False) has the true values, is read-only and C-contiguous, in chunks and whole."""
    x, full = case.extractor, case.truth.series
    n = len(full)
    for start, end in sorted({(0, n), (0, 1), (n // 2, n), (max(n - 2, 0), n)}):
        block = x.get_series(start, end, copy=False)
        expect(isinstance(block, np.ndarray), f"get_series(copy=False) returned {type(block).__name__}")
        expect(not block.flags.writeable, f"get_series({start}, {end}, copy=False) must be read-only")
        expect(block.flags.c_contiguous, f"get_series({start}, {end}, copy=False) must be C-contiguous")
        expect_equal_arrays(block, full[start:end], f"get_series({start}, {end}, copy=False)")


@_imaging_check("imaging.slice.lazy")
def slice_lazy(case):
    """slice_samples reads nothing when made, equals full[a:b], and composes."""
    x, full = case.extractor, case.truth.series
    n = len(full)
    calls = []
    original_series, original_samples = x._read_series, x._read_samples
    x._read_series = lambda *a: calls.append(a) or original_series(*a)
    x._read_samples = lambda *a: calls.append(a) or original_samples(*a)
    try:
        a, b = n // 4, n - n // 4
        view = x.slice_samples(a, b)
        inner = view.slice_samples(1 if b - a > 1 else 0, b - a)
        expect(not calls, f"slice_samples read data when made ({len(calls)} read call(s))")
    finally:
        del x._read_series, x._read_samples
    expect_equal_arrays(view.get_series(), full[a:b], f"slice_samples({a}, {b}).get_series()")
    offset = 1 if b - a > 1 else 0
    expect_equal_arrays(inner.get_series(), full[a + offset:b], "a slice of a slice")
    expect(view.get_num_samples() == b - a, f"the slice has {view.get_num_samples()} samples, expected {b - a}")


@_imaging_check("imaging.time", depends_on=("imaging.metadata",))
def timestamps(case):
    """Timestamps: length n, increasing, arange(n)/fs or the native ones; windows and slices agree."""
    x, truth = case.extractor, case.truth
    n = len(truth.series)
    if truth.timestamps is None and truth.sampling_frequency is None:
        x = x.slice_samples()  # a view: the rate set below must not leak into later checks
        try:
            x.get_timestamps()
            raised = False
        except UnknownSamplingFrequencyError:
            raised = True
        expect(raised, "get_timestamps() without a rate must raise UnknownSamplingFrequencyError")
        x.set_sampling_frequency(1.0)
        truth = dataclasses.replace(truth, sampling_frequency=1.0)
    times = x.get_timestamps()
    expected = truth.timestamps if truth.timestamps is not None else np.arange(n) / truth.sampling_frequency
    expect_equal_arrays(times.astype(np.float64), np.asarray(expected, dtype=np.float64), "get_timestamps()", rtol=1e-9, check_dtype=False)
    expect(bool(np.all(np.diff(times) > 0)), "timestamps are not strictly increasing")
    a, b = n // 3, n - 1
    expect_equal_arrays(x.get_timestamps(a, b), times[a:b], f"get_timestamps({a}, {b})", rtol=1e-12, check_dtype=False)
    expect_equal_arrays(x.slice_samples(a, b).get_timestamps(), times[a:b], f"slice_samples({a}, {b}).get_timestamps()", rtol=1e-12, check_dtype=False)
    indices = np.asarray(x.time_to_sample_indices(times))
    expect_equal_arrays(indices.astype(np.int64), np.arange(n), "time_to_sample_indices(get_timestamps())", check_dtype=False)
    if n > 1:
        between = (times[:-1] + times[1:]) / 2
        expect_equal_arrays(np.asarray(x.time_to_sample_indices(between)).astype(np.int64), np.arange(n - 1),
                            "time_to_sample_indices(midpoints)", check_dtype=False)


@_imaging_check("imaging.planes", depends_on=("imaging.metadata",))
def planes(case):
    """Volumetric readers declare it and select_plane(i) equals full[..., i]; others raise UnsupportedFeatureError."""
    x, full = case.extractor, case.truth.series
    if full.ndim == 4:
        expect("volumetric" in case.capabilities, "the reader returns volumetric data but does not declare 'volumetric'")
        expect(x.is_volumetric and x.get_num_planes() == full.shape[3], f"is_volumetric={x.is_volumetric}, planes={x.get_num_planes()}")
        for plane in range(full.shape[3]):
            expect_equal_arrays(x.select_plane(plane).get_series(), full[..., plane], f"select_plane({plane})")
        return
    expect(not x.is_volumetric, "a planar sample reports is_volumetric=True")
    try:
        x.select_plane(0)
    except UnsupportedFeatureError:
        return
    except Exception as exc:
        case.fail(f"select_plane on planar data raised {type(exc).__name__}, expected UnsupportedFeatureError")
    case.fail("select_plane on planar data did not raise UnsupportedFeatureError")
