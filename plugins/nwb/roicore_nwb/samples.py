"""Conformance samples: small NWB files written with pynwb the way each producer writes them.

Every file is built from known masks, traces and images (the ground truth is
the generator's input, never a value read back), laid out as the producer's
exporter lays it out (see :mod:`roicore_nwb.producers` and the README):

``caiman``
    ``Estimates.save_NWB``: ``CNMF_ROIs``, image masks as the Fortran-order
    footprint reshaped C-order to ``dims``, a background row, ``C`` in
    ``Fluorescence/RoiResponseSeries``, ``YrA`` in ``residuals``, timestamps.
``suite2p``
    ``suite2p.io.save_nwb``: pixel masks holding (row, column) in x/y, the
    ``Fluorescence``/``Neuropil``/``Deconvolved`` containers of ``plane0``
    series, a 2-D ``iscell`` column, ``Backgrounds_0`` images, a rate.
``suite2p-multiplane``
    The same for two planes: voxel masks (row, column, plane) in one table,
    ``plane0``/``plane1`` series; read with ``plane=1``.
``neuroconv``
    neuroconv's ``add_segmentation_to_nwbfile``: image masks ``(n, columns,
    rows)``, images transposed, ``Accepted``/``Rejected``, ``ROICentroids``,
    ``DfOverF``, a nonzero starting time; ``BackgroundPlaneSegmentation``.
``two-planes``
    Two PlaneSegmentations on two imaging planes, no producer named (the NWB
    schema's x = column), pixel masks; read with ``plane_segmentation=``.
"""

from __future__ import annotations

import functools
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from roicore.testing.samples import ImagingTruth, Sample, SegmentationTruth, WriterSample

__all__ = [
    "make_segmentation_samples",
    "make_imaging_samples",
    "make_segmentation_writer_samples",
    "make_imaging_writer_samples",
    "blob_masks",
    "new_nwbfile",
    "add_imaging_plane",
    "write_nwbfile",
    "write_caiman_style",
    "write_suite2p_style",
    "write_neuroconv_style",
    "write_plain_style",
    "write_photon_series",
]

START = datetime(2024, 5, 17, 9, 30, tzinfo=timezone.utc)


def blob_masks(rng: np.random.Generator, frame_shape: tuple[int, int], count: int, sigma: float = 1.3) -> np.ndarray:
    """``(rows, columns, count)`` Gaussian blobs cut at 20 % of their peak, spread over the whole frame."""
    rows, columns = frame_shape
    rr, cc = np.mgrid[0:rows, 0:columns]
    masks = np.zeros((rows, columns, count))
    for k in range(count):
        r0, c0 = rng.uniform(1, rows - 2), rng.uniform(1, columns - 2)
        blob = np.exp(-((rr - r0) ** 2 + (cc - c0) ** 2) / (2 * sigma**2))
        blob[blob < 0.2 * blob.max()] = 0.0
        masks[:, :, k] = blob
    return masks


def new_nwbfile(session_description: str, *, source_script: str | None = None) -> Any:
    """An NWBFile with a fixed start time (and the given source script)."""
    from pynwb import NWBFile

    extra = {"source_script": source_script, "source_script_file_name": "convert.py"} if source_script else {}
    return NWBFile(session_description=session_description, identifier=str(uuid.uuid4()), session_start_time=START, **extra)


def add_imaging_plane(nwbfile: Any, name: str = "ImagingPlane", rate: float = 10.0) -> Any:
    """A device, optical channel and imaging plane."""
    from pynwb.ophys import OpticalChannel

    device = nwbfile.devices.get("Microscope") or nwbfile.create_device(name="Microscope", description="two-photon microscope")
    channel = OpticalChannel(name="OpticalChannel", description="green", emission_lambda=520.0)
    return nwbfile.create_imaging_plane(
        name=name, optical_channel=channel, imaging_rate=rate, description="imaging plane", device=device,
        excitation_lambda=920.0, indicator="GCaMP6f", location="V1",
    )


