"""Discovery from real entry points: isolation of broken plugins, allow/deny lists, strict mode, laziness."""

from __future__ import annotations

import pytest
from fakeplugins import make_plugin, run_process, run_python

LIST_PLUGINS = """
import json, roicore
records = {r.name: {"status": r.status, "errors": r.errors, "ids": [c.qualified_id + "/" + c.status for c in r.contributions]}
           for r in roicore.plugins() if r.name.startswith("fake")}
print(json.dumps(records))
"""


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


def test_good_plugin_is_discovered_with_version_and_contributions(site):
    make_plugin(site, "fake-good")
    records = run_python(site, LIST_PLUGINS)
    assert records["fake-good"] == {"status": "active", "errors": [], "ids": ["fake-good:fake-good/active"]}


def test_broken_plugins_are_isolated_and_the_rest_keeps_working(site):
    make_plugin(site, "fake-good", magic=b"GOOD")
    make_plugin(site, "fake-import", entry_source="import no_such_module_anywhere\n")
    make_plugin(site, "fake-raising", entry_source=(
        "import roicore\n@roicore.hookimpl\ndef roicore_readers():\n    raise RuntimeError('hook exploded')\n"))
    make_plugin(site, "fake-invalid", entry_source=(
        "import roicore\n@roicore.hookimpl\ndef roicore_readers():\n    return 'not a list of specs'\n"))
    make_plugin(site, "fake-badspec", entry_source=(
        "import roicore\nfrom roicore.registry.specs import ReaderSpec\n@roicore.hookimpl\ndef roicore_readers():\n"
        "    return [ReaderSpec(id='Bad Id', kind='imaging', reader='x:y', suffixes=('.x',))]\n"))
    (site / "data.fake").write_bytes(b"GOOD" + bytes(20))
    records = run_python(site, LIST_PLUGINS.replace("print(json.dumps(records))", """
opened = roicore.open("data.fake")
records["opened"] = {"reader": opened.source.reader, "plugin": opened.source.plugin, "shape": list(opened.shape)}
print(json.dumps(records))"""))
    assert records["fake-good"]["status"] == "active"
    assert records["fake-import"]["status"] == "import-error"
    assert "no_such_module_anywhere" in records["fake-import"]["errors"][0]
    assert records["fake-raising"]["status"] == "hook-error"
    assert "hook exploded" in records["fake-raising"]["errors"][0]
    assert records["fake-invalid"]["status"] == "invalid-spec"
    assert records["fake-badspec"]["status"] == "hook-error"
    assert "lowercase identifier" in records["fake-badspec"]["errors"][0]
    assert records["opened"] == {"reader": "fake-good", "plugin": "fake-good", "shape": [4, 2, 3]}


def test_a_plugin_built_for_another_core_is_reported_and_not_imported(site):
    import roicore

    make_plugin(site, "fake-current", magic=b"CURR", requires=("numpy>=1.24", f"roicore>={roicore.__version__},<9"))
    # imported, this entry module would fail loudly: the status must come from the metadata alone
    make_plugin(site, "fake-old", magic=b"OLDC", requires=("roicore>=0.1,<0.2", "roicore[plot]>=9; extra == 'test'"),
                entry_source="raise RuntimeError('imported although built for another core')\n")
    records = run_python(site, LIST_PLUGINS)
    assert records["fake-current"]["status"] == "active"
    old = records["fake-old"]
    assert old["status"] == "incompatible-core" and old["ids"] == []
    (error,) = old["errors"]
    assert f"built for roicore >=0.1,<0.2, but roicore {roicore.__version__} is running" in error
    assert "pip install --upgrade fake-old" in error and "imported although" not in error
    done = run_process(site, ["-m", "roicore", "plugins"])
    assert "fake-old 1.0: incompatible-core" in done.stdout and "built for roicore >=0.1,<0.2" in done.stdout


