"""Signal extraction with roicore-sima, side by side with a plain per-frame CSR loop, in one run.

Every comparison runs its candidates in alternated rounds (each candidate once
per round, so a burst of load on a shared machine hits all alike) and prints
the median and the range of each candidate's rate and of each ratio (the
ratio of a round is computed within that round). Printed:

1. **In RAM, a grid** of frame sizes (256 x 256, 512 x 512, 1024 x 1024 uint16)
   and ROI counts (50, 500, 3,000 disks of ~150 pixels at random positions,
   overlapping pixels removed as the method does): the yardstick (a plain
   per-frame scipy CSR loop into preallocated buffers, with the very weights
   the method uses, no mean image) against ``roicore.extract(..., method=
   "sima")`` with 1 and 2 workers, with the mean image (the default) and
   without (``mean_image=False``). Goals: with the mean image, 1 worker >=
   0.95x and 2 workers >= 1.6x the loop; mean image on vs off >= 0.9.
   Three yardsticks of what is reachable run in the same rounds: the
   compiled band pass alone (no Python around it: no weights to build, no
   result) on one thread and on two (the frames split in halves), and the
   mean image alone (the same pass with no ROI: the frames read and summed,
   nothing else, at memory speed). A miss is marked "out of reach" when the
   bare pass misses that goal too (so no saving around the pass could meet
   it: only a faster pass, or a machine with more memory bandwidth or a
   second core that computes as fast as the first), or, for on/off, when
   the mean alone takes longer than the whole extraction without it.
2. **Fixed cost per call**: ``extract`` on a 4-frame 512 x 512 video with 500
   ROIs, minus the loop's time for the same 4 frames. Goal: under 5 ms.
   Measured before the grid (reported after it): the grid's large videos
   leave the allocator's heap grown, which spared later calls 2-4 ms of page
   faults, a state a script's first calls do not have.
3. **A file not in the page cache** (``.npy``, memory-mapped), evicted before
   every pass with ``posix_fadvise(POSIX_FADV_DONTNEED)`` on that file only
   (never ``/proc/sys/vm/drop_caches``, which would evict every other job's
   cache on a shared machine): the raw sequential read (``readinto``) and
   extraction with 1 and 2 workers, alternated; ratio to the raw read of the
   same round. Goal >= 0.8.
4. **Peak memory** (VmHWM of a fresh process) of extraction from a memory-
   mapped file of two lengths: it must not grow with the file (RSS bounded by
   workers x chunk + output).
5. A SIMA-style per-frame loop on a few frames, extrapolated, labelled so.

Usage::

    python benchmarks/bench_extraction.py [--quick] [--rounds 5] [--dir PATH]
    # the grid's 1024 x 1024 cells with 1,024 frames per call (2 GiB) instead of 128:
    python benchmarks/bench_extraction.py --sizes 1024 --cell-mib 2048 --skip fixed cold memory sima
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse._sparsetools import csr_matvec

import roicore
from roicore.memory import NumpyImagingExtractor

RADIUS = 7  # disks of 149 pixels
SIZES = (256, 512, 1024)
ROI_COUNTS = (50, 500, 3000)
#: frames of video per grid cell: ~256 MiB of uint16 (128 MiB with --quick)
CELL_BYTES = 256 * 2**20


def make_video(frames: int, size: int = 512, seed: int = 0) -> np.ndarray:
    """Random uint16 frames (values 100..4000), generated in blocks."""
    rng = np.random.default_rng(seed)
    video = np.empty((frames, size, size), dtype=np.uint16)
    step = max(1, 2**26 // (size * size))
    for start in range(0, frames, step):
        count = min(step, frames - start)
        video[start : start + count] = rng.integers(100, 4000, (count, size, size), dtype=np.uint16)
    return video


def make_masks(size: int = 512, rois: int = 500, seed: int = 1) -> sparse.csc_matrix:
    """``rois`` disk ROIs of radius 7 (149 px) at random positions, as (pixels, rois)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-RADIUS : RADIUS + 1, -RADIUS : RADIUS + 1]
    disk = yy**2 + xx**2 <= RADIUS**2
    cy = rng.integers(RADIUS + 1, size - RADIUS - 1, rois)
    cx = rng.integers(RADIUS + 1, size - RADIUS - 1, rois)
    pixels = ((cy[:, None] + yy[disk][None]) * size + cx[:, None] + xx[disk][None]).ravel()
    owners = np.repeat(np.arange(rois), disk.sum())
    return sparse.csc_matrix((np.ones(pixels.size), (pixels, owners)), shape=(size * size, rois))