def write_nwbfile(nwbfile: Any, path: Path) -> Path:
    """Write ``nwbfile`` to ``path`` with pynwb."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _quiet(builder: Callable[..., Path]) -> Callable[..., Path]:
    """Silence hdmf's warning about regions made before their series joins the file (as the exporters do)."""

    @functools.wraps(builder)
    def run(*args: Any, **kwargs: Any) -> Path:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
            return builder(*args, **kwargs)

    return run


def _traces(rng: np.random.Generator, frames: int, count: int) -> np.ndarray:
    return rng.gamma(2.0, 1.0, (frames, count))


@_quiet
def write_caiman_style(path: Path, masks: np.ndarray, background: np.ndarray, C: np.ndarray, YrA: np.ndarray,
                       f: np.ndarray, rate: float, *, keep: np.ndarray, snr: np.ndarray, r: np.ndarray) -> Path:
    """An NWB file laid out as CaImAn 1.12's ``Estimates.save_NWB`` writes it."""
    from pynwb import TimeSeries
    from pynwb.ophys import Fluorescence, ImageSegmentation

    rows, columns, count = masks.shape
    nwbfile = new_nwbfile("CaImAn Results")
    plane = add_imaging_plane(nwbfile, rate=rate)
    module = nwbfile.create_processing_module("ophys", "contains caiman estimates for the main imaging plane")
    segmentation = ImageSegmentation()
    module.add(segmentation)
    fluorescence = Fluorescence()
    module.add(fluorescence)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="CNMF_ROIs", imaging_plane=plane)
    for column, text in (("r", "description of r values"), ("snr", "signal to noise ratio"),
                         ("accepted", "in accepted list"), ("rejected", "in rejected list"), ("keep", "in idx_components")):
        table.add_column(column, text)
    dims = (rows, columns)
    for k in range(count):
        flat = masks[:, :, k].reshape(-1, order="F")  # a column of A
        table.add_roi(image_mask=flat.reshape(dims), r=r[k], snr=snr[k], accepted=False, rejected=False, keep=bool(keep[k]))
    for j in range(background.shape[2]):
        flat = background[:, :, j].reshape(-1, order="F")
        table.add_roi(image_mask=flat.reshape(dims), r=np.nan, snr=np.nan, accepted=False, rejected=False, keep=False)
    cells = table.create_roi_table_region("ROIs", region=list(range(count)))
    backs = table.create_roi_table_region("Background", region=list(range(count, count + background.shape[2])))
    stamps = np.arange(C.shape[0]) / rate
    fluorescence.create_roi_response_series(name="RoiResponseSeries", data=C, rois=cells, unit="lumens", timestamps=stamps)
    fluorescence.create_roi_response_series(name="Background_Fluorescence_Response", data=f, rois=backs, unit="lumens", timestamps=stamps)
    module.add(TimeSeries(name="residuals", description="residuals", data=YrA, timestamps=stamps, unit="NA"))
    return write_nwbfile(nwbfile, path)


def _pixel_rows(mask: np.ndarray) -> np.ndarray:
    r, c = np.nonzero(mask)
    return np.stack([r, c, mask[r, c]], axis=1)


