"""What an HDF5 file holds: the candidate video datasets, their axis letters and their frame rate.

Shared by the sniff and the reader so that detection and opening agree on
which dataset is the video. Nothing here reads pixel data: only the object
tree, shapes, dtypes and small attributes. h5py objects are passed in, so
this module imports h5py only for type checks inside functions.

Axis letters, outermost first: ``t`` (time), ``z`` (planes), ``y`` (rows),
``x`` (columns), ``c`` (channels). ``t``, ``y`` and ``x`` are required.
They come from the ``axes=`` argument, else from the dataset's dimension
labels (the ``DIMENSION_LABELS`` attribute that h5py's ``dataset.dims[i].label``
writes, as SIMA's ``ImagingDataset.export_frames`` does). A dataset without
labels says nothing about its axis order (SIMA's own ``example.h5`` is
``y, x, t``), so its axes must be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError

__all__ = [
    "AXIS_LETTERS",
    "Candidate",
    "MAX_OBJECTS",
    "RATE_ATTRIBUTES",
    "check_axes",
    "check_rate",
    "find_candidates",
    "foreign_layout",
    "label_axes",
    "read_rate",
    "channel_names",
]

AXIS_LETTERS = "tzyxc"
#: attributes read, in this order, as the frame rate in Hz (on the dataset, then on the file's root)
RATE_ATTRIBUTES = ("sampling_frequency", "frame_rate", "fr")
#: objects visited when looking for the video before giving up (a sniff must stay cheap)
MAX_OBJECTS = 2000
_PIXEL_KINDS = "biuf"


@dataclass(frozen=True)
class Candidate:
    """A dataset that may be the video: numeric, 3-D to 5-D."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name} {self.shape} {self.dtype}"


def foreign_layout(handle: Any) -> str | None:
    """Why the file belongs to another format (NWB, CaImAn results), or None.

    An NWB file carries the root attribute ``nwb_version`` (and usually a
    ``specifications`` group with ``.specloc``); a CaImAn ``CNMF.save()``
    result holds an ``estimates`` group. Both may hold 3-D datasets (an NWB
    ``TwoPhotonSeries``), which are never this plugin's to claim.
    """
    attributes = handle.attrs
    if "nwb_version" in attributes:
        return "an NWB file (root attribute nwb_version): read it with an NWB reader"
    if ".specloc" in attributes or "specifications" in handle:
        return "an NWB file (.specloc / specifications group): read it with an NWB reader"
    if "estimates" in handle:
        return "a CaImAn result (it holds an 'estimates' group): read it with the caiman reader"
    return None


def find_candidates(handle: Any, limit: int = MAX_OBJECTS) -> tuple[list[Candidate], bool]:
    """Every numeric 3-D to 5-D dataset reachable by hard links, in name order.

    Soft and external links are not followed (an external link would open
    another file). Returns ``(candidates, complete)``; ``complete`` is False
    when the walk stopped after ``limit`` objects.
    """
    import h5py

    found: list[Candidate] = []
    visited = 0

    def visit(name: str, obj: Any) -> bool | None:
        nonlocal visited
        visited += 1
        if visited > limit:
            return True  # stops the walk
        if isinstance(obj, h5py.Dataset) and 3 <= obj.ndim <= 5:
            dtype = obj.dtype
            if dtype.kind in _PIXEL_KINDS and dtype.fields is None and not dtype.subdtype:
                found.append(Candidate("/" + name, tuple(int(s) for s in obj.shape), dtype))
        return None

    stopped = handle.visititems(visit)
    found.sort(key=lambda c: c.name)
    return found, not stopped


def check_axes(axes: Any, path: Path, *, source: str = "axes") -> str:
    """Validate an axes string: letters from ``tzyxc``, each at most once, with ``t``, ``y`` and ``x``.

    Raises
    ------
    TypeError
        Not a string.
    ValueError
        Unknown or repeated letters, or a required letter missing (the
        message names the file and the valid letters).
    """
    if not isinstance(axes, str):
        raise TypeError(f"{path}: {source} must be a string such as 'tyx' or 'yxt', not {axes!r}")
    letters = axes.lower()
    unknown = sorted(set(letters) - set(AXIS_LETTERS))
    problem = None
    if unknown:
        problem = f"unknown letter(s) {', '.join(repr(u) for u in unknown)}"
    elif len(set(letters)) != len(letters):
        problem = "a repeated letter"
    elif not set("tyx") <= set(letters):
        problem = f"no {', '.join(repr(m) for m in 'tyx' if m not in letters)}"
    if problem:
        raise ValueError(
            f"{path}: {source}={axes!r} has {problem}: use the letters t (time), y (rows), x (columns), "
            "and optionally z (planes) and c (channels), outermost first, e.g. 'tyx', 'yxt' or 'tzyxc'"
        )
    return letters


