"""The roicore entry module of roicore-tiff: hook implementations returning lazy specs.

Light by design: roicore's spec records only. tifffile is imported by the
readers and the writer when they are used; detection parses TIFF headers with
the standard library.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec, WriterSpec

__all__ = ["roicore_readers", "roicore_writers"]

_PACKAGE = "roicore_tiff"
_INSTALL_HINT = "pip install roicore-tiff"
_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".ome.tif", ".ome.tiff")
_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_FOLDER = ("*.[tT][iI][fF]*",)


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """The readers ``tiff`` (TIFF/BigTIFF/OME/ImageJ files and TIFF folders) and ``scanimage``."""
    return [
        ReaderSpec(
            id="tiff",
            kind="imaging",
            reader=f"{_PACKAGE}.reader:TiffImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_tiff",
            suffixes=_SUFFIXES,
            magic=_MAGIC,
            directory=_FOLDER,
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "multichannel"),
            samples=f"{_PACKAGE}.samples:make_tiff_samples",
            description=(
                "multi-page TIFF / BigTIFF, OME-TIFF and ImageJ hyperstacks (T/Z/C, frame interval), "
                "or a folder of TIFF files in natural order; lazy, page by page"
            ),
        ),
        ReaderSpec(
            id="scanimage",
            kind="imaging",
            reader=f"{_PACKAGE}.scanimage:ScanImageImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_scanimage",
            suffixes=(".tif", ".tiff"),
            magic=(b"II+\x00", b"II*\x00"),
            directory=_FOLDER,
            priority=1,
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "multichannel", "native_timestamps"),
            samples=f"{_PACKAGE}.samples:make_scanimage_samples",
            description=(
                "ScanImage 2016+ TIFF: interleaved channels and planes, flyback frames skipped, frame "
                "timestamps, acquisitions split over file_00001.tif, file_00002.tif... read as one"
            ),
        ),
    ]


@roicore.hookimpl
def roicore_writers() -> list[WriterSpec]:
    """The writer ``ome-tiff``: OME-TIFF, BigTIFF when large, streamed."""
    return [
        WriterSpec(
            id="ome-tiff",
            kind="imaging",
            writer=f"{_PACKAGE}.writer:write_ome_tiff",
            suffixes=(".ome.tif", ".ome.tiff", ".tif", ".tiff"),
            reader="tiff",
            capabilities=("lossless",),
            samples=f"{_PACKAGE}.samples:make_writer_samples",
            description="OME-TIFF (T[Z]YX, frame interval), BigTIFF past 2 GiB, written chunk by chunk",
        ),
    ]
