"""The roicore error hierarchy.

Every error raised by roicore for bad input derives from :class:`RoicoreError`
and from the builtin exception that fits, so ``except ValueError`` keeps
working for callers who do not know roicore's own types.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RoicoreError",
    "NoReaderFoundError",
    "AmbiguousFormatError",
    "CorruptFileError",
    "UnsupportedFeatureError",
    "MissingDependencyError",
    "PluginError",
    "UnsafePickleError",
]


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
