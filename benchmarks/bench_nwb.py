#!/usr/bin/env python
"""roicore-nwb against neuroconv writing the same data to NWB, side by side; and the cost of opening.

What it does
------------
1. Video: a 512 x 512 uint16 video of ``--frames`` frames (10,000 by default, 5.2 GB), generated
   lazily frame by frame (no source file, so only the writers' I/O is measured), handed to
   roicore-nwb as a roicore ImagingExtractor and to neuroconv's ``add_imaging_to_nwbfile`` as a
   roiextractors ImagingExtractor over the same generator. Both write uncompressed (neuroconv's
   tool functions do not compress; roicore-nwb gets ``compression=None``), with each library's
   default chunking and buffering.
2. Segmentation: ``--rois`` ROIs (2,000) of about 60 pixels on the 512 x 512 frame with raw and
   dF/F traces of ``--frames`` samples (float32), pixel masks, in memory; roicore-nwb writes a
   roicore.memory.NumpySegmentationExtractor (full-width windows are slices, copied once), neuroconv's
   ``add_segmentation_to_nwbfile`` a roiextractors extractor holding the same pixel masks and traces (``mask_type="pixel"`` for both: dense image
   masks of 2,000 ROIs on 512 x 512 are 4.2 GB in float64, which neuroconv holds in memory whole).
3. Each write runs in a fresh subprocess (time: wall clock of the write call; memory: the process's
   peak RSS above its RSS just before the call), the candidates alternate, ``--repeat`` times
   (default 3); medians and the neuroconv / roicore ratios are printed. After each run the output is
   read back and checked against the source (a sample of frames, all masks and traces), evicted from
   the page cache (``posix_fadvise(DONTNEED)``, own file only) and deleted.
4. Opening: the cost of opening the shared CaImAn export (../shared/realdata/caiman_analysis.nwb)
   with pynwb (import + ``NWBHDF5IO.read()``) against roicore-nwb's h5py reader (import + open +
   parse), each in a fresh interpreter: the measurement behind reading with h5py.

Goal (issue 13): no slower than neuroconv, bounded memory. Needs neuroconv:
``pip install "roicore-nwb[bench]"`` (neuroconv, roiextractors, psutil). The machine may be shared:
the numbers say so when it was. Run: ``python benchmarks/bench_nwb.py`` (``--frames 2000`` for a
quick run; about 5-10 minutes at the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
args = json.loads(sys.argv[1])
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

frames, rows, cols, rois = args["frames"], 512, 512, args["rois"]
base = np.random.default_rng(0).integers(0, 4000, (rows, cols), dtype=np.uint16)

def frame_block(start, end):
    offsets = (np.arange(start, end, dtype=np.uint16) % 97)[:, None, None]
    return base[None, :, :] + offsets

def segmentation_data():
    rng = np.random.default_rng(1)
    masks = []
    for k in range(rois):
        r0, c0 = rng.integers(4, rows - 4), rng.integers(4, cols - 4)
        rr, cc = np.mgrid[-4:5, -4:5]
        keep = rr ** 2 + cc ** 2 <= 18
        weights = rng.uniform(0.1, 1.0, keep.sum())
        masks.append(np.stack([rr[keep] + r0, cc[keep] + c0, weights], axis=1).astype(np.float64))
    raw = rng.normal(100, 10, (frames, rois)).astype(np.float32)
    dff = rng.normal(0, 1, (frames, rois)).astype(np.float32)
    return masks, raw, dff

out = Path(args["out"]) if False else args["out"]
library, what = args["library"], args["what"]
from datetime import datetime, timezone
from pathlib import Path
start_time = datetime(2024, 1, 1, tzinfo=timezone.utc)

if library == "roicore":
    import roicore
    from roicore.imaging import ImagingExtractor
    from roicore.memory import NumpySegmentationExtractor

    class Generated(ImagingExtractor):
        def get_image_shape(self): return (rows, cols)
        def get_num_samples(self): return frames
        def get_sampling_frequency(self): return 30.0
        def get_dtype(self): return np.dtype(np.uint16)
        def _read_series(self, start, end): return frame_block(start, end)

    if what == "video":
        source = Generated()
    else:
        masks, raw, dff = segmentation_data()
        source = NumpySegmentationExtractor(masks, 30.0, traces={"raw": raw, "dff": dff}, frame_shape=(rows, cols))
    import pynwb, hdmf.common, roicore_nwb.writer  # noqa: F401 - imported before timing, as neuroconv's side imports them
    roicore.writers()  # the registry is built once per process: before timing, like the imports
    metadata = {"NWBFile": {"session_start_time": start_time}}
    before = rss_mb()
    t0 = time.perf_counter()
    if what == "video":
        roicore.write(source, out, compression=None, metadata=metadata)
    else:
        roicore.write(source, out, mask_type="pixel", compression=None, metadata=metadata)
    elapsed = time.perf_counter() - t0
else:
    from neuroconv.tools.nwb_helpers import make_nwbfile_from_metadata
    from neuroconv.tools.roiextractors import (add_imaging_to_nwbfile, add_segmentation_to_nwbfile,
                                               get_nwb_imaging_metadata, get_nwb_segmentation_metadata)
    from pynwb import NWBHDF5IO
    from roiextractors import ImagingExtractor, SegmentationExtractor
    from roiextractors.segmentationextractor import _ROIMasks, _RoiResponse

    class GeneratedRE(ImagingExtractor):
        def __init__(self):
            super().__init__()
        def get_image_shape(self): return (rows, cols)
        def get_image_size(self): return (rows, cols)
        def get_num_samples(self): return frames
        def get_num_frames(self): return frames
        def get_sampling_frequency(self): return 30.0
        def get_dtype(self): return np.dtype(np.uint16)
        def get_channel_names(self): return ["OpticalChannel"]
        def get_num_channels(self): return 1
        def get_native_timestamps(self, start_sample=None, end_sample=None): return None
        def get_series(self, start_sample=None, end_sample=None):
            return frame_block(start_sample or 0, frames if end_sample is None else end_sample)
        def get_video(self, start_frame=None, end_frame=None):
            return self.get_series(start_frame, end_frame)

    class PixelSegRE(SegmentationExtractor):
        def __init__(self, masks, raw, dff):
            super().__init__()
            ids = list(range(len(masks)))
            self._sampling_frequency = 30.0
            self._roi_masks = _ROIMasks(masks, "nwb-pixel_mask", (rows, cols), {i: i for i in ids})
            self._roi_responses = [_RoiResponse("raw", raw, ids), _RoiResponse("dff", dff, ids)]
        def get_frame_shape(self): return (rows, cols)
        def get_image_size(self): return (rows, cols)
        def get_native_timestamps(self, start_sample=None, end_sample=None): return None

    if what == "video":
        source = GeneratedRE()
    else:
        masks, raw, dff = segmentation_data()
        source = PixelSegRE(masks, raw, dff)
    metadata = (get_nwb_imaging_metadata if what == "video" else get_nwb_segmentation_metadata)(source)
    metadata["NWBFile"].update(session_start_time=start_time, session_description="benchmark", identifier="bench")
    before = rss_mb()
    t0 = time.perf_counter()
    nwbfile = make_nwbfile_from_metadata(metadata)
    if what == "video":
        add_imaging_to_nwbfile(source, nwbfile, metadata)
    else:
        add_segmentation_to_nwbfile(source, nwbfile, metadata, mask_type="pixel", include_roi_centroids=False,
                                    include_roi_acceptance=False)
    with NWBHDF5IO(out, "w") as io:
        io.write(nwbfile)
    elapsed = time.perf_counter() - t0

peak = peak_mb()
# read back with h5py and check against the source
import h5py
with h5py.File(out, "r") as handle:
    if what == "video":
        data = handle["acquisition/TwoPhotonSeries/data"]
        picks = sorted({0, frames // 3, frames - 1})
        ok = all(np.array_equal(data[i].T, frame_block(i, i + 1)[0]) for i in picks) and data.shape == (frames, cols, rows)
    else:
        ps = handle["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        pix, ends = ps["pixel_mask"][()], ps["pixel_mask_index"][()]
        flat = np.concatenate(masks)
        ok = (np.array_equal(pix["x"], flat[:, 0]) and np.array_equal(pix["y"], flat[:, 1])
              and np.allclose(pix["weight"], flat[:, 2], rtol=1e-6) and int(ends[-1]) == flat.shape[0])
        fl = handle["processing/ophys/Fluorescence/RoiResponseSeries/data"]
        # neuroconv 0.10 puts dF/F in Fluorescence/DfOverF, roicore-nwb (and older neuroconv) in DfOverF/RoiResponseSeries
        dff_path = next(p for p in ("processing/ophys/DfOverF/RoiResponseSeries/data", "processing/ophys/Fluorescence/DfOverF/data")
                        if p in handle)
        ok = ok and np.array_equal(fl[()], raw) and np.array_equal(handle[dff_path][()], dff)
size = os.path.getsize(out)
descriptor = os.open(out, os.O_RDONLY)
os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(descriptor)
os.unlink(out)
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "extra_mb": max(0.0, peak - before), "ok": bool(ok), "bytes": size}))
"""

