"""Decoding of the fields CaImAn's ``CNMF.save()`` writes, placeholders included.

CaImAn serialises a CNMF object with ``caiman.utils.utils.save_dict_to_hdf5``.
Its rules leave a few shapes a reader must understand (research note
``roiextractors.md`` section 8):

* an unset field (``None``) becomes a scalar variable-length string dataset
  ``"NoneType"`` (read back by h5py 3 as ``b'NoneType'``);
* an empty list becomes a float64 array of shape ``(0,)``;
* a ragged or object array is cast to ``|S32`` byte strings, so numbers can
  arrive as byte strings (and so can string metadata of files older than 1.9.9);
* a scipy.sparse matrix becomes a group ``data, indices, indptr, shape`` of its
  CSC form;
* spatial fields (``A``, ``b``) flatten pixels in Fortran order:
  ``pixel = row + column * rows``.

Every function here reads only the members it is handed, names the file and
the member in its errors (:class:`roicore.errors.CorruptFileError`), and never
lets a raw h5py or numpy exception escape for a malformed field.

h5py is imported by the callers' modules; this module only needs its classes
when handed h5py objects, so it imports h5py at module level (it is never
imported by the plugin's entry module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from roicore.errors import CorruptFileError

__all__ = [
    "NONE_TEXT",
    "MISSING",
    "NONE",
    "DATASET",
    "GROUP",
    "corrupt",
    "decode_text",
    "is_string_dtype",
    "is_none_placeholder",
    "member",
    "read_float",
    "read_dims",
    "read_index_array",
    "read_vector",
    "read_id_list",
    "read_text_list",
    "SparseGroupInfo",
    "sparse_group_info",
    "read_sparse_group",
    "fortran_to_c_pixels",
    "c_to_fortran_pixels",
    "dense_fortran_to_c",
]

#: The text CaImAn stores for a field that is ``None``.
NONE_TEXT = "NoneType"

#: States of a member as returned by :func:`member`.
MISSING, NONE, DATASET, GROUP = "missing", "none", "dataset", "group"

_INT_RE = re.compile(r"[-+]?\d+(?:\.0*)?(?![\d.eE])")


def _filename(node: Any) -> str:
    try:
        return str(node.file.filename)
    except Exception:  # a closed or invalid object: still produce a message
        return "<closed HDF5 file>"


def corrupt(node: Any, message: str) -> CorruptFileError:
    """A CorruptFileError naming the file and the member ``node``.

    Parameters
    ----------
    node : h5py.Group or h5py.Dataset or str
        The member at fault, or the file path when the fault is file-wide.
    message : str
        What is wrong.
    """
    if isinstance(node, str):
        return CorruptFileError(f"{node}: {message}", path=node)
    filename = _filename(node)
    name = getattr(node, "name", None) or "/"
    return CorruptFileError(f"{filename}: {name}: {message}", path=filename)


def decode_text(value: Any) -> str | None:
    """The text of a bytes/str value (or a one-element array of one), else None."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(()).item() if value.dtype.kind != "O" else value.reshape(())[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (str, np.str_)):
        return str(value)
    return None


def is_string_dtype(dtype: np.dtype) -> bool:
    """True for fixed-length bytes/str dtypes and h5py's variable-length strings."""
    if dtype.kind in "SU":
        return True
    return dtype.kind == "O" and h5py.check_string_dtype(dtype) is not None


def _read_all(dataset: h5py.Dataset) -> Any:
    """``dataset[()]``, with read failures reported as a corrupt member."""
    try:
        return dataset[()]
    except Exception as exc:  # h5py raises OSError, ValueError, TypeError, KeyError...
        raise corrupt(dataset, f"cannot be read ({type(exc).__name__}: {exc})") from exc


def is_none_placeholder(dataset: h5py.Dataset) -> bool:
    """True if ``dataset`` is CaImAn's placeholder for ``None`` (``"NoneType"``).

    Scalar and one-element string datasets holding ``NoneType`` (or ``None``)
    qualify; nothing else does.
    """
    try:
        if dataset.size != 1 or not is_string_dtype(dataset.dtype):
            return False
    except Exception:
        return False
    text = decode_text(np.asarray(_read_all(dataset), dtype=object))
    return text is not None and text.strip() in (NONE_TEXT, "None")


