"""The names a new plugin is built from, all derived from its distribution name.

``roicore-myformat`` gives the import package ``roicore_myformat``, the
reader id ``myformat``, the file suffix ``.myformat``, the magic bytes
``b"\\x89MYFORMAT\\r\\n\\x1a\\n"`` and the class-name stem ``Myformat``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

__all__ = ["KINDS", "PluginNames", "plugin_names"]

KINDS = ("imaging", "segmentation")

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_PREFIX_RE = re.compile(r"^roicore[-_]")
MAX_NAME_LENGTH = 40
# packages a plugin must not shadow: the core, its dependencies and the test tools
_TAKEN = {"roicore", "numpy", "scipy", "h5py", "pluggy", "importlib_metadata", "pytest", "hypothesis", "setuptools"}


@dataclass(frozen=True)
class PluginNames:
    """Every name of a generated plugin.

    Attributes
    ----------
    name : str
        The distribution and entry-point name, e.g. ``"roicore-myformat"``.
    package : str
        The import package, e.g. ``"roicore_myformat"``.
    reader_id : str
        The reader id, e.g. ``"myformat"`` (``roicore.open(path, reader="myformat")``).
    slug : str
        ``reader_id`` reduced to letters and digits: the file suffix and the magic bytes.
    stem : str
        CamelCase stem of the class names, e.g. ``"Myformat"`` (``MyformatImagingExtractor``).
    """

    name: str
    package: str
    reader_id: str
    slug: str
    stem: str

    @property
    def suffix(self) -> str:
        """The example format's file suffix, e.g. ``".myformat"``."""
        return f".{self.slug}"

    @property
    def magic_literal(self) -> str:
        """Python source of the example format's magic bytes.

        A non-ASCII first byte (no text file starts with it), the format's
        name, and line-ending bytes that a text-mode transfer would damage,
        as PNG does.
        """
        return f'b"\\x89{self.slug.upper()}\\r\\n\\x1a\\n"'


def plugin_names(name: str) -> PluginNames:
    """Validate a plugin's distribution name and derive the other names from it.

    Parameters
    ----------
    name : str
        Lowercase letters and digits in words joined by single ``-`` or ``_``,
        starting with a letter, at most 40 characters; by convention
        ``roicore-<format>``.

    Returns
    -------
    PluginNames

    Raises
    ------
    ValueError
        The name is not valid, or its package would shadow the standard
        library, roicore or one of roicore's dependencies.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        suggestion = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")
        hint = f" (e.g. {suggestion!r})" if suggestion and _NAME_RE.match(suggestion) else ""
        raise ValueError(
            f"invalid plugin name {name!r}: use lowercase letters and digits in words joined by '-' or '_', "
            f"starting with a letter, at most {MAX_NAME_LENGTH} characters, such as 'roicore-myformat'{hint}"
        )
    package = name.replace("-", "_")
    if package in _TAKEN or package in sys.stdlib_module_names:
        raise ValueError(
            f"invalid plugin name {name!r}: its package {package!r} would shadow an existing module; "
            f"use a name such as 'roicore-{name}'"
        )
    short = _PREFIX_RE.sub("", name)
    reader_id = (short if short[0].isalpha() else name).replace("_", "-")
    words = re.split(r"[-_]", reader_id)
    return PluginNames(
        name=name,
        package=package,
        reader_id=reader_id,
        slug="".join(words),
        stem="".join(word[:1].upper() + word[1:] for word in words),
    )
