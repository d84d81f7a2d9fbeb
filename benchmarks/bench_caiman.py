#!/usr/bin/env python
"""roicore-caiman against roiextractors 0.10 on one large CaImAn CNMF file, side by side.

What it does
------------
1. Writes a CaImAn-layout HDF5 file (CaImAn's own saver rules, via
   ``roicore_caiman.samples``): 2,000 components of ~150 pixels on a 512 x 512
   field, 10,000 frames, float64 ``C``, ``YrA``, ``S`` (as CaImAn stores them),
   two dense background components, ``Cn``, evaluated acceptance.
2. Installs ``roiextractors==0.10.*`` into a separate venv under a cache folder
   (``$ROICORE_BENCH_CACHE`` or ``~/.cache/roicore-bench``; reused by later runs).
   If that fails, it says why and reports roicore's numbers alone.
3. Measures, each in a fresh subprocess of the library's own interpreter, the
   two libraries alternated in every round: (a) opening the file; (b) all masks
   (``get_roi_pixel_masks()``, the same output in both libraries; roicore's
   native sparse ``get_roi_masks()`` is shown too); (c) all raw traces; (d) a
   1,000-frame window of 10 ROIs. Time is the median of ``--repeat``
   processes (default 5), with the range; peak memory (``tracemalloc``) comes
   from one more, so tracing does not slow the timed runs. It also counts the
   trace bytes each library reads while opening.
4. Measures (a)+(b)+(c) as a user runs them, in one fresh process per run
   (alternated, median of ``--repeat``): *with the import* (from the start of
   the process, numpy and h5py included for both), *after the import
   statement* (each library's lazy imports count here), and *warm* (the same
   sequence again in that process).
5. Prints a table and the ratios roiextractors / roicore, checks that both
   libraries return the same values, and prints the budget verdicts: opening
   reads no trace data; (a)+(b)+(c) at least 5x faster, in each of the three.

The file sits in the page cache (it was just written) for both libraries alike.
Run: ``python benchmarks/bench_caiman.py`` (``--help`` for sizes; ``--quick``
for a shorter run; a few minutes, plus the one-time venv install).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROIEXTRACTORS_SPEC = "roiextractors==0.10.*"
OPERATIONS = ("open", "masks", "sparse", "raw", "window")
LABELS = {
    "open": "(a) open",
    "masks": "(b) all masks (pixel masks)",
    "sparse": "    all masks (sparse matrix)",
    "raw": "(c) all raw traces",
    "window": "(d) 1,000 frames x 10 ROIs",
}

# Runs in a fresh interpreter of either environment: plain numpy + h5py + the library under test.
CHILD = r"""
import time
process_start = time.perf_counter()
import gc, json, resource, sys, tracemalloc
args = json.loads(sys.argv[1])
import numpy as np, h5py  # the counting hooks below need them; timed in "with imports" for both libraries

TRACE_FIELDS = {"/estimates/C", "/estimates/YrA", "/estimates/S", "/estimates/F_dff", "/estimates/f"}
trace_bytes = [0]
original_getitem = h5py.Dataset.__getitem__

def counting_getitem(self, key, *rest, **options):
    value = original_getitem(self, key, *rest, **options)
    if self.name in TRACE_FIELDS:
        trace_bytes[0] += int(getattr(value, "nbytes", 0))
    return value

original_read_direct = h5py.Dataset.read_direct

def counting_read_direct(self, dest, *rest, **options):
    before = trace_bytes[0]
    original_read_direct(self, dest, *rest, **options)
    if self.name in TRACE_FIELDS:
        trace_bytes[0] = before + int(dest.nbytes)

h5py.Dataset.__getitem__ = counting_getitem
h5py.Dataset.read_direct = counting_read_direct

if args["library"] == "roicore":
    from roicore_caiman.reader import CaimanSegmentationExtractor
    imported = time.perf_counter()
    open_file = lambda path: CaimanSegmentationExtractor(path)
    window = lambda x, ids, a, b: x.get_traces(roi_ids=ids, start_sample=a, end_sample=b, name="raw")
    sparse_masks = lambda x: x.get_roi_masks()
