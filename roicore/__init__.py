"""roicore: calcium-imaging ROI data behind one ``open()``, read by plugins.

The package namespace is lazy: ``import roicore`` loads only this file and
:mod:`roicore.errors`. Extractor classes, the registry (and with it pluggy and
importlib-metadata) and the functions below are imported on first use.

Examples
--------
>>> import roicore
>>> with roicore.open("session.hdf5") as seg:          # doctest: +SKIP
...     traces = seg.get_traces(name="raw")
>>> print(roicore.explain("session.hdf5"))            # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from roicore import errors

__version__ = "0.2.0"

# public name -> (module, attribute); resolved by __getattr__ on first access
_LAZY: dict[str, tuple[str, str]] = {
    "open": ("roicore.registry.detection", "open"),
    "explain": ("roicore.registry.detection", "explain"),
    "readers": ("roicore.registry.discovery", "readers"),
    "writers": ("roicore.registry.discovery", "writers"),
    "methods": ("roicore.registry.discovery", "methods"),
    "plugins": ("roicore.registry.discovery", "plugins"),
    "register": ("roicore.registry.discovery", "register"),
    "unregister": ("roicore.registry.discovery", "unregister"),
    "hookimpl": ("roicore.registry.hooks", "hookimpl"),
    "write": ("roicore.writing", "write"),
    "extract": ("roicore.extraction", "extract"),
    "concatenate": ("roicore.combine", "concatenate"),
    "stack_planes": ("roicore.combine", "stack_planes"),
    "ImagingExtractor": ("roicore.imaging", "ImagingExtractor"),
    "SegmentationExtractor": ("roicore.segmentation", "SegmentationExtractor"),
    "RoiMasks": ("roicore.segmentation", "RoiMasks"),
    "NumpyImagingExtractor": ("roicore.memory", "NumpyImagingExtractor"),
    "NumpySegmentationExtractor": ("roicore.memory", "NumpySegmentationExtractor"),
    "ReaderSpec": ("roicore.registry.specs", "ReaderSpec"),
    "WriterSpec": ("roicore.registry.specs", "WriterSpec"),
    "MethodSpec": ("roicore.registry.specs", "MethodSpec"),
    "Support": ("roicore.registry.specs", "Support"),
}

__all__ = ["errors", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'roicore' has no attribute {name!r}") from None
    value = getattr(import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from roicore.combine import concatenate, stack_planes
    from roicore.extraction import extract
    from roicore.imaging import ImagingExtractor
    from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
    from roicore.registry.detection import explain, open
    from roicore.registry.discovery import (
        methods,
        plugins,
        readers,
        register,
        unregister,
        writers,
    )
    from roicore.registry.hooks import hookimpl
    from roicore.registry.specs import MethodSpec, ReaderSpec, Support, WriterSpec
    from roicore.segmentation import RoiMasks, SegmentationExtractor
    from roicore.writing import write
