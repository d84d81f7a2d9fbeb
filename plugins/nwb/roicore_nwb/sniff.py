"""Cheap detection of NWB ophys files, never by suffix alone.

An NWB 2.x file is HDF5 whose root group has the attribute ``nwb_version``
(and, when written by pynwb/matnwb, a cached schema in ``/specifications``).
The segmentation sniff says YES when the file holds a ``PlaneSegmentation``;
the imaging sniff says YES for a ``TwoPhotonSeries``/``OnePhotonSeries`` in a
file without segmentation, and MAYBE when both are present, so that
``roicore.open(path)`` picks the segmentation and ``kind="imaging"`` the
video. Both look at group attributes only, never raise, and answer NO for
every other HDF5 file (CaImAn results, SIMA videos, damaged copies).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from roicore.registry.specs import Support

__all__ = ["sniff_segmentation", "sniff_imaging"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _inventory(path: Path, header: bytes) -> tuple[Support | None, dict[str, list[str]]]:
    """(a NO verdict, or None) and the typed ophys objects the file holds."""
    if path.is_dir():
        return Support.no("a folder, not an NWB file"), {}
    if header and _SIGNATURE not in header:
        return Support.no("no HDF5 signature: not an NWB file"), {}
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        return Support.no("h5py is not installed"), {}
    from roicore_nwb.layout import PHOTON_SERIES, attr_text, iter_typed

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        return Support.no(f"h5py cannot open it ({_first_line(exc)}): truncated or not HDF5"), {}
    with handle:
        if "nwb_version" not in handle.attrs:
            return Support.no("HDF5 without the root attribute 'nwb_version': not an NWB file"), {}
        version = attr_text(handle, "nwb_version")
        found: dict[str, list[str]] = {"version": [version], "segmentation": [], "imaging": []}
        for name, _group in iter_typed(handle, ("PlaneSegmentation",) + PHOTON_SERIES):
            kind = "segmentation" if attr_text(_group, "neurodata_type") == "PlaneSegmentation" else "imaging"
            found[kind].append(name)
        return None, found


def _guarded(path: Any, header: bytes) -> tuple[Support | None, dict[str, list[str]]]:
    try:
        return _inventory(Path(os.fspath(path)), header)
    except Exception as exc:  # a sniff must never raise
        return Support.no(f"could not be inspected ({_first_line(exc)})"), {}


def sniff_segmentation(path: str | os.PathLike[str], header: bytes) -> Support:
    """YES for an NWB file holding at least one PlaneSegmentation; NO, with the reason, otherwise."""
    verdict, found = _guarded(path, header)
    if verdict is not None:
        return verdict
    version = found["version"][0]
    if found["segmentation"]:
        names = ", ".join(found["segmentation"][:3])
        return Support.yes(f"NWB {version} with PlaneSegmentation ({names})")
    return Support.no(f"NWB {version} without a PlaneSegmentation")


def sniff_imaging(path: str | os.PathLike[str], header: bytes) -> Support:
    """YES for an NWB file with a photon series and no segmentation, MAYBE with both, else NO."""
    verdict, found = _guarded(path, header)
    if verdict is not None:
        return verdict
    version = found["version"][0]
    if not found["imaging"]:
        return Support.no(f"NWB {version} without a TwoPhotonSeries or OnePhotonSeries")
    names = ", ".join(found["imaging"][:3])
    if found["segmentation"]:
        return Support.maybe(f"NWB {version} with imaging ({names}) and segmentation; open with kind='imaging'")
    return Support.yes(f"NWB {version} with imaging ({names})")