else:
    from roiextractors import CaimanSegmentationExtractor
    imported = time.perf_counter()
    open_file = lambda path: CaimanSegmentationExtractor(file_path=path)
    window = lambda x, ids, a, b: x.get_traces(roi_ids=ids, start_frame=a, end_frame=b, name="raw")
    sparse_masks = None

def checksum_pixel_masks(masks):
    return float(sum(float(np.sum(m[:, 2] * (m[:, 0] * 4096.0 + m[:, 1]))) for m in masks))

op, memory = args["op"], args["mode"] == "memory"
if op == "sequence":  # (a) + (b) + (c) as a user runs them: with the import, after it, and again warm
    def sequence():
        extractor = open_file(args["path"])
        masks = extractor.get_roi_pixel_masks()
        traces = np.asarray(extractor.get_traces(name="raw"))
        return len(masks), float(traces.sum(dtype=np.float64))
    first = sequence()
    done = time.perf_counter()
    again = sequence()
    warm = time.perf_counter() - done
    print(json.dumps({"with_import": done - process_start, "after_import": done - imported, "warm": warm,
                      "summary": {"count": first[0], "checksum": first[1], "same_again": first == again}}))
    sys.exit(0)
if op == "sparse" and sparse_masks is None:
    print(json.dumps({"skipped": True}))
    sys.exit(0)
gc.collect()
if memory:
    tracemalloc.start()
start = time.perf_counter()
extractor = open_file(args["path"])
open_seconds = time.perf_counter() - start
read_at_open = trace_bytes[0]
if memory:
    open_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
result, summary = None, {}
start = time.perf_counter()
if op == "masks":
    result = extractor.get_roi_pixel_masks()
elif op == "sparse":
    result = sparse_masks(extractor)
elif op == "raw":
    result = extractor.get_traces(name="raw")
elif op == "window":
    result = window(extractor, args["ids"], args["start"], args["start"] + 1000)
op_seconds = time.perf_counter() - start
if memory:
    op_peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
if op == "masks":
    summary = {"count": len(result), "pixels": int(sum(len(m) for m in result)), "checksum": checksum_pixel_masks(result)}
elif op == "sparse":
    summary = {"count": int(result.num_rois), "pixels": int(result.matrix.nnz)}
elif op in ("raw", "window"):
    arr = np.asarray(result)
    summary = {"shape": list(arr.shape), "checksum": float(arr.sum(dtype=np.float64)), "first": float(arr.flat[0])}
