"""roicore-nwb: read and write Neurodata Without Borders (NWB) optical-physiology files.

Reading uses h5py on the NWB schema's HDF5 layout (no pynwb import, see the
README for the measurement behind that choice); writing uses pynwb and hdmf.
The functions below are imported lazily so that ``import roicore_nwb`` stays
cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NwbSegmentationExtractor",
    "NwbImagingExtractor",
    "add_segmentation_to_nwbfile",
    "add_imaging_to_nwbfile",
    "append_to_file",
]

_LAZY = {
    "NwbSegmentationExtractor": "roicore_nwb.segmentation",
    "NwbImagingExtractor": "roicore_nwb.imaging",
    "add_segmentation_to_nwbfile": "roicore_nwb.writer",
    "add_imaging_to_nwbfile": "roicore_nwb.writer",
    "append_to_file": "roicore_nwb.writer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'roicore_nwb' has no attribute {name!r}")
