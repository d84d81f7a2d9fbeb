"""``VideoStructure``: the layout of a headerless video on disk.

A raw video file is one n-dimensional C-order array after an optional header.
Its axes are named by letters:

====== =========== ==========================================
letter axis        size field
====== =========== ==========================================
``t``  time        ``frames`` (declared) or inferred from the file size
``y``  rows        ``rows``
``x``  columns     ``columns``
``z``  planes      ``planes`` (the video is volumetric when ``z`` is present)
``c``  channels    ``channels`` (one channel is read at a time)
====== =========== ==========================================

``axes`` lists the letters from the outermost (slowest varying) axis to the
innermost, e.g. ``"tyx"`` (frame after frame, rows of pixels), ``"yxt"``
(each pixel's time course in turn), ``"tcyx"`` (channel-interleaved frames).

This module imports numpy and the standard library only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

__all__ = ["VideoStructure", "AXIS_LETTERS", "AXIS_NAMES", "check_axes", "check_dtype"]

AXIS_LETTERS = "tyxzc"
AXIS_NAMES = {"t": "time", "y": "rows", "x": "columns", "z": "planes", "c": "channels"}

# dtype kinds a video may hold: booleans, integers, floats (what roicore's extractors accept)
_VIDEO_KINDS = "biuf"


def _positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, not a bool ({value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r})") from None
    if number < 1:
        raise ValueError(f"{name} must be >= 1, not {number}")
    return int(number)


def check_dtype(value: Any, name: str = "dtype") -> np.dtype:
    """Return ``value`` as a numpy dtype a video may hold.

    Parameters
    ----------
    value : dtype-like
        Anything :class:`numpy.dtype` accepts, with or without a byte order
        (``"<u2"``, ``">f4"``, ``"uint8"``, ``numpy.int16``).
    name : str
        Names the argument in messages.

    Returns
    -------
    numpy.dtype

    Raises
    ------
    TypeError
        ``value`` is not a dtype.
    ValueError
        A dtype that is not a plain number or boolean (object, structured,
        string, datetime, complex).
    """
    if value is None:
        raise TypeError(f"{name} is required (e.g. '<u2' for little-endian uint16)")
    try:
        dtype = np.dtype(value)
    except TypeError as exc:
        raise TypeError(f"{name}={value!r} is not a numpy dtype: {exc}") from None
    if dtype.kind not in _VIDEO_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(
            f"{name}={value!r} ({dtype}) is not a pixel type: a video holds booleans, integers or floats"
        )
    return dtype


def check_axes(axes: Any) -> str:
    if not isinstance(axes, str):
        raise TypeError(f"axes must be a str of letters from {AXIS_LETTERS!r}, not {type(axes).__name__}")
    unknown = sorted(set(axes) - set(AXIS_LETTERS))
    if unknown:
        raise ValueError(
            f"axes={axes!r} has unknown letters {unknown}: use t (time), y (rows), x (columns), "
            "z (planes), c (channels)"
        )
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes={axes!r} repeats a letter")
    missing = [letter for letter in "tyx" if letter not in axes]
    if missing:
        raise ValueError(f"axes={axes!r} lacks {missing}: every video has t (time), y (rows) and x (columns)")
    return axes


@dataclass(frozen=True)
class VideoStructure:
    """How a headerless video is laid out in its file.

    Parameters
    ----------
    rows, columns : int
        Pixels per column and per row of one plane (the image is ``rows x columns``).
    planes : int
        Planes per volume; more than one needs ``"z"`` in ``axes``.
    channels : int
        Interleaved channels; more than one needs ``"c"`` in ``axes``.
    axes : str
        The file's axis order, outermost first, over the letters ``t y x z c``
        (see the module docstring); any permutation. Must hold ``t``, ``y``
        and ``x``; the video is volumetric exactly when it holds ``z``.
    dtype : dtype-like, optional
        Pixel type including byte order (``"<u2"``, ``">i2"``, ``"float32"``).
        May be left out here and given to the reader instead.
    offset : int
        Bytes to skip at the start of the file (a header), >= 0.
    sampling_frequency : float, optional
        Frames per second, in Hz. May be given to the reader instead.
    frames : int, optional
        The number of frames, when known; then the file size must match it.
        By default it is inferred from the file size.

    Raises
    ------
    TypeError, ValueError
        A field has the wrong type or an impossible value; the message names it.

    Examples
    --------
    >>> s = VideoStructure(rows=128, columns=256, axes="tyx", dtype="<u2", sampling_frequency=30.0)
    >>> s.frame_bytes
    65536
    >>> s.disk_shape(20)
    (20, 128, 256)
    """

    rows: int
    columns: int
    planes: int = 1
    channels: int = 1
    axes: str = "tyx"
    dtype: Any = None
    offset: int = 0
    sampling_frequency: float | None = None
    frames: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "rows", _positive_int(self.rows, "rows"))
        set_(self, "columns", _positive_int(self.columns, "columns"))
        set_(self, "planes", _positive_int(self.planes, "planes"))
        set_(self, "channels", _positive_int(self.channels, "channels"))
        set_(self, "frames", _positive_int(self.frames, "frames", allow_none=True))
        axes = check_axes(self.axes)
        if self.planes > 1 and "z" not in axes:
            raise ValueError(f"planes={self.planes} needs a 'z' axis in axes (got {axes!r})")
        if self.channels > 1 and "c" not in axes:
            raise ValueError(f"channels={self.channels} needs a 'c' axis in axes (got {axes!r})")
        if self.dtype is not None:
            set_(self, "dtype", check_dtype(self.dtype))
        if isinstance(self.offset, (bool, np.bool_)):
            raise TypeError(f"offset must be an integer number of bytes, not a bool ({self.offset!r})")
        try:
            offset = operator.index(self.offset)
        except TypeError:
            raise TypeError(f"offset must be an integer number of bytes, not {self.offset!r}") from None
        if offset < 0:
            raise ValueError(f"offset must be >= 0 bytes, not {offset}")
        set_(self, "offset", int(offset))
        if self.sampling_frequency is not None:
            set_(self, "sampling_frequency", _check_rate(self.sampling_frequency))

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> VideoStructure:
        """Build a structure from a dict of its fields (e.g. a ``structure={...}`` reader argument).

        Raises
        ------
        ValueError
            An unknown key (the message lists the valid ones) or a missing ``rows``/``columns``.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ValueError(f"unknown VideoStructure fields {unknown}; valid fields: {names}")
        missing = [name for name in ("rows", "columns") if name not in mapping]
        if missing:
            raise ValueError(f"a VideoStructure needs {missing}")
        return cls(**dict(mapping))

    @classmethod
    def coerce(cls, value: Any) -> VideoStructure:
        """A :class:`VideoStructure` from itself or from a mapping of its fields."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        raise TypeError(f"structure must be a VideoStructure or a dict of its fields, not {type(value).__name__}")

    def completed(
        self,
        *,
        dtype: Any = None,
        offset: int | None = None,
        sampling_frequency: float | None = None,
    ) -> VideoStructure:
        """Fill in fields given separately; a field given twice with different values is an error.

        Raises
        ------
        ValueError
            A value given here differs from the one in the structure.
        """
        changes: dict[str, Any] = {}
        for name, value, unset in (
            ("dtype", dtype, None),
            ("offset", offset, 0),
            ("sampling_frequency", sampling_frequency, None),
        ):
            if value is None:
                continue
            current = getattr(self, name)
            probe = replace(self, **{name: value})  # validates and normalises the new value
            new = getattr(probe, name)
            if current != unset and current != new:
                raise ValueError(f"{name} is given twice with different values: {current!r} in the structure, {value!r}")
            changes[name] = new
        return replace(self, **changes) if changes else self

    # -- derived layout -------------------------------------------------------------------------
    @property
    def volumetric(self) -> bool:
        """True when the file has a plane axis (``"z"`` in ``axes``)."""
        return "z" in self.axes

    @property
    def frames_outermost(self) -> bool:
        """True when whole frames follow each other in the file (``axes`` starts with ``"t"``)."""
        return self.axes[0] == "t"

    def size_of(self, letter: str) -> int | None:
        """The size of one axis (``None`` for ``"t"`` when the frame count is not declared)."""
        return {
            "t": self.frames,
            "y": self.rows,
            "x": self.columns,
            "z": self.planes,
            "c": self.channels,
        }[letter]

    @property
    def frame_size(self) -> int:
        """Values per frame, all planes and channels included."""
        return self.rows * self.columns * self.planes * self.channels

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame, all planes and channels included (needs ``dtype``)."""
        if self.dtype is None:
            raise ValueError("the structure has no dtype, so its frame size in bytes is unknown")
        return self.frame_size * self.dtype.itemsize

    def disk_shape(self, frames: int) -> tuple[int, ...]:
        """The file's array shape, in ``axes`` order, for ``frames`` frames."""
        return tuple(frames if letter == "t" else int(self.size_of(letter)) for letter in self.axes)  # type: ignore[arg-type]

    def describe_frame(self) -> str:
        """E.g. ``"128 rows x 256 columns x 2 bytes"`` (planes and channels when more than one)."""
        parts = [f"{self.rows} rows", f"{self.columns} columns"]
        if self.planes > 1:
            parts.append(f"{self.planes} planes")
        if self.channels > 1:
            parts.append(f"{self.channels} channels")
        if self.dtype is not None:
            parts.append(f"{self.dtype.itemsize} byte{'s' if self.dtype.itemsize > 1 else ''} ({self.dtype.str})")
        return " x ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values (dtype as its string with byte order)."""
        values = asdict(self)
        values["dtype"] = None if self.dtype is None else self.dtype.str
        return values


def _check_rate(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"sampling_frequency must be a finite number > 0 (Hz), not {value!r}")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"sampling_frequency must be a finite number > 0 (Hz), not {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"sampling_frequency must be a finite number > 0 (Hz), not {value!r}")
    return rate
