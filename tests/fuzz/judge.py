"""Verdicts: is an outcome a correct read, an allowed error, or a failure?

Allowed outcomes of a case (the issue's contract):

* a read whose shapes and dtypes agree with the metadata the extractor
  reported (series ``(get_num_samples(), *get_sample_shape())`` in
  ``get_dtype()``; masks ``(rows, columns, n)``; traces ``(time, n)``, ...).
  After a mutation that changed payload bytes only, what the reader reports
  (shapes, dtypes, ids, names) must also equal the unmutated read, and in
  uncompressed imaging data ``k`` flipped bytes change at most ``k`` values;
* an error from ``roicore.errors`` or FileNotFoundError / PermissionError
  whose message names the file (the opened path or the mutated file);
* when the seed's reader arguments select a channel (``channel=``, DESIGN
  section 4) and the mutated file no longer has it: the KeyError (unknown
  channel name) or IndexError (channel out of range) that DESIGN section 7
  prescribes for a bad argument, if it names the file and the channel. The
  reader cannot tell a damaged file from a wrong argument here, and the
  contract's builtin is the accurate answer.

Anything else fails: another exception type, a message that names no file,
a hang, a crash, unpickling, a file opened outside the case folder, or a
file handle left open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuzz.regions import differing_values
from fuzz.worker import Outcome, Reading

__all__ = ["Verdict", "judge", "inconsistencies", "signature", "digest", "truth_problems", "SAME", "CHANGED"]

SAME = "read: as unmutated"
CHANGED = "read: values changed"


@dataclass
class Verdict:
    """``label`` is SAME, CHANGED, plain ``"read"``, an error class name, ``"hang"`` or ``"crash"``."""

    label: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def digest(reading: Reading) -> str:
    """A hash of everything read: equal digests mean equal reads."""
    sha = hashlib.sha1(repr(sorted(reading.meta.items(), key=lambda kv: kv[0])).encode())
    for name in sorted(reading.arrays):
        array = np.asarray(reading.arrays[name])
        sha.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        text = array.dtype.kind in "OUS"
        sha.update(repr(array.tolist()).encode() if text else np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def signature(reading: Reading) -> tuple[Any, ...]:
    """What a payload-only change must not alter: shapes, dtypes, ids and names."""
    meta = reading.meta
    if reading.kind == "imaging":
        return (reading.reader, meta["shape"], meta["dtype"], meta["volumetric"])
    images = sorted(name for name in reading.arrays if name.startswith("image:"))
    return (reading.reader, meta["roi_ids"], meta["mask_shape"], meta["num_samples"], sorted(meta["trace_names"]),
            images, meta["background_ids"], sorted(meta["property_keys"]))


def _shape_problem(what: str, array: np.ndarray, expected: tuple[int, ...]) -> list[str]:
    if tuple(array.shape) != tuple(expected):
        return [f"{what} has shape {array.shape}, but the metadata imply {tuple(expected)}"]
    return []


def _imaging_inconsistencies(reading: Reading) -> list[str]:
    meta, arrays = reading.meta, reading.arrays
    n, (rows, columns) = meta["num_samples"], meta["image_shape"]
    sample_shape = (rows, columns, meta["planes"]) if meta["volumetric"] else (rows, columns)
    expected = (n, *sample_shape)
    problems = []
    if tuple(meta["shape"]) != expected:
        problems.append(f"extractor.shape {meta['shape']} != (get_num_samples(), *get_sample_shape()) {expected}")
    series = arrays["series"]
    problems += _shape_problem("get_series()", series, expected)
    if series.dtype.str != meta["dtype"]:
        problems.append(f"get_series() has dtype {series.dtype.str}, get_dtype() says {meta['dtype']}")
    if series.dtype.kind not in "biuf":
        problems.append(f"pixel dtype {series.dtype} is not a number type")
    problems += _shape_problem("get_timestamps()", arrays["timestamps"], (n,))
    if n and not problems:
        indices = np.asarray(meta["sample_indices"])
        problems += _shape_problem("get_samples(indices)", arrays["samples"], (indices.size, *sample_shape))
        if not problems and differing_values(arrays["samples"], series[indices]):
            problems.append("get_samples(indices) differs from get_series()[indices]")
        a, b = meta["window"]
        window = arrays["window"]
        if window.shape != series[a:b].shape or differing_values(window, series[a:b]):
            problems.append(f"get_series({a}, {b}) differs from get_series()[{a}:{b}]")
    return problems


def _segmentation_inconsistencies(reading: Reading) -> list[str]:
    meta, arrays = reading.meta, reading.arrays
    ids, n, t = meta["roi_ids"], meta["num_rois"], meta["num_samples"]
    rows, columns = meta["frame_shape"]
    shape = tuple(meta["mask_shape"])
    background = len(meta["background_ids"])
    problems = []
    if len(ids) != n or len(set(map(repr, ids))) != n:
        problems.append(f"{n} ROIs but roi ids {ids!r}")
    if min(shape) < 1 or t < 0 or shape[:2] != (rows, columns):
        problems.append(f"frame shape {meta['frame_shape']} (masks on {shape}) or {t} samples are not sizes")
    problems += _shape_problem("get_roi_image_masks()", arrays["masks"], (*shape, n))
    width = len(shape) + 1  # [row, column, (plane,) weight]
    if len(meta["pixel_mask_shapes"]) != n or any(len(s) != 2 or s[1] != width for s in meta["pixel_mask_shapes"]):
        problems.append(f"get_roi_pixel_masks() gave shapes {meta['pixel_mask_shapes']} for {n} ROIs")
    problems += _shape_problem("get_background_image_masks()", arrays["background_masks"], (*shape, background))
    problems += _shape_problem("get_timestamps()", arrays["timestamps"], (t,))
    if len(set(meta["trace_names"])) != len(meta["trace_names"]):
        problems.append(f"repeated trace names {meta['trace_names']}")
    for name, array in arrays.items():
        if name.startswith("trace:"):
            width = background if name == "trace:background" else n
            problems += _shape_problem(f"get_traces(name={name[6:]!r})", array, (t, width))
            if array.dtype.kind != "f":
                problems.append(f"get_traces(name={name[6:]!r}) has dtype {array.dtype}, not float")
        elif name.startswith("image:"):
            problems += _shape_problem(f"image {name[6:]!r}", array, shape)
        # one row per ROI; a row may be a vector (suite2p's iscell pairs, centroids)
        elif name.startswith("property:") and (array.ndim < 1 or array.shape[0] != n):
            problems.append(f"property {name[9:]!r} has shape {array.shape} for {n} ROIs")
    return problems


def inconsistencies(reading: Reading) -> list[str]:
    """Shapes and dtypes that disagree with the metadata the extractor reported (silent wrong shapes)."""
    if reading.kind == "imaging":
        return _imaging_inconsistencies(reading)
    return _segmentation_inconsistencies(reading)


def _names_the_file(message: str, names: set[str]) -> bool:
    return any(name and name in message for name in names)


def _watch_problems(outcome: Outcome) -> list[str]:
    problems = []
    if outcome.unpickled:
        problems.append(f"unpickled during the read: {outcome.unpickled}")
    if outcome.opened_outside:
        problems.append(f"opened files outside the case folder: {outcome.opened_outside}")
    if outcome.leaked:
        problems.append(f"left file handles open: {outcome.leaked}")
    return problems


def judge(
    outcome: Outcome,
    *,
    names: set[str],
    baseline: Outcome | None = None,
    payload_only: bool = False,
    flipped: int = 0,
    elementwise: bool = False,
    selects_channel: bool = False,
    expected_errors: tuple[str, ...] | None = None,
) -> Verdict:
    """Judge one outcome.

    Parameters
    ----------
    outcome : Outcome
    names : set of str
        File names (and paths) an error message may name: the opened path and the mutated files.
    baseline : Outcome, optional
        The unmutated seed's outcome in the same mode (auto-detected or explicit).
    payload_only : bool
        Only payload bytes were changed (shapes must not change).
    flipped : int
        How many bytes were flipped.
    elementwise : bool
        The flipped payload is uncompressed, so at most ``flipped`` values may change.
    selects_channel : bool
        The reader arguments include ``channel=``.
    expected_errors : tuple of str, optional
        When given, an error must be one of these types (e.g. PermissionError for an unreadable file).
    """
    if outcome.status in ("hang", "crash"):
        return Verdict(outcome.status, [f"{outcome.status}: {outcome.detail}"])
    problems = _watch_problems(outcome)
    if outcome.status == "raised":
        error = outcome.error
        assert error is not None
        about_channel = selects_channel and error.name in ("KeyError", "IndexError") and "channel" in error.message
        if not (error.allowed or about_channel):
            problems.append(f"raised {error.type} (not a roicore.errors type, FileNotFoundError or "
                            f"PermissionError): {error.message}\n{error.traceback}")
        elif not _names_the_file(error.message, names):
            problems.append(f"{error.type} does not name the file (any of {sorted(names)}): {error.message}")
        elif expected_errors and error.name not in expected_errors:
            problems.append(f"raised {error.type}, but only {' or '.join(expected_errors)} tells what happened: "
                            f"{error.message}")
        return Verdict(error.name, problems)
    reading = outcome.reading
    assert reading is not None
    problems += inconsistencies(reading)
    reference = baseline.reading if baseline is not None and baseline.status == "read" else None
    if reference is None:
        return Verdict("read", problems)
    if payload_only and not problems and reading.kind == reference.kind:
        if signature(reading) != signature(reference):
            problems.append(f"payload bytes changed what the reader reports: {signature(reading)} "
                            f"instead of {signature(reference)}")
        elif elementwise and reading.kind == "imaging":
            changed = differing_values(reading.arrays["series"], reference.arrays["series"])
            if changed > flipped:
                problems.append(f"{flipped} flipped payload byte(s) changed {changed} pixel values")
    return Verdict(SAME if digest(reading) == digest(reference) else CHANGED, problems)


def truth_problems(reading: Reading, truth: Any) -> list[str]:
    """Differences between an unmutated seed's read and its ground truth."""
    arrays, meta = reading.arrays, reading.meta
    if hasattr(truth, "series"):
        series, expected = arrays["series"], np.asarray(truth.series)
        if series.shape != expected.shape or series.dtype != expected.dtype:
            return [f"series {series.shape} {series.dtype}, truth {expected.shape} {expected.dtype}"]
        changed = differing_values(series, expected)
        return [f"{changed} values differ from the truth"] if changed else []
    problems = []
    if list(meta["roi_ids"]) != list(truth.roi_ids):
        problems.append(f"roi ids {meta['roi_ids']} != truth {truth.roi_ids}")
    if not _close(arrays["masks"], truth.image_masks, truth.rtol):
        problems.append("image masks differ from the truth")
    names = set(meta["trace_names"]) - {"background"}
    if names != set(truth.traces):
        problems.append(f"trace names {sorted(names)} != truth {sorted(truth.traces)}")
    for name, expected in truth.traces.items():
        if name in names and not _close(arrays[f"trace:{name}"], expected, truth.rtol):
            problems.append(f"traces {name!r} differ from the truth")
    for name, expected in truth.images.items():
        if not _close(arrays.get(f"image:{name}"), expected, truth.rtol):
            problems.append(f"image {name!r} differs from the truth")
    for key, expected in truth.properties.items():
        got = arrays.get(f"property:{key}")
        if got is None or got.shape != np.shape(expected) or not np.array_equal(got, expected):
            problems.append(f"property {key!r} differs from the truth")
    return problems


def _close(actual: np.ndarray | None, expected: Any, rtol: float) -> bool:
    expected = np.asarray(expected)
    return actual is not None and actual.shape == expected.shape and bool(
        np.allclose(actual, expected, rtol=rtol, atol=1e-9, equal_nan=True)
    )
