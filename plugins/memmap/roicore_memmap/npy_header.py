"""Parse a ``.npy`` header safely, with :mod:`numpy.lib.format` (never unpickling).

This module imports numpy, the standard library and ``roicore.errors`` only,
so sniffing a ``.npy`` file stays cheap.
"""

from __future__ import annotations

import os
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from roicore.errors import CorruptFileError, UnsupportedFeatureError

__all__ = ["NpyHeader", "read_npy_header", "NPY_MAGIC"]

NPY_MAGIC = b"\x93NUMPY"
#: numpy's own default limit on header size; a video's header is ~128 bytes
MAX_HEADER_SIZE = 10_000


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says.

    Attributes
    ----------
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype
        Its dtype, byte order included.
    fortran_order : bool
        True when the data are stored in Fortran (column-major) order.
    data_offset : int
        Where the data start, in bytes.
    version : tuple of int
        The file format version, e.g. ``(1, 0)``.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int
    version: tuple[int, int]

    @property
    def data_bytes(self) -> int:
        """The data length the header promises."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _parse(handle: BinaryIO, path: Path) -> NpyHeader:
    try:
        version = npy_format.read_magic(handle)
    except ValueError as exc:
        raise CorruptFileError(f"{path} is not a .npy file: {exc}", path=path) from None
    try:
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(handle, max_header_size=MAX_HEADER_SIZE)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(handle, max_header_size=MAX_HEADER_SIZE)
        elif version == (3, 0):
            raise UnsupportedFeatureError(
                f"{path}: .npy format version 3.0 (a UTF-8 header, used only for structured dtypes "
                "with non-Latin-1 field names) is not a video and is not supported"
            )
        else:
            raise CorruptFileError(f"{path}: unknown .npy format version {version[0]}.{version[1]}", path=path)
    except (ValueError, SyntaxError, EOFError, tokenize.TokenError) as exc:  # numpy tokenizes old headers
        raise CorruptFileError(f"{path}: invalid .npy header: {exc}", path=path) from None
    return NpyHeader(
        shape=tuple(int(d) for d in shape),
        dtype=np.dtype(dtype),
        fortran_order=bool(fortran_order),
        data_offset=handle.tell(),
        version=version,
    )


def read_npy_header(path: str | os.PathLike[str]) -> NpyHeader:
    """Read the header of a ``.npy`` file without touching its data.

    Object arrays are refused here, before anything could unpickle them.

    Raises
    ------
    FileNotFoundError
        No such file.
    CorruptFileError
        Not a ``.npy`` file, or its header is invalid.
    UnsupportedFeatureError
        The array holds Python objects (pickled data) or is structured.
    """
    npy_path = Path(path)
    with npy_path.open("rb") as handle:
        header = _parse(handle, npy_path)
    if header.dtype.hasobject:
        raise UnsupportedFeatureError(
            f"{npy_path} holds Python objects (dtype {header.dtype}), stored as pickled data: "
            "roicore never unpickles files (allow_pickle is never enabled), so it is refused"
        )
    if header.dtype.fields is not None or header.dtype.subdtype is not None:
        raise UnsupportedFeatureError(
            f"{npy_path} holds a structured array (dtype {header.dtype}), not a video of plain pixel values"
        )
    return header
