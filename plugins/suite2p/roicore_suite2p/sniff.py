"""Cheap detection of suite2p folders and binaries: headers and file names only, never a pickle.

A plane folder holds ``stat.npy`` (a 1-D object array), a trace file or the
classifier output (``F.npy`` or ``iscell.npy``) and its settings (``ops.npy``
in 0.x, ``db.npy`` in 1.x). A suite2p output folder holds ``planeN`` folders
of that kind. A registered binary (``data.bin``, ``data_raw.bin``,
``data_chan2.bin``, ``data_chan2_raw.bin``) has no header at all: it is
claimed only with suite2p's settings beside it, which give its shape. Each
sniff answers NO, with the reason, for everything else (damaged copies
included) and never raises.
"""

from __future__ import annotations

import os
from pathlib import Path

from roicore.errors import CorruptFileError
from roicore.registry.specs import Support
from roicore.safeload import read_npy_header

__all__ = ["sniff_folder", "sniff_binary", "BINARY_NAMES"]

#: the binaries suite2p writes into a plane folder (registered, raw, and the second channel's)
BINARY_NAMES = ("data.bin", "data_raw.bin", "data_chan2.bin", "data_chan2_raw.bin")


def _plane_verdict(folder: Path) -> Support:
    stat = folder / "stat.npy"
    if not stat.is_file():
        return Support.no(f"{folder.name} has no stat.npy file")
    try:
        header = read_npy_header(stat)
    except (CorruptFileError, OSError) as exc:
        return Support.no(f"its stat.npy is not a readable .npy file ({exc})")
    if not header.dtype.hasobject or len(header.shape) != 1:
        return Support.no(f"its stat.npy is a {header.dtype} array {header.shape}, not suite2p's list of ROI dicts")
    if not ((folder / "F.npy").is_file() or (folder / "iscell.npy").is_file()):
        return Support.no("stat.npy without F.npy or iscell.npy: not a suite2p plane folder")
    if (folder / "db.npy").is_file():
        layout = "1.x (db.npy)"
    elif (folder / "ops.npy").is_file():
        layout = "0.x (ops.npy)"
    else:
        return Support.no("stat.npy without ops.npy or db.npy: the frame shape is unknown")
    return Support.yes(f"suite2p plane folder, {header.shape[0]} ROIs in stat.npy, {layout} layout")


def sniff_folder(path: str | os.PathLike[str], header: bytes) -> Support:
    """Claim a suite2p plane folder, a ``combined`` folder, or a ``suite2p`` folder of ``planeN`` folders."""
    try:
        folder = Path(os.fspath(path))
        if not folder.is_dir():
            return Support.no("a file, not a suite2p output folder")
        if (folder / "stat.npy").exists():
            return _plane_verdict(folder)
        from roicore_suite2p.layout import plane_folders

        planes = plane_folders(folder)
        if not planes:
            return Support.no("no stat.npy and no planeN folders: not a suite2p output folder")
        first_number, first = next(iter(planes.items()))
        verdict = _plane_verdict(first)
        if not verdict:
            return Support.no(f"plane{first_number}: {verdict.reason}")
        combined = " and a combined folder" if (folder / "combined").is_dir() else ""
        return Support.yes(f"suite2p output folder with {len(planes)} plane folder(s){combined}")
    except Exception as exc:  # a sniff must never raise
        return Support.no(f"could not be inspected ({type(exc).__name__}: {exc})")


def sniff_binary(path: str | os.PathLike[str], header: bytes) -> Support:
    """Claim suite2p's registered or raw binary when suite2p's settings (``ops.npy`` or ``db.npy``) sit beside it."""
    try:
        file = Path(os.fspath(path))
        if file.name not in BINARY_NAMES:
            return Support.no(f"not one of suite2p's binary names ({', '.join(BINARY_NAMES)})")
        if not file.is_file():
            return Support.no("not a file")
        beside = [name for name in ("db.npy", "ops.npy") if (file.parent / name).is_file()]
        if not beside:
            return Support.no(f"no ops.npy or db.npy beside {file.name}: its frame shape is unknown")
        try:
            settings_header = read_npy_header(file.parent / beside[0])
        except (CorruptFileError, OSError) as exc:
            return Support.no(f"{beside[0]} beside it is not a readable .npy file ({exc})")
        if settings_header.shape != () or not settings_header.dtype.hasobject:
            return Support.no(f"{beside[0]} beside it is not a settings dict ({settings_header.dtype} {settings_header.shape})")
        return Support.yes(f"suite2p binary with {beside[0]} beside it")
    except Exception as exc:  # a sniff must never raise
        return Support.no(f"could not be inspected ({type(exc).__name__}: {exc})")
