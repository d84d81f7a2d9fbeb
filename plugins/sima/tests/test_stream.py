"""The thread schedules of roicore_sima.stream: which one runs, in what order, and where."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import roicore_sima.stream as stream_module
from roicore_sima.stream import _views_of_one_array, reads_are_views, run_threads

from roicore.memory import NumpyImagingExtractor


class _Bar:
    def __init__(self) -> None:
        self.frames = 0

    def update(self, frames: int) -> None:
        self.frames += frames


def _record(sources, workers: int, chunk_size: int):
    """Run a task that records each chunk's range, values and thread; returns the records and the bar."""
    calls: list[tuple[int, int, int, np.ndarray]] = []
    lock = threading.Lock()

    def task(chunks, start, end, state):
        with lock:
            calls.append((start, end, threading.get_ident(), np.array(chunks[0])))

    bar = _Bar()
    run_threads(sources, task, [object() for _ in range(workers)], chunk_size=chunk_size, bar=bar)
    return calls, bar


def test_only_views_of_one_array_in_memory_count_as_in_memory(tmp_path):
    video = np.arange(4 * 1024, dtype=np.uint16).reshape(4, 1024).copy()
    assert _views_of_one_array(video[0:2], video[2:4])
    assert _views_of_one_array(video[0:2].view(np.ndarray), video[2:4][::1])
    assert not _views_of_one_array(video[0:2].copy(), video[2:4].copy())  # fresh reads: a root each
    fresh = [np.arange(2048, dtype=np.uint16).reshape(2, 1024) for _ in range(2)]
    assert not _views_of_one_array(*fresh)  # reshaped fresh reads, too
    assert not _views_of_one_array(video, video)  # the whole array is not a view
    path = tmp_path / "a.npy"
    np.save(path, video)
    mapped = np.load(path, mmap_mode="r")
    assert not _views_of_one_array(mapped[0:2], mapped[2:4])
    foreign = np.frombuffer(bytes(8192), dtype=np.uint16).reshape(4, 1024)
    assert not _views_of_one_array(foreign[0:2], foreign[2:4])


def test_one_worker_in_memory_runs_every_chunk_in_the_calling_thread_in_order():
    video = np.random.default_rng(0).integers(0, 100, (37, 8, 8), dtype=np.uint16)
    calls, bar = _record([NumpyImagingExtractor(video, 10.0)], workers=1, chunk_size=5)
    assert [(start, end) for start, end, _, _ in calls] == [(s, min(37, s + 5)) for s in range(0, 37, 5)]
    assert {thread for _, _, thread, _ in calls} == {threading.get_ident()}
    for start, end, _, values in calls:
        np.testing.assert_array_equal(values, video[start:end])
    assert bar.frames == 37


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_mapping_is_computed_beside_the_reading_thread(tmp_path, workers):
    video = np.random.default_rng(1).integers(0, 100, (23, 8, 8), dtype=np.uint16)
    path = tmp_path / "video.npy"
    np.save(path, video)
    with NumpyImagingExtractor(path, 10.0) as on_disk:
        calls, bar = _record([on_disk], workers=workers, chunk_size=4)
    assert sorted((start, end) for start, end, _, _ in calls) == [(s, min(23, s + 4)) for s in range(0, 23, 4)]
    assert threading.get_ident() not in {thread for _, _, thread, _ in calls}
    for start, end, _, values in calls:
        np.testing.assert_array_equal(values, video[start:end])
    assert bar.frames == 23


def test_workers_fault_a_file_mapping_in_one_chunk_at_a_time_before_computing_it(tmp_path, monkeypatch):
    video = np.random.default_rng(2).integers(0, 100, (24, 8, 8), dtype=np.uint16)
    path = tmp_path / "video.npy"
    np.save(path, video)
    touching, most, touched = [0], [0], []
    guard = threading.Lock()

    def prefetch(chunks):  # stands in for the page-touching pass, slow enough for two workers to meet
        with guard:
            touching[0] += 1
            most[0] = max(most[0], touching[0])
        time.sleep(0.01)
        with guard:
            touching[0] -= 1
            touched.append(int(np.asarray(chunks[0])[0, 0, 0]))

    monkeypatch.setattr(stream_module, "_prefetch", prefetch)
    with NumpyImagingExtractor(path, 10.0) as on_disk:
        calls, bar = _record([on_disk], workers=2, chunk_size=4)
    assert most[0] == 1  # sequential reads of the file, not two streams at once
    assert sorted(touched) == sorted(int(video[start, 0, 0]) for start in range(0, 24, 4))
    assert bar.frames == 24
    touched.clear()
    _record([NumpyImagingExtractor(video, 10.0)], workers=2, chunk_size=4)
    assert touched == []  # memory that no file backs has no page to fault in


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_chunk_stops_the_run_and_raises(workers):
    video = np.zeros((40, 4, 4), dtype=np.uint16)
    seen: list[int] = []

    def task(chunks, start, end, state):
        seen.append(start)
        if start == 8:
            raise ValueError("chunk 8 is bad")

    with pytest.raises(ValueError, match="chunk 8 is bad"):
        run_threads([NumpyImagingExtractor(video, 10.0)], task, [None] * workers, chunk_size=4, bar=_Bar())
    assert 8 in seen and len(seen) < 10


def test_reads_are_views_of_arrays_and_file_mappings_not_of_copying_readers(tmp_path):
    video = np.random.default_rng(2).integers(0, 100, (6, 4, 4), dtype=np.uint16)
    path = tmp_path / "video.npy"
    np.save(path, video)
    in_memory = NumpyImagingExtractor(video, 10.0)
    with NumpyImagingExtractor(path, 10.0) as mapped:
        assert reads_are_views([in_memory]) and reads_are_views([mapped]) and reads_are_views([in_memory, mapped])

    class Copying(NumpyImagingExtractor):
        def _read_series(self, start, end):
            return np.array(super()._read_series(start, end))

    assert not reads_are_views([Copying(video, 10.0)])
    assert not reads_are_views([in_memory, Copying(video, 10.0)])
    assert not reads_are_views([NumpyImagingExtractor(video[:1], 10.0)])  # one frame: nothing to tell by
