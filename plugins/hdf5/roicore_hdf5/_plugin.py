"""The roicore entry module of roicore-hdf5: hook implementations returning lazy specs.

Light by design: it imports roicore's spec records only. The reader, sniff,
writer and samples (which import h5py) are named as ``"module:attr"`` and
imported only when detection asks this reader or a user reads or writes.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec, WriterSpec

__all__ = ["roicore_readers", "roicore_writers"]

_PACKAGE = "roicore_hdf5"
_INSTALL_HINT = "pip install roicore-hdf5"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """The reader ``hdf5``: a video stored as one HDF5 dataset."""
    return [
        ReaderSpec(
            id="hdf5",
            kind="imaging",
            reader=f"{_PACKAGE}.reader:Hdf5ImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff",
            suffixes=(".h5", ".hdf5", ".he5"),
            magic=(HDF5_SIGNATURE,),
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "multichannel"),
            samples=f"{_PACKAGE}.samples:make_reader_samples",
            description=(
                "video stored as one HDF5 dataset (SIMA's layout; any axis order via dimension labels or "
                "axes=, dataset=, channel=), read lazily in chunk-aligned blocks; never NWB or CaImAn results"
            ),
        )
    ]


@roicore.hookimpl
def roicore_writers() -> list[WriterSpec]:
    """The writer ``hdf5``: chunked, compressed (gzip, lzf or none), streamed."""
    return [
        WriterSpec(
            id="hdf5",
            kind="imaging",
            writer=f"{_PACKAGE}.writer:write_hdf5",
            suffixes=(".h5", ".hdf5", ".he5"),
            reader="hdf5",
            capabilities=("lossless",),
            samples=f"{_PACKAGE}.samples:make_writer_samples",
            description="HDF5 video (t, y, x[, z]) with dimension labels and rate, chunked by frames, gzip/lzf/none",
        )
    ]
