"""Detection: does an HDF5 file hold exactly one video dataset that is not another format's?

Called by roicore's detection after a static match (``.h5``/``.hdf5``/``.he5``
suffix or the HDF5 signature). It opens the file read-only, looks at root
attributes and the object tree (never at pixel data), never raises, and
declines NWB files and CaImAn results by name. h5py is imported inside the
function so that listing the reader imports nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path

from roicore.registry.specs import Support

__all__ = ["sniff", "HDF5_SIGNATURE"]

#: The first 8 bytes of an HDF5 file (at offset 0, 512, 1024, ... when there is a user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def sniff(path: str | os.PathLike[str], header: bytes) -> Support:
    """Say whether ``path`` is an HDF5 video this plugin reads.

    Parameters
    ----------
    path : path-like
        The candidate file.
    header : bytes
        Its first bytes, as read by roicore's detection (may be empty).

    Returns
    -------
    Support
        YES for an HDF5 file holding exactly one numeric 3-D to 5-D dataset
        and not NWB or a CaImAn result; MAYBE when it holds several (opening
        it then lists them and asks for ``dataset=``); NO, with the reason,
        otherwise. It never raises.
    """
    try:
        return _sniff(Path(os.fspath(path)), header)
    except Exception as exc:  # a sniff must never raise
        return Support.no(f"could not be inspected ({_first_line(exc)})")


def _sniff(path: Path, header: bytes) -> Support:
    if path.is_dir():
        return Support.no("a folder, not an HDF5 file")
    if header and HDF5_SIGNATURE not in header:
        return Support.no("no HDF5 signature in the file's header")
    try:
        import h5py
    except ImportError:
        return Support.no("h5py is not installed (pip install h5py)")
    from roicore_hdf5.layout import MAX_OBJECTS, find_candidates, foreign_layout

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        return Support.no(f"h5py cannot open it as HDF5 ({_first_line(exc)}): truncated or not HDF5")
    with handle:
        foreign = foreign_layout(handle)
        if foreign is not None:
            return Support.no(foreign)
        candidates, complete = find_candidates(handle)
    if not complete:
        return Support.maybe(
            f"an HDF5 file with more than {MAX_OBJECTS} objects; open it with dataset=... to name the video"
        )
    if not candidates:
        return Support.no("HDF5 without a numeric 3-D to 5-D dataset: no video")
    if len(candidates) > 1:
        listed = ", ".join(c.describe() for c in candidates[:5])
        more = f" and {len(candidates) - 5} more" if len(candidates) > 5 else ""
        return Support.maybe(f"{len(candidates)} candidate video datasets ({listed}{more}): needs dataset=...")
    return Support.yes(f"one video dataset {candidates[0].describe()}")
