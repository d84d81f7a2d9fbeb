"""Plugin faults: each broken plugin is isolated, reported once with its name, and only where it matters.

The faulty plugins are real distributions (dist-info + entry points) in a
temporary site folder, run in fresh interpreters next to the installed
plugins (roicore-memmap reads the ``.npy`` file used as "another format").
The sniff time limit is checked in process too, with in-process plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fakeplugins import make_plugin, run_process, run_python

import roicore
from roicore.errors import NoReaderFoundError, PluginError
from roicore.registry import isolated
from roicore.registry.specs import ReaderSpec, Support

TIMEOUT = 0.5  # ROICORE_SNIFF_TIMEOUT in the subprocesses: long enough for a cold import, short for the tests

SNIFF_READER = '''
import time
import numpy as np
from roicore.imaging import ImagingExtractor
from roicore.registry.specs import Support

def sniff(path, header):
    {body}

class Reader(ImagingExtractor):
    def __init__(self, path):
        self._path = path
    def get_image_shape(self):
        return (2, 3)
    def get_num_samples(self):
        return 4
    def get_sampling_frequency(self):
        return 10.0
    def get_dtype(self):
        return np.dtype("uint8")
    def _read_series(self, start, end):
        return np.zeros((end - start, 2, 3), dtype="uint8")
'''


def hook_source(body: str, *, imports: str = "") -> str:
    return f"import roicore\nfrom roicore.registry.specs import ReaderSpec, WriterSpec\n{imports}\n" \
           f"@roicore.hookimpl\ndef roicore_readers():\n{body}\n"


def sniff_plugin(site: Path, name: str, body: str, suffixes: tuple[str, ...], priority: int) -> None:
    """A plugin whose reader's sniff runs ``body`` (e.g. raises or sleeps)."""
    package = name.replace("-", "_")
    make_plugin(site, name, reader_source=SNIFF_READER.format(body=body), entry_source=hook_source(
        f"    return [ReaderSpec(id='{name}', kind='imaging', reader='{package}_reader:Reader', "
        f"sniff='{package}_reader:sniff', suffixes={suffixes!r}, priority={priority})]"))


