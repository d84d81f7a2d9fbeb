"""Formats roicore knows about even when the plugin that reads them is absent.

Used only to make "no reader found" errors useful: when a path looks like one
of these and its plugin is not installed, disabled or broken, the error says so
and how to fix it. The table is static so that it costs no import.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

__all__ = ["KnownFormat", "KNOWN_FORMATS", "known_formats_for"]


@dataclass(frozen=True)
class KnownFormat:
    """A format, the plugin distribution that reads it, and what to tell the user."""

    name: str
    plugin: str
    suffixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    hint: str = ""
    #: the hint in command-line syntax, when it differs (see roicore.errors.cli_syntax)
    cli_hint: str = ""

    def hint_text(self) -> str:
        """The hint in the caller's syntax."""
        from roicore.errors import cli_syntax_active

        return self.cli_hint if self.cli_hint and cli_syntax_active() else self.hint

    def matches(self, filename: str) -> bool:
        lowered = filename.lower()
        return any(lowered.endswith(s) for s in self.suffixes) or any(fnmatch(lowered, p) for p in self.patterns)


KNOWN_FORMATS: tuple[KnownFormat, ...] = (
    KnownFormat(
        "headerless raw binary video",
        "roicore-memmap",
        suffixes=(".bin", ".raw", ".dat"),
        hint=(
            "a headerless raw video says nothing about its shape: write a sidecar JSON next to it "
            "(see the roicore-memmap docs), or open it explicitly with "
            "roicore.open(path, reader='memmap', structure=..., dtype=...)"
        ),
        cli_hint=(
            "a headerless raw video says nothing about its shape: write a sidecar JSON next to it "
            "(see the roicore-memmap docs), or give its layout with --reader memmap "
            "--option structure='{\"rows\": 128, \"columns\": 256, \"axes\": \"tyx\"}' --option dtype='\"<u2\"'"
        ),
    ),
    KnownFormat("NumPy array video", "roicore-memmap", suffixes=(".npy",)),
    KnownFormat("CaImAn memory-mapped video", "roicore-memmap", patterns=("*_d1_*_d2_*_d3_*_order_*_frames_*.mmap",)),
    KnownFormat("CaImAn CNMF results (HDF5)", "roicore-caiman", suffixes=(".hdf5", ".h5")),
    KnownFormat("video stored as an HDF5 dataset", "roicore-hdf5", suffixes=(".hdf5", ".h5")),
    KnownFormat("TIFF video", "roicore-tiff", suffixes=(".tif", ".tiff")),
    KnownFormat("Neurodata Without Borders (NWB) file", "roicore-nwb", suffixes=(".nwb",)),
    KnownFormat(
        "suite2p output",
        "roicore-suite2p",
        # a suite2p folder, its plane folders, and the files in them
        patterns=("suite2p", "plane[0-9]*", "data.bin", "data_raw.bin", "stat.npy", "ops.npy", "iscell.npy",
                  "f.npy", "fneu.npy", "spks.npy"),
        hint="suite2p results are read from a plane folder: open the folder itself (e.g. suite2p/plane0)",
    ),
)


def known_formats_for(filename: str) -> list[KnownFormat]:
    """Known formats whose suffix or pattern matches ``filename``."""
    return [known for known in KNOWN_FORMATS if known.matches(filename)]
