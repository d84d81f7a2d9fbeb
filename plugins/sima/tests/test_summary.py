"""The extraction summary figure: mean frame, ROI outlines, overlapping pixels."""

from __future__ import annotations

import numpy as np
import pytest
from roicore_sima.samples import make_movie
from roicore_sima.summary import roi_outline_segments, write_summary

import roicore


def test_outline_segments_trace_pixel_edges():
    from scipy import sparse

    masks = np.zeros((4, 5, 2), dtype=bool)
    masks[1, 1, 0] = True  # one pixel: 4 edges
    masks[2:4, 2:4, 1] = True  # 2 x 2 square at the frame's bottom edge: 8 edges
    matrix = sparse.csc_matrix(masks.reshape(20, 2).astype(float))
    segments = roi_outline_segments(matrix, (4, 5))
    assert segments.shape == (12, 2, 2)
    # the single pixel at (row 1, column 1) is outlined by x and y in [0.5, 1.5]
    around_single = np.all((segments >= 0.5) & (segments <= 1.5), axis=(1, 2))
    assert around_single.sum() == 4
    assert roi_outline_segments(sparse.csc_matrix((20, 0)), (4, 5)).shape == (0, 2, 2)


def test_summary_file_is_written(tmp_path):
    pytest.importorskip("matplotlib", reason='matplotlib is not installed (pip install "roicore-sima[plot]")')
    movie = make_movie(frames=6)
    target = tmp_path / "figures" / "summary.png"
    result = roicore.extract(movie.imaging(), movie.masks, method="sima", summary=target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.provenance["options"]["summary"] == str(target)
    pdf = write_summary(result, tmp_path / "summary.pdf", title="custom")
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "summary.pdf"]  # no temporary left
    with pytest.raises(ValueError, match="needs a suffix"):
        write_summary(result, tmp_path / "summary")
