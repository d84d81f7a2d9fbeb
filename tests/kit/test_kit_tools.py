"""The kit's instruments, tested on their own: read accounting, the unpickling audit, decoys and file copies."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from roicore.testing.accounting import count_reads, mapped_bytes
from roicore.testing.audit import kit_unpickling, record_unpickling
from roicore.testing.decoys import make_folder_decoys
from roicore.testing.files import copy_sample, sample_files
from roicore.testing.samples import ImagingTruth, Sample

LINUX = pytest.mark.skipif(not Path("/proc/thread-self/io").exists(), reason="needs Linux /proc/thread-self/io")


@LINUX
def test_count_reads_sees_read_calls_and_allocations(tmp_path):
    data = np.arange(300_000, dtype=np.float64)  # 2.4 MB
    path = tmp_path / "data.bin"
    data.tofile(path)
    with count_reads([path]) as small:
        with open(path, "rb") as handle:
            handle.read(100)
    with count_reads([path]) as whole:
        read = np.fromfile(path, dtype=np.float64)  # numpy's C reads, not Python file objects
    np.testing.assert_array_equal(read, data)
    assert whole.system_bytes >= data.nbytes
    assert whole.allocated_peak >= data.nbytes
    assert small.system_bytes < 64 * 1024 and small.allocated_peak < 64 * 1024


@LINUX
def test_count_reads_sees_mapped_pages_of_watched_files_only(tmp_path):
    data = np.arange(300_000, dtype=np.float64)
    path, other = tmp_path / "mapped.npy", tmp_path / "other.npy"
    np.save(path, data)
    np.save(other, data)
    with count_reads([path]) as count:
        mapping = np.load(path, mmap_mode="r")
        unwatched = np.load(other, mmap_mode="r")
        total = float(mapping.sum()) + float(unwatched.sum())  # touches every page of both
    assert total == 2 * float(data.sum())
    assert count.mapped_bytes >= data.nbytes * 0.9  # resident pages of the watched file only
    assert count.mapped_bytes < 2 * data.nbytes * 0.9
    assert count.allocated_peak < data.nbytes / 4  # a mapping allocates nothing
    del mapping, unwatched
    assert mapped_bytes([path]) == 0  # unmapped once the last reference went


def test_record_unpickling_catches_object_arrays_and_skips_plain_ones(tmp_path):
    objects, plain = tmp_path / "objects.npy", tmp_path / "plain.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(plain, np.arange(5))
    with record_unpickling() as found:
        np.load(plain)
    assert found == []
    with record_unpickling() as found:
        np.load(objects, allow_pickle=True)
    assert any(name.endswith("ndarray") for name in found), found
    # events from other threads are recorded too
    with record_unpickling() as found:
        worker = threading.Thread(target=lambda: np.load(objects, allow_pickle=True))
        worker.start()
        worker.join()
    assert found


def test_kit_and_safe_loader_unpickling_are_exempt():
    payload = pickle.dumps(np.arange(3).astype(object))
    with record_unpickling() as found:
        with kit_unpickling():
            pickle.loads(payload)
    assert found == []
    # code running as roicore.safeload (the restricted loader) is exempt, by its module on the stack
    namespace = {"__name__": "roicore.safeload", "pickle": pickle}
    exec("def load(data):\n    return pickle.loads(data)\n", namespace)  # noqa: S102 - a stand-in module
    with record_unpickling() as found:
        namespace["load"](payload)
    assert found == []
    with record_unpickling() as found:
        pickle.loads(payload)
    assert found


def test_unpickling_at_module_import_is_exempt(tmp_path, monkeypatch):
    """A library unpickling its own cache while it is imported (pynwb does) is not file data."""
    payload = pickle.dumps(np.arange(3).astype(object))
    (tmp_path / "payload.pkl").write_bytes(payload)
    (tmp_path / "cache_loading_module.py").write_text(
        "import pathlib, pickle\n"
        "CACHE = pickle.loads((pathlib.Path(__file__).parent / 'payload.pkl').read_bytes())\n"
        "def load_again():\n"
        "    return pickle.loads((pathlib.Path(__file__).parent / 'payload.pkl').read_bytes())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with record_unpickling() as found:
        import cache_loading_module
    assert found == []
    with record_unpickling() as found:  # the same module unpickling after its import is seen
        cache_loading_module.load_again()
    assert found


def test_folder_decoys_hold_every_marker(tmp_path):
    from roicore.registry import detection
    from roicore.registry.specs import ReaderSpec

    spec = ReaderSpec(id="x", kind="segmentation", reader="m:R", directory=("plane*/stat.npy", "ops.json"))
    decoys = make_folder_decoys(tmp_path, spec)
    assert len(decoys) == 6
    for folder in decoys:
        assert (folder / "planex" / "stat.npy").is_file() and (folder / "ops.json").is_file()
        assert detection._static_match(spec, folder, b"", True) is not None
    assert make_folder_decoys(tmp_path / "none", ReaderSpec(id="y", kind="imaging", reader="m:R", suffixes=(".x",))) == []


def test_copy_sample_keeps_layout_and_lists_files(tmp_path):
    source = tmp_path / "source"
    (source / "session" / "sub").mkdir(parents=True)
    (source / "session" / "a.json").write_text("{}")
    (source / "session" / "sub" / "b.npy").write_bytes(b"x")
    (source / "sidecar.txt").write_text("s")
    sample = Sample("s", source / "session", ImagingTruth(np.zeros((1, 2, 3)), 1.0), files=(source / "sidecar.txt",))
    main, copied = copy_sample(sample, tmp_path / "copy")
    assert main == tmp_path / "copy" / "session"
    names = [p.relative_to(tmp_path / "copy").as_posix() for p in sample_files(main, copied)]
    assert names == ["session/a.json", "session/sub/b.npy", "sidecar.txt"]


def test_sample_refuses_unknown_damages(tmp_path):
    with pytest.raises(ValueError, match="unknown damages"):
        Sample("s", tmp_path, ImagingTruth(np.zeros((1, 2, 3)), 1.0), damages={"typo": print})


@pytest.mark.parametrize("marker", ["stat.npy", "plane*/stat.npy", "*.[tT][iI][fF]*", "data[!a].bin", "**/*.json", "f?le.h5"])
def test_decoy_marker_paths_match_their_glob(marker):
    from fnmatch import fnmatchcase

    from roicore.testing.decoys import _marker_path

    assert fnmatchcase(_marker_path(marker), marker.replace("**/", ""))
