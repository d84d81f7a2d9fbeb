"""Dense boolean masks against a sparse matrix: conversion cost, peak memory, end-to-end extraction.

Builds ``--rois`` square ROIs on 512 x 512 frames as a dense ``(512, 512, n)`` bool array and as the
equivalent sparse CSC matrix, and an in-memory uint16 video of ``--frames`` frames. In one run,
alternating the candidates ``--repeats`` times, it measures:

* ``RoiMasks.from_image_masks(dense)`` and, for reference, the former conversion
  (``scipy.sparse.csc_matrix(dense.reshape(-1, n).astype(float64))``); peak memory of each above
  the inputs (``tracemalloc``, which numpy reports to), as a multiple of the dense array's size;
* ``roicore.extract(video, dense)`` against ``roicore.extract(video, sparse)``, end to end
  (``method="sima"``), and checks both give the same traces.

It prints medians and the ratio sparse time / dense time (goal: >= 0.85) and the peak memory
(goal: < 2x the mask array). Usage::

    python benchmarks/bench_dense_masks.py [--frames 2000] [--rois 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from typing import Any, Callable

import numpy as np
from scipy import sparse

import roicore
from roicore.memory import NumpyImagingExtractor
from roicore.segmentation import RoiMasks

ROWS = COLUMNS = 512


def make_masks(count: int, size: int = 12, seed: int = 0) -> np.ndarray:
    """``count`` square ROIs of ``size`` x ``size`` pixels at random places, as a dense bool array."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((ROWS, COLUMNS, count), dtype=bool)
    for roi in range(count):
        row, column = rng.integers(0, ROWS - size, 2)
        dense[row : row + size, column : column + size, roi] = True
    return dense


def former_conversion(dense: np.ndarray) -> Any:
    """The conversion before roicore 0.2.x: a float64 copy of the whole array, then CSC."""
    return sparse.csc_matrix(dense.reshape(-1, dense.shape[2]).astype(np.float64))


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    begin = time.perf_counter()
    result = function()
    return time.perf_counter() - begin, result


def peak_bytes(function: Callable[[], Any]) -> int:
    """Peak memory allocated while ``function`` runs (its result included)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--rois", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    dense = make_masks(args.rois)
    matrix = sparse.csc_matrix(RoiMasks.from_image_masks(dense).matrix)
    rng = np.random.default_rng(1)
    video = NumpyImagingExtractor(rng.integers(0, 4096, (args.frames, ROWS, COLUMNS), dtype=np.uint16), 30.0)
    print(f"masks: {args.rois} ROIs on {ROWS} x {COLUMNS} ({dense.nbytes / 2**20:.0f} MiB as bool, "
          f"{matrix.nnz} pixels); video: {args.frames} frames uint16 ({video.size * 2 / 2**30:.2f} GiB)")

    conversions: dict[str, list[float]] = {"from_image_masks": [], "former float64 + csc": []}
    extractions: dict[str, list[float]] = {"sparse matrix": [], "dense bool": []}
    for _ in range(args.repeats):
        seconds, new = timed(lambda: RoiMasks.from_image_masks(dense))
        conversions["from_image_masks"].append(seconds)
        seconds, old = timed(lambda: former_conversion(dense))
        conversions["former float64 + csc"].append(seconds)
        assert abs(new.matrix - old).max() == 0
        seconds, from_sparse = timed(lambda: roicore.extract(video, matrix, method="sima", progress=False))
        extractions["sparse matrix"].append(seconds)
        seconds, from_dense = timed(lambda: roicore.extract(video, dense, method="sima", progress=False))
        extractions["dense bool"].append(seconds)
        np.testing.assert_array_equal(from_dense.get_traces(), from_sparse.get_traces())

    print("\nconversion of the dense masks (median of", args.repeats, "runs):")
    for name, values in conversions.items():
        print(f"  {name:<22} {statistics.median(values):8.3f} s")
    speedup = statistics.median(conversions["former float64 + csc"]) / statistics.median(conversions["from_image_masks"])
    print(f"  from_image_masks is {speedup:.1f}x faster than the former conversion")
    new_peak = peak_bytes(lambda: RoiMasks.from_image_masks(dense))
    old_peak = peak_bytes(lambda: former_conversion(dense))
    print(f"  peak memory: from_image_masks {new_peak / 2**20:.1f} MiB = {new_peak / dense.nbytes:.2f}x the mask "
          f"array (goal < 2x); former {old_peak / 2**20:.0f} MiB = {old_peak / dense.nbytes:.1f}x")

    print("\nend-to-end roicore.extract (median of", args.repeats, "runs):")
    for name, values in extractions.items():
        print(f"  {name:<22} {statistics.median(values):8.3f} s")
    ratio = statistics.median(extractions["sparse matrix"]) / statistics.median(extractions["dense bool"])
    print(f"  ratio sparse time / dense time = {ratio:.2f} (goal >= 0.85)")


if __name__ == "__main__":
    main()
