"""Pickling by constructor arguments, light entry module, lazy imports."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore_memmap.samples import make_caiman_samples, make_npy_samples, make_raw_samples


@pytest.mark.parametrize(
    ("reader", "make"), [("memmap", make_raw_samples), ("npy", make_npy_samples), ("caiman-mmap", make_caiman_samples)]
)
def test_pickles_small_and_reads_the_same(tmp_path: Path, reader: str, make) -> None:
    for sample in make(tmp_path):
        with roicore.open(sample.path, reader=reader, **sample.reader_kwargs) as x:
            x.get_series(0, 1)  # mapped: the mapping must not be pickled
            payload = pickle.dumps(x)
            assert len(payload) < 2048, (sample.id, len(payload))
            with pickle.loads(payload) as clone:
                assert clone.source == x.source and clone._array is None
                np.testing.assert_array_equal(clone.get_series(), x.get_series())


def test_pickled_real_movie_is_tiny(realdata: Path) -> None:
    from roicore_memmap import VideoStructure

    path = realdata / "sima_example_t20_y128_x256_uint16le.raw"
    with roicore.open(path, reader="memmap", structure=VideoStructure(128, 256), dtype="<u2",
                      sampling_frequency=15.0) as x:
        payload = pickle.dumps(x)
        assert len(payload) < 2048 < path.stat().st_size
        with pickle.loads(payload) as clone:
            np.testing.assert_array_equal(clone[5:9], x[5:9])


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_entry_module_is_light() -> None:
    loaded = _modules_after("import roicore_memmap._plugin as p; p.roicore_readers(); p.roicore_writers()")
    heavy = {"h5py", "scipy", "roicore.imaging", "roicore_memmap.raw", "roicore_memmap.npy",
             "roicore_memmap.caiman_mmap", "roicore_memmap.writer", "roicore_memmap.samples",
             "roicore_memmap.mapped"}
    assert not heavy & loaded, heavy & loaded


def test_sniff_module_is_light() -> None:
    loaded = _modules_after("import roicore_memmap.sniff")
    assert not {"h5py", "scipy", "roicore.imaging", "roicore_memmap.mapped"} & loaded


def test_specs_are_registered() -> None:
    readers = {c.id: c for c in roicore.readers() if c.plugin == "roicore-memmap"}
    assert set(readers) == {"memmap", "npy", "caiman-mmap"}
    assert readers["memmap"].spec.capabilities == {"volumetric", "multichannel"}
    writers = {c.id: c for c in roicore.writers() if c.plugin == "roicore-memmap"}
    assert set(writers) == {"memmap"} and writers["memmap"].spec.capabilities == {"lossless"}
