"""Shared fixtures of the roicore-suite2p tests: the real suite2p folder and a plane-folder builder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roicore_suite2p.samples import PlaneContent, make_plane_content, write_plane


def _repository_root() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "roicore" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return here.parents[3]


#: ``<repo>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or _repository_root().parent / "shared" / "realdata")


@pytest.fixture
def real_plane() -> Path:
    """The real suite2p 0.14.6 plane folder; skips with the reason when it is absent."""
    folder = REALDATA / "suite2p-0.14.6" / "plane0"
    if not folder.is_dir():
        pytest.skip(f"real suite2p output {folder} is absent (it sits beside the repository, in ../shared/realdata)")
    return folder


@pytest.fixture
def plane(tmp_path: Path) -> Callable[..., tuple[Path, PlaneContent]]:
    """``plane(layout="0.x", name="plane0", seed=0, shape=(11, 17), count=4, frames=12, rate=8.0, **options)``."""

    def make(layout: str = "0.x", name: str = "suite2p/plane0", *, seed: int = 0, shape: tuple[int, int] = (11, 17),
             count: int = 4, frames: int = 12, rate: float = 8.0, merged_ops: bool = False, **options: Any
             ) -> tuple[Path, PlaneContent]:
        content = make_plane_content(seed, shape, count, frames, rate, **options)
        return write_plane(tmp_path / name, content, layout, merged_ops=merged_ops), content

    return make
