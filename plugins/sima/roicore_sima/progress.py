"""The optional tqdm progress bar of extraction: the core's (:mod:`roicore.progress`), naming this plugin's extra."""

from __future__ import annotations

from typing import Any

from roicore.progress import DELAY_SECONDS, NullBar, is_interactive
from roicore.progress import make_bar as _core_bar

__all__ = ["make_bar", "NullBar", "is_interactive", "DELAY_SECONDS"]


def make_bar(progress: bool | None, total: int, description: str) -> Any:
    """A tqdm bar (or a NullBar) for ``total`` frames; see :func:`roicore.progress.make_bar`."""
    return _core_bar(progress, total, description, pip_name='"roicore-sima[progress]"')
