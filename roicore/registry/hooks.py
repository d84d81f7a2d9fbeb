"""The pluggy hook specifications of roicore, and the ``hookimpl`` marker plugins use.

A plugin's entry module (named by an entry point in the ``roicore.plugins``
group) stays light: it imports roicore and numpy at most, and returns specs
that name the heavy code lazily::

    import roicore

    @roicore.hookimpl
    def roicore_readers():
        return [roicore.ReaderSpec(id="myformat", kind="imaging",
                                   reader="my_plugin.reader:MyImaging",
                                   suffixes=(".myf",))]

Every hook is collect-all and call order carries no meaning: the registry
sorts what it collects.
"""

from __future__ import annotations

import pluggy

from roicore.registry.specs import MethodSpec, ReaderSpec, WriterSpec

PROJECT_NAME = "roicore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["hookimpl", "hookspec", "RoicoreHookSpecs", "PROJECT_NAME"]


class RoicoreHookSpecs:
    """Hooks a roicore plugin may implement (all optional)."""

    @hookspec
    def roicore_readers(self) -> list[ReaderSpec]:  # type: ignore[empty-body]
        """Return the readers this plugin contributes."""

    @hookspec
    def roicore_writers(self) -> list[WriterSpec]:  # type: ignore[empty-body]
        """Return the writers this plugin contributes."""

    @hookspec
    def roicore_methods(self) -> list[MethodSpec]:  # type: ignore[empty-body]
        """Return the signal-extraction methods this plugin contributes."""
