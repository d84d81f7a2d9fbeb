"""Security rules of the readers: nothing unpickles file data; sidecar paths stay in their folder.

The reads run in the fuzz worker (:mod:`fuzz.worker`), whose audit hooks see
any unpickling (``pickle.find_class``) and any file opened outside the
case folder, so these tests check what the readers do, not only what they say.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

import roicore
from fuzz.cases import FuzzSession
from fuzz.judge import judge
from fuzz.worker import Outcome, Request

#: source patterns that unpickle (numpy's allow_pickle defaults to False since 1.16.3)
UNPICKLING = re.compile(
    r"allow_pickle\s*=\s*True|\bpickle\.loads?\(|\bUnpickler\(|\bread_pickle\(|\bjoblib\.load\(|\bdill\.loads?\(|"
    r"\bcloudpickle\.loads?\("
)
VIDEO = np.arange(3 * 7 * 11, dtype="<u2").reshape(3, 7, 11)


def _plugin_packages() -> dict[str, Path]:
    """The package folder of every installed plugin (its entry module's top-level package)."""
    folders = {}
    for record in roicore.plugins():
        if record.module:
            top = record.module.split(".")[0]
            spec = importlib.util.find_spec(top)
            if spec is not None and spec.submodule_search_locations:
                folders[record.name] = Path(next(iter(spec.submodule_search_locations)))
    return folders


def test_no_plugin_source_unpickles():
    packages = _plugin_packages()
    assert packages, "no installed plugin found"
    found = []
    for plugin, folder in packages.items():
        for source in sorted(folder.rglob("*.py")):
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                if UNPICKLING.search(line.split("#")[0]):
                    found.append(f"{plugin}: {source}:{number}: {line.strip()}")
    assert not found, "plugin code that unpickles (allow_pickle must never be true):\n" + "\n".join(found)


def _run(session: FuzzSession, folder: Path, path: Path, reader: str | None, **kwargs) -> Outcome:
    return session.worker.run(Request(str(path), reader, kwargs, str(folder)))


def _refused(outcome: Outcome, names: set[str]) -> str:
    """The error's message, after checking the outcome is an allowed error with no unpickling."""
    verdict = judge(outcome, names=names)
    assert verdict.ok, verdict.problems
    assert outcome.status == "raised", f"expected an error, got a read by {outcome.reading and outcome.reading.reader}"
    assert not outcome.unpickled
    return outcome.error.message


@pytest.mark.parametrize("shape", [(3, 7, 11), (4,)], ids=["video-shaped", "1-d"])
def test_pickle_bearing_npy_is_refused(shape, tmp_path: Path, fuzz_session: FuzzSession):
    objects = np.empty(shape, dtype=object)
    objects.reshape(-1)[:] = [{"pixel": i} for i in range(objects.size)]
    path = tmp_path / "objects.npy"
    np.save(path, objects, allow_pickle=True)  # writing the hostile file is the test's job
    (tmp_path / "described.npy.json").write_text(json.dumps(
        {"format": "roicore-npy-video", "version": 1, "data": "objects.npy", "sampling_frequency": 5.0}))
    attempts = [
        (path, None, {}),
        (path, "npy", {"sampling_frequency": 5.0}),
        (path, "memmap", {"sampling_frequency": 5.0}),
        (tmp_path / "described.npy.json", "npy", {}),
    ]
    for target, reader, kwargs in attempts:
        message = _refused(_run(fuzz_session, tmp_path, target, reader, **kwargs), {path.name, target.name})
        if reader is not None:
            assert "pickle" in message, message
    explicit = _run(fuzz_session, tmp_path, path, "npy", sampling_frequency=5.0)
    assert explicit.error.name == "UnsupportedFeatureError" and "never unpickles" in explicit.error.message


@pytest.mark.parametrize("dtype", ["|O", "O", "object"])
def test_sidecar_cannot_declare_object_pixels(dtype, tmp_path: Path, fuzz_session: FuzzSession):
    (tmp_path / "movie.bin").write_bytes(VIDEO.tobytes())
    sidecar = tmp_path / "movie.bin.json"
    sidecar.write_text(json.dumps({"format": "roicore-raw-video", "version": 1, "data": "movie.bin", "dtype": dtype,
                                   "axes": "tyx", "shape": {"y": 7, "x": 11}, "sampling_frequency": 5.0}))
    message = _refused(_run(fuzz_session, tmp_path, sidecar, "memmap"), {sidecar.name})
    assert "field 'dtype'" in message


ESCAPES = [
    "../outside.bin", "{outside}", "sub/../../outside.bin", "./../outside.bin", "..\\outside.bin",
    "C:outside.bin", "C:\\outside.bin", "\\\\server\\share\\outside.bin", "..", ".", "sub/..", "",
    "outside\x00.bin",
]


@pytest.mark.parametrize("fmt", ["roicore-raw-video", "roicore-npy-video"])
@pytest.mark.parametrize("escape", ESCAPES)
def test_sidecar_data_path_cannot_leave_its_folder(escape, fmt, tmp_path: Path, fuzz_session: FuzzSession):
    """A sidecar naming a file outside its folder (one that would read) is refused; nothing outside is opened."""
    inner = tmp_path / "inner"
    (inner / "sub").mkdir(parents=True)
    npy = fmt == "roicore-npy-video"
    outside = tmp_path / ("outside.npy" if npy else "outside.bin")
    if npy:
        np.save(outside, VIDEO, allow_pickle=False)
        escape = escape.replace(".bin", ".npy")
    else:
        outside.write_bytes(VIDEO.tobytes())
    data = escape.replace("{outside}", str(outside))
    content = {"format": fmt, "version": 1, "data": data, "sampling_frequency": 5.0}
    if not npy:
        content.update(dtype="<u2", axes="tyx", shape={"y": 7, "x": 11})
    sidecar = inner / ("movie.npy.json" if npy else "movie.bin.json")
    sidecar.write_text(json.dumps(content))
    for reader in (None, "npy" if npy else "memmap"):
        outcome = _run(fuzz_session, inner, sidecar, reader)
        assert outcome.opened_outside == [], outcome.opened_outside
        message = _refused(outcome, {sidecar.name})
        assert outcome.error.name == "CorruptFileError" and "field 'data'" in message, message
