"""The conformance kit is tested by mutants: each breaks one rule and must fail exactly that rule's check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import toy_plugin
from toy_plugin import ToyImaging, ToyPlugin

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


def test_reference_plugin_is_clean():
    failed, results = _failed_checks(ToyPlugin(), "toy")
    assert failed == set(), [r for r in results if r.status != "passed"]
    statuses = {r.status for r in results}
    assert statuses == {"passed"}
    # every component of the kit ran on the reference plugin
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
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_fails_exactly_its_rule(mutant):
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