print(json.dumps({
    "open_seconds": open_seconds,
    "op_seconds": op_seconds if op != "open" else open_seconds,
    "open_peak": open_peak if memory else None,
    "op_peak": (op_peak if op != "open" else open_peak) if memory else None,
    "trace_bytes_at_open": read_at_open,
    "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "summary": summary,
}))
"""


def make_file(path: Path, components: int, size: int, frames: int, pixels: int, seed: int = 0) -> dict[str, Any]:
    """Write the CaImAn-layout benchmark file; return what was written."""
    from scipy import signal, sparse

    from roicore_caiman.samples import cnmf_dict, write_cnmf_file

    rng = np.random.default_rng(seed)
    radius = int(np.ceil(np.sqrt(pixels / np.pi)))
    dr, dc = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dr**2 + dc**2 <= pixels / np.pi
    # offsets sorted by Fortran index (column, then row) so each column's indices come out sorted
    order = np.lexsort((dr[inside], dc[inside]))
    off_r, off_c = dr[inside][order], dc[inside][order]
    weights = np.exp(-(off_r**2 + off_c**2) / (2 * (radius / 2) ** 2))
    weights /= np.linalg.norm(weights)
    per = off_r.size
    centre_r = rng.integers(radius, size - radius, components)
    centre_c = rng.integers(radius, size - radius, components)
    rows = centre_r[:, None] + off_r[None, :]
    cols = centre_c[:, None] + off_c[None, :]
    indices = (rows + cols * size).reshape(-1)  # Fortran order: row + column * rows
    data = (weights[None, :] * rng.uniform(0.5, 2.0, (components, 1))).reshape(-1)
    footprints = sparse.csc_matrix(
        (data, indices, np.arange(components + 1) * per), shape=(size * size, components)
    )
    spikes = (rng.random((components, frames)) < 0.01) * rng.uniform(0.5, 3.0, (components, frames))
    calcium = signal.lfilter([1.0], [1.0, -0.95], spikes, axis=1) + rng.uniform(0.5, 2.0, (components, 1))
    residual = rng.normal(0, 0.1, (components, frames))
    accepted = rng.random(components) < 0.8
    contents = cnmf_dict(
        frame_shape=(size, size),
        rate=30.0,
        footprints=footprints,
        estimates={
            "C": calcium,
            "YrA": residual,
            "S": spikes,
            "b": rng.uniform(0.1, 1.0, (size * size, 2)),
            "f": rng.uniform(0.5, 1.5, (2, frames)),
            "Cn": rng.uniform(0, 1, (size, size)),
            "idx_components": np.flatnonzero(accepted),
            "idx_components_bad": np.flatnonzero(~accepted),
            "SNR_comp": rng.uniform(0, 10, components),
            "r_values": rng.uniform(-1, 1, components),
            "cnn_preds": rng.uniform(0, 1, components),
        },
    )
    write_cnmf_file(path, contents)
    return {"pixels_per_mask": per, "raw": calcium + residual}


def roiextractors_python(cache: Path, timeout: float) -> tuple[Path | None, str]:
    """The interpreter of a venv holding roiextractors 0.10, creating it if needed; or (None, why)."""
    home = cache / f"roiextractors-0.10-py{sys.version_info.major}{sys.version_info.minor}"
    python = home / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m, roiextractors; print(m.version('roiextractors'))"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip().startswith("0.10"):
            return python, f"roiextractors {found.stdout.strip()} (cached venv {home})"
        shutil.rmtree(home, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"installing {ROIEXTRACTORS_SPEC} into {home} (one time) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, capture_output=True, text=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ROIEXTRACTORS_SPEC],
            check=True, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(home, ignore_errors=True)
        return None, f"installing {ROIEXTRACTORS_SPEC} took more than {timeout:.0f} s"
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(home, ignore_errors=True)
        tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-5:])
        return None, f"installing {ROIEXTRACTORS_SPEC} failed: {tail}"
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode != 0:
        return None, f"roiextractors does not import after installing: {found.stderr.strip().splitlines()[-1:]}"
    return python, f"roiextractors {found.stdout.strip()} (new venv {home})"


def run_child(python: Path, library: str, path: Path, op: str, mode: str, ids: list[int], start: int) -> dict[str, Any]:
    args = json.dumps({"library": library, "path": str(path), "op": op, "mode": mode, "ids": ids, "start": start})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if library == "roicore" and env.pop("PYTHONDONTWRITEBYTECODE", None):
        # roiextractors' venv has the bytecode pip wrote; an editable roicore would compile its sources
        # in every child where PYTHONDONTWRITEBYTECODE is set, so its children keep bytecode here
        env["PYTHONPYCACHEPREFIX"] = str(path.parent / "pycache")
    done = subprocess.run([str(python), "-c", CHILD, args], capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{library} {op} ({mode}) failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s [{min(values):.3f}-{max(values):.3f}]"


def measure(
    pythons: dict[str, Path], path: Path, ids: list[int], start: int, repeat: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per operation and library: the median of ``repeat`` fresh processes, libraries alternated in every round.

    Peak memory comes from one more, traced, process per library and operation.
    """
    results: dict[str, dict[str, dict[str, Any]]] = {library: {} for library in pythons}
    for op in OPERATIONS:
        runs: dict[str, list[dict[str, Any]]] = {library: [] for library in pythons}
        for _ in range(repeat):
            for library, python in pythons.items():  # alternated: a burst of load hits both alike
                runs[library].append(run_child(python, library, path, op, "time", ids, start))
        for library, python in pythons.items():
            if runs[library][0].get("skipped"):
                continue
            seconds = [run["op_seconds"] for run in runs[library]]
            middle = sorted(runs[library], key=lambda run: run["op_seconds"])[len(seconds) // 2]
            traced = run_child(python, library, path, op, "memory", ids, start)
            results[library][op] = {
                **middle,
                "op_seconds": statistics.median(seconds),
                "range": (min(seconds), max(seconds)),
                "op_peak": traced["op_peak"],
                "open_peak": traced["open_peak"],
            }
            print(f"  {library:<13} {LABELS[op].strip():<30} {_spread(seconds)}  {traced['op_peak'] / 2**20:9.1f} MiB", flush=True)
    return results


def measure_sequence(pythons: dict[str, Path], path: Path, repeat: int) -> dict[str, dict[str, list[float]]]:
    """(a)+(b)+(c) in one fresh process per run, libraries alternated: with the import, after it, warm."""
    results: dict[str, dict[str, list[float]]] = {
        library: {"with_import": [], "after_import": [], "warm": []} for library in pythons
    }
    for _ in range(repeat):
        for library, python in pythons.items():
            run = run_child(python, library, path, "sequence", "time", [], 0)
            if not run["summary"]["same_again"]:
                raise RuntimeError(f"{library}: a second open gave different values")
            for key in ("with_import", "after_import", "warm"):
                results[library][key].append(run[key])
    return results


def report_sequence(sequence: dict[str, dict[str, list[float]]]) -> None:
    print("\n(a)+(b)+(c) in one process (open, all pixel masks, all raw traces), medians of fresh processes:")
    labels = {"with_import": "with the import", "after_import": "after the import statement", "warm": "warm (again, same process)"}
    for key, label in labels.items():
        line = f"  {label:<28}"
        for library, measured in sequence.items():
            line += f" {library} {_spread(measured[key])};"
        if len(sequence) == 2:
            ours, theirs = (statistics.median(sequence[lib][key]) for lib in ("roicore", "roiextractors"))
            ratio = theirs / ours
            line += f" ratio {ratio:.2f}x: goal >= 5x {'met' if ratio >= 5 else 'MISSED'}"
        print(line)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:8.1f}x" if b > 0 else "     inf"


