"""Reader ``npy``: a video stored as one ``.npy`` array, memory-mapped through its own header.

The header is parsed by :mod:`numpy.lib.format` (object arrays, which would
need unpickling, are refused before any data is touched). A ``.npy`` file
stores no frame rate and no axis names, so these come from the reader
arguments or from an optional sidecar ``<file>.npy.json`` (format
``"roicore-npy-video"``, written by the ``memmap`` writer).

Axis convention: a 3-D array is ``(time, rows, columns)``; a 4-D array is
read only when told what its last axis is: ``volumetric=True`` (planes,
``axes="tyxz"``) or ``axes="tyxc"`` with ``channel=``. Any other axis order
can be given with ``axes`` (e.g. ``"yxt"``). Fortran-ordered arrays are read
as they are stored, without a copy of the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from roicore.errors import CorruptFileError

from roicore_memmap.mapped import MappedImagingExtractor, resolve_channel
from roicore_memmap.npy_header import NpyHeader, read_npy_header
from roicore_memmap.sidecar import NPY_FORMAT, SIDECAR_SUFFIX, Sidecar, read_sidecar, sidecar_path_for
from roicore_memmap.structure import VideoStructure, check_axes

__all__ = ["NpyImagingExtractor"]


def _find_sidecar(path: Path) -> tuple[Path, Sidecar | None]:
    """The ``.npy`` file and its sidecar (None when there is none)."""
    if path.name.lower().endswith(SIDECAR_SUFFIX):
        sidecar = read_sidecar(path)
        if sidecar.format != NPY_FORMAT:
            raise CorruptFileError(
                f"sidecar {path}: field 'format' is {sidecar.format!r}: it describes a raw file, not a .npy; "
                "open it with reader='memmap'",
                path=path,
            )
        return sidecar.data_path, sidecar
    sidecar_path = sidecar_path_for(path)
    # a sidecar that exists but is no readable file (a folder, a symlink loop) is reported by read_sidecar
    if not os.path.lexists(sidecar_path):
        return path, None
    sidecar = read_sidecar(sidecar_path)
    if sidecar.format != NPY_FORMAT:
        raise CorruptFileError(
            f"sidecar {sidecar_path}: field 'format' is {sidecar.format!r}, but it sits next to a .npy file "
            f"(expected {NPY_FORMAT!r})",
            path=sidecar_path,
        )
    if sidecar.data_path.name != path.name or sidecar.data_path.parent.resolve() != path.parent.resolve():
        raise CorruptFileError(
            f"sidecar {sidecar_path}: field 'data' names {sidecar.data_path.name!r}, "
            f"not the file {path.name!r} it sits next to",
            path=sidecar_path,
        )
    return path, sidecar


def _choose_axes(path: Path, header: NpyHeader, axes: str | None, volumetric: bool | None, sidecar: Sidecar | None) -> str:
    """The array's axis letters, from the arguments, the sidecar or the convention."""
    ndim = len(header.shape)
    if volumetric is not None and not isinstance(volumetric, bool):
        raise TypeError(f"volumetric must be a bool, not {volumetric!r}")
    if axes is not None:
        if volumetric is not None and volumetric != ("z" in axes):
            raise ValueError(f"volumetric={volumetric} contradicts axes={axes!r}")
        chosen, source = axes, "axes"
    elif volumetric is not None:
        chosen, source = ("tyxz" if volumetric else "tyx"), f"volumetric={volumetric}"
    elif sidecar is not None and sidecar.axes is not None:
        chosen, source = sidecar.axes, f"sidecar {sidecar.path.name}"
    elif ndim == 3:
        return "tyx"
    elif ndim == 4 and sidecar is not None:
        raise CorruptFileError(
            f"sidecar {sidecar.path}: field 'axes' is missing, but {path.name} holds a 4-D array {header.shape}: "
            "the sidecar must say what its last axis is ('tyxz' for planes, 'tyxc' for channels)",
            path=sidecar.path,
        )
    elif ndim == 4:
        # the description is missing: a roicore error (a ValueError, as before) naming the sidecar that would hold it
        missing = sidecar_path_for(path)
        raise CorruptFileError(
            f"{path} holds a 4-D array {header.shape} and no sidecar {missing.name} says what its last axis is: "
            "write one, or pass volumetric=True (time, rows, columns, planes) or axes='tyxc' and channel=... "
            "(time, rows, columns, channels)",
            path=missing,
        )
    else:
        raise CorruptFileError(
            f"{path} holds a {ndim}-D array {header.shape}, not a video: expected (time, rows, columns) "
            "or (time, rows, columns, planes)",
            path=path,
        )
    check_axes(chosen)
    if len(chosen) != ndim:
        # the file is not what its description says: CorruptFileError (a ValueError) naming the file at fault
        at_fault = sidecar.path if source.startswith("sidecar") and sidecar is not None else path
        raise CorruptFileError(
            f"{path} holds a {ndim}-D array {header.shape}, but {source} gives {len(chosen)} axes ({chosen!r})",
            path=at_fault,
        )
    return chosen