def method_weights(imaging: Any, masks: sparse.csc_matrix) -> sparse.csr_matrix:
    """The float32 weights the method uses (overlap removed, 1/n), for the yardstick."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = roicore.extract(imaging.slice_samples(0, 2), masks, method="sima")
    return sparse.csr_matrix(probe.get_roi_masks().matrix.T.tocsr(), dtype=np.float32)


def plain_csr_loop(video: np.ndarray, weights: sparse.csr_matrix) -> np.ndarray:
    """The yardstick: per-frame CSR product from a preallocated float32 buffer into a preallocated output."""
    frames = video.reshape(video.shape[0], -1)
    rows, cols = weights.shape
    out = np.zeros((frames.shape[0], rows), dtype=np.float32)
    buffer = np.empty(cols, dtype=np.float32)
    for t in range(frames.shape[0]):
        np.copyto(buffer, frames[t], casting="unsafe")
        csr_matvec(rows, cols, weights.indptr, weights.indices, weights.data, buffer, out[t])
    return out


def bare_bands(weights: sparse.csr_matrix) -> list[Any]:
    """The compiled pass's bands of ``weights`` as extraction builds them for a long video."""
    from roicore_sima.kernel import _compiled_bands, compiled_band_pixels

    return _compiled_bands(weights, compiled_band_pixels(weights), gathered=True)


