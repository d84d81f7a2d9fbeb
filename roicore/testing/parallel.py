"""A spawned worker process shared by the io checks (started once per run, on first use)."""

from __future__ import annotations

import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

__all__ = ["spawn_executor", "shutdown", "read_windows_from_pickle"]

_executor: ProcessPoolExecutor | None = None
_executor_path: tuple[str, ...] = ()


def spawn_executor() -> ProcessPoolExecutor:
    """A one-process pool started with the ``spawn`` method (no state inherited from this process).

    The worker imports modules with the ``sys.path`` it was started with: when
    the path has changed since (a plugin module made importable later in the
    same process), a new worker is started, so it can import that module.
    """
    global _executor, _executor_path
    if _executor is not None and _executor_path != tuple(sys.path):
        shutdown()
    if _executor is None:
        import multiprocessing

        _executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        _executor_path = tuple(sys.path)
    return _executor


def shutdown() -> None:
    """Stop the shared worker, if it was started."""
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=True, cancel_futures=True)
        _executor = None


def read_windows_from_pickle(payload: bytes, windows: list[tuple[int, int]], kind: str) -> list[np.ndarray]:
    """Unpickle an extractor in the worker and read the given windows (runs in the child)."""
    extractor: Any = pickle.loads(payload)
    try:
        if kind == "imaging":
            return [extractor.get_series(a, b) for a, b in windows]
        return [extractor.get_traces(start_sample=a, end_sample=b) for a, b in windows]
    finally:
        extractor.close()
