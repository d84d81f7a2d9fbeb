"""Helpers of the reliability tests, importable by name in spawned workers and subprocesses.

* open files and mappings of this process under a folder (``/proc/self/fd``, ``/proc/self/maps``);
* :class:`SyntheticVideo`: a long video computed frame by frame, never held in memory;
* read operations on extractors, replayable in threads and other processes, and their digests.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from roicore.imaging import ImagingExtractor

PROC = Path("/proc/self")
HAVE_PROC = sys.platform.startswith("linux") and (PROC / "fd").is_dir() and (PROC / "maps").is_file()
NO_PROC_REASON = "needs Linux /proc/self/fd and /proc/self/maps to list this process's open files"


# -- open files -----------------------------------------------------------------------------------
def open_files(under: Path) -> list[str]:
    """Paths under ``under`` that this process holds open (file descriptors) or mapped (mmap).

    A memory mapping keeps its file open even after its descriptor is closed,
    so both lists count.
    """
    root = str(Path(under).resolve())
    held = []
    for entry in os.listdir(PROC / "fd"):
        try:
            target = os.readlink(PROC / "fd" / entry)
        except OSError:  # closed between listdir and readlink (the listdir's own descriptor)
            continue
        if target.startswith(root):
            held.append(f"fd {entry} -> {target}")
    with open(PROC / "maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip().startswith(root):
                held.append(f"mapped {parts[5].strip()}")
    return sorted(set(held))


def fd_count() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir(PROC / "fd")) - 1  # minus the listdir's own


# -- a long video that never exists in memory -----------------------------------------------------------
class SyntheticVideo(ImagingExtractor):
    """``num_frames`` frames computed from their index on every read (uint16, values < 4096).

    Parameters
    ----------
    num_frames : int
    shape : (int, int)
        Rows and columns.
    rate : float
        Sampling frequency in Hz.
    """

    def __init__(self, num_frames: int, shape: tuple[int, int] = (64, 64), rate: float = 30.0) -> None:
        self._frames = int(num_frames)
        self._shape = (int(shape[0]), int(shape[1]))
        self._rate = float(rate)
        pixels = self._shape[0] * self._shape[1]
        self._pattern = ((np.arange(pixels, dtype=np.int64) * 7919) % 2039).astype(np.uint16)

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_samples(self) -> int:
        return self._frames

    def get_sampling_frequency(self) -> float:
        return self._rate

    def get_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def _read_series(self, start: int, end: int) -> np.ndarray:
        # one uint16 allocation per read: pattern < 2039 plus a per-frame offset < 2048
        times = np.arange(start, end, dtype=np.int64)
        offsets = ((times * 37 + (times * times) % 1013) % 2048).astype(np.uint16)
        frames = self._pattern[None, :] + offsets[:, None]
        return frames.reshape(end - start, *self._shape)


class TinyReader(ImagingExtractor):
    """A reader of any file as 3 frames of 2 x 2 zeros (for in-process fake plugins)."""

    def __init__(self, path: Any) -> None:
        self._path = Path(path)

    def get_image_shape(self) -> tuple[int, int]:
        return (2, 2)

    def get_num_samples(self) -> int:
        return 3

    def get_sampling_frequency(self) -> float:
        return 1.0

    def get_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return np.zeros((end - start, 2, 2), dtype=np.uint8)


def disk_rois(shape: tuple[int, int], count: int, radius: float = 4.0, seed: int = 0) -> np.ndarray:
    """``count`` boolean disks ``(rows, columns, count)`` at seeded random centres (some overlap)."""
    rng = np.random.default_rng(seed)
    rows, columns = shape
    rr, cc = np.mgrid[0:rows, 0:columns]
    masks = np.zeros((rows, columns, count), dtype=bool)
    for k in range(count):
        r0, c0 = rng.uniform(radius, rows - radius), rng.uniform(radius, columns - radius)
        masks[:, :, k] = (rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2
    return masks


# -- replayable reads ---------------------------------------------------------------------------------
Operation = tuple[Any, ...]


def imaging_operations(num_samples: int, count: int, seed: int) -> list[Operation]:
    """Seeded random reads of an imaging extractor: windows, any-order samples, numpy keys."""
    rng = np.random.default_rng(seed)
    operations: list[Operation] = []
    for index in range(count):
        start = int(rng.integers(0, num_samples))
        end = int(rng.integers(start, num_samples + 1))
        kind = index % 3
        if kind == 0:
            operations.append(("series", start, end))
        elif kind == 1:
            size = int(rng.integers(1, min(num_samples, 12) + 1))
            indices = rng.integers(-num_samples, num_samples, size=size)
            operations.append(("samples", tuple(int(i) for i in indices)))
        else:
            operations.append(("getitem", start, end, int(rng.integers(1, 4))))
    return operations


def segmentation_operations(extractor: Any, count: int, seed: int) -> list[Operation]:
    """Seeded random reads of a segmentation extractor: trace windows of ROI subsets, masks, images."""
    rng = np.random.default_rng(seed)
    names = list(extractor.get_trace_names())
    num_samples = extractor.get_num_samples()
    operations: list[Operation] = []
    for index in range(count):
        name = names[index % len(names)] if names else ""
        ids = list(extractor.get_background_ids() if name == "background" else extractor.get_roi_ids())
        chosen = [ids[i] for i in rng.permutation(len(ids))[: int(rng.integers(1, len(ids) + 1))]]
        start = int(rng.integers(0, num_samples))
        end = int(rng.integers(start, num_samples + 1))
        kind = index % 4
        if kind in (0, 1) and names:
            operations.append(("traces", name, tuple(chosen), start, end))
            continue
        ids = list(extractor.get_roi_ids())
        chosen = [ids[i] for i in rng.permutation(len(ids))[: int(rng.integers(1, len(ids) + 1))]]
        if kind == 2:
            operations.append(("image_masks", tuple(chosen)))
        else:
            operations.append(("pixel_masks", tuple(chosen)))
    return operations


def apply(extractor: Any, operation: Operation) -> np.ndarray:
    """Run one read operation; every result is one array."""
    kind, *args = operation
    if kind == "series":
        return extractor.get_series(*args)
    if kind == "samples":
        return extractor.get_samples(np.asarray(args[0], dtype=np.intp))
    if kind == "getitem":
        start, end, step = args
        return extractor[start:end:step, 1:, ::2]
    if kind == "traces":
        name, ids, start, end = args
        return extractor.get_traces(list(ids), start, end, name=name)
    if kind == "image_masks":
        return extractor.get_roi_image_masks(list(args[0]))
    if kind == "pixel_masks":
        masks = extractor.get_roi_pixel_masks(list(args[0]))
        return np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in masks]) if masks else np.zeros(0)
    raise ValueError(f"unknown operation {kind!r}")


def digest(array: np.ndarray) -> str:
    """A digest of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    hasher = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    hasher.update(array.tobytes())
    return hasher.hexdigest()[:24]


