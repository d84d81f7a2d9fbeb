"""Conformance samples: small suite2p output folders and binaries, written the way suite2p writes them.

Each plane is built from known ROIs (``ypix``/``xpix``/``lam`` disks on a
non-square frame), traces, classifier output and images, and saved with
``numpy.save`` under suite2p's file names: the flat ``ops.npy`` of 0.x, or
1.x's ``db.npy``, ``settings.npy`` (nested sections), ``reg_outputs.npy`` and
``detect_outputs.npy``. ``max_proj`` and ``Vcorr`` are stored cropped to
``yrange``/``xrange`` as suite2p does. The ground truth is the generator's
input, never a value read back.

Plane-folder samples: ``v0-full`` (0.x, second channel, ``redcell.npy``),
``v1-split`` (1.x, no ``ops.npy``, paths stored as ``pathlib`` objects),
``v1-merged`` (1.x plus the merged ``ops.npy`` of ``save_ops_orig``),
``v0-minimal`` (only ``stat.npy``, ``F.npy`` and an ``ops.npy`` without
images: no neuropil, spikes, classifier or cropped images).

Folder samples: ``multiplane-plane1`` (``plane=1`` of a three-plane folder),
``multiplane-combined`` (the same folder without ``plane=``: its
``combined`` folder, made from the planes as suite2p's ``combined()`` does),
``multiplane-volume`` (the same folder with ``plane="volume"``: the three
planes as one volumetric segmentation), ``single-plane-v1``.

Binary samples: ``data-bin-v0``, ``data-raw-bin-v1``, ``data-chan2-bin-no-nframes``.
"""

from __future__ import annotations

import datetime
import pathlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roicore.testing.samples import ImagingTruth, Sample, SegmentationTruth

__all__ = ["PlaneContent", "make_plane_content", "combine_planes", "write_plane", "make_plane_samples", "make_folder_samples",
           "make_binary_samples", "plane_truth", "volume_truth"]

_TRACE_FILES = {"raw": "F", "neuropil": "Fneu", "deconvolved": "spks", "raw_chan2": "F_chan2",
                "neuropil_chan2": "Fneu_chan2"}


@dataclass
class PlaneContent:
    """Everything one suite2p plane folder holds, as the generator made it."""

    frame_shape: tuple[int, int]
    rois: list[dict[str, Any]]
    traces: dict[str, np.ndarray]  # roicore name -> suite2p (n_rois, n_frames) float32
    iscell: np.ndarray | None
    redcell: np.ndarray | None
    images: dict[str, np.ndarray]  # suite2p key -> array as stored (max_proj, Vcorr cropped)
    yrange: list[int]
    xrange: list[int]
    rate: float
    frames: int
    extra: dict[str, Any] = field(default_factory=dict)

    def image_masks(self) -> np.ndarray:
        rows, columns = self.frame_shape
        masks = np.zeros((rows, columns, len(self.rois)))
        for k, roi in enumerate(self.rois):
            masks[roi["ypix"], roi["xpix"], k] = roi["lam"]
        return masks

    def full_images(self) -> dict[str, np.ndarray]:
        names = {"meanImg": "mean", "meanImgE": "enhanced_mean", "meanImg_chan2": "mean_chan2",
                 "max_proj": "max", "Vcorr": "correlation"}
        out = {}
        for key, image in self.images.items():
            full = np.zeros(self.frame_shape)
            if image.shape == self.frame_shape:
                full[...] = image
            else:
                full[self.yrange[0]:self.yrange[1], self.xrange[0]:self.xrange[1]] = image
            out[names[key]] = full
        return out


