"""Read ``.npy`` files, object arrays included, without running code from them.

A ``.npy`` file whose dtype holds Python objects (suite2p's ``stat.npy`` and
``ops.npy``, many lab scripts' dict dumps) stores a pickle after its header.
``numpy.load(..., allow_pickle=True)`` would unpickle it with the standard
unpickler, which imports and calls whatever the file names: opening such a
file runs its author's code. roicore never does that.

:func:`load_npy` reads the header itself, reads plain arrays as numbers, and
unpickles object arrays with :class:`RestrictedUnpickler`, which resolves
only the globals in :data:`ALLOWED_GLOBALS` (numpy arrays, dtypes and
scalars, builtin containers, ``datetime``, pure ``pathlib`` paths) and
refuses every other one with :class:`~roicore.errors.UnsafePickleError`
naming the file and the global, before anything is called.

This module imports numpy and the standard library only; ``import roicore``
does not import it.

Examples
--------
>>> from roicore.safeload import load_npy
>>> ops = load_npy("suite2p/plane0/ops.npy").item()      # doctest: +SKIP
>>> stat = load_npy("suite2p/plane0/stat.npy")           # doctest: +SKIP
"""

from __future__ import annotations

import ast
import datetime
import io
import os
import pathlib
import pickle
import struct
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from roicore.errors import CorruptFileError, UnsafePickleError

__all__ = [
    "NpyHeader",
    "RestrictedUnpickler",
    "ALLOWED_GLOBALS",
    "read_npy_header",
    "load_npy",
    "loads_restricted",
]

