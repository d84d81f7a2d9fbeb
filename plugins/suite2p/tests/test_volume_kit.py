"""The kit's segmentation.planes check fails volume readers that break it, and only that check."""

from __future__ import annotations

from typing import Any

import pytest
import volume_mutants

from roicore.registry import isolated
from roicore.testing.runner import Session


def _failed(plugin: Any, name: str) -> tuple[set[str], list[Any]]:
    with isolated(plugin, names=[name]) as registry, Session([name], registry=registry, max_examples=5) as session:
        results = session.run()
    return {r.check for r in results if r.status in ("failed", "error", "xpass")}, results


@pytest.fixture(scope="module")
def reference() -> set[str]:
    failed, results = _failed(volume_mutants.VolumePlugin(), "volume-reference")
    assert "segmentation.planes" in {r.check for r in results if r.status == "passed"}
    return failed


@pytest.mark.parametrize("overrides", [
    {"reader": f"{volume_mutants.MODULE}:ShiftedPlaneVolume"},
    {"capabilities": ("summary_images", "acceptance", "properties")},
], ids=["shifted-plane", "undeclared-volumetric"])
def test_volume_mutant_fails_segmentation_planes(reference: set[str], overrides: dict[str, Any]) -> None:
    # the entry module stays the reference's, so only the override differs
    plugin = type("Mutant", (volume_mutants.VolumePlugin,), {**overrides, "__module__": volume_mutants.__name__})()
    failed, results = _failed(plugin, "volume-mutant")
    # the harness's own plugin module may fail registry checks of the reference too; the mutant adds exactly one
    assert failed - reference == {"segmentation.planes"}, [(r.case_id, r.status, r.message[:200]) for r in results
                                                           if r.status not in ("passed", "n/a")]
