"""Read accounting: how much a block of code read from files, for the kit's laziness checks.

Three counters, each general but each with a blind spot, so the kit uses all three:

* **read system calls**: ``rchar`` of ``/proc/thread-self/io``, the bytes this thread got from
  ``read``/``pread``. It sees every library (Python files, numpy's ``fromfile``, HDF5's C
  code, tifffile) but not memory maps, not other threads or processes, and it counts any file
  (imports done inside the block too, so warm the reader up first);
* **mapped pages**: the resident size (``Rss`` in ``/proc/self/smaps``) of mappings of the
  watched files, at the end of the block. It sees memory-mapped reads still mapped when the
  block ends; the kernel maps up to 64 KiB around each touched page;
* **allocations**: the ``tracemalloc`` peak above the start, which numpy reports to. It sees a
  reader that materializes a whole array in memory whatever the route (a copy of a mapping
  included), but not C libraries' private buffers.

A reader could still read everything and discard it page by page through a mapping it unmaps
before the block ends; nothing here would see that. Linux only (elsewhere the file counters are 0).
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ReadCount", "count_reads", "system_read_bytes", "mapped_bytes"]

_IO = "/proc/thread-self/io"
_SMAPS = "/proc/self/smaps"


@dataclass
class ReadCount:
    """What one block read; filled in when the block ends."""

    system_bytes: int = 0
    mapped_bytes: int = 0
    allocated_peak: int = 0

    @property
    def largest(self) -> int:
        """The largest of the three counters: what the block read by the most telling measure."""
        return max(self.system_bytes, self.mapped_bytes, self.allocated_peak)

    def describe(self) -> str:
        return (f"{self.system_bytes} bytes by read calls, {self.mapped_bytes} bytes of mapped file pages, "
                f"{self.allocated_peak} bytes allocated at the peak")


def system_read_bytes() -> int:
    """Bytes this thread has read through system calls so far (0 if unknown)."""
    try:
        with open(_IO, "rb", buffering=0) as handle:
            text = handle.read(4096).decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def mapped_bytes(paths: Iterable[Path]) -> int:
    """Resident bytes of this process's mappings of any file under ``paths``."""
    watched = [str(Path(p).resolve()) for p in paths]
    try:
        with open(_SMAPS, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return 0
    total, inside = 0, False
    for line in lines:
        first = line.split(maxsplit=1)[0] if line else ""
        if "-" in first and not first.endswith(":"):  # a mapping's header line: "start-end perms offset dev inode path"
            fields = line.split(maxsplit=5)
            name = fields[5].strip() if len(fields) == 6 else ""
            inside = any(name == w or name.startswith(w + os.sep) for w in watched)
        elif inside and first == "Rss:":
            total += int(line.split()[1]) * 1024
    return total


@contextmanager
def count_reads(paths: Iterable[Path]) -> Iterator[ReadCount]:
    """Count what the ``with`` block reads (see the module docstring); ``paths`` are the files to watch for mappings."""
    paths = list(paths)
    count = ReadCount()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    memory_before = tracemalloc.get_traced_memory()[0]
    before = system_read_bytes()
    try:
        yield count
    finally:
        count.system_bytes = system_read_bytes() - before
        count.allocated_peak = max(tracemalloc.get_traced_memory()[1] - memory_before, 0)
        if started_tracing:
            tracemalloc.stop()
        count.mapped_bytes = mapped_bytes(paths)
