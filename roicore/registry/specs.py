"""Typed, frozen records that plugins return from their hooks.

A spec names its code lazily as ``"module:attr"``; nothing in this module
imports a plugin's reader, writer or method. Specs validate themselves on
construction, so a plugin that returns a malformed spec is caught at
discovery, with its name, instead of at the first ``open()``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

__all__ = [
    "ReaderSpec",
    "WriterSpec",
    "MethodSpec",
    "Support",
    "SupportLevel",
    "SourceInfo",
    "load_object",
    "KINDS",
    "TIERS",
]

KINDS = ("imaging", "segmentation")
TIERS = ("specific", "generic")

_ID_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")
_OBJECT_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class SupportLevel(enum.IntEnum):
    """How sure a reader is that it can read a path (ordered: NO < MAYBE < YES)."""

    NO = 0
    MAYBE = 1
    YES = 2


@dataclass(frozen=True)
class Support:
    """The answer of a reader's ``sniff(path, header)``.

    Parameters
    ----------
    level : SupportLevel or str
        ``"yes"``, ``"maybe"`` or ``"no"`` (case-insensitive) or a :class:`~roicore.registry.SupportLevel`.
    reason : str
        One human-readable sentence: why the reader claims or declines the path.
    """

    level: SupportLevel
    reason: str = ""

    def __post_init__(self) -> None:
        level = self.level
        if isinstance(level, str):
            try:
                level = SupportLevel[level.upper()]
            except KeyError:
                raise ValueError(f"Support level must be yes, maybe or no, not {self.level!r}") from None
        elif not isinstance(level, SupportLevel):
            level = SupportLevel(level)
        object.__setattr__(self, "level", level)
        if not isinstance(self.reason, str):
            raise TypeError(f"Support reason must be a str, not {type(self.reason).__name__}")

    @classmethod
    def yes(cls, reason: str) -> Support:
        """The reader can read the path."""
        return cls(SupportLevel.YES, reason)

    @classmethod
    def maybe(cls, reason: str) -> Support:
        """The reader might read the path; used only if no reader says yes."""
        return cls(SupportLevel.MAYBE, reason)

    @classmethod
    def no(cls, reason: str) -> Support:
        """The reader cannot read the path."""
        return cls(SupportLevel.NO, reason)

    def __bool__(self) -> bool:
        return self.level is SupportLevel.YES


@dataclass(frozen=True)
class SourceInfo:
    """Where an extractor came from: set as ``extractor.source`` by :func:`roicore.open`.

    Attributes
    ----------
    plugin : str
        The plugin (entry-point name) that contributed the reader.
    version : str or None
        The plugin distribution's version, when known.
    reader : str
        The reader id.
    rule : str
        Why this reader was chosen, e.g. ``"explicit"`` or ``"suffix .npy; sniff: npy header"``.
    path : str
        The path that was opened.
    """

    plugin: str
    version: str | None
    reader: str
    rule: str
    path: str


def load_object(reference: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute.

    Raises
    ------
    ImportError
        The module cannot be imported.
    AttributeError
        The module has no such attribute.
    """
    module_name, _, attribute = reference.partition(":")
    value: Any = import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def _check_id(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(
            f"{what} must be a lowercase identifier (letters, digits, '_', '-', '.'; "
            f"starting with a letter), not {value!r}"
        )


def _check_ref(value: Any, what: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not _OBJECT_REF_RE.match(value):
        raise ValueError(f"{what} must be a lazy reference 'module:attr', not {value!r}")


def _as_str_tuple(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of str, not {type(value).__name__}") from None
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what} must hold non-empty strings, got {item!r}")
    return items


def _normalize_suffix(suffix: str) -> str:
    suffix = suffix.lower()
    return suffix if suffix.startswith(".") else "." + suffix


def _freeze_capabilities(value: Any, what: str) -> frozenset[str]:
    if isinstance(value, Mapping):
        value = [key for key, enabled in value.items() if enabled]
    return frozenset(_as_str_tuple(value, what))


@dataclass(frozen=True)
class ReaderSpec:
    """What the registry knows about a reader without importing it.

    Parameters
    ----------
    id : str
        Lowercase id, unique among readers; always addressable as ``"plugin:id"``.
    kind : {"imaging", "segmentation"}
        What the reader returns.
    reader : str
        Lazy reference ``"module:attr"`` to a callable ``reader(path, **kwargs)``
        returning an extractor, usually the extractor class itself.
    sniff : str, optional
        Lazy reference to ``sniff(path, header) -> Support``. When omitted, the
        reader object's ``sniff`` attribute is used if it has one; otherwise a
        static match counts as a yes.
    suffixes : tuple of str
        File suffixes, case-insensitive; multi-dot suffixes such as ``".ome.tif"`` work.
    patterns : tuple of str
        fnmatch patterns on the file or folder name (case-insensitive).
    magic : tuple of bytes
        Byte prefixes of the file's header.
    directory : tuple of str
        Globs that must each match inside a folder for a folder to be a candidate.
    tier : {"specific", "generic"}
        Specific readers rank before generic catch-alls.
    priority : int
        Tie-break inside a tier and match strength, -10..10; higher goes first.
    autodetect : bool
        False: the reader is used only when asked for by ``reader=``.
    install_hint : str
        What to tell a user whose environment lacks the reader's dependencies.
    capabilities : frozenset of str
        Declared features (e.g. ``"volumetric"``, ``"native_timestamps"``); the
        conformance kit checks declared ones and that undeclared ones raise
        UnsupportedFeatureError.
    samples : str, optional
        Lazy reference to ``make_samples(folder) -> list[Sample]`` for the conformance kit.
    description : str
        One line shown by ``roicore formats``.
    """

    id: str
    kind: str
    reader: str
    sniff: str | None = None
    suffixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()
    directory: tuple[str, ...] = ()
    tier: str = "specific"
    priority: int = 0
    autodetect: bool = True
    install_hint: str = ""
    capabilities: frozenset[str] = field(default_factory=frozenset)
    samples: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "ReaderSpec.id")
        if self.kind not in KINDS:
            raise ValueError(f"ReaderSpec {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        _check_ref(self.reader, f"ReaderSpec {self.id!r}: reader")
        _check_ref(self.sniff, f"ReaderSpec {self.id!r}: sniff", optional=True)
        _check_ref(self.samples, f"ReaderSpec {self.id!r}: samples", optional=True)
        suffixes = tuple(_normalize_suffix(s) for s in _as_str_tuple(self.suffixes, "suffixes"))
        object.__setattr__(self, "suffixes", suffixes)
        object.__setattr__(self, "patterns", _as_str_tuple(self.patterns, "patterns"))
        object.__setattr__(self, "directory", _as_str_tuple(self.directory, "directory"))
        magic = (self.magic,) if isinstance(self.magic, bytes) else tuple(self.magic)
        for prefix in magic:
            if not isinstance(prefix, bytes) or not prefix:
                raise ValueError(f"ReaderSpec {self.id!r}: magic must hold non-empty bytes, got {prefix!r}")
        object.__setattr__(self, "magic", magic)
        if self.tier not in TIERS:
            raise ValueError(f"ReaderSpec {self.id!r}: tier must be one of {TIERS}, not {self.tier!r}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int) or not -10 <= self.priority <= 10:
            raise ValueError(f"ReaderSpec {self.id!r}: priority must be an int in -10..10, not {self.priority!r}")
        if not isinstance(self.autodetect, bool):
            raise TypeError(f"ReaderSpec {self.id!r}: autodetect must be a bool")
        if self.autodetect and not (suffixes or self.patterns or magic or self.directory):
            raise ValueError(
                f"ReaderSpec {self.id!r}: an autodetected reader needs at least one of "
                "suffixes, patterns, magic or directory markers (or set autodetect=False)"
            )
        object.__setattr__(
            self, "capabilities", _freeze_capabilities(self.capabilities, f"ReaderSpec {self.id!r}: capabilities")
        )

    def load_reader(self) -> Any:
        """Import and return the reader callable."""
        return load_object(self.reader)


@dataclass(frozen=True)
class WriterSpec:
    """A writer, chosen by ``roicore.write(..., format=id)`` or by output suffix.

    Parameters
    ----------
    id : str
        The format name users pass as ``format=``.
    kind : {"imaging", "segmentation"}
        What the writer accepts.
    writer : str
        Lazy reference to ``write(extractor, target, **options)``, where ``target``
        is a :class:`roicore.writing.WriteTarget` handing out temporary paths that
        roicore renames into place once the writer returns.
    suffixes : tuple of str
        Output suffixes this writer is chosen for when ``format`` is not given.
    reader : str, optional
        The reader id that reads the output back (used by round-trip checks).
    capabilities : frozenset of str
        Declared features: ``"lossless"`` (the round trip gives every value
        back), ``"append"`` (``roicore.write(..., append=True)`` may add to an
        existing output; the writer then gets ``append=True``).
    samples : str, optional
        Lazy reference to ``make_samples(folder) -> list[Sample]``: sources to write.
    description : str
        One line shown by ``roicore formats``.
    """

    id: str
    kind: str
    writer: str
    suffixes: tuple[str, ...] = ()
    reader: str | None = None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    samples: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "WriterSpec.id")
        if self.kind not in KINDS:
            raise ValueError(f"WriterSpec {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        _check_ref(self.writer, f"WriterSpec {self.id!r}: writer")
        _check_ref(self.samples, f"WriterSpec {self.id!r}: samples", optional=True)
        if self.reader is not None:
            _check_id(self.reader.rpartition(":")[2], f"WriterSpec {self.id!r}: reader")
        suffixes = tuple(_normalize_suffix(s) for s in _as_str_tuple(self.suffixes, "suffixes"))
        object.__setattr__(self, "suffixes", suffixes)
        object.__setattr__(
            self, "capabilities", _freeze_capabilities(self.capabilities, f"WriterSpec {self.id!r}: capabilities")
        )

    def load_writer(self) -> Any:
        """Import and return the writer callable."""
        return load_object(self.writer)


@dataclass(frozen=True)
class MethodSpec:
    """A signal-extraction method, chosen by ``roicore.extract(..., method=id)``.

    Parameters
    ----------
    id : str
        The method name.
    method : str
        Lazy reference to ``extract(imaging, masks, *, roi_ids, **options)``
        returning a SegmentationExtractor; ``masks`` is a :class:`roicore.RoiMasks`.
    capabilities : frozenset of str
        Declared features (e.g. ``"chunk_invariant"``, ``"deterministic"``).
    samples : str, optional
        Lazy reference to ``make_samples(folder) -> list[Sample]``.
    description : str
        One line shown by ``roicore plugins``.
    """

    id: str
    method: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    samples: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "MethodSpec.id")
        _check_ref(self.method, f"MethodSpec {self.id!r}: method")
        _check_ref(self.samples, f"MethodSpec {self.id!r}: samples", optional=True)
        object.__setattr__(
            self, "capabilities", _freeze_capabilities(self.capabilities, f"MethodSpec {self.id!r}: capabilities")
        )

    def load_method(self) -> Any:
        """Import and return the method callable."""
        return load_object(self.method)


def as_spec_list(value: Any, spec_type: type, hook: str) -> list[Any]:
    """Validate a hook's return value: an iterable of ``spec_type`` (None counts as empty)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{hook}() must return a list of {spec_type.__name__}, not {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, spec_type):
            raise TypeError(f"{hook}() must return {spec_type.__name__} records, got {type(item).__name__}")
    return items
