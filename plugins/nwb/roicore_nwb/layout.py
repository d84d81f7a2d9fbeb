"""Helpers over the HDF5 layout of NWB files (h5py only, no pynwb).

NWB 2.x stores every neurodata object as an HDF5 group or dataset with the
attributes ``neurodata_type`` and ``namespace``; the root group carries
``nwb_version``, and ``/specifications`` caches the schema. These helpers
find typed objects, decode text attributes and turn h5py failures into
roicore errors that name the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError

__all__ = [
    "HDF5_SIGNATURE",
    "PHOTON_SERIES",
    "text",
    "attr_text",
    "neurodata_type",
    "iter_typed",
    "open_nwb",
    "corrupt",
    "first_line",
    "ragged_rows",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: neurodata types of imaging series roicore reads
PHOTON_SERIES = ("TwoPhotonSeries", "OnePhotonSeries")
#: top-level groups searched for neurodata objects (never /specifications or /general)
_SEARCH_ROOTS = ("acquisition", "processing", "analysis")


def first_line(exc: BaseException) -> str:
    """``TypeName: first line of the message``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def text(value: Any) -> str:
    """A str from an HDF5 attribute or scalar dataset value (bytes, str, 0-d or 1-element array)."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return ", ".join(text(v) for v in value.ravel().tolist())
        value = value.ravel()[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def attr_text(node: Any, key: str, default: str = "") -> str:
    """The text of attribute ``key`` of ``node``, or ``default``."""
    try:
        value = node.attrs.get(key)
    except Exception:
        return default
    return default if value is None else text(value)


def dataset_text(group: Any, key: str, default: str = "") -> str:
    """The text of scalar dataset ``group[key]``, or ``default``."""
    try:
        node = group.get(key)
        if isinstance(node, h5py.Dataset) and node.size >= 1:
            return text(node[()])
    except Exception:
        return default
    return default


def neurodata_type(node: Any) -> str:
    """The ``neurodata_type`` attribute of ``node`` ("" if none)."""
    return attr_text(node, "neurodata_type")


def iter_typed(handle: h5py.File, types: tuple[str, ...], max_depth: int = 4) -> Iterator[tuple[str, Any]]:
    """Groups under acquisition/processing/analysis whose neurodata_type is in ``types``.

    Walks at most ``max_depth`` levels below each root, in name order, never
    following external links; yields ``(path, group)``.
    """

    def walk(group: h5py.Group, depth: int) -> Iterator[tuple[str, Any]]:
        for name in sorted(group):
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                continue
            kind = group.get(name, getclass=True)
            if kind is not h5py.Group:
                continue
            child = group[name]
            if neurodata_type(child) in types:
                yield child.name, child
            if depth < max_depth:
                yield from walk(child, depth + 1)

    for root in _SEARCH_ROOTS:
        if handle.get(root, getclass=True) is h5py.Group:
            yield from walk(handle[root], 1)


def corrupt(path: Path, message: str) -> CorruptFileError:
    """A CorruptFileError naming ``path``."""
    return CorruptFileError(f"{path}: {message}", path=path)


def open_nwb(file_path: str | os.PathLike[str]) -> tuple[Path, h5py.File]:
    """Open an NWB file read-only; roicore errors for missing, non-HDF5 or non-NWB files."""
    path = Path(os.fspath(file_path))
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise CorruptFileError(f"{path}: is a folder, not an NWB file", path=path)
    try:
        handle = h5py.File(path, "r")
    except (PermissionError, FileNotFoundError):
        raise
    except Exception as exc:
        raise CorruptFileError(
            f"{path}: cannot be opened as HDF5 ({first_line(exc)}); the file is truncated or not NWB", path=path
        ) from exc
    try:
        if "nwb_version" not in handle.attrs:
            raise corrupt(path, "an HDF5 file without the root attribute 'nwb_version': not an NWB file")
        version = attr_text(handle, "nwb_version")
        if version.startswith("1."):
            raise UnsupportedFeatureError(f"{path}: NWB {version} (NWB 1.x); roicore-nwb reads NWB 2.x files")
    except (CorruptFileError, UnsupportedFeatureError):
        handle.close()
        raise
    except Exception as exc:
        handle.close()
        raise CorruptFileError(f"{path}: the NWB file's root cannot be read ({first_line(exc)}); the file is damaged", path=path) from exc
    return path, handle


def ragged_rows(data: h5py.Dataset, index: h5py.Dataset, path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """All elements of a ragged column and the ``(starts, ends)`` of its rows.

    NWB stores a ragged column as flat ``data`` plus ``index``, the cumulative
    end offset of every row (hdmf's VectorIndex).

    Returns
    -------
    values, bounds : numpy.ndarray
        The whole flat column, and ``(n_rows, 2)`` start/end offsets.
    """
    ends = np.asarray(index[()], dtype=np.int64).reshape(-1)
    total = int(data.shape[0]) if data.ndim else 0
    if ends.size and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] > total):
        raise corrupt(
            path,
            f"{index.name} (the row index of {what}) is not a non-decreasing list of offsets within "
            f"the {total} stored elements",
        )
    starts = np.concatenate(([0], ends[:-1])) if ends.size else ends
    return data, np.stack([starts, ends], axis=1)
