"""Scaffolding: ``roicore new-plugin`` writes a complete, installable plugin package.

The generated package reads a small example format that stands in for the
author's, names a sample generator with ground truth, runs the conformance
kit from its tests, has a CI workflow, and passes ``roicore check NAME`` as
generated. :func:`create_plugin` is the function behind the command.
"""

from __future__ import annotations

from roicore.scaffold.names import KINDS, PluginNames, plugin_names
from roicore.scaffold.render import create_plugin, render_plugin

__all__ = ["create_plugin", "render_plugin", "plugin_names", "PluginNames", "KINDS"]
