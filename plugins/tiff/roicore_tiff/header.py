"""A minimal TIFF header and first-IFD parser for detection (standard library only).

Detection must stay cheap and must never raise, so it does not import tifffile:
it reads the byte order, the version (classic TIFF or BigTIFF), the first IFD
and, from that IFD, the two text tags that tell ScanImage files apart
(Software and ImageDescription), plus ScanImage's static metadata magic that
follows the BigTIFF header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TiffHeader", "read_tiff_header", "TIFF_MAGICS", "SCANIMAGE_MAGIC", "NotTiffError"]

#: the four TIFF signatures: classic and BigTIFF, little- and big-endian
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: ScanImage's static metadata block after the BigTIFF header starts with this uint32
SCANIMAGE_MAGIC = 117637889

_SOFTWARE, _DESCRIPTION = 305, 270
_MAX_TAGS = 4096  # a sane IFD has a few dozen tags; more means a damaged or foreign file
_MAX_TEXT = 1 << 20


class NotTiffError(ValueError):
    """The bytes are not a TIFF file (wrong signature)."""


@dataclass(frozen=True)
class TiffHeader:
    """What detection knows about a TIFF file after reading its header and first IFD.

    Attributes
    ----------
    byteorder : str
        ``"<"`` or ``">"``.
    bigtiff : bool
    first_ifd : int
        File offset of the first IFD.
    software, description : str
        The first IFD's Software and ImageDescription tags ("" when absent).
    scanimage_static : tuple of int or None
        ``(version, frame data length, ROI data length)`` when ScanImage's static
        metadata block follows the BigTIFF header.
    """

    byteorder: str
    bigtiff: bool
    first_ifd: int
    software: str
    description: str
    scanimage_static: tuple[int, int, int] | None

    @property
    def is_scanimage(self) -> bool:
        """ScanImage wrote this file: its static block, or the marks tifffile's ``is_scanimage`` looks for."""
        return (
            self.scanimage_static is not None
            or self.software.startswith("SI.")
            or self.description.startswith("state.")
            or "scanimage.SI" in self.description[-256:]
        )

    @property
    def is_ome(self) -> bool:
        """The first description is OME-XML."""
        start = self.description[:512].lstrip()
        return start.startswith("<?xml") and "<OME" in self.description[:4096] or start.startswith("<OME")

    @property
    def is_imagej(self) -> bool:
        """The first description is ImageJ's ``ImageJ=...`` block."""
        return self.description.startswith("ImageJ=")


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")


def read_tiff_header(path: Path, prefix: bytes = b"") -> TiffHeader:
    """Parse the header and first IFD of ``path``.

    Parameters
    ----------
    path : Path
        The file.
    prefix : bytes
        Its first bytes, when already read (detection passes its 4 KiB header).

    Raises
    ------
    NotTiffError
        The file does not start with a TIFF signature.
    ValueError
        A TIFF signature, but the header or the first IFD is damaged (truncated,
        offsets past the end of the file, absurd tag counts).
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as handle:
        head = prefix if len(prefix) >= 16 else handle.read(16)
        if head[:4] not in TIFF_MAGICS:
            raise NotTiffError(f"{path.name} does not start with a TIFF signature")
        handle.seek(0, 2)
        size = handle.tell()
        order = "<" if head[:2] == b"II" else ">"
        bigtiff = head[2:4] in (b"+\x00", b"\x00+")
        if len(head) < (16 if bigtiff else 8):
            raise ValueError("the TIFF header is truncated")
        if bigtiff:
            offset_size, zero = struct.unpack(order + "HH", head[4:8])
            if offset_size != 8 or zero != 0:
                raise ValueError(f"a BigTIFF header with offset size {offset_size} (must be 8)")
            (first,) = struct.unpack(order + "Q", head[8:16])
        else:
            (first,) = struct.unpack(order + "I", head[4:8])
        if first < 8 or first >= size:
            raise ValueError(f"the first IFD offset {first} is outside the file ({size} bytes)")
        static = None
        if bigtiff and order == "<":
            handle.seek(16)
            block = handle.read(16)
            if len(block) == 16:
                magic, version, length0, length1 = struct.unpack("<IIII", block)
                if magic == SCANIMAGE_MAGIC:
                    static = (version, length0, length1)
        count_format, entry_size, value_size = ("Q", 20, 8) if bigtiff else ("H", 12, 4)
        handle.seek(first)
        raw_count = handle.read(struct.calcsize(count_format))
        if len(raw_count) < struct.calcsize(count_format):
            raise ValueError("the first IFD is truncated")
        (count,) = struct.unpack(order + count_format, raw_count)
        if count == 0 or count > _MAX_TAGS:
            raise ValueError(f"the first IFD claims {count} tags")
        entries = handle.read(count * entry_size)
        if len(entries) < count * entry_size:
            raise ValueError("the first IFD is truncated")
        texts: dict[int, str] = {}
        entry_format = order + ("HHQ" if bigtiff else "HHI")
        for index in range(count):
            entry = entries[index * entry_size:(index + 1) * entry_size]
            tag, kind, length = struct.unpack(entry_format, entry[: entry_size - value_size])
            if tag not in (_SOFTWARE, _DESCRIPTION) or kind != 2 or length > _MAX_TEXT:
                continue
            value = entry[entry_size - value_size:]
            if length <= value_size:
                texts[tag] = _text(value[:length])
                continue
            (where,) = struct.unpack(order + ("Q" if bigtiff else "I"), value)
            if where + length > size:
                raise ValueError(f"tag {tag} points past the end of the file")
            handle.seek(where)
            texts[tag] = _text(handle.read(length))
    return TiffHeader(order, bigtiff, first, texts.get(_SOFTWARE, ""), texts.get(_DESCRIPTION, ""), static)
