"""An extraction summary figure: mean frame, ROI contours, overlapping pixels.

The counterpart of SIMA's ``extractSummary_<timestamp>.pdf``. Needs
matplotlib (``pip install "roicore-sima[plot]"``); it uses matplotlib's
object API (no pyplot, no global figure state, any format that matplotlib
writes: png, pdf, svg, ...). Outlines and the atomic save are the core's
(:mod:`roicore.plotting`): every pixel edge between a ROI pixel and a
non-ROI pixel, drawn as one line collection, so hundreds of ROIs take a
fraction of a second.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from roicore.plotting import draw_image, draw_outlines, require_matplotlib, roi_outline_segments, save_figure

__all__ = ["write_summary", "roi_outline_segments"]


def _require_matplotlib() -> None:
    """Raise MissingDependencyError (with the pip command) unless matplotlib imports."""
    require_matplotlib("the extraction summary figure (summary=...)", pip_name='"roicore-sima[plot]"')


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
    ValueError
        The path has no suffix.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    target = Path(path)
    if not target.suffix:
        raise ValueError(f"summary path {str(target)!r} needs a suffix naming the format, e.g. .png or .pdf")
    mean = result.get_image("mean")
    rows, cols = mean.shape
    figure = Figure(figsize=(8, 8 * rows / max(cols, 1) + 0.6))
    axes = figure.add_subplot(1, 1, 1)
    provenance = result.provenance
    draw_image(
        axes, mean, title or f"Extraction summary: {provenance['label']}\n{provenance['time']}, {result.get_num_rois()} ROIs"
    )
    draw_outlines(axes, result.input_masks.matrix, (rows, cols))
    overlap = result.overlap.coordinates()
    if overlap.size:
        axes.plot(overlap[:, 1], overlap[:, 0], "r.", markersize=2, linestyle="none", label="overlapping pixels")
        axes.legend(loc="upper right", fontsize="small")
    target.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, target, dpi=150)