def member(group: h5py.Group, name: str) -> tuple[str, Any]:
    """Look up ``group[name]`` and classify it.

    Returns
    -------
    tuple
        ``(state, node)``: ``(MISSING, None)``, ``(NONE, None)`` for a
        ``"NoneType"`` placeholder, ``(DATASET, dataset)`` or ``(GROUP, group)``.

    Raises
    ------
    CorruptFileError
        The member exists but cannot be resolved (a broken link, a damaged
        object header) or is a named datatype.
    """
    try:
        node = group.get(name)
    except Exception as exc:
        raise corrupt(group, f"member {name!r} cannot be read ({type(exc).__name__}: {exc})") from exc
    if node is None:
        return MISSING, None
    if isinstance(node, h5py.Group):
        return GROUP, node
    if isinstance(node, h5py.Dataset):
        if is_none_placeholder(node):
            return NONE, None
        return DATASET, node
    raise corrupt(group, f"member {name!r} is a {type(node).__name__}, not a dataset or group")


def _texts(array: np.ndarray) -> list[str]:
    return [decode_text(np.asarray(item, dtype=object)) or "" for item in array.reshape(-1)]


def read_float(dataset: h5py.Dataset, what: str) -> float:
    """A scalar number, also when stored as a one-element array or a byte string.

    Raises
    ------
    CorruptFileError
        Not a single number.
    """
    value = np.asarray(_read_all(dataset))
    if value.size != 1:
        raise corrupt(dataset, f"{what} must be one number, got shape {value.shape}")
    if is_string_dtype(dataset.dtype) or value.dtype.kind in "SUO":
        text = decode_text(value.astype(object))
        try:
            return float((text or "").strip())
        except ValueError:
            raise corrupt(dataset, f"{what} must be a number, got the text {text!r}") from None
    if value.dtype.kind not in "iuf":
        raise corrupt(dataset, f"{what} must be a number, got dtype {value.dtype}")
    return float(value.reshape(()))


def read_dims(dataset: h5py.Dataset, what: str) -> tuple[int, ...]:
    """Image dimensions: a 1-D integer array, or their text (``b'(512, 512)'``).

    Raises
    ------
    CorruptFileError
        Not a list of positive integers.
    """
    value = np.asarray(_read_all(dataset))
    if is_string_dtype(dataset.dtype) or value.dtype.kind in "SUO":
        numbers = [_INT_RE.findall(text) for text in _texts(value)]
        flat = [float(n) for group in numbers for n in group]
        value = np.asarray(flat, dtype=np.float64)
    if value.dtype.kind not in "iuf" or value.ndim > 1:
        raise corrupt(dataset, f"{what} must be a list of integers, got dtype {value.dtype}, shape {value.shape}")
    flat = value.reshape(-1)
    if flat.size == 0 or not np.all(np.isfinite(flat)) or np.any(flat != np.floor(flat)) or np.any(flat <= 0):
        raise corrupt(dataset, f"{what} must hold positive integers, got {flat.tolist()}")
    return tuple(int(v) for v in flat)


def _as_numbers(dataset: h5py.Dataset, value: np.ndarray, what: str) -> np.ndarray | None:
    """Numeric view of ``value``; byte strings of numbers are parsed; None if unparseable."""
    if is_string_dtype(dataset.dtype) or value.dtype.kind in "SUO":
        try:
            return np.asarray([float(text.strip()) for text in _texts(value)], dtype=np.float64).reshape(value.shape)
        except ValueError:
            return None
    if value.dtype.kind not in "biuf":
        return None
    return value


