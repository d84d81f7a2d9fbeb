"""Detection: CaImAn files are claimed, every other HDF5 file is declined with a reason."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

import roicore
from roicore.errors import NoReaderFoundError
from roicore.registry.specs import SupportLevel
from roicore_caiman.reader import CaimanSegmentationExtractor
from roicore_caiman.sniff import HDF5_SIGNATURE, sniff


def _header(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


def test_samples_are_claimed_and_opened(samples):
    for sample in samples.values():
        support = sniff(sample.path, _header(sample.path))
        assert support.level is SupportLevel.YES, (sample.id, support.reason)
        with roicore.open(sample.path) as seg:
            assert isinstance(seg, CaimanSegmentationExtractor)
            assert seg.source.reader == "caiman"
            assert seg.source.plugin == "roicore-caiman"


def test_reason_names_the_components(samples):
    support = sniff(samples["evaluated"].path, b"")
    assert "9 components" in support.reason


def test_real_sima_hdf5_is_declined(realdata):
    path = realdata / "sima_example.h5"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    support = sniff(path, _header(path))
    assert support.level is SupportLevel.NO
    assert "estimates" in support.reason
    report = roicore.explain(path)
    mine = [c for c in report.candidates if c.reader == "roicore-caiman:caiman"]
    assert mine and mine[0].verdict == "no"


def _plain(path, build_groups) -> None:
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(6)
        build_groups(handle)


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        (lambda h: None, "without an 'estimates' group"),
        (lambda h: h.create_group("estimates"), "no 'params' group"),
        (lambda h: h.__setitem__("estimates", np.ones(3)), "'estimates' is not a group"),
        (lambda h: (h.create_group("estimates"), h.create_group("params")), "no spatial footprints 'A'"),
        (lambda h: (h.create_group("estimates").__setitem__("A", "NoneType"), h.create_group("params")), "saved before fitting"),
    ],
)
def test_other_hdf5_files_are_declined(tmp_path, groups, reason):
    path = tmp_path / "other.hdf5"
    _plain(path, groups)
    support = sniff(path, _header(path))
    assert support.level is SupportLevel.NO
    assert reason in support.reason


def test_sniff_never_raises(tmp_path):
    text = tmp_path / "text.hdf5"
    text.write_text("hello")
    assert sniff(text, _header(text)).level is SupportLevel.NO
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(HDF5_SIGNATURE + b"\0" * 100)
    support = sniff(truncated, _header(truncated))
    assert support.level is SupportLevel.NO and "cannot open" in support.reason
    assert sniff(tmp_path, b"").level is SupportLevel.NO
    assert sniff(tmp_path / "missing.hdf5", HDF5_SIGNATURE).level is SupportLevel.NO


def test_incomplete_caiman_layout_is_claimed_so_the_reader_can_say_what_is_wrong(build):
    built = build(edit=lambda h: h["estimates/A"].__delitem__("shape"))
    support = sniff(built.path, _header(built.path))
    assert support.level is SupportLevel.YES and "incomplete" in support.reason


def test_no_reader_for_plain_hdf5(tmp_path):
    path = tmp_path / "plain.hdf5"
    _plain(path, lambda h: None)
    with pytest.raises(NoReaderFoundError) as info:
        roicore.open(path, kind="segmentation")
    assert "roicore-caiman:caiman" in str(info.value)


def test_entry_module_is_light():
    """Listing the plugin's specs imports neither h5py nor scipy nor the reader."""
    code = (
        "import sys, roicore_caiman._plugin as p\n"
        "specs = p.roicore_readers() + p.roicore_writers()\n"
        "heavy = [m for m in ('h5py', 'scipy', 'roicore_caiman.reader', 'roicore_caiman.sniff') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_specs():
    from roicore_caiman._plugin import roicore_readers, roicore_writers

    (reader,) = roicore_readers()
    assert reader.id == "caiman" and reader.kind == "segmentation"
    assert set(reader.suffixes) == {".hdf5", ".h5"} and reader.magic == (HDF5_SIGNATURE,)
    assert reader.capabilities == {"background", "summary_images", "acceptance", "properties"}
    (writer,) = roicore_writers()
    assert writer.id == "caiman" and writer.reader == "caiman" and writer.suffixes == (".hdf5",)
