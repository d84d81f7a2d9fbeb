"""Metadata checks shared by imaging and segmentation readers: Python ints, an explicit sampling rate wins."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from roicore.testing.checks import NotApplicable, check
from roicore.testing.compare import expect


def _not_python_ints(values: dict[str, Any]) -> list[str]:
    return [f"{name} is {type(value).__module__}.{type(value).__name__} ({value!r})"
            for name, value in values.items() if type(value) is not int]


def _imaging_counts(x: Any) -> dict[str, Any]:
    values = {"get_num_samples()": x.get_num_samples(), "get_num_planes()": x.get_num_planes()}
    for getter in ("get_image_shape", "get_sample_shape"):
        for axis, value in enumerate(getattr(x, getter)()):
            values[f"{getter}()[{axis}]"] = value
    for axis, value in enumerate(x.shape):
        values[f"shape[{axis}]"] = value
    return values


def _segmentation_counts(x: Any) -> dict[str, Any]:
    values = {
        "get_num_samples()": x.get_num_samples(),
        "get_num_rois()": x.get_num_rois(),
        "get_num_background_components()": x.get_num_background_components(),
    }
    for getter in ("get_frame_shape", "get_image_shape"):
        shape = getattr(x, getter)()
        expect(isinstance(shape, tuple), f"{getter}() returned {type(shape).__name__}, not a tuple")
        for axis, value in enumerate(shape):
            values[f"{getter}()[{axis}]"] = value
    # integer ids must be Python ints too (strings are fine)
    for getter in ("get_roi_ids", "get_background_ids"):
        for position, roi_id in enumerate(getattr(x, getter)()):
            if isinstance(roi_id, (int, np.integer)) and not isinstance(roi_id, bool):
                values[f"{getter}()[{position}]"] = roi_id
    return values


@check("imaging.metadata.ints", component="imaging", subject="reader-sample", kinds=("imaging",),
       depends_on=("imaging.open",))
def imaging_ints(case):
    """Sample counts, shapes and plane counts are Python ints, not numpy integers."""
    bad = _not_python_ints(_imaging_counts(case.extractor))
    expect(not bad, "metadata must be Python ints (int(...) them in the reader):\n" + "\n".join(bad))


@check("segmentation.metadata.ints", component="segmentation", subject="reader-sample", kinds=("segmentation",),
       depends_on=("segmentation.open",))
def segmentation_ints(case):
    """Frame shape, sample and ROI counts and integer ROI ids are Python ints, not numpy integers."""
    bad = _not_python_ints(_segmentation_counts(case.extractor))
    expect(not bad, "metadata must be Python ints (int(...) them in the reader):\n" + "\n".join(bad[:20]))


def accepts_argument(reader: Any, name: str) -> bool:
    """Whether ``reader(path, ...)`` takes a keyword ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(reader).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell: try it
    return any(p.name == name and p.kind is not p.POSITIONAL_ONLY or p.kind is p.VAR_KEYWORD for p in parameters)


def _explicit_rate(case: Any) -> None:
    reader = case.spec.load_reader()
    if not accepts_argument(reader, "sampling_frequency"):
        raise NotApplicable("the reader takes no sampling_frequency= argument")
    stored = case.truth.sampling_frequency
    given = 7.25 if stored is None else float(stored) * 2.5 + 0.5
    with case.open(sampling_frequency=given) as x:
        rate = x.get_sampling_frequency()
        expect(rate is not None and math.isclose(float(rate), given, rel_tol=1e-12),
               f"opened with sampling_frequency={given}, get_sampling_frequency() is {rate!r} "
               f"(the file's value is {stored!r}): an explicit argument must win")
        if getattr(case.truth, "timestamps", None) is None and x.get_num_samples() > 1 and not x.has_time_vector():
            step = float(np.diff(x.get_timestamps(0, 2))[0])
            expect(math.isclose(step, 1 / given, rel_tol=1e-9),
                   f"with sampling_frequency={given} the timestamps step by {step}, expected {1 / given}")


@check("imaging.sampling_frequency.explicit", component="imaging", subject="reader-sample", kinds=("imaging",),
       depends_on=("imaging.metadata",))
def imaging_explicit_rate(case):
    """An explicit sampling_frequency= given to the reader wins over the file's rate (and sets the timestamps)."""
    _explicit_rate(case)


@check("segmentation.sampling_frequency.explicit", component="segmentation", subject="reader-sample",
       kinds=("segmentation",), depends_on=("segmentation.metadata",))
def segmentation_explicit_rate(case):
    """An explicit sampling_frequency= given to the reader wins over the file's rate (and sets the timestamps)."""
    _explicit_rate(case)