def test_duplicate_ids_conflict_and_stay_usable_by_qualified_id(site):
    make_plugin(site, "fake-one", reader_id="same")
    make_plugin(site, "fake-two", reader_id="same")
    (site / "x.fake").write_bytes(b"FAKE")
    records = run_python(site, LIST_PLUGINS.replace("print(json.dumps(records))", """
from roicore.errors import AmbiguousFormatError, NoReaderFoundError
try:
    roicore.open("x.fake", reader="same")
except AmbiguousFormatError as exc:
    records["plain"] = str(exc)
records["qualified"] = roicore.open("x.fake", reader="fake-two:same").source.plugin
try:
    roicore.open("x.fake")
except NoReaderFoundError as exc:
    records["detect"] = str(exc)
print(json.dumps(records))"""))
    assert records["fake-one"]["ids"] == ["fake-one:same/conflict"]
    assert records["fake-two"]["ids"] == ["fake-two:same/conflict"]
    assert "fake-one:same" in records["plain"] and "fake-two:same" in records["plain"]
    assert records["qualified"] == "fake-two"
    assert "in conflict" in records["detect"]


def test_disable_and_allow_lists_act_before_import(site):
    make_plugin(site, "fake-a")
    make_plugin(site, "fake-b")
    code = LIST_PLUGINS.replace("print(json.dumps(records))", """
import sys
records["imported"] = sorted(m for m in sys.modules if m.startswith("fake_"))
print(json.dumps(records))""")
    disabled = run_python(site, code, {"ROICORE_DISABLE_PLUGINS": "fake-a"})
    assert disabled["fake-a"]["status"] == "disabled" and disabled["fake-b"]["status"] == "active"
    assert disabled["imported"] == ["fake_b_plugin"]
    allowed = run_python(site, code, {"ROICORE_PLUGINS": "fake-b"})
    assert allowed["fake-a"]["status"] == "not-allowed" and allowed["imported"] == ["fake_b_plugin"]
    nothing = run_python(site, code, {"ROICORE_PLUGINS": ""})
    assert {r["status"] for k, r in nothing.items() if k.startswith("fake")} == {"not-allowed"}
    assert nothing["imported"] == []


def test_disabled_plugin_is_named_when_no_reader_is_found(site, tmp_path):
    make_plugin(site, "roicore-caiman", suffixes=(".hdf5",), magic=b"\x89HDF")
    (site / "results.hdf5").write_bytes(b"\x89HDF" + bytes(10))
    result = run_python(site, """
import json, roicore
try:
    roicore.open("results.hdf5")
except roicore.errors.NoReaderFoundError as exc:
    print(json.dumps({"message": str(exc)}))
""", {"ROICORE_DISABLE_PLUGINS": "roicore-caiman"})
    assert "roicore-caiman" in result["message"] and "disabled" in result["message"]


def test_strict_mode_raises_plugin_error(site):
    make_plugin(site, "fake-import", entry_source="import no_such_module_anywhere\n")
    result = run_python(site, """
import json, roicore
try:
    roicore.plugins()
    print(json.dumps({"raised": None}))
except roicore.errors.PluginError as exc:
    print(json.dumps({"raised": type(exc).__name__, "plugin": exc.plugin}))
""", {"ROICORE_STRICT_PLUGINS": "1"})
    assert result == {"raised": "PluginError", "plugin": "fake-import"}


def test_import_roicore_is_light(site):
    result = run_python(site, """
import json, sys
import roicore
heavy = ("h5py", "scipy", "pluggy", "importlib_metadata", "importlib.metadata", "roicore_memmap", "roicore_caiman",
         "roicore_sima", "roicore.registry", "roicore.imaging")
print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)))
""")
    assert result == []


def test_open_imports_only_the_candidate_readers(site):
    make_plugin(site, "fake-a", suffixes=(".aaa",), magic=b"AAAA")
    make_plugin(site, "fake-b", suffixes=(".bbb",), magic=b"BBBB")
    (site / "movie.aaa").write_bytes(b"AAAA" + bytes(8))
    result = run_python(site, """
import json, sys, roicore
x = roicore.open("movie.aaa")
print(json.dumps({"reader": x.source.reader, "rule": x.source.rule,
                  "modules": sorted(m for m in sys.modules if m.startswith("fake_")),
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("h5py", "roicore_caiman"))}))
""")
    assert result["reader"] == "fake-a"
    assert "magic" in result["rule"]
    # both entry modules load (they are light); only the candidate's reader module is imported
    assert result["modules"] == ["fake_a_plugin", "fake_a_reader", "fake_b_plugin"]
    assert "roicore_caiman.reader" not in result["heavy"] and "h5py" not in result["heavy"]


