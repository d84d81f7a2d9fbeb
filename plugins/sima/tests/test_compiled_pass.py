"""The compiled band pass: bitwise the numpy pass's traces, the exact mean image, clear errors.

``roicore_sima._bandpass`` is optional at build time (see ``setup.py``);
these tests require it, so that a build that silently dropped it fails here
rather than leaving every integer video on the slower numpy pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import roicore_sima.kernel as kernel_module
from roicore_sima.kernel import COMPILED_DTYPES, ChunkKernel, merge_means
from roicore_sima.weights import product_weights
from scipy import sparse

DTYPES = ["bool", "uint8", "int8", "uint16", "int16"]


def test_the_compiled_pass_is_built():
    try:
        from roicore_sima import _bandpass  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only where the build dropped it
        pytest.fail(f"roicore_sima._bandpass is not built ({exc}); reinstall roicore-sima where a C compiler is")
    assert kernel_module._bandpass is not None


def _video(dtype: str, frames: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    if kind == np.bool_:
        return rng.random((frames, *shape)) < 0.5
    info = np.iinfo(kind)
    video = rng.integers(info.min, info.max, (frames, *shape), endpoint=True, dtype=np.int64)
    video[:, 0, :] = info.max  # the extremes, where a narrow sum would overflow
    video[:, 1, :] = info.min
    return video.astype(kind)


def _kernel(
    pixels: int,
    rois: int,
    per_roi: int,
    compiled: bool,
    seed: int = 1,
    band: int | None = None,
    within: int | None = None,
    frames: int | None = None,
) -> ChunkKernel:
    """Random weighted ROIs (overlapping: the kernel does not care) on the first ``within`` of ``pixels``."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(rois), per_roi)
    cols = np.concatenate([rng.choice(within or pixels, per_roi, replace=False) for _ in range(rois)])
    weights = sparse.csr_matrix((rng.random(rows.size) + 0.1, (rows, cols)), shape=(rois, pixels))
    weights.sort_indices()
    product, rescale, totals, dead = product_weights(weights, power=np.ones(rois, dtype=np.int64))
    return ChunkKernel(
        product, rescale, totals, nan_rois=dead, check_finite=False, compiled=compiled, band=band, frames=frames
    )


def test_the_rescale_weights_are_built_only_for_videos_that_can_hold_non_finite_values():
    rng = np.random.default_rng(3)
    weights = sparse.random(6, 50, density=0.2, format="csr", random_state=rng) * 2.0
    weights.sort_indices()
    power = np.ones(6, dtype=np.int64)
    product, rescale, totals, dead = product_weights(weights, power=power, rescale=False)
    assert rescale is None and totals is None
    full_product, full_rescale, full_totals, full_dead = product_weights(weights, power=power)
    assert product.dtype == np.float32 and (product != full_product).nnz == 0
    np.testing.assert_array_equal(dead, full_dead)
    np.testing.assert_allclose(full_totals, weights.sum(axis=1).A1, rtol=1e-6)
    with pytest.raises(ValueError, match="rescale matrix"):
        ChunkKernel(product, None, None, nan_rois=dead, check_finite=True)
    ChunkKernel(product, None, None, nan_rois=dead, check_finite=False)  # an integer video needs neither


def test_bands_are_wide_where_the_weights_are_sparse():
    for per_roi, dense in ((3, False), (400, True)):
        kernel = _kernel(2**17, 30, per_roi, compiled=True)
        assert (kernel.product.nnz >= kernel_module.DENSE_WEIGHTS_PER_PIXEL * 2**17) is dense
        expected = kernel_module.DENSE_COMPILED_BAND_PIXELS if dense else kernel_module.COMPILED_BAND_PIXELS
        assert kernel.compiled_band == expected
        assert {band.last - band.first for band in kernel.compiled_bands} == {expected}
    assert kernel_module.DENSE_COMPILED_BAND_PIXELS < kernel_module.COMPILED_BAND_PIXELS
    assert _kernel(2**17, 30, 400, compiled=True, band=1000).compiled_band == 1000  # an explicit band wins


