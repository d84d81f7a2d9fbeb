"""Bad, missing or hostile files give roicore errors naming the file; a crafted pickle runs nothing."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, NoReaderFoundError, UnsafePickleError
from roicore.safeload import load_npy
from roicore_suite2p.binary import Suite2pBinaryImagingExtractor
from roicore_suite2p.reader import Suite2pSegmentationExtractor


def _edit_dict(path: Path, **changes: Any) -> None:
    values = load_npy(path).item()
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    np.save(path, np.array(values, dtype=object))


def _edit_stat(path: Path, index: int, **changes: Any) -> None:
    stat = load_npy(path)
    stat[index].update(changes)
    np.save(path, stat)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("victim", ["stat.npy", "ops.npy"])
def test_a_crafted_pickle_in_a_plane_folder_runs_nothing(plane, tmp_path: Path, victim: str) -> None:
    folder, _ = plane("0.x")
    marker = tmp_path / "pwned"
    if victim == "stat.npy":
        stat = load_npy(folder / "stat.npy")
        stat[1]["radius"] = _Payload(marker)
        array = stat
    else:
        values = load_npy(folder / "ops.npy").item()
        values["fs"] = _Payload(marker)
        array = np.array(values, dtype=object)
    with (folder / victim).open("wb") as handle:  # what np.save writes, spelled out
        np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(array))
        pickle.dump(array, handle, protocol=3)
    assert roicore.explain(folder).chosen == "roicore-suite2p:suite2p"  # detection reads no pickle
    with pytest.raises(UnsafePickleError) as info:
        roicore.open(folder)
    assert str(folder / victim) in str(info.value) and info.value.global_name in str(info.value)
    assert not marker.exists()


def test_missing_stat_and_settings(plane) -> None:
    folder, _ = plane("0.x")
    (folder / "ops.npy").unlink()
    with pytest.raises(CorruptFileError, match="neither ops.npy .* nor db.npy"):
        Suite2pSegmentationExtractor(folder)
    with pytest.raises(NoReaderFoundError, match="stat.npy without ops.npy or db.npy"):
        roicore.open(folder)
    folder, _ = plane("1.x", name="other/plane0")
    _edit_dict(folder / "db.npy", Lx=None)
    with pytest.raises(CorruptFileError, match="no 'Lx'"):
        Suite2pSegmentationExtractor(folder)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ypix": np.array([0, 11]), "xpix": np.array([0, 1]), "lam": np.ones(2, np.float32)}, "outside the 11 x 17 frame"),
        ({"ypix": np.array([0, -1]), "xpix": np.array([0, 1]), "lam": np.ones(2, np.float32)}, "outside"),
        ({"xpix": np.array([0, 1, 2])}, "must be equal"),
        ({"lam": None}, "has no 'lam'"),
        ({"ypix": np.array([1.5, 2.0]), "xpix": np.array([0, 1]), "lam": np.ones(2)}, "non-integer"),
        ({"ypix": np.array([1, 1]), "xpix": np.array([2, 2]), "lam": np.ones(2)}, "more than once"),
        ({"ypix": np.array([1]), "xpix": np.array([2]), "lam": np.array([-1.0])}, "negative"),
    ],
)
def test_bad_masks_are_refused_never_clipped(plane, changes: dict[str, Any], message: str) -> None:
    folder, _ = plane("0.x", shape=(11, 17))
    stat = load_npy(folder / "stat.npy")
    for key, value in changes.items():
        if value is None:
            del stat[2][key]
        else:
            stat[2][key] = value
    np.save(folder / "stat.npy", stat)
    with Suite2pSegmentationExtractor(folder) as seg:
        with pytest.raises(CorruptFileError, match=message) as info:
            seg.get_roi_masks()
    assert "stat.npy" in str(info.value) and "ROI 2" in str(info.value)


def test_inconsistent_files(plane) -> None:
    folder, content = plane("0.x", count=4, frames=12)
    np.save(folder / "Fneu.npy", np.zeros((3, 12), np.float32))
    with pytest.raises(CorruptFileError, match=r"Fneu.npy: has 3 rows, but stat.npy lists 4 ROIs"):
        Suite2pSegmentationExtractor(folder)
    np.save(folder / "Fneu.npy", np.zeros((4, 11), np.float32))
    with pytest.raises(CorruptFileError, match="different numbers of frames"):
        Suite2pSegmentationExtractor(folder)
    np.save(folder / "Fneu.npy", content.traces["neuropil"])
    np.save(folder / "iscell.npy", np.zeros((5, 2)))
    with pytest.raises(CorruptFileError, match="iscell.npy: expected 4 rows"):
        Suite2pSegmentationExtractor(folder)
    np.save(folder / "iscell.npy", content.iscell)
    _edit_dict(folder / "ops.npy", yrange=[0, 40])
    with Suite2pSegmentationExtractor(folder) as seg, pytest.raises(CorruptFileError, match="'yrange'.*outside"):
        seg.get_images_dict()
    _edit_dict(folder / "ops.npy", yrange=[1, 5])
    with Suite2pSegmentationExtractor(folder) as seg, pytest.raises(CorruptFileError, match="'max_proj' has shape"):
        seg.get_images_dict()
    _edit_dict(folder / "ops.npy", fs="fast")
    with pytest.raises(CorruptFileError, match="ops.npy: 'fs' must be a number"):
        Suite2pSegmentationExtractor(folder)


def test_stat_that_is_not_a_list_of_dicts(plane) -> None:
    folder, _ = plane("0.x")
    np.save(folder / "stat.npy", np.array([{"ypix": np.arange(2)}, "text"], dtype=object))
    with pytest.raises(CorruptFileError, match="ROI 1 is a str"):
        Suite2pSegmentationExtractor(folder)
    np.save(folder / "ops.npy", np.arange(4))
    with pytest.raises(CorruptFileError, match="ops.npy: expected a dict"):
        Suite2pSegmentationExtractor(folder)


def test_truncated_trace_file(plane) -> None:
    folder, _ = plane("0.x")
    data = (folder / "spks.npy").read_bytes()
    (folder / "spks.npy").write_bytes(data[:-4])
    with pytest.raises(CorruptFileError, match="spks.npy"):
        Suite2pSegmentationExtractor(folder)


def test_binary_size_and_settings_errors(tmp_path: Path) -> None:
    from roicore_suite2p.samples import make_binary_samples

    sample = make_binary_samples(tmp_path)[0]
    data = sample.path.read_bytes()
    sample.path.write_bytes(data[:-2])
    with pytest.raises(CorruptFileError, match=r"data.bin: \d+ bytes, but ops.npy says 12 frames"):
        Suite2pBinaryImagingExtractor(sample.path)
    sample.path.write_bytes(data)
    (sample.path.parent / "ops.npy").unlink()
    with pytest.raises(CorruptFileError, match="neither ops.npy"):
        Suite2pBinaryImagingExtractor(sample.path)
    explained = roicore.explain(sample.path)
    assert explained.chosen is None
    verdicts = {c.reader: c.verdict for c in explained.candidates}
    assert verdicts["roicore-suite2p:suite2p-binary"] == "no"
