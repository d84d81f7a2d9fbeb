"""The conformance kit is tested by mutants: each breaks one rule and must fail exactly that rule's check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import toy_plugin
from toy_plugin import FOLDER_MARKER, ToyFolderSegmentation, ToyImaging, ToyPlugin

from roicore.errors import CorruptFileError
from roicore.segmentation import RoiMasks

from roicore.registry import isolated
from roicore.registry.specs import Support
from roicore.testing.runner import Session

MODULE = __name__
_LEAKED: list[Any] = []  # keeps leaked handles alive so garbage collection does not warn mid-suite


class TransposedImaging(ToyImaging):
    """Reports (columns, rows) and returns transposed frames."""

    def get_image_shape(self) -> tuple[int, int]:
        rows, columns = super().get_image_shape()
        return columns, rows

    def _read_series(self, start: int, end: int) -> np.ndarray:
        return super()._read_series(start, end).transpose(0, 2, 1)


class OffByOneBoundsImaging(ToyImaging):
    """Accepts end_sample = n + 1 and silently clips it: an off-by-one end bound."""

    def get_series(self, start_sample: Any = None, end_sample: Any = None, *, copy: bool = True) -> np.ndarray:
        if end_sample == self.get_num_samples() + 1:
            end_sample = self.get_num_samples()
        return super().get_series(start_sample, end_sample, copy=copy)


class WritableViewImaging(ToyImaging):
    """get_series(copy=False) hands out a writable array: a caller could change what later reads return."""

    def get_series(self, start_sample: Any = None, end_sample: Any = None, *, copy: bool = True) -> np.ndarray:
        return super().get_series(start_sample, end_sample)


class LeakyImaging(ToyImaging):
    """Keeps a file handle open that close() never closes."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        handle = open(path, "rb")  # noqa: SIM115 - the leak is the point
        _LEAKED.append(handle)


class WrongErrorImaging(ToyImaging):
    """Raises a plain ValueError (not a roicore error) for a corrupt file."""

    def __init__(self, path: Any) -> None:
        try:
            super().__init__(path)
        except Exception as exc:
            raise ValueError(f"cannot parse: {exc}") from None


class UnsortedIndicesImaging(ToyImaging):
    """roiextractors' old get_samples: reads [first, last] and offsets by the first index (wrong when unsorted)."""

    def get_samples(self, sample_indices: Any) -> np.ndarray:
        indices = np.asarray(sample_indices) % self.get_num_samples()
        first = int(indices[0])
        block = self.get_series(first, int(indices.max()) + 1)
        return block[np.clip(indices - first, 0, len(block) - 1)]


def claim_everything(path: Path, header: bytes) -> Support:
    return Support.yes("I read everything")


# -- round 2 mutants ------------------------------------------------------------------------------------
class CloseDoesNothingImaging(ToyImaging):
    """Keeps a handle on the file for fast reads, and never closes it: only garbage collection would."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        super().__init__(path, sampling_frequency)
        self._handle = open(path, "rb")  # noqa: SIM115 - never closed by close(): the bug
        _LEAKED.append(self._handle)  # closed by the test afterwards, so no ResourceWarning later


class LeakOnErrorImaging(ToyImaging):
    """Opens a handle before validating the file, and leaves it open when the file is refused."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        if Path(path).is_file():
            self._handle = open(path, "rb")  # noqa: SIM115 - left open when the next line raises: the bug
            _LEAKED.append(self._handle)
        super().__init__(path, sampling_frequency)
        if Path(path).is_file():
            self._handle.close()


class MappedAfterCloseFolder(ToyFolderSegmentation):
    """close() forgets to drop the traces' memory map."""

    def _close(self) -> None:
        pass


class CachedImagesFolder(ToyFolderSegmentation):
    """Hands out its cached image arrays themselves."""

    def get_images_dict(self) -> dict[str, np.ndarray]:
        super().get_images_dict()
        return self._images  # type: ignore[return-value]


def sniff_strict_header(path: Path, header: bytes) -> Support:
    """Parses the JSON header line after the magic, and lets a damaged one raise."""
    if not header.startswith(toy_plugin.VIDEO_MAGIC):
        return Support.no("no toy video magic")
    json.loads(header[len(toy_plugin.VIDEO_MAGIC):].split(b"\n")[0])
    return Support.yes("toy video magic and header")


class RawCompanionErrorFolder(ToyFolderSegmentation):
    """Loads the summary image with a bare numpy.load: a damaged mean.npy raises numpy's own error."""

    def get_images_dict(self) -> dict[str, np.ndarray]:
        image = np.load(self._folder / "mean.npy", allow_pickle=False)
        if image.shape != self._frame:
            raise CorruptFileError(f"{self._folder / 'mean.npy'}: wrong shape {image.shape}", path=self._folder)
        return {"mean": image}


