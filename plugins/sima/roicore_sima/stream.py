"""Streaming a video in time chunks through worker threads.

Chunks are read through the imaging contract (``get_series(start, end)``),
in increasing order, and computed by ``n_workers`` threads. Reads and the
compute kernels release the GIL (numpy copies, scipy's sparse products, file
reads), so threads use several cores. Three schedules, chosen by worker count
and by what a read returns (measured on this machine kind; see
``benchmarks/bench_extraction.py``):

* **one worker, a video in memory** (the first two chunks are views of one
  array numpy allocated): every chunk is computed in the calling thread, in
  order. A read is free there, so a reading thread had nothing to overlap,
  and handing 32 chunks to it and prefetching their pages cost a third of
  the call (1024 x 1024 uint16, 128 frames, 50 ROIs: 31 -> 20.5 ms).
* **one worker, otherwise**: the calling thread is a *reader* running ahead of the
  compute thread: it reads chunk after chunk and hands each to the worker,
  at most two chunks ahead (a semaphore). Reading (from disk, or the copy a
  read makes) overlaps with computing, so a cold file is read at close to its
  raw sequential rate. Chunks are read with ``get_series(copy=False)``, so
  where the reader maps a file (memmaps) a "read" is a view and the reading
  thread touches its pages instead, taking their page faults. At most 3
  chunks are in memory (views of a mapping take none).
* **several workers**: each worker takes the next chunk index from a shared
  counter, reads that chunk and computes it. While one worker waits for its
  read, the others compute, so reading runs ahead of computing without a
  separate reader thread. Measured with two workers on two cores, in RAM,
  when every read was a copy, this beat both a dedicated reader thread
  (three busy threads on two cores, every chunk copied by one core and read
  by another: -30%) and a reader that also computes when it is ahead
  (-15%). At most ``n_workers`` chunks are in memory. Chunks that view a
  file mapping are faulted in (their pages touched) by one worker at a
  time, before it computes them: the file is then read as one sequential
  stream, not as two that interleave. Cold 1.07 GB ``.npy``, two workers,
  against a raw sequential read: 0.76-0.77 -> 0.85-0.88 (alternated runs).

A video of a single chunk is computed in the calling thread (threads would
only add their start-up, ~0.5 ms). In every schedule each worker owns a
per-worker state (buffers, accumulators), so nothing is allocated per chunk besides the chunk the read returns, and peak
memory does not depend on the video's length.

A chunk that is a view of a read-only file mapping (``numpy.memmap``) is
released once computed: ``madvise(MADV_DONTNEED)`` on its pages takes them
out of this process's resident set (they stay in the page cache, and a later
read faults them in again). Without it, the resident set of an extraction
from a memory-mapped file grew to the whole file (4 GB at 8,000 frames of
512 x 512 uint16) although no memory was allocated; with it, it stays near
workers x chunk + output.
"""

from __future__ import annotations

import itertools
import mmap
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

__all__ = ["chunk_ranges", "reads_are_views", "run_threads"]

Task = Callable[[list[np.ndarray], int, int, Any], None]