@_quiet
def write_suite2p_style(path: Path, planes: list[dict[str, Any]], rate: float) -> Path:
    """An NWB file laid out as suite2p 0.14's ``save_nwb`` writes it (one table, ``planeN`` series)."""
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import Fluorescence, ImageSegmentation, RoiResponseSeries

    multiplane = len(planes) > 1
    nwbfile = new_nwbfile("suite2p_proc")
    plane = add_imaging_plane(nwbfile, rate=rate)
    segmentation = ImageSegmentation()
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="suite2p output", imaging_plane=plane)
    module = nwbfile.create_processing_module(name="ophys", description="optical physiology processed data")
    module.add(segmentation)
    iscell = []
    for index, content in enumerate(planes):
        for k in range(content["masks"].shape[2]):
            rows = _pixel_rows(content["masks"][:, :, k])  # suite2p: [ypix, xpix, lam]
            if multiplane:
                table.add_roi(voxel_mask=[(r, c, index, w) for r, c, w in rows])
            else:
                table.add_roi(pixel_mask=[(r, c, w) for r, c, w in rows])
        iscell.append(content["iscell"])
    table.add_column("iscell", "two columns - iscell & probcell", np.concatenate(iscell))
    regions, first = [], 0
    for index, content in enumerate(planes):
        count = content["masks"].shape[2]
        regions.append(table.create_roi_table_region(region=list(range(first, first + count)), description=f"ROIs for plane{index}"))
        first += count
    for container, key in (("Fluorescence", "F"), ("Neuropil", "Fneu"), ("Deconvolved", "spks")):
        holder = None
        for index, content in enumerate(planes):
            series = RoiResponseSeries(name=f"plane{index}", data=content[key], rois=regions[index], unit="lumens", rate=rate)
            if holder is None:
                holder = Fluorescence(roi_response_series=series, name=container)
            else:
                holder.add_roi_response_series(series)
        module.add(holder)
    for index, content in enumerate(planes):
        images = Images(name=f"Backgrounds_{index}")
        for name, image in content["images"].items():
            images.add_image(GrayscaleImage(name=name, data=image))
        module.add(images)
    return write_nwbfile(nwbfile, path)


@_quiet
def write_neuroconv_style(path: Path, masks: np.ndarray, traces: dict[str, np.ndarray], rate: float, start: float, *,
                          accepted: np.ndarray, images: dict[str, np.ndarray], background: np.ndarray | None = None,
                          background_traces: np.ndarray | None = None, ids: list[int] | None = None) -> Path:
    """An NWB file laid out as neuroconv's ``add_segmentation_to_nwbfile`` writes it."""
    from hdmf.common import VectorData
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, PlaneSegmentation, RoiResponseSeries

    nwbfile = new_nwbfile("no description", source_script="Created using NeuroConv v0.6.7")
    plane = add_imaging_plane(nwbfile, rate=rate)
    module = nwbfile.create_processing_module("ophys", "contains optical physiology processed data")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    module.add(segmentation)
    count = masks.shape[2]
    ids = list(range(count)) if ids is None else ids
    table = PlaneSegmentation(name="PlaneSegmentation", description="Segmented ROIs", imaging_plane=plane, id=ids,
                              columns=[VectorData(name="image_mask", description="Image masks for each ROI.", data=masks.T)])
    centroids = np.array([[np.average(np.nonzero(masks[:, :, k])[1]), np.average(np.nonzero(masks[:, :, k])[0])] for k in range(count)])
    table.add_column(name="ROICentroids", description="The x, y, (z) centroids of each ROI.", data=centroids)
    table.add_column(name="Accepted", description="1 if ROI was accepted", data=accepted.astype(int))
    table.add_column(name="Rejected", description="1 if ROI was rejected", data=(~accepted).astype(int))
    segmentation.add_plane_segmentation(table)
    region = table.create_roi_table_region(region=list(range(count)), description="The ROIs for ImagingPlane.")
    fluorescence, dff = Fluorescence(name="Fluorescence"), DfOverF(name="DfOverF")
    names = {"raw": "RoiResponseSeries", "deconvolved": "Deconvolved", "neuropil": "Neuropil", "denoised": "Denoised"}
    for name, values in traces.items():
        holder = dff if name == "dff" else fluorescence
        series_name = "RoiResponseSeries" if name == "dff" else names[name]
        holder.add_roi_response_series(RoiResponseSeries(name=series_name, data=values, rois=region, unit="n.a.",
                                                         rate=rate, starting_time=start))
    if background is not None:
        back = PlaneSegmentation(name="BackgroundPlaneSegmentation", description="Segmented Background Components",
                                 imaging_plane=plane, id=list(range(count, count + background.shape[2])),
                                 columns=[VectorData(name="image_mask", description="Image masks", data=background.T)])
        segmentation.add_plane_segmentation(back)
        back_region = back.create_roi_table_region(region=list(range(background.shape[2])), description="background")
        fluorescence.add_roi_response_series(RoiResponseSeries(name="Background", data=background_traces, rois=back_region,
                                                               unit="n.a.", rate=rate, starting_time=start))
    module.add(fluorescence)
    if "dff" in traces:
        module.add(dff)
    container = Images(name="SegmentationImages", description="The summary images of the segmentation.")
    for name, image in images.items():
        container.add_image(GrayscaleImage(name=name, data=image.T))
    module.add(container)
    return write_nwbfile(nwbfile, path)


