"""``roicore demo``: the main job on built-in data, from a synthetic session to traces and a figure.

1. generate a session (:mod:`roicore.demo.session`) with its ground truth;
2. write it in the native formats of the installed plugins: a raw video with
   its JSON sidecar and a ``.npy`` video (roicore-memmap), and the neurons'
   true footprints saved in CaImAn's CNMF layout (roicore-caiman; CaImAn did
   not segment anything: the demo needs masks whose truth is known);
3. open every file through auto-detection and say what read it and why;
4. extract the signals from the raw video with the ``sima`` method
   (roicore-sima) using those footprints, and write the traces;
5. compare the traces with the ground truth (per-ROI correlation) and draw
   a figure (matplotlib, when installed).

Formats or methods whose plugin is not installed are skipped with the
``pip install`` line that adds them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["run_demo"]

#: (kind of contribution, id, distribution that provides it)
NEEDED = (("writer", "memmap", "roicore-memmap"), ("writer", "caiman", "roicore-caiman"),
          ("method", "sima", "roicore-sima"))


def _available() -> dict[str, bool]:
    import roicore

    ids = {("writer", c.id) for c in roicore.writers()} | {("method", c.id) for c in roicore.methods()}
    return {name: (kind, name) in ids for kind, name, _ in NEEDED}


def _detected(path: Path, root: Path) -> Any:
    """Open ``path`` by auto-detection and print what read it and why."""
    import roicore

    extractor = roicore.open(path)
    source = extractor.source
    version = f" {source.version}" if source.version else ""
    print(f"  {str(path.relative_to(root)):<22} -> {source.plugin}{version}, reader {source.reader!r}: {source.rule}")
    return extractor


def _correlations(extracted: Any, truth: Any) -> Any:
    import numpy as np

    a = extracted - extracted.mean(axis=0)
    b = truth - truth.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def run_demo(folder: str | Path, *, frames: int = 3000, seed: int = 0) -> int:
    """Run the demo into ``folder``; returns 0 when the extracted traces match the ground truth.

    Parameters
    ----------
    folder : str or Path
        Created if needed; existing demo files in it are replaced.
    frames : int
        Length of the synthetic session.
    seed : int
        The session's random seed.

    Returns
    -------
    int
        0 on success; 1 when the median per-ROI correlation is not above 0.9,
        or a needed plugin is missing.
    """
    import numpy as np

    import roicore
    from roicore.demo.session import make_session
    from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor

    began = time.perf_counter()
    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    available = _available()
    missing = [f"{kind} {name!r} (pip install {dist})" for kind, name, dist in NEEDED if not available[name]]
    print(f"roicore {roicore.__version__} demo, writing into {root}")
    if missing:
        print("this demo needs plugins that are not installed: " + "; ".join(missing))
        return 1

    started = time.perf_counter()
    session = make_session(num_frames=frames, seed=seed)
    frames_, rows, columns = session.video.shape
    fs = session.sampling_frequency
    print(f"\n1. generated a session: {frames_} frames of {rows} x {columns} uint16 at {fs:g} Hz "
          f"({frames_ / fs:.0f} s), {session.num_neurons} neurons with calcium transients, uneven illumination, "
          f"a fluctuating neuropil, 3% drift and shot noise ({time.perf_counter() - started:.1f} s)")

    video = NumpyImagingExtractor(session.video, fs)
    footprints = session.footprints / np.linalg.norm(session.footprints.reshape(-1, session.num_neurons), axis=0)
    cnmf = NumpySegmentationExtractor(
        footprints,  # CaImAn's A: one unit-norm column per neuron
        fs,
        traces={"denoised": session.calcium, "deconvolved": session.spikes},
        images={"mean": session.video.mean(axis=0)},
        properties={"is_accepted": np.ones(session.num_neurons, dtype=bool)},
    )
    written = {
        "raw video + sidecar": roicore.write(video, root / "session.bin", format="memmap", overwrite=True),
        ".npy video": roicore.write(video, root / "session.npy", format="memmap", overwrite=True),
        "true footprints in CaImAn's layout": roicore.write(cnmf, root / "session_cnmf.hdf5", format="caiman",
                                                         overwrite=True),
    }
    truth_path = root / "ground_truth.npz"
    np.savez(truth_path, calcium=session.calcium, spikes=session.spikes, footprints=session.footprints,
             centers=session.centers, sampling_frequency=fs)
    print("\n2. wrote the session in the installed plugins' formats:")
    for what, path in written.items():
        print(f"  {path.name:<22} {what}, {path.stat().st_size / 2**20:.1f} MiB")
    print(f"  {truth_path.name:<22} the ground truth (numpy .npz, no pickles)")
    footprints_file = written["true footprints in CaImAn's layout"].name
    print(f"  ({footprints_file} holds the generated footprints written in CaImAn's CNMF file layout; "
          "CaImAn did not segment them)")

    print("\n3. opened every file by auto-detection (roicore.open):")
    raw_video = _detected(written["raw video + sidecar"], root)
    with _detected(written[".npy video"], root) as npy_video:
        same = all(np.array_equal(video.get_series(), session.video) for video in (raw_video, npy_video))
    segmentation = _detected(written["true footprints in CaImAn's layout"], root)
    print(f"  the .npy and raw videos read back the generated frames: {'yes' if same else 'NO'}")

    with raw_video, segmentation:
        started = time.perf_counter()
        result = roicore.extract(raw_video, segmentation, method="sima", label="demo")
        seconds = time.perf_counter() - started
        traces_path = roicore.write(result, root / "session_traces.hdf5", format="caiman", overwrite=True)
    extracted = result.get_traces()
    correlations = _correlations(extracted, session.calcium)
    print(f"\n4. extracted {result.get_num_rois()} traces from {written['raw video + sidecar'].name} with the "
          f"true footprints (method 'sima', {result.provenance['options'].get('n_workers', '?')} worker(s)): "
          f"{seconds:.2f} s, {frames_ / seconds:,.0f} frames/s; wrote {traces_path.name}")
    worst = int(np.nanargmin(correlations))
    median = float(np.nanmedian(correlations))
    print(f"\n5. accuracy against the ground truth (Pearson r of each ROI's trace with its true calcium):")
    print(f"  median r = {median:.3f}, worst r = {correlations[worst]:.3f} (ROI {result.get_roi_ids()[worst]}), "
          f"{int(np.sum(correlations > 0.9))} of {correlations.size} ROIs above 0.9")
    figure = root / "demo.png"
    try:
        from roicore.demo.figure import demo_figure

        demo_figure(result, session.calcium, correlations, figure)
        print(f"  figure: {figure}")
    except roicore.errors.MissingDependencyError as exc:
        print(f"  no figure: {exc}")
    print(f"\nall demo files are in {root} ({time.perf_counter() - began:.1f} s in all)")
    print(f"next: roicore info {root / 'session_traces.hdf5'}   or   roicore show {root / 'session.bin'} -o movie.png")
    if not median > 0.9:
        print(f"the median correlation {median:.3f} is not above 0.9: extraction does not recover the signals")
        return 1
    return 0
