"""Reads of a chunked, gzip-compressed HDF5 video: the roicore-hdf5 reader against plain h5py slicing.

Writes a uint16 video of 512 x 512 frames (photon-count-like values, so gzip
has something to do) with plain h5py into a temporary folder, chunked
``(--chunk-frames, 512, 512)`` with gzip level 4 and shuffle, then, in one
run and on the same file, reads it four ways with each candidate:

* ``sequential-1``: every frame, one frame per call (what a frame-by-frame
  consumer such as SIMA's ``_get_frame`` loop does);
* ``sequential-10``: every frame, 10 frames per call (windows not aligned to
  the chunks);
* ``random-window``: ``--windows`` random 100-frame windows;
* ``random-samples``: ``--windows`` reads of 100 sorted random frame indices.

Candidates: ``h5py`` (``dataset[a:b]`` / ``dataset[indices]`` on one open
dataset, with HDF5's default chunk cache, 8 MiB in HDF5 2.0, 1 MiB before:
a chunk row larger than the cache is decoded again by every read that
touches it) and ``roicore`` (``get_series`` / ``get_samples``
of ``roicore.open(path)``). The two alternate pass by pass, ``--repeats``
times; the script prints the median seconds of each, and the ratio
h5py / roicore (above 1: roicore is faster). The file stays in the page
cache: this measures decoding, not the disk. The file is deleted at the end.
Usage::

    python benchmarks/bench_hdf5_read.py [--frames 400] [--chunk-frames 16] [--repeats 3] [--windows 20] [--dir PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import roicore

ROWS = COLUMNS = 512


def make_file(path: Path, frames: int, chunk_frames: int) -> None:
    """Write the video with plain h5py, 32 frames at a time."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        video = handle.create_dataset(
            "imaging", shape=(frames, ROWS, COLUMNS), dtype="u2",
            chunks=(chunk_frames, ROWS, COLUMNS), compression="gzip", compression_opts=4, shuffle=True,
        )
        for index, letter in enumerate("tyx"):
            video.dims[index].label = letter
        video.attrs["sampling_frequency"] = 30.0
        for start in range(0, frames, 32):
            count = min(32, frames - start)
            block = rng.poisson(200.0, (count, ROWS, COLUMNS)).astype("u2")
            block[:, 0, 0] = np.arange(start, start + count)  # a frame counter, so frames differ
            video[start : start + count] = block


def _windows(frames: int, count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    return [(int(s), int(s) + 100) for s in rng.integers(0, frames - 100, count)]


def _index_sets(frames: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(frames, 100, replace=False)) for _ in range(count)]


def _sequential(read: Callable[[int, int], np.ndarray], frames: int, step: int) -> int:
    checksum = 0
    for start in range(0, frames, step):
        checksum += int(read(start, min(start + step, frames))[-1, 0, 0])
    return checksum


def run_h5py(path: Path, scenario: str, frames: int, plan: Any) -> tuple[float, int]:
    begin = time.perf_counter()
    with h5py.File(path, "r") as handle:
        data = handle["imaging"]
        if scenario.startswith("sequential"):
            checksum = _sequential(lambda a, b: data[a:b], frames, plan)
        elif scenario == "random-window":
            checksum = sum(int(data[a:b][-1, 0, 0]) for a, b in plan)
        else:
            checksum = sum(int(data[indices][-1, 0, 0]) for indices in plan)
    return time.perf_counter() - begin, checksum


def run_roicore(path: Path, scenario: str, frames: int, plan: Any) -> tuple[float, int]:
    begin = time.perf_counter()
    with roicore.open(path) as video:
        if scenario.startswith("sequential"):
            checksum = _sequential(video.get_series, frames, plan)
        elif scenario == "random-window":
            checksum = sum(int(video.get_series(a, b)[-1, 0, 0]) for a, b in plan)
        else:
            checksum = sum(int(video.get_samples(indices)[-1, 0, 0]) for indices in plan)
    return time.perf_counter() - begin, checksum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames of 512 x 512 uint16 (default 400 = 210 MB)")
    parser.add_argument("--chunk-frames", type=int, default=16, help="frames per chunk (default 16)")
    parser.add_argument("--repeats", type=int, default=3, help="passes of each candidate (default 3)")
    parser.add_argument("--windows", type=int, default=20, help="random windows / index sets per pass (default 20)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary file")
    args = parser.parse_args()

    frames = max(101, args.frames)
    scenarios: dict[str, Any] = {
        "sequential-1": 1,
        "sequential-10": 10,
        "random-window": _windows(frames, args.windows, 1),
        "random-samples": _index_sets(frames, args.windows, 2),
    }
    with tempfile.TemporaryDirectory(prefix="roicore-bench-", dir=args.dir) as folder:
        path = Path(folder) / "video.h5"
        begin = time.perf_counter()
        make_file(path, frames, args.chunk_frames)
        size = path.stat().st_size / 1e6
        raw = frames * ROWS * COLUMNS * 2 / 1e6
        print(f"video: {frames} frames of {ROWS} x {COLUMNS} uint16 = {raw:.0f} MB raw, {size:.0f} MB gzip-4 + shuffle "
              f"in chunks of {args.chunk_frames} frames (written in {time.perf_counter() - begin:.1f} s)")
        print("file in the page cache: decoding is measured, not the disk; machine shared with other jobs")
        with roicore.open(path) as warm:  # import the plugin once, outside the measured passes
            warm.get_series(0, 1)
        print(f"{'scenario':<16} {'h5py s':>9} {'roicore s':>10} {'h5py/roicore':>13}")
        for scenario, plan in scenarios.items():
            times: dict[str, list[float]] = {"h5py": [], "roicore": []}
            sums = {}
            for _ in range(args.repeats):
                for name, run in (("h5py", run_h5py), ("roicore", run_roicore)):
                    seconds, checksum = run(path, scenario, frames, plan)
                    times[name].append(seconds)
                    sums[name] = checksum
            if sums["h5py"] != sums["roicore"]:
                raise SystemExit(f"{scenario}: the candidates read different data: checksums {sums}")
            h5, rc = statistics.median(times["h5py"]), statistics.median(times["roicore"])
            print(f"{scenario:<16} {h5:9.3f} {rc:10.3f} {h5 / rc:13.2f}")


if __name__ == "__main__":
    main()
