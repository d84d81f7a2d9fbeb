"""Detection next to every installed plugin: each sample goes to its reader, and only that one says yes."""

from __future__ import annotations

import pytest

import roicore
from roicore_tiff.samples import make_scanimage_samples, make_tiff_samples


def _samples(tmp_path):
    tiff = tmp_path / "tiff"
    tiff.mkdir()
    scanimage = tmp_path / "scanimage"
    scanimage.mkdir()
    return [("tiff", s) for s in make_tiff_samples(tiff)] + [("scanimage", s) for s in make_scanimage_samples(scanimage)]


def test_every_sample_is_detected_unambiguously(tmp_path):
    for reader, sample in _samples(tmp_path):
        report = roicore.explain(sample.path)
        assert report.chosen == f"roicore-tiff:{reader}", f"{sample.id}: {report}"
        yes = [c.reader for c in report.candidates if c.verdict == "yes"]
        assert yes == [f"roicore-tiff:{reader}"], f"{sample.id}: {report}"
        with roicore.open(sample.path, **sample.reader_kwargs) as x:
            assert x.shape == sample.truth.series.shape


def test_unrelated_files_and_folders_are_declined(tmp_path):
    from roicore_tiff.sniff import sniff_scanimage, sniff_tiff

    for name, content in (("empty.tif", b""), ("text.tif", b"hello world" * 10), ("fake.tif", b"II*\x00" + b"\xff" * 4)):
        (tmp_path / name).write_bytes(content)
    for name in ("empty.tif", "text.tif"):
        for sniff in (sniff_tiff, sniff_scanimage):
            assert sniff(tmp_path / name, (tmp_path / name).read_bytes()).level.name == "NO"
    damaged = sniff_tiff(tmp_path / "fake.tif", (tmp_path / "fake.tif").read_bytes())
    assert damaged.level.name == "MAYBE"
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    assert sniff_tiff(folder, b"").level.name == "NO"
    assert sniff_scanimage(folder, b"").level.name == "NO"


@pytest.mark.parametrize("module", ["roicore_tiff._plugin"])
def test_entry_module_is_light(module):
    import subprocess
    import sys

    code = f"import sys, {module}; print(sorted(m for m in ('tifffile', 'h5py', 'scipy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