def report(mine: dict[str, Any], theirs: dict[str, Any] | None, file_mb: float) -> None:
    print()
    header = f"{'operation':<32}{'roicore s':>11}{'peak MiB':>10}"
    if theirs:
        header += f"{'roiextr. s':>12}{'peak MiB':>10}{'time ratio':>12}{'mem ratio':>11}"
    print(header)
    print("-" * len(header))
    for op in OPERATIONS:
        if op not in mine:
            continue
        line = f"{LABELS[op]:<32}{mine[op]['op_seconds']:>11.3f}{mine[op]['op_peak'] / 2**20:>10.1f}"
        if theirs and op in theirs:
            t, m = theirs[op]["op_seconds"], theirs[op]["op_peak"] / 2**20
            line += f"{t:>12.3f}{m:>10.1f}{_ratio(t, mine[op]['op_seconds']):>12}{_ratio(m, max(mine[op]['op_peak'] / 2**20, 1e-3)):>11}"
        print(line)
    print("-" * len(header))
    total_mine = sum(mine[op]["op_seconds"] for op in ("open", "masks", "raw"))
    line = f"{'(a)+(b)+(c)':<32}{total_mine:>11.3f}{'':>10}"
    if theirs:
        total_theirs = sum(theirs[op]["op_seconds"] for op in ("open", "masks", "raw"))
        line += f"{total_theirs:>12.3f}{'':>10}{_ratio(total_theirs, total_mine):>12}"
    print(line)
    print()
    read_mine = mine["open"]["trace_bytes_at_open"]
    print(f"trace data read while opening: roicore {read_mine / 2**20:.1f} MiB", end="")
    if theirs:
        print(f", roiextractors {theirs['open']['trace_bytes_at_open'] / 2**20:.1f} MiB (file {file_mb:.0f} MiB)")
    else:
        print(f" (file {file_mb:.0f} MiB)")
    print(f"budget 'opening reads no trace data': {'met' if read_mine == 0 else 'MISSED'}")
    if theirs:
        speedup = total_theirs / total_mine
        print(f"budget '(a)+(b)+(c) at least 5x faster than roiextractors 0.10': {'met' if speedup >= 5 else 'MISSED'} ({speedup:.1f}x)")


