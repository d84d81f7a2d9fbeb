"""Writer checks: round trip, no overwrite, source unchanged, nothing partial after a failure."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from roicore.imaging import ImagingExtractor, SampleSlicedImagingExtractor
from roicore.segmentation import SegmentationExtractor
from roicore.testing.checks import check
from roicore.testing.compare import expect, expect_equal_arrays


class InjectedFailure(RuntimeError):
    """Raised by a source extractor on purpose, in the middle of a write."""


class _Countdown:
    """Counts data reads; raises InjectedFailure at read number ``fail_at`` (never if None)."""

    def __init__(self, fail_at: int | None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def tick(self) -> None:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise InjectedFailure(f"failure injected at data read {self.calls}")


class _ProxyImaging(SampleSlicedImagingExtractor):
    """The whole source video, counting its data reads (the countdown raises at the chosen one)."""

    def __init__(self, source: ImagingExtractor, countdown: _Countdown) -> None:
        super().__init__(source)
        self._countdown = countdown

    def _read_series(self, start, end):
        self._countdown.tick()
        return super()._read_series(start, end)

    def _read_samples(self, indices):
        self._countdown.tick()
        return super()._read_samples(indices)


class _ProxySegmentation(SegmentationExtractor):
    def __init__(self, source: SegmentationExtractor, countdown: _Countdown) -> None:
        self._source, self._countdown = source, countdown
        for key in source.get_property_keys():
            self.set_property(key, source.get_property(key))

    def get_roi_ids(self):
        return self._source.get_roi_ids()

    def get_frame_shape(self):
        return self._source.get_frame_shape()

    def get_num_samples(self):
        return self._source.get_num_samples()

    def get_sampling_frequency(self):
        return self._source.get_sampling_frequency()

    def get_native_timestamps(self, start_sample=None, end_sample=None):
        return self._source.get_native_timestamps(start_sample, end_sample)

    def get_trace_names(self):
        return self._source.get_trace_names()

    def get_background_ids(self):
        return self._source.get_background_ids()

    def get_images_dict(self):
        return self._source.get_images_dict()

    def _get_roi_masks(self):
        self._countdown.tick()
        return self._source.get_roi_masks()

    def _get_background_masks(self):
        return self._source.get_background_masks()

    def _read_traces(self, name, positions, start, end):
        self._countdown.tick()
        ids = self._source.get_background_ids() if name == "background" else self._source.get_roi_ids()
        return self._source.get_traces([ids[p] for p in positions], start, end, name=name)


def _proxy(source: Any, countdown: _Countdown) -> Any:
    if isinstance(source, ImagingExtractor):
        return _ProxyImaging(source, countdown)
    return _ProxySegmentation(source, countdown)


def _write(case, extractor: Any, path: Path, **extra: Any) -> Path:
    import roicore

    return roicore.write(extractor, path, format=case.target, **{**case.sample.options, **extra})


def _read_back(case, path: Path) -> Any:
    import roicore

    reader = case.spec.reader
    extractor = roicore.open(path, reader=reader, **case.sample.reader_kwargs)
    case.session.track(extractor)
    return extractor


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


def _data_of(extractor: Any) -> dict[str, np.ndarray]:
    if isinstance(extractor, ImagingExtractor):
        return {"series": extractor.get_series()}
    found = {"masks": extractor.get_roi_image_masks()}
    for name in extractor.get_trace_names():
        found[f"traces:{name}"] = extractor.get_traces(name=name)
    return found


def compare_extractors(case, written: Any, source: Any) -> None:
    """Fail unless ``written`` (read back) holds the same data as ``source``."""
    lossless = "lossless" in case.capabilities
    rtol = 0.0 if lossless else 1e-6
    expect(written.get_num_samples() == source.get_num_samples(),
           f"read back {written.get_num_samples()} samples, wrote {source.get_num_samples()}")
    expect(np.isclose(written.get_sampling_frequency(), source.get_sampling_frequency(), rtol=1e-9),
           f"read back {written.get_sampling_frequency()} Hz, wrote {source.get_sampling_frequency()} Hz")
    if isinstance(source, ImagingExtractor):
        expect_equal_arrays(written.get_series(), source.get_series(), "round trip of the video", rtol=rtol, check_dtype=lossless)
        return
    expect(list(written.get_roi_ids()) == list(source.get_roi_ids()),
           f"read back ROI ids {list(written.get_roi_ids())}, wrote {list(source.get_roi_ids())}")
    atol = 0.0 if lossless else 1e-9
    expect_equal_arrays(written.get_roi_image_masks(), source.get_roi_image_masks(), "round trip of the masks", rtol=rtol, atol=atol, check_dtype=False)
    for name in source.get_trace_names():
        expect(name in written.get_trace_names(), f"trace {name!r} was lost (read back: {written.get_trace_names()})")
        expect_equal_arrays(written.get_traces(name=name), source.get_traces(name=name), f"round trip of traces {name!r}", rtol=rtol, atol=atol, check_dtype=False)
    for key in source.get_property_keys():
        if key in written.get_property_keys():
            expect_equal_arrays(np.asarray(written.get_property(key)), np.asarray(source.get_property(key)), f"property {key!r}", rtol=1e-6, check_dtype=False)


def _writer_check(check_id: str, depends_on: tuple[str, ...] = ("writer.roundtrip",)):
    return check(check_id, component="writer", subject="writer-sample", depends_on=depends_on)


@_writer_check("writer.roundtrip", depends_on=("registry.plugin.loads",))
def roundtrip(case):
    """Writing the source and reading it back with the writer's reader gives the source's data."""
    path = _write(case, case.sample.source, case.scratch() / case.sample.filename)
    expect(path.exists(), f"the writer reported {path} but it does not exist")
    compare_extractors(case, _read_back(case, path), case.sample.source)


@_writer_check("writer.no_overwrite")
def no_overwrite(case):
    """An existing target raises FileExistsError and is left byte for byte; overwrite=True replaces it."""
    folder = case.scratch()
    path = _write(case, case.sample.source, folder / case.sample.filename)
    before = _snapshot(folder)
    try:
        _write(case, case.sample.source, path)
    except FileExistsError:
        pass
    else:
        case.fail("writing over an existing file without overwrite=True did not raise FileExistsError")
    expect(_snapshot(folder) == before, "a refused write changed the folder")
    _write(case, case.sample.source, path, overwrite=True)
    compare_extractors(case, _read_back(case, path), case.sample.source)
    companions = [p for p in folder.iterdir() if p != path]
    if companions:  # a sidecar that exists must not be replaced either
        path.unlink() if path.is_file() else shutil.rmtree(path)
        before = _snapshot(folder)
        try:
            _write(case, case.sample.source, path)
        except FileExistsError:
            pass
        else:
            case.fail(f"the writer replaced existing companion files {[p.name for p in companions]} without overwrite=True")
        expect(_snapshot(folder) == before, "a write refused for an existing companion file changed the folder")


@_writer_check("writer.source_unchanged")
def source_unchanged(case):
    """Writing leaves the source extractor's data as it was."""
    before = _data_of(case.sample.source)
    _write(case, case.sample.source, case.scratch() / case.sample.filename)
    after = _data_of(case.sample.source)
    for key, value in before.items():
        expect_equal_arrays(after[key], value, f"source {key} after writing")