def replay(extractor: Any, operations: list[Operation]) -> list[str]:
    """Digests of every operation's result, in order."""
    return [digest(apply(extractor, operation)) for operation in operations]


def replay_in_process(path: str, reader: str, kwargs: dict[str, Any], operations: list[Operation]) -> list[str]:
    """Open ``path`` with ``reader`` in this (worker) process and replay ``operations`` (for multiprocessing)."""
    import roicore

    with roicore.open(path, reader=reader, **kwargs) as extractor:
        return replay(extractor, operations)


def replay_pickled(extractor: Any, operations: list[Operation]) -> list[str]:
    """Replay ``operations`` on an extractor that arrived pickled (reopened by its constructor arguments)."""
    with extractor:
        return replay(extractor, operations)


# -- sources written by the interrupted-write tests ---------------------------------------------------
def imaging_source(generation: int) -> ImagingExtractor:
    """About 20 MB of video; the generations differ in content and shape (so a mixed pair shows)."""
    if generation == 0:
        return SyntheticVideo(600, (128, 128), rate=30.0)
    return SyntheticVideo(640, (120, 128), rate=20.0)


def segmentation_source(generation: int) -> Any:
    """About 20 MB of traces (300 ROIs x 8000 samples, float32) and masks; generations differ."""
    from roicore.memory import NumpySegmentationExtractor

    rng = np.random.default_rng(100 + generation)
    rois = 300 - 20 * generation
    traces = rng.normal(size=(8000, rois)).astype(np.float32)
    return NumpySegmentationExtractor(disk_rois((64, 64), rois, seed=generation), 30.0 + generation,
                                      traces={"raw": traces})


def source_summary(extractor: Any) -> dict[str, Any]:
    """Digests of everything a written file must read back (to compare a file with its source)."""
    from roicore.imaging import ImagingExtractor as Imaging

    summary: dict[str, Any] = {"rate": float(extractor.get_sampling_frequency())}
    if isinstance(extractor, Imaging):
        summary["series"] = digest(extractor.get_series())
    else:
        summary["ids"] = [int(i) for i in extractor.get_roi_ids()]
        summary["masks"] = digest(extractor.get_roi_image_masks().astype(np.float64))
        summary["raw"] = digest(extractor.get_traces(name="raw").astype(np.float32))
    return summary


def _install_kill_hook(hook: str) -> None:
    """``"replace:N:before|after"`` or ``"unlink:N:after"``: SIGKILL this process around the N-th such call.

    Only calls on roicore's temporary or final paths count (``os.replace`` and
    ``os.unlink`` of names holding the temporary marker, for ``unlink``).
    """
    import signal

    call, number, when = hook.split(":")
    original = getattr(os, call)
    seen = [0]

    def hooked(*args: Any, **kwargs: Any) -> Any:
        counted = call == "replace" or ".roicore-tmp-" in os.fspath(args[0])
        if counted:
            seen[0] += 1
        if counted and seen[0] == int(number) and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if counted and seen[0] == int(number) and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(os, call, hooked)


def write_child() -> None:
    """Subprocess entry: build a source, say ``ready``, wait for a line on stdin, write it, say ``done``.

    ``sys.argv[1]`` is a JSON object: kind, generation, target, format,
    overwrite, options, and optionally hook (see :func:`_install_kill_hook`).
    """
    import json

    import roicore
    from roicore.registry.discovery import get_registry

    config = json.loads(sys.argv[1])
    make = imaging_source if config["kind"] == "imaging" else segmentation_source
    source = make(config["generation"])
    get_registry().lookup("writer", config["format"]).spec.load_writer()  # imports done before "go"
    if config.get("hook"):
        _install_kill_hook(config["hook"])
    print("ready", flush=True)
    sys.stdin.readline()
    roicore.write(source, config["target"], format=config["format"], overwrite=config["overwrite"],
                  **config.get("options", {}))
    print("done", flush=True)
