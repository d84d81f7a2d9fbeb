"""Chunk size and worker count change nothing; runs are deterministic; memory stays bounded."""

from __future__ import annotations

import threading
import tracemalloc
import weakref

import numpy as np
import pytest
from roicore_sima.samples import make_movie

import roicore
from roicore.imaging import ImagingExtractor

CASES = {
    "uint16-remove": dict(movie=dict(), options=dict()),
    "float-nan-keep": dict(movie=dict(nan_border=True, weighted=True), options=dict(remove_overlap=False)),
    "compat-keep": dict(movie=dict(nan_border=True), options=dict(sima_compat=True, remove_overlap=False)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunk_size_and_worker_count_do_not_change_the_traces(case):
    spec = CASES[case]
    movie = make_movie(frames=61, **spec["movie"])
    other = make_movie(frames=61, seed=8, **spec["movie"])
    base = roicore.extract(
        movie.imaging(),
        movie.masks,
        method="sima",
        n_workers=1,
        chunk_size=61,
        demix_channel=other.imaging(),
        **spec["options"],
    )
    for workers, chunk in [(1, 1), (2, 3), (3, 7), (2, 16), (4, 1000)]:
        result = roicore.extract(
            movie.imaging(),
            movie.masks,
            method="sima",
            n_workers=workers,
            chunk_size=chunk,
            demix_channel=other.imaging(),
            **spec["options"],
        )
        # bitwise: every frame is computed by the same operations whatever the chunking
        np.testing.assert_array_equal(result.get_traces(name="raw"), base.get_traces(name="raw"))
        np.testing.assert_array_equal(result.get_traces(name="demixed_raw"), base.get_traces(name="demixed_raw"))
        np.testing.assert_allclose(result.get_image("mean"), base.get_image("mean"), rtol=1e-6)


def test_the_mean_image_of_integer_video_is_exact_for_any_chunking():
    movie = make_movie(frames=70)
    means = [
        roicore.extract(movie.imaging(), movie.masks, method="sima", chunk_size=size, n_workers=workers).get_image(
            "mean"
        )
        for size, workers in [(1, 1), (9, 2), (70, 3)]
    ]
    expected = movie.video.astype(np.float64).mean(axis=0)
    for mean in means:
        np.testing.assert_array_equal(mean, expected)


def test_runs_are_deterministic_and_inputs_untouched():
    movie = make_movie(nan_border=True, weighted=True)
    imaging = movie.imaging()
    masks = roicore.RoiMasks.from_image_masks(movie.masks)
    before = masks.matrix.copy()
    video_before = movie.video.copy()
    first = roicore.extract(imaging, masks, method="sima", remove_overlap=False, n_workers=3, chunk_size=2)
    second = roicore.extract(imaging, masks, method="sima", remove_overlap=False, n_workers=3, chunk_size=2)
    np.testing.assert_array_equal(first.get_traces(), second.get_traces())
    np.testing.assert_array_equal(movie.video, video_before)
    assert (masks.matrix != before).nnz == 0
    np.testing.assert_array_equal(first.input_masks.matrix.toarray(), before.toarray())


class GeneratedImaging(ImagingExtractor):
    """A long video generated on the fly (frame t is constant t % 97 + 1): no stored data.

    Counts the chunks alive at once and checks which thread reads.
    """

    def __init__(self, frames: int, shape: tuple[int, int] = (64, 80)) -> None:
        self._frames = frames
        self._shape = shape
        self.alive = 0
        self.peak_alive = 0
        self.read_threads: set[str] = set()
        self._lock = threading.Lock()

    def get_image_shape(self):
        return self._shape

    def get_num_samples(self):
        return self._frames

    def get_sampling_frequency(self):
        return 30.0

    def get_dtype(self):
        return np.dtype(np.uint16)

    def _released(self) -> None:
        with self._lock:
            self.alive -= 1

    def _read_series(self, start, end):
        values = (np.arange(start, end) % 97 + 1).astype(np.uint16)
        block = np.empty((end - start, *self._shape), dtype=np.uint16)
        block[...] = values[:, None, None]
        with self._lock:
            self.alive += 1
            self.peak_alive = max(self.peak_alive, self.alive)
            self.read_threads.add(threading.current_thread().name)
        weakref.finalize(block, self._released)
        return block


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_alive_are_bounded_and_reads_run_ahead_of_compute(workers):
    """One worker: the calling thread reads ahead (<= 3 chunks alive); several: each worker reads its next chunk."""
    imaging = GeneratedImaging(400)
    masks = np.zeros((64, 80, 3), dtype=bool)
    masks[2:6, 2:9, 0] = masks[30:40, 10:20, 1] = masks[50:60, 60:70, 2] = True
    result = roicore.extract(imaging, masks, method="sima", n_workers=workers, chunk_size=10)
    if workers == 1:
        assert imaging.peak_alive <= 3
        assert imaging.read_threads == {threading.current_thread().name}
    else:
        assert imaging.peak_alive <= workers
        assert threading.current_thread().name not in imaging.read_threads
        assert all(name.startswith("roicore-sima") for name in imaging.read_threads)
    expected = (np.arange(400) % 97 + 1).astype(np.float32)
    np.testing.assert_allclose(result.get_traces(), np.repeat(expected[:, None], 3, axis=1), rtol=1e-5)


def test_peak_memory_does_not_grow_with_the_video_length():
    masks = np.zeros((64, 80, 2), dtype=bool)
    masks[2:6, 2:9, 0] = masks[30:40, 10:20, 1] = True

    def peak(frames: int) -> int:
        imaging = GeneratedImaging(frames)
        tracemalloc.start()
        try:
            roicore.extract(imaging, masks, method="sima", n_workers=2, chunk_size=20)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak(200), peak(4000)
    output_growth = (4000 - 200) * 2 * 4 + (4000 - 200) * 8  # float32 traces + float64 timestamps
    chunk = 20 * 64 * 80 * 2
    # the video grows by 20x (10 MB more); peak memory grows only by the output
    assert long - short < output_growth + 4 * chunk, (short, long)
