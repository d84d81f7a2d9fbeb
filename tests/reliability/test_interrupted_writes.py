"""Interrupted writes: a writer process killed with SIGKILL never leaves a partial file where data was.

Each case starts a subprocess that builds a ~20 MB source (a video for the
memmap writer, which writes ``movie.bin`` + sidecar ``movie.bin.json``;
traces for the CaImAn HDF5 writer), says "ready", and on "go" calls
``roicore.write``. The parent kills it with SIGKILL:

* after seeded random delays spread over the write's duration (measured on a
  reference write in this process), so kills land while the data streams,
  while files are flushed, and after the commit;
* at exact points of the commit (the subprocess kills itself around the N-th
  ``os.replace`` / journal removal), above all between the two renames of a
  data + sidecar pair, which a random delay almost never hits.

After each kill, on disk: every final file is absent, byte-identical to the
previous complete file, or the complete new one (never partial); a data file
and its sidecar of different generations exist only with the commit journal
that finishes them; every other file has a recognisable temporary name and
``roicore.open`` refuses it. Through ``roicore.open``: the target is absent
(first write), the previous file, or the new one, as a consistent pair. The
next write removes every temporary file.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakeplugins import site_environment
from reliability_support import imaging_source, segmentation_source, source_summary

import roicore
from roicore.errors import NoReaderFoundError
from roicore.memory import NumpySegmentationExtractor
from roicore.writing import is_temporary_name

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

HERE = Path(__file__).resolve().parent
TEMPORARY = re.compile(r"^\.(?P<final>.+)\.roicore-tmp-(?:[0-9a-f]{8}|journal)$")
RANDOM_KILLS = 5  # per scenario
SEED = 20240611


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    format: str
    filename: str
    companions: tuple[str, ...]
    overwrite: bool
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    #: kill points inside the commit (see reliability_support._install_kill_hook)
    hooks: tuple[str, ...] = ()

    @property
    def finals(self) -> tuple[str, ...]:
        return (self.filename, *self.companions)


# memmap commit of a pair: replace 1-2 put the two journals in place, 3 the data, 4 the sidecar;
# unlink 1-2 remove the journals
PAIR_HOOKS = ("replace:1:before", "replace:1:after", "replace:3:before", "replace:3:after", "replace:4:after",
              "unlink:1:after")
SINGLE_HOOKS = ("replace:1:before", "replace:1:after")
SCENARIOS = [
    Scenario("memmap-first", "imaging", "memmap", "movie.bin", ("movie.bin.json",), False,
             {"chunk_frames": 64}, ("replace:1:before", "replace:1:after", "replace:3:after")),
    Scenario("memmap-overwrite", "imaging", "memmap", "movie.bin", ("movie.bin.json",), True,
             {"chunk_frames": 64}, PAIR_HOOKS),
    Scenario("caiman-first", "segmentation", "caiman", "results.hdf5", (), False, {}, SINGLE_HOOKS),
    Scenario("caiman-overwrite", "segmentation", "caiman", "results.hdf5", (), True, {}, SINGLE_HOOKS),
]


@dataclass
class References:
    """The complete files of both generations, their summaries, and how long a write takes here."""

    old: dict[str, bytes]
    new: dict[str, bytes]
    old_summary: dict[str, Any]
    new_summary: dict[str, Any]
    seconds: float


def _source(scenario: Scenario, generation: int) -> Any:
    return (imaging_source if scenario.kind == "imaging" else segmentation_source)(generation)


def _references(scenario: Scenario, folder: Path) -> References:
    files: list[dict[str, bytes]] = []
    seconds = 0.0
    for generation in (0, 1):
        target = folder / f"gen{generation}"
        target.mkdir()
        source = _source(scenario, generation)
        started = time.perf_counter()
        roicore.write(source, target / scenario.filename, format=scenario.format, **scenario.options)
        seconds = time.perf_counter() - started
        files.append({name: (target / name).read_bytes() for name in scenario.finals})
    return References(files[0], files[1], source_summary(_source(scenario, 0)), source_summary(_source(scenario, 1)),
                      seconds)


def _start(scenario: Scenario, folder: Path, hook: str | None) -> subprocess.Popen:
    config = {"kind": scenario.kind, "generation": 1, "target": str(folder / scenario.filename),
              "format": scenario.format, "overwrite": scenario.overwrite, "options": scenario.options, "hook": hook}
    return subprocess.Popen(
        [sys.executable, "-c", "import reliability_support as r; r.write_child()", json.dumps(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=site_environment(HERE), cwd=folder.parent,
    )


def _prepare(scenario: Scenario, folder: Path, references: References) -> None:
    folder.mkdir(exist_ok=True)
    if scenario.overwrite:
        for name, content in references.old.items():
            (folder / name).write_bytes(content)


def _generation(name: str, content: bytes | None, references: References, path: Path) -> int | None:
    """0 (previous complete file), 1 (new complete file) or None (absent); fails for anything else."""
    if content is None:
        return None
    if content == references.old.get(name):
        return 0
    if content == references.new[name]:
        return 1
    pytest.fail(f"{path} is neither absent, the previous file, nor the complete new one ({len(content)} bytes)")


def _check_on_disk(scenario: Scenario, folder: Path, references: References) -> tuple[dict[str, int | None], list[str]]:
    names = sorted(os.listdir(folder))
    temporaries = [name for name in names if name not in scenario.finals]
    for name in temporaries:
        match = TEMPORARY.match(name)
        assert match and match["final"] in scenario.finals and is_temporary_name(name), f"stray file {name}"
    generations = {}
    for name in scenario.finals:
        path = folder / name
        generations[name] = _generation(name, path.read_bytes() if path.exists() else None, references, path)
    journals = [name for name in temporaries if name.endswith("journal")]
    if len(set(generations.values())) > 1:
        assert journals, f"{scenario.name}: files of different writes without a commit journal: {generations}"
    return generations, temporaries


def _check_temporaries_are_not_data(folder: Path, temporaries: list[str]) -> None:
    for name in temporaries:
        with pytest.raises(NoReaderFoundError, match="temporary file of an interrupted roicore.write"):
            roicore.open(folder / name)
        assert roicore.explain(folder / name).chosen is None
    with pytest.raises(NoReaderFoundError):
        roicore.open(folder)


def _check_through_roicore(scenario: Scenario, folder: Path, references: References) -> str:
    """Open the target (finishing a decided commit); returns which generation it holds."""
    target = folder / scenario.filename
    if not target.exists() and not any(name.endswith("journal") for name in os.listdir(folder)):
        assert not scenario.overwrite, "the previous file vanished"
        assert not any((folder / name).exists() for name in scenario.companions), "a companion without its data"
        with pytest.raises(FileNotFoundError):
            roicore.open(target)
        return "absent"
    with roicore.open(target) as extractor:
        summary = source_summary(extractor)
    assert summary in (references.old_summary, references.new_summary), f"{target} reads back neither write"
    generations = {name: _generation(name, (folder / name).read_bytes(), references, folder / name)
                   for name in scenario.finals}
    assert len(set(generations.values())) == 1, f"after opening, the pair is still mixed: {generations}"
    assert not [name for name in os.listdir(folder) if name.endswith("journal")]
    return "previous" if summary == references.old_summary else "new"


def _small_source(scenario: Scenario) -> Any:
    if scenario.kind == "imaging":
        return roicore.NumpyImagingExtractor(np.arange(2 * 6 * 5, dtype=np.uint16).reshape(2, 6, 5), 7.0)
    return NumpySegmentationExtractor(np.eye(30).reshape(5, 6, 30)[:, :, :3] > 0, 7.0,
                                      traces={"raw": np.ones((4, 3), np.float32)})


def _check_next_write_cleans_up(scenario: Scenario, folder: Path) -> None:
    source = _small_source(scenario)
    roicore.write(source, folder / scenario.filename, format=scenario.format, overwrite=True)
    assert sorted(os.listdir(folder)) == sorted(scenario.finals), "the next write left temporaries behind"
    with roicore.open(folder / scenario.filename) as extractor:
        assert source_summary(extractor) == source_summary(source)


def _run_case(scenario: Scenario, folder: Path, child: subprocess.Popen, references: References,
              kill: float | str | None) -> tuple[str, str, float]:
    """Let a ready child write; kill it after ``kill`` seconds, or let its hook kill it, or (None) let it finish.

    Returns what was on disk, what ``roicore.open`` read, and how long the child ran after "go".
    """
    _prepare(scenario, folder, references)
    started = time.perf_counter()
    child.stdin.write("go\n")
    child.stdin.flush()
    if isinstance(kill, float):
        time.sleep(kill)
        child.kill()
    try:
        child.wait(timeout=60)
    finally:
        child.kill()
    seconds = time.perf_counter() - started
    stderr = child.stderr.read()
    for stream in (child.stdin, child.stdout, child.stderr):
        stream.close()
    completed = child.returncode == 0
    if kill is None:
        assert completed, stderr
    elif isinstance(kill, str):
        assert child.returncode == -signal.SIGKILL, f"hook {kill} never fired:\n{stderr}"
    else:
        assert completed or child.returncode == -signal.SIGKILL, stderr
    generations, temporaries = _check_on_disk(scenario, folder, references)
    disk = "decided" if any(t.endswith("journal") for t in temporaries) else (
        "committed" if set(generations.values()) == {1} else "not committed")
    _check_temporaries_are_not_data(folder, temporaries)
    read = _check_through_roicore(scenario, folder, references)
    if completed:
        assert read == "new"
    _check_next_write_cleans_up(scenario, folder)
    return disk, read, seconds


def _hook(kill: float | str | None) -> str | None:
    return kill if isinstance(kill, str) and kill != "random" else None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sigkill_at_random_points_and_inside_the_commit(scenario, tmp_path):
    references = _references(scenario, tmp_path)
    # first a write that completes (it times the write in a child), then random kills over that time
    plan: list[float | str | None] = [None, *["random"] * RANDOM_KILLS, *scenario.hooks]
    rng = random.Random(f"{SEED}-{scenario.name}")
    outcomes: Counter[tuple[str, str]] = Counter()
    child = _start(scenario, tmp_path / "case0", None)
    for index in range(len(plan)):
        folder = tmp_path / f"case{index}"
        ready = child.stdout.readline()
        assert ready == "ready\n", child.stderr.read()
        following = None
        if 0 < index < len(plan) - 1:  # the next child starts up while this one writes (not while timing one)
            following = _start(scenario, tmp_path / f"case{index + 1}", _hook(plan[index + 1]))
        try:
            disk, read, seconds = _run_case(scenario, folder, child, references, plan[index])
        except BaseException:
            if following is not None:
                following.kill()
                following.wait()
            raise
        if index == 0:
            write_seconds = seconds
            delays = iter(sorted(rng.uniform(0.0, 1.2 * seconds) for _ in range(RANDOM_KILLS)))
            plan = [next(delays) if kill == "random" else kill for kill in plan]
        kill = plan[index]
        label = "none" if kill is None else f"{kill:.3f} s" if isinstance(kill, float) else kill
        outcomes[(disk, read)] += 1
        print(f"\n{scenario.name}: kill at {label}: on disk {disk}, roicore.open reads {read}", end="")
        shutil.rmtree(folder)
        child = following if index > 0 else _start(scenario, tmp_path / "case1", _hook(plan[1]))
    print(f"\n{scenario.name}: {len(plan)} writes: 1 complete ({write_seconds:.2f} s), {RANDOM_KILLS} killed at "
          f"random, {len(scenario.hooks)} killed inside the commit: {dict(outcomes)}")
    # the hooks make sure each state was reached at least once, whatever the random delays hit
    assert outcomes[("not committed", "absent" if not scenario.overwrite else "previous")] >= 1
    assert outcomes[("committed", "new")] >= 1
    if len(scenario.finals) > 1:
        assert outcomes[("decided", "new")] >= len(scenario.hooks) - 1


def test_stale_temporaries_of_another_target_survive_a_write_to_a_glob_like_name(tmp_path):
    """Clean-up matches the target's own name literally: ``movie[1].bin`` is not a pattern for ``movie1.bin``."""
    other = tmp_path / ".movie1.bin.roicore-tmp-deadbeef"  # maybe being written right now by another process
    other.write_bytes(b"someone else's data")
    own = tmp_path / ".movie[1].bin.roicore-tmp-0badcafe"
    own.write_bytes(b"left by a killed write")
    roicore.write(roicore.NumpyImagingExtractor(np.zeros((2, 3, 4), np.uint16), 5.0), tmp_path / "movie[1].bin")
    assert other.exists() and not own.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other.name, "movie[1].bin", "movie[1].bin.json"])


