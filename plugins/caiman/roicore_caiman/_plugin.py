"""Entry module of roicore-caiman: hook implementations returning lazy specs.

Kept light on purpose: it imports roicore only. The reader (h5py, scipy),
the sniff and the writer are named as ``"module:attr"`` and imported only
when detection asks this reader or a user reads or writes a CaImAn file.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec, WriterSpec

__all__ = ["roicore_readers", "roicore_writers"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """The CaImAn CNMF HDF5 reader."""
    return [
        ReaderSpec(
            id="caiman",
            kind="segmentation",
            reader="roicore_caiman.reader:CaimanSegmentationExtractor",
            sniff="roicore_caiman.sniff:sniff",
            suffixes=(".hdf5", ".h5"),
            magic=(HDF5_SIGNATURE,),
            tier="specific",
            install_hint="pip install roicore-caiman",
            capabilities=("background", "summary_images", "acceptance", "properties"),
            samples="roicore_caiman.samples:make_reader_samples",
            description="CaImAn CNMF results saved by CNMF.save() (.hdf5): masks, traces, background, acceptance",
        )
    ]


@roicore.hookimpl
def roicore_writers() -> list[WriterSpec]:
    """The CaImAn CNMF HDF5 writer."""
    return [
        WriterSpec(
            id="caiman",
            kind="segmentation",
            writer="roicore_caiman.writer:write_caiman",
            suffixes=(".hdf5",),
            reader="caiman",
            capabilities=("lossless",),
            samples="roicore_caiman.samples:make_writer_samples",
            description="CaImAn CNMF HDF5 layout that CaImAn's load_CNMF reads back",
        )
    ]
