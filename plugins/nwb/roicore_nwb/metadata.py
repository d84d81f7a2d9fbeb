"""Default NWB metadata in neuroconv's layout, filled from an extractor.

The dictionary has neuroconv's keys (``metadata["NWBFile"]``,
``metadata["Ophys"]["Device"]``, ``["ImagingPlane"]``, ``["TwoPhotonSeries"]``,
``["ImageSegmentation"]``, ``["Fluorescence"]``, ``["DfOverF"]``,
``["SegmentationImages"]``), so metadata prepared for neuroconv works here.
A user's metadata is merged over the defaults: dicts key by key, lists of
dicts element by element.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = ["default_metadata", "merge", "TRACE_SERIES"]

#: roicore trace name -> (container key in metadata["Ophys"], series name) as neuroconv names them
TRACE_SERIES = {
    "raw": ("Fluorescence", "RoiResponseSeries"),
    "dff": ("DfOverF", "RoiResponseSeries"),
    "neuropil": ("Fluorescence", "Neuropil"),
    "deconvolved": ("Fluorescence", "Deconvolved"),
    "denoised": ("Fluorescence", "Denoised"),
    "baseline": ("Fluorescence", "Baseline"),
}

_TRACE_DESCRIPTIONS = {
    "raw": "Raw fluorescence of each ROI.",
    "dff": "dF/F of each ROI.",
    "neuropil": "Neuropil fluorescence around each ROI.",
    "deconvolved": "Deconvolved activity of each ROI.",
    "denoised": "Denoised fluorescence of each ROI.",
    "baseline": "Baseline fluorescence of each ROI.",
}


def merge(base: Any, update: Any) -> Any:
    """``update`` merged over ``base`` (a new object; neither is changed)."""
    if isinstance(base, dict) and isinstance(update, dict):
        out = copy.deepcopy(base)
        for key, value in update.items():
            out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(update, list):
        out = copy.deepcopy(base)
        for index, value in enumerate(update):
            if index < len(out):
                out[index] = merge(out[index], value)
            else:
                out.append(copy.deepcopy(value))
        return out
    return copy.deepcopy(update)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("roicore-nwb")
    except Exception:  # pragma: no cover - an uninstalled tree
        return "unknown"


def default_metadata(extractor: Any, *, kind: str, trace_names: list[str] = (), image_names: list[str] = ()) -> dict[str, Any]:
    """Metadata for writing ``extractor`` (``kind`` "imaging" or "segmentation")."""
    rate = extractor.get_sampling_frequency()
    described = type(extractor).__name__
    plane: dict[str, Any] = {
        "name": "ImagingPlane",
        "description": f"The imaging plane of the {kind} data (exported by roicore-nwb from a {described}).",
        "indicator": "unknown",
        "location": "unknown",
        "device": "Microscope",
        "optical_channel": [{"name": "OpticalChannel", "description": "The optical channel of the recording.",
                             "emission_lambda": float("nan")}],
        "excitation_lambda": float("nan"),
    }
    if rate is not None:
        plane["imaging_rate"] = float(rate)
    ophys: dict[str, Any] = {
        "Device": [{"name": "Microscope", "description": "The microscope that recorded the data."}],
        "ImagingPlane": [plane],
    }
    if kind == "imaging":
        ophys["TwoPhotonSeries"] = [{
            "name": "TwoPhotonSeries",
            "description": f"Imaging data exported by roicore-nwb from a {described}.",
            "unit": "n.a.",
            "imaging_plane": "ImagingPlane",
        }]
    else:
        ophys["ImageSegmentation"] = {
            "name": "ImageSegmentation",
            "plane_segmentations": [
                {"name": "PlaneSegmentation", "description": f"ROIs exported by roicore-nwb from a {described}.",
                 "imaging_plane": "ImagingPlane"},
                {"name": "BackgroundPlaneSegmentation", "description": "Background components (kept apart from the ROIs).",
                 "imaging_plane": "ImagingPlane"},
            ],
        }
        fluorescence: dict[str, Any] = {"PlaneSegmentation": {}, "BackgroundPlaneSegmentation": {}}
        dff: dict[str, Any] = {"PlaneSegmentation": {}}
        for name in trace_names:
            if name == "background":
                fluorescence["BackgroundPlaneSegmentation"]["background"] = {
                    "name": "Background", "description": "Traces of the background components.", "unit": "n.a."}
                continue
            container, series = TRACE_SERIES.get(name, ("Fluorescence", name))
            target = dff if container == "DfOverF" else fluorescence
            target["PlaneSegmentation"][name] = {
                "name": series, "description": _TRACE_DESCRIPTIONS.get(name, f"The {name} traces of each ROI."), "unit": "n.a."}
        ophys["Fluorescence"] = {"name": "Fluorescence", **fluorescence}
        ophys["DfOverF"] = {"name": "DfOverF", **dff}
        ophys["SegmentationImages"] = {
            "name": "SegmentationImages",
            "description": "The summary images of the segmentation.",
            "PlaneSegmentation": {name: {"name": name, "description": f"The {name} image."} for name in image_names},
        }
    return {
        "NWBFile": {
            "session_description": f"{kind.capitalize()} data exported by roicore-nwb from a {described}.",
            "identifier": str(uuid.uuid4()),
            "session_start_time": datetime.now(timezone.utc).replace(microsecond=0),
            "source_script": f"roicore-nwb v{_version()}",
            "source_script_file_name": "roicore_nwb/writer.py",
        },
        "Ophys": ophys,
    }