OPEN_CHILD = r"""
import json, sys, time
which, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if which == "pynwb":
    from pynwb import NWBHDF5IO
    io = NWBHDF5IO(path, "r")
    nwbfile = io.read()
    n = len(nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"].id)
    io.close()
else:
    from roicore_nwb.segmentation import NwbSegmentationExtractor
    seg = NwbSegmentationExtractor(path)
    n = seg.get_num_rois() + seg.get_num_background_components()
    seg.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": n}))
"""


def _run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "child failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rois", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("video", "segmentation", "open"), default=None)
    options = parser.parse_args()
    from importlib.metadata import version

    try:
        import neuroconv  # noqa: F401
        import roiextractors  # noqa: F401
    except ImportError as exc:
        have_neuroconv = False
        print(f"neuroconv is not installed ({exc}): roicore-nwb's numbers alone. "
              "For the comparison install it with: pip install \"roicore-nwb[bench]\"")
        print(f"roicore-nwb {version('roicore-nwb')}, pynwb {version('pynwb')}, hdmf {version('hdmf')}; {_load()}")
    else:
        have_neuroconv = True
        print(f"roicore-nwb {version('roicore-nwb')}, neuroconv {version('neuroconv')}, roiextractors {version('roiextractors')}, "
              f"pynwb {version('pynwb')}, hdmf {version('hdmf')}; {_load()} (the machine may be shared)")
    folder = Path(tempfile.mkdtemp(prefix="bench-nwb-"))
    whats = [w for w in ("video", "segmentation") if options.only in (None, w)]
    for what in whats:
        size = (f"512 x 512 uint16 x {options.frames} frames" if what == "video"
                else f"{options.rois} ROIs (pixel masks) x {options.frames} samples, raw + dff float32")
        print(f"\n== write {what}: {size}, {options.repeat} alternating runs per library ==")
        results: dict[str, list[dict]] = {"roicore": [], "neuroconv": []} if have_neuroconv else {"roicore": []}
        for run in range(options.repeat):
            order = [lib for lib in results]
            for library in (order if run % 2 == 0 else order[::-1]):
                args = {"library": library.split("-")[0], "what": what, "frames": options.frames, "rois": options.rois,
                        "out": str(folder / f"{library}-{what}.nwb")}
                result = _run(CHILD, json.dumps(args))
                if not result["ok"]:
                    print(f"  {library}: the written file does not hold the source's values")
                    return 1
                results[library].append(result)
                print(f"  run {run + 1} {library:13s} {result['seconds']:8.2f} s  peak RSS {result['peak_mb']:8.0f} MiB "
                      f"(+{result['extra_mb']:.0f} MiB during the write)  {result['bytes'] / 2**20:8.0f} MiB written")
        median = {lib: {key: statistics.median(r[key] for r in rs) for key in ("seconds", "extra_mb", "peak_mb")}
                  for lib, rs in results.items()}
        if not have_neuroconv:
            print(f"  median: roicore-nwb {median['roicore']['seconds']:.2f} s, +{median['roicore']['extra_mb']:.0f} MiB")
            continue
        print(f"  median: roicore-nwb {median['roicore']['seconds']:.2f} s, +{median['roicore']['extra_mb']:.0f} MiB; "
              f"neuroconv {median['neuroconv']['seconds']:.2f} s, +{median['neuroconv']['extra_mb']:.0f} MiB")
        speed = median["neuroconv"]["seconds"] / median["roicore"]["seconds"]
        memory = median["neuroconv"]["extra_mb"] / max(median["roicore"]["extra_mb"], 1.0)
        print(f"  ratio neuroconv / roicore-nwb: time {speed:.2f}x, memory during the write {memory:.2f}x")
        print(f"  goal 'no slower': {'met' if speed >= 1.0 else 'NOT met'}")
    if options.only in (None, "open"):
        here = Path(__file__).resolve().parents[1]
        export = here.parent / "shared" / "realdata" / "caiman_analysis.nwb"
        if export.is_file():
            print(f"\n== open {export.name}: fresh interpreter, import + open + parse, {max(options.repeat, 5)} alternating runs ==")
            times: dict[str, list[float]] = {"pynwb": [], "roicore-nwb": []}
            for run in range(max(options.repeat, 5)):
                for which in (("pynwb", "roicore-nwb") if run % 2 == 0 else ("roicore-nwb", "pynwb")):
                    times[which].append(_run(OPEN_CHILD, which, str(export))["seconds"])
            a, b = statistics.median(times["pynwb"]), statistics.median(times["roicore-nwb"])
            print(f"  median: pynwb {a * 1000:.0f} ms, roicore-nwb (h5py) {b * 1000:.0f} ms; ratio {a / b:.1f}x")
        else:
            print(f"\n(open section skipped: {export} is absent)")
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
