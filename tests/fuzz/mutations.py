"""Mutations: one reproducible change to one file of a case folder.

Each mutation is a frozen record whose ``repr`` is a complete recipe, so a
failing case can be rebuilt from its message: copy the seed's files into a
folder, apply the mutations in order, open the main path. Families:

``bytes``       truncation, flipped bytes (header, payload or anywhere), appended garbage
``filesystem``  zero-length file, a folder, no read permission, a symlink loop, a deleted file
``hdf5``        a dataset or group deleted, reshaped, retyped, refilled, replaced or turned into a broken link
``sidecar``     a JSON field dropped, renamed or set to a wrong value, or the whole text replaced
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NotApplicable",
    "Mutation",
    "Truncate",
    "FlipBytes",
    "Extend",
    "ZeroLength",
    "DirectoryInPlace",
    "PermissionDenied",
    "SymlinkLoop",
    "Deleted",
    "Hdf5Delete",
    "Hdf5Edit",
    "JsonDrop",
    "JsonSet",
    "JsonRename",
    "JsonText",
    "restore_permissions",
    "copy_seed",
]


class NotApplicable(Exception):
    """The mutation cannot be applied to this file (the case is discarded, not judged)."""


@dataclass(frozen=True)
class Mutation:
    """Base: ``file`` is relative to the case folder."""

    file: str
    family = "bytes"
    #: True when only payload bytes change (see :mod:`fuzz.regions`): shapes must not change
    payload_only = False
    #: the only error types an open may end in, when the mutation leaves no other honest answer
    expected_errors: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        """A short label for tallies (``"truncate"``, ``"hdf5-delete"``)."""
        return _KINDS[type(self).__name__]

    def apply(self, folder: Path) -> None:
        raise NotImplementedError

    def flipped_bytes(self) -> int:
        return 0


# -- bytes --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Truncate(Mutation):
    """Keep the first ``size`` bytes."""

    size: int = 0

    def apply(self, folder: Path) -> None:
        os.truncate(folder / self.file, self.size)


@dataclass(frozen=True)
class FlipBytes(Mutation):
    """XOR ``masks[i]`` into the byte at ``positions[i]``; ``region`` says where they were drawn."""

    positions: tuple[int, ...] = ()
    masks: tuple[int, ...] = ()
    region: str = "anywhere"

    @property
    def payload_only(self) -> bool:  # type: ignore[override]
        return self.region == "payload"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        data = bytearray(path.read_bytes())
        if max(self.positions) >= len(data):
            raise NotApplicable(f"{self.file} is shorter than {max(self.positions) + 1} bytes (an earlier mutation)")
        for position, mask in zip(self.positions, self.masks):
            data[position] ^= mask
        path.write_bytes(bytes(data))

    def flipped_bytes(self) -> int:
        return len(set(self.positions))


@dataclass(frozen=True)
class Extend(Mutation):
    """Append ``data``."""

    data: bytes = b""

    def apply(self, folder: Path) -> None:
        with (folder / self.file).open("ab") as handle:
            handle.write(self.data)


# -- filesystem ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZeroLength(Mutation):
    family = "filesystem"

    def apply(self, folder: Path) -> None:
        os.truncate(folder / self.file, 0)


@dataclass(frozen=True)
class DirectoryInPlace(Mutation):
    """The file is replaced by an empty folder of the same name."""

    family = "filesystem"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        path.unlink()
        path.mkdir()


@dataclass(frozen=True)
class PermissionDenied(Mutation):
    """The file loses every permission bit (the worker drops root's override, see fuzz.worker)."""

    family = "filesystem"
    expected_errors = ("PermissionError",)  # not "corrupt": the file is intact, only unreadable

    def apply(self, folder: Path) -> None:
        os.chmod(folder / self.file, 0)


@dataclass(frozen=True)
class SymlinkLoop(Mutation):
    """The file is replaced by a symbolic link to itself."""

    family = "filesystem"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        path.unlink()
        path.symlink_to(path.name)


@dataclass(frozen=True)
class Deleted(Mutation):
    family = "filesystem"

    def apply(self, folder: Path) -> None:
        (folder / self.file).unlink()


def restore_permissions(folder: Path) -> None:
    """Make everything under ``folder`` removable again (after PermissionDenied)."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if not path.is_symlink():
                os.chmod(path, 0o700)


# -- HDF5 ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hdf5Delete(Mutation):
    """Delete the dataset or group ``name``."""

    name: str = ""
    family = "hdf5"

    def apply(self, folder: Path) -> None:
        with _writable(folder / self.file) as handle:
            _link(handle, self.name)
            del handle[self.name]


@contextlib.contextmanager
def _writable(path: Path) -> Iterator[Any]:
    """The HDF5 file open for editing; a file earlier mutations left unopenable or uneditable is NotApplicable."""
    import h5py

    try:
        handle = h5py.File(path, "r+")
    except Exception as exc:
        raise NotApplicable(f"{path.name} cannot be opened for editing: {exc}") from None
    try:
        yield handle
    except NotApplicable:
        raise
    except Exception as exc:  # h5py refused the edit on a file earlier mutations changed
        raise NotApplicable(f"{path.name}: the edit failed: {type(exc).__name__}: {exc}") from None
    finally:
        handle.close()


def _link(handle: Any, name: str) -> Any:
    """The link ``name`` (resolvable or not); NotApplicable if absent or behind a broken parent."""
    try:
        link = handle.get(name, getlink=True)
    except Exception:
        link = None
    if link is None:
        raise NotApplicable(f"{name} is not in {handle.filename}")
    return link


def _old_value(node: Any) -> np.ndarray:
    try:
        value = np.asarray(node[()])
    except Exception as exc:  # an unreadable original: nothing sensible to reshape
        raise NotApplicable(f"{node.name} cannot be read: {exc}") from None
    if value.dtype.kind == "O":
        items = [v if isinstance(v, bytes) else str(v).encode() for v in value.reshape(-1)]
        value = np.asarray(items).reshape(value.shape)
    return value


def _resized(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if value.size == 0:
        return np.zeros(shape, dtype=value.dtype)
    return np.resize(value, shape)


def _retyped(value: np.ndarray, dtype: str) -> Any:
    import h5py

    if dtype == "vlen-str":
        return np.asarray(value.astype(str), dtype=object), h5py.string_dtype()
    if dtype == "compound":
        return np.zeros(value.shape, dtype=[("a", "<f4"), ("b", "<i2")]), None
    if value.dtype.kind in "SUO" and np.dtype(dtype).kind not in "SU":
        return np.zeros(value.shape, dtype=dtype), None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lossy casts (complex to real, NaN to int) are the point here
        return value.astype(dtype), None


_FILLS: dict[str, float] = {"zero": 0.0, "minus-one": -1.0, "one": 1.0, "int32-max": 2**31 - 1,
                            "huge": 2.0**40, "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


@dataclass(frozen=True)
class Hdf5Edit(Mutation):
    """Replace ``name`` with something else.

    ``how`` is one of: ``shape`` (``arg``: the new shape, values recycled),
    ``dtype`` (``arg``: a dtype name, ``"vlen-str"`` or ``"compound"``),
    ``fill`` (``arg``: a key of the fills: zero, minus-one, huge, nan, ...),
    ``text`` (``arg``: a scalar string, e.g. CaImAn's ``"NoneType"``),
    ``group`` (an empty group), ``scalar`` (a float 0.0),
    ``softlink`` (``arg``: the target path; dangling or itself),
    ``external`` (``arg``: a file name; a link into a missing file).
    """

    name: str = ""
    how: str = "shape"
    arg: Any = None
    family = "hdf5"

    @property
    def kind(self) -> str:
        return f"hdf5-{self.how}"

    def apply(self, folder: Path) -> None:
        import h5py

        with _writable(folder / self.file) as handle:
            _link(handle, self.name)
            try:
                node = handle[self.name]
            except Exception:  # a link an earlier mutation broke: it can still be replaced
                node = None
            is_dataset = isinstance(node, h5py.Dataset)
            if self.how in ("shape", "dtype", "fill") and not is_dataset:
                raise NotApplicable(f"{self.name} is a group")
            old = _old_value(node) if is_dataset else None
            del handle[self.name]
            self._create(handle, old, h5py)

    def _create(self, handle: Any, old: np.ndarray | None, h5py: Any) -> None:
        name, how, arg = self.name, self.how, self.arg
        if how == "shape":
            handle.create_dataset(name, data=_resized(old, tuple(arg)))
        elif how == "dtype":
            data, dtype = _retyped(old, arg)
            handle.create_dataset(name, data=data, dtype=dtype)
        elif how == "fill":
            if old.dtype.kind not in "biuf":
                raise NotApplicable(f"{name} holds {old.dtype}, not numbers")
            if old.dtype.kind in "biu" and not np.isfinite(_FILLS[arg]):
                raise NotApplicable(f"{name} is an integer dataset; cannot hold {arg}")
            with np.errstate(all="ignore"):
                handle.create_dataset(name, data=np.full(old.shape, _FILLS[arg]).astype(old.dtype))
        elif how == "text":
            handle.create_dataset(name, data=arg, dtype=h5py.string_dtype())
        elif how == "group":
            handle.create_group(name)
        elif how == "scalar":
            handle.create_dataset(name, data=0.0)
        elif how == "softlink":
            handle[name] = h5py.SoftLink(arg or "/" + name)
        elif how == "external":
            handle[name] = h5py.ExternalLink(arg, "/data")
        else:
            raise ValueError(f"unknown HDF5 edit {how!r}")


# -- sidecar JSON -------------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotApplicable(f"{path.name} is not JSON: {exc}") from None


def _parent(content: Any, keys: tuple[Any, ...]) -> Any:
    node = content
    for key in keys[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            raise NotApplicable(f"no field {keys!r}") from None
    last = keys[-1]
    if isinstance(node, dict) and last in node or isinstance(node, list) and isinstance(last, int) and last < len(node):
        return node
    raise NotApplicable(f"no field {keys!r}")


def _dump(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


@dataclass(frozen=True)
class JsonDrop(Mutation):
    """Remove the field at ``keys`` (a path of object keys and list indices)."""

    keys: tuple[Any, ...] = ()
    family = "sidecar"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        content = _load(path)
        del _parent(content, self.keys)[self.keys[-1]]
        _dump(path, content)


@dataclass(frozen=True)
class JsonSet(Mutation):
    """Set the field at ``keys`` to ``value`` (added when ``keys`` names a new top-level field)."""

    keys: tuple[Any, ...] = ()
    value: Any = None
    family = "sidecar"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        content = _load(path)
        if len(self.keys) == 1 and isinstance(content, dict):
            content[self.keys[0]] = self.value
        else:
            _parent(content, self.keys)[self.keys[-1]] = self.value
        _dump(path, content)


@dataclass(frozen=True)
class JsonRename(Mutation):
    """Rename the object field at ``keys`` to ``new``."""

    keys: tuple[Any, ...] = ()
    new: str = ""
    family = "sidecar"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        content = _load(path)
        parent = _parent(content, self.keys)
        if not isinstance(parent, dict):
            raise NotApplicable(f"{self.keys!r} is a list item")
        parent[self.new] = parent.pop(self.keys[-1])
        _dump(path, content)


@dataclass(frozen=True)
class JsonText(Mutation):
    """Replace the whole file with ``text`` (``{}`` in it is the original text, for edits like a BOM)."""

    text: str = ""
    family = "sidecar"

    def apply(self, folder: Path) -> None:
        path = folder / self.file
        original = path.read_text(encoding="utf-8", errors="replace")
        path.write_bytes(self.text.replace("{original}", original).encode("utf-8", errors="surrogatepass"))


_KINDS = {
    "Truncate": "truncate",
    "FlipBytes": "flip",
    "Extend": "extend",
    "ZeroLength": "zero-length",
    "DirectoryInPlace": "directory",
    "PermissionDenied": "permission-denied",
    "SymlinkLoop": "symlink-loop",
    "Deleted": "deleted",
    "Hdf5Delete": "hdf5-delete",
    "Hdf5Edit": "hdf5-edit",
    "JsonDrop": "sidecar-drop",
    "JsonSet": "sidecar-set",
    "JsonRename": "sidecar-rename",
    "JsonText": "sidecar-text",
}


def copy_seed(seed_folder: Path, files: tuple[str, ...], target: Path) -> None:
    """Copy a seed's files into ``target`` (contents only: modes of read-only originals are not kept)."""
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed_folder / name, destination)
