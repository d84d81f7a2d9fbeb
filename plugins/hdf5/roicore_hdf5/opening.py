"""Opening an HDF5 file and choosing its video dataset, with roicore errors that name the file.

Everything that can go wrong before the first read goes wrong here: the file
is not HDF5 or is truncated, it belongs to another format, the named dataset
is missing or is not pixel data, there are several candidates and none was
named, the dataset needs a compression filter this h5py lacks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roicore.errors import CorruptFileError, RoicoreError, UnsupportedFeatureError

from roicore_hdf5.layout import find_candidates, foreign_layout

__all__ = ["NotInFileError", "DatasetNotFoundError", "ChannelNotFoundError", "NeedsArgumentError", "h5_errors", "open_file", "choose_dataset", "check_filters"]


class NotInFileError(CorruptFileError, KeyError):
    """Something named by a reader argument is not in the file (a CorruptFileError and a KeyError).

    A CorruptFileError because a damaged file loses what a good one holds; a KeyError because the
    name may simply be wrong.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(NotInFileError):
    """The dataset named by ``dataset=`` is not in the file."""


class ChannelNotFoundError(NotInFileError):
    """The channel named by ``channel=`` is not among the dataset's channel names."""


class NeedsArgumentError(RoicoreError, ValueError):
    """The file does not say something the reader needs (which dataset, its axis order).

    The message names the file and the argument to pass (``dataset=``, ``axes=``).
    """

    def __init__(self, message: str, *, path: Any = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (h5py's run over several), or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def h5_errors(path: Path, what: str) -> Iterator[None]:
    """Turn any error h5py raises inside the block into a CorruptFileError naming the file.

    A damaged object header or heap makes h5py raise KeyError, RuntimeError,
    OSError or ValueError from any call; inside this block only roicore's
    own errors pass through unchanged.
    """
    try:
        yield
    except (RoicoreError, MemoryError):
        raise
    except Exception as exc:
        raise CorruptFileError(f"{path}: {what} ({type(exc).__name__}: {first_line(exc)}): the file is damaged", path=path) from None


def open_file(path: Path) -> Any:
    """``h5py.File(path, "r")``; a file that is not (or no longer) HDF5 raises CorruptFileError.

    Raises
    ------
    FileNotFoundError
        No such file.
    PermissionError
        The file is not readable.
    CorruptFileError
        A folder, not HDF5, or truncated (h5py's message is kept).
    """
    import h5py

    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise CorruptFileError(f"{path} is a folder, not an HDF5 file", path=path)
    if not os.access(path, os.R_OK):
        raise PermissionError(13, "Permission denied", str(path))
    try:
        return h5py.File(path, "r")
    except Exception as exc:
        raise CorruptFileError(
            f"{path} cannot be opened as HDF5 ({first_line(exc)}): it is truncated, damaged or not HDF5",
            path=path,
        ) from None


def _members(handle: Any) -> str:
    names = sorted(handle.keys())[:10]
    return ", ".join(names) if names else "none"


def _named_dataset(handle: Any, path: Path, name: str) -> Any:
    import h5py

    if not isinstance(name, str) or not name:
        raise TypeError(f"dataset must be the name of an HDF5 dataset such as '/imaging', not {name!r}")
    with h5_errors(path, f"dataset {name!r} cannot be opened"):
        _refuse_external_links(handle, path, name)
        kind = handle.get(name, getclass=True)
        if kind is not h5py.Dataset:
            _not_a_dataset(handle, path, name, kind)
        return handle[name]


def _not_a_dataset(handle: Any, path: Path, name: str, kind: Any) -> None:
    if kind is None:
        candidates, _ = find_candidates(handle)
        listed = ", ".join(c.describe() for c in candidates) or "none"
        raise DatasetNotFoundError(
            f"{path} has no dataset {name!r}; candidate video datasets: {listed}; top-level members: {_members(handle)}",
            path=path,
        )
    members = f" (members: {_members(handle[name])})" if hasattr(handle[name], "keys") else ""
    raise CorruptFileError(f"{path}: {name!r} is a {kind.__name__.lower()}, not a dataset{members}", path=path)


def _refuse_external_links(handle: Any, path: Path, name: str) -> None:
    """Refuse a dataset path that goes through an external link (it would open another file)."""
    import h5py

    group, parts = handle, [part for part in name.split("/") if part]
    for depth, part in enumerate(parts):
        try:
            link = group.get(part, getlink=True)
        except Exception:
            return  # reported by the caller when it opens the path
        if isinstance(link, h5py.ExternalLink):
            where = "/" + "/".join(parts[: depth + 1])
            raise UnsupportedFeatureError(
                f"{path}: {where} is an external link to {link.filename}:{link.path}; roicore does not follow "
                "links into other files: open that file instead"
            )
        if link is None or depth == len(parts) - 1 or group.get(part, getclass=True) is not h5py.Group:
            return
        group = group[part]


def _check_storage(dataset: Any, path: Path) -> None:
    """Refuse data stored in other files (virtual datasets, external raw storage)."""
    plist = dataset.id.get_create_plist()
    if dataset.is_virtual or plist.get_external_count() > 0:
        raise UnsupportedFeatureError(
            f"{path}: dataset {dataset.name} keeps its data in other files (a virtual dataset or external "
            "storage); roicore does not read files the user did not name"
        )


def _check_pixels(dataset: Any, path: Path) -> None:
    try:
        dtype = dataset.dtype
    except Exception as exc:
        raise CorruptFileError(f"{path}: dataset {dataset.name} has an unreadable type ({first_line(exc)})", path=path) from None
    if dtype.kind == "c":
        raise UnsupportedFeatureError(f"{path}: dataset {dataset.name} holds complex numbers ({dtype}), not pixel values")
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        what = "strings" if dtype.kind in "SUO" else f"values of type {dtype}"
        raise CorruptFileError(f"{path}: dataset {dataset.name} holds {what}, not pixel values (numbers)", path=path)
    if not 3 <= dataset.ndim <= 5:
        raise CorruptFileError(
            f"{path}: dataset {dataset.name} is {dataset.ndim}-D {dataset.shape}, not a video "
            "(3-D t,y,x; 4-D with z or c; 5-D with z and c)",
            path=path,
        )


def choose_dataset(handle: Any, path: Path, name: str | None) -> Any:
    """The video dataset: the one named, or the only candidate.

    Raises
    ------
    DatasetNotFoundError
        ``name`` is not in the file.
    CorruptFileError
        ``name`` is a group or not pixel data; no name and no candidate; the
        file is an NWB file or a CaImAn result and no dataset was named.
    UnsupportedFeatureError
        Complex-valued pixels.
    NeedsArgumentError
        No name and several candidates (the message lists them); a ValueError.
    """
    if name is not None:
        dataset = _named_dataset(handle, path, name)
    else:
        with h5_errors(path, "cannot read the file's structure"):
            foreign = foreign_layout(handle)
            candidates, complete = find_candidates(handle)
        if foreign is not None:
            raise CorruptFileError(
                f"{path} is {foreign}; to read one of its datasets as a video anyway, pass dataset=... and axes=...",
                path=path,
            )
        if len(candidates) > 1 or (candidates and not complete):
            listed = "; ".join(c.describe() for c in candidates)
            raise NeedsArgumentError(
                f"{path} holds several candidate video datasets ({listed}); choose one with "
                f"roicore.open(path, dataset={candidates[0].name!r}, axes=...)",
                path=path,
            )
        if not candidates:
            if not complete:
                raise NeedsArgumentError(
                    f"{path} holds too many objects to search for the video; name it with dataset=...", path=path
                )
            with h5_errors(path, "cannot list the file's members"):
                members = _members(handle)
            raise CorruptFileError(
                f"{path} holds no numeric 3-D to 5-D dataset, so no video (top-level members: {members})", path=path
            )
        with h5_errors(path, f"dataset {candidates[0].name} cannot be opened"):
            dataset = handle[candidates[0].name]
    with h5_errors(path, f"dataset {dataset.name} cannot be inspected"):
        _check_pixels(dataset, path)
        _check_storage(dataset, path)
    return dataset


def check_filters(dataset: Any, path: Path) -> bool:
    """Whether the dataset is filtered (compressed); a filter this h5py cannot decode raises.

    Raises
    ------
    UnsupportedFeatureError
        A filter (e.g. blosc, bitshuffle) that is not available to h5py.
    """
    import h5py

    plist = dataset.id.get_create_plist()
    count = plist.get_nfilters()
    for index in range(count):
        code = plist.get_filter(index)[0]
        if not h5py.h5z.filter_avail(code):
            raise UnsupportedFeatureError(
                f"{path}: dataset {dataset.name} is compressed with HDF5 filter {code}, which this h5py cannot "
                "decode; installing hdf5plugin (pip install hdf5plugin) and importing it first may help"
            )
    if count == 0:
        check_unfiltered_chunks(dataset, path)
    return count > 0


def check_unfiltered_chunks(dataset: Any, path: Path) -> None:
    """Every stored chunk of an unfiltered chunked dataset holds exactly one chunk of bytes.

    HDF5 does not check this itself: a chunk stored shorter than its shape needs (a damaged
    filter pipeline message makes compressed chunks look raw) reads back with the rest of its
    buffer uninitialised, so the same pixels would read differently from one call to the next.

    Raises
    ------
    CorruptFileError
        A chunk whose stored size differs from the chunk shape times the item size.
    """
    chunks = dataset.chunks
    if chunks is None or not hasattr(dataset.id, "chunk_iter"):  # chunk_iter needs HDF5 1.12.3 or newer
        return
    expected = int(dataset.dtype.itemsize)
    for extent in chunks:
        expected *= int(extent)
    wrong: list[tuple[tuple[int, ...], int]] = []

    def visit(info: Any) -> int | None:
        if info.size != expected:
            wrong.append((tuple(int(o) for o in info.chunk_offset), int(info.size)))
            return 1  # stop at the first bad chunk
        return None

    with h5_errors(path, f"the chunk index of dataset {dataset.name} cannot be read"):
        dataset.id.chunk_iter(visit)
    if wrong:
        offset, size = wrong[0]
        raise CorruptFileError(
            f"{path}: dataset {dataset.name} is stored without compression, but its chunk at offset {offset} "
            f"holds {size} bytes where a chunk of shape {chunks} needs {expected}",
            path=path,
        )
