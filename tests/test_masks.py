"""RoiMasks: one sparse matrix, C-order pixels, exact round trips, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import sparse

from roicore.segmentation import RoiMasks

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def image_masks(draw: st.DrawFn) -> np.ndarray:
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 7)), draw(st.integers(0, 4)))
    weights = st.one_of(st.just(0.0), st.just(0.0), st.floats(0.001, 10.0))
    return draw(hnp.arrays(np.float64, shape, elements=weights))


def test_asymmetric_example_row_column_order() -> None:
    # one pixel at row 1, column 7 of a 5 x 9 frame (rows != columns on purpose)
    image = np.zeros((5, 9, 1))
    image[1, 7, 0] = 0.5
    masks = RoiMasks.from_image_masks(image)
    assert masks.frame_shape == (5, 9)
    assert masks.matrix.shape == (45, 1)
    # C order: pixel = row * columns + column
    np.testing.assert_array_equal(masks.matrix.indices, [1 * 9 + 7])
    np.testing.assert_array_equal(masks.to_pixel_masks()[0], [[1.0, 7.0, 0.5]])
    from_pixels = RoiMasks.from_pixel_masks([np.array([[1, 7, 0.5]])], (5, 9))
    np.testing.assert_array_equal(from_pixels.to_image_masks(), image)
    assert from_pixels.allclose(masks)


def test_c_order_flattening_matches_numpy_reshape() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((4, 6, 3)) * (rng.random((4, 6, 3)) > 0.5)
    masks = RoiMasks.from_image_masks(image)
    np.testing.assert_array_equal(masks.matrix.toarray(), image.reshape(24, 3, order="C"))
    for k, pixels in enumerate(masks.to_pixel_masks()):
        rows, cols = np.nonzero(image[:, :, k])  # numpy lists nonzeros in C order
        np.testing.assert_array_equal(pixels[:, 0], rows)
        np.testing.assert_array_equal(pixels[:, 1], cols)
        np.testing.assert_array_equal(pixels[:, 2], image[rows, cols, k])


def test_matrix_invariants() -> None:
    # column 0: an explicit zero at pixel 5, then pixel 3; column 1: pixels 3, 1 (unsorted)
    raw = sparse.csc_matrix(
        (np.array([0.0, 2.0, 3.0, 1.0]), np.array([5, 3, 3, 1]), np.array([0, 2, 4])),
        shape=(6, 2),
    )
    assert not raw.has_sorted_indices
    masks = RoiMasks(raw, (2, 3))
    assert isinstance(masks.matrix, sparse.csc_matrix)
    assert masks.matrix.dtype == np.float64
    assert masks.matrix.has_sorted_indices
    assert masks.matrix.nnz == 3 and np.all(masks.matrix.data != 0)
    np.testing.assert_array_equal(masks.matrix.indices, [3, 1, 3])
    np.testing.assert_array_equal(masks.matrix.data, [2.0, 1.0, 3.0])
    np.testing.assert_array_equal(masks.pixel_counts(), [1, 2])
    assert len(masks) == masks.num_rois == 2
    # the input is copied
    raw.data[:] = 7.0
    assert masks.matrix.max() == 3.0
    csr = masks.to_csr()
    assert isinstance(csr, sparse.csr_matrix)
    np.testing.assert_array_equal(csr.toarray(), masks.matrix.toarray())
    assert "2 ROIs on a 2 x 3 frame" in repr(masks)


def test_copy_false_shares_only_a_canonical_matrix() -> None:
    canonical = sparse.csc_matrix((np.array([2.0, 1.0, 3.0]), np.array([3, 1, 3]), np.array([0, 1, 3])), shape=(6, 2))
    canonical.sort_indices()
    shared = RoiMasks(canonical, (2, 3), copy=False)
    assert np.shares_memory(shared.matrix.data, canonical.data)
    assert np.shares_memory(shared.matrix.indices, canonical.indices)
    assert not np.shares_memory(RoiMasks(canonical, (2, 3)).matrix.data, canonical.data)  # the default copies
    # unsorted, duplicated, or with a stored zero: copied (then made canonical), the caller's arrays untouched
    for data, indices in (([1.0, 2.0], [3, 1]), ([1.0, 2.0], [1, 1]), ([0.0, 2.0], [1, 3])):
        raw = sparse.csc_matrix((np.array(data), np.array(indices), np.array([0, 2, 2])), shape=(6, 2))
        before = (raw.data.copy(), raw.indices.copy(), raw.indptr.copy())
        masks = RoiMasks(raw, (2, 3), copy=False)
        assert not np.shares_memory(masks.matrix.data, raw.data)
        assert masks.matrix.has_canonical_format and masks.matrix.data.all()
        for kept, now in zip(before, (raw.data, raw.indices, raw.indptr)):
            np.testing.assert_array_equal(kept, now)
    float32 = canonical.astype(np.float32)
    assert not np.shares_memory(RoiMasks(float32, (2, 3), copy=False).matrix.data, float32.data)
    with pytest.raises(ValueError, match="negative"):
        RoiMasks(sparse.csc_matrix(-canonical), (2, 3), copy=False)


@SETTINGS
@given(image_masks())
def test_round_trips(image: np.ndarray) -> None:
    rows, cols, n = image.shape
    masks = RoiMasks.from_image_masks(image)
    assert masks.num_rois == n
    dense = masks.to_image_masks()
    assert dense.dtype == np.float64 and dense.shape == image.shape
    np.testing.assert_array_equal(dense, image)

    pixel = masks.to_pixel_masks()
    assert len(pixel) == n
    for k, p in enumerate(pixel):
        assert p.shape == (np.count_nonzero(image[:, :, k]), 3) and p.dtype == np.float64
        np.testing.assert_array_equal(image[p[:, 0].astype(int), p[:, 1].astype(int), k], p[:, 2])
    again = RoiMasks.from_pixel_masks(pixel, (rows, cols))
    np.testing.assert_array_equal(again.to_image_masks(), image)
    assert again.allclose(masks) and masks.allclose(again)

    via_sparse = RoiMasks.from_sparse(masks.to_csr(), (rows, cols))
    np.testing.assert_array_equal(via_sparse.to_image_masks(), image)
    np.testing.assert_array_equal(masks.pixel_counts(), np.count_nonzero(image, axis=(0, 1)))


@SETTINGS
@given(image_masks(), st.data())
def test_select_and_positions(image: np.ndarray, data: st.DataObject) -> None:
    n = image.shape[2]
    positions = data.draw(st.lists(st.integers(-n, n - 1), max_size=5)) if n else []
    masks = RoiMasks.from_image_masks(image)
    expected = image[:, :, positions]
    np.testing.assert_array_equal(masks.select(positions).to_image_masks(), expected)
    np.testing.assert_array_equal(masks.to_image_masks(positions), expected)
    pixel = masks.to_pixel_masks(positions)
    assert len(pixel) == len(positions)
    for p, k in zip(pixel, positions):
        np.testing.assert_array_equal(p, masks.to_pixel_masks()[k])


def test_bool_and_integer_image_masks() -> None:
    image = np.zeros((3, 4, 2), dtype=bool)
    image[0, 1, 0] = image[2, 3, 1] = image[2, 2, 1] = True
    masks = RoiMasks.from_image_masks(image)
    np.testing.assert_array_equal(masks.to_image_masks(), image.astype(float))
    np.testing.assert_array_equal(masks.to_pixel_masks()[1], [[2, 2, 1], [2, 3, 1]])
    ints = RoiMasks.from_image_masks(image.astype(np.uint8) * 3)
    assert ints.matrix.dtype == np.float64 and ints.matrix.max() == 3.0


def test_empty_masks() -> None:
    empty = RoiMasks.empty((3, 4))
    assert empty.num_rois == 0 and empty.matrix.shape == (12, 0)
    assert empty.to_pixel_masks() == []
    assert empty.to_image_masks().shape == (3, 4, 0)
    assert RoiMasks.from_pixel_masks([], (3, 4)).allclose(empty)
    with_empty = RoiMasks.from_pixel_masks([[], np.empty((0, 3)), [[1, 1, 2.0]]], (3, 4))
    np.testing.assert_array_equal(with_empty.pixel_counts(), [0, 0, 1])


def test_allclose() -> None:
    a = RoiMasks.from_image_masks(np.array([[[1.0, 0.0], [0.5, 2.0]]]))
    assert a.allclose(a.copy())
    b = RoiMasks.from_image_masks(np.array([[[1.0 + 1e-12, 0.0], [0.5, 2.0]]]))
    assert a.allclose(b)
    c = RoiMasks.from_image_masks(np.array([[[1.0, 0.1], [0.5, 2.0]]]))
    assert not a.allclose(c) and not c.allclose(a)
    assert not a.allclose(RoiMasks.from_image_masks(np.ones((2, 1, 2))))
    assert not a.allclose("not masks")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "matrix, frame_shape, message",
    [
        (sparse.csc_matrix((12, 2)), (3, 5), "15 pixels"),
        (sparse.csc_matrix((12, 2)), (3, 4, 1, 1), "frame_shape"),
        (sparse.csc_matrix((12, 2)), (3, 5, 1), "15 pixels"),
        (sparse.csc_matrix((12, 2)), (3, 0), "frame_shape"),
        (sparse.csc_matrix((12, 2)), (3.0, 4), "frame_shape"),
        (sparse.csc_matrix(np.array([[-1.0], [0], [0], [0]])), (2, 2), "negative"),
        (sparse.csc_matrix(np.array([[np.nan], [0], [0], [0]])), (2, 2), "finite"),
        (sparse.csc_matrix(np.array([[np.inf], [0], [0], [0]])), (2, 2), "finite"),
        (np.zeros(4), (2, 2), "2-D"),
    ],
)
def test_validation(matrix, frame_shape, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoiMasks(matrix, frame_shape)


@pytest.mark.parametrize(
    "pixel_masks, message",
    [
        ([[[0, 0, 1.0], [0, 0, 2.0]]], "more than once"),
        ([[[0, 0, 1.0]], [[1, 2, 1.0], [3, 0, 1.0]]], "outside"),
        ([[[0, -1, 1.0]]], "outside"),
        ([[[0, 4, 1.0]]], "outside"),
        ([[[0.5, 1, 1.0]]], "non-integer"),
        ([[[0, 1]]], r"\(k, 3\)"),
        ([[[0, 1, -2.0]]], "negative"),
    ],
)
def test_pixel_mask_validation(pixel_masks, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoiMasks.from_pixel_masks(pixel_masks, (3, 4))


def test_duplicate_pixels_across_masks_are_fine() -> None:
    masks = RoiMasks.from_pixel_masks([[[1, 1, 1.0]], [[1, 1, 0.5]]], (2, 2))
    np.testing.assert_array_equal(masks.to_image_masks()[1, 1], [1.0, 0.5])


def test_image_mask_validation() -> None:
    with pytest.raises(ValueError, match="3-D"):
        RoiMasks.from_image_masks(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="negative"):
        RoiMasks.from_image_masks(-np.ones((2, 2, 1)))
    with pytest.raises(IndexError):
        RoiMasks.from_image_masks(np.ones((2, 2, 1))).select([1])


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.uint16, np.float32, np.float64, np.int64, np.float16])
@pytest.mark.parametrize("shape", [(37, 29, 7), (8, 8, 1), (3, 5, 1), (1, 1, 3)])
def test_dense_masks_match_scipy_without_a_float_copy(dtype, shape, monkeypatch) -> None:
    """The word-wise scan finds exactly numpy's nonzero elements, across blocks and odd tails."""
    import roicore.segmentation as segmentation

    monkeypatch.setattr(segmentation, "_SCAN_BLOCK_BYTES", 64)  # many blocks even for small masks
    rng = np.random.default_rng(sum(shape))
    present = rng.random(shape) < 0.1
    present.flat[-1] = True  # the last element sits in the tail when the size is not a multiple of 8
    image = present if dtype is np.bool_ else (present * rng.uniform(0.5, 9, shape)).astype(dtype)
    for variant in (image, np.asfortranarray(image), image[::-1]):  # non-contiguous inputs too
        masks = RoiMasks.from_image_masks(variant)
        expected = sparse.csc_matrix(variant.reshape(-1, shape[2]).astype(np.float64))
        assert masks.matrix.has_sorted_indices and masks.matrix.dtype == np.float64
        assert abs(masks.matrix - expected).max() == 0 if expected.nnz else masks.matrix.nnz == 0
        np.testing.assert_array_equal(masks.to_image_masks(), variant.astype(np.float64))


def test_dense_masks_edge_values() -> None:
    negative_zero = np.zeros((3, 3, 2))
    negative_zero[1, 1, 1] = -0.0  # bits set, value zero: not a mask pixel
    assert RoiMasks.from_image_masks(negative_zero).matrix.nnz == 0
    assert RoiMasks.from_image_masks(np.zeros((4, 4, 0), dtype=bool)).num_rois == 0
    with pytest.raises(ValueError, match="finite"):
        RoiMasks.from_image_masks(np.full((2, 2, 1), np.nan))
    with pytest.raises(ValueError, match="negative"):
        RoiMasks.from_image_masks(np.full((2, 2, 1), -1, dtype=np.int8))
    dense_matrix = np.eye(6, 3, dtype=np.uint16) * 4  # the dense 2-D path of the constructor
    np.testing.assert_array_equal(RoiMasks(dense_matrix, (2, 3)).matrix.toarray(), dense_matrix)