def read_index_array(dataset: h5py.Dataset, count: int, what: str) -> np.ndarray:
    """Component indices such as ``idx_components``, as a sorted unique int64 array.

    Accepts CaImAn's int arrays, the float64 ``(0,)`` array of an empty list,
    integral floats, byte strings of integers and a boolean mask of length
    ``count``. An empty result is a valid answer (no component listed).

    Raises
    ------
    CorruptFileError
        Non-integral values, or indices outside ``[0, count)``.
    """
    raw = np.asarray(_read_all(dataset))
    value = _as_numbers(dataset, raw, what)
    if value is None:
        raise corrupt(dataset, f"{what} must hold component indices, got dtype {raw.dtype}")
    if value.ndim == 0:
        value = value.reshape(1)
    if value.ndim == 2 and 1 in value.shape:
        value = value.reshape(-1)
    if value.ndim != 1:
        raise corrupt(dataset, f"{what} must be 1-D, got shape {value.shape}")
    if value.dtype == np.bool_:
        if value.size != count:
            raise corrupt(dataset, f"{what} is a boolean mask of {value.size} values for {count} components")
        return np.flatnonzero(value).astype(np.int64)
    if value.size == 0:
        return np.empty(0, dtype=np.int64)
    if value.dtype.kind == "f" and (not np.all(np.isfinite(value)) or np.any(value != np.floor(value))):
        raise corrupt(dataset, f"{what} must hold integer indices, got non-integral values")
    indices = value.astype(np.int64)
    if indices.min() < 0 or indices.max() >= count:
        raise corrupt(
            dataset,
            f"{what} holds indices {int(indices.min())}..{int(indices.max())} but there are "
            f"{count} components (valid: 0..{count - 1})",
        )
    return np.unique(indices)


def read_vector(dataset: h5py.Dataset, count: int, what: str) -> np.ndarray | None:
    """A per-component float vector (``SNR_comp``, ``r_values``, ``cnn_preds``).

    Returns
    -------
    numpy.ndarray or None
        float64 of shape ``(count,)``; None if the values are not numbers or
        their number differs from ``count`` (CaImAn leaves stale metrics behind
        when components are removed; such a field is not a valid property).
    """
    raw = np.asarray(_read_all(dataset))
    value = _as_numbers(dataset, raw, what)
    if value is None:
        return None
    if value.ndim == 2 and 1 in value.shape:
        value = value.reshape(-1)
    if value.ndim != 1 or value.shape[0] != count:
        return None
    return value.astype(np.float64)


def read_id_list(dataset: h5py.Dataset, count: int, what: str) -> list[Any] | None:
    """Ids stored by roicore's writer: ints, or byte strings decoded as UTF-8.

    Returns None if the field does not hold ``count`` unique ids.
    """
    raw = np.asarray(_read_all(dataset))
    if raw.ndim != 1 or raw.shape[0] != count:
        return None
    if is_string_dtype(dataset.dtype) or raw.dtype.kind in "SUO":
        ids: list[Any] = _texts(raw)
    elif raw.dtype.kind in "iu":
        ids = [int(v) for v in raw]
    else:
        return None
    return ids if len(set(ids)) == len(ids) else None


def read_text_list(dataset: h5py.Dataset) -> list[str]:
    """The strings of a bytes/str array (or scalar) dataset."""
    raw = np.asarray(_read_all(dataset))
    if not (is_string_dtype(dataset.dtype) or raw.dtype.kind in "SUO"):
        raise corrupt(dataset, f"must hold text, got dtype {raw.dtype}")
    return _texts(raw)


@dataclass(frozen=True)
class SparseGroupInfo:
    """A CSC matrix stored as a group (``data, indices, indptr, shape``), not yet read.

    Attributes
    ----------
    group : h5py.Group
    shape : tuple of int
        ``(rows, columns)`` of the matrix (pixels, components for ``A``).
    nnz : int
        Number of stored entries.
    """

    group: h5py.Group
    shape: tuple[int, int]
    nnz: int


