"""The sidecar JSON that describes a headerless video (schema version 1).

A sidecar sits next to its data file and is named after it with ``.json``
appended (``movie.bin`` -> ``movie.bin.json``). Two formats share the file
layout:

``"roicore-raw-video"``
    Describes a headerless raw file completely: ``data``, ``dtype``,
    ``axes``, ``shape``, ``offset``, ``sampling_frequency`` and optional
    ``channel_names``.
``"roicore-npy-video"``
    Adds what a ``.npy`` header cannot hold: ``sampling_frequency``, the
    meaning of its axes, optional ``channel_names``. The dtype and shape come
    from the ``.npy`` header.

The full schema is documented in the plugin's README. Reading a sidecar
never trusts it: every field is checked, the data path must stay inside the
sidecar's folder, and every problem raises CorruptFileError naming the
sidecar and the field.

This module imports numpy, the standard library and ``roicore.errors`` only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from roicore.errors import CorruptFileError

from roicore_memmap.structure import AXIS_LETTERS, VideoStructure, check_dtype

__all__ = [
    "RAW_FORMAT",
    "NPY_FORMAT",
    "SIDECAR_VERSION",
    "SIDECAR_SUFFIX",
    "Sidecar",
    "sidecar_path_for",
    "read_sidecar",
    "peek_format",
    "raw_sidecar",
    "npy_sidecar",
    "dump_sidecar",
]

RAW_FORMAT = "roicore-raw-video"
NPY_FORMAT = "roicore-npy-video"
SIDECAR_VERSION = 1
SIDECAR_SUFFIX = ".json"
#: a sidecar is a few hundred bytes; anything larger is not one (and is never read whole)
MAX_SIDECAR_BYTES = 1 << 20

_RAW_KEYS = {
    "required": ("format", "version", "data", "dtype", "axes", "shape"),
    "optional": ("sampling_frequency", "offset", "channel_names", "metadata"),
}
_NPY_KEYS = {
    "required": ("format", "version", "data"),
    "optional": ("sampling_frequency", "axes", "channel_names", "metadata"),
}


@dataclass(frozen=True)
class Sidecar:
    """A validated sidecar.

    Attributes
    ----------
    path : Path
        The sidecar file.
    format : str
        :data:`RAW_FORMAT` or :data:`NPY_FORMAT`.
    data_path : Path
        The data file it describes (inside the sidecar's folder).
    sampling_frequency : float or None
        In Hz; None when the sidecar gives none (or null): the rate is unknown.
    structure : VideoStructure or None
        The complete layout of a raw file (None for ``.npy``).
    axes : str or None
        The axis letters of a ``.npy`` array, when given.
    channel_names : tuple of str or None
        One name per channel, when given.
    metadata : dict
        Free-form user metadata, kept but not interpreted.
    """

    path: Path
    format: str
    data_path: Path
    sampling_frequency: float | None
    structure: VideoStructure | None = None
    axes: str | None = None
    channel_names: tuple[str, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def sidecar_path_for(data_path: str | os.PathLike[str]) -> Path:
    """The sidecar of a data file: its name with ``.json`` appended."""
    path = Path(data_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _load_json(path: Path) -> dict[str, Any]:
    """The sidecar's top-level object; CorruptFileError for anything else."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except IsADirectoryError:
        raise CorruptFileError(f"sidecar {path} is a folder, not a JSON file", path=path) from None
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as exc:  # a symlink loop (ELOOP), an I/O error: the sidecar exists but cannot be read
        raise CorruptFileError(f"sidecar {path} cannot be read: {exc.strerror or exc}", path=path) from None
    if len(raw) > MAX_SIDECAR_BYTES:
        raise CorruptFileError(
            f"sidecar {path} is larger than {MAX_SIDECAR_BYTES} bytes: not a video description", path=path
        )

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise CorruptFileError(f"sidecar {path}: field(s) {repeated} appear more than once", path=path)
        return dict(pairs)

    try:
        content = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"sidecar {path} is not UTF-8 text: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise CorruptFileError(
            f"sidecar {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", path=path
        ) from None
    except RecursionError:
        raise CorruptFileError(f"sidecar {path} is not valid JSON: nested too deeply", path=path) from None
    if not isinstance(content, dict):
        raise CorruptFileError(
            f"sidecar {path} must hold a JSON object, not a {type(content).__name__}", path=path
        )
    return content


