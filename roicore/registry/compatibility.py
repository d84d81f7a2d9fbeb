"""Does a plugin distribution accept the running core? Read from its own ``Requires-Dist`` only.

A plugin built for another core API version (``roicore>=0.1,<0.2`` with core 0.2 running, after an
install with ``--no-deps`` or a core upgrade) would fail in obscure ways, so discovery checks the
plugin's requirement on ``roicore`` before importing it and reports a mismatch as the plugin's
status. Only distributions that declare a ``roicore.plugins`` entry point are asked, one
``METADATA`` each, scanned for its ``Requires-Dist`` header lines as text (the e-mail parser that
``Distribution.requires`` uses costs more to import than the whole scan). The specifier subset here (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~=``,
``.*`` wildcards; release numbers) covers what plugins write; a requirement it cannot read is
treated as satisfied rather than blocking a plugin.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["core_requirement_problem"]

_REQUIREMENT = re.compile(
    r"^\s*roicore(?=[\s\[(;<>=!~]|$)\s*(?:\[[^\]]*\])?\s*\(?\s*(?P<specifiers>[^;()]*?)\s*\)?\s*(?:;(?P<marker>.*))?$",
    re.IGNORECASE,
)
_SPECIFIER = re.compile(r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>[0-9][0-9a-zA-Z.*+!-]*)\s*$")


def _release(text: str) -> tuple[int, ...] | None:
    match = re.match(r"^(?:\d+!)?(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _allows(op: str, wanted: str, running: tuple[int, ...]) -> bool | None:
    """Whether ``running`` satisfies ``op wanted``; None if ``wanted`` cannot be read."""
    if wanted.endswith(".*"):
        prefix = _release(wanted[:-2])
        if prefix is None or op not in ("==", "!="):
            return None
        same = running[: len(prefix)] == prefix
        return same if op == "==" else not same
    release = _release(wanted)
    if release is None:
        return None
    version, target = _padded(running, release)
    if op == "~=":
        if len(release) < 2:
            return None
        return version >= target and running[: len(release) - 1] == release[:-1]
    return {
        "==": version == target, "===": version == target, "!=": version != target,
        "<": version < target, "<=": version <= target, ">": version > target, ">=": version >= target,
    }[op]


def requires_dist(dist: Any) -> list[str]:
    """The ``Requires-Dist`` values of a distribution's METADATA (headers end at the first blank line)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found = []
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == "requires-dist":
            found.append(value.strip())
    return found


def core_requirement_problem(dist: Any, core_version: str, name: str = "<the plugin>") -> str | None:
    """Why the distribution's requirement on roicore excludes ``core_version``, or None if it does not.

    Requirements under an ``extra`` marker (e.g. ``[test]``) are not run-time requirements and
    are ignored, as are other markers (they cannot exclude a core version). ``name`` is the
    distribution's name, for the message.
    """
    running = _release(core_version)
    if running is None:
        return None
    try:
        requirements = requires_dist(dist)
    except Exception:  # unreadable METADATA is reported elsewhere
        return None
    for line in requirements:
        match = _REQUIREMENT.match(line)
        if match is None or (match.group("marker") and "extra" in match.group("marker")):
            continue
        specifiers = [s for s in match.group("specifiers").split(",") if s.strip()]
        for specifier in specifiers:
            parsed = _SPECIFIER.match(specifier)
            if parsed is None:
                continue
            if _allows(parsed.group("op"), parsed.group("version"), running) is False:
                wanted = ",".join(s.strip() for s in specifiers)
                return (
                    f"built for roicore {wanted}, but roicore {core_version} is running: it was written for "
                    f"another core API version and is not loaded; install a release of the plugin made for "
                    f"roicore {core_version} (pip install --upgrade {name}) or a roicore it accepts"
                )
    return None