def sparse_group_info(group: h5py.Group, what: str) -> SparseGroupInfo:
    """Check that ``group`` is a CSC matrix group; read only its ``shape``.

    Raises
    ------
    CorruptFileError
        A member is missing or not a 1-D dataset, ``shape`` is not two
        non-negative integers, or the member lengths disagree.
    """
    datasets: dict[str, h5py.Dataset] = {}
    for name in ("data", "indices", "indptr", "shape"):
        state, node = member(group, name)
        if state != DATASET:
            raise corrupt(group, f"{what} is stored as a sparse matrix group but its member {name!r} is {state}")
        datasets[name] = node
    shape_ds = datasets["shape"]
    raw = np.asarray(_read_all(shape_ds))
    if raw.dtype.kind not in "iuf" or raw.shape != (2,) or np.any(raw < 0) or np.any(raw != np.floor(raw)):
        raise corrupt(shape_ds, f"{what} shape must be two non-negative integers, got {raw!r}")
    shape = (int(raw[0]), int(raw[1]))
    lengths = {}
    for name in ("data", "indices", "indptr"):
        ds = datasets[name]
        if ds.ndim != 1:
            raise corrupt(ds, f"{what} {name} must be 1-D, got shape {ds.shape}")
        lengths[name] = int(ds.shape[0])
    if datasets["indices"].dtype.kind not in "iu" or datasets["indptr"].dtype.kind not in "iu":
        raise corrupt(group, f"{what} indices and indptr must be integers")
    if datasets["data"].dtype.kind not in "biuf":
        raise corrupt(datasets["data"], f"{what} data must be numbers, got dtype {datasets['data'].dtype}")
    if lengths["data"] != lengths["indices"]:
        raise corrupt(group, f"{what} has {lengths['data']} values but {lengths['indices']} indices")
    if lengths["indptr"] != shape[1] + 1:
        raise corrupt(
            group,
            f"{what} indptr has {lengths['indptr']} entries; a CSC matrix of shape {shape} needs {shape[1] + 1}",
        )
    return SparseGroupInfo(group, shape, lengths["data"])


def read_sparse_group(info: SparseGroupInfo, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read and validate a CSC group: ``(data float64, indices int64, indptr int64)``.

    Raises
    ------
    CorruptFileError
        indptr not starting at 0, decreasing, or not ending at nnz; a row
        index outside the matrix; a non-finite value.
    """
    group = info.group
    data = np.asarray(_read_all(group["data"]), dtype=np.float64).reshape(-1)
    indices = np.asarray(_read_all(group["indices"])).astype(np.int64, copy=False).reshape(-1)
    indptr = np.asarray(_read_all(group["indptr"])).astype(np.int64, copy=False).reshape(-1)
    if data.size != info.nnz or indices.size != info.nnz or indptr.size != info.shape[1] + 1:
        raise corrupt(group, f"{what} members changed size while being read")
    if indptr[0] != 0 or indptr[-1] != info.nnz or np.any(np.diff(indptr) < 0):
        raise corrupt(group, f"{what} indptr is not a valid CSC index pointer (0 .. {info.nnz}, non-decreasing)")
    if indices.size and (indices.min() < 0 or indices.max() >= info.shape[0]):
        raise corrupt(group, f"{what} has row indices outside 0..{info.shape[0] - 1}")
    if not np.all(np.isfinite(data)):
        raise corrupt(group, f"{what} holds non-finite values")
    return data, indices, indptr


def fortran_to_c_pixels(indices: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Map Fortran-order pixel indices (``row + column * rows``) to C order.

    Returns ``row * columns + column`` (int32 when the frame allows, else int64); vectorised.
    """
    dtype = np.int32 if rows * columns < 2**31 else np.int64  # int32 division is about twice as fast
    idx = np.asarray(indices).astype(dtype, copy=False)
    column, row = np.divmod(idx, dtype(rows))
    row *= dtype(columns)
    row += column
    return row


def c_to_fortran_pixels(indices: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Map C-order pixel indices (``row * columns + column``) to Fortran order."""
    idx = np.asarray(indices, dtype=np.int64)
    row, column = np.divmod(idx, columns)
    return column * rows + row


def dense_fortran_to_c(matrix: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Reorder the pixel axis (axis 0) of a dense ``(rows * columns, n)`` matrix from F to C order."""
    n = matrix.shape[1]
    return np.asarray(matrix).reshape((rows, columns, n), order="F").reshape(rows * columns, n)
