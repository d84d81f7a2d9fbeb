"""Detection: ``sniff(path, header) -> Support`` for the ``tiff`` and ``scanimage`` readers.

Both read at most a TIFF header and its first IFD per file (no tifffile import),
never raise, and answer in one sentence. A ScanImage file is the ``scanimage``
reader's alone: ``tiff`` declines it, so the two never tie.
"""

from __future__ import annotations

import struct
from pathlib import Path

from roicore.registry.specs import Support

from roicore_tiff.files import list_tiffs
from roicore_tiff.header import SCANIMAGE_MAGIC, NotTiffError, TiffHeader, read_tiff_header

__all__ = ["sniff_tiff", "sniff_scanimage"]

_FOLDER_SAMPLE = 4  # files examined at each end of a folder: detection stays cheap for 10k-file folders


def _header_of(path: Path, prefix: bytes) -> TiffHeader | str | None:
    """The parsed header, None when it is not a TIFF, or the damage as text."""
    try:
        return read_tiff_header(path, prefix)
    except NotTiffError:
        return None
    except (ValueError, OSError, struct.error) as exc:
        return str(exc) or type(exc).__name__


def _folder_sample(folder: Path) -> list[Path]:
    try:
        files = list_tiffs(folder)
    except OSError:
        return []
    if len(files) <= 2 * _FOLDER_SAMPLE:
        return files
    return files[:_FOLDER_SAMPLE] + files[-_FOLDER_SAMPLE:]


def _kind(header: TiffHeader) -> str:
    if header.is_ome:
        return "an OME-TIFF"
    if header.is_imagej:
        return "an ImageJ TIFF"
    return "a BigTIFF" if header.bigtiff else "a TIFF"


def sniff_tiff(path: Path, header: bytes) -> Support:
    """YES for a TIFF file or a folder of TIFF files that ScanImage did not write."""
    path = Path(path)
    if path.is_dir():
        files = _folder_sample(path)
        if not files:
            return Support.no("the folder holds no .tif/.tiff file")
        for file in files:
            parsed = _header_of(file, b"")
            if parsed is None:
                return Support.no(f"{file.name} in the folder is not a TIFF file")
            if isinstance(parsed, str):
                return Support.maybe(f"{file.name} in the folder looks like a damaged TIFF ({parsed})")
            if parsed.is_scanimage:
                return Support.no("the folder holds ScanImage files: the scanimage reader reads them")
        return Support.yes("a folder of TIFF files, read as one video in natural name order")
    parsed = _header_of(path, header)
    if parsed is None:
        return Support.no("no TIFF signature (II*/MM*/II+/MM+)")
    if isinstance(parsed, str):
        return Support.maybe(f"a TIFF signature but a damaged header or first IFD: {parsed}")
    if parsed.is_scanimage:
        return Support.no("a ScanImage file: the scanimage reader reads it")
    return Support.yes(f"{_kind(parsed)} file")


def _has_static_magic(prefix: bytes) -> bool:
    return len(prefix) >= 20 and prefix[:4] == b"II+\x00" and struct.unpack("<I", prefix[16:20])[0] == SCANIMAGE_MAGIC


def sniff_scanimage(path: Path, header: bytes) -> Support:
    """YES for a ScanImage TIFF file (or a folder of them)."""
    path = Path(path)
    if path.is_dir():
        files = _folder_sample(path)
        found = 0
        for file in files:
            parsed = _header_of(file, b"")
            if isinstance(parsed, TiffHeader) and parsed.is_scanimage:
                found += 1
        if files and found == len(files):
            return Support.yes("a folder of ScanImage TIFF files")
        return Support.no("the folder holds no ScanImage TIFF files" if not found else "the folder mixes ScanImage and other files")
    parsed = _header_of(path, header)
    if parsed is None:
        return Support.no("no TIFF signature")
    if isinstance(parsed, str):
        if _has_static_magic(header):
            return Support.maybe(f"ScanImage's static metadata magic, but a damaged TIFF: {parsed}")
        return Support.no(f"a damaged TIFF without ScanImage's marks ({parsed})")
    if parsed.scanimage_static is not None:
        return Support.yes(f"ScanImage BigTIFF (static metadata version {parsed.scanimage_static[0]})")
    if parsed.is_scanimage:
        return Support.yes("ScanImage TIFF (SI. frame data in the Software tag)")
    return Support.no("a TIFF file that ScanImage did not write")