def _disk(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = shape
    r0, c0 = rng.integers(0, rows), rng.integers(0, columns)
    radius = rng.uniform(1.2, 3.0)
    rr, cc = np.mgrid[0:rows, 0:columns]
    inside = (rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2
    return rr[inside].astype(np.int64), cc[inside].astype(np.int64)


def make_plane_content(
    seed: int,
    frame_shape: tuple[int, int],
    count: int,
    frames: int,
    rate: float,
    *,
    chan2: bool = False,
    optional: bool = True,
    iplane: int | None = None,
) -> PlaneContent:
    """Random suite2p-like plane results: ROIs with suite2p's stat fields, traces, classifier output, images.

    ``optional=False`` leaves out everything suite2p may not have written
    (neuropil, spikes, classifier output, enhanced mean, max projection, correlation map).
    """
    rng = np.random.default_rng(seed)
    rows, columns = frame_shape
    rois = []
    for _ in range(count):
        ypix, xpix = _disk(rng, frame_shape)
        lam = rng.uniform(0.1, 3.0, ypix.size).astype(np.float32)
        roi: dict[str, Any] = {
            "ypix": ypix, "xpix": xpix, "lam": lam,
            "med": [np.int32(np.median(ypix)), np.int32(np.median(xpix))],
            "footprint": np.float64(rng.uniform(0, 3)),
            "mrs": np.float64(rng.uniform(0.5, 2)),
            "compact": np.float64(rng.uniform(1, 1.5)),
            "npix": int(ypix.size),
            "npix_soma": np.int64(max(1, ypix.size - 1)),
            "soma_crop": rng.random(ypix.size) < 0.8,
            "overlap": rng.random(ypix.size) < 0.1,
            "radius": np.float64(rng.uniform(1, 4)),
            "aspect_ratio": np.float64(rng.uniform(1, 2)),
            "skew": np.float32(rng.normal(2, 0.5)),
            "std": np.float32(rng.uniform(1, 30)),
            "neuropil_mask": rng.choice(rows * columns, 12, replace=False).astype(np.int64),
        }
        if iplane is not None:
            roi["iplane"] = iplane
        rois.append(roi)
    names = ["raw"] + (["neuropil", "deconvolved"] if optional else []) + (["raw_chan2", "neuropil_chan2"] if chan2 else [])
    traces = {name: rng.normal(100, 20, (count, frames)).astype(np.float32) for name in names}
    yrange = [1, rows - 2]
    xrange = [2, columns - 1]
    crop = (yrange[1] - yrange[0], xrange[1] - xrange[0])
    images: dict[str, np.ndarray] = {"meanImg": rng.uniform(0, 500, frame_shape).astype(np.float32)}
    if optional:
        images["meanImgE"] = rng.uniform(0, 1, frame_shape).astype(np.float32)
        images["max_proj"] = rng.uniform(0, 900, crop).astype(np.float32)
        images["Vcorr"] = rng.uniform(0, 1, crop)
    if chan2:
        images["meanImg_chan2"] = rng.uniform(0, 300, frame_shape).astype(np.float32)
    iscell = None
    redcell = None
    if optional:
        iscell = np.column_stack([rng.random(count) < 0.6, rng.random(count)]).astype(np.float64)
    if chan2:
        redcell = np.column_stack([rng.random(count) < 0.3, rng.random(count)]).astype(np.float64)
    return PlaneContent(frame_shape, rois, traces, iscell, redcell, images, yrange, xrange, rate, frames)


def combine_planes(planes: list[PlaneContent]) -> PlaneContent:
    """What suite2p's ``combined()`` makes of equally sized planes (``io/save.py``, no ScanImage ``dx``/``dy``).

    Planes are tiled on a grid that best fills a square; ROI pixels and
    ``med`` are shifted onto the canvas, ``iplane`` is set, traces and
    classifier rows are concatenated, and every image (``max_proj`` and
    ``Vcorr`` at their plane's ``yrange``/``xrange``) is placed on a zero canvas.
    """
    rows, columns = planes[0].frame_shape
    across = int(np.ceil(np.sqrt(rows * columns * len(planes)) / columns))
    offsets = [((k // across) * rows, (k % across) * columns) for k in range(len(planes))]
    canvas = (max(dy for dy, _ in offsets) + rows, max(dx for _, dx in offsets) + columns)
    rois, images = [], {key: np.zeros(canvas) for key in planes[0].images}
    for k, (plane, (dy, dx)) in enumerate(zip(planes, offsets)):
        for roi in plane.rois:
            shifted = dict(roi, ypix=roi["ypix"] + dy, xpix=roi["xpix"] + dx, iplane=k)
            shifted["med"] = [roi["med"][0] + dy, roi["med"][1] + dx]
            rois.append(shifted)
        for key, image in plane.images.items():
            if image.shape == plane.frame_shape:
                images[key][dy:dy + rows, dx:dx + columns] = image
            else:
                (y0, y1), (x0, x1) = plane.yrange, plane.xrange
                images[key][dy + y0:dy + y1, dx + x0:dx + x1] = image
    traces = {name: np.concatenate([plane.traces[name] for plane in planes]) for name in planes[0].traces}
    iscell = None if planes[0].iscell is None else np.concatenate([plane.iscell for plane in planes])
    return PlaneContent(canvas, rois, traces, iscell, None, images, [0, canvas[0]], [0, canvas[1]],
                        planes[0].rate, planes[0].frames)


def _save_object(path: Path, value: Any) -> None:
    np.save(path, np.array(value, dtype=object) if isinstance(value, dict) else value)


def _stat_array(rois: list[dict[str, Any]]) -> np.ndarray:
    array = np.empty(len(rois), dtype=object)
    for k, roi in enumerate(rois):
        array[k] = roi
    return array


def _plane_keys(content: PlaneContent) -> dict[str, Any]:
    rows, columns = content.frame_shape
    return {"Ly": rows, "Lx": columns, "nframes": content.frames, "nchannels": 2 if "raw_chan2" in content.traces else 1}


def write_plane(folder: Path, content: PlaneContent, layout: str = "0.x", *, merged_ops: bool = False) -> Path:
    """Write ``content`` as a suite2p plane folder in the 0.x or 1.x layout; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "stat.npy", _stat_array(content.rois))
    for name, values in content.traces.items():
        np.save(folder / f"{_TRACE_FILES[name]}.npy", values)
    if content.iscell is not None:
        np.save(folder / "iscell.npy", content.iscell)
    if content.redcell is not None:
        np.save(folder / "redcell.npy", content.redcell)
    when = datetime.datetime(2026, 11, 21, 12, 0, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    registration = {"yrange": content.yrange, "xrange": content.xrange, "yoff": np.zeros(content.frames, np.int32),
                    "xoff": np.zeros(content.frames, np.int32), "badframes": np.zeros(content.frames, bool),
                    "refImg": np.zeros(content.frame_shape, np.int16)}
    for key in ("meanImg", "meanImgE", "meanImg_chan2"):
        if key in content.images:
            registration[key] = content.images[key]
    detection = {key: content.images[key] for key in ("max_proj", "Vcorr") if key in content.images}
    if layout == "0.x":
        ops = {"suite2p_version": "0.14.6", "nplanes": 1, "tau": 1.0, "fs": content.rate, "date_proc": when,
               "save_path": str(folder), "reg_file": str(folder / "data.bin"), "block_size": [128, 128],
               **_plane_keys(content), **registration, **detection, **content.extra}
        if detection:
            ops.update({"Lyc": content.yrange[1] - content.yrange[0], "Lxc": content.xrange[1] - content.xrange[0]})
        _save_object(folder / "ops.npy", ops)
        return folder
    # suite2p 1.x keeps pathlib paths in db (its save_mat converts them)
    db = {"data_path": [pathlib.Path("/data/session")], "save_path": pathlib.Path(folder),
          "reg_file": str(folder / "data.bin"), "nplanes": 1, "iplane": 0, **_plane_keys(content), **content.extra}
    settings = {"fs": content.rate, "tau": 1.0, "diameter": [12.0, 12.0], "date_proc": when, "torch_device": "cpu",
                "run": {"do_registration": 1, "do_detection": True}, "io": {"combined": True, "save_ops_orig": merged_ops},
                "registration": {"nonrigid": True, "block_size": (128, 128)},
                "detection": {"algorithm": "sparsery", "threshold_scaling": 1.0},
                "extraction": {"neuropil_coefficient": 0.7}}
    _save_object(folder / "db.npy", db)
    _save_object(folder / "settings.npy", settings)
    _save_object(folder / "reg_outputs.npy", registration)
    if detection:
        _save_object(folder / "detect_outputs.npy", {**detection, "diameter": np.array([12.0, 12.0])})
    if merged_ops:
        _save_object(folder / "ops.npy", {**db, **settings, **registration, **detection})
    return folder


def plane_truth(content: PlaneContent) -> SegmentationTruth:
    """What a reader must return for ``content``."""
    properties: dict[str, np.ndarray] = {}
    absent: tuple[str, ...] = ()
    if content.iscell is not None:
        properties["is_accepted"] = content.iscell[:, 0] != 0
        properties["cell_probability"] = content.iscell[:, 1]
    else:
        absent = ("is_accepted", "cell_probability")
    if content.redcell is not None:
        properties["is_red"] = content.redcell[:, 0] != 0
        properties["red_probability"] = content.redcell[:, 1]
    if not content.rois:  # no ROI dict, so no statistics to name
        return _truth(content, properties, absent)
    for key in ("npix", "radius", "skew", "compact", "footprint", "aspect_ratio", "std", "npix_soma", "mrs"):
        properties[key] = np.array([roi[key] for roi in content.rois])
    properties["med_row"] = np.array([roi["med"][0] for roi in content.rois], dtype=np.float64)
    properties["med_column"] = np.array([roi["med"][1] for roi in content.rois], dtype=np.float64)
    if "iplane" in content.rois[0]:
        properties["iplane"] = np.array([roi["iplane"] for roi in content.rois])
    return _truth(content, properties, absent)


def _truth(content: PlaneContent, properties: dict[str, np.ndarray], absent: tuple[str, ...]) -> SegmentationTruth:
    return SegmentationTruth(
        roi_ids=list(range(len(content.rois))),
        image_masks=content.image_masks(),
        traces={name: values.T for name, values in content.traces.items()},
        sampling_frequency=content.rate,
        num_samples=content.frames,
        images=content.full_images(),
        properties=properties,
        absent_properties=absent,
    )


def volume_truth(planes: list[PlaneContent]) -> SegmentationTruth:
    """What ``plane="volume"`` must return for equally sized planes: plane k's ROIs at plane index k, in plane order."""
    truths = [plane_truth(plane) for plane in planes]
    counts = [len(plane.rois) for plane in planes]
    masks = np.zeros((*planes[0].frame_shape, len(planes), sum(counts)))
    start = 0
    for k, truth in enumerate(truths):
        masks[:, :, k, start:start + counts[k]] = truth.image_masks
        start += counts[k]
    properties = {key: np.concatenate([truth.properties[key] for truth in truths]) for key in truths[0].properties}
    properties["plane"] = np.repeat(np.arange(len(planes)), counts)
    properties["plane_roi"] = np.concatenate([np.arange(n) for n in counts])
    return SegmentationTruth(
        roi_ids=list(range(sum(counts))),
        image_masks=masks,
        traces={name: np.concatenate([truth.traces[name] for truth in truths], axis=1) for name in truths[0].traces},
        sampling_frequency=planes[0].rate,
        num_samples=planes[0].frames,
        images={name: np.stack([truth.images[name] for truth in truths], axis=-1) for name in truths[0].images},
        properties=properties,
        absent_properties=truths[0].absent_properties,
    )


def make_plane_samples(folder: Path) -> list[Sample]:
    """Plane folders in both layouts, with and without optional files."""
    cases = [
        ("v0-full", make_plane_content(1, (23, 37), 7, 30, 12.5, chan2=True), "0.x", False),
        ("v1-split", make_plane_content(2, (30, 19), 5, 25, 30.0), "1.x", False),
        ("v1-merged", make_plane_content(3, (16, 21), 4, 20, 7.5), "1.x", True),
        ("v0-minimal", make_plane_content(4, (12, 27), 3, 15, 10.0, optional=False), "0.x", False),
    ]
    samples = []
    for sample_id, content, layout, merged in cases:
        path = write_plane(folder / sample_id / "suite2p" / "plane0", content, layout, merged_ops=merged)
        samples.append(Sample(sample_id, path, plane_truth(content)))
    return samples


def make_folder_samples(folder: Path) -> list[Sample]:
    """``suite2p`` folders: several planes with a ``combined`` folder, and a single 1.x plane."""
    root = folder / "multiplane" / "suite2p"
    planes = [make_plane_content(10 + k, (18, 26), 3 + k, 20, 5.0, iplane=k) for k in range(3)]
    for k, content in enumerate(planes):
        write_plane(root / f"plane{k}", content)
    combined = combine_planes(planes)
    write_plane(root / "combined", combined)
    single_root = folder / "single" / "suite2p"
    single = make_plane_content(30, (14, 33), 4, 18, 20.0)
    write_plane(single_root / "plane0", single, "1.x")
    return [
        Sample("multiplane-plane1", root, plane_truth(planes[1]), reader_kwargs={"plane": 1}),
        Sample("multiplane-combined", root, plane_truth(combined)),
        Sample("multiplane-volume", root, volume_truth(planes), reader_kwargs={"plane": "volume"}),
        Sample("single-plane-v1", single_root, plane_truth(single)),
    ]


def _binary_case(sample_id: str, folder: Path, name: str, shape: tuple[int, int], frames: int, rate: float, layout: str,
                 seed: int, nframes: bool = True) -> Sample:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    video = rng.integers(-2000, 12000, (frames, *shape), dtype=np.int16)
    video.astype("<i2").tofile(folder / name)
    keys = {"Ly": shape[0], "Lx": shape[1], **({"nframes": frames} if nframes else {})}
    if layout == "0.x":
        _save_object(folder / "ops.npy", {"fs": rate, "reg_file": str(folder / name), **keys})
        companions = (folder / "ops.npy",)
    else:
        _save_object(folder / "db.npy", {"reg_file": pathlib.Path(folder) / name, **keys})
        _save_object(folder / "settings.npy", {"fs": rate, "registration": {"nonrigid": True}})
        companions = (folder / "db.npy", folder / "settings.npy")
    return Sample(sample_id, folder / name,
                  ImagingTruth(video, rate), files=(folder / name, *companions))


def make_binary_samples(folder: Path) -> list[Sample]:
    """``data.bin`` beside a 0.x ``ops.npy``, ``data_raw.bin`` beside 1.x files, ``data_chan2.bin`` sized by its file."""
    return [
        _binary_case("data-bin-v0", folder / "v0", "data.bin", (17, 29), 12, 15.0, "0.x", 41),
        _binary_case("data-raw-bin-v1", folder / "v1", "data_raw.bin", (20, 11), 9, 9.5, "1.x", 42),
        _binary_case("data-chan2-bin-no-nframes", folder / "chan2", "data_chan2.bin", (8, 13), 7, 4.0, "0.x", 43,
                     nframes=False),
    ]
