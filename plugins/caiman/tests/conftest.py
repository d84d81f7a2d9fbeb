"""Shared fixtures of the roicore-caiman tests: generated CaImAn files and a file builder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roicore_caiman.samples import cnmf_dict, fortran_csc, make_reader_samples, synthetic_footprints, write_cnmf_file


def _repository_root() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "roicore" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return here.parents[3]


#: ``<repo>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or _repository_root().parent / "shared" / "realdata")


@pytest.fixture
def realdata() -> Path:
    """The shared real recordings; skips with the reason when they are absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data folder {REALDATA} is absent (it sits beside the repository, in ../shared/realdata)")
    return REALDATA


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The plugin's reader samples, by id."""
    folder = tmp_path_factory.mktemp("caiman-samples")
    return {sample.id: sample for sample in make_reader_samples(folder)}


class Built:
    """A CaImAn file written by :func:`build` and the arrays it was made from."""

    def __init__(self, path: Path, masks: np.ndarray, fields: dict[str, Any], contents: dict[str, Any]) -> None:
        self.path = path
        self.masks = masks
        self.fields = fields
        self.contents = contents


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Built]:
    """``build(name, shape=(6, 9), count=4, frames=20, rate=10.0, estimates={...}, edit=callable)``.

    Writes a CaImAn-layout file with CaImAn's saver rules. ``estimates``
    overrides fields (None gives a NoneType placeholder); ``edit(handle)`` may
    damage the file afterwards with h5py.
    """

    def make(
        name: str = "results.hdf5",
        *,
        shape: tuple[int, int] = (6, 9),
        count: int = 4,
        frames: int = 20,
        rate: Any = 10.0,
        estimates: dict[str, Any] | None = None,
        params_dims: Any = "frame",
        edit: Callable[[Any], None] | None = None,
        legacy_strings: bool = False,
        seed: int = 0,
    ) -> Built:
        import h5py

        rng = np.random.default_rng(seed)
        masks = synthetic_footprints(rng, shape, count, sigma=1.0)
        fields: dict[str, Any] = {
            "C": rng.uniform(1, 3, (count, frames)),
            "YrA": rng.normal(0, 0.5, (count, frames)).astype(np.float32),
            "S": rng.uniform(0, 1, (count, frames)),
            "F_dff": rng.normal(0, 1, (count, frames)),
            "b": rng.uniform(0.5, 1.5, (shape[0] * shape[1], 1)),
            "f": rng.uniform(0.5, 1.5, (1, frames)),
        }
        fields.update(estimates or {})
        contents = cnmf_dict(
            frame_shape=shape, rate=rate, footprints=fortran_csc(masks), estimates=fields, params_dims=params_dims
        )
        path = write_cnmf_file(tmp_path / name, contents, legacy_strings=legacy_strings)
        if edit is not None:
            with h5py.File(path, "r+") as handle:
                edit(handle)
        return Built(path, masks, fields, contents)

    return make
