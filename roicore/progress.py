"""Progress bars for long runs (tqdm, an optional dependency: ``roicore[progress]``).

``progress=None`` (the default everywhere) shows a bar only when the session
is interactive (stderr is a terminal, or a Jupyter kernel is running) *and*
the run is long: the bar appears after two seconds (tqdm's ``delay``), so
short runs print nothing. ``progress=True`` forces a bar at once (and needs
tqdm); ``progress=False`` never shows one.
"""

from __future__ import annotations

import sys
from typing import Any

from roicore.errors import MissingDependencyError

__all__ = ["make_bar", "NullBar", "is_interactive", "DELAY_SECONDS"]

#: an automatic bar appears only for runs longer than this
DELAY_SECONDS = 2.0


class NullBar:
    """A progress bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""


def is_interactive() -> bool:
    """True when a person is probably watching: stderr is a terminal, or in Jupyter."""
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def make_bar(
    progress: bool | None, total: int, description: str, *, unit: str = "frame", pip_name: str = '"roicore[progress]"'
) -> Any:
    """A tqdm bar (or a :class:`NullBar`) counting to ``total``.

    Parameters
    ----------
    progress : bool or None
        See the module docstring.
    total : int
        Units of work.
    description : str
        Shown before the bar.
    unit : str
        What is counted.
    pip_name : str
        What to install for tqdm, named in the error.

    Raises
    ------
    MissingDependencyError
        ``progress=True`` and tqdm is not installed.
    """
    if progress is False or (progress is None and not is_interactive()):
        return NullBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise MissingDependencyError("tqdm", purpose="the progress bar (progress=True)", pip_name=pip_name) from None
        return NullBar()
    return tqdm(total=total, desc=description, unit=unit, delay=0.0 if progress else DELAY_SECONDS, leave=bool(progress))
