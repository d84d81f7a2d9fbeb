"""The roicore error hierarchy.

Every error raised by roicore for bad input derives from :class:`RoicoreError`
and from the builtin exception that fits, so ``except ValueError`` keeps
working for callers who do not know roicore's own types.

Messages that tell the user how to give something (a reader option, a reader
id) are written in the caller's syntax: Python keywords by default, the
command line's ``--option KEY=VALUE`` / ``--reader`` while the ``roicore``
command runs (it wraps its work in :func:`cli_syntax`). Build such hints with
:func:`option_hint` and :func:`reader_hint`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "option_hint",
    "reader_hint",
    "cli_syntax",
    "cli_syntax_active",
    "RoicoreError",
    "NoReaderFoundError",
    "AmbiguousFormatError",
    "CorruptFileError",
    "UnsupportedFeatureError",
    "MissingDependencyError",
    "PluginError",
    "UnknownSamplingFrequencyError",
    "UnsafePickleError",
]

# A process-wide flag rather than a context variable: readers may raise from
# worker threads (sniffing, prefetching), which a context variable would not reach.
_cli_syntax = False


@contextlib.contextmanager
def cli_syntax() -> Iterator[None]:
    """Within this block, hints use command-line syntax (the ``roicore`` command sets it)."""
    global _cli_syntax
    previous, _cli_syntax = _cli_syntax, True
    try:
        yield
    finally:
        _cli_syntax = previous


def cli_syntax_active() -> bool:
    """True while messages should use command-line syntax."""
    return _cli_syntax


def option_hint(key: str, value: str = "...") -> str:
    """How to pass reader option ``key``: ``key=value`` in Python, ``--option key=value`` on the command line."""
    return f"--option {key}={value}" if _cli_syntax else f"{key}={value}"


def reader_hint(reader: str | None = None) -> str:
    """How to choose a reader: ``reader='x'`` in Python, ``--reader x`` on the command line."""
    if _cli_syntax:
        return f"--reader {reader or 'ID'}"
    return f"reader={reader!r}" if reader else "reader=..."


class RoicoreError(Exception):
    """Base class of every error roicore raises on purpose."""


class NoReaderFoundError(RoicoreError, ValueError):
    """No installed reader claims a path.

    Attributes
    ----------
    path : str
        The path that was examined.
    report : DetectionReport or None
        Every candidate considered, with its verdict and reason.
    """

    def __init__(self, message: str, *, path: Any = None, report: Any = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.report = report


class AmbiguousFormatError(RoicoreError, ValueError):
    """Two readers of equal rank both claim a path.

    Attributes
    ----------
    path : str
        The path that was examined.
    candidates : tuple of str
        The qualified ids of the readers that tied.
    """

    def __init__(self, message: str, *, path: Any = None, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.candidates = tuple(candidates)


class CorruptFileError(RoicoreError, ValueError):
    """A file exists and was claimed by a reader, but its content is invalid.

    The message names the file and what is wrong with it.
    """

    def __init__(self, message: str, *, path: Any = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


class UnsupportedFeatureError(RoicoreError, NotImplementedError):
    """A reader, writer or method does not support a requested feature."""


class MissingDependencyError(RoicoreError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""

    def __init__(self, package: str, *, purpose: str, pip_name: str | None = None) -> None:
        pip_name = pip_name or package
        super().__init__(
            f"{purpose} needs the package {package!r}, which is not installed; "
            f"install it with: pip install {pip_name}"
        )
        self.package = package
        self.pip_command = f"pip install {pip_name}"


class PluginError(RoicoreError):
    """A plugin is broken: it failed to import, its hook raised, or it returned invalid specs.

    Attributes
    ----------
    plugin : str
        The name of the plugin at fault.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class UnknownSamplingFrequencyError(RoicoreError, ValueError):
    """A call needs the frame rate, and the source does not store one.

    Raised by calls that need time (timestamps, time-to-sample conversion,
    writers whose format stores a rate), never when opening. The message names
    the source and the ways to give the rate, in the caller's syntax.

    Attributes
    ----------
    path : str or None
        The file the extractor was opened from, when known.
    """

    def __init__(self, what: str, *, path: Any = None, needed_for: str = "this") -> None:
        example = option_hint("sampling_frequency", "30")
        if _cli_syntax:
            ways = f"give it with {example}"
        else:
            ways = f"give it with roicore.open(..., {example}) or extractor.set_sampling_frequency(30)"
        super().__init__(f"{what}: {needed_for} needs the frame rate, which is unknown (the source stores none); {ways}")
        self.path = None if path is None else str(path)


class UnsafePickleError(CorruptFileError):
    """A file's pickle names a global that roicore refuses to load (see :mod:`roicore.safeload`).

    Nothing from the file was called. The message names the file and the global.

    Attributes
    ----------
    global_name : str
        ``"module.name"`` of the refused global.
    """

    def __init__(self, message: str, *, path: Any = None, global_name: str = "") -> None:
        super().__init__(message, path=path)
        self.global_name = global_name