class UncheckedKeyFolder(ToyFolderSegmentation):
    """Reads the ROI count from the description without checking that the key is there."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        try:
            meta = json.loads((Path(path) / FOLDER_MARKER).read_text())
        except (OSError, ValueError):
            meta = None
        if isinstance(meta, dict) and meta:
            self._declared_rois = int(meta["rois"])  # KeyError when the key is missing
        super().__init__(path, sampling_frequency)


class UncheckedImageShapeFolder(ToyFolderSegmentation):
    """Accepts a summary image of any shape."""

    def get_images_dict(self) -> dict[str, np.ndarray]:
        return {"mean": toy_plugin._load_npy(self._folder / "mean.npy")}


class EagerTracesFolder(ToyFolderSegmentation):
    """Loads the whole trace matrix for every read, however small the window."""

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        return toy_plugin._load_npy(self._traces_path)[start:end, positions]


class NumpyIntImaging(ToyImaging):
    """Returns the sample count as a numpy integer."""

    def get_num_samples(self) -> int:
        return np.int64(super().get_num_samples())  # type: ignore[return-value]


class NumpyIdsFolder(ToyFolderSegmentation):
    """Returns ROI ids as numpy integers."""

    def get_roi_ids(self) -> list[Any]:
        return list(np.arange(self._count))


class UnpicklingFolder(ToyFolderSegmentation):
    """Reads processing options from an object array with allow_pickle=True."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        super().__init__(path, sampling_frequency)
        options = Path(path) / "options.npy"
        try:
            self._options = np.load(options, allow_pickle=True).item()
        except Exception as exc:
            raise CorruptFileError(f"{options}: unreadable options: {exc}", path=options) from None


def folder_samples_with_options(folder: Path) -> list[Any]:
    samples = toy_plugin.folder_samples(folder)
    for sample in samples:
        options = sample.path / "options.npy"
        np.save(options, np.array({"tau": 1.0}, dtype=object), allow_pickle=True)
        sample.files = (*sample.files, options)
    return samples


class ClippingFolder(ToyFolderSegmentation):
    """Clips ROI pixels that lie outside the frame instead of refusing the file."""

    def _get_roi_masks(self) -> RoiMasks:
        pixels = self._pixels()
        rows, columns = self._frame
        pixels[:, 1] = np.clip(pixels[:, 1], 0, rows - 1)
        pixels[:, 2] = np.clip(pixels[:, 2], 0, columns - 1)
        owner = pixels[:, 0]
        return RoiMasks.from_pixel_masks([pixels[owner == k, 1:] for k in range(self._count)], self._frame)