def label_axes(dataset: Any, path: Path) -> str | None:
    """The axis letters from the dataset's dimension labels, or None when it has none.

    Raises
    ------
    CorruptFileError
        Labels that are present but unreadable, partial, or not axis letters.
    """
    if "DIMENSION_LABELS" not in dataset.attrs:
        return None
    # read as a plain attribute: h5py's dims[i].label (H5DSget_label) crashes the interpreter on
    # labels stored as a fixed-length string array, which other writers produce
    try:
        stored = np.asarray(dataset.attrs["DIMENSION_LABELS"])
    except Exception as exc:  # a damaged attribute: h5py raises several kinds
        raise CorruptFileError(
            f"{path}: dataset {dataset.name} has an unreadable DIMENSION_LABELS attribute ({exc}); "
            "pass axes=... to read it anyway",
            path=path,
        ) from None
    if stored.ndim != 1 or stored.size != dataset.ndim or not all(isinstance(v, (str, bytes)) for v in stored.tolist()):
        raise CorruptFileError(
            f"{path}: dataset {dataset.name} has a DIMENSION_LABELS attribute {stored.tolist()!r}, not one text label "
            f"per dimension of its {dataset.ndim}; pass axes=... to say what they are",
            path=path,
        )
    labels = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in stored.tolist()]
    if not any(labels):
        return None
    joined = "".join(label.strip().lower() for label in labels)
    if len(joined) != len(labels) or any(len(label.strip()) != 1 for label in labels):
        raise CorruptFileError(
            f"{path}: dataset {dataset.name} has dimension labels {labels}, not one axis letter per dimension "
            f"(t, z, y, x, c); pass axes=... to say what they are",
            path=path,
        )
    try:
        return check_axes(joined, path, source="its DIMENSION_LABELS")
    except ValueError as exc:
        raise CorruptFileError(f"{exc}; or pass axes=... to override the labels", path=path) from None


def _positive_number(value: Any) -> float | None:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.size != 1:
        return None
    number = float(array.reshape(()))
    return number if np.isfinite(number) and number > 0 else None


def check_rate(value: Any) -> float:
    """A ``sampling_frequency=`` argument as a float; ValueError unless it is one finite number > 0."""
    rate = None if isinstance(value, (bool, np.bool_, str, bytes)) else _positive_number(value)
    if rate is None:
        raise ValueError(f"sampling_frequency must be a finite number > 0 (Hz), not {value!r}")
    return rate


def read_rate(dataset: Any, root: Any, path: Path) -> float | None:
    """The frame rate stored as an attribute (see :data:`RATE_ATTRIBUTES`), or None when none is stored.

    Raises
    ------
    CorruptFileError
        A rate attribute that is not one finite number > 0.
    """
    for owner in (dataset, root):
        for name in RATE_ATTRIBUTES:
            if name not in owner.attrs:
                continue
            try:
                value = owner.attrs[name]
            except Exception as exc:
                raise CorruptFileError(f"{path}: attribute {name!r} of {owner.name} is unreadable ({exc})", path=path) from None
            rate = _positive_number(value)
            if rate is None:
                raise CorruptFileError(
                    f"{path}: attribute {name!r} of {owner.name} is {value!r}, not a frame rate "
                    "(one finite number > 0, in Hz); pass sampling_frequency=... to override it",
                    path=path,
                )
            return rate
    return None


def channel_names(dataset: Any, count: int) -> tuple[str, ...] | None:
    """The ``channel_names`` attribute (SIMA writes it) when it names exactly ``count`` channels, else None.

    SIMA's own ``example-volume.h5`` lists one name for two channels; such a
    list cannot say which channel is which, so it is not used.
    """
    if "channel_names" not in dataset.attrs:
        return None
    try:
        raw = np.atleast_1d(dataset.attrs["channel_names"])
    except Exception:
        return None
    names = tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in raw.tolist())
    if len(names) != count or len(set(names)) != count:
        return None
    return names
