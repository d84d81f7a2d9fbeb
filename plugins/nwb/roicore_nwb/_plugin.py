"""Entry module of roicore-nwb: hook implementations returning lazy specs.

Kept light on purpose: it imports roicore only. The readers (h5py), the
sniffs and the writers (pynwb, hdmf) are named as ``"module:attr"`` and
imported only when detection asks them or a user reads or writes NWB.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec, WriterSpec

__all__ = ["roicore_readers", "roicore_writers"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_INSTALL_HINT = "pip install roicore-nwb"


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """The NWB segmentation and imaging readers."""
    return [
        ReaderSpec(
            id="nwb-segmentation",
            kind="segmentation",
            reader="roicore_nwb.segmentation:NwbSegmentationExtractor",
            sniff="roicore_nwb.sniff:sniff_segmentation",
            suffixes=(".nwb",),
            magic=(HDF5_SIGNATURE,),
            tier="specific",
            install_hint=_INSTALL_HINT,
            capabilities=("background", "summary_images", "acceptance", "properties", "timestamps"),
            samples="roicore_nwb.samples:make_segmentation_samples",
            description=(
                "NWB (HDF5) PlaneSegmentation with its RoiResponseSeries and summary images; "
                "CaImAn, suite2p and neuroconv exports read the right way round"
            ),
        ),
        ReaderSpec(
            id="nwb-imaging",
            kind="imaging",
            reader="roicore_nwb.imaging:open_nwb_imaging",
            sniff="roicore_nwb.sniff:sniff_imaging",
            suffixes=(".nwb",),
            magic=(HDF5_SIGNATURE,),
            tier="specific",
            install_hint=_INSTALL_HINT,
            capabilities=("volumetric", "timestamps"),
            samples="roicore_nwb.samples:make_imaging_samples",
            description="NWB (HDF5) TwoPhotonSeries / OnePhotonSeries, read lazily; external_file series resolved",
        ),
    ]


@roicore.hookimpl
def roicore_writers() -> list[WriterSpec]:
    """The NWB segmentation and imaging writers."""
    return [
        WriterSpec(
            id="nwb-segmentation",
            kind="segmentation",
            writer="roicore_nwb.writer:write_segmentation",
            suffixes=(".nwb",),
            reader="nwb-segmentation",
            capabilities=("append",),
            samples="roicore_nwb.samples:make_segmentation_writer_samples",
            description="NWB file in neuroconv's layout (pynwb), nwbinspector-clean",
        ),
        WriterSpec(
            id="nwb-imaging",
            kind="imaging",
            writer="roicore_nwb.writer:write_imaging",
            suffixes=(".nwb",),
            reader="nwb-imaging",
            capabilities=("lossless", "append"),
            samples="roicore_nwb.samples:make_imaging_writer_samples",
            description="NWB TwoPhotonSeries streamed with hdmf's GenericDataChunkIterator (bounded memory)",
        ),
    ]
