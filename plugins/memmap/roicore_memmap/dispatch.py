"""The callable behind reader id ``memmap``: a raw file, or a ``.npy`` file, by what the path is.

``roicore.open(path, reader="memmap", ...)`` reads any memory-mappable video
this plugin writes: a raw file (with a sidecar or an explicit ``structure``)
or a ``.npy`` file (what the ``memmap`` writer produces for a ``.npy``
target), so a write -> read round trip needs one reader id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from roicore_memmap.mapped import MappedImagingExtractor, refuse_folder
from roicore_memmap.npy_header import NPY_MAGIC
from roicore_memmap.sidecar import NPY_FORMAT, SIDECAR_SUFFIX, peek_format

__all__ = ["open_memmap", "is_npy_path"]


def is_npy_path(path: Path) -> bool:
    """True for a ``.npy`` file (by its magic bytes) or the sidecar of one."""
    if path.name.lower().endswith(SIDECAR_SUFFIX):
        return peek_format(path) == NPY_FORMAT
    try:
        with path.open("rb") as handle:
            return handle.read(len(NPY_MAGIC)) == NPY_MAGIC
    except OSError:
        return False


def open_memmap(file_path: str | os.PathLike[str], **kwargs: Any) -> MappedImagingExtractor:
    """Open a raw or ``.npy`` video.

    Parameters
    ----------
    file_path : str or path-like
        A raw data file, a ``.npy`` file, or the sidecar of either.
    **kwargs
        For a raw file, the arguments of :class:`~roicore_memmap.raw.RawImagingExtractor`;
        for a ``.npy`` file, those of :class:`~roicore_memmap.npy.NpyImagingExtractor`.
        Given ``structure``, the file is always read as raw (a ``.npy`` then
        needs ``offset`` to skip its header).

    Returns
    -------
    RawImagingExtractor or NpyImagingExtractor
    """
    path = Path(os.fspath(file_path))
    refuse_folder(path, "a raw video or .npy file (or the sidecar .json of one)")
    if kwargs.get("structure") is None and is_npy_path(path):
        from roicore_memmap.npy import NpyImagingExtractor

        kwargs.pop("structure", None)
        return NpyImagingExtractor(path, **kwargs)
    from roicore_memmap.raw import RawImagingExtractor

    return RawImagingExtractor(path, **kwargs)
