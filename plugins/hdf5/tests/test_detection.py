"""Detection next to every installed plugin: own samples are ours, other formats' HDF5 files are not."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import roicore
from roicore.registry.specs import SupportLevel
from roicore_hdf5.samples import make_video, write_video_file
from roicore_hdf5.sniff import sniff


def _header(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


def _verdict(path) -> tuple[SupportLevel, str]:
    support = sniff(path, _header(path))
    return support.level, support.reason


def test_every_sample_opens_with_this_reader_among_all_plugins(samples):
    for sample in samples.values():
        report = roicore.explain(sample.path)
        assert report.chosen == "roicore-hdf5:hdf5", str(report)
        others = [c for c in report.candidates if c.reader != "roicore-hdf5:hdf5"]
        assert all(c.verdict in ("no", "not asked") for c in others), str(report)
        with roicore.open(sample.path, **sample.reader_kwargs) as video:
            assert video.source.reader == "hdf5"


def test_nwb_like_file_with_a_video_is_declined(tmp_path):
    path = tmp_path / "session.nwb.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["nwb_version"] = "2.7.0"
        handle["acquisition/TwoPhotonSeries/data"] = make_video("u2")
    level, reason = _verdict(path)
    assert level is SupportLevel.NO and "NWB" in reason
    with pytest.raises(roicore.errors.CorruptFileError, match="NWB"):
        roicore.open(path, reader="hdf5")
    # named explicitly, its data can still be read as a video
    with roicore.open(path, reader="hdf5", dataset="acquisition/TwoPhotonSeries/data", axes="tyx") as video:
        np.testing.assert_array_equal(np.asarray(video), make_video("u2"))


def test_nwb_specifications_group_alone_is_declined(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("specifications")
        handle["data"] = make_video("u2")
    assert _verdict(path)[0] is SupportLevel.NO


def test_caiman_like_file_with_a_movie_is_declined(tmp_path):
    path = tmp_path / "results.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_group("estimates")
        handle["estimates/movie"] = make_video("f4")
    level, reason = _verdict(path)
    assert level is SupportLevel.NO and "CaImAn" in reason
    with pytest.raises(roicore.errors.CorruptFileError, match=r"results\.hdf5 is a CaImAn result"):
        roicore.open(path, reader="hdf5")


def test_several_candidates_are_a_maybe_and_opening_lists_them(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as handle:
        handle["raw"] = make_video("u2", seed=1)
        handle["processed/registered"] = make_video("f4", seed=2)
    level, reason = _verdict(path)
    assert level is SupportLevel.MAYBE and "/raw" in reason and "/processed/registered" in reason
    with pytest.raises(ValueError, match=r"several candidate video datasets.*/processed/registered.*/raw.*dataset="):
        roicore.open(path)
    with roicore.open(path, dataset="/raw", axes="tyx") as video:
        np.testing.assert_array_equal(np.asarray(video), make_video("u2", seed=1))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda h: h.create_dataset("image", data=np.zeros((7, 11))), "no video"),
        (lambda h: h.create_dataset("names", data=np.array([b"a", b"b"] * 30).reshape(3, 4, 5)), "no video"),
        (lambda h: h.create_dataset("six", data=np.zeros((1, 2, 1, 2, 1, 2))), "no video"),
        (lambda h: h.create_group("empty"), "no video"),
    ],
)
def test_hdf5_without_a_video_is_declined(tmp_path, content, reason):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        content(handle)
    level, why = _verdict(path)
    assert level is SupportLevel.NO and reason in why


def test_not_hdf5_and_folders_are_declined(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not an HDF5 file\n")
    assert _verdict(text)[0] is SupportLevel.NO
    folder = tmp_path / "movie.h5"
    folder.mkdir()
    assert sniff(folder, b"").level is SupportLevel.NO


def test_damaged_copy_is_declined_and_explicit_open_names_it(tmp_path):
    path = write_video_file(tmp_path / "movie.h5", [make_video("u2")], axes="tyx")
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    assert _verdict(cut)[0] is SupportLevel.NO
    with pytest.raises(roicore.errors.CorruptFileError, match=r"cut\.h5"):
        roicore.open(cut, reader="hdf5")


def test_user_block_file_is_found(tmp_path):
    path = tmp_path / "userblock.h5"
    video = make_video("u2", seed=5)
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle["imaging"] = video
        for index, letter in enumerate("tyx"):
            handle["imaging"].dims[index].label = letter
        handle["imaging"].attrs["sampling_frequency"] = 5.0
    assert _verdict(path)[0] is SupportLevel.YES
    with roicore.open(path) as opened:
        np.testing.assert_array_equal(np.asarray(opened), video)


def test_sniff_never_opens_external_links(tmp_path):
    target = tmp_path / "elsewhere.h5"
    write_video_file(target, [make_video("u2")], axes="tyx")
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as handle:
        handle["movie"] = h5py.ExternalLink(str(target), "/imaging")
    level, _ = _verdict(path)
    assert level is SupportLevel.NO  # the linked video is not in this file
    with pytest.raises(roicore.errors.UnsupportedFeatureError, match=r"links\.h5.*/movie is an external link"):
        roicore.open(path, reader="hdf5", dataset="movie")
