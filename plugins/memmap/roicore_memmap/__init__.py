"""roicore-memmap: memory-mapped raw binary, ``.npy`` and CaImAn ``.mmap`` videos for roicore.

Readers (``roicore.open(path, reader=...)``): ``memmap`` (headerless raw
binary, described by a sidecar JSON or by a :class:`VideoStructure`),
``npy`` and ``caiman-mmap``. Writer: ``memmap`` (``roicore.write(x,
"movie.bin")`` or ``"movie.npy"``).

The package namespace is lazy, so that roicore's discovery of the entry
module :mod:`roicore_memmap._plugin` imports nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "VideoStructure": "roicore_memmap.structure",
    "RawImagingExtractor": "roicore_memmap.raw",
    "NpyImagingExtractor": "roicore_memmap.npy",
    "CaimanMmapImagingExtractor": "roicore_memmap.caiman_mmap",
    "open_memmap": "roicore_memmap.dispatch",
    "write_memmap": "roicore_memmap.writer",
    "read_sidecar": "roicore_memmap.sidecar",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'roicore_memmap' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
