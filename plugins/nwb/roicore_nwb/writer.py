"""Write roicore extractors to NWB with pynwb, in neuroconv's layout.

* Imaging: a ``TwoPhotonSeries`` (or ``OnePhotonSeries``) in ``acquisition``,
  data ``(time, x = columns, y = rows[, z])`` streamed with an hdmf
  GenericDataChunkIterator (one buffer of frames in memory at a time,
  gzip-compressed HDF5 chunks of whole frames).
* Segmentation: ``processing/ophys/ImageSegmentation/PlaneSegmentation``
  with image masks ``(rois, columns, rows)`` (streamed by ROI blocks) or pixel
  masks (``x`` = row, ``y`` = column, as neuroconv and suite2p write them),
  ``Accepted``/``Rejected``, ``ROICentroids`` and the other properties as
  columns; traces as RoiResponseSeries in ``Fluorescence`` / ``DfOverF``
  (streamed in time windows); background components in
  ``BackgroundPlaneSegmentation`` with their ``Background`` traces; summary
  images in ``SegmentationImages`` (transposed, as neuroconv stores them).

``general/source_script`` names roicore-nwb, so roicore's reader knows the
convention. Writes go through roicore's WriteTarget: nothing is ever
half-written. Both writers declare roicore's ``"append"`` capability:
``roicore.write(x, "existing.nwb", append=True)`` adds to a copy of the
existing file, renamed over it when complete.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import RoicoreError, UnsupportedFeatureError
from roicore.imaging import ImagingExtractor
from roicore.segmentation import SegmentationExtractor
from roicore_nwb.iterators import ImageMaskIterator, TraceChunkIterator, VideoChunkIterator
from roicore_nwb.metadata import default_metadata, merge
from roicore_nwb.timing import REGULAR_RTOL

__all__ = [
    "write_imaging",
    "write_segmentation",
    "add_imaging_to_nwbfile",
    "add_segmentation_to_nwbfile",
    "append_to_file",
    "RateRequiredError",
    "NameTakenError",
    "MissingSubjectWarning",
]


class MissingSubjectWarning(UserWarning):
    """A new NWB file is written without a Subject.

    roicore never invents one (species, age and sex are facts about the animal), but
    nwbinspector reports a missing subject as CRITICAL and DANDI refuses such files, so
    the writer says how to give it.
    """


def _warn_without_subject(final: Path, metadata: dict[str, Any]) -> None:
    if metadata.get("Subject"):
        return
    from roicore.errors import cli_syntax_active

    example = '{"Subject": {"subject_id": "mouse-1", "species": "Mus musculus", "age": "P90D", "sex": "F"}}'
    how = (f"--writer-option metadata='{example}'" if cli_syntax_active()
           else f"roicore.write(..., metadata={example})")
    warnings.warn(MissingSubjectWarning(
        f"{final}: written without a Subject; nwbinspector reports that as CRITICAL and DANDI refuses the file. "
        f"Give the animal's metadata with {how}"), stacklevel=4)

_RESERVED_COLUMNS = {"id", "image_mask", "pixel_mask", "voxel_mask", "pixel_mask_index", "voxel_mask_index",
                     "Accepted", "Rejected", "ROICentroids", "roi_name"}


#: appended to every PlaneSegmentation description: pixel masks do not say how big the frame is, and the
#: marker tells the reader the convention when the file's source_script is someone else's
FRAME_NOTE = "(roicore-nwb; frame: {rows} rows x {columns} columns)"


class RateRequiredError(RoicoreError, ValueError):
    """NWB needs a sampling rate or timestamps, and the source has neither."""


class NameTakenError(RoicoreError, ValueError):
    """The NWB file already holds an object of the name the write needs."""


def _check_compression(compression: Any, compression_opts: Any) -> dict[str, Any]:
    if compression in (None, False):
        return {}
    if compression not in ("gzip", "lzf", True):
        raise ValueError(f"compression must be 'gzip', 'lzf' or None, not {compression!r}")
    if compression in ("gzip", True):
        level = 4 if compression_opts is None else compression_opts
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level <= 9:
            raise ValueError(f"compression_opts must be a gzip level 0-9, not {compression_opts!r}")
        return {"compression": "gzip", "compression_opts": int(level)}
    return {"compression": "lzf"}


def _wrap(data: Any, compression: dict[str, Any]) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(data=data, **compression)


def _time_kwargs(extractor: Any, rate_option: float | None, where: str) -> dict[str, Any]:
    """``rate`` + ``starting_time`` for regular samples, else ``timestamps``; RateRequiredError without either."""
    rate = rate_option if rate_option is not None else extractor.get_sampling_frequency()
    if rate is not None and (not math.isfinite(float(rate)) or float(rate) <= 0):
        raise ValueError(f"the sampling rate must be a finite number > 0, not {rate!r}")
    n = int(extractor.get_num_samples())
    if extractor.has_time_vector():
        stamps = np.asarray(extractor.get_timestamps(), dtype=np.float64)
        steps = np.diff(stamps)
        if steps.size:
            median = float(np.median(steps))
            if median > 0 and np.all(np.abs(steps - median) <= REGULAR_RTOL * median):
                measured = 1.0 / median
                chosen = float(rate) if rate is not None and math.isclose(float(rate), measured, rel_tol=REGULAR_RTOL) else measured
                return {"rate": chosen, "starting_time": float(stamps[0])}
        if stamps.size and (rate is None or n < 2):
            if rate is not None:
                return {"rate": float(rate), "starting_time": float(stamps[0])}
        return {"timestamps": stamps}
    if rate is None:
        raise RateRequiredError(
            f"{where}: NWB needs a sampling rate or timestamps, and the {type(extractor).__name__} has neither "
            "(its sampling frequency is unknown). Give the rate when opening the source "
            "(roicore.open(..., sampling_frequency=30.0)), set the times (source.set_times(times)), "
            "or pass rate=<Hz> to the writer (roicore.write(x, path, rate=30.0))"
        )
    return {"rate": float(rate), "starting_time": 0.0}


# -- file-level objects ----------------------------------------------------------------


def _new_nwbfile(metadata: dict[str, Any]) -> Any:
    from pynwb import NWBFile
    from pynwb.file import Subject

    fields = dict(metadata["NWBFile"])
    nwbfile = NWBFile(**fields)
    subject = metadata.get("Subject")
    if subject:
        nwbfile.subject = Subject(**subject)
    return nwbfile


def _ophys(nwbfile: Any) -> Any:
    if "ophys" in nwbfile.processing:
        return nwbfile.processing["ophys"]
    return nwbfile.create_processing_module(name="ophys", description="Optical physiology data processed by roicore.")


def _imaging_plane(nwbfile: Any, metadata: dict[str, Any], name: str) -> Any:
    from pynwb.device import Device
    from pynwb.ophys import OpticalChannel

    if name in nwbfile.imaging_planes:
        return nwbfile.imaging_planes[name]
    ophys = metadata["Ophys"]
    for device in ophys["Device"]:
        if device["name"] not in nwbfile.devices:
            nwbfile.add_device(Device(**device))
    matches = [p for p in ophys["ImagingPlane"] if p["name"] == name]
    if not matches:
        raise ValueError(f"no metadata['Ophys']['ImagingPlane'] entry is named {name!r}")
    fields = dict(matches[0])
    fields["device"] = nwbfile.devices[fields["device"]]
    fields["optical_channel"] = [OpticalChannel(**channel) for channel in fields["optical_channel"]]
    return nwbfile.create_imaging_plane(**fields)


# -- imaging ---------------------------------------------------------------------------


def add_imaging_to_nwbfile(
    imaging: ImagingExtractor,
    nwbfile: Any,
    metadata: dict[str, Any] | None = None,
    *,
    photon_series_type: str = "TwoPhotonSeries",
    chunk_frames: int | None = None,
    buffer_bytes: int | None = None,
    compression: Any = "gzip",
    compression_opts: int | None = None,
    rate: float | None = None,
    progress: bool | None = None,
    where: str = "the NWB file",
) -> Any:
    """Add ``imaging`` to ``nwbfile`` as a photon series in ``acquisition`` (streamed when the file is written).

    Parameters
    ----------
    imaging : ImagingExtractor
    nwbfile : pynwb.NWBFile
    metadata : dict, optional
        neuroconv-layout metadata merged over the defaults (``metadata["Ophys"]["TwoPhotonSeries"][0]`` ...).
    photon_series_type : {"TwoPhotonSeries", "OnePhotonSeries"}
    chunk_frames : int, optional
        Frames per HDF5 chunk (about 8 MiB of frames by default).
    buffer_bytes : int, optional
        Bytes read from the source at a time (64 MiB by default): the memory bound of the write.
    compression : {"gzip", "lzf", None}
    compression_opts : int, optional
        gzip level (4 by default).
    rate : float, optional
        Sampling rate to write when the source has none.
    progress : bool, optional
        A progress bar (roicore.progress rules).

    Returns
    -------
    pynwb.NWBFile
        ``nwbfile``, with the series added.
    """
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    from roicore.progress import make_bar

    if not isinstance(imaging, ImagingExtractor):
        raise TypeError(f"add_imaging_to_nwbfile writes ImagingExtractors, not {type(imaging).__name__}")
    if photon_series_type not in ("TwoPhotonSeries", "OnePhotonSeries"):
        raise ValueError(f"photon_series_type must be 'TwoPhotonSeries' or 'OnePhotonSeries', not {photon_series_type!r}")
    if chunk_frames is not None and (isinstance(chunk_frames, bool) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1):
        raise ValueError(f"chunk_frames must be a positive integer, not {chunk_frames!r}")
    packing = _check_compression(compression, compression_opts)
    meta = merge(default_metadata(imaging, kind="imaging"), metadata or {})
    entries = meta["Ophys"].get(photon_series_type) or meta["Ophys"]["TwoPhotonSeries"]
    fields = dict(entries[0])
    if fields["name"] in nwbfile.acquisition:
        raise NameTakenError(
            f"{where} already holds acquisition/{fields['name']}; name the new series with "
            f"metadata['Ophys']['{photon_series_type}'][0]['name']"
        )
    if int(imaging.get_num_samples()) == 0:
        raise UnsupportedFeatureError(f"{where}: the imaging extractor has no samples; NWB series need at least one")
    time = _time_kwargs(imaging, rate, where)
    plane = _imaging_plane(nwbfile, meta, fields.pop("imaging_plane", "ImagingPlane"))
    bar = make_bar(progress, int(imaging.get_num_samples()), f"writing {fields['name']}")
    iterator = VideoChunkIterator(imaging, chunk_frames=chunk_frames, buffer_bytes=buffer_bytes, bar=bar)
    rows, columns = (int(v) for v in imaging.get_image_shape())
    dimension = [columns, rows] + ([int(imaging.get_num_planes())] if imaging.is_volumetric else [])
    kind = TwoPhotonSeries if photon_series_type == "TwoPhotonSeries" else OnePhotonSeries
    series = kind(data=_wrap(iterator, packing), imaging_plane=plane, dimension=dimension, **fields, **time)
    nwbfile.add_acquisition(series)
    return nwbfile


# -- segmentation ----------------------------------------------------------------------


def _ids_and_names(ids: list[Any], what: str) -> tuple[list[int], list[str] | None]:
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in ids):
        return [int(i) for i in ids], None
    if all(isinstance(i, str) for i in ids):
        return list(range(len(ids))), list(ids)
    raise UnsupportedFeatureError(f"{what} mix ints and strings; NWB stores int ids (strings go to a roi_name column)")


def _mask_columns(masks: Any, mask_type: str, mask_dtype: Any, packing: dict[str, Any]) -> list[Any]:
    from hdmf.common import VectorData, VectorIndex

    if mask_type == "image":
        data = _wrap(ImageMaskIterator(masks, dtype=mask_dtype), packing) if masks.num_rois else np.zeros((0,) + masks.frame_shape[::-1])
        return [VectorData(name="image_mask", description="Image mask of each ROI: (ROI, x = column, y = row).", data=data)]
    matrix = masks.matrix
    columns = masks.frame_shape[1]
    flat = np.empty(matrix.indices.size, dtype=[("x", np.uint32), ("y", np.uint32), ("weight", np.float32)])
    rows_of, cols_of = np.divmod(matrix.indices, columns)
    flat["x"], flat["y"], flat["weight"] = rows_of, cols_of, matrix.data
    pixels = VectorData(name="pixel_mask", description="Pixel mask of each ROI: x = row, y = column (as neuroconv and suite2p write them), weight.", data=flat)
    index = VectorIndex(name="pixel_mask_index", data=np.asarray(matrix.indptr[1:], dtype=np.int64), target=pixels)
    return [pixels, index]


def _centroids(masks: Any) -> np.ndarray:
    """Weighted (row, column) centroid of each mask; NaN for an empty mask."""
    matrix = masks.matrix
    rows_of, cols_of = np.divmod(matrix.indices, masks.frame_shape[1])
    owner = np.repeat(np.arange(matrix.shape[1]), np.diff(matrix.indptr))
    weight = np.bincount(owner, weights=matrix.data, minlength=matrix.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        row = np.bincount(owner, weights=matrix.data * rows_of, minlength=matrix.shape[1]) / weight
        col = np.bincount(owner, weights=matrix.data * cols_of, minlength=matrix.shape[1]) / weight
    return np.stack([row, col], axis=1)


def _property_columns(segmentation: SegmentationExtractor, masks: Any, include_centroids: bool) -> list[Any]:
    from hdmf.common import VectorData

    found = []
    keys = segmentation.get_property_keys()
    if include_centroids and "roi_centroids" not in keys and masks.num_rois:
        found.append(VectorData(name="ROICentroids", description="The weighted x (column), y (row) centroid of each ROI.",
                                data=_centroids(masks)[:, [1, 0]]))
    for key in keys:
        values = np.asarray(segmentation.get_property(key))
        if key == "is_accepted":
            accepted = values.astype(bool)
            found.append(VectorData(name="Accepted", description="1 if the ROI was accepted, else 0.", data=accepted.astype(np.int8)))
            if "is_rejected" not in keys:
                found.append(VectorData(name="Rejected", description="1 if the ROI was rejected, else 0.", data=(~accepted).astype(np.int8)))
            continue
        if key == "is_rejected":
            found.append(VectorData(name="Rejected", description="1 if the ROI was rejected, else 0.", data=values.astype(np.int8)))
            continue
        if key == "roi_centroids" and values.ndim == 2 and values.shape[1] in (2, 3):
            stored = values[:, [1, 0] + list(range(2, values.shape[1]))]
            found.append(VectorData(name="ROICentroids", description="The x (column), y (row)[, z] centroid of each ROI.", data=stored))
            continue
        if values.dtype.kind == "U":
            values = values.astype(object)
        elif values.dtype.kind not in "biuf":
            warnings.warn(f"property {key!r} of dtype {values.dtype} is not written to NWB", stacklevel=3)
            continue
        name = f"roicore_{key}" if key in _RESERVED_COLUMNS else key
        found.append(VectorData(name=name, description=f"The {key} of each ROI (a roicore property).", data=values))
    return found


def _plane_segmentation(name: str, description: str, plane: Any, ids: list[Any], masks: Any, mask_type: str,
                        mask_dtype: Any, packing: dict[str, Any], extra: list[Any], what: str) -> Any:
    from hdmf.common import VectorData
    from pynwb.ophys import PlaneSegmentation

    numbers, names = _ids_and_names(ids, what)
    rows, cols = masks.frame_shape
    description = f"{description} {FRAME_NOTE.format(rows=rows, columns=cols)}"
    columns = _mask_columns(masks, mask_type, mask_dtype, packing) + extra
    if names is not None:
        columns.append(VectorData(name="roi_name", description="The roicore id of each ROI.", data=np.asarray(names, dtype=object)))
    return PlaneSegmentation(name=name, description=description, imaging_plane=plane, id=numbers, columns=columns)


def add_segmentation_to_nwbfile(
    segmentation: SegmentationExtractor,
    nwbfile: Any,
    metadata: dict[str, Any] | None = None,
    *,
    mask_type: str = "image",
    mask_dtype: Any = np.float64,
    include_background: bool = True,
    include_roi_centroids: bool = True,
    chunk_samples: int | None = None,
    compression: Any = "gzip",
    compression_opts: int | None = None,
    rate: float | None = None,
    progress: bool | None = None,
    where: str = "the NWB file",
) -> Any:
    """Add ``segmentation`` to ``nwbfile`` (masks, properties, traces, background, images).

    Parameters
    ----------
    segmentation : SegmentationExtractor
    nwbfile : pynwb.NWBFile
    metadata : dict, optional
        neuroconv-layout metadata merged over the defaults.
    mask_type : {"image", "pixel"}
        Dense image masks (streamed) or sparse pixel masks.
    mask_dtype : dtype
        Of the image masks (float64 by default: lossless).
    include_background : bool
        Write background components to ``BackgroundPlaneSegmentation``.
    include_roi_centroids : bool
        Write ``ROICentroids`` (the property ``roi_centroids``, else the masks' weighted centroids).
    chunk_samples : int, optional
        Samples per HDF5 chunk of the traces.
    compression, compression_opts, progress
        As for :func:`add_imaging_to_nwbfile`.
    rate : float, optional
        Sampling rate to write when the source has none.

    Returns
    -------
    pynwb.NWBFile
    """
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, RoiResponseSeries

    from roicore.progress import make_bar

    if not isinstance(segmentation, SegmentationExtractor):
        raise TypeError(f"add_segmentation_to_nwbfile writes SegmentationExtractors, not {type(segmentation).__name__}")
    if mask_type not in ("image", "pixel"):
        raise ValueError(f"mask_type must be 'image' or 'pixel', not {mask_type!r}")
    packing = _check_compression(compression, compression_opts)
    names = list(segmentation.get_trace_names())
    background_ids = list(segmentation.get_background_ids()) if include_background else []
    images = segmentation.get_images_dict()
    meta = merge(default_metadata(segmentation, kind="segmentation", trace_names=names, image_names=list(images)), metadata or {})
    ophys_meta = meta["Ophys"]
    tables = ophys_meta["ImageSegmentation"]["plane_segmentations"]
    table_meta, background_meta = tables[0], tables[1] if len(tables) > 1 else None
    time = _time_kwargs(segmentation, rate, where) if names else {}

    module = _ophys(nwbfile)
    seg_name = ophys_meta["ImageSegmentation"]["name"]
    if seg_name not in module.data_interfaces:
        module.add(ImageSegmentation(name=seg_name))
    container = module.data_interfaces[seg_name]
    if table_meta["name"] in container.plane_segmentations:
        raise NameTakenError(
            f"{where} already holds the PlaneSegmentation {table_meta['name']!r}; name the new one with "
            "metadata['Ophys']['ImageSegmentation']['plane_segmentations'][0]['name']"
        )
    plane = _imaging_plane(nwbfile, meta, table_meta.get("imaging_plane", "ImagingPlane"))
    roi_ids = list(segmentation.get_roi_ids())
    masks = segmentation.get_roi_masks()
    table = _plane_segmentation(table_meta["name"], table_meta["description"], plane, roi_ids, masks, mask_type,
                                mask_dtype, packing, _property_columns(segmentation, masks, include_roi_centroids), "ROI ids")
    container.add_plane_segmentation(table)

    background_table = None
    if background_ids and background_meta is not None:
        try:
            background_masks = segmentation.get_background_masks()
        except UnsupportedFeatureError:
            warnings.warn(f"{where}: the background components have no masks; they are not written", stacklevel=2)
            background_ids = []
        else:
            if background_meta["name"] in container.plane_segmentations:
                raise NameTakenError(f"{where} already holds the PlaneSegmentation {background_meta['name']!r}")
            background_table = _plane_segmentation(
                background_meta["name"], background_meta["description"], plane, background_ids, background_masks,
                mask_type, mask_dtype, packing, [], "background ids")
            container.add_plane_segmentation(background_table)

    shared: Any = None
    for name in names:
        if name == "background":
            if background_table is None:
                continue
            holder_meta = ophys_meta["Fluorescence"]
            series_meta = holder_meta["BackgroundPlaneSegmentation"]["background"]
            ids, region_table = background_ids, background_table
        else:
            holder_key = "DfOverF" if name == "dff" else "Fluorescence"
            holder_meta = ophys_meta[holder_key]
            series_meta = holder_meta["PlaneSegmentation"][name]
            ids, region_table = roi_ids, table
        if not ids:
            continue
        holder_name = holder_meta["name"]
        if holder_name not in module.data_interfaces:
            module.add((DfOverF if holder_name == "DfOverF" or holder_meta is ophys_meta.get("DfOverF") else Fluorescence)(name=holder_name))
        holder = module.data_interfaces[holder_name]
        if series_meta["name"] in holder.roi_response_series:
            raise NameTakenError(
                f"{where} already holds {holder_name}/{series_meta['name']}; name the new traces in "
                f"metadata['Ophys'][...]['PlaneSegmentation'][{name!r}]['name']"
            )
        region = region_table.create_roi_table_region(region=list(range(len(ids))), description=f"The ROIs of {region_table.name}.")
        bar = make_bar(progress, int(segmentation.get_num_samples()), f"writing {name} traces")
        data = _wrap(TraceChunkIterator(segmentation, name, ids, chunk_samples=chunk_samples, bar=bar), packing)
        timing = dict(time)
        if "timestamps" in timing and shared is not None:
            timing["timestamps"] = shared  # one timestamps dataset, linked by the others
        fields = {"comments": f"roicore trace: {name}", **series_meta}  # the reader's name for it, whatever the series' name
        series = RoiResponseSeries(data=data, rois=region, **fields, **timing)
        holder.add_roi_response_series(series)
        if "timestamps" in timing and shared is None:
            shared = series

    if images:
        images_meta = ophys_meta["SegmentationImages"]
        images_name = images_meta["name"]
        if images_name not in module.data_interfaces:
            module.add(Images(name=images_name, description=images_meta["description"]))
        holder = module.data_interfaces[images_name]
        described = images_meta.get("PlaneSegmentation", {})
        for name, image in images.items():
            fields = dict(described.get(name, {"name": name, "description": f"The {name} image."}))
            if fields["name"] in holder.images:
                raise NameTakenError(f"{where} already holds {images_name}/{fields['name']}")
            holder.add_image(GrayscaleImage(data=np.ascontiguousarray(np.asarray(image).T), **fields))
    return nwbfile


# -- files -----------------------------------------------------------------------------


def _write_file(extractor: Any, target: Any, add: Any, kind: str, metadata: dict[str, Any] | None, append: bool,
                options: dict[str, Any]) -> None:
    import h5py
    from pynwb import NWBHDF5IO

    final = Path(target.path)
    temporary = target.temporary()
    where = str(final)
    if append and final.exists():
        try:
            with h5py.File(final, "r") as handle:
                is_nwb = "nwb_version" in handle.attrs
        except Exception as exc:
            raise ValueError(f"{final}: cannot append to it: not an HDF5 file ({exc})") from exc
        if not is_nwb:
            raise ValueError(f"{final}: cannot append to it: not an NWB file (no root attribute 'nwb_version')")
        shutil.copy2(final, temporary)
        with _quiet_suffix(), NWBHDF5IO(str(temporary), "a") as io:
            nwbfile = io.read()
            add(extractor, nwbfile, metadata, where=where, **options)
            io.write(nwbfile)
        return
    names = list(extractor.get_trace_names()) if kind == "segmentation" else []
    images = list(extractor.get_images_dict()) if kind == "segmentation" else []
    meta = merge(default_metadata(extractor, kind=kind, trace_names=names, image_names=images), metadata or {})
    _warn_without_subject(final, meta)
    nwbfile = _new_nwbfile(meta)
    add(extractor, nwbfile, meta, where=where, **options)
    with _quiet_suffix(), NWBHDF5IO(str(temporary), "w") as io:
        io.write(nwbfile)


@contextlib.contextmanager
def _quiet_suffix() -> Iterator[None]:
    """Silence pynwb's advice about the '.nwb' suffix: roicore's temporary names end otherwise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The file path provided: .* does not end in '.nwb'")
        yield


def write_imaging(extractor: ImagingExtractor, target: Any, *, metadata: dict[str, Any] | None = None,
                  append: bool = False, **options: Any) -> None:
    """The ``nwb-imaging`` writer: ``roicore.write(video, "out.nwb", **options)``.

    ``options`` are those of :func:`add_imaging_to_nwbfile`; ``append=True``
    adds the series to an existing NWB file (``roicore.write(video, path, append=True)``,
    or :func:`append_to_file`).
    """
    if not isinstance(extractor, ImagingExtractor):
        raise TypeError(f"the NWB imaging writer writes ImagingExtractors, not {type(extractor).__name__}")
    _write_file(extractor, target, add_imaging_to_nwbfile, "imaging", metadata, append, options)


def write_segmentation(extractor: SegmentationExtractor, target: Any, *, metadata: dict[str, Any] | None = None,
                       append: bool = False, **options: Any) -> None:
    """The ``nwb-segmentation`` writer: ``roicore.write(seg, "out.nwb", **options)``.

    ``options`` are those of :func:`add_segmentation_to_nwbfile`; ``append=True``
    adds to an existing NWB file, as for :func:`write_imaging`.
    """
    if not isinstance(extractor, SegmentationExtractor):
        raise TypeError(f"the NWB segmentation writer writes SegmentationExtractors, not {type(extractor).__name__}")
    _write_file(extractor, target, add_segmentation_to_nwbfile, "segmentation", metadata, append, options)


def append_to_file(extractor: Any, path: Any, **options: Any) -> Path:
    """Add ``extractor`` to the existing NWB file ``path``, atomically (a complete copy replaces it).

    ``roicore.write(extractor, path, format="nwb-imaging" or "nwb-segmentation", append=True)``,
    for a file that must exist (whatever its suffix).

    Returns
    -------
    Path
    """
    from roicore.writing import write

    final = Path(path)
    if not final.is_file():
        raise FileNotFoundError(2, "No such NWB file to append to", str(final))
    writer = "nwb-imaging" if isinstance(extractor, ImagingExtractor) else "nwb-segmentation"
    return write(extractor, final, format=writer, append=True, **options)