def test_a_decided_commit_is_finished_by_whichever_file_is_opened_first(tmp_path, monkeypatch):
    """The journal sits next to each file of the pair, so opening the sidecar finishes the commit too."""
    old = roicore.NumpyImagingExtractor(np.zeros((2, 3, 4), np.uint16), 5.0)
    new = roicore.NumpyImagingExtractor(np.ones((3, 4, 5), np.uint16), 6.0)
    target = tmp_path / "movie.bin"
    roicore.write(old, target)
    replaced = []
    real_replace = os.replace

    def crash_after_data(source: Any, destination: Any) -> None:
        real_replace(source, destination)
        replaced.append(Path(destination).name)
        if Path(destination).name == "movie.bin":
            raise KeyboardInterrupt  # the process "dies" between the two renames

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash_after_data)
        with pytest.raises(KeyboardInterrupt):
            roicore.write(new, target, overwrite=True)
    assert "movie.bin" in replaced and "movie.bin.json" not in replaced
    journals = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("journal"))
    assert journals == [".movie.bin.json.roicore-tmp-journal", ".movie.bin.roicore-tmp-journal"]
    with roicore.open(tmp_path / "movie.bin.json") as reopened:
        assert reopened.shape == (3, 4, 5) and reopened.get_sampling_frequency() == 6.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.bin", "movie.bin.json"]
