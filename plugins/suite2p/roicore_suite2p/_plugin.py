"""Entry module of roicore-suite2p: hook implementations returning lazy specs.

Light on purpose: it imports roicore's spec records only. Readers, sniffs and
samples are named as ``"module:attr"`` and imported when used.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import ReaderSpec

__all__ = ["roicore_readers"]

_PACKAGE = "roicore_suite2p"
_HINT = "pip install roicore-suite2p"
_SEGMENTATION_CAPABILITIES = ("summary_images", "acceptance", "properties")


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    """Readers of a plane folder, of the suite2p folder above it, and of suite2p's binaries."""
    return [
        ReaderSpec(
            id="suite2p",
            kind="segmentation",
            reader=f"{_PACKAGE}.reader:Suite2pSegmentationExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_folder",
            directory=("stat.npy",),
            install_hint=_HINT,
            capabilities=_SEGMENTATION_CAPABILITIES,
            samples=f"{_PACKAGE}.samples:make_plane_samples",
            description="suite2p plane folder (stat.npy, F/Fneu/spks.npy, iscell.npy; ops.npy or db.npy/settings.npy)",
        ),
        ReaderSpec(
            id="suite2p-folder",
            kind="segmentation",
            reader=f"{_PACKAGE}.reader:Suite2pSegmentationExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_folder",
            directory=("plane*/stat.npy",),
            install_hint=_HINT,
            capabilities=(*_SEGMENTATION_CAPABILITIES, "volumetric"),
            samples=f"{_PACKAGE}.samples:make_folder_samples",
            description="suite2p output folder of planeN folders (choose with plane=N or plane='combined', "
                        "or all as one volume with plane='volume')",
        ),
        ReaderSpec(
            id="suite2p-binary",
            kind="imaging",
            reader=f"{_PACKAGE}.binary:Suite2pBinaryImagingExtractor",
            sniff=f"{_PACKAGE}.sniff:sniff_binary",
            patterns=("data.bin", "data_raw.bin", "data_chan2.bin", "data_chan2_raw.bin"),
            install_hint=_HINT,
            samples=f"{_PACKAGE}.samples:make_binary_samples",
            description="suite2p registered/raw binary data.bin (int16 frames; shape and rate from ops.npy/db.npy beside it)",
        ),
    ]