class FixedRateImaging(ToyImaging):
    """Ignores an explicit sampling_frequency= and always uses the file's rate."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        super().__init__(path)


square_only_samples = toy_plugin.square_video_samples


class NotebookImaging(ToyImaging):
    """A reader defined in a notebook cell: its class lives in __main__."""


NotebookImaging.__module__ = "__main__"


def overwriting_writer(extractor: Any, target: Any, chunk: int = 4) -> None:
    """Writes the main file correctly, then a sidecar straight to its final path, replacing what was there."""
    toy_plugin.write_video(extractor, target, chunk)
    Path(str(target.path) + ".json").write_text(json.dumps({"note": "sidecar"}))


def _plugin(**overrides: str) -> ToyPlugin:
    attributes: dict[str, Any] = {key: f"{MODULE}:{value}" for key, value in overrides.items()}
    attributes["__module__"] = toy_plugin.__name__  # the entry module stays the light toy module
    plugin_type = type("MutantPlugin", (ToyPlugin,), attributes)
    return plugin_type()


def _failed_checks(plugin: Any, name: str, deselect: list[str] | None = None) -> tuple[set[str], list[Any]]:
    with isolated(plugin, names=[name]) as registry, Session([name], registry=registry, deselect=deselect, max_examples=15) as session:
        results = session.run()
    return {r.check for r in results if r.status in ("failed", "error", "xpass")}, results


def _run(plugin: Any, name: str, deselect: list[str] | None = None) -> tuple[set[str], list[Any], list[str]]:
    with isolated(plugin, names=[name]) as registry, Session([name], registry=registry, deselect=deselect, max_examples=15) as session:
        results = session.run()
        problems = session.problems(results)
    return {r.check for r in results if r.status in ("failed", "error", "xpass")}, results, problems


def test_reference_plugin_is_clean():
    from roicore.testing.checks import all_checks

    failed, results, problems = _run(ToyPlugin(), "toy")
    assert failed == set(), [r for r in results if r.status != "passed"]
    assert problems == []
    assert {r.status for r in results} <= {"passed", "n/a"}
    # every check of the kit passed on at least one subject of the reference plugin (n/a elsewhere)
    passed = {r.check for r in results if r.status == "passed"}
    assert [c.id for c in all_checks() if c.id not in passed] == []
    assert {r.component for r in results} == {"registry", "detect", "imaging", "segmentation", "method", "writer", "io"}


MUTANTS = {
    "transposed-axes": ({"imaging_reader": "TransposedImaging"}, "imaging.axis_order"),
    "off-by-one-end-bound": ({"imaging_reader": "OffByOneBoundsImaging"}, "imaging.series.bounds"),
    "leaked-file-handle": ({"imaging_reader": "LeakyImaging"}, "io.handles"),
    "wrong-error-type": ({"imaging_reader": "WrongErrorImaging"}, "io.corrupt"),
    "claims-everything": ({"video_sniff": "claim_everything"}, "detect.negative"),
    "unsorted-indices": ({"imaging_reader": "UnsortedIndicesImaging"}, "imaging.samples.fancy"),
    "writer-overwrites": ({"writer": "overwriting_writer"}, "writer.no_overwrite"),
    "writable-nocopy-read": ({"imaging_reader": "WritableViewImaging"}, "imaging.series.nocopy"),
    # round 2
    "close-does-nothing": ({"imaging_reader": "CloseDoesNothingImaging"}, "io.handles"),
    "leaks-on-error": ({"imaging_reader": "LeakOnErrorImaging"}, "io.corrupt"),
    "mapped-after-close": ({"folder_reader": "MappedAfterCloseFolder"}, "io.handles"),
    "cached-images": ({"folder_reader": "CachedImagesFolder"}, "segmentation.images.copy"),
    "folder-claims-everything": ({"folder_sniff": "claim_everything"}, "detect.negative.folders"),
    "sniff-raises-on-damage": ({"video_sniff": "sniff_strict_header"}, "detect.damaged"),
    "raw-error-on-companion": ({"folder_reader": "RawCompanionErrorFolder"}, "io.corrupt.companions"),
    "unchecked-key": ({"folder_reader": "UncheckedKeyFolder"}, "io.corrupt.structure"),
    "unchecked-array-size": ({"folder_reader": "UncheckedImageShapeFolder"}, "io.corrupt.structure"),
    "eager-traces": ({"folder_reader": "EagerTracesFolder"}, "segmentation.traces.lazy"),
    "numpy-int-metadata": ({"imaging_reader": "NumpyIntImaging"}, "imaging.metadata.ints"),
    "numpy-int-ids": ({"folder_reader": "NumpyIdsFolder"}, "segmentation.metadata.ints"),
    "unpickles-file-data": ({"folder_reader": "UnpicklingFolder", "folder_samples": "folder_samples_with_options"},
                            "io.no_pickle"),
    "clips-pixels-outside-frame": ({"folder_reader": "ClippingFolder"}, "segmentation.masks.outside_frame"),
    "ignores-sampling-frequency": ({"imaging_reader": "FixedRateImaging"}, "imaging.sampling_frequency.explicit"),
    "square-only-transposed": ({"imaging_reader": "TransposedImaging", "video_samples": "square_only_samples"},
                               "imaging.axis_order"),
    "reader-in-main": ({"imaging_reader": "NotebookImaging"}, "io.spawn"),
}


@pytest.fixture
def notebook_reader(monkeypatch):
    """NotebookImaging reachable as __main__.NotebookImaging, as a class from a notebook cell is (so it pickles here)."""
    monkeypatch.setattr(sys.modules["__main__"], "NotebookImaging", NotebookImaging, raising=False)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_fails_exactly_its_rule(mutant, notebook_reader):
    overrides, rule = MUTANTS[mutant]
    try:
        # the writer's round trip reads back through the (mutated) reader, so reader mutants leave writers out
        deselect = ["writer.*"] if "imaging_reader" in overrides else None
        failed, results = _failed_checks(_plugin(**overrides), f"mutant-{mutant}", deselect)
    finally:
        while _LEAKED:
            _LEAKED.pop().close()
    assert failed == {rule}, [(r.case_id, r.status, r.message[:300]) for r in results if r.status not in ("passed", "n/a")]
    # the failure message states the rule's evidence, and dependants are blocked rather than failed again
    assert all(r.message for r in results if r.check == rule and r.status == "failed")


def test_a_handle_left_open_by_a_refused_file_is_reported():
    try:
        _, results = _failed_checks(_plugin(imaging_reader="LeakOnErrorImaging"), "mutant-leak", ["writer.*"])
    finally:
        while _LEAKED:
            _LEAKED.pop().close()
    messages = [r.message for r in results if r.check == "io.corrupt" and r.status == "failed"]
    assert messages and all("file handles left open after CorruptFileError" in m for m in messages), messages