def test_directory_formats_are_detected_by_markers(site):
    make_plugin(site, "fake-folder", suffixes=(), magic=b"NONE", directory=("plane*/stat.npy", "ops.json"))
    folder = site / "session"
    (folder / "plane0").mkdir(parents=True)
    (folder / "plane0" / "stat.npy").write_bytes(b"")
    (folder / "ops.json").write_text("{}")
    (site / "partial" / "plane0").mkdir(parents=True)
    (site / "partial" / "plane0" / "stat.npy").write_bytes(b"")
    result = run_python(site, """
import json, roicore
good = roicore.explain("session")
partial = roicore.explain("partial")
print(json.dumps({"good": good.chosen, "rule": good.rule, "partial": partial.chosen}))
""")
    assert result["good"] == "fake-folder:fake-folder"
    assert "markers" in result["rule"]
    assert result["partial"] is None


def test_known_format_hints_name_the_plugin_to_install():
    from roicore.registry.known import known_formats_for

    expected = {
        "movie.tif": {"roicore-tiff"}, "STACK.TIFF": {"roicore-tiff"}, "session.nwb": {"roicore-nwb"},
        "video.h5": {"roicore-caiman", "roicore-hdf5"}, "results.hdf5": {"roicore-caiman", "roicore-hdf5"},
        "suite2p": {"roicore-suite2p"}, "plane0": {"roicore-suite2p"}, "stat.npy": {"roicore-suite2p", "roicore-memmap"},
        "data.bin": {"roicore-suite2p", "roicore-memmap"}, "movie.bin": {"roicore-memmap"}, "notes.txt": set(),
    }
    for name, plugins in expected.items():
        assert {known.plugin for known in known_formats_for(name)} == plugins, name


def test_no_reader_error_names_the_missing_plugin(site):
    """With roicore-nwb absent (here: disabled, as an install without it would be), the error names it."""
    (site / "session.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    records = run_python(site, """
import json, roicore
try:
    roicore.open("session.nwb")
except roicore.errors.NoReaderFoundError as exc:
    print(json.dumps({"message": str(exc), "active": [r.name for r in roicore.plugins() if r.status == "active"]}))
""", env={"ROICORE_DISABLE_PLUGINS": "roicore-nwb"})
    assert "roicore-nwb" not in records["active"]
    assert "Neurodata Without Borders (NWB)" in records["message"] and "roicore-nwb" in records["message"], \
        records["message"]


def test_discovery_reads_no_metadata_file_and_no_unrelated_entry_points(site):
    """Unrelated distributions cost a folder name; only plugins' METADATA is read (their Requires-Dist)."""
    make_plugin(site, "fake-good")
    for index in range(30):  # unrelated distributions, one with a malformed entry_points.txt of another group
        info = site / f"unrelated_{index}-2.{index}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: unrelated-{index}\nVersion: 2.{index}\n")
        text = "[console_scripts]\nx = y:z\n" if index else "[broken\nnot an entry point\n"
        (info / "entry_points.txt").write_text(text)
    records = run_python(site, """
import json, sys
import importlib_metadata
opened = []
for kind in (importlib_metadata.PathDistribution,):
    original = kind.read_text
    def read_text(self, filename, original=original):
        opened.append((self._path.name, filename))
        return original(self, filename)
    kind.read_text = read_text
import roicore
record = {r.name: r for r in roicore.plugins()}["fake-good"]
unrelated = [name for name, filename in opened if name.startswith("unrelated_") and filename in ("METADATA", "PKG-INFO")]
print(json.dumps({"metadata_reads": len(unrelated), "status": record.status,
                  "version": record.version, "distribution": record.distribution,
                  "email_parser": "email.parser" in sys.modules}))
""")
    assert records["metadata_reads"] == 0
    assert records["status"] == "active" and records["version"] == "1.0" and records["distribution"] == "fake_good"
    assert records["email_parser"] is False
