"""Figures of imaging and segmentation data (matplotlib, an optional dependency: ``roicore[plot]``).

Used by ``roicore show`` and ``roicore demo``; plugins may use the helpers
too (:func:`roi_outline_segments`, :func:`save_figure`). matplotlib is
imported inside the functions, and only its object-oriented API is used
(no pyplot state), so figures are safe to make from any thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import MissingDependencyError

__all__ = [
    "require_matplotlib",
    "roi_outline_segments",
    "save_figure",
    "draw_image",
    "draw_outlines",
    "streamed_summary",
    "imaging_figure",
    "segmentation_figure",
]


def require_matplotlib(purpose: str, pip_name: str = '"roicore[plot]"') -> None:
    """Raise MissingDependencyError (with the pip command) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("matplotlib", purpose=purpose, pip_name=pip_name) from None


def roi_outline_segments(matrix: Any, frame_shape: tuple[int, int]) -> np.ndarray:
    """Pixel-edge segments outlining every ROI (vectorized; no per-ROI contouring).

    Parameters
    ----------
    matrix : scipy.sparse matrix
        ``(pixels, rois)`` masks in pixel C order; a pixel belongs to a ROI
        where its weight is stored (even if zero).
    frame_shape : tuple of int
        ``(rows, columns)``.

    Returns
    -------
    numpy.ndarray
        ``(k, 2, 2)`` float64 segments ``[[x0, y0], [x1, y1]]`` in image
        coordinates (pixel centres at integers, edges at +-0.5), for
        matplotlib's ``LineCollection``.
    """
    from scipy import sparse

    csc = sparse.csc_matrix(matrix)
    csc.sort_indices()
    rows, cols = frame_shape
    pixels = rows * cols
    owner = np.repeat(np.arange(csc.shape[1], dtype=np.int64), np.diff(csc.indptr))
    flat = csc.indices.astype(np.int64)
    keys = owner * pixels + flat  # sorted: by ROI, then pixel
    if keys.size == 0:
        return np.empty((0, 2, 2))
    r, c = np.divmod(flat, cols)
    segments = []
    # (row step, column step, the edge's two corners relative to the pixel centre)
    for dr, dc, corners in (
        (-1, 0, ((-0.5, -0.5), (0.5, -0.5))),
        (1, 0, ((-0.5, 0.5), (0.5, 0.5))),
        (0, -1, ((-0.5, -0.5), (-0.5, 0.5))),
        (0, 1, ((0.5, -0.5), (0.5, 0.5))),
    ):
        nr, nc = r + dr, c + dc
        inside = (nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols)
        neighbour = owner * pixels + np.where(inside, nr * cols + nc, 0)
        found = np.minimum(np.searchsorted(keys, neighbour), keys.size - 1)
        edge = ~(inside & (keys[found] == neighbour))
        x, y = c[edge].astype(np.float64), r[edge].astype(np.float64)
        (ax, ay), (bx, by) = corners
        segments.append(np.stack([np.stack([x + ax, y + ay], axis=1), np.stack([x + bx, y + by], axis=1)], axis=1))
    return np.concatenate(segments)


def _umask() -> int:
    """The process's umask (reading it means setting it; restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_figure(figure: Any, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (a temporary file in the folder, then a rename).

    The suffix picks the format (``.png``, ``.pdf``, ``.svg``, ...).

    Raises
    ------
    ValueError
        The path has no suffix.
    FileNotFoundError
        The folder does not exist.
    """
    target = Path(path)
    suffix = target.suffix.lstrip(".").lower()
    if not suffix:
        raise ValueError(f"figure path {str(target)!r} needs a suffix naming the format, e.g. .png or .pdf")
    if not target.parent.is_dir():
        raise FileNotFoundError(2, "The figure's folder does not exist", str(target.parent))
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".roicore-tmp", dir=target.parent)
    os.close(handle)
    try:
        # mkstemp makes the file 0600; a figure gets the permissions of any new file (0644 under umask 022)
        os.chmod(temporary, 0o666 & ~_umask())
        figure.savefig(temporary, format=suffix, dpi=dpi, bbox_inches="tight")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def draw_image(axes: Any, image: np.ndarray, title: str) -> None:
    """Show ``image`` in grey with a robust (1st-99.5th percentile) contrast, without ticks."""
    finite = image[np.isfinite(image)]
    low, high = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
    axes.imshow(image, cmap="gray", interpolation="nearest", vmin=low, vmax=high if high > low else low + 1)
    axes.set_title(title, fontsize="medium")
    axes.set_xticks([])
    axes.set_yticks([])


def draw_outlines(axes: Any, matrix: Any, frame_shape: tuple[int, int], color: str = "cyan") -> None:
    """Outline every ROI of a ``(pixels, rois)`` mask matrix on ``axes``."""
    from matplotlib.collections import LineCollection

    axes.add_collection(LineCollection(roi_outline_segments(matrix, frame_shape), colors=color, linewidths=0.7))
    axes.set_xlim(-0.5, frame_shape[1] - 0.5)
    axes.set_ylim(frame_shape[0] - 0.5, -0.5)