@_writer_check("writer.atomic")
def atomic(case):
    """A failure in the middle of a write leaves no file (new target) or the previous file (overwrite)."""
    counting = _Countdown(None)
    _write(case, _proxy(case.sample.source, counting), case.scratch("count") / case.sample.filename)
    fail_at = max(1, (counting.calls + 1) // 2)
    fresh = case.scratch("fresh")
    try:
        _write(case, _proxy(case.sample.source, _Countdown(fail_at)), fresh / case.sample.filename)
    except InjectedFailure:
        pass
    except Exception as exc:
        if not isinstance(exc.__cause__ or exc.__context__, InjectedFailure):
            case.fail(f"the injected failure surfaced as {type(exc).__name__}: {exc}")
    else:
        case.fail(f"the write did not fail although the source raised at data read {fail_at}")
    leftovers = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*"))
    expect(not leftovers, f"a failed write to a new target left files behind: {leftovers}")
    existing = case.scratch("existing")
    _write(case, case.sample.source, existing / case.sample.filename)
    before = _snapshot(existing)
    try:
        _write(case, _proxy(case.sample.source, _Countdown(fail_at)), existing / case.sample.filename, overwrite=True)
    except Exception:
        pass
    expect(_snapshot(existing) == before, "a failed overwrite changed or damaged the previous file")
