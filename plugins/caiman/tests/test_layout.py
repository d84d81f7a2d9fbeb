"""CaImAn field decoding: placeholders, numbers in text, index arrays, pixel order."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from roicore.errors import CorruptFileError
from roicore_caiman import layout
from roicore_caiman.caimansave import save_dict


@pytest.fixture
def handle(tmp_path):
    with h5py.File(tmp_path / "fields.hdf5", "w") as file:
        yield file


def test_placeholders(handle):
    save_dict(handle, {"none": None, "dview": object(), "empty": [], "text": "x", "words": ["a", "bc"], "flag": True})
    assert handle["none"][()] == b"NoneType" and handle["dview"][()] == b"NoneType"
    assert layout.member(handle, "none") == (layout.NONE, None)
    assert layout.member(handle, "dview")[0] == layout.NONE
    assert layout.member(handle, "missing") == (layout.MISSING, None)
    state, node = layout.member(handle, "empty")
    assert state == layout.DATASET and node.shape == (0,) and node.dtype == np.float64
    assert handle.attrs["text"] == "x"  # strings are attributes since CaImAn 1.9.9
    assert handle["words"].dtype == np.dtype("S2")
    assert handle["flag"][()] == True  # noqa: E712
    handle["fixed"] = np.bytes_(b"NoneType")
    assert layout.is_none_placeholder(handle["fixed"])
    handle["other"] = np.bytes_(b"something")
    assert not layout.is_none_placeholder(handle["other"])


def test_numbers_stored_as_text(handle):
    handle["fr"] = b" 30.5 "
    handle["fr_array"] = np.array([12.0])
    handle["dims_text"] = b"[512 256]"
    handle["dims_tuple"] = "(3, 4, 5)"
    handle["dims_float"] = np.array([7.0, 9.0])
    assert layout.read_float(handle["fr"], "fr") == 30.5
    assert layout.read_float(handle["fr_array"], "fr") == 12.0
    assert layout.read_dims(handle["dims_text"], "dims") == (512, 256)
    assert layout.read_dims(handle["dims_tuple"], "dims") == (3, 4, 5)
    assert layout.read_dims(handle["dims_float"], "dims") == (7, 9)
    handle["bad_dims"] = np.array([2.5, 3])
    with pytest.raises(CorruptFileError, match="positive integers"):
        layout.read_dims(handle["bad_dims"], "dims")


def test_index_arrays(handle):
    handle["ints"] = np.array([4, 1, 1])
    handle["floats"] = np.array([2.0, 0.0])
    handle["text"] = np.array([b"3", b"0"])
    handle["mask"] = np.array([True, False, True, False, False])
    handle["empty"] = np.array([])
    np.testing.assert_array_equal(layout.read_index_array(handle["ints"], 5, "i"), [1, 4])
    np.testing.assert_array_equal(layout.read_index_array(handle["floats"], 5, "i"), [0, 2])
    np.testing.assert_array_equal(layout.read_index_array(handle["text"], 5, "i"), [0, 3])
    np.testing.assert_array_equal(layout.read_index_array(handle["mask"], 5, "i"), [0, 2])
    assert layout.read_index_array(handle["empty"], 5, "i").size == 0
    with pytest.raises(CorruptFileError, match="indices 1..4 but there are 3"):
        layout.read_index_array(handle["ints"], 3, "idx")


def test_vectors(handle):
    handle["good"] = np.arange(3.0)
    handle["column"] = np.arange(3.0).reshape(3, 1)
    handle["text"] = np.array([b"0.5", b"1e-3", b"-2"])
    handle["short"] = np.arange(2.0)
    np.testing.assert_array_equal(layout.read_vector(handle["good"], 3, "v"), [0, 1, 2])
    np.testing.assert_array_equal(layout.read_vector(handle["column"], 3, "v"), [0, 1, 2])
    np.testing.assert_array_equal(layout.read_vector(handle["text"], 3, "v"), [0.5, 1e-3, -2])
    assert layout.read_vector(handle["short"], 3, "v") is None


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 2), (4, 4)])
def test_pixel_order_conversions(shape):
    rows, columns = shape
    image = np.arange(rows * columns).reshape(rows, columns)
    fortran = image.reshape(-1, order="F")  # what CaImAn stores at F-index p
    c_index = layout.fortran_to_c_pixels(np.arange(rows * columns), rows, columns)
    np.testing.assert_array_equal(image.reshape(-1)[c_index], fortran)
    back = layout.c_to_fortran_pixels(c_index, rows, columns)
    np.testing.assert_array_equal(back, np.arange(rows * columns))
    dense = np.stack([fortran, 2 * fortran], axis=1)
    np.testing.assert_array_equal(layout.dense_fortran_to_c(dense, rows, columns)[:, 1], 2 * image.reshape(-1))


def test_sparse_group_checks(handle):
    from scipy import sparse

    save_dict(handle, {"A": sparse.csc_matrix(np.eye(4)[:, :3])})
    info = layout.sparse_group_info(handle["A"], "A")
    assert info.shape == (4, 3) and info.nnz == 3
    data, indices, indptr = layout.read_sparse_group(info, "A")
    np.testing.assert_array_equal(indices, [0, 1, 2])
    del handle["A/indptr"]
    handle["A/indptr"] = np.array([0, 1, 2])
    with pytest.raises(CorruptFileError, match="indptr has 3 entries"):
        layout.sparse_group_info(handle["A"], "A")
