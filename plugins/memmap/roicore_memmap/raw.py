"""Reader ``memmap``: headerless raw binary videos, described by a sidecar or by arguments."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from roicore.errors import CorruptFileError, cli_syntax_active, option_hint

from roicore_memmap.mapped import MappedImagingExtractor, count_frames, refuse_folder, resolve_channel
from roicore_memmap.sidecar import NPY_FORMAT, SIDECAR_SUFFIX, Sidecar, read_sidecar, sidecar_path_for
from roicore_memmap.sniff import explicit_open_hint
from roicore_memmap.structure import VideoStructure

__all__ = ["RawImagingExtractor"]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


#: ``dtype`` examples in Python syntax and as a command-line JSON value
DTYPE_EXAMPLE = {False: "'<u2'", True: """'"<u2"'"""}


def _sidecar_for(path: Path) -> tuple[Path, Sidecar]:
    """The data file and its sidecar, for a data path or a sidecar path."""
    if path.name.lower().endswith(SIDECAR_SUFFIX):
        sidecar = read_sidecar(path)
        data = sidecar.data_path
    else:
        sidecar_path = sidecar_path_for(path)
        # a sidecar that exists but is no readable file (a folder, a symlink loop) is reported by read_sidecar
        if not os.path.lexists(sidecar_path):
            # a missing companion file is a roicore error naming it (a ValueError, as before)
            raise CorruptFileError(
                f"{path}: a headerless raw video needs a description, and no sidecar {sidecar_path.name} "
                f"is next to it. Write one (see the roicore-memmap README), or {explicit_open_hint()}",
                path=sidecar_path,
            )
        sidecar = read_sidecar(sidecar_path)
        data = path
        if not _same_file(sidecar.data_path, path):
            raise CorruptFileError(
                f"sidecar {sidecar_path}: field 'data' names {sidecar.data_path.name!r}, "
                f"not the file {path.name!r} it sits next to",
                path=sidecar_path,
            )
    if sidecar.format == NPY_FORMAT:
        # reached only when the data file is no .npy (dispatch sends .npy files to the npy reader)
        raise CorruptFileError(
            f"sidecar {sidecar.path}: field 'format' says {NPY_FORMAT!r}, but {sidecar.data_path.name} is no "
            f".npy file (a .npy would be opened with reader='npy')",
            path=sidecar.path,
        )
    return data, sidecar


class RawImagingExtractor(MappedImagingExtractor):
    """A headerless raw binary video, memory-mapped read-only (reader id ``memmap``).

    The layout comes from the sidecar ``<file>.json`` next to the data (see the
    README), or from ``structure`` and the other arguments. Reads return
    ``(time, rows, columns)``, or ``(time, rows, columns, planes)`` when the
    layout has a ``z`` axis, in the file's dtype in native byte order.

    Parameters
    ----------
    file_path : str or path-like
        The data file, or its sidecar JSON.
    structure : VideoStructure or dict, optional
        The layout; when given, no sidecar is read. A dict holds the fields of
        :class:`VideoStructure` (``{"rows": 128, "columns": 256, "axes": "tyx"}``).
    dtype : dtype-like, optional
        Pixel type including byte order (``"<u2"``); required with ``structure``
        unless it holds one. Overrides the sidecar's.
    offset : int, optional
        Header bytes to skip. Overrides the sidecar's.
    sampling_frequency : float, optional
        In Hz; required with ``structure`` unless it holds one. Overrides the sidecar's.
    channel : int or str
        The channel to read, an index or a name from the sidecar's ``channel_names``.
    allow_partial_frame : bool
        Read a file whose data end with a partial frame: the whole frames are
        read and a warning says how many bytes were ignored. By default such a
        file raises CorruptFileError.

    Raises
    ------
    FileNotFoundError
        The data file (or the sidecar named) does not exist.
    ValueError
        No sidecar and no ``structure``; a missing ``dtype`` or
        ``sampling_frequency``; a field given twice with different values.
    CorruptFileError
        Invalid sidecar, or a file size that does not fit the layout.
    IndexError, KeyError
        No such channel.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        structure: VideoStructure | dict[str, Any] | None = None,
        *,
        dtype: Any = None,
        offset: int | None = None,
        sampling_frequency: float | None = None,
        channel: int | str = 0,
        allow_partial_frame: bool = False,
    ) -> None:
        if not isinstance(allow_partial_frame, bool):
            raise TypeError(f"allow_partial_frame must be a bool, not {allow_partial_frame!r}")
        path = Path(os.fspath(file_path))
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        refuse_folder(path, "a raw video file (or its sidecar .json)")
        channel_names: tuple[str, ...] | None = None
        description: str | None = None  # the sidecar's name, for messages about the data
        if structure is None:
            data, sidecar = _sidecar_for(path)
            description = f"sidecar {sidecar.path.name}"
            described = sidecar.structure
            assert described is not None  # a raw-video sidecar always has one
            overrides: dict[str, Any] = {}
            if dtype is not None:
                overrides["dtype"] = dtype
            if offset is not None:
                overrides["offset"] = offset
            if sampling_frequency is not None:
                overrides["sampling_frequency"] = sampling_frequency
            layout = replace(described, **overrides) if overrides else described
            channel_names = sidecar.channel_names
        else:
            data = path
            layout = VideoStructure.coerce(structure).completed(
                dtype=dtype, offset=offset, sampling_frequency=sampling_frequency
            )
            if layout.dtype is None:
                raise ValueError(
                    f"{path}: dtype is required to read a headerless file; give it as "
                    f"{option_hint('dtype', DTYPE_EXAMPLE[cli_syntax_active()])} "
                    "(little-endian uint16) or in the structure"
                )
        if not data.exists():
            named_by = f" named by {description}" if description else ""
            raise FileNotFoundError(2, f"The data file{named_by} does not exist", str(data))
        if not data.is_file():
            raise CorruptFileError(f"{data} is not a regular file", path=data)
        index = resolve_channel(channel, layout.channels, channel_names, data)
        frames = count_frames(data, layout, allow_partial_frame=allow_partial_frame, described_by=description)
        self._init_mapping(data, replace(layout, frames=frames), frames, index, channel_names)
