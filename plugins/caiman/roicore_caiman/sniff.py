"""Cheap detection of CaImAn CNMF HDF5 results.

Called by roicore's detection after a static match (``.hdf5``/``.h5`` suffix
or the HDF5 signature). It opens the file read-only, looks only at group
membership and the tiny ``estimates/A/shape`` member, never raises, and
declines every other HDF5 file with a reason. h5py is imported inside the
function so that merely listing the reader imports nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from roicore.registry.specs import Support

__all__ = ["sniff", "HDF5_SIGNATURE"]

#: The first 8 bytes of every HDF5 file without a user block.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def sniff(path: str | os.PathLike[str], header: bytes) -> Support:
    """Say whether ``path`` is a CaImAn CNMF result saved with ``CNMF.save()``.

    Parameters
    ----------
    path : path-like
        The candidate file.
    header : bytes
        Its first bytes, as read by roicore's detection (may be empty).

    Returns
    -------
    Support
        YES for an HDF5 file with CaImAn's ``estimates`` and ``params`` groups
        and a spatial-footprint member ``estimates/A``; NO, with the reason,
        for anything else. It never raises.
    """
    try:
        return _sniff(Path(os.fspath(path)), header)
    except Exception as exc:  # a sniff must never raise
        return Support.no(f"could not be inspected ({_first_line(exc)})")


def _sniff(path: Path, header: bytes) -> Support:
    if path.is_dir():
        return Support.no("a folder, not a CaImAn HDF5 file")
    if header and not header.startswith(HDF5_SIGNATURE):
        # HDF5 allows a user block that moves the signature to 512, 1024, ... bytes
        if HDF5_SIGNATURE not in header:
            return Support.no("no HDF5 signature at the start of the file")
    try:
        import h5py
    except ImportError:
        return Support.no("h5py is not installed (pip install h5py)")
    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        return Support.no(f"h5py cannot open it as HDF5 ({_first_line(exc)}): truncated or not HDF5")
    with handle:
        return _inspect(handle, h5py)


def _links_out(handle: Any, h5py: Any) -> bool:
    """True when a member this sniff would touch is an HDF5 external link (which it must not follow)."""
    from roicore_caiman.links import is_external

    if is_external(handle, "estimates") or is_external(handle, "params"):
        return True
    if handle.get("estimates", getclass=True) is not h5py.Group:
        return False
    estimates = handle["estimates"]
    if is_external(estimates, "A"):
        return True
    return estimates.get("A", getclass=True) is h5py.Group and is_external(estimates["A"], "shape")


def _inspect(handle: Any, h5py: Any) -> Support:
    if _links_out(handle, h5py):  # the reader refuses it, naming the link
        return Support.maybe("an HDF5 file with external links where a CaImAn result has its groups")
    estimates = handle.get("estimates", getclass=True)
    if estimates is None:
        return Support.no("HDF5 without an 'estimates' group: not a CaImAn CNMF result")
    if estimates is not h5py.Group:
        return Support.no("'estimates' is not a group: not a CaImAn CNMF result")
    params = handle.get("params", getclass=True)
    if params is not h5py.Group:
        return Support.no("has 'estimates' but no 'params' group: not a CaImAn CNMF result")
    group = handle["estimates"]
    kind = group.get("A", getclass=True)
    if kind is None:
        return Support.no("CaImAn-like groups, but 'estimates' has no spatial footprints 'A'")
    if kind is h5py.Dataset:
        dataset = group["A"]
        if dataset.ndim == 0:
            # CaImAn's placeholder "NoneType": the CNMF object was saved before fitting
            return Support.no("a CaImAn CNMF file without results: estimates/A is NoneType (saved before fitting)")
        return Support.yes(f"CaImAn CNMF result (estimates/A dense {dataset.shape}, params)")
    if kind is not h5py.Group:
        return Support.no("estimates/A is neither a dataset nor a sparse-matrix group")
    footprints = group["A"]
    shape = footprints.get("shape")
    if isinstance(shape, h5py.Dataset) and shape.shape == (2,) and shape.dtype.kind in "iuf":
        pixels, components = (int(v) for v in shape[()])
        return Support.yes(f"CaImAn CNMF result ({components} components over {pixels} pixels in estimates/A, params)")
    # claimed, so that the reader reports what is wrong instead of "no reader"
    return Support.yes("CaImAn CNMF layout (estimates/A group, params); estimates/A looks incomplete")
