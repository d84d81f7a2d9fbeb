"""Sequential read speed of the roicore-memmap raw reader against ``numpy.fromfile``.

Writes a ~1 GiB uint16 video of 512 x 512 frames into a temporary folder,
then, in one run and on the same file, reads it end to end:

* ``numpy.fromfile``: ``chunk`` frames per call from one open file handle;
* the ``memmap`` reader: ``get_series(a, a + chunk)`` over the whole video.

Each pass runs ``--repeats`` times, alternating. It prints MB/s for both (median
and range of the passes) and the ratio reader / fromfile of each round (median
and range; target >= ~0.9),
twice: with the file in the page cache ("warm"), and with the file's pages
evicted before every pass ("cold", ``posix_fadvise(DONTNEED)`` on this one file
only, where the platform has it). The file is deleted at the end. Usage::

    python benchmarks/bench_memmap_read.py [--quick] [--size-mb 1024] [--chunk 256] [--repeats 5] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import roicore
from roicore_memmap import VideoStructure

ROWS = COLUMNS = 512
DTYPE = np.dtype("<u2")
FRAME_BYTES = ROWS * COLUMNS * DTYPE.itemsize


def make_file(path: Path, frames: int) -> None:
    """Write ``frames`` frames of pseudo-random uint16 data, 64 frames at a time."""
    rng = np.random.default_rng(0)
    block = rng.integers(0, 4096, (64, ROWS, COLUMNS), dtype=DTYPE)
    with path.open("wb") as handle:
        for start in range(0, frames, 64):
            count = min(64, frames - start)
            block[:, 0, 0] = np.arange(start, start + count)  # a frame counter, so frames differ
            handle.write(block[:count].tobytes())


def pass_fromfile(path: Path, frames: int, chunk: int) -> tuple[float, int]:
    """Read every frame with numpy.fromfile; returns (seconds, checksum)."""
    checksum = 0
    begin = time.perf_counter()
    with path.open("rb") as handle:
        for start in range(0, frames, chunk):
            count = min(chunk, frames - start)
            block = np.fromfile(handle, dtype=DTYPE, count=count * ROWS * COLUMNS).reshape(count, ROWS, COLUMNS)
            checksum += int(block[-1, 0, 0])
    return time.perf_counter() - begin, checksum


def pass_reader(path: Path, frames: int, chunk: int) -> tuple[float, int]:
    """Read every frame with the memmap reader's get_series; returns (seconds, checksum)."""
    checksum = 0
    begin = time.perf_counter()
    with roicore.open(path, reader="memmap", structure=VideoStructure(ROWS, COLUMNS), dtype=DTYPE,
                      sampling_frequency=30.0) as video:
        assert video.get_num_samples() == frames
        for start in range(0, frames, chunk):
            block = video.get_series(start, min(start + chunk, frames))
            checksum += int(block[-1, 0, 0])
    return time.perf_counter() - begin, checksum


def evict(path: Path) -> bool:
    """Drop this file's pages from the page cache (no other file is affected); False if unsupported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    return True


def measure(path: Path, frames: int, chunk: int, repeats: int, cold: bool) -> dict[str, list[float]]:
    """Seconds of every pass of each kind; the two kinds alternate so drifts hit both alike."""
    times: dict[str, list[float]] = {"numpy.fromfile": [], "memmap reader": []}
    sums = {}
    for _ in range(repeats):
        for name, run in (("numpy.fromfile", pass_fromfile), ("memmap reader", pass_reader)):
            if cold:
                evict(path)
            seconds, checksum = run(path, frames, chunk)
            times[name].append(seconds)
            sums[name] = checksum
    if sums["numpy.fromfile"] != sums["memmap reader"]:
        raise SystemExit(f"the two passes read different data: checksums {sums}")
    return times


def report(title: str, times: dict[str, list[float]], megabytes: float) -> None:
    print(title)
    for name, values in times.items():
        rates = [megabytes / v for v in values]
        print(f"  {name:<16} median {statistics.median(rates):6.0f} MB/s [{min(rates):.0f}-{max(rates):.0f}] "
              f"(passes: {', '.join(f'{v:.3f}' for v in values)} s)")
    # the ratio of each round (its two passes ran back to back), then the median and range of those
    ratios = [a / b for a, b in zip(times["numpy.fromfile"], times["memmap reader"])]
    median_ratio = statistics.median(ratios)
    verdict = "met" if median_ratio >= 0.9 else "MISSED"
    print(f"  ratio memmap reader / numpy.fromfile (per round): median {median_ratio:.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}]; target >= ~0.9: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="video size in MiB (default 1024)")
    parser.add_argument("--chunk", type=int, default=256, help="frames per read (default 256)")
    parser.add_argument("--repeats", type=int, default=5, help="passes of each kind; medians count (default 5)")
    parser.add_argument("--quick", action="store_true", help="512 MiB, 3 passes of each kind")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary file")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.repeats = min(args.size_mb, 512), min(args.repeats, 3)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)")

    frames = max(1, args.size_mb * 1024 * 1024 // FRAME_BYTES)
    megabytes = frames * FRAME_BYTES / 1e6
    with tempfile.TemporaryDirectory(prefix="roicore-bench-", dir=args.dir) as folder:
        path = Path(folder) / "video.bin"
        begin = time.perf_counter()
        make_file(path, frames)
        print(f"video: {frames} frames of {ROWS} x {COLUMNS} uint16 = {megabytes:.0f} MB "
              f"(written in {time.perf_counter() - begin:.1f} s), reads of {args.chunk} frames")
        pass_fromfile(path, frames, args.chunk)  # warm the page cache: both passes read cached pages
        warm = measure(path, frames, args.chunk, args.repeats, cold=False)
        cold = measure(path, frames, args.chunk, args.repeats, cold=True) if evict(path) else None
    report("warm (file in the page cache):", warm, megabytes)
    if cold is None:
        print("cold: not measured (os.posix_fadvise is not available here)")
    else:
        report("cold (file evicted from the page cache before every pass; disk-bound, so noisier):", cold, megabytes)


if __name__ == "__main__":
    main()
