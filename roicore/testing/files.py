"""Copies of samples for checks that damage, watch or count reads of a sample's files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

__all__ = ["copy_sample", "sample_files"]


def copy_sample(sample: Any, folder: Path) -> tuple[Path, list[Path]]:
    """Copy every file of ``sample`` into ``folder``, keeping their layout.

    Returns
    -------
    main : Path
        The copy of ``sample.path``.
    copied : list of Path
        The copies of ``sample.files`` and ``sample.path`` (folders copied whole).
    """
    root = sample.path.parent
    copied = []
    for file in sorted({*sample.files, sample.path}):
        if not file.exists():
            continue
        target = folder / file.relative_to(root) if file.is_relative_to(root) else folder / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.is_dir():
            shutil.copytree(file, target, dirs_exist_ok=True)
        else:
            shutil.copy2(file, target)
        copied.append(target)
    main = folder / sample.path.relative_to(root)
    return main, copied


def sample_files(main: Path, copied: list[Path]) -> list[Path]:
    """Every regular file of a copied sample: the listed files and everything inside listed folders, sorted."""
    found: set[Path] = set()
    for path in [main, *copied]:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.add(path)
    return sorted(found)