def bare_pass(video: np.ndarray, bands: list[Any], rois: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """The compiled band pass alone over frames ``[start, stop)``: traces and mean image sums, in view-sized chunks.

    What extraction spends in compiled code for the same frames, without
    anything around it. With bands of no ROI (``rois=0``) it is the mean image
    alone: every frame read once and summed, which any extraction that
    computes the mean must do.
    """
    from roicore_sima import _bandpass
    from roicore_sima.extract import VIEW_CHUNK_BYTES

    frames = video.reshape(video.shape[0], -1)
    stop = frames.shape[0] if stop is None else stop
    step = max(1, VIEW_CHUNK_BYTES // (frames.shape[1] * frames.itemsize))
    out = np.zeros((step, rois), dtype=np.float32)
    sums = np.zeros(frames.shape[1], dtype=np.int32)  # cannot wrap: the videos here hold values below 4,000
    for first in range(start, stop, step):
        last = min(stop, first + step)
        for band in bands:
            _bandpass.band_pass(
                frames[first:last, band.first : band.last], out[: last - first], band.bounds, band.indices,
                band.data, sums[band.first : band.last], None,
            )
    return sums


def bare_pass_two_threads(video: np.ndarray, bands: list[Any], rois: int) -> None:
    """:func:`bare_pass` on two threads, each over half the frames (the pass releases the GIL)."""
    half = video.shape[0] // 2
    threads = [
        threading.Thread(target=bare_pass, args=(video, bands, rois, 0, half)),
        threading.Thread(target=bare_pass, args=(video, bands, rois, half)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def quiet_extract(imaging: Any, masks: Any, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return roicore.extract(imaging, masks, method="sima", **options)


def rounds(candidates: dict[str, Callable[[], Any]], count: int, *, keep: bool = False) -> dict[str, list[float]]:
    """Seconds per call of every candidate, ``count`` rounds, each candidate once per round in turn.

    ``keep``: each candidate's result lives until its next call returns, as
    with ``result = f()`` in a loop (else it is dropped at once).
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    kept: dict[str, Any] = {}
    for _ in range(count):
        for name, function in candidates.items():
            started = time.perf_counter()
            result = function()
            times[name].append(time.perf_counter() - started)
            if keep:
                kept[name] = result
            del result
    return times


def spread(values: list[float], digits: int = 2) -> str:
    """``median [min-max]``."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def verdict(value: float, goal: float) -> str:
    return "met" if value >= goal else "MISSED"


# -- 1. in RAM, the grid --------------------------------------------------------------------------
CANDIDATES = {
    "1 worker": dict(n_workers=1),
    "2 workers": dict(n_workers=2),
    "1 worker, mean_image=False": dict(n_workers=1, mean_image=False),
    "2 workers, mean_image=False": dict(n_workers=2, mean_image=False),
}


def grid_cell(size: int, rois: int, frames: int, count: int) -> dict[str, Any]:
    video = make_video(frames, size)
    masks = make_masks(size, rois)
    imaging = NumpyImagingExtractor(video, 30.0)
    weights = method_weights(imaging, masks)
    reference = plain_csr_loop(video[:64], weights)
    check = quiet_extract(imaging.slice_samples(0, 64), masks).get_traces()
    dropped = np.isnan(check).all(axis=0)  # ROIs left without pixels by overlap removal: NaN, the loop gives 0
    identical = bool(np.array_equal(check[:, ~dropped], reference[:, ~dropped])) and not reference[:, dropped].any()
    bands = bare_bands(weights)
    no_rois = bare_bands(sparse.csr_matrix((0, size * size), dtype=np.float32))
    candidates: dict[str, Callable[[], Any]] = {"loop": partial(plain_csr_loop, video, weights)}
    for name, options in CANDIDATES.items():
        candidates[name] = partial(quiet_extract, imaging, masks, **options)
    candidates["bare pass, 1 thread"] = partial(bare_pass, video, bands, weights.shape[0])
    candidates["bare pass, 2 threads"] = partial(bare_pass_two_threads, video, bands, weights.shape[0])
    candidates["mean alone, 1 thread"] = partial(bare_pass, video, no_rois, 0)
    candidates["mean alone, 2 threads"] = partial(bare_pass_two_threads, video, no_rois, 0)
    times = rounds(candidates, count)
    loop = np.array(times["loop"])
    ratios = {name: list(loop / np.array(times[name])) for name in candidates if name != "loop"}
    for workers, threads in (("1 worker", "1 thread"), ("2 workers", "2 threads")):
        off = np.array(times[f"{workers}, mean_image=False"])
        ratios[f"mean on/off, {workers}"] = list(off / np.array(times[workers]))
        # summing the frames overlapped perfectly with the rest of the work: the whole takes the longer of the two
        ratios[f"on/off reachable, {workers}"] = list(off / np.maximum(off, np.array(times[f"mean alone, {threads}"])))
    return {
        "rates": {name: [frames / t for t in values] for name, values in times.items()},
        "ratios": ratios,
        "identical": identical,
        "nnz": int(weights.nnz),
        "mean_alone_gbps": video.nbytes / statistics.median(times["mean alone, 1 thread"]) / 1e9,
    }


#: each goal of the grid, and the yardstick that shows whether it is reachable at all
GOALS = {
    "1 worker": (0.95, "bare pass, 1 thread"),
    "2 workers": (1.6, "bare pass, 2 threads"),
    "mean on/off, 1 worker": (0.9, "on/off reachable, 1 worker"),
    "mean on/off, 2 workers": (0.9, "on/off reachable, 2 workers"),
}


def run_grid(sizes: tuple[int, ...], roi_counts: tuple[int, ...], cell_bytes: int, count: int) -> list[str]:
    print(f"\n1. in RAM: ratios to the plain loop (median [range] of {count} alternated rounds)")
    measured = [*CANDIDATES, "mean on/off, 1 worker", "mean on/off, 2 workers"]
    yardsticks = ["bare pass, 1 thread", "bare pass, 2 threads", "mean alone, 1 thread", "mean alone, 2 threads",
                  "on/off reachable, 1 worker", "on/off reachable, 2 workers"]
    print(
        f"  {'frame':>9} {'ROIs':>5} {'frames':>6} {'loop f/s':>16} {'1 worker':>17} {'2 workers':>17} "
        f"{'1w no mean':>17} {'2w no mean':>17} {'on/off 1w':>17} {'on/off 2w':>17}"
    )
    cells = []
    for size in sizes:
        for rois in roi_counts:
            frames = max(64, cell_bytes // (size * size * 2))
            cell = grid_cell(size, rois, frames, count)
            cells.append((size, rois, frames, cell))
            print(
                f"  {f'{size}x{size}':>9} {rois:>5} {frames:>6} {spread(cell['rates']['loop'], 0):>16} "
                + " ".join(f"{spread(cell['ratios'][key]):>17}" for key in measured)
                + ("" if cell["identical"] else "  (traces differ from the loop's!)"),
                flush=True,
            )
    print(
        "\n  what is reachable, same rounds: the compiled pass alone (no Python around it) and the mean image alone,"
        "\n  as ratios to the loop; on/off reachable = without the mean / the longer of that and the mean alone"
    )
    print(
        f"  {'frame':>9} {'ROIs':>5} {'pass 1 thread':>17} {'pass 2 threads':>17} {'mean alone 1t':>17} "
        f"{'mean alone 2t':>17} {'on/off 1w':>17} {'on/off 2w':>17} {'mean alone GB/s':>15}"
    )
    missed = []
    out_of_reach = 0
    for size, rois, _, cell in cells:
        r = cell["ratios"]
        print(
            f"  {f'{size}x{size}':>9} {rois:>5} "
            + " ".join(f"{spread(r[key]):>17}" for key in yardsticks)
            + f" {cell['mean_alone_gbps']:>15.1f}"
        )
        for key, (goal, yardstick) in GOALS.items():
            value = statistics.median(r[key])
            if value < goal:
                reach = statistics.median(r[yardstick])
                out_of_reach += reach < goal
                why = f"; out of reach: {yardstick} {reach:.2f}" if reach < goal else f" ({yardstick} {reach:.2f})"
                missed.append(f"{size}x{size}, {rois} ROIs: {key} {value:.2f} < {goal}{why}")
    print(
        "  goals (medians): with the mean image 1 worker >= 0.95x and 2 workers >= 1.6x the loop; "
        f"mean image on/off >= 0.9: {'all met' if not missed else f'{len(missed)} MISSED, {out_of_reach} of them out of reach'}"
    )
    for line in missed:
        print(f"    MISSED: {line}")
    return missed


# -- 2. fixed cost per call -----------------------------------------------------------------------
def measure_fixed_cost(count: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per call of the loop and of ``extract`` (1 and 2 workers) on 4 frames, after one untimed call each.

    Measured twice: keeping each result until the next call, and dropping it
    at once. Freeing a result just before the next call can let glibc's
    allocator give its heap back to the system, and the next call fault it
    in again (``perf stat``, 1 worker, calls one after another: 45 vs 1,335
    page faults per call).
    """
    video = make_video(4, 512)
    masks = make_masks(512, 500)
    imaging = NumpyImagingExtractor(video, 30.0)
    weights = method_weights(imaging, masks)
    from roicore.segmentation import RoiMasks

    prepared = RoiMasks.from_sparse(masks, (512, 512))  # the conversion of the caller's masks is not the method's
    candidates = {
        "loop, 4 frames": partial(plain_csr_loop, video, weights),
        "extract, 4 frames, 1 worker": partial(quiet_extract, imaging, prepared, n_workers=1),
        "extract, 4 frames, 2 workers": partial(quiet_extract, imaging, prepared, n_workers=2),
    }
    rounds(candidates, 1)  # the first call pays the lazy imports
    return {
        "each result kept until the next call": rounds(candidates, max(21, 5 * count), keep=True),
        "each result dropped at once": rounds(candidates, max(21, 5 * count)),
    }


def report_fixed_cost(measured: dict[str, dict[str, list[float]]]) -> float:
    """Print the fixed cost per call (median minus the loop's) of every pattern; return the worst."""
    print("\n2. fixed cost per extract call (512x512, 500 ROIs, 4 frames; measured before the grid), ms: median [range]")
    worst = 0.0
    for pattern, times in measured.items():
        loop = statistics.median(times["loop, 4 frames"])
        print(f"  {pattern} ({len(times['loop, 4 frames'])} rounds):")
        for name, values in times.items():
            extra = "" if name.startswith("loop") else f"; minus the loop: {1e3 * (statistics.median(values) - loop):.1f} ms"
            print(f"    {name:30s} {spread([1e3 * v for v in values], 1)}{extra}")
            if not name.startswith("loop"):
                worst = max(worst, statistics.median(values) - loop)
    print(f"  goal: fixed cost < 5 ms: {'met' if worst < 0.005 else 'MISSED'} (worst {1e3 * worst:.1f} ms)")
    return worst


# -- 3. a file not in the page cache ---------------------------------------------------------------
def evict(path: Path) -> float | None:
    """Drop ``path`` (only it) from the page cache; returns the fraction still cached, where measurable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    return cached_fraction(path)


def cached_fraction(path: Path) -> float | None:
    """Fraction of the file's pages in the page cache (``mincore``), or None where unsupported."""
    try:
        import ctypes
        import mmap

        libc = ctypes.CDLL(None, use_errno=True)
        size = path.stat().st_size
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), size, prot=mmap.PROT_READ) as mapping:
            view = np.frombuffer(mapping, dtype=np.uint8)
            residency = np.zeros(pages, dtype=np.uint8)
            status = libc.mincore(
                ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(size), residency.ctypes.data_as(ctypes.c_void_p)
            )
            del view
        return None if status != 0 else float(np.mean(residency & 1))
    except Exception:
        return None


def raw_read(path: Path, chunk_bytes: int = 8 * 2**20) -> None:
    """Read the whole file sequentially with readinto into one reused buffer."""
    view = memoryview(bytearray(chunk_bytes))
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(view):
            pass


def run_cold(folder: Path, frames: int, count: int) -> None:
    if not hasattr(os, "posix_fadvise"):
        print("\n3. cold file: skipped (no posix_fadvise here, so the file cannot be evicted)")
        return
    video = make_video(frames, 512)
    masks = make_masks(512, 500)
    path = folder / "video.npy"
    np.save(path, video)
    del video
    residency: list[float] = []

    def extract_file(workers: int) -> None:
        with NumpyImagingExtractor(path, 30.0) as on_disk:
            quiet_extract(on_disk, masks, n_workers=workers)

    try:
        # the eviction runs before the clock starts
        times: dict[str, list[float]] = {"raw read (readinto)": [], "extract, 1 worker": [], "extract, 2 workers": []}
        functions = {
            "raw read (readinto)": partial(raw_read, path),
            "extract, 1 worker": partial(extract_file, 1),
            "extract, 2 workers": partial(extract_file, 2),
        }
        for _ in range(count):
            for name, function in functions.items():
                left = evict(path)
                if left is not None:
                    residency.append(left)
                started = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - started)
        size = path.stat().st_size
        print(
            f"\n3. file on disk ({size / 1e9:.2f} GB .npy, memory-mapped), evicted before every pass with "
            f"posix_fadvise(DONTNEED) on this file only"
            + (f"; page-cache residency after eviction at most {max(residency):.0%}" if residency else "")
        )
        raw = np.array(times["raw read (readinto)"])
        print(f"  {'cold: raw read (readinto)':32s} {spread([frames / t for t in raw], 0)} frames/s, "
              f"{spread([size / t / 1e9 for t in raw])} GB/s")
        for name in ("extract, 1 worker", "extract, 2 workers"):
            values = np.array(times[name])
            ratio = list(raw / values)
            print(
                f"  cold: {name:26s} {spread([frames / t for t in values], 0)} frames/s; vs the raw read of "
                f"the same round {spread(ratio)}: goal >= 0.8 {verdict(statistics.median(ratio), 0.8)}"
            )
    finally:
        path.unlink(missing_ok=True)


# -- 4. memory -------------------------------------------------------------------------------------
MEMORY_CHILD = r"""
import json, sys, warnings
import numpy as np
sys.path.insert(0, {bench_dir!r})
import roicore
from roicore.memory import NumpyImagingExtractor
from bench_extraction import make_masks

def high_water_kib():
    # VmHWM belongs to this process image (ru_maxrss would include the parent's, inherited across fork/exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

masks = make_masks(512, 500)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    roicore.extract(NumpyImagingExtractor(np.zeros((8, 512, 512), np.uint16), 30.0), masks, method="sima",
                    n_workers={workers})  # imports and set-up
    base = high_water_kib()
    with NumpyImagingExtractor({path!r}, 30.0) as video:
        result = roicore.extract(video, masks, method="sima", n_workers={workers})
peak = high_water_kib()
print(json.dumps({{"before_kib": base, "peak_kib": peak, "output_bytes": int(result.get_traces().nbytes)}}))
"""


def run_memory(folder: Path, lengths: tuple[int, int]) -> None:
    print("\n4. peak memory (VmHWM of a fresh process) extracting from a memory-mapped .npy, 2 workers:")
    for frames in lengths:
        path = folder / f"memory-{frames}.npy"
        mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(frames, 512, 512))
        for start in range(0, frames, 256):
            mapped[start : start + 256] = (np.arange(start, min(frames, start + 256)) % 1000 + 100)[:, None, None]
        mapped.flush()
        del mapped
        try:
            code = MEMORY_CHILD.format(bench_dir=str(Path(__file__).resolve().parent), path=str(path), workers=2)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            record = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            path.unlink(missing_ok=True)
        growth = (record["peak_kib"] - record["before_kib"]) / 1024
        print(
            f"  {frames:6d} frames ({frames * 512 * 512 * 2 / 1e9:5.2f} GB file): peak RSS "
            f"{record['peak_kib'] / 1024:7.1f} MiB, {growth:6.1f} MiB above the set-up, of which output "
            f"{record['output_bytes'] / 2**20:5.1f} MiB"
        )


# -- 5. SIMA-style loop ---------------------------------------------------------------------------
def sima_style_loop(video: np.ndarray, weights64: sparse.csr_matrix, frames: int) -> None:
    """SIMA's non-overlap per-frame path: float64 dF/F of the whole frame, mask copies and slicing per frame."""
    mean = video[:frames].mean(axis=0, dtype=np.float64)  # SIMA's time_averages (a separate pass)
    mask_stack = weights64.tocsc()
    masked_pixels = np.unique(mask_stack.nonzero()[1])
    mask_stack = mask_stack[:, masked_pixels]
    n_rois = mask_stack.shape[0]
    for t in range(frames):
        df = ((video[t] - mean) / mean).flatten()
        values = df[masked_pixels]
        imaged_pixels = np.isfinite(values)
        orig_masks = mask_stack.copy()
        imaged_masks = orig_masks[:, imaged_pixels]
        imaged_rois = np.unique(imaged_masks.nonzero()[0])
        if len(imaged_rois) < n_rois:
            orig_masks = orig_masks.tocsr()[imaged_rois, :].tocsc()
            imaged_masks = imaged_masks.tocsr()[imaged_rois, :].tocsc()
        orig_masks.data **= 2
        imaged_masks.data **= 2
        scale = np.array(orig_masks.sum(axis=1) / imaged_masks.sum(axis=1)).ravel()
        frame_weights = sparse.diags(scale, 0) @ imaged_masks
        result = frame_weights @ values[imaged_pixels, np.newaxis]
        result = result + frame_weights.sum(axis=1)


def run_sima(frames: int) -> None:
    video = make_video(max(frames, 64), 512)
    masks = make_masks(512, 500)
    imaging = NumpyImagingExtractor(video, 30.0)
    weights = method_weights(imaging, masks)
    times = rounds({"sima": lambda: sima_style_loop(video, weights.astype(np.float64), frames),
                    "loop": partial(plain_csr_loop, video[:frames], weights)}, 1)
    print(
        f"\n5. SIMA-style per-frame loop ({frames} frames, extrapolated): {frames / times['sima'][0]:.0f} frames/s, "
        f"{times['loop'][0] / times['sima'][0]:.3f}x the plain loop"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, half-size videos, shorter files")
    parser.add_argument("--rounds", type=int, default=None, help="alternated rounds per comparison (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the on-disk videos (default: temporary)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rois", type=int, nargs="+", default=list(ROI_COUNTS))
    parser.add_argument(
        "--cell-mib", type=int, default=None,
        help=f"video size per grid cell in MiB (default {CELL_BYTES // 2**20}, half with --quick): more frames per call",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["grid", "fixed", "cold", "memory", "sima"])
    args = parser.parse_args()
    count = args.rounds or (3 if args.quick else 5)
    cell_bytes = args.cell_mib * 2**20 if args.cell_mib else CELL_BYTES // 2 if args.quick else CELL_BYTES
    began = time.perf_counter()
    load = os.getloadavg()
    print(
        f"roicore-sima extraction benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} (1 / 5 / 15 min) at the start; {count} alternated rounds per comparison"
    )
    fixed = None if "fixed" in args.skip else measure_fixed_cost(count)
    if "grid" not in args.skip:
        run_grid(tuple(args.sizes), tuple(args.rois), cell_bytes, count)
    if fixed is not None:
        report_fixed_cost(fixed)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="roicore-sima-bench-"))
    try:
        if "cold" not in args.skip:
            run_cold(folder, 1024 if args.quick else 2048, count)
        if "memory" not in args.skip:
            run_memory(folder, (1000, 4000) if args.quick else (2000, 8000))
    finally:
        if args.dir is None:
            for leftover in folder.glob("*.npy"):
                leftover.unlink()
            folder.rmdir()
    if "sima" not in args.skip:
        run_sima(40 if args.quick else 100)
    load = os.getloadavg()
    print(f"\n  load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
          f"total benchmark time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
