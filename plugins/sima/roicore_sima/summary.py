"""An extraction summary figure: mean frame, ROI contours, overlapping pixels.

The counterpart of SIMA's ``extractSummary_<timestamp>.pdf``. Needs
matplotlib (``pip install "roicore-sima[plot]"``); it uses matplotlib's
object API (no pyplot, no global figure state, any backend-free format that
matplotlib writes: png, pdf, svg, ...).

Contours are the outlines of each ROI's pixels (every pixel edge between a
ROI pixel and a non-ROI pixel), drawn as one line collection, so hundreds of
ROIs take a fraction of a second.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import MissingDependencyError

__all__ = ["write_summary", "roi_outline_segments"]


def _require_matplotlib() -> None:
    """Raise MissingDependencyError (with the pip command) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "matplotlib", purpose="the extraction summary figure (summary=...)", pip_name='"roicore-sima[plot]"'
        ) from None


def roi_outline_segments(matrix: Any, frame_shape: tuple[int, int]) -> np.ndarray:
    """Pixel-edge segments outlining every ROI.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        ``(pixels, rois)`` masks in pixel C order.
    frame_shape : tuple of int

    Returns
    -------
    numpy.ndarray
        ``(k, 2, 2)`` float64 segments ``[[x0, y0], [x1, y1]]`` in image
        coordinates (pixel centres at integers, edges at +-0.5).
    """
    from scipy import sparse

    csc = sparse.csc_matrix(matrix)
    csc.sort_indices()
    rows, cols = frame_shape
    pixels = frame_shape[0] * frame_shape[1]
    owner = np.repeat(np.arange(csc.shape[1], dtype=np.int64), np.diff(csc.indptr))
    flat = csc.indices.astype(np.int64)
    keys = owner * pixels + flat  # sorted: by ROI, then pixel
    if keys.size == 0:
        return np.empty((0, 2, 2))
    r, c = np.divmod(flat, cols)
    segments = []
    # (row step, column step, the edge's two corners relative to the pixel centre)
    for dr, dc, corners in (
        (-1, 0, ((-0.5, -0.5), (0.5, -0.5))),  # top edge: from (x-0.5, y-0.5) to (x+0.5, y-0.5)
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


def write_summary(result: Any, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw the mean frame with ROI outlines and overlapping pixels, and save it.

    Parameters
    ----------
    result : ExtractionResult
        The extraction to summarise.
    path : str or os.PathLike
        The figure file; its suffix picks the format (``.png``, ``.pdf``, ...).
        Written to a temporary file in the same folder, then renamed into place.
    title : str, optional
        Defaults to the label and the extraction time.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    """
    _require_matplotlib()
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    target = Path(path)
    suffix = target.suffix.lstrip(".").lower()
    if not suffix:
        raise ValueError(f"summary path {str(target)!r} needs a suffix naming the format, e.g. .png or .pdf")
    mean = result.get_image("mean")
    rows, cols = mean.shape
    figure = Figure(figsize=(8, 8 * rows / max(cols, 1) + 0.6))
    axes = figure.add_subplot(1, 1, 1)
    finite = mean[np.isfinite(mean)]
    low, high = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
    axes.imshow(mean, cmap="gray", interpolation="nearest", vmin=low, vmax=high if high > low else low + 1)
    segments = roi_outline_segments(result.input_masks.matrix, (rows, cols))
    axes.add_collection(LineCollection(segments, colors="cyan", linewidths=0.6))
    overlap = result.overlap.coordinates()
    if overlap.size:
        axes.plot(overlap[:, 1], overlap[:, 0], "r.", markersize=2, linestyle="none", label="overlapping pixels")
        axes.legend(loc="upper right", fontsize="small")
    axes.set_xlim(-0.5, cols - 0.5)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_xticks([])
    axes.set_yticks([])
    provenance = result.provenance
    axes.set_title(
        title or f"Extraction summary: {provenance['label']}\n{provenance['time']}, {result.get_num_rois()} ROIs"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, format=suffix, dpi=150, bbox_inches="tight")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
