"""CaImAn's HDF5 serialisation rules, re-implemented for writing compatible files.

``CNMF.save()`` calls ``caiman.utils.utils.save_dict_to_hdf5(self.__dict__,
filename)``, which walks a nested dict with the rules below (CaImAn v1.12.1,
``recursively_save_dict_contents_to_group``; research note section 8). This
module applies the same rules to a plain nested dict, so that the writer and
the sample generator produce what CaImAn itself would produce:

1. ``g``: None becomes the float scalar 0; otherwise ``np.array(list(g))``.
2. Keys CaImAn never saves are skipped (:data:`SKIPPED_KEYS`).
3. A list/tuple of strings becomes a fixed-length bytes array; other lists
   ``np.array(item)`` (an empty list: float64 ``(0,)``).
4. A ``str`` becomes an attribute of the current group (CaImAn >= 1.9.9; with
   ``legacy_strings=True`` a scalar string dataset, as older versions wrote).
5. Numbers (bool included) become scalar datasets; ndarrays datasets, cast to
   ``|S32`` when h5py refuses them (object arrays).
6. A dict becomes a subgroup.
7. A scipy.sparse matrix becomes a group ``data, indptr, indices, shape`` of its CSC form.
8. None, and the key ``dview``, become the scalar string ``"NoneType"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

__all__ = ["save_dict", "write_none", "write_sparse", "SKIPPED_KEYS", "NONE_TEXT"]

NONE_TEXT = "NoneType"

#: Keys ``recursively_save_dict_contents_to_group`` never writes.
SKIPPED_KEYS = frozenset(
    {
        "groups",
        "idx_tot",
        "ind_A",
        "Ab_epoch",
        "coordinates",
        "loaded_model",
        "optional_outputs",
        "merged_ROIs",
        "tf_in",
        "tf_out",
        "empty_merged",
    }
)


def write_none(group: h5py.Group, key: str) -> None:
    """CaImAn's placeholder for None: a scalar variable-length string ``"NoneType"``."""
    group[key] = NONE_TEXT


def write_sparse(group: h5py.Group, key: str, matrix: Any) -> h5py.Group:
    """A scipy.sparse matrix as CaImAn stores it: a group of its CSC arrays."""
    csc = matrix.tocsc()
    sub = group.create_group(key)
    sub["data"] = csc.data
    sub["indptr"] = csc.indptr
    sub["indices"] = csc.indices
    sub["shape"] = np.asarray(csc.shape, dtype=np.int64)
    return sub


def _is_sparse(item: Any) -> bool:
    return "sparse" in str(type(item))


def save_dict(group: h5py.Group, contents: Mapping[str, Any], *, legacy_strings: bool = False) -> None:
    """Write ``contents`` into ``group`` following CaImAn's rules (module docstring).

    Parameters
    ----------
    group : h5py.Group
        Destination, open for writing.
    contents : mapping
        Nested dict of fields.
    legacy_strings : bool
        Store ``str`` values as scalar string datasets (CaImAn < 1.9.9)
        instead of attributes.

    Raises
    ------
    ValueError
        A value CaImAn could not save either.
    """
    for key, item in contents.items():
        key = str(key)
        if key in SKIPPED_KEYS:
            continue
        if key == "g":
            if item is None:
                item = 0
            try:
                item = np.array(list(item))
            except TypeError:
                item = np.asarray(item, dtype=np.float64)
        if isinstance(item, (list, tuple)):
            if len(item) > 0 and all(isinstance(element, str) for element in item):
                item = np.array([element.encode("utf-8") for element in item], dtype=np.bytes_)
            else:
                item = np.array(item)
        if isinstance(item, str):
            if legacy_strings:
                group[key] = item
            else:
                group.attrs[key] = item
        elif isinstance(item, (bool, int, float, np.integer, np.floating, np.bool_)):
            group[key] = item
        elif isinstance(item, np.ndarray):
            try:
                group[key] = item
            except TypeError:
                group[key] = np.asarray(item).astype("|S32")
        elif isinstance(item, Mapping):
            save_dict(group.create_group(key), item, legacy_strings=legacy_strings)
        elif _is_sparse(item):
            write_sparse(group, key, item)
        elif item is None or key == "dview":
            write_none(group, key)
        else:
            raise ValueError(f"cannot save {type(item).__name__} for key {key!r} the way CaImAn does")
