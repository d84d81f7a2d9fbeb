"""Entry module of roicore-sima: the hook returning the ``sima`` method spec.

Kept light on purpose: it imports roicore only (no numpy, scipy or dask). The
method and its samples are named lazily as ``"module:attr"``.
"""

from __future__ import annotations

import roicore
from roicore.registry.specs import MethodSpec

__all__ = ["roicore_methods"]


@roicore.hookimpl
def roicore_methods() -> list[MethodSpec]:
    """The ``sima`` signal-extraction method."""
    return [
        MethodSpec(
            id="sima",
            method="roicore_sima.extract:extract",
            capabilities=frozenset({"deterministic", "chunk_invariant", "weighted_masks"}),
            samples="roicore_sima.samples:make_samples",
            description=(
                "SIMA-like ROI traces: weighted means (or least-squares unmixing of overlapping ROIs), "
                "NaN-aware, streamed in time chunks over threads or a dask cluster"
            ),
        )
    ]
