"""The roicore command, driven through its entry point in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeplugins import make_plugin


def roicore_cli(*args: str, site: Path | None = None, env: dict[str, str] | None = None, cwd: Path | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    if site is not None:
        environment["PYTHONPATH"] = os.pathsep.join([str(site), *[p for p in sys.path if p]])
        environment["ROICORE_PLUGINS"] = ",".join(p.name.split("-1.0")[0].replace("_", "-") for p in site.glob("*.dist-info"))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "roicore", *args], capture_output=True, text=True, env=environment,
                          timeout=300, cwd=cwd)


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    make_plugin(folder, "fake-video", suffixes=(".fake",), magic=b"FAKE")
    make_plugin(folder, "fake-broken", entry_source="raise ImportError('a dependency is missing')\n")
    (folder / "movie.fake").write_bytes(b"FAKE" + bytes(16))
    return folder


def test_plugins_lists_status_versions_contributions_and_errors(site):
    done = roicore_cli("plugins", site=site)
    assert done.returncode == 0, done.stderr
    assert "fake-video 1.0: active" in done.stdout
    assert "reader  fake-video" in done.stdout
    assert "fake-broken 1.0: import-error" in done.stdout
    assert "a dependency is missing" in done.stdout


def test_formats_and_explain_and_info(site):
    formats = roicore_cli("formats", site=site)
    assert "fake-video:fake-video" in formats.stdout and ".fake" in formats.stdout
    explain = roicore_cli("explain", str(site / "movie.fake"), site=site)
    assert explain.returncode == 0
    assert "-> fake-video:fake-video" in explain.stdout and "magic" in explain.stdout
    info = roicore_cli("info", str(site / "movie.fake"), site=site)
    assert info.returncode == 0, info.stderr
    for expected in ("kind:       imaging", "shape:      (4, 2, 3)", "dtype:      uint8", "rate:       10 Hz",
                     "duration:   0.400 s", "read by:    fake-video 1.0, reader 'fake-video'", "because:    magic"):
        assert expected in info.stdout


def test_errors_are_one_clear_line_with_exit_codes(site, tmp_path):
    missing = roicore_cli("info", str(tmp_path / "nope.fake"), site=site)
    assert missing.returncode == 1
    assert missing.stderr.startswith("roicore: error: ") and "nope.fake" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = tmp_path / "data.xyz"
    unknown.write_bytes(b"hello")
    no_reader = roicore_cli("info", str(unknown), site=site)
    assert no_reader.returncode == 1 and "no installed reader can read" in no_reader.stderr.splitlines()[0]
    wrong_reader = roicore_cli("info", str(site / "movie.fake"), "--reader", "no-such", site=site)
    assert wrong_reader.returncode == 1 and "unknown reader 'no-such'" in wrong_reader.stderr
    usage = roicore_cli("info", site=site)
    assert usage.returncode == 2
    debug = roicore_cli("--debug", "info", str(tmp_path / "nope.fake"), site=site)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_check_lists_checks_and_fails_a_plugin_without_samples(site, tmp_path):
    listing = roicore_cli("check", "--list-checks")
    assert listing.returncode == 0
    assert "imaging.series.bounds" in listing.stdout and "detect.negative" in listing.stdout
    report = tmp_path / "report.json"
    done = roicore_cli("check", "fake-video", "--json", str(report), site=site)
    assert done.returncode == 1
    assert "names no sample generator" in done.stdout
    assert "not-run" in done.stdout  # the summary table counts every status
    records = json.loads(report.read_text())
    assert {"plugin", "check", "sample", "status", "message"} <= set(records[0])
    assert {r["status"] for r in records} <= {"passed", "failed", "not-run", "n/a", "blocked"}
    assert any(r["check"] == "registry.samples.declared" and r["status"] == "failed" for r in records)
    unknown = roicore_cli("check", "no-such-plugin", site=site)
    assert unknown.returncode == 1 and "no plugin named 'no-such-plugin'" in unknown.stderr
    nothing = roicore_cli("check", site=site)
    assert nothing.returncode == 2
