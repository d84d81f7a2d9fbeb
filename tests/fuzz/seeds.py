"""Seeds: the unmutated file sets every fuzz case starts from.

A seed is a set of files (a main path to open plus its companions, e.g. a
sidecar), the reader it belongs to, the reader arguments, and the ground
truth when one is known. Seeds come from each installed reader's conformance
samples (found through ``roicore.readers()``, so third-party readers are
fuzzed too) and from the real recordings (:mod:`fuzz.realdata`).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import roicore
from roicore.registry.specs import load_object

__all__ = ["Seed", "reader_ids", "sample_seeds", "statically_matches"]


@dataclass(frozen=True)
class Seed:
    """An unmutated file set and how to read it.

    Attributes
    ----------
    reader : str
        Qualified id of the reader the seed belongs to (``"roicore-memmap:npy"``).
    kind : str
        ``"imaging"`` or ``"segmentation"``.
    id : str
        Unique within the reader, e.g. ``"sample:uint16-c"`` or ``"real:sima_example.h5"``.
    folder : Path
        Where the unmutated files are; never written to (cases work on copies).
    main : str
        The path to open, relative to ``folder``.
    files : tuple of str
        Every file of the seed, relative to ``folder`` (``main`` included when it is a file).
    reader_kwargs : dict
        Arguments for the reader.
    detectable : bool
        Whether ``roicore.open`` finds the reader without ``reader=``.
    truth : ImagingTruth or SegmentationTruth or None
        What the unmutated seed must read back; None when unknown (a real
        file the reader does not claim: its unmutated outcome is the baseline).
    origin : str
        ``"sample"`` or ``"realdata"``.
    """

    reader: str
    kind: str
    id: str
    folder: Path
    main: str
    files: tuple[str, ...]
    reader_kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    detectable: bool = True
    truth: Any = field(default=None, hash=False, compare=False, repr=False)
    origin: str = "sample"

    def describe(self) -> str:
        """One line for failure messages."""
        kwargs = f", reader_kwargs={self.reader_kwargs!r}" if self.reader_kwargs else ""
        return f"seed {self.id} of {self.reader} (main {self.main!r}, files {list(self.files)}{kwargs})"


def reader_ids() -> list[str]:
    """Qualified ids of every installed reader that names conformance samples (stable order)."""
    return sorted(c.qualified_id for c in roicore.readers() if c.spec.samples)


def _contribution(qualified_id: str) -> Any:
    for contribution in roicore.readers():
        if contribution.qualified_id == qualified_id:
            return contribution
    raise LookupError(f"no installed reader {qualified_id}")


def sample_seeds(qualified_id: str, folder: Path) -> list[Seed]:
    """Write the reader's conformance samples into ``folder`` and return them as seeds."""
    contribution = _contribution(qualified_id)
    folder.mkdir(parents=True, exist_ok=True)
    samples = load_object(contribution.spec.samples)(folder)
    seeds = []
    for sample in samples:
        files = []
        for path in {*sample.files, sample.path}:
            path = Path(path)
            if path.is_file():
                files.append(os.path.relpath(path, folder))
            elif path.is_dir():
                files.extend(os.path.relpath(p, folder) for p in path.rglob("*") if p.is_file())
        seeds.append(
            Seed(
                reader=qualified_id,
                kind=contribution.spec.kind,
                id=f"sample:{sample.id}",
                folder=folder,
                main=os.path.relpath(sample.path, folder),
                files=tuple(sorted(files)),
                reader_kwargs=dict(sample.reader_kwargs),
                detectable=sample.detectable,
                truth=sample.truth,
            )
        )
    return seeds


def statically_matches(qualified_id: str, path: Path) -> bool:
    """Whether the reader's suffixes, name patterns or magic bytes match ``path`` (no plugin code runs)."""
    spec = _contribution(qualified_id).spec
    name = path.name.lower()
    if any(name.endswith(suffix) for suffix in spec.suffixes):
        return True
    if any(fnmatch.fnmatch(name, pattern.lower()) for pattern in spec.patterns):
        return True
    if spec.magic:
        with path.open("rb") as handle:
            header = handle.read(max(len(m) for m in spec.magic))
        return any(header.startswith(magic) for magic in spec.magic)
    return False