class NpyImagingExtractor(MappedImagingExtractor):
    """A video in a ``.npy`` file, memory-mapped read-only (reader id ``npy``).

    Parameters
    ----------
    file_path : str or path-like
        The ``.npy`` file (or its sidecar ``<file>.npy.json``).
    sampling_frequency : float, optional
        In Hz; overrides the sidecar's. Without either the rate is unknown
        (None): a ``.npy`` file does not store one.
    axes : str, optional
        The array's axes, outermost first, over ``t y x z c`` (default
        ``"tyx"`` for 3-D). Overrides the sidecar's.
    volumetric : bool, optional
        Shorthand: True means ``axes="tyxz"``, False ``axes="tyx"``.
    channel : int or str
        The channel to read when the array has a ``c`` axis.

    Raises
    ------
    CorruptFileError
        Not a ``.npy`` file, an invalid header, a file shorter than its header
        promises, an array that is not a video, or no frames; a sidecar that is
        invalid or not a file; axes (given or from the sidecar) whose number
        differs from the array's (CorruptFileError is a ValueError).
    UnsupportedFeatureError
        Object (pickled) or structured arrays.
    ValueError
        A 4-D array without ``axes``/``volumetric``
        and without a sidecar.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        sampling_frequency: float | None = None,
        *,
        axes: str | None = None,
        volumetric: bool | None = None,
        channel: int | str = 0,
    ) -> None:
        path = Path(os.fspath(file_path))
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        data, sidecar = _find_sidecar(path)
        if data.is_dir():
            raise CorruptFileError(f"{data} is a folder, not a .npy file", path=data)
        if not data.is_file():
            named_by = f" named by sidecar {sidecar.path.name}" if sidecar is not None else ""
            raise FileNotFoundError(2, f"The .npy file{named_by} does not exist", str(data))
        header = read_npy_header(data)
        letters = _choose_axes(data, header, axes, volumetric, sidecar)
        if sampling_frequency is None and sidecar is not None:
            sampling_frequency = sidecar.sampling_frequency
        sizes = dict(zip(letters, header.shape))
        if sizes["t"] == 0:
            raise CorruptFileError(f"{data} holds no frames (shape {header.shape}, axes {letters!r})", path=data)
        if 0 in header.shape:
            raise CorruptFileError(f"{data} holds empty frames (shape {header.shape}, axes {letters!r})", path=data)
        # a Fortran-ordered array is the C-ordered array of the reversed axes
        disk_axes = letters[::-1] if header.fortran_order and len(letters) > 1 else letters
        layout = VideoStructure(
            rows=sizes["y"],
            columns=sizes["x"],
            planes=sizes.get("z", 1),
            channels=sizes.get("c", 1),
            axes=disk_axes,
            dtype=header.dtype,
            offset=header.data_offset,
            sampling_frequency=sampling_frequency,
            frames=sizes["t"],
        )
        self._check_size(data, header)
        channel_names = sidecar.channel_names if sidecar is not None else None
        if channel_names is not None and len(channel_names) != layout.channels:
            raise CorruptFileError(
                f"sidecar {sidecar.path}: field 'channel_names' has {len(channel_names)} names for "  # type: ignore[union-attr]
                f"{layout.channels} channel(s)",
                path=sidecar.path,  # type: ignore[union-attr]
            )
        index = resolve_channel(channel, layout.channels, channel_names, data)
        self._init_mapping(data, layout, sizes["t"], index, channel_names)

    @staticmethod
    def _check_size(path: Path, header: NpyHeader) -> None:
        size = os.stat(path).st_size
        expected = header.data_offset + header.data_bytes
        if size < expected:
            raise CorruptFileError(
                f"{path} is truncated: its header promises {header.data_bytes} bytes of data "
                f"(shape {header.shape}, {header.dtype.str}) after {header.data_offset} header bytes, "
                f"{expected} bytes in all, but the file has {size} bytes",
                path=path,
            )
        if size > expected:
            warnings.warn(
                f"{path}: ignoring {size - expected} bytes after the array's data (the header promises "
                f"{expected} bytes in all)",
                stacklevel=3,
            )