NPY_MAGIC = b"\x93NUMPY"
#: numpy's own default limit on the header length
MAX_HEADER_SIZE = 10_000


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy.dtype
        Byte order included; ``dtype.hasobject`` means the data are a pickle.
    fortran_order : bool
    data_offset : int
        Where the data (or the pickle) start, in bytes.
    version : tuple of int
        The format version, ``(1, 0)``, ``(2, 0)`` or ``(3, 0)``.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int
    version: tuple[int, int]

    @property
    def data_bytes(self) -> int:
        """The data length a numeric array with this header has."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _corrupt(path: Path, problem: str) -> CorruptFileError:
    return CorruptFileError(f"{path}: {problem}", path=path)


def _parse_header(handle: BinaryIO, path: Path) -> NpyHeader:
    magic = handle.read(8)
    if len(magic) < 8 or not magic.startswith(NPY_MAGIC):
        raise _corrupt(path, "not a .npy file (no \\x93NUMPY magic bytes)")
    version = (magic[6], magic[7])
    if version == (1, 0):
        size_format, encoding = "<H", "latin1"
    elif version in ((2, 0), (3, 0)):
        size_format, encoding = "<I", "latin1" if version == (2, 0) else "utf8"
    else:
        raise _corrupt(path, f"unknown .npy format version {version[0]}.{version[1]}")
    size_bytes = handle.read(struct.calcsize(size_format))
    if len(size_bytes) != struct.calcsize(size_format):
        raise _corrupt(path, "the .npy header is truncated")
    (length,) = struct.unpack(size_format, size_bytes)
    if length > MAX_HEADER_SIZE:
        raise _corrupt(path, f"the .npy header claims {length} bytes (more than {MAX_HEADER_SIZE})")
    raw = handle.read(length)
    if len(raw) != length:
        raise _corrupt(path, "the .npy header is truncated")
    try:
        # a literal, never evaluated as code
        fields = ast.literal_eval(raw.decode(encoding))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise _corrupt(path, f"the .npy header is not a Python literal ({type(exc).__name__})") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise _corrupt(path, "the .npy header is not a dict of 'descr', 'fortran_order' and 'shape'")
    shape = fields["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _corrupt(path, f"the .npy header has an invalid shape {shape!r}")
    if not isinstance(fields["fortran_order"], bool):
        raise _corrupt(path, f"the .npy header has an invalid fortran_order {fields['fortran_order']!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    except (TypeError, ValueError) as exc:
        raise _corrupt(path, f"the .npy header has an invalid descr {fields['descr']!r} ({exc})") from None
    return NpyHeader(tuple(shape), dtype, fields["fortran_order"], handle.tell(), version)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except (FileNotFoundError, PermissionError):
        raise  # a missing or unreadable file is not a damaged one; the message names it
    except IsADirectoryError:
        raise _corrupt(path, "is a folder, not a .npy file") from None
    except OSError as exc:  # a symlink loop, an I/O error
        raise _corrupt(path, f"cannot be opened ({exc.strerror or exc})") from None


def read_npy_header(path: str | os.PathLike[str]) -> NpyHeader:
    """Parse the header of a ``.npy`` file (nothing else is read).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    PermissionError
        The file cannot be read.
    CorruptFileError
        Not a ``.npy`` file (a folder, say), or an invalid header; the message names the file.
    """
    path = Path(os.fspath(path))
    with _open(path) as handle:
        return _parse_header(handle, path)


# -- the restricted unpickler ---------------------------------------------------------------------


def _numpy_multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy calls ndarray.__new__(subtype, ...): a subclass could run its own code, so only ndarray
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array reconstruction of {subtype!r}, not numpy.ndarray")
    return _numpy_multiarray()._reconstruct(np.ndarray, shape, dtype)


def _scalar(dtype: Any, *state: Any) -> Any:
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError(f"numpy scalar of {type(dtype).__name__}, not a dtype")
    return _numpy_multiarray().scalar(dtype, *state)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # pickle protocol 5 arrays; a copy, so that the result owns writable memory like np.load's
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("protocol-5 array buffer with an object dtype")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _encode(text: Any, encoding: str = "utf-8") -> bytes:
    # how protocol-2 pickles spell bytes (numpy arrays saved by Python 2 or protocol 2)
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode(encoding)


def _pure_posix_path(*parts: Any) -> pathlib.PurePath:
    return pathlib.PurePosixPath(*parts)


def _pure_windows_path(*parts: Any) -> pathlib.PurePath:
    return pathlib.PureWindowsPath(*parts)


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")

#: ``(module, name) -> object`` for every global a pickle may name. Everything
#: else is refused. Paths become *pure* paths (no file-system access, and a
#: Windows path loads on any system).
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = dict(
    {
        ("builtins", "dict"): dict,
        ("builtins", "list"): list,
        ("builtins", "tuple"): tuple,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "bytes"): bytes,
        ("builtins", "str"): str,
        ("builtins", "int"): int,
        ("builtins", "float"): float,
        ("builtins", "bool"): bool,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        ("builtins", "range"): range,
        ("collections", "OrderedDict"): OrderedDict,
        ("_codecs", "encode"): _encode,
        ("datetime", "datetime"): datetime.datetime,
        ("datetime", "date"): datetime.date,
        ("datetime", "time"): datetime.time,
        ("datetime", "timedelta"): datetime.timedelta,
        ("datetime", "timezone"): datetime.timezone,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        **{(module, "_reconstruct"): _reconstruct for module in _NUMPY_CORE},
        **{(module, "scalar"): _scalar for module in _NUMPY_CORE},
        **{(module, "_frombuffer"): _frombuffer for module in _NUMPY_NUMERIC},
        ("pathlib", "PosixPath"): _pure_posix_path,
        ("pathlib", "PurePosixPath"): _pure_posix_path,
        ("pathlib", "WindowsPath"): _pure_windows_path,
        ("pathlib", "PureWindowsPath"): _pure_windows_path,
        ("pathlib._local", "PosixPath"): _pure_posix_path,
        ("pathlib._local", "PurePosixPath"): _pure_posix_path,
        ("pathlib._local", "WindowsPath"): _pure_windows_path,
        ("pathlib._local", "PureWindowsPath"): _pure_windows_path,
    }
)
# protocols 0-2 spell the builtins module as Python 2 did
ALLOWED_GLOBALS.update({("__builtin__", name): value for (module, name), value in list(ALLOWED_GLOBALS.items()) if module == "builtins"})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`.

    Any other global (``os.system``, ``builtins.eval``, a class of some
    package, a numpy subclass) raises :class:`~roicore.errors.UnsafePickleError`
    the moment the pickle names it, so nothing the file names is imported or
    called. Persistent ids are refused too. Each lookup raises the audit
    event ``roicore.safeload.find_class`` with ``(module, name, allowed)``
    (see ``sys.addaudithook``), where the standard unpickler would raise
    ``pickle.find_class``.

    Parameters
    ----------
    file : binary file
        Positioned at the start of the pickle.
    source : path-like
        The file named in error messages.
    encoding : str
        How to decode Python 2 ``str`` objects (``"ASCII"`` by default, like numpy;
        ``"latin1"`` for Python 2 numpy arrays).
    """

    def __init__(self, file: BinaryIO, *, source: str | os.PathLike[str], encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self._source = Path(os.fspath(source))

    def find_class(self, module: str, name: str) -> Any:
        # an audit event of its own: the standard "pickle.find_class" is raised only by pickle's own lookup
        sys.audit("roicore.safeload.find_class", module, name, (module, name) in ALLOWED_GLOBALS)
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: its pickle names the global {module}.{name}, which roicore refuses to load "
                "(only numpy arrays, dtypes and scalars, builtin containers, datetime and paths are allowed); "
                "the file was not unpickled and none of its code ran",
                path=self._source,
                global_name=f"{module}.{name}",
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"{self._source}: its pickle uses a persistent id, which roicore refuses to load",
            path=self._source,
            global_name="<persistent id>",
        )


