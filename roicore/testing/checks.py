"""The check registry of the conformance kit.

A check is a plain function ``check(case) -> None`` registered with a stable
id, the component it tests, the capabilities it needs and the checks it
depends on. It fails by raising :class:`CheckFailed` (or any exception, which
is reported with its type), and declares itself not applicable by raising
:class:`NotApplicable`. Dependencies are per subject (the same reader and
sample): when ``imaging.open`` fails for a sample, every check of that sample
that depends on it is reported *blocked*, not failed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

__all__ = [
    "COMPONENTS",
    "Check",
    "CheckFailed",
    "NotApplicable",
    "check",
    "all_checks",
    "get_check",
    "select_checks",
]

COMPONENTS = ("registry", "detect", "imaging", "segmentation", "method", "writer", "io")

# what a check runs over: the plugin, one reader, one sample of a reader, one writer sample, one method sample
SUBJECTS = ("plugin", "reader", "reader-sample", "writer-sample", "method-sample")


class CheckFailed(AssertionError):
    """The plugin broke the rule a check encodes; the message says how."""


class NotApplicable(Exception):
    """The check does not apply to this subject; the message says why."""


@dataclass(frozen=True)
class Check:
    """A registered conformance check.

    Attributes
    ----------
    id : str
        Stable dotted id, e.g. ``"imaging.series.bounds"``.
    component : str
        One of :data:`COMPONENTS`.
    subject : str
        What one case runs over, one of ``SUBJECTS``.
    function : callable
        ``function(case) -> None``.
    kinds : tuple of str
        For reader subjects: the reader kinds it applies to.
    requires : frozenset of str
        Capabilities the spec must declare; otherwise the case is n/a.
    depends_on : tuple of str
        Check ids that must pass first for the same subject.
    summary : str
        The rule, in one sentence (first docstring line).
    only_for : tuple of (str, callable), optional
        ``(description, predicate(contribution, sample) -> bool)``: the check has cases only for
        subjects the predicate accepts, for rules that cannot apply to others by construction
        (a single-file sample has no companion file). The description shows in the check list.
    """

    id: str
    component: str
    subject: str
    function: Callable[[Any], None] = field(repr=False, compare=False)
    kinds: tuple[str, ...] = ("imaging", "segmentation")
    requires: frozenset[str] = frozenset()
    depends_on: tuple[str, ...] = ()
    summary: str = ""
    only_for: tuple[str, Callable[[Any, Any], bool]] | None = field(default=None, compare=False)

    def applies_to(self, contribution: Any, sample: Any) -> bool:
        """Whether the check has a case for this subject (see ``only_for``)."""
        return self.only_for is None or bool(self.only_for[1](contribution, sample))

    @property
    def runs_on(self) -> str:
        """The subject, with the ``only_for`` condition."""
        return f"{self.subject} ({self.only_for[0]})" if self.only_for else self.subject


_CHECKS: dict[str, Check] = {}


def check(
    id: str,  # noqa: A002 - the field is called id everywhere
    *,
    component: str,
    subject: str,
    kinds: tuple[str, ...] = ("imaging", "segmentation"),
    requires: tuple[str, ...] = (),
    depends_on: tuple[str, ...] = (),
    only_for: tuple[str, Callable[[Any, Any], bool]] | None = None,
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a check function under a stable id (a decorator)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}")
    if subject not in SUBJECTS:
        raise ValueError(f"unknown subject {subject!r}")

    def decorate(function: Callable[[Any], None]) -> Callable[[Any], None]:
        if id in _CHECKS:
            raise ValueError(f"check id {id!r} is registered twice")
        doc = (function.__doc__ or "").strip().splitlines()
        _CHECKS[id] = Check(
            id, component, subject, function, tuple(kinds), frozenset(requires), tuple(depends_on), doc[0] if doc else "",
            only_for,
        )
        return function

    return decorate


def _load_builtin_checks() -> None:
    # importing the modules registers their checks
    from roicore.testing import (  # noqa: F401
        checks_detect,
        checks_imaging,
        checks_io,
        checks_io_damage,
        checks_metadata,
        checks_method,
        checks_registry,
        checks_segmentation,
        checks_writer,
    )


def all_checks() -> list[Check]:
    """Every registered check, in dependency-safe order (dependencies first)."""
    _load_builtin_checks()
    ordered: list[Check] = []
    placed: set[str] = set()

    def place(item: Check) -> None:
        if item.id in placed:
            return
        for dependency in item.depends_on:
            place(_CHECKS[dependency])
        placed.add(item.id)
        ordered.append(item)

    for item in sorted(_CHECKS.values(), key=lambda c: (COMPONENTS.index(c.component), c.id)):
        place(item)
    return ordered


def get_check(check_id: str) -> Check:
    """The check registered under ``check_id`` (KeyError if none)."""
    _load_builtin_checks()
    try:
        return _CHECKS[check_id]
    except KeyError:
        raise KeyError(f"no conformance check {check_id!r}") from None


def select_checks(select: list[str] | None = None, deselect: list[str] | None = None) -> list[Check]:
    """Checks whose id matches any ``select`` glob (all if none) and no ``deselect`` glob."""
    chosen = []
    for item in all_checks():
        if select and not any(fnmatch(item.id, pattern) for pattern in select):
            continue
        if deselect and any(fnmatch(item.id, pattern) for pattern in deselect):
            continue
        chosen.append(item)
    return chosen
