"""roicore-tiff against tifffile and roiextractors on one large TIFF stack: time and peak memory.

Writes a uint16 stack of 512 x 512 frames (default 2048 MiB) into a temporary
folder with tifffile, twice: as tifffile writes a stack (one contiguous block,
"shaped" JSON) and with one IFD per frame and no stack metadata ("plain": no stack
metadata, so every page's offset comes from its own IFD, as for ScanImage files). For each file it measures,
each candidate in a fresh subprocess (so peak RSS is the candidate's own):

* ``sequential``: every frame, read in chunks of 256 frames (roicore:
  ``get_series(a, a + 256, copy=False)``; tifffile ``TiffFile.pages``: each
  page's ``asarray()``; tifffile ``imread``: the whole stack in one call, the
  rate yardstick, holding the whole file in memory; roiextractors:
  ``TiffImagingExtractor.get_series`` in the same chunks);
* ``window``: 100 consecutive frames at a random start, open included
  (tifffile: ``imread(key=range(...))``; ``roicore`` is ``roicore.open``
  with plugin discovery and detection, ``roicore-reader`` the reader class).

Before every pass the file's pages are evicted from the page cache
(``posix_fadvise(DONTNEED)`` on this file only), so reads come from disk.
Rounds alternate the candidates; medians are printed with the ratios
roicore / tifffile. The goal: sequential >= 0.8 of tifffile's rate, with peak
memory independent of the file size (a second, quarter-size file is read by
roicore to show it). roiextractors is optional (skipped with a message when it
is not installed). Files are deleted at the end. Usage::

    python benchmarks/bench_tiff.py [--size-mb 2048] [--rounds 3] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = COLUMNS = 512
FRAME_BYTES = ROWS * COLUMNS * 2
CHUNK = 256
WINDOW = 100
RATE = 30.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def make_stack(path: Path, frames: int, plain: bool) -> None:
    """Write ``frames`` pseudo-random frames, streamed, shaped (contiguous) or one plain IFD per frame."""
    import tifffile

    rng = np.random.default_rng(0)
    block = rng.integers(0, 4096, (64, ROWS, COLUMNS), dtype=np.uint16)

    def pages():
        for start in range(0, frames, 64):
            count = min(64, frames - start)
            block[:count, 0, 0] = np.arange(start, start + count) % 65536  # a frame counter: frames differ
            yield from block[:count]

    options = {"metadata": None} if plain else {}
    tifffile.imwrite(path, pages(), shape=(frames, ROWS, COLUMNS), dtype=np.uint16, photometric="minisblack",
                     bigtiff=frames * FRAME_BYTES > 2**31, **options)


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (nothing else)."""
    if not hasattr(os, "posix_fadvise"):
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


# -- candidates (run inside a worker process) ---------------------------------------------------------
def roicore_sequential(path: Path, frames: int) -> int:
    import roicore

    checksum = 0
    with roicore.open(path, sampling_frequency=RATE) as x:
        for start in range(0, frames, CHUNK):
            block = x.get_series(start, min(frames, start + CHUNK), copy=False)
            checksum += int(block[-1, 0, 0])
            del block
    return checksum


def roicore_window(path: Path, start: int) -> int:
    import roicore

    with roicore.open(path, sampling_frequency=RATE) as x:
        return int(x.get_series(start, start + WINDOW)[:, 0, 0].astype(np.int64).sum())


def reader_window(path: Path, start: int) -> int:
    """The same window through the reader class, without roicore.open's plugin discovery and detection."""
    from roicore_tiff.reader import TiffImagingExtractor

    with TiffImagingExtractor(path, sampling_frequency=RATE) as x:
        return int(x.get_series(start, start + WINDOW)[:, 0, 0].astype(np.int64).sum())


def pages_sequential(path: Path, frames: int) -> int:
    import tifffile

    checksum = 0
    with tifffile.TiffFile(path) as tif:
        for index, page in enumerate(tif.pages):
            frame = page.asarray()
            if index % CHUNK == CHUNK - 1 or index == frames - 1:
                checksum += int(frame[0, 0])
    return checksum


def imread_sequential(path: Path, frames: int) -> int:
    import tifffile

    data = tifffile.imread(path)
    return sum(int(data[min(frames, s + CHUNK) - 1, 0, 0]) for s in range(0, frames, CHUNK))


def imread_window(path: Path, start: int) -> int:
    import tifffile

    data = tifffile.imread(path, key=range(start, start + WINDOW))
    return int(data[:, 0, 0].astype(np.int64).sum())


def _roiextractors(path: Path):
    from roiextractors import TiffImagingExtractor

    return TiffImagingExtractor(file_path=path, sampling_frequency=RATE)


def roiextractors_sequential(path: Path, frames: int) -> int:
    x = _roiextractors(path)
    checksum = 0
    read = getattr(x, "get_series", None) or x.get_video
    for start in range(0, frames, CHUNK):
        # a copy: roiextractors may hand out a view of a memory map, which reads nothing until touched
        block = np.array(read(start, min(frames, start + CHUNK)), copy=True)
        checksum += int(block[-1, 0, 0])
        del block
    return checksum


def roiextractors_window(path: Path, start: int) -> int:
    x = _roiextractors(path)
    read = getattr(x, "get_series", None) or x.get_video
    return int(np.array(read(start, start + WINDOW), copy=True)[:, 0, 0].astype(np.int64).sum())


WORKERS = {
    ("roicore", "sequential"): roicore_sequential,
    ("roicore", "window"): roicore_window,
    ("roicore-reader", "window"): reader_window,
    ("tifffile.pages", "sequential"): pages_sequential,
    ("tifffile.imread", "sequential"): imread_sequential,
    ("tifffile.imread", "window"): imread_window,
    ("roiextractors", "sequential"): roiextractors_sequential,
    ("roiextractors", "window"): roiextractors_window,
}