#: plugin name -> (expected status, text its error must contain); every one of them is broken
BROKEN = {
    "fake-import": ("import-error", "no_such_module_anywhere"),
    "fake-exit": ("import-error", "plugin gave up"),
    "fake-hook": ("hook-error", "hook exploded"),
    "fake-generator": ("hook-error", "generator exploded"),
    "fake-invalid": ("invalid-spec", "must return a list of ReaderSpec"),
    "fake-wrongtype": ("invalid-spec", "got WriterSpec"),
    "fake-badid": ("hook-error", "lowercase identifier"),
    "fake-badmeta": ("invalid-metadata", "entry_points.txt cannot be parsed"),
}
#: readers on "both.shared", best rank first: all fail but the last, a good one
SHARED_FAULTS = {
    "fake-sniff-hang": "timed out",
    "fake-sniff-exit": "SystemExit: sniff gave up",
    "fake-sniff-raise": "RuntimeError: sniff exploded",
    "fake-badref": "ModuleNotFoundError",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Every kind of broken plugin, one good plugin, and files of each format."""
    site = tmp_path_factory.mktemp("faulty-site")
    make_plugin(site, "fake-good", suffixes=(".fake",), magic=b"GOOD")
    sniff_plugin(site, "fake-shared", "return Support.yes('a good reader of .shared files')", (".shared",), 0)
    make_plugin(site, "fake-import", entry_source="import no_such_module_anywhere\n")
    make_plugin(site, "fake-exit", entry_source="raise SystemExit('plugin gave up')\n")
    make_plugin(site, "fake-hook", entry_source=hook_source("    raise RuntimeError('hook exploded')"))
    make_plugin(site, "fake-generator", entry_source=hook_source(
        "    yield ReaderSpec(id='gen', kind='imaging', reader='x:y', suffixes=('.gen',))\n"
        "    raise RuntimeError('generator exploded')"))
    make_plugin(site, "fake-invalid", entry_source=hook_source("    return 'not a list of specs'"))
    make_plugin(site, "fake-wrongtype", entry_source=hook_source(
        "    return [WriterSpec(id='w', kind='imaging', writer='x:y')]"))
    make_plugin(site, "fake-badid", entry_source=hook_source(
        "    return [ReaderSpec(id='Bad Id', kind='imaging', reader='x:y', suffixes=('.x',))]"))
    make_plugin(site, "fake-badmeta", entry_points_text="[roicore.plugins]\nthis line has no equals sign\n")
    sniff_plugin(site, "fake-sniff-hang", "time.sleep(3600)", (".shared", ".shang", ".npy"), 5)
    sniff_plugin(site, "fake-sniff-exit", "raise SystemExit('sniff gave up')", (".shared",), 4)
    sniff_plugin(site, "fake-sniff-raise", "raise RuntimeError('sniff exploded')", (".shared",), 3)
    make_plugin(site, "fake-badref", entry_source=hook_source(
        "    return [ReaderSpec(id='fake-badref', kind='imaging', reader='fake_badref_gone:Reader', "
        "sniff='fake_badref_gone:sniff', suffixes=('.shared',), priority=2)]"))
    make_plugin(site, "fake-dup-a", reader_id="dup", suffixes=(".dup",))
    make_plugin(site, "fake-dup-b", reader_id="dup", suffixes=(".dup",))
    (site / "data.fake").write_bytes(b"GOOD" + bytes(20))
    (site / "both.shared").write_bytes(bytes(24))
    (site / "only.shang").write_bytes(bytes(24))
    (site / "x.dup").write_bytes(b"FAKE" + bytes(20))
    (site / "unknown.xyz").write_bytes(b"hello")
    np.save(site / "movie.npy", np.arange(60, dtype=np.uint16).reshape(5, 4, 3))
    return site


ENV = {"ROICORE_SNIFF_TIMEOUT": str(TIMEOUT)}


def test_open_of_other_formats_is_silent_and_imports_no_faulty_reader(site):
    """Unrelated opens neither warn nor print, and never run a faulty plugin's reader code."""
    done = run_process(site, ["-W", "always", "-c", """
import json, sys, warnings
import roicore
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with roicore.open("data.fake") as good:
        good_shape = list(good.shape)
    with roicore.open("movie.npy", sampling_frequency=10.0) as movie:
        total = int(movie.get_series().sum())
        chosen = movie.source.reader
print(json.dumps({"good": good_shape, "npy": [chosen, total], "warnings": [str(w.message) for w in caught],
                  "readers_imported": sorted(m for m in sys.modules if m.startswith("fake_")
                                             and m.endswith("_reader"))}))
"""], ENV, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "an unrelated open printed something:\n" + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, "an unrelated open printed something:\n" + done.stdout
    result = json.loads(lines[0])
    assert result["good"] == [4, 2, 3]
    assert result["npy"] == ["npy", int(np.arange(60).sum())]
    assert result["warnings"] == []
    assert result["readers_imported"] == ["fake_good_reader"]  # the sniff of the only candidate asked


def test_plugins_lists_each_fault_once_with_the_plugin_named(site):
    records = run_python(site, """
import json, roicore
print(json.dumps({r.name: {"status": r.status, "errors": r.errors, "ids": [c.qualified_id + "/" + c.status
                                                                            for c in r.contributions]}
                  for r in roicore.plugins()}))
""", ENV, timeout=60)
    for name, (status, text) in BROKEN.items():
        assert records[name]["status"] == status, (name, records[name])
        assert sum(text in error for error in records[name]["errors"]) == 1, (name, records[name]["errors"])
        assert records[name]["ids"] == []
    for name in ("fake-good", "fake-shared", "fake-sniff-hang", "fake-sniff-raise", "fake-sniff-exit", "fake-badref",
                 "roicore-memmap", "roicore-caiman", "roicore-sima"):
        assert records[name]["status"] == "active" and records[name]["errors"] == [], (name, records[name])
    for name, other in (("fake-dup-a", "fake-dup-b"), ("fake-dup-b", "fake-dup-a")):
        assert records[name]["ids"] == [f"{name}:dup/conflict"]
        assert len(records[name]["errors"]) == 1 and other in records[name]["errors"][0]
    print(f"\n{len(BROKEN)} broken plugins, 4 faulty sniffs, 1 conflicting pair; 3 installed plugins unaffected")


def test_cli_plugins_shows_each_error_once_and_nothing_on_stderr(site):
    done = run_process(site, ["-m", "roicore", "plugins"], ENV, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for name, (status, text) in BROKEN.items():
        assert f"{name} 1.0: {status}" in done.stdout
        assert done.stdout.count(text) == 1, (text, done.stdout)
    assert done.stdout.count("is also registered by") == 2  # once under each plugin of the pair
    assert "roicore-memmap 0.1.0: active" in done.stdout


def test_detection_survives_hanging_raising_and_exiting_sniffs(site):
    result = run_python(site, """
import json, os, time, warnings
import roicore
from roicore.errors import NoReaderFoundError, PluginError
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    started = time.perf_counter()
    first = roicore.open("both.shared")
    out["first"] = [first.source.plugin, time.perf_counter() - started]
    started = time.perf_counter()
    second = roicore.explain("both.shared")
    out["second_seconds"] = time.perf_counter() - started
    out["verdicts"] = {c.reader.split(":")[0]: [c.verdict, c.reason] for c in second.candidates}
    out["chosen"] = second.chosen
    for name in ("only.shang", "x.dup", "unknown.xyz"):
        try:
            roicore.open(name)
        except NoReaderFoundError as exc:
            out[name] = str(exc)
    out["explain unknown.xyz"] = str(roicore.explain("unknown.xyz"))
    out["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
os.environ["ROICORE_STRICT_PLUGINS"] = "1"
try:
    roicore.open("both.shared")
except PluginError as exc:
    out["strict"] = [exc.plugin, str(exc)]
print(json.dumps(out))
""", ENV, timeout=60)
    plugin, seconds = result["first"]
    assert plugin == "fake-shared"
    assert TIMEOUT <= seconds < TIMEOUT + 8, f"the hanging sniff held detection {seconds:.1f} s"
    assert result["second_seconds"] < TIMEOUT, "a still-running sniff was waited for again"
    assert result["chosen"] == "fake-shared:fake-shared"
    for name, text in SHARED_FAULTS.items():
        verdict, reason = result["verdicts"][name]
        assert verdict == "error" and (text in reason or "still running" in reason), (name, reason)
    # the timeout is reported once: a warning naming the plugin, not repeated by the later opens
    assert len(result["warnings"]) == 1, result["warnings"]
    category, message = result["warnings"][0]
    assert category == "RuntimeWarning" and "fake-sniff-hang" in message and "once per process" in message
    # where it matters: the error for a file only the hanging reader would read says why, naming it
    assert "fake-sniff-hang:fake-sniff-hang" in result["only.shang"] and "sniff" in result["only.shang"]
    dup = result["x.dup"]
    assert dup.count("fake-dup-a:dup would match but is in conflict") == 1
    assert dup.count("fake-dup-b:dup would match but is in conflict") == 1
    for text in (result["unknown.xyz"], result["explain unknown.xyz"]):
        for name in BROKEN:  # plugins that broke before declaring readers may read this file
            assert text.count(f"plugin {name} is broken") == 1, (name, text)
        for name in ("fake-good", "fake-sniff-hang", "fake-dup-a", "roicore-memmap"):
            assert f"plugin {name} is" not in text
    assert result["strict"][0] == "fake-sniff-hang"


def test_conformance_run_of_other_plugins_keeps_working(site, tmp_path):
    """`roicore check` of the installed plugins passes with the broken plugins beside them.

    Without fake-badmeta: hypothesis, which the kit imports, scans every entry
    point at import and itself dies on a malformed entry_points.txt (roicore does not).
    """
    checked = tmp_path / "site"
    shutil.copytree(site, checked, ignore=shutil.ignore_patterns("fake_badmeta-*"))
    done = run_process(checked, ["-m", "roicore", "check", "roicore-memmap", "roicore-caiman",
                                 "--select", "registry.*", "--select", "detect.*"], ENV, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "roicore check passed" in done.stdout
    assert done.stderr == ""


# -- the sniff time limit, in process ------------------------------------------------------------------
class _Gate:
    """A sniff that blocks until released, so the test can end the 'hang' it starts."""

    released = threading.Event()
    calls: list[str] = []


def sniff_blocking(path, header):
    _Gate.calls.append(threading.current_thread().name)
    _Gate.released.wait(30)
    return Support.yes("released")


def sniff_fast(path, header):
    _Gate.calls.append(threading.current_thread().name)
    return Support.yes("fast")


def reader_plugin(name: str, sniff: str, priority: int):
    class Plugin:
        @roicore.hookimpl
        def roicore_readers(self):
            return [ReaderSpec(id=name, kind="imaging", reader="reliability_support:TinyReader",
                               sniff=f"{__name__}:{sniff}", suffixes=(".tiny",), priority=priority)]

    return Plugin()


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    from roicore.registry import detection

    monkeypatch.setenv("ROICORE_SNIFF_TIMEOUT", "0.3")
    monkeypatch.setattr(detection, "_warned_timeouts", set())  # "once per process": each test its own process
    _Gate.released.clear()
    _Gate.calls.clear()
    path = tmp_path / "movie.tiny"
    path.write_bytes(bytes(16))
    yield path
    _Gate.released.set()  # ends the blocked worker


def test_a_timed_out_sniff_is_skipped_until_it_returns(tiny):
    with isolated(reader_plugin("slow", "sniff_blocking", 5), reader_plugin("quick", "sniff_fast", 0),
                  names=["slow-plugin", "quick-plugin"]):
        started = time.perf_counter()
        with pytest.warns(RuntimeWarning, match="slow-plugin.*timed out"):
            assert roicore.open(tiny).source.reader == "quick"
        assert time.perf_counter() - started >= 0.3
        report = roicore.explain(tiny)
        slow = report.candidates[0]
        assert (slow.reader, slow.verdict, slow.timed_out) == ("slow-plugin:slow", "error", True)
        assert "still running" in slow.reason and "ROICORE_SNIFF_TIMEOUT" in slow.reason
        assert _Gate.calls.count("MainThread") == 0  # every sniff ran in a worker thread
        _Gate.released.set()
        deadline = time.monotonic() + 5
        while roicore.explain(tiny).candidates[0].verdict == "error" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert roicore.open(tiny).source.reader == "slow"  # asked again once its earlier call returned


def test_only_a_timed_out_candidate_means_no_reader_and_says_why(tiny):
    with isolated(reader_plugin("slow", "sniff_blocking", 0), names=["slow-plugin"]):
        with pytest.raises(NoReaderFoundError, match=r"slow-plugin:slow .*timed out: its sniff did not answer"):
            roicore.open(tiny)


def test_fast_sniffs_reuse_one_worker_thread_and_off_runs_inline(tiny, monkeypatch):
    def sniff_workers() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("roicore-sniff-")}

    with isolated(reader_plugin("quick", "sniff_fast", 0)):
        roicore.open(tiny)
        before = sniff_workers()
        for _ in range(200):
            roicore.open(tiny)
        assert len(sniff_workers() - before) == 0, "fast sniffs started new threads"
        assert set(_Gate.calls) <= before
        monkeypatch.setenv("ROICORE_SNIFF_TIMEOUT", "off")
        _Gate.calls.clear()
        roicore.open(tiny)
        assert _Gate.calls == ["MainThread"]
        monkeypatch.setenv("ROICORE_SNIFF_TIMEOUT", "soon")
        with pytest.warns(RuntimeWarning, match="ROICORE_SNIFF_TIMEOUT='soon'"):
            roicore.open(tiny)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_wait_for_the_parents_idle_workers(tiny):
    with isolated(reader_plugin("quick", "sniff_fast", 0)):
        roicore.open(tiny)  # leaves an idle worker thread, which a forked child does not have
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                code = 0 if roicore.explain(tiny).chosen == "Plugin:quick" else 1
            except BaseException:
                code = 2
            os._exit(code)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                break
            time.sleep(0.01)
        else:
            os.kill(child, 9)
            pytest.fail("the forked child hung in detection")
        assert os.waitstatus_to_exitcode(status) == 0
