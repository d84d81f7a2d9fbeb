"""``ROICORE_PLUGINS=`` (set, empty): roicore runs with no third-party plugin code imported at all.

"Plugin code" is every module of every distribution that declares a
``roicore.plugins`` entry point (the installed roicore-memmap, -caiman,
-sima and fake ones), found from the distributions' metadata, not from a
hand-written list. Fake plugins also leave a marker file when any of their
modules is imported, which catches an import even in a process whose
``sys.modules`` the test cannot see (the CLI).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakeplugins import make_plugin, run_process

MARKING_ENTRY = '''
from pathlib import Path
Path(__file__).with_name("IMPORTED-" + __name__).touch()
import roicore
from roicore.registry.specs import ReaderSpec

@roicore.hookimpl
def roicore_readers():
    return [ReaderSpec(id="{id}", kind="imaging", reader="{package}_reader:Reader", sniff="{package}_reader:sniff",
                       suffixes=(".npy", ".fake"))]
'''

#: Runs in the child: records every attempted import of a plugin distribution's top-level module,
#: including failed ones, by a meta-path finder installed before roicore is imported.
WATCH = '''
import atexit, json, os, sys
import importlib_metadata as metadata

def plugin_modules():
    names = set()
    for dist in metadata.distributions():
        try:
            points = [ep for ep in dist.entry_points if ep.group == "roicore.plugins"]
        except Exception:
            continue
        if not points:
            continue
        names.update(ep.value.split(":")[0].split(".")[0] for ep in points)
        top = dist.read_text("top_level.txt") or ""
        names.update(line.strip() for line in top.splitlines() if line.strip())
    return names

WATCHED = plugin_modules()
ATTEMPTS = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WATCHED:
            ATTEMPTS.append(name)
        return None

sys.meta_path.insert(0, Watch())

def report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in WATCHED)
    with open(os.environ["WATCH_REPORT"], "w") as handle:
        json.dump({"watched": sorted(WATCHED), "attempted": sorted(set(ATTEMPTS)), "loaded": loaded}, handle)

atexit.register(report)
'''

USE_ROICORE = '''
import roicore, numpy
statuses = {r.name: r.status for r in roicore.plugins()}
counts = [len(roicore.readers()), len(roicore.writers()), len(roicore.methods())]
try:
    roicore.open("movie.npy")
    outcome = "opened"
except ValueError as exc:  # NoReaderFoundError, or the npy reader asking for a rate
    outcome = str(exc)
try:
    roicore.write(roicore.NumpyImagingExtractor(numpy.zeros((2, 3, 4), "uint16"), 10.0), "out.npy")
    written = "written"
except ValueError as exc:
    written = str(exc)
print(json.dumps({"statuses": statuses, "counts": counts, "open": outcome, "write": written}))
'''


@pytest.fixture
def site(tmp_path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("fake-alpha", "fake-beta"):
        package = name.replace("-", "_")
        make_plugin(folder, name, entry_source=MARKING_ENTRY.format(id=name, package=package))
    np.save(folder / "movie.npy", np.zeros((3, 4, 5), np.uint16))
    return folder


def _watched_run(site: Path, args: list[str], report: Path) -> tuple[object, dict]:
    script = site / "watched.py"
    script.write_text(WATCH + "\nimport runpy\nsys.argv = sys.argv[1:]\n"
                      "runpy.run_path(sys.argv[0], run_name='__main__') if sys.argv[0].endswith('.py') "
                      "else runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n")
    done = run_process(site, [str(script), *args], {"ROICORE_PLUGINS": "", "WATCH_REPORT": str(report)}, timeout=60)
    return done, json.loads(report.read_text())


def test_empty_allow_list_imports_no_plugin_code_through_the_api(site, tmp_path):
    user = site / "use.py"
    user.write_text("import json\n" + USE_ROICORE)
    done, watch = _watched_run(site, [str(user)], tmp_path / "api.json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    # the installed plugins and the fakes are all watched, found from metadata
    assert {"roicore_memmap", "roicore_caiman", "roicore_sima", "fake_alpha_plugin", "fake_beta_plugin"} <= set(
        watch["watched"]
    )
    assert watch["attempted"] == [] and watch["loaded"] == []
    assert not list(site.glob("IMPORTED-*"))
    assert set(result["statuses"].values()) == {"not-allowed"}
    assert {"roicore-memmap", "roicore-caiman", "roicore-sima", "fake-alpha", "fake-beta"} <= set(result["statuses"])
    assert result["counts"] == [0, 0, 0]
    assert "roicore-memmap" in result["open"] and "not-allowed" in result["open"]
    assert "none installed" in result["write"] or "no writer" in result["write"]
    print(f"\n{len(watch['watched'])} plugin top-level modules watched; 0 imported")


@pytest.mark.parametrize("command", [["plugins"], ["formats"], ["explain", "movie.npy"], ["check", "--list-checks"]])
def test_empty_allow_list_imports_no_plugin_code_through_the_cli(site, tmp_path, command):
    done, watch = _watched_run(site, ["roicore", *command], tmp_path / "cli.json")
    assert done.returncode == 0, done.stderr
    assert watch["attempted"] == [] and watch["loaded"] == [], watch
    assert not list(site.glob("IMPORTED-*"))
    if command == ["plugins"]:
        assert "fake-alpha 1.0: not-allowed" in done.stdout and "roicore-memmap 0.1.0: not-allowed" in done.stdout


def test_the_marker_and_the_watch_do_see_imports_without_the_allow_list(site, tmp_path):
    """The same run with the variable unset imports the plugins: the checks above can fail."""
    user = site / "use.py"
    user.write_text("import json\n" + USE_ROICORE)
    script = site / "watched.py"
    script.write_text(WATCH + "\nimport runpy\nrunpy.run_path(sys.argv[1], run_name='__main__')\n")
    report = tmp_path / "unset.json"
    done = run_process(site, [str(script), str(user)], {"WATCH_REPORT": str(report)}, timeout=60)
    assert done.returncode == 0, done.stderr
    watch = json.loads(report.read_text())
    assert "roicore_memmap" in watch["loaded"] and "fake_alpha_plugin" in watch["attempted"]
    markers = sorted(p.name for p in site.glob("IMPORTED-*"))
    assert markers == ["IMPORTED-fake_alpha_plugin", "IMPORTED-fake_beta_plugin"]


def test_in_process_plugins_still_work_with_an_empty_allow_list(site):
    done = run_process(site, ["-c", """
import json, roicore
from roicore.registry.specs import ReaderSpec

class Lab:
    @roicore.hookimpl
    def roicore_readers(self):
        return [ReaderSpec(id="lab", kind="imaging", reader="x:y", suffixes=(".lab",))]

roicore.register(Lab(), name="lab")
print(json.dumps([c.qualified_id for c in roicore.readers()]))
"""], {"ROICORE_PLUGINS": ""}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["lab:lab"]

