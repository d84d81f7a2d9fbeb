"""Run plugin sniffs with a time limit, so that one hanging sniff cannot hang ``roicore.open``.

A sniff runs in a daemon worker thread while the caller waits for at most
``ROICORE_SNIFF_TIMEOUT`` seconds (default :data:`DEFAULT_SNIFF_TIMEOUT`;
``0``, ``off`` or ``none`` run sniffs in the calling thread with no limit).
Python cannot stop a thread, so a sniff that times out keeps running in its
worker: detection goes on without it, and the same reader is not asked again
(and not waited for again) until that call has returned.

Workers are reused: a fast sniff costs one hand-over to an idle thread (tens
of microseconds), not a thread start. Idle workers are forgotten in a forked
child, whose copy of them does not run.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["DEFAULT_SNIFF_TIMEOUT", "SniffTimeout", "sniff_timeout", "run_limited", "still_running"]

#: Seconds a sniff may take when ``ROICORE_SNIFF_TIMEOUT`` is not set. A sniff reads a header or
#: a few small members; even a cold network file system answers within a second or two.
DEFAULT_SNIFF_TIMEOUT = 5.0
_MAX_IDLE_WORKERS = 4
_OFF = {"0", "off", "none", "no", "false"}
_warned_settings: set[str] = set()


class SniffTimeout(Exception):
    """A sniff did not answer within the time limit (it is still running in its worker thread)."""


def sniff_timeout() -> float | None:
    """The limit in seconds from ``ROICORE_SNIFF_TIMEOUT``, or None for no limit (read at each call).

    An invalid value warns once and the default applies.
    """
    raw = os.environ.get("ROICORE_SNIFF_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_SNIFF_TIMEOUT
    if raw.lower() in _OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        if raw not in _warned_settings:
            _warned_settings.add(raw)
            warnings.warn(
                f"ROICORE_SNIFF_TIMEOUT={raw!r} is not a number of seconds (or 'off'); "
                f"using the default {DEFAULT_SNIFF_TIMEOUT:g} s",
                RuntimeWarning,
                stacklevel=4,
            )
        return DEFAULT_SNIFF_TIMEOUT
    return None if value == 0 or math.isinf(value) else value


class _Job:
    """One call handed to a worker; ``done`` is released when it has returned or raised."""

    __slots__ = ("function", "args", "result", "error", "done", "finished", "started")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()
        self.finished = False
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            self.result = self.function(*self.args)
        except BaseException as exc:  # reported by the caller, whatever it is
            self.error = exc
        self.finished = True


class _Worker(threading.Thread):
    def __init__(self, pool: _Pool, number: int) -> None:
        super().__init__(name=f"roicore-sniff-{number}", daemon=True)
        self.pool = pool
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            job.run()
            # back in the idle list before the caller wakes up, so that its next sniff reuses this thread
            keep = self.pool.give_back(self)
            job.done.release()
            if not keep:
                return


class _Pool:
    """Idle daemon workers; a new one is started only when none is idle (one per concurrent sniff)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._count = 0

    def submit(self, function: Callable[..., Any], args: tuple[Any, ...]) -> _Job:
        job = _Job(function, args)
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                self._count += 1
                worker = _Worker(self, self._count)
                start = True
            else:
                start = False
        if start:
            worker.start()
        worker.jobs.put(job)
        return job

    def give_back(self, worker: _Worker) -> bool:
        with self._lock:
            if len(self._idle) >= _MAX_IDLE_WORKERS:
                return False
            self._idle.append(worker)
            return True

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._idle = []


_pool = _Pool()
_running: dict[Hashable, _Job] = {}
_running_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _running_lock
    _pool.reset_after_fork()
    _running.clear()
    _running_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def still_running(key: Hashable) -> float | None:
    """Seconds since the timed-out call registered under ``key`` started, if it has not returned yet."""
    with _running_lock:
        job = _running.get(key)
        if job is None:
            return None
        if job.finished:
            del _running[key]
            return None
        return time.monotonic() - job.started


def run_limited(key: Hashable, function: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
    """Call ``function(*args)``; with a ``timeout``, in a worker thread, waiting at most that long.

    Parameters
    ----------
    key : hashable
        Identifies the caller's subject (a reader spec): a call that times out
        is remembered under it for :func:`still_running`.
    function, *args
        The call.
    timeout : float or None
        Seconds; None calls ``function`` in this thread with no limit.

    Returns
    -------
    Whatever ``function`` returns; whatever it raises is raised here.

    Raises
    ------
    SniffTimeout
        The call did not return in time; it goes on running in its worker.
    """
    if timeout is None:
        return function(*args)
    job = _pool.submit(function, args)
    if not job.done.acquire(timeout=timeout):
        with _running_lock:
            _running[key] = job
        raise SniffTimeout(f"did not answer within {timeout:g} s")
    if job.error is not None:
        error = job.error
        job.error = None  # no reference cycle through the traceback
        raise error
    return job.result
