"""Resources: no file left open or mapped after close, context exit or garbage collection, and flat memory.

Open files are this process's own list (``/proc/self/fd``, plus
``/proc/self/maps`` because a memory mapping holds its file open after its
descriptor is closed), restricted to the folder under test. Every installed
reader is exercised through its conformance samples, then through damaged
copies of them (truncated, garbage after the header, empty), whose errors
must not leave a file open even while the exception is still alive. Writers
are checked after a write, a refused write and a write that fails half-way.

Memory: a sima extraction of a video generated frame by frame (it never
exists in memory) at two lengths; the difference of the tracemalloc peaks is
bounded by what legitimately grows with the length, the result.
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_support import HAVE_PROC, NO_PROC_REASON, SyntheticVideo, disk_rois, open_files

import roicore
from roicore.memory import NumpySegmentationExtractor
from roicore.registry.specs import load_object

pytestmark = pytest.mark.skipif(not HAVE_PROC, reason=NO_PROC_REASON)


@dataclass
class ReaderSample:
    label: str
    reader: str  # qualified id
    sample: Any


@pytest.fixture(scope="module")
def reader_samples(tmp_path_factory) -> list[ReaderSample]:
    """Every sample of every installed reader, each in its own folder."""
    root = tmp_path_factory.mktemp("reader-samples")
    found = []
    for contribution in roicore.readers():
        if contribution.spec.samples is None:
            continue
        folder = root / contribution.qualified_id.replace(":", "_")
        folder.mkdir()
        for sample in load_object(contribution.spec.samples)(folder):
            found.append(ReaderSample(f"{contribution.id}/{sample.id}", contribution.qualified_id, sample))
    assert found, "no installed reader names samples"
    return found


def _open(item: ReaderSample, path: Path | None = None) -> Any:
    """Through detection when the sample is detectable, else with the explicit reader."""
    sample = item.sample
    target = sample.path if path is None else path
    if sample.detectable:
        return roicore.open(target, **sample.reader_kwargs)
    return roicore.open(target, reader=item.reader, **sample.reader_kwargs)


def _exercise(extractor: Any) -> None:
    """Read a little of everything that touches the file."""
    if isinstance(extractor, roicore.ImagingExtractor):
        n = extractor.get_num_samples()
        extractor.get_series(0, min(n, 3))
        extractor.get_samples([n - 1, 0])
        np.asarray(extractor[-1])
    else:
        for name in extractor.get_trace_names():
            extractor.get_traces(name=name, end_sample=min(5, extractor.get_num_samples()))
        extractor.get_roi_image_masks()
        extractor.get_images_dict()


def _assert_released(folder: Path, what: str) -> None:
    held = open_files(folder)
    assert not held, f"{what}: still open: {held}"


def test_every_reader_sample_is_released_after_close_context_exit_and_gc(reader_samples):
    held_while_open = 0
    for item in reader_samples:
        folder = Path(item.sample.path).parent
        _assert_released(folder, f"{item.label} before opening")
        roicore.explain(item.sample.path)  # detection's header read and sniffs
        _assert_released(folder, f"{item.label} after explain")

        extractor = _open(item)
        _exercise(extractor)
        held_while_open += bool(open_files(folder))
        extractor.close()
        _assert_released(folder, f"{item.label} after close()")

        with _open(item) as extractor:
            _exercise(extractor)
        _assert_released(folder, f"{item.label} after the with block")

        extractor = _open(item)
        _exercise(extractor)
        view = extractor.slice_samples(0, 1) if isinstance(extractor, roicore.ImagingExtractor) else None
        del extractor, view
        gc.collect()
        _assert_released(folder, f"{item.label} after del and gc.collect()")
    # the check can see open files at all: most readers hold their file while open
    assert held_while_open >= len(reader_samples) // 2, f"only {held_while_open} samples showed an open file"
    print(f"\n{len(reader_samples)} samples of {len({i.reader for i in reader_samples})} readers x 3 ways to end "
          f"({held_while_open} held their file while open)")


DAMAGES = ("truncated", "garbage", "empty")


def _damaged_copy(item: ReaderSample, damage: str, root: Path) -> tuple[Path, Path]:
    """Copy the sample's files (data and companions) to a new folder and damage the sample's path there."""
    source = Path(item.sample.path)
    folder = root / f"{item.label.replace('/', '_')}-{damage}"
    folder.mkdir()
    stem = source.name.split(".")[0]
    for companion in source.parent.iterdir():
        if companion.name.split(".")[0] == stem and companion.is_file():
            shutil.copy2(companion, folder / companion.name)
    target = folder / source.name
    content = source.read_bytes()
    if damage == "truncated":
        target.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        keep = min(len(content) // 4, 512)
        target.write_bytes(content[:keep] + np.random.default_rng(len(content)).bytes(len(content) - keep))
    else:
        target.write_bytes(b"")
    return folder, target


def test_errors_while_opening_or_reading_damaged_files_leave_nothing_open(reader_samples, tmp_path):
    raised = 0
    cases = 0
    for item in reader_samples:
        if Path(item.sample.path).is_dir():
            continue
        for damage in DAMAGES:
            folder, target = _damaged_copy(item, damage, tmp_path)
            cases += 1
            try:
                extractor = _open(item, target)
            except Exception:
                raised += 1
                # checked while the exception (and its traceback's frames) is still alive: the reader
                # must have closed what it opened before raising, not leave it to the garbage collector
                _assert_released(folder, f"{item.label} {damage}: after open raised")
                continue
            try:
                _exercise(extractor)
            except Exception:
                raised += 1
            finally:
                extractor.close()
            _assert_released(folder, f"{item.label} {damage}: after a read and close()")
    assert raised >= cases // 2, f"only {raised} of {cases} damaged files raised: the damage is too mild to test"
    print(f"\n{cases} damaged files ({len(DAMAGES)} kinds x {cases // len(DAMAGES)} samples), {raised} raised")


class FailingVideo(SyntheticVideo):
    """A video whose reads fail from frame ``fail_at`` on (a writer fails half-way through)."""

    def __init__(self, num_frames: int, fail_at: int) -> None:
        super().__init__(num_frames, (16, 12))
        self._fail_at = fail_at

    def _read_series(self, start: int, end: int) -> np.ndarray:
        if end > self._fail_at:
            raise RuntimeError("the source failed (simulated)")
        return super()._read_series(start, end)


class FailingSegmentation(NumpySegmentationExtractor):
    """Traces whose reads fail (a writer fails after opening its output)."""

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        raise RuntimeError("the source failed (simulated)")


def _failing_source(kind: str) -> Any:
    if kind == "imaging":
        return FailingVideo(40, fail_at=20)
    return FailingSegmentation(disk_rois((16, 12), 3, radius=2.0), 10.0, traces={"raw": np.ones((30, 3), np.float32)})


def test_writers_release_their_files_after_success_refusal_and_failure(tmp_path):
    from roicore.testing.samples import WriterSample  # noqa: F401  (the records the generators return)

    cases = 0
    for contribution in roicore.writers():
        spec = contribution.spec
        if spec.samples is None:
            continue
        folder = tmp_path / contribution.qualified_id.replace(":", "_")
        (folder / "samples").mkdir(parents=True)
        suffix = spec.suffixes[0]
        for sample in load_object(spec.samples)(folder / "samples"):
            target = folder / f"out-{sample.id}{suffix}"
            roicore.write(sample.source, target, format=contribution.id, **getattr(sample, "options", {}))
            _assert_released(folder, f"{contribution.id}/{sample.id}: after write")
            with pytest.raises(FileExistsError):
                roicore.write(sample.source, target, format=contribution.id)
            _assert_released(folder, f"{contribution.id}/{sample.id}: after a refused write")
            cases += 2
        kept = sorted(p.name for p in folder.iterdir())
        with pytest.raises(RuntimeError, match="simulated"):
            roicore.write(_failing_source(spec.kind), folder / f"failing{suffix}", format=contribution.id)
        _assert_released(folder, f"{contribution.id}: after a write that failed half-way")
        assert sorted(p.name for p in folder.iterdir()) == kept, "a failed write left files behind"
        cases += 1
    assert cases
    print(f"\n{cases} write cases over {len(roicore.writers())} writers")


# -- memory ----------------------------------------------------------------------------------------
SHORT, LONG = 2_000, 16_000
ROIS = 50
SLACK = 2 * 2**20  # allocator and thread-timing noise between two runs


def _peak(function: Any) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_long_streaming_extraction_stays_flat():
    """Peak(16k frames) - peak(2k frames) <= what grows with the length: the result, not the video.

    Per extra frame the extraction may hold the float32 trace row of every
    ROI (the output, ``4 * ROIS`` bytes) twice (the output buffer and one copy
    while the result is built) and four float64 timestamps (the time vector and
    the temporaries that compare it with ``arange(n) / fs``): ``8 * ROIS + 32``
    bytes, 432 B for 50 ROIs, plus 2 MiB of slack. A 64 x 64 uint16 frame is
    8192 B: holding even 5% of the extra 14k frames (5.7 MB) would exceed the
    bound of 6.0 MB + 2 MiB.
    """
    rois = disk_rois((64, 64), ROIS, radius=4.0, seed=1)
    options = {"method": "sima", "n_workers": 2, "chunk_size": 128}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        roicore.extract(SyntheticVideo(300, (64, 64)), rois, **options)  # imports and caches first
        results = {}
        peaks = {n: _peak(lambda n=n: results.__setitem__(n, roicore.extract(SyntheticVideo(n, (64, 64)), rois,
                                                                                **options)))
                 for n in (SHORT, LONG)}
    assert results[LONG].get_traces(name="raw").shape == (LONG, ROIS)
    extra = LONG - SHORT
    bound = extra * (8 * ROIS + 32) + SLACK
    growth = peaks[LONG] - peaks[SHORT]
    video = extra * 64 * 64 * 2
    print(f"\npeaks {peaks[SHORT] / 1e6:.1f} MB ({SHORT} frames) and {peaks[LONG] / 1e6:.1f} MB ({LONG} frames): "
          f"growth {growth / 1e6:.2f} MB, bound {bound / 1e6:.2f} MB, extra video {video / 1e6:.0f} MB")
    assert growth <= bound


def test_memory_of_a_long_streaming_write_stays_flat(tmp_path):
    """The memmap writer streams: peak(16k frames) - peak(2k frames) <= 1 MiB (nothing grows with the length;
    the extra 14k frames of 32 x 32 uint16 are 28.7 MB)."""
    def write(n: int) -> None:
        roicore.write(SyntheticVideo(n, (32, 32)), tmp_path / f"video-{n}.bin", chunk_frames=256)

    write(100)
    peaks = {n: _peak(lambda n=n: write(n)) for n in (SHORT, LONG)}
    growth = peaks[LONG] - peaks[SHORT]
    print(f"\nwrite peaks {peaks[SHORT] / 1e6:.2f} MB and {peaks[LONG] / 1e6:.2f} MB: growth {growth / 1e6:.3f} MB")
    assert growth <= 2**20


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_detection_of_a_fifo_neither_blocks_nor_leaks(tmp_path):
    """Reading a FIFO's header would block until a writer comes: detection refuses non-regular files."""
    fifo = tmp_path / "stream.npy"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _record(outcome, fifo), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # unblock the reader before failing
        worker.join(5)
        pytest.fail("roicore.open blocked on a FIFO")
    assert isinstance(outcome[0], roicore.errors.NoReaderFoundError) and "FIFO" in str(outcome[0])
    _assert_released(tmp_path, "after refusing a FIFO")


def _record(outcome: list[BaseException], path: Path) -> None:
    try:
        roicore.open(path)
    except BaseException as exc:  # recorded for the main thread
        outcome.append(exc)
