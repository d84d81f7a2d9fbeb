"""roicore-sima: SIMA-like signal extraction for roicore.

Use it through :func:`roicore.extract`::

    import roicore
    seg = roicore.extract(imaging, rois, method="sima", remove_overlap=True)

The package namespace is light on purpose (the plugin's entry module
:mod:`roicore_sima._plugin` is imported at discovery); the extraction code
lives in :mod:`roicore_sima.extract` and is imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