@_quiet
def write_plain_style(path: Path, tables: list[dict[str, Any]], timestamps: np.ndarray) -> Path:
    """Several PlaneSegmentations, one per imaging plane, pixel masks with x = column (the NWB schema), timestamps."""
    from pynwb.ophys import Fluorescence, ImageSegmentation

    nwbfile = new_nwbfile("two planes imaged on alternate lines")
    module = nwbfile.create_processing_module("ophys", "segmented ROIs of two planes")
    segmentation = ImageSegmentation()
    module.add(segmentation)
    fluorescence = Fluorescence()
    module.add(fluorescence)
    for index, content in enumerate(tables):
        plane = add_imaging_plane(nwbfile, name=f"ImagingPlane{index}", rate=content["rate"])
        table = segmentation.create_plane_segmentation(name=f"Plane{index}", description=f"ROIs of plane {index}", imaging_plane=plane)
        for k in range(content["masks"].shape[2]):
            rows = _pixel_rows(content["masks"][:, :, k])
            table.add_roi(pixel_mask=[(c, r, w) for r, c, w in rows], id=int(content["ids"][k]))
        region = table.create_roi_table_region(region=list(range(content["masks"].shape[2])), description="all ROIs")
        fluorescence.create_roi_response_series(name=f"RoiResponseSeries{index}", data=content["raw"], rois=region,
                                                unit="a.u.", timestamps=timestamps)
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    for index, content in enumerate(tables):
        container = Images(name=f"Plane{index}Images")
        container.add_image(GrayscaleImage(name="mean", data=content["mean"].T))
        module.add(container)
    return write_nwbfile(nwbfile, path)


def write_photon_series(path: Path, video: np.ndarray, *, rate: float | None = None, timestamps: np.ndarray | None = None,
                        starting_time: float = 0.0, one_photon: bool = False, name: str | None = None) -> Path:
    """A TwoPhotonSeries (or OnePhotonSeries) holding ``video`` (t, rows, columns[, planes]) as (t, columns, rows[, planes])."""
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    nwbfile = new_nwbfile("imaging session")
    plane = add_imaging_plane(nwbfile, rate=rate or 10.0)
    stored = np.ascontiguousarray(np.swapaxes(video, 1, 2))
    kind = OnePhotonSeries if one_photon else TwoPhotonSeries
    time = {"rate": rate, "starting_time": starting_time} if timestamps is None else {"timestamps": timestamps}
    series = kind(name=name or kind.__name__, data=stored, imaging_plane=plane, unit="n.a.", **time)
    nwbfile.add_acquisition(series)
    return write_nwbfile(nwbfile, path)


# -- reader samples ------------------------------------------------------------------


