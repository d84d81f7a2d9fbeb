"""The kit's segmentation.planes check fails volume readers that break it, and only that check."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from roicore.registry import isolated
from roicore.testing.runner import Session

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def mutants() -> Iterator[ModuleType]:
    """``volume_mutants`` importable by name (the registry and spawned workers import the readers by it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HERE))
        yield importlib.import_module("volume_mutants")


def _failed(plugin: Any, name: str) -> tuple[set[str], list[Any]]:
    with isolated(plugin, names=[name]) as registry, Session([name], registry=registry, max_examples=5) as session:
        results = session.run()
    return {r.check for r in results if r.status in ("failed", "error", "xpass")}, results


@pytest.fixture(scope="module")
def reference(mutants: ModuleType) -> set[str]:
    failed, results = _failed(mutants.VolumePlugin(), "volume-reference")
    assert "segmentation.planes" in {r.check for r in results if r.status == "passed"}
    return failed


@pytest.mark.parametrize("overrides", [
    {"reader": "volume_mutants:ShiftedPlaneVolume"},
    {"capabilities": ("summary_images", "acceptance", "properties")},
], ids=["shifted-plane", "undeclared-volumetric"])
def test_volume_mutant_fails_segmentation_planes(mutants: ModuleType, reference: set[str], overrides: dict[str, Any]) -> None:
    # the entry module stays the reference's, so only the override differs
    plugin = type("Mutant", (mutants.VolumePlugin,), {**overrides, "__module__": mutants.__name__})()
    failed, results = _failed(plugin, "volume-mutant")
    # a check the reference fails in this process (none, normally) is not the mutant's doing
    assert failed - reference == {"segmentation.planes"}, [(r.case_id, r.status, r.message[:200]) for r in results
                                                           if r.status not in ("passed", "n/a")]
