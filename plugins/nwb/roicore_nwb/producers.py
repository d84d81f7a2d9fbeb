"""Which program wrote an NWB file, and the axis conventions that follow from it.

NWB's schema names image axes ``x, y`` (``image_mask`` is ``[num_roi, num_x,
num_y]``, ``TwoPhotonSeries.data`` is ``[num_times, num_x, num_y]``) but
exporters disagree on what ``x`` is. Each rule below is learned from the
exporter's public source (the README cites them); the producer is detected
from what the file itself says.

=========== =================== ====================== =============== ==============
producer    image_mask          pixel_mask x / y       summary images  photon series
=========== =================== ====================== =============== ==============
caiman      ``A`` column (pixels in Fortran order) reshaped C-order to ``dims``: read back as F-order pixels
suite2p     (not written)       x = row, y = column    (rows, columns) external file
neuroconv   (n, columns, rows)  x = row, y = column    (columns, rows) (t, columns, rows)
roicore     as neuroconv
nwb         (n, columns, rows)  x = column, y = row    (columns, rows) (t, columns, rows)
=========== =================== ====================== =============== ==============

``nwb`` is the schema's reading (x = width = column) used for files whose
producer is unknown; it is also how roiextractors' NWB readers transpose.
A reader argument ``convention=`` overrides the detection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import h5py

from roicore_nwb.layout import attr_text, dataset_text, iter_typed

__all__ = ["Convention", "CONVENTIONS", "detect_convention"]


@dataclass(frozen=True)
class Convention:
    """How one producer lays out masks and images.

    Attributes
    ----------
    producer : str
        ``"caiman"``, ``"suite2p"``, ``"neuroconv"``, ``"roicore"`` or ``"nwb"``.
    image_mask : str
        ``"fortran"`` (CaImAn), ``"columns-first"`` (``(n, columns, rows)``) or ``"rows-first"``.
    pixel_row_field : str
        The pixel_mask/voxel_mask field that holds the row (``"x"`` or ``"y"``).
    images : str
        ``"columns-first"`` or ``"rows-first"`` for summary images.
    series : str
        ``"columns-first"`` (``(t, columns, rows)``) or ``"rows-first"`` for photon series data.
    evidence : str
        What in the file identified the producer.
    """

    producer: str
    image_mask: str
    pixel_row_field: str
    images: str
    series: str
    evidence: str = ""


CONVENTIONS: dict[str, Convention] = {
    "caiman": Convention("caiman", "fortran", "y", "rows-first", "columns-first"),
    "suite2p": Convention("suite2p", "rows-first", "x", "rows-first", "columns-first"),
    "neuroconv": Convention("neuroconv", "columns-first", "x", "columns-first", "columns-first"),
    "roicore": Convention("roicore", "columns-first", "x", "columns-first", "columns-first"),
    "nwb": Convention("nwb", "columns-first", "y", "columns-first", "columns-first"),
    # for files that store every axis in (rows, columns) order
    "rows-first": Convention("rows-first", "rows-first", "x", "rows-first", "rows-first"),
}


def _plane_segmentations(handle: h5py.File) -> list[Any]:
    return [group for _, group in iter_typed(handle, ("PlaneSegmentation",))]


def _table_producer(group: Any) -> Convention | None:
    """The producer a PlaneSegmentation's own description or name names, if any."""
    description = attr_text(group, "description")
    name = group.name.rsplit("/", 1)[-1]
    if "(roicore-nwb; frame:" in description:
        return replace(CONVENTIONS["roicore"], evidence=f"PlaneSegmentation {group.name} written by roicore-nwb")
    if "CNMF_ROIs" in (description, name):
        return replace(CONVENTIONS["caiman"], evidence=f"PlaneSegmentation {group.name} described {description!r}")
    if description == "suite2p output":
        return replace(CONVENTIONS["suite2p"], evidence=f"PlaneSegmentation {group.name} described 'suite2p output'")
    return None


def detect_convention(handle: h5py.File, override: str | None = None, table: Any = None) -> Convention:
    """The convention of the file's producer (``override`` names one of :data:`CONVENTIONS`).

    ``table`` (the PlaneSegmentation being read) is asked first: a file may
    hold tables of several producers (a roicore table appended to a suite2p file).
    """
    if override is not None:
        if override not in CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, not {override!r}")
        return replace(CONVENTIONS[override], evidence="convention= argument")
    if table is not None:
        found = _table_producer(table)
        if found is not None:
            return found
    general = handle.get("general")
    script = dataset_text(general, "source_script") if isinstance(general, h5py.Group) else ""
    if script.lower().startswith("roicore-nwb"):
        return replace(CONVENTIONS["roicore"], evidence=f"general/source_script {script!r}")
    if "neuroconv" in script.lower():
        return replace(CONVENTIONS["neuroconv"], evidence=f"general/source_script {script.splitlines()[0]!r}")
    for group in _plane_segmentations(handle):
        found = _table_producer(group)
        if found is not None:
            return found
    processing = handle.get("processing")
    if isinstance(processing, h5py.Group):
        for name in processing:
            module = processing.get(name)
            if isinstance(module, h5py.Group) and "caiman" in attr_text(module, "description").lower():
                return replace(CONVENTIONS["caiman"], evidence=f"processing module {name!r} describes CaImAn estimates")
    session = dataset_text(handle, "session_description")
    if session == "suite2p_proc":
        return replace(CONVENTIONS["suite2p"], evidence="session_description 'suite2p_proc'")
    if session == "CaImAn Results":
        return replace(CONVENTIONS["caiman"], evidence="session_description 'CaImAn Results'")
    return replace(CONVENTIONS["nwb"], evidence="no known producer named in the file: the NWB schema's x = column")
