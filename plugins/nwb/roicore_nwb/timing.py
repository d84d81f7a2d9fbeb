"""Time of an NWB TimeSeries: ``starting_time`` + ``rate``, or explicit ``timestamps``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore_nwb.layout import corrupt

__all__ = ["Timing", "read_timing", "stamps_window", "REGULAR_RTOL"]

#: timestamps whose steps differ from their median by at most this (relative) are regular
REGULAR_RTOL = 1e-6


@dataclass
class Timing:
    """The time base of one series.

    Attributes
    ----------
    num_samples : int
    rate : float or None
        Samples per second: the stored rate, else the step of regular
        timestamps (the ImagingPlane's ``imaging_rate`` when it agrees), else
        the ImagingPlane's rate for irregular timestamps, else None.
    timestamps : ndarray or None
        Stored timestamps (or ``starting_time + arange(n) / rate`` when a
        nonzero starting time is stored); None when time is ``arange(n) / rate``.
    source : str
        Which fields gave the time, for messages.
    """

    num_samples: int
    rate: float | None
    timestamps: np.ndarray | None
    source: str

    def same_base(self, other: Timing) -> bool:
        """True when both series have the same samples at the same times."""
        if self.num_samples != other.num_samples:
            return False
        if (self.timestamps is None) != (other.timestamps is None):
            return False
        if self.timestamps is not None and not np.allclose(self.timestamps, other.timestamps, rtol=0, atol=1e-9):
            return False
        if self.rate is None or other.rate is None:
            return self.rate is other.rate
        return math.isclose(self.rate, other.rate, rel_tol=1e-9)


def _positive(value: Any) -> float | None:
    try:
        number = float(np.asarray(value).reshape(-1)[0])
    except Exception:
        return None
    return number if math.isfinite(number) and number > 0 else None


def read_timing(series: h5py.Group, num_samples: int, path: Path, nominal_rate: Any = None) -> Timing:
    """The :class:`Timing` of the TimeSeries group ``series`` with ``num_samples`` samples.

    Raises
    ------
    CorruptFileError
        No time base, a timestamp count other than ``num_samples``, non-finite
        or decreasing timestamps, or a rate that is not a positive number.
    """
    nominal = _positive(nominal_rate) if nominal_rate is not None else None
    stamps = series.get("timestamps")
    if isinstance(stamps, h5py.Dataset):
        values = np.asarray(stamps[()], dtype=np.float64).reshape(-1)
        if values.size != num_samples:
            raise corrupt(path, f"{stamps.name} holds {values.size} timestamps for {num_samples} samples")
        if not np.all(np.isfinite(values)):
            raise corrupt(path, f"{stamps.name} holds non-finite timestamps")
        steps = np.diff(values)
        if steps.size and np.any(steps < 0):
            first = int(np.flatnonzero(steps < 0)[0])
            raise corrupt(path, f"{stamps.name} decreases at sample {first + 1}")
        rate = nominal
        if steps.size:
            median = float(np.median(steps))
            if median > 0 and np.all(np.abs(steps - median) <= REGULAR_RTOL * median):
                measured = 1.0 / median
                rate = nominal if nominal is not None and math.isclose(nominal, measured, rel_tol=REGULAR_RTOL) else measured
        return Timing(num_samples, rate, values, f"{stamps.name}")
    start = series.get("starting_time")
    if isinstance(start, h5py.Dataset):
        rate = _positive(start.attrs.get("rate"))
        if rate is None:
            raise corrupt(path, f"{start.name} has no positive 'rate' attribute ({start.attrs.get('rate')!r})")
        offset = float(np.asarray(start[()], dtype=np.float64).reshape(-1)[0])
        if not math.isfinite(offset):
            raise corrupt(path, f"{start.name} is not a finite time ({offset!r})")
        times = None if offset == 0 else offset + np.arange(num_samples, dtype=np.float64) / rate
        return Timing(num_samples, rate, times, f"{start.name} and its rate")
    raise corrupt(path, f"{series.name} has neither timestamps nor starting_time/rate: NWB needs one of them")


def stamps_window(stamps: np.ndarray | None, start: int | None, end: int | None, count: int) -> np.ndarray | None:
    """A copy of ``stamps[start:end]`` (None bounds: the whole range), or None without timestamps."""
    if stamps is None:
        return None
    return stamps[(0 if start is None else int(start)) : (count if end is None else int(end))].copy()