def streamed_summary(imaging: Any, *, chunk_bytes: int = 64 * 2**20, bar: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and maximum images of a planar video, in one streamed pass (bounded memory).

    Parameters
    ----------
    imaging : ImagingExtractor
        Planar (a volumetric video's first plane is used).
    chunk_bytes : int
        About this many bytes of video are read at a time.
    bar : progress bar, optional
        ``bar.update(frames)`` after each chunk.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The mean (float64; NaN where never finite) and the maximum (float64).
    """
    if imaging.is_volumetric:
        imaging = imaging.select_plane(0)
    shape = tuple(imaging.get_image_shape())
    total = np.zeros(shape)
    counts = np.zeros(shape, dtype=np.int64)
    maximum = np.full(shape, -np.inf)
    n = imaging.get_num_samples()
    step = max(1, chunk_bytes // max(1, int(np.prod(shape)) * imaging.dtype.itemsize))
    for start in range(0, n, step):
        block = imaging.get_series(start, min(n, start + step), copy=False).astype(np.float64)
        finite = np.isfinite(block)
        total += np.where(finite, block, 0.0).sum(axis=0)
        counts += finite.sum(axis=0)
        maximum = np.fmax(maximum, np.where(finite, block, -np.inf).max(axis=0))
        if bar is not None:
            bar.update(block.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    maximum[~np.isfinite(maximum)] = np.nan
    return mean, maximum


def imaging_figure(imaging: Any, path: str | os.PathLike[str], *, frames: int = 6, bar: Any = None) -> Path:
    """Mean and maximum images and a strip of evenly spaced frames of a video, saved to ``path``.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    """
    require_matplotlib("roicore show (a figure)")
    from matplotlib.figure import Figure

    mean, maximum = streamed_summary(imaging, bar=bar)
    planar = imaging.select_plane(0) if imaging.is_volumetric else imaging
    n = planar.get_num_samples()
    picks = np.unique(np.linspace(0, n - 1, min(frames, n)).round().astype(int)) if n else np.empty(0, int)
    rows, cols = mean.shape
    width = max(2, len(picks))
    figure = Figure(figsize=(2.2 * width, 2.2 * rows / max(cols, 1) * 2 + 1.2))
    grid = figure.add_gridspec(2, width)
    draw_image(figure.add_subplot(grid[0, : width // 2]), mean, "mean")
    draw_image(figure.add_subplot(grid[0, width // 2 :]), maximum, "maximum")
    fs = planar.get_sampling_frequency()
    for position, index in enumerate(picks):
        frame = planar.get_series(int(index), int(index) + 1)[0].astype(np.float64)
        when = f" ({index / fs:.1f} s)" if fs else ""
        draw_image(figure.add_subplot(grid[1, position]), frame, f"frame {index}{when}")
    plane = " (plane 0)" if imaging.is_volumetric else ""
    rate = f"{fs:g} Hz" if fs else "an unknown rate"
    figure.suptitle(f"{_name(imaging)}: {n} frames of {rows} x {cols}{plane} at {rate}")
    return save_figure(figure, path)


def segmentation_figure(segmentation: Any, path: str | os.PathLike[str], *, traces: int = 8) -> Path:
    """ROI outlines over the summary image, and the first ROIs' traces, saved to ``path``.

    The background image is the first of "mean", "correlation", "max" the
    segmentation has, else the sum of the ROI masks. A volumetric
    segmentation shows its first plane (``select_plane(0)``).

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    """
    require_matplotlib("roicore show (a figure)")
    from matplotlib.figure import Figure

    if getattr(segmentation, "is_volumetric", False):
        segmentation = segmentation.select_plane(0)
    shape = tuple(segmentation.get_frame_shape())
    images = segmentation.get_images_dict()
    name = next((key for key in ("mean", "correlation", "max") if key in images), None)
    masks = segmentation.get_roi_masks()
    image = images[name] if name else np.asarray(masks.matrix.sum(axis=1)).reshape(shape)
    ids = list(segmentation.get_roi_ids())
    shown = ids[:traces]
    figure = Figure(figsize=(11, 4.8))
    grid = figure.add_gridspec(1, 2, width_ratios=(1, 1.4))
    axes = figure.add_subplot(grid[0, 0])
    draw_image(axes, np.asarray(image, dtype=np.float64), f"{len(ids)} ROIs over the {name or 'sum of the masks'} image")
    draw_outlines(axes, masks.matrix, shape)
    plot = figure.add_subplot(grid[0, 1])
    names = segmentation.get_trace_names()
    if shown and names:
        trace_name = "raw" if "raw" in names else names[0]
        values = segmentation.get_traces(roi_ids=shown, name=trace_name)
        timed = segmentation.has_time_vector() or segmentation.get_sampling_frequency() is not None
        time = segmentation.get_timestamps() if timed else np.arange(values.shape[0], dtype=np.float64)
        span = np.nanmax(values) - np.nanmin(values) if np.isfinite(values).any() else 1.0
        for position, roi in enumerate(shown):
            column = values[:, position]
            offset = -position * (span or 1.0)
            plot.plot(time, column - np.nanmin(column) + offset, linewidth=0.7)
            plot.text(time[0], offset, f"{roi} ", ha="right", va="bottom", fontsize="small")
        plot.set_title(f"{trace_name!r} traces of the first {len(shown)} ROIs", fontsize="medium")
        plot.set_xlabel("time (s)" if timed else "sample (rate unknown)")
        plot.set_yticks([])
    else:
        plot.text(0.5, 0.5, "no traces", ha="center", va="center", transform=plot.transAxes)
        plot.set_axis_off()
    figure.suptitle(_name(segmentation))
    return save_figure(figure, path)


def _name(extractor: Any) -> str:
    source = getattr(extractor, "source", None)
    path = getattr(source, "path", None)
    return Path(path).name if path else type(extractor).__name__
