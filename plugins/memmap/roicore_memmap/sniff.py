"""Detection: cheap ``sniff(path, header) -> Support`` functions for the three readers.

They read at most a file's header or its sidecar, never raise for a file
that is not theirs, and say why in one sentence. This module imports numpy,
the standard library and the light parts of roicore only.
"""

from __future__ import annotations

import os
from pathlib import Path

from roicore.errors import CorruptFileError, UnsupportedFeatureError, cli_syntax_active
from roicore.registry.specs import Support

from roicore_memmap.caiman_name import parse_caiman_name
from roicore_memmap.npy_header import NPY_MAGIC, read_npy_header
from roicore_memmap.sidecar import NPY_FORMAT, RAW_FORMAT, SIDECAR_SUFFIX, peek_format, read_sidecar, sidecar_path_for

__all__ = ["sniff_raw", "sniff_npy", "sniff_caiman_mmap", "RAW_SUFFIXES"]

#: suffixes of headerless raw videos this plugin claims when a sidecar describes them
RAW_SUFFIXES = (".bin", ".raw", ".dat")


def explicit_open_hint() -> str:
    """How to open a raw file without a sidecar, in the caller's syntax (Python or command line)."""
    if cli_syntax_active():
        return (
            "give its layout with --reader memmap --option structure='{\"rows\": 128, \"columns\": 256, "
            "\"axes\": \"tyx\"}' --option dtype='\"<u2\"' (and --option sampling_frequency=30 if known)"
        )
    return (
        "open it with roicore.open(path, reader='memmap', structure=VideoStructure(rows=..., columns=..., "
        "axes='tyx'), dtype='<u2') (and sampling_frequency=... if known)"
    )


def _how_to_describe(name: str) -> str:
    return f"describe it with a sidecar {name} (see the roicore-memmap README) or {explicit_open_hint()}"


def _check_sidecar(sidecar_path: Path, data_path: Path | None) -> Support:
    """YES for a valid sidecar (of ``data_path`` when given), MAYBE for an invalid one, NO for a foreign JSON."""
    try:
        sidecar = read_sidecar(sidecar_path)
    except (CorruptFileError, OSError) as exc:
        fmt = peek_format(sidecar_path)
        if isinstance(fmt, str) and fmt not in (RAW_FORMAT, NPY_FORMAT):
            return Support.no(f"{sidecar_path.name} is not a roicore video description (format {fmt!r})")
        # most likely meant as a sidecar: opening it reports exactly what is wrong
        return Support.maybe(f"sidecar {sidecar_path.name} is invalid: {exc}")
    kind = "raw video" if sidecar.format == RAW_FORMAT else ".npy video"
    if data_path is not None:
        if sidecar.format != RAW_FORMAT:
            return Support.no(f"sidecar {sidecar_path.name} describes a .npy video, not a raw one")
        if sidecar.data_path.name != data_path.name:
            return Support.maybe(
                f"sidecar {sidecar_path.name} names {sidecar.data_path.name!r}, not {data_path.name!r}"
            )
    elif not sidecar.data_path.is_file():
        return Support.maybe(f"sidecar {sidecar_path.name} describes the {kind} {sidecar.data_path.name}, which is missing")
    return Support.yes(f"sidecar {sidecar_path.name} describes the {kind} {sidecar.data_path.name}")


def sniff_raw(path: Path, header: bytes) -> Support:
    """Claim a raw data file whose sidecar describes it, or a sidecar JSON itself.

    A bare ``.bin``/``.raw``/``.dat`` without a sidecar says nothing about its
    layout and is never claimed; the reason says how to describe it.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(SIDECAR_SUFFIX):
        if peek_format(path) not in (RAW_FORMAT, NPY_FORMAT):
            return Support.no(f"not a roicore video sidecar (its 'format' is not {RAW_FORMAT!r} or {NPY_FORMAT!r})")
        return _check_sidecar(path, None)
    if not name.endswith(RAW_SUFFIXES):
        return Support.no(f"not a raw video suffix ({', '.join(RAW_SUFFIXES)})")
    sidecar_path = sidecar_path_for(path)
    if os.path.lexists(sidecar_path) and not sidecar_path.is_file():
        # meant as a sidecar, but a folder or a broken link: opening it reports exactly what is wrong
        return Support.maybe(f"its sidecar {sidecar_path.name} is not a readable file")
    if not sidecar_path.is_file():
        return Support.no(
            f"a headerless raw file with no sidecar {sidecar_path.name}: "
            + _how_to_describe(sidecar_path.name)
        )
    return _check_sidecar(sidecar_path, path)


def sniff_npy(path: Path, header: bytes) -> Support:
    """Claim a ``.npy`` file whose header parses and holds a 3-D or 4-D array of numbers."""
    if not header.startswith(NPY_MAGIC):
        return Support.no("no .npy magic bytes")
    try:
        parsed = read_npy_header(path)
    except UnsupportedFeatureError as exc:
        return Support.no(str(exc))
    except (CorruptFileError, OSError) as exc:
        return Support.no(f"invalid .npy header: {exc}")
    if len(parsed.shape) not in (3, 4):
        return Support.no(f"a {len(parsed.shape)}-D array {parsed.shape}, not a video (3-D or 4-D)")
    if parsed.dtype.kind not in "biuf":
        return Support.no(f"dtype {parsed.dtype} is not a pixel type")
    layout = "Fortran" if parsed.fortran_order else "C"
    return Support.yes(f".npy header: {parsed.shape} {parsed.dtype.str}, {layout} order")


def sniff_caiman_mmap(path: Path, header: bytes) -> Support:
    """Claim a file named by CaImAn's memmap convention (its size is checked when opened)."""
    parsed = parse_caiman_name(Path(path).name)
    if parsed is None:
        return Support.no("the name does not follow _d1_<rows>_d2_<cols>_d3_<planes>_order_<C|F>_frames_<T>_.mmap")
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return Support.no(f"cannot stat: {exc}")
    note = "" if size == parsed.data_bytes else f" (but the file has {size} bytes, not {parsed.data_bytes})"
    return Support.yes(
        f"CaImAn memmap name: {parsed.rows} x {parsed.columns} x {parsed.planes} pixels, "
        f"{parsed.frames} frames, order {parsed.order}{note}"
    )