def chunk_ranges(num_samples: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering ``[0, num_samples)`` in chunks of ``chunk_size``."""
    return [(start, min(num_samples, start + chunk_size)) for start in range(0, num_samples, chunk_size)]


def run_threads(
    sources: Sequence[Any],
    task: Task,
    states: Sequence[Any],
    *,
    chunk_size: int,
    bar: Any,
) -> None:
    """Run ``task(chunks, start, end, state)`` over every time chunk of ``sources``.

    Parameters
    ----------
    sources : sequence of ImagingExtractor
        Read together: ``chunks[i] = sources[i].get_series(start, end)``.
    task : callable
        Does the work for one chunk and writes its results itself (into
        disjoint slices of preallocated outputs, or into ``state``).
    states : sequence
        One per worker thread; ``len(states)`` is the number of workers.
    chunk_size : int
        Frames per chunk.
    bar : progress bar
        ``bar.update(frames)`` is called from the calling thread as chunks finish.

    Raises
    ------
    Exception
        The first exception a task or a read raised; no new chunk is started
        after it.
    """
    ranges = chunk_ranges(sources[0].get_num_samples(), chunk_size)
    if len(ranges) == 1:  # nothing to overlap or share: starting threads would only cost their start-up
        start, end = ranges[0]
        chunks = _read(sources, start, end)
        task(chunks, start, end, states[0])
        _release(chunks)
        bar.update(end - start)
    elif len(states) == 1:
        # the first two ranges' chunks, in a list the schedule pops from (so it holds the only reference)
        ahead = [_read(sources, *ranges[0]), _read(sources, *ranges[1])]
        in_memory = all(_views_of_one_array(*pair) for pair in zip(*ahead, strict=True))
        schedule = _in_order if in_memory else _reader_ahead
        schedule(sources, task, states[0], ranges, bar, ahead)
    else:
        _shared_counter(sources, task, states, ranges, bar)


def _read(sources: Sequence[Any], start: int, end: int) -> list[np.ndarray]:
    # read-only blocks: a view of the data where the reader maps them (no copy), else a fresh array
    return [source.get_series(start, end, copy=False) for source in sources]


def _reads(
    sources: Sequence[Any], ranges: list[tuple[int, int]], ahead: list[list[np.ndarray]]
) -> Iterator[tuple[int, int, list[np.ndarray]]]:
    """``(start, end, chunks)`` of every range in order; ``ahead`` holds the first ranges' chunks, read already."""
    for start, end in ranges:
        chunks = ahead.pop(0) if ahead else _read(sources, start, end)
        yield start, end, chunks
        del chunks


def _root(array: np.ndarray) -> np.ndarray:
    """The array whose memory ``array`` views (``array`` itself when it owns its memory)."""
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


def _views_of_one_array(first: np.ndarray, second: np.ndarray, *, in_memory: bool = True) -> bool:
    """True when two chunks are views of one array: a video the reader maps instead of copying.

    With ``in_memory`` (the default), only an array in memory numpy
    allocated counts, not a file mapping (``numpy.memmap``) or a foreign
    buffer. Reading chunks of a video in memory is free and cannot fault on a
    file, so a reading thread would have nothing to run ahead of. Fresh reads
    (copies) have roots of their own.
    """
    root = _root(first)
    if root is not _root(second) or root is first:
        return False
    return not in_memory or (root.base is None and not isinstance(root, np.memmap))


def reads_are_views(sources: Sequence[Any]) -> bool:
    """True when every source's reads are views of one array (in memory or a file mapping), not copies.

    Probed with two one-frame reads per source. A chunk of views costs no
    memory of its own, so such videos can take larger chunks.
    """
    for source in sources:
        if source.get_num_samples() < 2:
            return False
        if not _views_of_one_array(
            source.get_series(0, 1, copy=False), source.get_series(1, 2, copy=False), in_memory=False
        ):
            return False
    return True


def _file_mapping(array: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """``(mapping, address of its first byte)`` when ``array`` views a read-only ``numpy.memmap``, else None.

    Only read-only (``mode="r"``) mappings qualify: dropping pages of a
    private (copy-on-write) mapping would lose writes, and of anonymous
    memory would lose the data.
    """
    root: np.ndarray = array
    while isinstance(root.base, np.ndarray):  # views of a memmap are memmaps too: find the one over the mapping
        root = root.base
    mapping = getattr(root, "_mmap", None)
    if not isinstance(root, np.memmap) or not isinstance(mapping, mmap.mmap) or root.base is not mapping:
        return None
    if getattr(root, "mode", None) != "r":
        return None
    offset = int(root.offset) % mmap.ALLOCATIONGRANULARITY  # numpy maps from a granularity boundary
    return mapping, int(root.ctypes.data) - offset


def _release(chunks: list[np.ndarray]) -> None:
    """Drop computed chunks' pages from the resident set where they view a read-only file mapping."""
    if not hasattr(mmap, "MADV_DONTNEED"):  # pragma: no cover - not on Linux/BSD/macOS
        return
    for chunk in chunks:
        found = _file_mapping(chunk) if chunk.size else None
        if found is None or not chunk.flags.c_contiguous:
            continue
        mapping, start = found
        begin = int(chunk.ctypes.data) - start
        first = begin - begin % mmap.PAGESIZE
        try:
            mapping.madvise(mmap.MADV_DONTNEED, first, begin + chunk.nbytes - first)
        except (OSError, ValueError):  # a closed mapping, or a range the kernel refuses: nothing to release
            continue


def _prefetch(chunks: list[np.ndarray]) -> None:
    """Touch one value per memory page of chunks that are views (of a file mapping, say).

    The reading thread does this so that the page faults of a file not in the
    page cache happen there, ahead of the compute thread, as a read would. On
    data in memory it costs one load per 4 KiB.
    """
    for chunk in chunks:
        if chunk.base is not None and chunk.size:
            flat = chunk.reshape(-1)
            flat[:: max(1, 4096 // chunk.itemsize)].max()


def _in_order(
    sources: Sequence[Any],
    task: Task,
    state: Any,
    ranges: list[tuple[int, int]],
    bar: Any,
    ahead: list[list[np.ndarray]],
) -> None:
    """Every chunk in the calling thread, in order (``ahead``: see :func:`_reads`)."""
    for start, end, chunks in _reads(sources, ranges, ahead):
        task(chunks, start, end, state)
        bar.update(end - start)


def _reader_ahead(
    sources: Sequence[Any],
    task: Task,
    state: Any,
    ranges: list[tuple[int, int]],
    bar: Any,
    ahead: list[list[np.ndarray]],
) -> None:
    """One compute thread; the calling thread reads up to two chunks ahead of it (``ahead``: see :func:`_reads`)."""
    slots = threading.BoundedSemaphore(2)

    def run(chunks: list[np.ndarray], start: int, end: int) -> int:
        try:
            task(chunks, start, end, state)
            _release(chunks)
        finally:
            slots.release()
        return end - start

    pending: deque[Future[int]] = deque()

    def collect(block: bool) -> None:
        while pending and (block or pending[0].done()):
            bar.update(pending.popleft().result())

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="roicore-sima") as pool:
        try:
            for start, end, chunks in _reads(sources, ranges, ahead):
                _prefetch(chunks)
                slots.acquire()
                pending.append(pool.submit(run, chunks, start, end))
                del chunks
                collect(block=False)
            collect(block=True)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _shared_counter(
    sources: Sequence[Any], task: Task, states: Sequence[Any], ranges: list[tuple[int, int]], bar: Any
) -> None:
    """Each worker reads and computes the next chunk in order."""
    counter = itertools.count()
    counter_lock = threading.Lock()
    fault_lock = threading.Lock()  # one worker at a time faults in a mapped chunk: one sequential read
    stop = threading.Event()
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()

    def worker(state: Any) -> None:
        while not stop.is_set():
            with counter_lock:
                index = next(counter)
            if index >= len(ranges):
                return
            start, end = ranges[index]
            chunks = _read(sources, start, end)
            if any(_file_mapping(chunk) is not None for chunk in chunks):
                with fault_lock:
                    _prefetch(chunks)
            task(chunks, start, end, state)
            _release(chunks)
            del chunks
            finished.put(end - start)

    def drain() -> None:
        while True:
            try:
                bar.update(finished.get_nowait())
            except queue.Empty:
                return

    with ThreadPoolExecutor(max_workers=len(states), thread_name_prefix="roicore-sima") as pool:
        futures = [pool.submit(worker, state) for state in states]
        try:
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, timeout=0.1, return_when=FIRST_EXCEPTION)
                drain()
                for future in done:
                    future.result()  # re-raise a worker's exception here
        except BaseException:
            stop.set()
            raise
        finally:
            stop.set()
    drain()