def make_segmentation_samples(folder: Path) -> list[Sample]:
    """Reader samples of every producer's layout (all frames non-square)."""
    folder = Path(folder)
    rng = np.random.default_rng(13)
    samples = []

    shape, count, frames, rate = (9, 14), 5, 40, 15.0
    masks = blob_masks(rng, shape, count)
    background = rng.uniform(0.5, 1.5, shape + (1,))
    C, YrA, f = _traces(rng, frames, count), rng.normal(0, 0.3, (frames, count)), _traces(rng, frames, 1)
    keep = np.array([True, False, True, True, False])
    snr, r = rng.uniform(1, 20, count), rng.uniform(0, 1, count)
    path = write_caiman_style(folder / "caiman.nwb", masks, background, C, YrA, f, rate, keep=keep, snr=snr, r=r)
    samples.append(Sample("caiman", path, SegmentationTruth(
        roi_ids=list(range(count)), image_masks=masks, traces={"raw": C + YrA, "denoised": C},
        sampling_frequency=rate, num_samples=frames, background_ids=[count], background_masks=background,
        background_traces=f, properties={"is_accepted": keep, "snr": snr, "r_values": r}, rtol=1e-9)))

    shape, count, frames, rate = (11, 8), 4, 30, 30.0
    masks = blob_masks(rng, shape, count)
    content = {"masks": masks, "F": _traces(rng, frames, count), "Fneu": _traces(rng, frames, count),
               "spks": _traces(rng, frames, count), "iscell": np.stack([[1, 0, 1, 1], rng.uniform(0, 1, count)], axis=1),
               "images": {"meanImg": rng.uniform(0, 100, shape), "Vcorr": rng.uniform(0, 1, shape), "max_proj": rng.uniform(0, 200, shape)}}
    path = write_suite2p_style(folder / "suite2p.nwb", [content], rate)
    samples.append(Sample("suite2p", path, SegmentationTruth(
        roi_ids=list(range(count)), image_masks=masks,
        traces={"raw": content["F"], "neuropil": content["Fneu"], "deconvolved": content["spks"]},
        sampling_frequency=rate, num_samples=frames,
        images={"mean": content["images"]["meanImg"], "correlation": content["images"]["Vcorr"], "max": content["images"]["max_proj"]},
        properties={"iscell": content["iscell"], "is_accepted": content["iscell"][:, 0].astype(bool)}, rtol=1e-6)))

    planes = []
    for index in range(2):
        plane_masks = blob_masks(rng, shape, 3)
        planes.append({"masks": plane_masks, "F": _traces(rng, frames, 3), "Fneu": _traces(rng, frames, 3),
                       "spks": _traces(rng, frames, 3), "iscell": np.stack([[1, 1, 0], rng.uniform(0, 1, 3)], axis=1),
                       "images": {"meanImg": rng.uniform(0, 100, shape)}})
    path = write_suite2p_style(folder / "suite2p-planes.nwb", planes, rate)
    second = planes[1]
    samples.append(Sample("suite2p-multiplane", path, SegmentationTruth(
        roi_ids=[3, 4, 5], image_masks=second["masks"],
        traces={"raw": second["F"], "neuropil": second["Fneu"], "deconvolved": second["spks"]},
        sampling_frequency=rate, num_samples=frames, images={"mean": second["images"]["meanImg"]},
        properties={"iscell": second["iscell"]}, rtol=1e-6), reader_kwargs={"plane": 1}))

    shape, count, frames, rate, start = (7, 12), 6, 25, 20.0, 2.5
    masks = blob_masks(rng, shape, count)
    background = rng.uniform(0.1, 1.0, shape + (2,))
    traces = {"raw": _traces(rng, frames, count), "dff": rng.normal(0, 1, (frames, count)), "deconvolved": _traces(rng, frames, count)}
    accepted = np.array([True, True, False, True, False, True])
    images = {"mean": rng.uniform(0, 10, shape), "correlation": rng.uniform(0, 1, shape)}
    back_traces = _traces(rng, frames, 2)
    ids = [10, 11, 12, 13, 14, 15]
    path = write_neuroconv_style(folder / "neuroconv.nwb", masks, traces, rate, start, accepted=accepted, images=images,
                                 background=background, background_traces=back_traces, ids=ids)
    samples.append(Sample("neuroconv", path, SegmentationTruth(
        roi_ids=ids, image_masks=masks, traces=traces, sampling_frequency=rate, num_samples=frames, images=images,
        background_ids=[6, 7], background_masks=background, background_traces=back_traces,
        properties={"is_accepted": accepted}, rtol=1e-9)))

    shape, frames = (10, 6), 20
    stamps = np.cumsum(rng.uniform(0.05, 0.15, frames))
    tables = []
    for index in range(2):
        table_masks = (blob_masks(rng, shape, 3) > 0.5).astype(float)
        tables.append({"masks": table_masks, "ids": [100 * index + k for k in range(3)], "raw": _traces(rng, frames, 3),
                       "rate": 8.0, "mean": rng.uniform(0, 5, shape)})
    path = write_plain_style(folder / "two-planes.nwb", tables, stamps)
    chosen = tables[1]
    samples.append(Sample("two-planes", path, SegmentationTruth(
        roi_ids=chosen["ids"], image_masks=chosen["masks"], traces={"raw": chosen["raw"]}, sampling_frequency=8.0,
        num_samples=frames, images={"mean": chosen["mean"]}, rtol=1e-6), reader_kwargs={"plane_segmentation": "Plane1"}))
    return samples


