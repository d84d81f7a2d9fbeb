"""The roicore entry module of roicore-memmap: hook implementations returning lazy specs.

Light by design: it imports roicore and its spec records only. No reader,
writer or sample module is imported here; the registry imports them when
they are used.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec, WriterSpec

__all__ = ["roicore_readers", "roicore_writers"]

_PACKAGE = "roicore_memmap"
_INSTALL_HINT = "pip install roicore-memmap"


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """The readers ``memmap`` (raw binary + sidecar), ``npy`` and ``caiman-mmap``."""
    return [
        ReaderSpec(
            id="memmap",
            kind="imaging",
            reader=f"{_PACKAGE}.dispatch:open_memmap",
            sniff=f"{_PACKAGE}.sniff:sniff_raw",
            suffixes=(".bin", ".raw", ".dat", ".json"),
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "multichannel"),
            samples=f"{_PACKAGE}.samples:make_raw_samples",
            description=(
                "headerless raw binary video described by a sidecar <file>.json or by "
                "structure=/dtype=/sampling_frequency= (any axis order, dtype, offset, channel)"
            ),
        ),
        ReaderSpec(
            id="npy",
            kind="imaging",
            reader=f"{_PACKAGE}.npy:NpyImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_npy",
            suffixes=(".npy",),
            magic=(b"\x93NUMPY",),
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "multichannel"),
            samples=f"{_PACKAGE}.samples:make_npy_samples",
            description="NumPy .npy video (t, y, x[, z]), memory-mapped, C or Fortran order, never unpickled",
        ),
        ReaderSpec(
            id="caiman-mmap",
            kind="imaging",
            reader=f"{_PACKAGE}.caiman_mmap:CaimanMmapImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_caiman_mmap",
            patterns=("*_d1_*_d2_*_d3_*_order_*_frames_*.mmap",),
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric",),
            samples=f"{_PACKAGE}.samples:make_caiman_samples",
            description="CaImAn memory-mapped movie (..._d1_R_d2_C_d3_P_order_C|F_frames_T_.mmap), float32",
        ),
    ]


@roicore.hookimpl
def roicore_writers() -> list[WriterSpec]:
    """The writer ``memmap``: raw binary + sidecar, or .npy + sidecar."""
    return [
        WriterSpec(
            id="memmap",
            kind="imaging",
            writer=f"{_PACKAGE}.writer:write_memmap",
            suffixes=(".bin", ".raw", ".dat", ".npy"),
            reader="memmap",
            capabilities=("lossless",),
            samples=f"{_PACKAGE}.samples:make_writer_samples",
            description="raw binary (.bin/.raw/.dat) or .npy video, each with a sidecar JSON; streamed in chunks",
        ),
    ]
