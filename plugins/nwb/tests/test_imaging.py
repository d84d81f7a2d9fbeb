"""The imaging reader: orientation, time, series choice, files holding both kinds, external files."""

from __future__ import annotations

import numpy as np
import pytest

import roicore
from roicore_nwb.imaging import NwbImagingExtractor
from roicore_nwb.samples import add_imaging_plane, new_nwbfile, write_nwbfile, write_photon_series
from roicore_nwb.segmentation import ChoiceError


def test_series_come_back_time_rows_columns(img_samples):
    for sample in img_samples.values():
        with roicore.open(sample.path) as x:
            assert x.source.reader == "nwb-imaging"
            np.testing.assert_array_equal(x.get_series(), sample.truth.series)
            assert x.get_sample_shape() == sample.truth.series.shape[1:]
            np.testing.assert_array_equal(x.get_series(3, 5), sample.truth.series[3:5])


def test_the_stored_array_is_columns_first(img_samples):
    import h5py

    sample = img_samples["two-photon-rate"]
    with h5py.File(sample.path, "r") as handle:
        stored = handle["acquisition/TwoPhotonSeries/data"][()]
    assert stored.shape == (12, 13, 9)
    np.testing.assert_array_equal(stored.transpose(0, 2, 1), sample.truth.series)
    with NwbImagingExtractor(sample.path, convention="rows-first") as x:
        assert x.get_image_shape() == (13, 9)


def test_timestamps_and_rates(img_samples, tmp_path):
    sample = img_samples["one-photon-timestamps"]
    with roicore.open(sample.path) as x:
        np.testing.assert_array_equal(x.get_timestamps(), sample.truth.timestamps)
        assert x.get_sampling_frequency() == 10.0  # irregular: the ImagingPlane's nominal rate
    video = np.zeros((8, 4, 5), dtype=np.int16)
    path = write_photon_series(tmp_path / "start.nwb", video, rate=4.0, starting_time=10.0)
    with roicore.open(path) as x:
        np.testing.assert_allclose(x.get_timestamps(), 10.0 + np.arange(8) / 4.0)
        assert x.get_sampling_frequency() == 4.0
    with roicore.open(path, sampling_frequency=5.0) as x:
        assert x.get_sampling_frequency() == 5.0


def test_a_file_with_video_and_rois_opens_each_by_kind(seg_samples, tmp_path):
    from pynwb import NWBHDF5IO
    from pynwb.ophys import TwoPhotonSeries

    source = seg_samples["neuroconv"].path
    path = tmp_path / "both.nwb"
    video = np.arange(25 * 7 * 12, dtype=np.uint16).reshape(25, 7, 12)
    import shutil

    shutil.copy(source, path)
    with NWBHDF5IO(str(path), "a") as io:
        nwbfile = io.read()
        plane = nwbfile.imaging_planes["ImagingPlane"]
        nwbfile.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", data=video.transpose(0, 2, 1).copy(),
                                                imaging_plane=plane, unit="n.a.", rate=20.0))
        io.write(nwbfile)
    report = roicore.explain(path)
    assert report.chosen == "roicore-nwb:nwb-segmentation"
    with roicore.open(path, kind="imaging") as x:
        np.testing.assert_array_equal(x.get_series(), video)
    with roicore.open(path) as seg:
        assert seg.get_num_rois() == 6


def test_several_series_need_a_choice(tmp_path):
    from pynwb.ophys import TwoPhotonSeries

    nwbfile = new_nwbfile("two series")
    plane = add_imaging_plane(nwbfile)
    first, second = np.ones((5, 3, 4), np.uint8), np.full((6, 3, 4), 2, np.uint8)
    for name, data in (("green", first), ("red", second)):
        nwbfile.add_acquisition(TwoPhotonSeries(name=name, data=data, imaging_plane=plane, unit="n.a.", rate=2.0))
    path = write_nwbfile(nwbfile, tmp_path / "two.nwb")
    with pytest.raises(ChoiceError, match="green.*red.*series="):
        roicore.open(path)
    with roicore.open(path, series="red") as x:
        assert x.get_num_samples() == 6 and x.get_image_shape() == (4, 3)
        assert int(x.get_series().max()) == 2


def test_external_file_series_is_opened_through_roicore(tmp_path):
    pytest.importorskip("roicore_memmap", reason="needs roicore-memmap to read the external .npy movie")
    from pynwb.ophys import TwoPhotonSeries

    movie = np.random.default_rng(0).integers(0, 100, (9, 6, 5)).astype(np.uint16)
    np.save(tmp_path / "movie.npy", movie)
    nwbfile = new_nwbfile("external movie")
    plane = add_imaging_plane(nwbfile, rate=12.0)
    nwbfile.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", external_file=["movie.npy"], starting_frame=[0],
                                            format="external", imaging_plane=plane, unit="n.a.", rate=12.0,
                                            num_samples=9))
    path = write_nwbfile(nwbfile, tmp_path / "external.nwb")
    with roicore.open(path) as x:
        assert type(x).__name__ == "ExternalSeriesImagingExtractor"
        np.testing.assert_array_equal(x.get_series(), movie)
        assert x.get_sampling_frequency() == 12.0
    (tmp_path / "movie.npy").unlink()
    with pytest.raises(roicore.errors.CorruptFileError, match="movie.npy, which does not exist"):
        roicore.open(path)


def test_reading_imports_neither_pynwb_nor_hdmf(img_samples, seg_samples):
    import subprocess
    import sys

    code = (
        "import sys, roicore\n"
        f"with roicore.open({str(img_samples['two-photon-rate'].path)!r}) as v: v.get_series(0, 3)\n"
        f"with roicore.open({str(seg_samples['neuroconv'].path)!r}) as s: s.get_traces(); s.get_images_dict()\n"
        "print(sorted(m for m in ('pynwb', 'hdmf') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