def make_imaging_samples(folder: Path) -> list[Sample]:
    """TwoPhotonSeries (rate; timestamps), a OnePhotonSeries and a volumetric series, non-square."""
    folder = Path(folder)
    rng = np.random.default_rng(7)
    samples = []
    video = rng.integers(0, 4000, (12, 9, 13), dtype=np.uint16)
    samples.append(Sample("two-photon-rate", write_photon_series(folder / "tps.nwb", video, rate=30.0),
                          ImagingTruth(video, 30.0)))
    stamps = 1.0 + np.cumsum(rng.uniform(0.02, 0.05, 10))
    video = rng.normal(100, 10, (10, 8, 6)).astype(np.float32)
    path = write_photon_series(folder / "ops.nwb", video, timestamps=stamps, one_photon=True)
    samples.append(Sample("one-photon-timestamps", path, ImagingTruth(video, 10.0, timestamps=stamps)))
    volume = rng.integers(0, 255, (6, 7, 5, 3), dtype=np.uint8)
    samples.append(Sample("volumetric", write_photon_series(folder / "volume.nwb", volume, rate=5.0),
                          ImagingTruth(volume, 5.0)))
    return samples


# -- writer samples ------------------------------------------------------------------


# the writer warns about files without a Subject (nwbinspector: CRITICAL); samples stand for a real session
_SUBJECT = {"Subject": {"subject_id": "sample-mouse", "species": "Mus musculus", "age": "P90D", "sex": "U"}}


def make_segmentation_writer_samples(folder: Path) -> list[WriterSample]:
    """In-memory segmentations: every trace kind, background, images, string ids, pixel masks."""
    from roicore.memory import NumpySegmentationExtractor

    rng = np.random.default_rng(3)
    shape, count, frames = (9, 13), 5, 30
    masks = blob_masks(rng, shape, count)
    full = NumpySegmentationExtractor(
        masks, 12.5, roi_ids=[4, 8, 15, 16, 23],
        traces={name: _traces(rng, frames, count) for name in ("raw", "dff", "neuropil", "deconvolved", "denoised")},
        images={"mean": rng.uniform(0, 9, shape), "correlation": rng.uniform(0, 1, shape)},
        properties={"is_accepted": np.array([True, False, True, True, False]), "snr": rng.uniform(1, 9, count)},
        background_masks=rng.uniform(0.2, 1.0, shape + (1,)), background_traces=_traces(rng, frames, 1), background_ids=[99],
    )
    named = NumpySegmentationExtractor(blob_masks(rng, (6, 10), 3), 30.0, roi_ids=["a", "b", "c"],
                                       traces={"raw": _traces(rng, 8, 3)})
    return [
        WriterSample("full", full, "full.nwb", options={"metadata": _SUBJECT}),
        WriterSample("pixel-masks-string-ids", named, "named.nwb", options={"mask_type": "pixel", "metadata": _SUBJECT}),
    ]


def make_imaging_writer_samples(folder: Path) -> list[WriterSample]:
    """In-memory videos: uint16 planar and a float32 volume."""
    from roicore.memory import NumpyImagingExtractor

    rng = np.random.default_rng(5)
    planar = NumpyImagingExtractor(rng.integers(0, 60000, (20, 11, 7), dtype=np.uint16), 30.0)
    volume = NumpyImagingExtractor(rng.normal(0, 1, (12, 5, 8, 3)).astype(np.float32), 4.0, volumetric=True)
    return [
        WriterSample("uint16", planar, "video.nwb", options={"chunk_frames": 6, "metadata": _SUBJECT}),
        WriterSample("volume", volume, "volume.nwb", options={"metadata": _SUBJECT}),
    ]