def peek_format(path: str | os.PathLike[str]) -> str | None:
    """The ``format`` field of a would-be sidecar, or None; never raises (for sniffing)."""
    try:
        candidate = Path(path)
        if not candidate.is_file() or candidate.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        value = _load_json(candidate).get("format")
    except Exception:
        return None
    return value if isinstance(value, str) else None


class _Fields:
    """Typed access to a sidecar's fields with errors naming the sidecar and the field."""

    def __init__(self, path: Path, content: dict[str, Any]) -> None:
        self.path = path
        self.content = content

    def fail(self, name: str, problem: str) -> CorruptFileError:
        return CorruptFileError(f"sidecar {self.path}: field {name!r} {problem}", path=self.path)

    def check_keys(self, keys: Mapping[str, tuple[str, ...]], what: str) -> None:
        missing = [key for key in keys["required"] if key not in self.content]
        if missing:
            raise CorruptFileError(
                f"sidecar {self.path}: required field(s) {missing} missing from a {what} description "
                f"(required: {list(keys['required'])})",
                path=self.path,
            )
        known = set(keys["required"]) | set(keys["optional"])
        unknown = sorted(set(self.content) - known)
        if unknown:
            raise CorruptFileError(
                f"sidecar {self.path}: unknown field(s) {unknown} in a {what} description "
                f"(known: {sorted(known)}; free-form notes belong in 'metadata')",
                path=self.path,
            )

    def integer(self, name: str, *, minimum: int, default: int | None = None) -> int:
        value = self.content.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, not {value!r}")
        if value < minimum:
            raise self.fail(name, f"must be >= {minimum}, not {value}")
        return value

    def string(self, name: str) -> str:
        value = self.content.get(name)
        if not isinstance(value, str) or not value:
            raise self.fail(name, f"must be a non-empty string, not {value!r}")
        return value

    def rate(self) -> float | None:
        value = self.content.get("sampling_frequency")
        if value is None:  # absent or null: the rate is unknown, which is allowed
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise self.fail("sampling_frequency", f"must be a finite number > 0 (Hz), not {value!r}")
        return float(value)

    def data_path(self) -> Path:
        name = self.string("data")
        pure = PurePosixPath(name)
        parts = pure.parts
        if not parts or "\\" in name or "\0" in name or pure.is_absolute() or ":" in parts[0] or ".." in parts:
            raise self.fail(
                "data",
                f"must name a file inside the sidecar's folder {self.path.parent} (a relative path "
                f"without '..'), not {name!r}",
            )
        return self.path.parent.joinpath(*parts)

    def channel_names(self, channels: int | None) -> tuple[str, ...] | None:
        if "channel_names" not in self.content:
            return None
        value = self.content["channel_names"]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail("channel_names", f"must be a list of strings, not {value!r}")
        if len(set(value)) != len(value):
            raise self.fail("channel_names", f"repeats a name: {value!r}")
        if channels is not None and len(value) != channels:
            raise self.fail("channel_names", f"has {len(value)} names for {channels} channel(s)")
        return tuple(value)

    def metadata(self) -> dict[str, Any]:
        value = self.content.get("metadata", {})
        if not isinstance(value, dict):
            raise self.fail("metadata", f"must be a JSON object, not {type(value).__name__}")
        return value

    def axes(self) -> str:
        value = self.string("axes")
        unknown = sorted(set(value) - set(AXIS_LETTERS))
        if unknown or len(set(value)) != len(value) or not set("tyx") <= set(value):
            raise self.fail(
                "axes",
                f"must list each of t, y, x once and optionally z and c (e.g. 'tyx', 'tcyx'), not {value!r}",
            )
        return value


