"""The ``sima`` method: ``roicore.extract(imaging, rois, method="sima", **options)``.

See :func:`extract` for the options and their semantics, and the module
docstrings of :mod:`~roicore_sima.weights`, :mod:`~roicore_sima.overlap`,
:mod:`~roicore_sima.kernel`, :mod:`~roicore_sima.demix` and
:mod:`~roicore_sima.stream` for how each part works.
"""

from __future__ import annotations

import functools
import os
import time
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import numpy as np

from roicore.errors import UnsupportedFeatureError
from roicore.imaging import ImagingExtractor
from roicore_sima.demix import demix_traces
from roicore_sima.kernel import ChunkKernel, Scratch, merge_means
from roicore_sima.overlap import overlap_components, overlap_groups, unmixing_matrix
from roicore_sima.progress import make_bar
from roicore_sima.result import SIMA_TIMESTAMP_FORMAT, ExtractionResult
from roicore_sima.stream import reads_are_views, run_threads
from roicore_sima.weights import Weights, build_weights, product_weights

__all__ = ["extract", "build_kernel", "default_chunk_size", "default_workers", "BACKENDS"]

BACKENDS = ("threads", "dask")

#: bytes per time chunk for the thread backend: small enough that the copy a
#: read makes is still in the CPU cache when the worker converts it (measured on
#: 512 x 512 uint16: 4 frames beat 2, 8, 16 and 64 by 5-40%)
THREAD_CHUNK_BYTES = 8 * 2**20
#: bytes per time chunk for the thread backend when reads are views (a video in memory, a memory-mapped
#: file): such a chunk takes no memory of its own, and with two workers larger chunks measured 1.4-1.8x
#: faster than 8 MiB ones (fewer GIL hand-offs per frame between the compiled band calls)
VIEW_CHUNK_BYTES = 32 * 2**20
#: at least this many frames per chunk, so per-chunk work (finiteness checks, unmixing) stays small per frame
MIN_CHUNK_FRAMES = 4
#: bytes per block for the dask backend: large enough to amortise task overhead
DASK_CHUNK_BYTES = 64 * 2**20
#: default cap on worker threads (one core saturates DRAM reads at ~5 workers)
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """Worker threads when ``n_workers=None``: the usable CPUs, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


def default_chunk_size(frame_bytes: int, backend: str, floating: bool = False, *, views: bool = False) -> int:
    """Frames per chunk when ``chunk_size=None``.

    ~8 MiB (threads; 32 MiB where reads are ``views`` of the video rather
    than copies) or ~64 MiB (dask) of video, at least 4 frames, or 8 for
    float videos (which pay a per-chunk check for non-finite values).
    """
    if backend == "threads":
        target = VIEW_CHUNK_BYTES if views else THREAD_CHUNK_BYTES
    else:
        target = DASK_CHUNK_BYTES
    return max(2 * MIN_CHUNK_FRAMES if floating else MIN_CHUNK_FRAMES, target // max(1, frame_bytes))


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def _check_positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer or None, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return int(value)


def _check_imaging(imaging: Any, what: str) -> None:
    if not isinstance(imaging, ImagingExtractor):
        raise TypeError(f"{what} must be an ImagingExtractor, not {type(imaging).__name__}")
    if imaging.is_volumetric:
        raise UnsupportedFeatureError(
            f"{what} is volumetric; the sima method extracts from planar videos: "
            "select a plane first with imaging.select_plane(i)"
        )


def build_kernel(
    weights: Weights,
    *,
    remove_overlap: bool,
    sima_compat: bool,
    check_finite: bool,
    mean_image: np.ndarray | None = None,
    roi_ids: list[Any] | None = None,
    frames: int | None = None,
) -> ChunkKernel:
    """The chunk kernel for one channel.

    Parameters
    ----------
    weights : Weights
        From :func:`roicore_sima.weights.build_weights`.
    remove_overlap : bool
        False keeps shared pixels: overlapping ROIs are unmixed by least
        squares (SIMA compatibility: kept in each ROI's weighted sum, see
        :func:`extract`).
    sima_compat : bool
        SIMA's semantics; needs ``mean_image``.
    check_finite : bool
        The video has a float dtype.
    mean_image : numpy.ndarray, optional
        The channel's time average, for ``sima_compat``.
    roi_ids : list, optional
        For warnings.
    frames : int, optional
        The video's length (how the compiled pass lays out its bands).
    """
    matrix = weights.matrix
    rois = weights.num_rois
    keep_overlap = (not remove_overlap) and weights.overlap.count > 0
    unmix = None
    groups: list[np.ndarray] = []
    if keep_overlap:
        groups = overlap_groups(overlap_components(matrix))
        if not sima_compat and groups:
            unmix = unmixing_matrix(matrix, groups, roi_ids)
    pixel_scale = None
    if sima_compat:
        if mean_image is None:
            raise ValueError("sima_compat needs the mean image")
        flat_mean = np.asarray(mean_image, dtype=np.float64).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            pixel_scale = np.where(np.isfinite(flat_mean) & (flat_mean != 0), 1.0 / flat_mean, np.nan)
    # weighted mean over the imaged pixels (1), or least squares / SIMA's rule (2)
    power = np.full(rois, 2 if (sima_compat or not remove_overlap) else 1, dtype=np.int64)
    product, rescale, totals, dead = product_weights(
        matrix, power=power, pixel_scale=pixel_scale, rescale=check_finite
    )
    return ChunkKernel(
        product,
        rescale,
        totals,
        nan_rois=weights.empty | dead,
        unmix=unmix,
        groups=groups,
        weights=matrix if groups else None,
        sima_pinv=sima_compat,
        pixel_scale=pixel_scale,
        check_finite=check_finite,
        frames=frames,
    )


def _thread_means(sources: list[Any], *, chunk_size: int, workers: int, bar: Any) -> list[np.ndarray]:
    """Mean image of every source, one streamed pass (SIMA compatibility's first pass)."""
    pixels = int(np.prod(sources[0].get_image_shape()))
    states = [[Scratch(pixels, source.dtype) for source in sources] for _ in range(workers)]

    def task(chunks: list[np.ndarray], start: int, end: int, state: list[Scratch]) -> None:
        for chunk, scratch in zip(chunks, state, strict=True):
            scratch.accumulate(np.ascontiguousarray(chunk).reshape(chunk.shape[0], -1))

    run_threads(sources, task, states, chunk_size=chunk_size, bar=bar)
    shape = sources[0].get_image_shape()
    return [merge_means([state[i] for state in states], shape) for i in range(len(sources))]


def _thread_traces(
    sources: list[Any],
    kernels: list[ChunkKernel],
    outputs: list[np.ndarray],
    *,
    chunk_size: int,
    workers: int,
    bar: Any,
    mean: bool,
) -> np.ndarray | None:
    """Traces of every source into ``outputs``; the first source's mean image when ``mean``.

    Each worker sums the mean image of the frames it computes, from the
    kernel's own cache-resident float buffer. (A reading thread summing it
    beside a single worker, as before, was 20-40% slower on a loaded machine:
    it needs a second core, and makes a second pass over memory.)
    """
    states = [[kernel.scratch(source.dtype) for kernel, source in zip(kernels, sources)] for _ in range(workers)]

    def task(chunks: list[np.ndarray], start: int, end: int, state: list[Scratch]) -> None:
        for index, (chunk, kernel, scratch, out) in enumerate(zip(chunks, kernels, state, outputs, strict=True)):
            kernel.process(chunk, out[start:end], scratch, mean=mean and index == 0)

    run_threads(sources, task, states, chunk_size=chunk_size, bar=bar)
    if not mean:
        return None
    return merge_means([state[0] for state in states], sources[0].get_image_shape())


def _timestamps(imaging: Any) -> np.ndarray | None:
    """The video's timestamps when they differ from ``arange(n) / fs`` (else None: rate-derived)."""
    if imaging.get_sampling_frequency() is None and not imaging.has_time_vector():
        return None  # unknown rate: the result has none either, and asking it for times says so
    stamps = imaging.get_timestamps()
    if imaging.has_time_vector():
        return stamps
    derived = np.arange(stamps.size, dtype=np.float64) / float(imaging.get_sampling_frequency())
    return None if np.array_equal(stamps, derived) else stamps


@functools.lru_cache(maxsize=1)
def _plugin_version() -> str | None:
    """The installed roicore-sima version, read from its metadata once per process."""
    try:
        return metadata.version("roicore-sima")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return None


def extract(
    imaging: Any,
    masks: Any,
    *,
    roi_ids: list[Any],
    remove_overlap: bool = True,
    demix_channel: Any = None,
    label: str | None = None,
    n_workers: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    backend: str = "threads",
    summary: str | os.PathLike[str] | None = None,
    sima_compat: bool = False,
    client: Any = None,
    mean_image: bool = True,
) -> ExtractionResult:
    """Extract one fluorescence trace per ROI, SIMA-style (the ``sima`` method).

    Called by :func:`roicore.extract` (``method="sima"``), which turns any ROI
    form into ``masks`` and ``roi_ids``.

    Parameters
    ----------
    imaging : ImagingExtractor
        The signal channel, planar ``(time, rows, columns)``, any real dtype.
    masks : roicore.RoiMasks
        ``(pixels, rois)`` non-negative weights on the video's frame.
    roi_ids : list
        One id per mask; the result's ROI ids.
    remove_overlap : bool
        True (SIMA's default): pixels shared by two or more ROIs are removed
        from all of them (recorded in ``result.overlap`` and the property
        ``num_overlap_pixels``); traces are weighted means. False: shared
        pixels are kept and traces are the least-squares amplitudes of a model
        in which each ROI's footprint is proportional to its weights: on fully
        imaged frames ``S = D G^-1 (W X)``, with the Gram matrix ``G = W W^T``
        of each group of overlapping ROIs factored once and applied once per
        chunk (an isolated ROI keeps its weighted mean); frames with unimaged
        pixels are solved over the imaged pixels.
    demix_channel : ImagingExtractor, optional
        A second channel (same shape and length), e.g. a structural one. Its
        traces under the same weights are regressed out of the signal traces
        per ROI (see :mod:`roicore_sima.demix`), giving traces
        ``"demixed_raw"`` and the property ``demix_coefficient``.
    label : str, optional
        Names the extraction in its provenance (SIMA's ``label``); defaults
        to the time of extraction in SIMA's format.
    n_workers : int, optional
        Worker threads (``backend="threads"``); default: the usable CPUs, at
        most 8. With one worker the calling thread reads ahead of it, except
        over a video in memory, where it computes every chunk itself.
    chunk_size : int, optional
        Frames per time chunk (at least 4 by default): for threads ~32 MiB of
        video where reads are views (in memory, memory-mapped), else ~8 MiB;
        for dask ~64 MiB per block. Results do not depend on it.
    progress : bool, optional
        None: a tqdm bar when interactive and the run lasts over 2 s; True:
        always (needs tqdm); False: never.
    backend : {"threads", "dask"}
        ``"dask"`` runs the same chunk kernel over a dask array chunked in
        time on a ``dask.distributed`` cluster (``client=`` or the current
        client); needs ``roicore-sima[dask]``.
    summary : str or os.PathLike, optional
        Save a figure (mean frame, ROI outlines, overlapping pixels in red)
        to this file; needs matplotlib (``roicore-sima[plot]``).
    sima_compat : bool
        Reproduce SIMA's numbers: each pixel is divided by its own time
        average before the weighted sum (SIMA's "raw" is ``sum w F / F_mean``,
        so constant data give 1.0); boolean masks are averaged (1/n) but
        weighted masks are *not* normalised (weights summing to 3 give 3.0);
        unimaged pixels are handled with SIMA's rescaling
        ``|w|^2 / |w_imaged|^2``; with ``remove_overlap=False``, shared pixels
        stay in each ROI's weighted sum (SIMA's pseudo-inverse model reduces to
        that on fully imaged frames; frames with unimaged pixels are solved by
        its per-frame least squares). Costs one extra pass over the video for
        the time averages.
    client : distributed.Client, optional
        For ``backend="dask"``.
    mean_image : bool
        Compute the image ``"mean"`` (the default): exact for integer videos of
        up to 16 bits. For those videos the compiled pass sums it in int32 in
        the pass that reads the frames, so it costs little while frames fit
        in cache; with few ROIs on large frames (1024 x 1024) it reads every
        pixel from memory, where the traces alone touch a few cache lines,
        and can halve the throughput (see docs/performance.md). Other dtypes
        pay one float32 add per pixel. False skips it (the result then has
        no images; not with ``summary=``).

    Returns
    -------
    ExtractionResult
        A :class:`roicore.memory.NumpySegmentationExtractor` with the weights
        as used as its masks, traces ``"raw"`` (float32, ``(time, rois)``) and
        maybe ``"demixed_raw"``, image ``"mean"``, properties, the video's rate
        and timestamps, ``provenance`` and ``to_sima_dict()``.

    Notes
    -----
    Weights: boolean masks are averaged (1/n per pixel); weighted masks are
    normalised to sum 1 (a weighted mean), after overlap removal. A ROI with
    no pixel left gets an all-NaN trace and an ``EmptyRoiWarning``. Pixels
    that are NaN or infinite in a frame (motion-correction borders) are left
    out of that frame: with ``remove_overlap=True`` each ROI's weights are
    rescaled over its finite pixels (the weighted mean of the imaged
    pixels); with ``remove_overlap=False`` the least squares runs over the
    imaged pixels (for an isolated ROI, SIMA's rescaling by
    ``|w|^2 / |w_imaged|^2``); for boolean masks both are the mean of the
    imaged pixels. A ROI with no imaged pixel gets NaN for that frame. The
    mean image ignores non-finite values.

    Raises
    ------
    TypeError, ValueError
        A bad option value or a demix channel that does not match.
    UnsupportedFeatureError
        A volumetric video.
    MissingDependencyError
        ``backend="dask"`` without dask, ``summary=`` without matplotlib or
        ``progress=True`` without tqdm.
    """
    started = time.perf_counter()
    _check_imaging(imaging, "imaging")
    remove_overlap = _check_bool(remove_overlap, "remove_overlap")
    mean_image = _check_bool(mean_image, "mean_image")
    sima_compat = _check_bool(sima_compat, "sima_compat")
    workers = _check_positive_int(n_workers, "n_workers")
    chunk = _check_positive_int(chunk_size, "chunk_size")
    if progress is not None:
        progress = _check_bool(progress, "progress")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str or None, not {type(label).__name__}")
    if summary is not None and not isinstance(summary, (str, os.PathLike)):
        raise TypeError(f"summary must be a file path or None, not {type(summary).__name__}")
    if summary is not None and not mean_image:
        raise ValueError("summary= draws the mean image: it needs mean_image=True")
    if summary is not None:
        from roicore_sima.summary import _require_matplotlib

        _require_matplotlib()
    frame_shape = tuple(int(n) for n in imaging.get_image_shape())
    if tuple(masks.frame_shape) != frame_shape:
        raise ValueError(f"the masks are for frames of shape {tuple(masks.frame_shape)}, the video's are {frame_shape}")
    if len(roi_ids) != masks.num_rois:
        raise ValueError(f"{len(roi_ids)} roi_ids for {masks.num_rois} masks")
    num_samples = int(imaging.get_num_samples())
    sources = [imaging]
    if demix_channel is not None:
        _check_imaging(demix_channel, "demix_channel")
        if demix_channel.shape != imaging.shape:
            raise ValueError(
                f"demix_channel has shape {demix_channel.shape}, the signal channel {imaging.shape}: "
                "they must have the same frame shape and length"
            )
        sources.append(demix_channel)
    if backend == "dask":
        from roicore_sima.dask_backend import resolve_client

        client = resolve_client(client)
        workers = None
    elif client is not None:
        raise ValueError('client= is for backend="dask"')
    else:
        workers = workers or default_workers()
    frame_bytes = int(np.prod(frame_shape)) * imaging.dtype.itemsize
    if chunk is None:
        views = backend == "threads" and reads_are_views(sources)
        chunk = default_chunk_size(frame_bytes, backend, floating=imaging.dtype.kind == "f", views=views)

    weights = build_weights(masks, remove_overlap=remove_overlap, sima_compat=sima_compat, roi_ids=list(roi_ids))
    rois = weights.num_rois

    means: list[np.ndarray | None] = [None] * len(sources)
    if sima_compat:
        bar = make_bar(progress, num_samples, "sima: time averages")
        try:
            if backend == "dask":
                from roicore_sima.dask_backend import dask_means

                means = list(dask_means(sources, chunk_size=chunk, client=client, bar=bar))
            else:
                assert workers is not None
                means = list(_thread_means(sources, chunk_size=chunk, workers=workers, bar=bar))
        finally:
            bar.close()
    kernels = [
        build_kernel(
            weights,
            remove_overlap=remove_overlap,
            sima_compat=sima_compat,
            check_finite=source.dtype.kind == "f",
            mean_image=mean,
            roi_ids=list(roi_ids),
            frames=num_samples,
        )
        for source, mean in zip(sources, means, strict=True)
    ]
    outputs = [np.zeros((num_samples, rois), dtype=np.float32) for _ in sources]
    bar = make_bar(progress, num_samples, "sima: traces")
    try:
        if num_samples == 0:
            computed_mean = np.full(frame_shape, np.nan)
        elif backend == "dask":
            from roicore_sima.dask_backend import dask_traces

            computed_mean = dask_traces(
                sources,
                kernels,
                outputs,
                chunk_size=chunk,
                client=client,
                bar=bar,
                mean_of_first=mean_image and not sima_compat,
            )
        else:
            assert workers is not None
            computed_mean = _thread_traces(
                sources,
                kernels,
                outputs,
                chunk_size=chunk,
                workers=workers,
                bar=bar,
                mean=mean_image and not sima_compat,
            )
    finally:
        bar.close()
    mean = means[0] if sima_compat else computed_mean
    images = {"mean": mean} if mean_image and mean is not None else {}

    traces = {"raw": outputs[0]}
    properties: dict[str, np.ndarray] = {
        "num_pixels": weights.num_pixels,
        "num_overlap_pixels": weights.overlap.per_roi,
        "is_empty": weights.empty | kernels[0].nan_rois,
    }
    if demix_channel is not None:
        demixed, coefficients = demix_traces(outputs[0], outputs[1])
        traces["demixed_raw"] = demixed
        properties["demix_coefficient"] = coefficients

    finished = datetime.now(timezone.utc)
    sima_timestamp = finished.astimezone().strftime(SIMA_TIMESTAMP_FORMAT)
    provenance = {
        "method": "sima",
        "plugin": "roicore-sima",
        "version": _plugin_version(),
        "options": {
            "remove_overlap": remove_overlap,
            "demix_channel": None if demix_channel is None else repr(demix_channel),
            "label": label,
            "n_workers": workers,
            "chunk_size": chunk,
            "progress": progress,
            "backend": backend,
            "summary": None if summary is None else os.fspath(summary),
            "sima_compat": sima_compat,
            "mean_image": mean_image,
        },
        "label": label if label is not None else sima_timestamp,
        "time": finished.isoformat(),
        "timestamp": sima_timestamp,
        "duration_s": time.perf_counter() - started,
        "num_samples": num_samples,
        "frame_shape": frame_shape,
        "dtype": str(imaging.dtype),
        "imaging": repr(imaging),
    }
    result = ExtractionResult(
        weights.as_masks(),
        imaging.get_sampling_frequency(),
        traces=traces,
        roi_ids=list(roi_ids),
        images=images,
        properties=properties,
        timestamps=_timestamps(imaging),
        provenance=provenance,
        overlap=weights.overlap,
        input_masks=masks.copy(),
        num_samples=num_samples,
    )
    if summary is not None:
        from roicore_sima.summary import write_summary

        write_summary(result, summary)
    return result
