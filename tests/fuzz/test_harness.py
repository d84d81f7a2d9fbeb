"""The harness itself: it must notice crashes, hangs, forbidden errors, unnamed files, wrong shapes and unpickling.

Without these, a harness that silently judged everything "fine" would pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from fuzz.cases import FuzzSession
from fuzz.judge import inconsistencies, judge
from fuzz.worker import ErrorInfo, Outcome, Reading, Request, Worker


def _reading(series_shape: tuple[int, ...], n: int = 4) -> Reading:
    meta = {"num_samples": n, "image_shape": (7, 11), "planes": 1, "volumetric": False, "dtype": "<u2",
            "shape": (n, 7, 11), "sampling_frequency": 5.0, "sample_indices": [0, n - 1, n // 2, -1],
            "window": (n // 3, n - n // 3)}
    series = np.zeros(series_shape, dtype="<u2")
    arrays = {"series": series, "timestamps": np.arange(n) / 5.0, "samples": series[[0, n - 1, n // 2, -1]],
              "window": series[n // 3 : n - n // 3]}
    return Reading("imaging", "plugin:reader", meta, arrays)


def _error(name: str, message: str, roicore: bool = False) -> Outcome:
    return Outcome("raised", error=ErrorInfo(f"builtins.{name}", roicore, message, ""))


def test_judge_accepts_a_consistent_read_and_allowed_errors():
    assert judge(Outcome("read", reading=_reading((4, 7, 11))), names={"x.bin"}).ok
    assert judge(_error("CorruptFileError", "x.bin: truncated", roicore=True), names={"x.bin"}).ok
    assert judge(_error("PermissionError", "[Errno 13] Permission denied: '/d/x.bin'"), names={"x.bin"}).ok


def test_judge_flags_a_silent_wrong_shape():
    assert inconsistencies(_reading((4, 11, 7)))
    assert not judge(Outcome("read", reading=_reading((4, 11, 7))), names={"x.bin"}).ok


def test_judge_flags_a_payload_change_that_changes_shapes():
    baseline = Outcome("read", reading=_reading((4, 7, 11)))
    other = _reading((3, 7, 11), n=3)
    assert judge(Outcome("read", reading=other), names={"x"}, baseline=baseline).ok
    assert not judge(Outcome("read", reading=other), names={"x"}, baseline=baseline, payload_only=True).ok


def test_judge_flags_forbidden_types_and_unnamed_files():
    assert not judge(_error("ValueError", "x.bin: bad"), names={"x.bin"}).ok
    assert not judge(_error("KeyError", "x.bin: no channel named 'g'"), names={"x.bin"}).ok
    assert judge(_error("KeyError", "x.bin: no channel named 'g'"), names={"x.bin"}, selects_channel=True).ok
    assert not judge(_error("CorruptFileError", "truncated", roicore=True), names={"x.bin"}).ok
    unreadable = _error("CorruptFileError", "x.bin: cannot map", roicore=True)
    assert not judge(unreadable, names={"x.bin"}, expected_errors=("PermissionError",)).ok
    assert not judge(Outcome("read", reading=_reading((4, 7, 11)), unpickled=["numpy._reconstruct"]), names={"x"}).ok
    assert not judge(Outcome("read", reading=_reading((4, 7, 11)), opened_outside=["/etc/hostname"]), names={"x"}).ok


def _crashes_and_recovers(worker: Worker, action: str, folder: Path) -> None:
    outcome = worker.run(Request(str(folder / "none"), None, {}, str(folder), action=action))
    assert outcome.status == action, outcome
    assert not judge(outcome, names=set()).ok
    after = worker.run(Request(str(folder / "missing.bin"), None, {}, str(folder)))
    assert after.status == "raised" and after.error.name == "FileNotFoundError"
    if action == "crash":
        assert "SIGSEGV" in outcome.detail


def test_worker_reports_a_crash_then_recovers(tmp_path: Path, fuzz_session: FuzzSession):
    _crashes_and_recovers(fuzz_session.worker, "crash", tmp_path)


def test_worker_reports_a_hang_then_recovers(tmp_path: Path):
    worker = Worker(timeout=1.0)
    try:
        _crashes_and_recovers(worker, "hang", tmp_path)
    finally:
        worker.close()


def test_worker_sees_files_opened_outside_the_case_folder(tmp_path: Path, fuzz_session: FuzzSession):
    inner = tmp_path / "inner"
    inner.mkdir()
    outside = tmp_path / "outside.raw"
    outside.write_bytes(np.zeros((2, 7, 11), "<u2").tobytes())
    kwargs = {"structure": {"rows": 7, "columns": 11, "axes": "tyx"}, "dtype": "<u2", "sampling_frequency": 1.0}
    outcome = fuzz_session.worker.run(Request(str(outside), "memmap", kwargs, str(inner)))
    assert outcome.status == "read" and str(outside) in outcome.opened_outside


def test_watch_sees_unpickling(tmp_path: Path):
    """The audit hook the worker installs records an unpickled object array."""
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code = (
        "import json, sys, numpy as np\n"
        "from fuzz.worker import _Watch\n"
        "watch = _Watch(); sys.addaudithook(watch); watch.active = True\n"
        f"np.load({str(path)!r}, allow_pickle=True)\n"
        "print(json.dumps(watch.unpickled))\n"
    )
    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]), result.stdout