def read_sidecar(path: str | os.PathLike[str]) -> Sidecar:
    """Read and validate a sidecar.

    Parameters
    ----------
    path : str or path-like
        The sidecar JSON file.

    Returns
    -------
    Sidecar

    Raises
    ------
    FileNotFoundError
        No such file.
    CorruptFileError
        Not JSON, not a roicore video description, an unknown version, or a
        missing or invalid field; the message names the sidecar and the field.
    """
    sidecar = Path(path)
    fields_ = _Fields(sidecar, _load_json(sidecar))
    fmt = fields_.content.get("format")
    if fmt not in (RAW_FORMAT, NPY_FORMAT):
        raise fields_.fail("format", f"must be {RAW_FORMAT!r} or {NPY_FORMAT!r}, not {fmt!r}")
    version = fields_.content.get("version")
    if version != SIDECAR_VERSION or isinstance(version, bool):
        raise fields_.fail(
            "version",
            f"is {version!r}, but this roicore-memmap reads version {SIDECAR_VERSION} only "
            "(upgrade roicore-memmap to read newer sidecars)",
        )
    if fmt == NPY_FORMAT:
        fields_.check_keys(_NPY_KEYS, NPY_FORMAT)
        axes = fields_.axes() if "axes" in fields_.content else None
        return Sidecar(
            path=sidecar,
            format=fmt,
            data_path=fields_.data_path(),
            sampling_frequency=fields_.rate(),
            axes=axes,
            channel_names=fields_.channel_names(None),
            metadata=fields_.metadata(),
        )
    fields_.check_keys(_RAW_KEYS, RAW_FORMAT)
    data_path = fields_.data_path()
    axes = fields_.axes()
    dtype_text = fields_.string("dtype")
    try:
        dtype = check_dtype(dtype_text)
    except (TypeError, ValueError) as exc:
        raise fields_.fail("dtype", f"is not a pixel dtype: {exc}") from None
    shape = fields_.content["shape"]
    if not isinstance(shape, dict):
        raise fields_.fail("shape", f"must be an object of axis sizes like {{'y': 128, 'x': 256}}, not {shape!r}")
    extra = sorted(set(shape) - set(axes))
    if extra:
        raise fields_.fail("shape", f"has sizes for axes {extra} that are not in axes={axes!r}")
    missing = [letter for letter in axes if letter != "t" and letter not in shape]
    if missing:
        raise fields_.fail("shape", f"lacks the size of axes {missing} (axes={axes!r})")
    sizes = {}
    for letter, size in shape.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise fields_.fail("shape", f"size of axis {letter!r} must be an integer >= 1, not {size!r}")
        sizes[letter] = size
    offset = fields_.integer("offset", minimum=0, default=0)
    rate = fields_.rate()
    try:
        structure = VideoStructure(
            rows=sizes["y"],
            columns=sizes["x"],
            planes=sizes.get("z", 1),
            channels=sizes.get("c", 1),
            axes=axes,
            dtype=dtype,
            offset=offset,
            sampling_frequency=rate,
            frames=sizes.get("t"),
        )
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(f"sidecar {sidecar}: inconsistent fields: {exc}", path=sidecar) from None
    return Sidecar(
        path=sidecar,
        format=fmt,
        data_path=data_path,
        sampling_frequency=rate,
        structure=structure,
        axes=axes,
        channel_names=fields_.channel_names(structure.channels),
        metadata=fields_.metadata(),
    )


def raw_sidecar(
    structure: VideoStructure,
    data_name: str,
    *,
    frames: int,
    channel_names: list[str] | tuple[str, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar content for a raw file (what the writer stores).

    Parameters
    ----------
    structure : VideoStructure
        With ``dtype`` and ``sampling_frequency`` set.
    data_name : str
        The data file's name (same folder as the sidecar).
    frames : int
        The number of frames written.
    channel_names, metadata : optional
        Stored when given.
    """
    if structure.dtype is None:
        raise ValueError("a sidecar needs a structure with a dtype")
    shape = {letter: (frames if letter == "t" else structure.size_of(letter)) for letter in structure.axes}
    content: dict[str, Any] = {
        "format": RAW_FORMAT,
        "version": SIDECAR_VERSION,
        "data": data_name,
        "dtype": structure.dtype.str,
        "axes": structure.axes,
        "shape": shape,
        "offset": structure.offset,
    }
    if structure.sampling_frequency is not None:
        content["sampling_frequency"] = structure.sampling_frequency
    if channel_names is not None:
        content["channel_names"] = list(channel_names)
    if metadata:
        content["metadata"] = dict(metadata)
    return content


def npy_sidecar(
    data_name: str,
    *,
    sampling_frequency: float | None,
    axes: str,
    channel_names: list[str] | tuple[str, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar content for a ``.npy`` video (rate and axis meaning)."""
    content: dict[str, Any] = {
        "format": NPY_FORMAT,
        "version": SIDECAR_VERSION,
        "data": data_name,
        "axes": axes,
    }
    if sampling_frequency is not None:
        content["sampling_frequency"] = float(sampling_frequency)
    if channel_names is not None:
        content["channel_names"] = list(channel_names)
    if metadata:
        content["metadata"] = dict(metadata)
    return content


def dump_sidecar(content: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write sidecar content as indented UTF-8 JSON."""
    text = json.dumps(dict(content), indent=2, allow_nan=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
