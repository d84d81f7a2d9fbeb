"""Which files make one video: natural sort, TIFF folders, ScanImage file splits.

Standard library only (detection uses it).
"""

from __future__ import annotations

import re
from pathlib import Path

from roicore.writing import is_temporary_name

__all__ = ["TIFF_SUFFIXES", "natural_key", "is_tiff_name", "list_tiffs", "split_counter", "counter_siblings"]

#: suffixes of TIFF files (case-insensitive); ``.ome.tif`` ends with ``.tif``
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")

_DIGITS = re.compile(r"(\d+)")
_COUNTER = re.compile(r"^(?P<prefix>.*)_(?P<counter>\d+)$")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key ordering ``frame2.tif`` before ``frame10.tif``."""
    parts = _DIGITS.split(name)
    return tuple((0, int(part), part) if part.isdigit() else (1, part.lower(), part) for part in parts)


def is_tiff_name(name: str) -> bool:
    """A visible file with a TIFF suffix, not a roicore temporary file."""
    return not name.startswith(".") and not is_temporary_name(name) and name.lower().endswith(TIFF_SUFFIXES)


def list_tiffs(folder: Path) -> list[Path]:
    """The TIFF files directly inside ``folder``, in natural order."""
    found = [entry for entry in folder.iterdir() if is_tiff_name(entry.name) and entry.is_file()]
    return sorted(found, key=lambda p: natural_key(p.name))


def split_counter(path: Path) -> tuple[str, int, str] | None:
    """``("file", 2, ".tif")`` for ``file_00002.tif``: the name before its last ``_<digits>``, the counter, the suffix."""
    name = path.name
    lowered = name.lower()
    suffix = next((s for s in TIFF_SUFFIXES if lowered.endswith(s)), None)
    if suffix is None:
        return None
    match = _COUNTER.match(name[: -len(suffix)])
    if match is None:
        return None
    return match["prefix"], int(match["counter"]), name[-len(suffix):]


def counter_siblings(path: Path) -> list[Path]:
    """Files next to ``path`` named like it with another counter (``file_00001.tif``, ``file_00002.tif``...), in counter order.

    ``path`` itself is always included; a name without a counter has no siblings.
    """
    parts = split_counter(path)
    if parts is None:
        return [path]
    prefix, _, suffix = parts
    siblings = []
    for entry in path.parent.iterdir():
        if not is_tiff_name(entry.name) or not entry.is_file():
            continue
        other = split_counter(entry)
        if other is not None and other[0] == prefix and other[2].lower() == suffix.lower():
            siblings.append((other[1], entry))
    siblings.sort(key=lambda item: (item[0], item[1].name))
    return [entry for _, entry in siblings]