def worker(candidate: str, mode: str, path: Path, argument: int) -> None:
    import importlib

    # imports are not what is measured: each candidate's package is imported before the clock starts
    importlib.import_module({"roicore": "roicore", "roiextractors": "roiextractors"}.get(candidate, "tifffile"))
    if candidate.startswith("roicore"):
        importlib.import_module("tifffile")
    function = WORKERS[(candidate, mode)]
    baseline = _peak_mb()
    begin = time.perf_counter()
    checksum = function(path, argument)
    seconds = time.perf_counter() - begin
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": baseline, "checksum": checksum}))


def run(candidate: str, mode: str, path: Path, argument: int) -> dict:
    evict(path)
    command = [sys.executable, __file__, "--worker", candidate, mode, str(path), str(argument)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{candidate} {mode} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def have_roiextractors() -> bool:
    done = subprocess.run([sys.executable, "-c", "import roiextractors"], capture_output=True, check=False)
    return done.returncode == 0


def bench_file(path: Path, frames: int, rounds: int, candidates: list[str]) -> dict:
    rng = np.random.default_rng(1)
    results: dict = {}
    for round_number in range(rounds):
        order = candidates if round_number % 2 == 0 else candidates[::-1]
        start = int(rng.integers(0, frames - WINDOW))
        for candidate in order:
            for mode in ("sequential", "window"):
                if (candidate, mode) not in WORKERS:
                    continue
                argument = frames if mode == "sequential" else start
                results.setdefault((candidate, mode), []).append(run(candidate, mode, path, argument))
    return results


def report(title: str, results: dict, size_mb: float) -> None:
    print(f"\n{title}")
    print(f"{'candidate':<18} {'mode':<11} {'median s':>9} {'MB/s':>8} {'peak RSS MB':>12} {'(above start)':>14}")
    medians = {}
    for (candidate, mode), passes in results.items():
        seconds = statistics.median(p["seconds"] for p in passes)
        peak = statistics.median(p["peak_mb"] for p in passes)
        above = statistics.median(p["peak_mb"] - p["baseline_mb"] for p in passes)
        medians[(candidate, mode)] = seconds
        megabytes = size_mb if mode == "sequential" else WINDOW * FRAME_BYTES / 2**20
        print(f"{candidate:<18} {mode:<11} {seconds:>9.3f} {megabytes / seconds:>8.0f} {peak:>12.0f} {above:>14.0f}")
        checksums = {p["checksum"] for p in passes} if mode == "sequential" else set()
        if len(checksums) > 1:
            print(f"  warning: {candidate} {mode} checksums differ between rounds: {checksums}")
    ours = medians.get(("roicore", "sequential"))
    for yardstick in ("tifffile.imread", "tifffile.pages", "roiextractors"):
        other = medians.get((yardstick, "sequential"))
        if ours and other:
            verdict = "  (goal >= 0.8: met)" if yardstick == "tifffile.imread" and other / ours >= 0.8 else (
                "  (goal >= 0.8: NOT met)" if yardstick == "tifffile.imread" else "")
            print(f"sequential rate roicore / {yardstick}: {other / ours:.2f}{verdict}")
    for ours_name in ("roicore", "roicore-reader"):
        ours_window = medians.get((ours_name, "window"))
        for yardstick in ("tifffile.imread", "roiextractors"):
            other = medians.get((yardstick, "window"))
            if ours_window and other:
                print(f"100-frame window (open included) speed-up {ours_name} vs {yardstick}: {other / ours_window:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--worker", nargs=4, metavar=("CANDIDATE", "MODE", "PATH", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        candidate, mode, path, argument = args.worker
        worker(candidate, mode, Path(path), int(argument))
        return
    frames = args.size_mb * 2**20 // FRAME_BYTES
    if frames // 4 <= WINDOW:
        raise SystemExit(f"--size-mb {args.size_mb} is too small: the quarter-size file needs more than {WINDOW} frames")
    folder = Path(tempfile.mkdtemp(prefix="bench_tiff_", dir=args.dir))
    free = shutil.disk_usage(folder).free
    if free < 2.5 * frames * FRAME_BYTES:
        raise SystemExit(f"only {free / 2**30:.1f} GiB free in {folder}; pass a smaller --size-mb")
    candidates = ["roicore", "roicore-reader", "tifffile.pages", "tifffile.imread"]
    if have_roiextractors():
        candidates.append("roiextractors")
    else:
        print("roiextractors is not installed: its column is skipped (pip install roiextractors)")
    print(f"{frames} frames of {ROWS} x {COLUMNS} uint16 ({frames * FRAME_BYTES / 2**20:.0f} MiB), chunks of {CHUNK}, "
          f"{args.rounds} rounds, page cache evicted before every pass; the machine is shared, so times vary")
    try:
        for layout in ("shaped", "plain"):
            path = folder / f"stack-{layout}.tif"
            begin = time.perf_counter()
            make_stack(path, frames, plain=layout == "plain")
            print(f"wrote {path.name} in {time.perf_counter() - begin:.1f} s")
            results = bench_file(path, frames, args.rounds, candidates)
            report(f"{layout} stack ({'one contiguous block' if layout == 'shaped' else 'no stack metadata: offsets from every IFD'})",
                   results, frames * FRAME_BYTES / 2**20)
            path.unlink()
        quarter = frames // 4
        path = folder / "stack-quarter.tif"
        make_stack(path, quarter, plain=True)
        small = bench_file(path, quarter, args.rounds, ["roicore"])
        report(f"quarter-size plain stack ({quarter} frames): roicore's peak memory does not grow with the file",
               small, quarter * FRAME_BYTES / 2**20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