def loads_restricted(data: bytes, *, source: str | os.PathLike[str], encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    data : bytes
        A pickle.
    source : path-like
        Where the bytes came from, named in error messages.
    encoding : str
        See :class:`RestrictedUnpickler`.

    Raises
    ------
    UnsafePickleError
        The pickle names a global outside :data:`ALLOWED_GLOBALS`.
    CorruptFileError
        The pickle is damaged or truncated.
    """
    return _unpickle(io.BytesIO(data), Path(os.fspath(source)), encoding)


def _unpickle(handle: BinaryIO, path: Path, encoding: str) -> Any:
    try:
        return RestrictedUnpickler(handle, source=path, encoding=encoding).load()
    except UnsafePickleError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, and whatever an allowed constructor raises on bad input
        raise _corrupt(path, f"its pickle is damaged or truncated ({type(exc).__name__}: {exc})") from None


# -- load_npy -------------------------------------------------------------------------------------


def _read_numbers(handle: BinaryIO, path: Path, header: NpyHeader, mmap: bool) -> np.ndarray:
    size = os.fstat(handle.fileno()).st_size
    available = size - header.data_offset
    if available != header.data_bytes:
        problem = "truncated" if available < header.data_bytes else "longer than its header says"
        raise _corrupt(
            path,
            f"the file is {problem}: the header promises {header.data_bytes} bytes of {header.dtype} data "
            f"{header.shape}, the file holds {available} after the header",
        )
    order = "F" if header.fortran_order else "C"
    if mmap and header.data_bytes:
        return np.memmap(path, dtype=header.dtype, mode="r", offset=header.data_offset, shape=header.shape, order=order)
    count = int(np.prod(header.shape, dtype=np.int64))
    data = np.fromfile(handle, dtype=header.dtype, count=count)
    if data.size != count:  # the file shrank while it was read
        raise _corrupt(path, f"the file is truncated: read {data.size} of {count} values")
    return data.reshape(header.shape, order=order)


def load_npy(
    path: str | os.PathLike[str],
    *,
    mmap: bool = False,
    encoding: str = "ASCII",
) -> np.ndarray:
    """Read a ``.npy`` file; object arrays are unpickled with :class:`RestrictedUnpickler`.

    The safe replacement of ``numpy.load(path, allow_pickle=True)``: a file
    whose pickle names anything but numpy arrays, dtypes and scalars, builtin
    containers, ``datetime`` objects or paths is refused before any of it
    is called. ``pathlib`` paths come back as pure paths
    (``pathlib.PurePosixPath`` or ``pathlib.PureWindowsPath``).

    Parameters
    ----------
    path : path-like
        The ``.npy`` file.
    mmap : bool
        Memory-map a numeric array read-only instead of reading it (ignored
        for object arrays, which are always unpickled). Drop every reference
        to the result to unmap the file.
    encoding : str
        How to decode Python 2 strings in a pickle (see :class:`RestrictedUnpickler`).

    Returns
    -------
    numpy.ndarray
        With the header's shape and dtype. A 0-d object array holds one
        object: ``load_npy(path).item()`` gives suite2p's ``ops`` dict.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UnsafePickleError
        The pickle names a global roicore does not allow (a subclass of CorruptFileError).
    CorruptFileError
        An invalid header, a size that does not match it, a damaged pickle,
        or a pickle that is not the array the header describes.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "ops.npy"), {"fs": 15.0, "Ly": 64})
    >>> load_npy(os.path.join(folder, "ops.npy")).item()
    {'fs': 15.0, 'Ly': 64}
    """
    path = Path(os.fspath(path))
    with _open(path) as handle:
        header = _parse_header(handle, path)
        if not header.dtype.hasobject:
            result = _read_numbers(handle, path, header, mmap)
        else:
            # read first: a damaged length field then cannot make the unpickler allocate more than the file holds
            stream = io.BytesIO(handle.read())
            result = _unpickle(stream, path, encoding)
            if stream.read(1):
                raise _corrupt(path, "bytes follow the end of its pickle")
            _check_pickled_array(result, header, path)
    return result


def _check_pickled_array(value: Any, header: NpyHeader, path: Path) -> None:
    if not isinstance(value, np.ndarray) or type(value) is not np.ndarray:
        raise _corrupt(path, f"its pickle holds a {type(value).__name__}, not the array its header describes")
    if value.shape != header.shape or value.dtype != header.dtype:
        raise _corrupt(
            path,
            f"its pickle holds a {value.dtype} array {value.shape}, but the header says {header.dtype} {header.shape}",
        )