def _listed_rows(matrix: sparse.csr_matrix, first: int, last: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Reference: every row with entries in columns ``[first, last)``, with those entries, row by row."""
    listed = []
    for row in range(matrix.shape[0]):
        entries = slice(matrix.indptr[row], matrix.indptr[row + 1])
        inside = (matrix.indices[entries] >= first) & (matrix.indices[entries] < last)
        if inside.any():
            listed.append((row, matrix.indices[entries][inside] - first, matrix.data[entries][inside]))
    return listed


@pytest.mark.parametrize("gathered", [True, False], ids=["gathered", "in-place"])
@pytest.mark.parametrize("width", [1, 7, 64, 200, 1000])
def test_each_band_lists_exactly_its_rows_with_their_entries_in_order(gathered, width):
    rng = np.random.default_rng(width)
    for density in (0.0, 0.002, 0.05, 0.6):
        matrix = sparse.random(37, 613, density=density, format="csr", dtype=np.float32, random_state=rng)
        matrix = (sparse.diags((np.arange(37) % 5 != 0).astype(np.float32)) @ matrix).tocsr()  # empty rows
        matrix.eliminate_zeros()
        matrix.sort_indices()
        bands = kernel_module._compiled_bands(matrix, width, gathered=gathered)
        assert [(band.first, band.last) for band in bands] == [
            (first, min(first + width, 613)) for first in range(0, 613, width)
        ]
        for band in bands:
            expected = _listed_rows(matrix, band.first, band.last)
            assert band.bounds.dtype == np.int32 and band.bounds.shape == (len(expected), 3)
            assert band.entries == sum(columns.size for _, columns, _ in expected)
            for (row, start, stop), (expected_row, columns, data) in zip(band.bounds, expected):
                assert row == expected_row
                np.testing.assert_array_equal(band.indices[start:stop], columns)
                np.testing.assert_array_equal(band.data[start:stop], data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 9, 37])
@pytest.mark.parametrize(
    "per_roi, within, band, kinds",
    [(3, None, None, {False}), (400, None, None, {True}), (40, 300, 97, {True, False})],
    ids=["sparse-band", "dense-band", "mixed-bands"],
)
@pytest.mark.parametrize("gathered", [True, False], ids=["gathered", "in-place"])
@pytest.mark.parametrize("mean", [True, False], ids=["mean", "no-mean"])  # dense bands convert first only without it
def test_compiled_traces_equal_the_numpy_pass_bitwise_and_the_mean_exactly(
    dtype, frames, per_roi, within, band, kinds, gathered, mean
):
    shape = (40, 50)
    video = _video(dtype, frames, shape)
    length = kernel_module.GATHERED_BANDS_FRAMES if gathered else frames  # the layout follows the video's length
    compiled = _kernel(2000, 30, per_roi, compiled=True, band=band, within=within, frames=length)
    numpy_pass = _kernel(2000, 30, per_roi, compiled=False, band=band, within=within)
    assert compiled.uses_compiled(video.dtype) and not numpy_pass.uses_compiled(video.dtype)
    assert compiled.gathered_bands is gathered
    assert {band.dense for band in compiled.compiled_bands} == kinds
    if not gathered:  # every band points into the one pair of weight arrays
        assert len({id(band.data) for band in compiled.compiled_bands}) == 1
    out_c = np.full((frames, 30), np.nan, dtype=np.float32)  # process() overwrites
    out_n = np.zeros((frames, 30), dtype=np.float32)
    scratch_c, scratch_n = compiled.scratch(video.dtype), numpy_pass.scratch(video.dtype)
    compiled.process(video, out_c, scratch_c, mean=mean)
    numpy_pass.process(video, out_n, scratch_n, mean=mean)
    np.testing.assert_array_equal(out_c, out_n)
    if mean:
        np.testing.assert_array_equal(merge_means([scratch_c], shape), video.astype(np.float64).mean(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_int32_sums_move_to_float64_before_they_could_overflow(dtype):
    kind = np.dtype(dtype)
    largest = 1 if kind == np.bool_ else max(-int(np.iinfo(kind).min), int(np.iinfo(kind).max))
    kernel = _kernel(600, 5, 20, compiled=True)
    scratch = kernel.scratch(kind)
    assert scratch.limit * largest < 2**31 <= (scratch.limit + 1) * largest or kind == np.bool_
    scratch.limit = 3  # force a move every few frames: the sum must stay exact across moves
    video = _video(dtype, 50, (20, 30), seed=2)
    out = np.zeros((50, 5), dtype=np.float32)
    for start in range(0, 50, 7):  # chunks of 7: moves inside and between chunks
        kernel.process(video[start : start + 7], out[start : start + 7], scratch)
    np.testing.assert_array_equal(merge_means([scratch], (20, 30)), video.astype(np.float64).mean(axis=0))


def test_every_other_dtype_takes_the_numpy_pass():
    kernel = _kernel(600, 5, 20, compiled=True)
    assert {np.dtype(name) for name in DTYPES} == COMPILED_DTYPES
    for dtype in ("float32", "float64", "int32", "uint32", "int64", "float16"):
        assert not kernel.uses_compiled(dtype)
        assert not kernel.scratch(dtype).compiled


def test_a_chunk_of_another_dtype_than_the_scratch_is_refused():
    kernel = _kernel(600, 5, 20, compiled=True)
    scratch = kernel.scratch(np.uint16)
    with pytest.raises(ValueError, match="scratch was made for uint16 frames, not int16"):
        kernel.process(np.zeros((2, 600), dtype=np.int16), np.zeros((2, 5), dtype=np.float32), scratch)


def _arguments(cols: int = 8, rows: int = 2, frames: int = 3) -> dict:
    return dict(
        block=np.ones((frames, cols), dtype=np.uint16),
        out=np.zeros((frames, rows), dtype=np.float32),
        bounds=np.array([[0, 0, 1], [1, 1, 2]], dtype=np.int32),  # (row, start, stop): row 0 entry 0, row 1 entry 1
        indices=np.array([0, 7], dtype=np.int32),
        data=np.array([0.5, 2.0], dtype=np.float32),
        acc=np.zeros(cols, dtype=np.int32),
        scratch=None,
    )


def test_band_pass_adds_into_out_and_acc():
    from roicore_sima._bandpass import band_pass

    args = _arguments()
    args["block"][:, 7] = 3
    band_pass(*args.values())
    band_pass(*args.values())
    np.testing.assert_array_equal(args["out"], [[1.0, 12.0]] * 3)
    np.testing.assert_array_equal(args["acc"], [6] * 7 + [18])


@pytest.mark.parametrize("frames", [3, 4, 9])  # single frames, groups of four, both
@pytest.mark.parametrize("dense", [False, True])  # gather from the integers, or from converted frames
def test_band_pass_adds_only_into_the_listed_rows(frames, dense):
    from roicore_sima._bandpass import band_pass

    args = _arguments(rows=3, frames=frames)
    args["block"] = np.arange(frames * 8, dtype=np.uint16).reshape(frames, 8)
    args["out"] = np.full((frames, 3), 7.0, dtype=np.float32)
    args["bounds"] = np.array([[2, 0, 2]], dtype=np.int32)  # row 2 holds both entries; rows 0 and 1 are not listed
    args["scratch"] = np.zeros(4 * 8, dtype=np.float32) if dense else None
    band_pass(*args.values())
    block = args["block"].astype(np.float32)
    np.testing.assert_array_equal(args["out"][:, :2], 7.0)
    np.testing.assert_array_equal(args["out"][:, 2], np.float32(7.0) + np.float32(0.5) * block[:, 0] + 2 * block[:, 7])
    np.testing.assert_array_equal(args["acc"], args["block"].sum(axis=0))


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(block=np.ones((3, 8), dtype=np.float32)), ValueError, "uint8, int8, uint16 or int16"),
        (dict(block=np.ones((3, 16), dtype=np.uint16)[:, ::2]), ValueError, "contiguous rows"),
        (dict(block=np.ones(8, dtype=np.uint16)), ValueError, "2-D frames"),
        (dict(out=np.zeros((2, 2), dtype=np.float32)), ValueError, r"out must be float32 of shape \(3, rows\)"),
        (dict(out=np.zeros(6, dtype=np.float32)), ValueError, r"out must be float32 of shape \(3, rows\)"),
        (dict(out=np.zeros((3, 2), dtype=np.float64)), ValueError, r"out must be float32 of shape \(3, rows\)"),
        (dict(out=np.zeros((3, 1), dtype=np.float32)), ValueError, "bounds outside the output rows"),
        (dict(out=np.zeros((3, 2), dtype=np.int32)), ValueError, "out must be float32"),
        (dict(acc=np.zeros(7, dtype=np.int32)), ValueError, "acc must hold 8 items"),
        (dict(indices=np.array([0], dtype=np.int32)), ValueError, "weight arrays"),
        (dict(indices=np.array([0], dtype=np.int32), data=np.array([1.0], dtype=np.float32)), ValueError, "bounds outside"),
        (dict(bounds=np.array([[0, 0, 1], [1, 1, 2]], dtype=np.int64)), ValueError, "bounds must hold int32"),
        (dict(bounds=np.array([0, 1, 2, 3], dtype=np.int32)), ValueError, "bounds must hold int32"),
        (dict(bounds=np.array([[0, 1, 0]], dtype=np.int32)), ValueError, "bounds outside"),  # start > stop
        (dict(bounds=np.array([[0, -1, 1]], dtype=np.int32)), ValueError, "bounds outside"),
        (dict(bounds=np.array([[0, 1, 3]], dtype=np.int32)), ValueError, "bounds outside"),  # past the entries
        (dict(bounds=np.array([[2, 0, 1]], dtype=np.int32)), ValueError, "bounds outside the output rows"),
        (dict(bounds=np.array([[-1, 0, 1]], dtype=np.int32)), ValueError, "bounds outside the output rows"),
        (dict(scratch=np.zeros(31, dtype=np.float32)), ValueError, "scratch"),
    ],
)
def test_band_pass_refuses_arguments_that_do_not_fit(change, error, message):
    from roicore_sima._bandpass import band_pass

    args = {**_arguments(), **change}
    with pytest.raises(error, match=message):
        band_pass(*args.values())


def test_band_pass_refuses_a_read_only_output():
    from roicore_sima._bandpass import band_pass

    args = _arguments()
    args["out"].flags.writeable = False
    with pytest.raises(TypeError, match="out must be a writable"):
        band_pass(*args.values())
