"""SIMA's example recording (shared as HDF5; SIMA ships the same frames as example.tif) through a TIFF."""

from __future__ import annotations

import numpy as np
import tifffile

import roicore


def test_sima_example_frames_as_tiff(realdata, tmp_path):
    import h5py

    with h5py.File(realdata / "sima_example.h5", "r") as handle:
        frames = np.moveaxis(handle["imaging"][...], 2, 0)  # (y, x, t) -> (t, y, x)
    assert frames.shape == (20, 128, 256)
    for name, options in (("example.tif", {}), ("example-zlib.tif", {"compression": "zlib"})):
        path = tmp_path / name
        tifffile.imwrite(path, frames, **options)
        with roicore.open(path, sampling_frequency=15.0) as x:
            np.testing.assert_array_equal(x.get_series(), frames)
            np.testing.assert_array_equal(x[3:17:4, 100, ::-1], frames[3:17:4, 100, ::-1])


def test_sima_volume_as_imagej_hyperstack(realdata, tmp_path):
    import h5py

    with h5py.File(realdata / "sima_example-volume.h5", "r") as handle:
        volume = handle["imaging"][...]  # (t, z, y, x, c)
    path = tmp_path / "volume.tif"
    tifffile.imwrite(path, volume[..., 0], imagej=True, metadata={"axes": "TZYX", "finterval": 0.5})
    with roicore.open(path) as x:
        np.testing.assert_array_equal(x.get_series(), volume[..., 0].transpose(0, 2, 3, 1))
        assert x.get_sampling_frequency() == 2.0
