"""Readers for test_volume_kit.py: the volume reader as it is, and mutants that break segmentation.planes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import roicore
from roicore.registry.specs import ReaderSpec
from roicore.testing.samples import Sample
from roicore_suite2p.volume import Suite2pVolumeSegmentationExtractor

MODULE = __name__


class ShiftedPlaneVolume(Suite2pVolumeSegmentationExtractor):
    """select_plane(k) shows plane k + 1: an off-by-one plane index."""

    def select_plane(self, plane_index: int) -> Any:
        return super().select_plane((plane_index + 1) % self.get_num_planes())


class VolumePlugin:
    """One reader spec over the ``multiplane-volume`` sample; ``reader`` and ``capabilities`` are overridden by mutants."""

    reader = f"{MODULE}:Suite2pVolumeSegmentationExtractor"
    capabilities: tuple[str, ...] = ("summary_images", "acceptance", "properties", "volumetric")

    @roicore.hookimpl
    def roicore_readers(self) -> list[ReaderSpec]:
        return [ReaderSpec(id="volume", kind="segmentation", reader=self.reader, sniff="roicore_suite2p.sniff:sniff_folder",
                           directory=("plane*/stat.npy",), capabilities=self.capabilities, samples=f"{MODULE}:volume_samples")]


def volume_samples(folder: Path) -> list[Sample]:
    from roicore_suite2p.samples import make_folder_samples

    [sample] = [s for s in make_folder_samples(folder) if s.id == "multiplane-volume"]
    # the reader is the volume class itself, which takes no plane=
    return [Sample(sample.id, sample.path, sample.truth)]
