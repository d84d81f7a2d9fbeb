"""Comparisons that fail with a message stating the rule, observed and expected values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from roicore.testing.checks import CheckFailed

__all__ = ["expect_equal_arrays", "expect", "expect_rate"]


def expect(condition: bool, message: str) -> None:
    """Raise CheckFailed(message) unless ``condition``."""
    if not condition:
        raise CheckFailed(message)


def expect_rate(rate: Any, expected: float | None) -> None:
    """Fail unless ``rate`` is None when ``expected`` is (unknown), else a finite positive float close to it."""
    if expected is None:
        expect(rate is None, f"sampling frequency {rate!r}, expected None: the file stores no rate, so none may be invented")
        return
    expect(isinstance(rate, (float, np.floating)), f"get_sampling_frequency() returned {type(rate).__name__}, not float")
    expect(math.isfinite(rate) and rate > 0, f"sampling frequency {rate} is not finite and positive")
    expect(math.isclose(rate, expected, rel_tol=1e-9), f"sampling frequency {rate}, expected {expected}")


def expect_equal_arrays(
    actual: Any, expected: Any, what: str, *, rtol: float = 0.0, check_dtype: bool = True, atol: float = 0.0
) -> None:
    """Fail unless ``actual`` equals ``expected`` in shape, (dtype) and values (NaN equals NaN).

    With ``rtol``/``atol`` zero the comparison is exact.
    """
    if not isinstance(actual, np.ndarray):
        raise CheckFailed(f"{what}: expected a numpy array, got {type(actual).__name__}")
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise CheckFailed(f"{what}: shape {actual.shape}, expected {expected.shape}")
    if check_dtype and actual.dtype != expected.dtype:
        raise CheckFailed(f"{what}: dtype {actual.dtype}, expected {expected.dtype}")
    if rtol == 0 and atol == 0:
        same = (actual == expected) | (_isnan(actual) & _isnan(expected))
    else:
        same = np.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not np.all(same):
        bad = np.argwhere(~np.asarray(same))
        first = tuple(int(i) for i in bad[0])
        raise CheckFailed(
            f"{what}: {len(bad)} of {actual.size} values differ; first at index {first}: "
            f"{actual[first]!r}, expected {expected[first]!r}"
        )


def _isnan(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in "fc":
        return np.isnan(array)
    return np.zeros(array.shape, dtype=bool)
