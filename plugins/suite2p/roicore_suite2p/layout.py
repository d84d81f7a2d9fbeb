"""Where suite2p keeps what: the files of a plane folder and its settings, in both layouts.

suite2p 0.x saves one flat dict per plane, ``ops.npy``. suite2p 1.x splits it
into ``db.npy`` (recording and paths: ``Ly``, ``Lx``, ``nframes``, ...),
``settings.npy`` (``fs``, ``tau``, ``diameter`` at the top, nested dicts
``run``, ``io``, ``registration``, ``detection``, ...), ``reg_outputs.npy``
(``meanImg``, ``meanImgE``, ``refImg``, ``yrange``, ``xrange``, offsets) and
``detect_outputs.npy`` (``max_proj``, ``Vcorr``, ...); with
``settings["io"]["save_ops_orig"]`` it also writes all of them merged into an
``ops.npy``. :func:`read_plane_settings` merges whichever files exist into one
flat view the way suite2p's own ``combined()`` does (``{**db, **reg_outputs,
**detect_outputs}``), with the frame rate from ``settings["fs"]``.

Every pickle is read with :func:`roicore.safeload.load_npy`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError
from roicore.safeload import load_npy

__all__ = [
    "PlaneSettings",
    "check_rate",
    "positive_int",
    "read_plane_settings",
    "read_dict",
    "plane_folders",
    "SETTINGS_FILES",
    "TRACE_FILES",
]

#: files holding a plane's settings, in the order they are merged (later wins)
SETTINGS_FILES = ("ops.npy", "db.npy", "reg_outputs.npy", "detect_outputs.npy")
#: roicore trace name -> suite2p file
TRACE_FILES = {
    "raw": "F.npy",
    "neuropil": "Fneu.npy",
    "deconvolved": "spks.npy",
    "raw_chan2": "F_chan2.npy",
    "neuropil_chan2": "Fneu_chan2.npy",
}

_PLANE_RE = re.compile(r"^plane(\d+)$")


@dataclass
class PlaneSettings:
    """The flat settings of one plane folder, and where they came from.

    Attributes
    ----------
    values : dict
        The merged settings (``Ly``, ``Lx``, ``meanImg``, ``yrange``, ...).
    sources : dict of str to Path
        Which file each key was taken from (for messages).
    layout : {"0.x", "1.x"}
        ``"1.x"`` when a ``db.npy`` is present.
    sampling_frequency : float or None
        ``fs``: from ``settings.npy`` (1.x), else from the merged values.
    """

    values: dict[str, Any]
    sources: dict[str, Path] = field(default_factory=dict)
    layout: str = "0.x"
    sampling_frequency: float | None = None

    def source_of(self, key: str) -> Path:
        """The file a key came from."""
        return self.sources[key]

    def frame_shape(self, folder: Path) -> tuple[int, int]:
        """``(Ly, Lx)`` as Python ints; CorruptFileError naming the file when absent or invalid."""
        shape = []
        for key in ("Ly", "Lx"):
            if key not in self.values:
                files = " or ".join(SETTINGS_FILES[:2])
                raise CorruptFileError(f"{folder}: no {key!r} in {files}; the frame shape is unknown", path=folder)
            shape.append(positive_int(self.values[key], key, self.source_of(key)))
        return shape[0], shape[1]


def positive_int(value: Any, key: str, source: Path) -> int:
    """``value`` as a Python int > 0, else CorruptFileError naming ``source``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        if isinstance(value, (float, np.floating)) and float(value).is_integer() and value > 0:
            return int(value)
        raise CorruptFileError(f"{source}: {key!r} must be a positive integer, not {value!r}", path=source)
    return int(value)


def check_rate(value: Any) -> float | None:
    """A ``sampling_frequency=`` reader argument as a float > 0 (None stays None); ValueError otherwise."""
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"sampling_frequency must be a number > 0, not {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"sampling_frequency must be a finite number > 0, not {value!r}")
    return rate


def read_dict(path: Path) -> dict[str, Any]:
    """A dict saved by ``np.save(path, some_dict)``, read safely; CorruptFileError when it is something else."""
    array = load_npy(path)
    if array.shape != () or array.dtype != object or not isinstance(array.item(), Mapping):
        raise CorruptFileError(
            f"{path}: expected a dict saved with numpy.save (a 0-d object array), found a {array.dtype} array {array.shape}",
            path=path,
        )
    return dict(array.item())


def _rate(value: Any, source: Path) -> float | None:
    if value is None:
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise CorruptFileError(f"{source}: 'fs' must be a number, not {value!r}", path=source) from None
    if not math.isfinite(rate) or rate <= 0:
        raise CorruptFileError(f"{source}: 'fs' must be a finite number > 0, not {value!r}", path=source)
    return rate


def read_plane_settings(folder: Path, *, required: bool = True) -> PlaneSettings:
    """Merge a plane folder's settings files (0.x ``ops.npy``, 1.x ``db.npy`` and the outputs).

    Parameters
    ----------
    folder : Path
        A suite2p plane folder (or the folder holding a ``data.bin``).
    required : bool
        Raise when neither ``ops.npy`` nor ``db.npy`` exists.

    Raises
    ------
    CorruptFileError
        A settings file is damaged, not a dict, or refused by the safe loader
        (naming the file); or none exists and ``required``.
    """
    merged: dict[str, Any] = {}
    sources: dict[str, Path] = {}
    found = []
    for name in SETTINGS_FILES:
        path = folder / name
        if not os.path.lexists(path):
            continue
        found.append(name)
        values = read_dict(path)
        merged.update(values)
        sources.update(dict.fromkeys(values, path))
    if required and not ({"ops.npy", "db.npy"} & set(found)):
        raise CorruptFileError(
            f"{folder}: neither ops.npy (suite2p 0.x) nor db.npy (suite2p 1.x) is there, so the frame shape is unknown",
            path=folder,
        )
    layout = "1.x" if "db.npy" in found else "0.x"
    rate_source: Path | None = sources.get("fs")
    rate_value = merged.get("fs")
    settings_path = folder / "settings.npy"
    if layout == "1.x" and not os.path.lexists(settings_path):
        # suite2p 1.x writes settings.npy beside every db.npy: without it the rate is lost
        raise CorruptFileError(f"{settings_path}: missing; suite2p 1.x writes it beside db.npy", path=settings_path)
    if os.path.lexists(settings_path):
        settings = read_dict(settings_path)
        layout = "1.x"
        if "fs" in settings:
            rate_value, rate_source = settings["fs"], settings_path
        # nested sections stay nested; only top-level scalars (fs, tau, diameter) join the flat view
        for key, value in settings.items():
            if not isinstance(value, Mapping) and key not in merged:
                merged[key] = value
                sources[key] = settings_path
    rate = _rate(rate_value, rate_source) if rate_source is not None else None
    return PlaneSettings(merged, sources, layout, rate)


def plane_folders(folder: Path) -> dict[int, Path]:
    """The ``planeN`` sub-folders of a suite2p output folder, by N (sorted)."""
    found = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return {}
    for entry in entries:
        match = _PLANE_RE.match(entry.name)
        if match and entry.is_dir():
            found[int(match.group(1))] = entry
    return dict(sorted(found.items()))
