"""The plugin registry: specs, hook specifications, discovery and detection.

Importing this package is light: pluggy and importlib-metadata are imported
only when the registry is first built.
"""

from __future__ import annotations

from roicore.registry.discovery import (
    ENTRY_POINT_GROUP,
    Contribution,
    PluginRecord,
    Registry,
    get_registry,
    isolated,
    refresh,
    register,
    unregister,
)
from roicore.registry.specs import (
    MethodSpec,
    ReaderSpec,
    SourceInfo,
    Support,
    SupportLevel,
    WriterSpec,
    load_object,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Contribution",
    "PluginRecord",
    "Registry",
    "get_registry",
    "isolated",
    "refresh",
    "register",
    "unregister",
    "MethodSpec",
    "ReaderSpec",
    "SourceInfo",
    "Support",
    "SupportLevel",
    "WriterSpec",
    "load_object",
]
