"""Render the plugin template into a new folder.

The templates are package data under ``plugin-template/`` (``common/`` for
every plugin, ``imaging/`` or ``segmentation/`` for the reader's kind),
filled in with :class:`string.Template` (``$name``; ``$$`` is a literal
dollar sign). The folder is written under a temporary name beside the
target and renamed into place at the end (an existing empty folder is
filled in place and emptied again on failure), so a failure leaves no
half-made plugin behind.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import string
from importlib import resources
from pathlib import Path

from roicore.scaffold.names import KINDS, PluginNames, plugin_names

__all__ = ["create_plugin", "render_plugin", "template_values"]

_TEMPLATES = "plugin-template"

#: template (relative to plugin-template/, ``{kind}`` filled in) -> output path (a string.Template)
_FILES = {
    "common/pyproject.toml.tmpl": "pyproject.toml",
    "common/LICENSE.tmpl": "LICENSE",
    "common/README.md.tmpl": "README.md",
    "common/gitignore.tmpl": ".gitignore",
    "common/ci.yml.tmpl": ".github/workflows/ci.yml",
    "common/__init__.py.tmpl": "$package/__init__.py",
    "common/_plugin.py.tmpl": "$package/_plugin.py",
    "{kind}/format.py.tmpl": "$package/format.py",
    "{kind}/reader.py.tmpl": "$package/reader.py",
    "{kind}/samples.py.tmpl": "$package/samples.py",
    "common/test_conformance.py.tmpl": "tests/test_conformance.py",
    "{kind}/test_format.py.tmpl": "tests/test_format.py",
}

#: values that differ by kind
_KIND_VALUES = {
    "imaging": {
        "reader_class": "{stem}ImagingExtractor",
        "description": "reads {stem} example videos (replace with your format)",
        "example_file": "movie{suffix}",
        "writer_function": "write_video",
        "variable": "video",
        "usage": "frames = video.get_series(0, 10)  # (10, rows, columns)",
    },
    "segmentation": {
        "reader_class": "{stem}SegmentationExtractor",
        "description": "reads {stem} example ROI masks and traces (replace with your format)",
        "example_file": "rois{suffix}",
        "writer_function": "write_segmentation",
        "variable": "rois",
        "usage": 'raw = rois.get_traces(name="raw")  # (samples, ROIs)',
    },
}


def _template(relative: str) -> string.Template:
    text = resources.files("roicore.scaffold").joinpath(_TEMPLATES, relative).read_text(encoding="utf-8")
    return string.Template(text)


def _next_minor(version: str) -> str:
    """``"0.2.1"`` -> ``"0.3"``: the first core version a plugin for ``version`` must not assume."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"{major}.{minor + 1}"


def template_values(names: PluginNames, kind: str) -> dict[str, str]:
    """The values the templates are filled in with, for a plugin of ``kind``."""
    import datetime

    from roicore import __version__

    values = {
        "year": str(datetime.date.today().year),
        "name": names.name,
        "package": names.package,
        "reader_id": names.reader_id,
        "stem": names.stem,
        "suffix": names.suffix,
        "magic": names.magic_literal,
        "kind": kind,
        "roicore_version": ".".join(__version__.split(".")[:2]),
        # plugins pin the core's minor series: 0.x minors may change the plugin API
        "roicore_next": _next_minor(__version__),
    }
    for key, pattern in _KIND_VALUES[kind].items():
        values[key] = pattern.format(stem=names.stem, suffix=names.suffix)
    values["format_section"] = _template(f"{kind}/format.md.tmpl").substitute(values).strip()
    return values


def render_plugin(names: PluginNames, kind: str) -> dict[str, str]:
    """Every file of the plugin: relative POSIX path -> text.

    Raises
    ------
    KeyError
        A template uses a placeholder that has no value (a bug in a template).
    """
    values = template_values(names, kind)
    return {
        string.Template(target).substitute(values): _template(source.format(kind=kind)).substitute(values)
        for source, target in _FILES.items()
    }


def _check_target(folder: Path) -> None:
    if folder.is_dir():
        if any(folder.iterdir()):
            raise FileExistsError(
                errno.EEXIST, "the folder exists and is not empty; choose another folder or remove it", str(folder)
            )
    elif folder.exists():
        raise FileExistsError(errno.EEXIST, "a file is in the way of the plugin folder", str(folder))


def create_plugin(name: str, kind: str = "imaging", folder: str | os.PathLike[str] | None = None) -> Path:
    """Write a complete, installable roicore plugin package.

    The package reads a small example format, names a sample generator with
    ground truth, runs the conformance kit from its tests, has a CI workflow,
    and passes ``roicore check NAME`` once installed.

    Parameters
    ----------
    name : str
        The distribution name, e.g. ``"roicore-myformat"``; the package
        (``roicore_myformat``), the reader id (``myformat``) and the example
        format's suffix (``.myformat``) are derived from it.
    kind : {"imaging", "segmentation"}
        What the reader returns.
    folder : str or path-like, optional
        Where to write the package; default ``./NAME``. It may exist if empty.

    Returns
    -------
    Path
        The package folder, absolute.

    Raises
    ------
    ValueError
        An invalid name or kind.
    FileExistsError
        The folder exists and is not empty, or a file is in its place.

    Examples
    --------
    >>> from roicore.scaffold import create_plugin
    >>> create_plugin("roicore-myformat", kind="segmentation", folder="plugins/myformat")  # doctest: +SKIP
    PosixPath('/home/me/plugins/myformat')
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    names = plugin_names(name)
    target = Path(os.fspath(folder) if folder is not None else names.name).resolve()
    _check_target(target)
    files = render_plugin(names, kind)
    # an existing (empty) folder is filled in place: it may be the working directory
    existed = target.is_dir()
    work = target if existed else target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    work.mkdir(parents=True, exist_ok=existed)
    try:
        for relative, text in files.items():
            path = work.joinpath(*relative.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if not existed:
            work.rename(target)
    except BaseException:
        for written in list(work.iterdir()) if existed else [work]:
            if written.is_dir():
                shutil.rmtree(written, ignore_errors=True)
            else:
                written.unlink(missing_ok=True)
        raise
    return target