def agree(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    problems = []
    for op in ("masks", "raw", "window"):
        a, b = mine[op]["summary"], theirs[op]["summary"]
        for key in set(a) & set(b):
            same = np.isclose(a[key], b[key], rtol=1e-9) if isinstance(a[key], float) else a[key] == b[key]
            if not np.all(same):
                problems.append(f"{op}: {key} roicore {a[key]} vs roiextractors {b[key]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=2000)
    parser.add_argument("--size", type=int, default=512, help="field size (rows = columns)")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--pixels", type=int, default=150, help="pixels per mask (about)")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per timing and library; the median counts")
    parser.add_argument("--quick", action="store_true", help="3 processes per timing, 4,000 frames")
    parser.add_argument("--skip-roiextractors", action="store_true")
    parser.add_argument("--install-timeout", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    options = parser.parse_args(argv)
    if options.quick:
        options.repeat, options.frames = min(options.repeat, 3), min(options.frames, 4000)
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="roicore-bench-caiman-"))
    try:
        path = workdir / "cnmf_results.hdf5"
        started = time.perf_counter()
        made = make_file(path, options.components, options.size, options.frames, options.pixels)
        file_mb = path.stat().st_size / 2**20
        print(
            f"CaImAn file: {options.components} components x ~{made['pixels_per_mask']} px on "
            f"{options.size} x {options.size}, {options.frames} frames, {file_mb:.0f} MiB "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        rng = np.random.default_rng(1)
        ids = sorted(rng.choice(options.components, 10, replace=False).tolist())
        start = int(rng.integers(0, max(1, options.frames - 1000)))
        their_python, status = (None, "skipped (--skip-roiextractors)")
        if not options.skip_roiextractors:
            their_python, status = roiextractors_python(
                Path(os.environ.get("ROICORE_BENCH_CACHE") or Path.home() / ".cache" / "roicore-bench"),
                options.install_timeout,
            )
        print(f"comparison: {status}")
        print(
            f"measuring (each row: median and range of {options.repeat} fresh processes per library, the libraries "
            "alternated; peak memory from tracemalloc in one more):"
        )
        pythons = {"roicore": Path(sys.executable)}
        if their_python:
            pythons["roiextractors"] = their_python
        for library, python in pythons.items():  # untimed: writes the bytecode the timed children reuse
            run_child(python, library, path, "open", "time", ids, start)
        measured = measure(pythons, path, ids, start, options.repeat)
        mine, theirs = measured["roicore"], measured.get("roiextractors")
        report(mine, theirs, file_mb)
        report_sequence(measure_sequence(pythons, path, options.repeat))
        if theirs:
            problems = agree(mine, theirs)
            print("values: roicore and roiextractors agree on masks, raw traces and the window"
                  if not problems else "values DIFFER:\n  " + "\n  ".join(problems))
        expected_raw = float(made["raw"].sum(dtype=np.float64))
        got_raw = mine["raw"]["summary"]["checksum"]
        print(f"raw traces equal C + YrA as written: {'yes' if np.isclose(got_raw, expected_raw, rtol=1e-9) else 'NO'}")
        if options.keep:
            print(f"file kept: {path}")
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"total time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
