"""Extraction from a memory-mapped file keeps its resident set small and its results unchanged."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from roicore_sima.stream import _file_mapping
from scipy import sparse

import roicore
from roicore.memory import NumpyImagingExtractor


def _rss_file_kib() -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("RssFile:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _masks(shape: tuple[int, int]) -> sparse.csc_matrix:
    rng = np.random.default_rng(2)
    pixels = shape[0] * shape[1]
    rows = np.concatenate([rng.choice(pixels, 40, replace=False) for _ in range(20)])
    return sparse.csc_matrix((np.ones(rows.size), (rows, np.repeat(np.arange(20), 40))), shape=(pixels, 20))


@pytest.mark.skipif(not sys.platform.startswith("linux") or _rss_file_kib() is None, reason="needs Linux /proc RssFile")
@pytest.mark.parametrize("workers", [1, 2])
def test_file_pages_leave_the_resident_set_once_computed(tmp_path, workers):
    shape = (256, 256)
    video = np.random.default_rng(1).integers(0, 4000, (400, *shape), dtype=np.uint16)  # 52 MB
    path = tmp_path / "video.npy"
    np.save(path, video)
    masks = _masks(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_ram = roicore.extract(NumpyImagingExtractor(video, 30.0), masks, method="sima", n_workers=workers)
        with NumpyImagingExtractor(path, 30.0) as on_disk:
            before = _rss_file_kib()
            result = roicore.extract(on_disk, masks, method="sima", n_workers=workers, chunk_size=16)
            grown = _rss_file_kib() - before
            # the file is still mapped and still reads right after its pages were released
            np.testing.assert_array_equal(on_disk.get_series(100, 110), video[100:110])
    np.testing.assert_array_equal(result.get_traces(), in_ram.get_traces())
    np.testing.assert_array_equal(result.get_image("mean"), video.astype(np.float64).mean(axis=0))
    assert grown * 1024 < video.nbytes / 4, f"resident file pages grew by {grown} KiB for a {video.nbytes >> 10} KiB file"


def test_only_read_only_file_mappings_are_released(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(4096, dtype=np.uint16).reshape(4, 1024))
    assert _file_mapping(np.load(path, mmap_mode="r")[1:3]) is not None
    assert _file_mapping(np.load(path, mmap_mode="c")[1:3]) is None  # copy-on-write: dropping pages loses writes
    assert _file_mapping(np.load(path, mmap_mode="r+")[1:3]) is None
    assert _file_mapping(np.arange(10)) is None  # anonymous memory: dropping pages loses the data
