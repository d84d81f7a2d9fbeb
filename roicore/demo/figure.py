"""The demo's figure: the extraction over the mean image, and traces against the ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roicore.plotting import draw_image, draw_outlines, require_matplotlib, save_figure

__all__ = ["demo_figure"]


def _zscore(values: np.ndarray) -> np.ndarray:
    spread = np.nanstd(values)
    return (values - np.nanmean(values)) / (spread if spread > 0 else 1.0)


def demo_figure(result: Any, truth: np.ndarray, correlations: np.ndarray, path: Path, *, shown: int = 5) -> Path:
    """Mean image with the ROI outlines; the best, median and worst ROIs' traces over their truth.

    Parameters
    ----------
    result : SegmentationExtractor
        The extraction (its "mean" image, masks and "raw" traces).
    truth : numpy.ndarray
        ``(frames, rois)`` true calcium, columns in the result's ROI order.
    correlations : numpy.ndarray
        Per-ROI correlation of the extracted trace with the truth.
    path : Path
        The figure file.
    shown : int
        How many ROIs' traces to draw.
    """
    require_matplotlib("the demo's figure")
    from matplotlib.figure import Figure

    mean = result.get_image("mean")
    shape = mean.shape
    order = np.argsort(correlations)
    picks = order[np.unique(np.linspace(0, order.size - 1, min(shown, order.size)).round().astype(int))][::-1]
    traces = result.get_traces(roi_ids=[result.get_roi_ids()[i] for i in picks])
    time = result.get_timestamps()

    figure = Figure(figsize=(13, 6.2))
    grid = figure.add_gridspec(1, 2, width_ratios=(1, 1.55))
    image_axes = figure.add_subplot(grid[0, 0])
    draw_image(image_axes, mean, f"mean image, {result.get_num_rois()} ROIs (CaImAn footprints)")
    draw_outlines(image_axes, result.get_roi_masks().matrix, shape)
    ids = list(result.get_roi_ids())
    masks = result.get_roi_masks()
    for position in picks:
        rows, columns = np.unravel_index(masks.matrix[:, position].indices, shape)
        if rows.size:
            image_axes.text(columns.mean(), rows.mean(), str(ids[position]), color="yellow", fontsize=8,
                            ha="center", va="center")
    axes = figure.add_subplot(grid[0, 1])
    for row, position in enumerate(picks):
        offset = -6.0 * row
        axes.plot(time, _zscore(truth[:, position]) + offset, color="0.65", linewidth=1.6,
                  label="ground truth" if row == 0 else None)
        axes.plot(time, _zscore(traces[:, row]) + offset, color="tab:blue", linewidth=0.7,
                  label="extracted (sima)" if row == 0 else None)
        axes.text(time[0], offset + 3.4, f"ROI {ids[position]}: r = {correlations[position]:.3f}",
                  ha="left", va="bottom", fontsize="small")
    axes.set_xlabel("time (s)")
    axes.set_yticks([])
    axes.set_title("best, median and worst ROIs: extracted vs true calcium (z-scored)", fontsize="medium")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize="small", frameon=False)
    figure.suptitle(
        f"roicore demo: median correlation with the ground truth {np.median(correlations):.3f}, "
        f"worst {correlations.min():.3f}"
    )
    return save_figure(figure, path)
