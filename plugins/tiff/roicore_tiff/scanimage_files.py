"""Write TIFF files byte for byte in ScanImage's (2016 and later) BigTIFF layout, for samples and tests.

tifffile cannot write ScanImage's static metadata block, so this module lays
the bytes out itself, following ScanImage's BigTIFF specification:

1. the BigTIFF header (``II``, 43, offset size 8, 0, first IFD offset);
2. at byte 16, ScanImage's static block: uint32 magic 117637889, uint32
   version (3 or 4), uint32 length of the non-varying frame data, uint32
   length of the ROI group data, then the frame data (``SI.x = value`` lines,
   MATLAB syntax, NUL-terminated) and the ROI group JSON (NUL-terminated);
3. one IFD per frame (channel fastest, then slice, flyback frames after each
   volume), each followed by its ImageDescription (the frame-varying
   ``frameNumbers = ...``, ``frameTimestamps_sec = ...`` lines) and its image
   strip. Every IFD's Software tag (305) points at the frame data and its
   Artist tag (315) at the ROI JSON in the static block, as ScanImage does.

The pixel values and the timestamps are the caller's: they are the ground truth.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["frame_data_text", "write_scanimage_tiff", "matlab_value"]

_ASCII, _SHORT, _LONG, _RATIONAL, _LONG8 = 2, 3, 4, 5, 16
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


def matlab_value(value: Any) -> str:
    """A Python value written as ScanImage writes MATLAB values (``true``, ``'text'``, ``[1;2]``, ``{'a' 'b'}``, ``Inf``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and np.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if isinstance(value, tuple):  # cell array of strings
        return "{" + " ".join(matlab_value(item) for item in value) + "}"
    if isinstance(value, list):  # column vector, as channelSave is stored
        return "[" + ";".join(matlab_value(item) for item in value) + "]"
    return repr(value)


def frame_data_text(settings: dict[str, Any]) -> str:
    """The non-varying frame data: one ``SI.key = value`` line per setting."""
    return "".join(f"{key} = {matlab_value(value)}\n" for key, value in settings.items())


def _roi_groups(rows: int, columns: int) -> dict[str, Any]:
    scanfield = {
        "ver": 1,
        "classname": "scanimage.mroi.scanfield.fields.RotatedRectangle",
        "name": "Default Imaging Scanfield",
        "centerXY": [0, 0],
        "sizeXY": [1, 1],
        "rotationDegrees": 0,
        "enable": 1,
        "pixelResolutionXY": [columns, rows],
    }
    return {
        "RoiGroups": {
            "imagingRoiGroup": {
                "ver": 1,
                "classname": "scanimage.mroi.RoiGroup",
                "name": "Default Imaging ROI Group",
                "UserData": None,
                "rois": {"ver": 1, "classname": "scanimage.mroi.Roi", "name": "Default Imaging Roi", "zs": 0,
                         "scanfields": scanfield, "discretePlaneMode": 0},
            },
            "photostimRoiGroups": None,
            "integrationRoiGroup": {"ver": 1, "classname": "scanimage.mroi.RoiGroup", "name": "", "rois": {"_ArrayType_": "double", "_ArraySize_": [0, 0], "_ArrayData_": None}},
        }
    }


def _description(frame_number: int, acquisition: int, timestamp: float) -> str:
    return (
        f"frameNumbers = {frame_number}\n"
        f"acquisitionNumbers = {acquisition}\n"
        f"frameNumberAcquisition = {frame_number}\n"
        f"frameTimestamps_sec = {timestamp:.6f}\n"
        "acqTriggerTimestamps_sec = \n"
        "nextFileMarkerTimestamps_sec = \n"
        "endOfAcquisition = 0\n"
        "endOfAcquisitionMode = 0\n"
        "dcOverVoltage = 0\n"
        "epoch = [2016 6 21 16 3 45.452]\n"
        "auxTrigger0 = []\n"
        "auxTrigger1 = []\n"
        "auxTrigger2 = []\n"
        "auxTrigger3 = []\n"
        "I2CData = {}\n"
    )


def _entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    return struct.pack("<HHQ", tag, kind, count) + value.ljust(8, b"\x00")


def write_scanimage_tiff(
    path: Path,
    pages: np.ndarray,
    settings: dict[str, Any],
    *,
    frame_numbers: Sequence[int],
    timestamps: Sequence[float],
    acquisition: int = 1,
    version: int = 3,
) -> Path:
    """Write ``pages`` ``(n, rows, columns)`` as a ScanImage BigTIFF.

    Parameters
    ----------
    path : Path
    pages : ndarray
        The IFDs' images in file order (channels interleaved, flyback frames included).
    settings : dict
        ``SI.*`` non-varying settings.
    frame_numbers, timestamps : sequence
        ``frameNumbers`` and ``frameTimestamps_sec`` of each page (ScanImage gives
        every channel of one frame the same number and time).
    acquisition : int
        ``acquisitionNumbers``.
    version : int
        The static block's version (3: ScanImage 2016-2018, 4: 2019 and later).
    """
    pages = np.ascontiguousarray(pages)
    dtype = pages.dtype.newbyteorder("<")
    count, rows, columns = pages.shape
    frame_text = frame_data_text(settings).encode("ascii") + b"\x00"
    roi_text = json.dumps(_roi_groups(rows, columns)).encode("ascii") + b"\x00"
    static_start = 16
    frame_data_at = static_start + 16
    roi_at = frame_data_at + len(frame_text)
    position = roi_at + len(roi_text)
    chunks = [b"", struct.pack("<IIII", 117637889, version, len(frame_text), len(roi_text)), frame_text, roi_text]
    first_ifd = position
    tag_count = 18  # the entries below
    ifd_size = 8 + tag_count * 20 + 8
    for index in range(count):
        description = _description(int(frame_numbers[index]), acquisition, float(timestamps[index])).encode("ascii") + b"\x00"
        description_at = position + ifd_size
        resolution_at = description_at + len(description)
        data_at = resolution_at + 16
        strip = pages[index].astype(dtype, copy=False).tobytes()
        next_ifd = data_at + len(strip) if index + 1 < count else 0
        entries = [
            _entry(256, _LONG, 1, struct.pack("<I", columns)),
            _entry(257, _LONG, 1, struct.pack("<I", rows)),
            _entry(258, _SHORT, 1, struct.pack("<H", dtype.itemsize * 8)),
            _entry(259, _SHORT, 1, struct.pack("<H", 1)),
            _entry(262, _SHORT, 1, struct.pack("<H", 1)),
            _entry(270, _ASCII, len(description), struct.pack("<Q", description_at)),
            _entry(273, _LONG8, 1, struct.pack("<Q", data_at)),
            _entry(274, _SHORT, 1, struct.pack("<H", 1)),
            _entry(277, _SHORT, 1, struct.pack("<H", 1)),
            _entry(278, _LONG, 1, struct.pack("<I", rows)),
            _entry(279, _LONG8, 1, struct.pack("<Q", len(strip))),
            _entry(282, _RATIONAL, 1, struct.pack("<Q", resolution_at)),
            _entry(283, _RATIONAL, 1, struct.pack("<Q", resolution_at + 8)),
            _entry(284, _SHORT, 1, struct.pack("<H", 1)),
            _entry(296, _SHORT, 1, struct.pack("<H", 1)),
            _entry(305, _ASCII, len(frame_text), struct.pack("<Q", frame_data_at)),
            _entry(315, _ASCII, len(roi_text), struct.pack("<Q", roi_at)),
            _entry(339, _SHORT, 1, struct.pack("<H", _SAMPLE_FORMAT[dtype.kind])),
        ]
        chunks.append(struct.pack("<Q", tag_count) + b"".join(entries) + struct.pack("<Q", next_ifd))
        chunks.append(description)
        chunks.append(struct.pack("<IIII", 1, 1, 1, 1))
        chunks.append(strip)
        position = data_at + len(strip)
    header = b"II" + struct.pack("<HHHQ", 43, 8, 0, first_ifd)
    chunks[0] = header
    path = Path(path)
    path.write_bytes(b"".join(chunks))
    return path
