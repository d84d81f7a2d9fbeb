"""Concurrency: many threads on one extractor, several processes on one file, several extraction workers.

Every concurrent result is compared with a serial read of the same
operations (digests of dtype, shape and bytes: exact equality). The
operations are seeded random reads: ``get_series`` windows, ``get_samples``
with unsorted, repeated and negative indices, numpy keys with steps, and for
segmentations ``get_traces`` windows of ROI subsets and both mask views.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_support import (
    SyntheticVideo,
    apply,
    digest,
    disk_rois,
    imaging_operations,
    replay,
    replay_in_process,
    replay_pickled,
    segmentation_operations,
)

import roicore
from roicore.registry.specs import load_object

THREADS = 8
OPERATIONS = 40
PROCESSES = 3


def _files(folder: Path) -> list[tuple[str, Path, str, dict[str, Any]]]:
    """One larger file per reader: (label, path, reader id, reader kwargs)."""
    from roicore_memmap.samples import write_caiman_mmap

    video = SyntheticVideo(300, (48, 40))
    roicore.write(video, folder / "video.bin", chunk_frames=37)
    roicore.write(video, folder / "video.npy", chunk_frames=37)
    floats = video.get_series().astype(np.float32) / 7
    c_order = write_caiman_mmap(folder, "movieC", floats, "C")
    f_order = write_caiman_mmap(folder, "movieF", floats, "F")
    rng = np.random.default_rng(5)
    segmentation = roicore.NumpySegmentationExtractor(
        disk_rois((48, 40), 40, seed=2), 30.0,
        traces={"raw": rng.normal(size=(3000, 40)).astype(np.float32),
                "dff": rng.normal(size=(3000, 40)).astype(np.float32)},
    )
    roicore.write(segmentation, folder / "results.hdf5")
    return [
        ("memmap", folder / "video.bin", "memmap", {}),
        ("npy", folder / "video.npy", "npy", {}),
        ("caiman-mmap C", c_order, "caiman-mmap", {"sampling_frequency": 30.0}),
        ("caiman-mmap F", f_order, "caiman-mmap", {"sampling_frequency": 30.0}),
        ("caiman", folder / "results.hdf5", "caiman", {}),
    ]


def _sample_files(folder: Path) -> list[tuple[str, Path, str, dict[str, Any]]]:
    """Every conformance sample of every installed reader."""
    found = []
    for contribution in roicore.readers():
        if contribution.spec.samples is None:
            continue
        target = folder / contribution.qualified_id.replace(":", "_")
        target.mkdir()
        for sample in load_object(contribution.spec.samples)(target):
            found.append((f"{contribution.id}/{sample.id}", Path(sample.path), contribution.qualified_id,
                          dict(sample.reader_kwargs)))
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[tuple[str, Path, str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("concurrency")
    samples = folder / "samples"
    samples.mkdir()
    return _files(folder) + _sample_files(samples)


def _operations(extractor: Any, seed: int) -> list[tuple[Any, ...]]:
    if isinstance(extractor, roicore.ImagingExtractor):
        return imaging_operations(extractor.get_num_samples(), OPERATIONS, seed)
    return segmentation_operations(extractor, OPERATIONS, seed)


def _serial(path: Path, reader: str, kwargs: dict[str, Any], seed: int) -> tuple[list[Any], list[str]]:
    with roicore.open(path, reader=reader, **kwargs) as extractor:
        operations = _operations(extractor, seed)
        return operations, replay(extractor, operations)


def _hammer(extractor: Any, operations: list[tuple[Any, ...]]) -> list[dict[int, str]]:
    """Every thread runs every operation, each in its own order, all starting together."""
    barrier = threading.Barrier(THREADS)
    results: list[dict[int, str]] = [{} for _ in range(THREADS)]
    errors: list[BaseException] = []

    def work(number: int) -> None:
        order = np.random.default_rng(number).permutation(len(operations))
        try:
            barrier.wait()
            for index in order:
                results[number][int(index)] = digest(apply(extractor, operations[index]))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a reading thread hung"
    if errors:
        raise errors[0]
    return results


def test_many_threads_on_one_extractor_read_what_one_thread_reads(files):
    for index, (label, path, reader, kwargs) in enumerate(files):
        operations, expected = _serial(path, reader, kwargs, seed=index)
        # a fresh extractor: its lazy opening (file, mapping) happens under contention too
        with roicore.open(path, reader=reader, **kwargs) as extractor:
            results = _hammer(extractor, operations)
        for number, result in enumerate(results):
            mismatched = [operations[i] for i in range(len(operations)) if result[i] != expected[i]]
            assert not mismatched, f"{label}: thread {number} read differently from a serial read: {mismatched[:3]}"
    readers = {reader.rpartition(":")[2] for _, _, reader, _ in files}
    print(f"\n{len(files)} files of {len(readers)} readers x {THREADS} threads x {OPERATIONS} reads")


@pytest.fixture(scope="module")
def pool():
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as workers:
        yield workers


def test_several_processes_on_one_file_read_what_one_process_reads(files, pool):
    chosen = [item for item in files if "/" not in item[0]]  # the larger files, one or two per reader
    jobs = []
    for index, (label, path, reader, kwargs) in enumerate(chosen):
        operations, expected = _serial(path, reader, kwargs, seed=100 + index)
        with roicore.open(path, reader=reader, **kwargs) as extractor:
            pickled = pickle.dumps(extractor)
        for copy in range(PROCESSES):
            jobs.append((label, expected, pool.apply_async(replay_in_process, (str(path), reader, kwargs, operations))))
            jobs.append((label, expected, pool.apply_async(replay_pickled, (pickle.loads(pickled), operations))))
    for label, expected, job in jobs:
        assert job.get(timeout=120) == expected, f"{label}: a process read differently from a serial read"
    print(f"\n{len(chosen)} files x {2 * PROCESSES} reads in {PROCESSES} spawned processes (by path and pickled)")


# -- extraction with several workers ----------------------------------------------------------------
WORKERS = (1, 2, 4)
CHUNKS = (None, 1, 7, 64)
OPTIONS = ({}, {"remove_overlap": False}, {"sima_compat": True})


def _extract(imaging: Any, rois: np.ndarray, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ROIs emptied by overlap removal warn; that is not under test
        result = roicore.extract(imaging, rois, method="sima", **options)
    return result.get_traces(name="raw"), result.get_image("mean")


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_extraction_with_several_workers_equals_one_worker(files, options):
    """uint16 video from a memmap file: traces and mean image identical for every worker count and chunk size."""
    rois = disk_rois((48, 40), 25, radius=5.0, seed=3)
    with roicore.open(files[0][1]) as imaging:
        traces, mean = _extract(imaging, rois, n_workers=1, **options)
        for workers in WORKERS:
            for chunk in CHUNKS:
                other_traces, other_mean = _extract(imaging, rois, n_workers=workers, chunk_size=chunk, **options)
                np.testing.assert_array_equal(other_traces, traces, err_msg=f"{workers} workers, chunk {chunk}")
                np.testing.assert_array_equal(other_mean, mean, err_msg=f"{workers} workers, chunk {chunk}")
    print(f"\n{len(WORKERS) * len(CHUNKS)} worker/chunk combinations, exact")


def test_extraction_of_a_float_video_with_nans_is_equal_within_float32_rounding():
    """float32 video with unimaged (NaN) pixels: traces are exact; the mean image, summed in float32 per
    chunk and worker and then merged, differs by float32 rounding only (rtol 1e-5 ~ 80 float32 ulps);
    with sima_compat the traces are divided by that mean, so they share its tolerance."""
    from roicore_sima.samples import make_movie

    movie = make_movie(frames=300, weighted=True, nan_border=True, dtype=np.float32, seed=4)
    imaging = movie.imaging()
    cases = 0
    for options in OPTIONS:
        traces, mean = _extract(imaging, movie.masks, n_workers=1, **options)
        for workers in WORKERS:
            for chunk in CHUNKS:
                other_traces, other_mean = _extract(imaging, movie.masks, n_workers=workers, chunk_size=chunk,
                                                    **options)
                message = f"{options} {workers} workers, chunk {chunk}"
                if options.get("sima_compat"):
                    np.testing.assert_allclose(other_traces, traces, rtol=1e-5, err_msg=message)
                else:
                    np.testing.assert_array_equal(other_traces, traces, err_msg=message)
                np.testing.assert_allclose(other_mean, mean, rtol=1e-5, err_msg=message)
                cases += 1
    print(f"\n{cases} option/worker/chunk combinations")
