"""Regressions for what the fuzzer (tests/fuzz) found in this plugin's readers."""

from __future__ import annotations

import pytest

import roicore
from roicore.errors import RoicoreError
from roicore_tiff.samples import make_tiff_samples


def test_a_flipped_bit_in_the_first_ifd_is_a_roicore_error(tmp_path):
    """Byte 12, bit 0 of the OME sample: tifffile returned a tuple for a tag, and int() raised TypeError."""
    sample = next(s for s in make_tiff_samples(tmp_path) if s.id == "float32-ome-blue-plane1")
    data = bytearray(sample.path.read_bytes())
    data[12] ^= 1
    sample.path.write_bytes(bytes(data))
    with pytest.raises(RoicoreError, match=sample.path.name):
        with roicore.open(sample.path, **sample.reader_kwargs) as x:
            x.get_series()


def test_scanimage_settings_without_their_rate_are_corrupt(tmp_path):
    """A flipped bit in the static block renamed SI.hRoiManager.scanFrameRate: the rate must not silently vanish."""
    from roicore.errors import CorruptFileError
    from roicore_tiff.samples import make_scanimage_samples

    sample = next(s for s in make_scanimage_samples(tmp_path) if s.id == "int16-planar")
    data = bytearray(sample.path.read_bytes())
    at = data.find(b"scanFrameRate")
    data[at] ^= 1
    sample.path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="scanFrameRate"):
        roicore.open(sample.path)
    with roicore.open(sample.path, sampling_frequency=30.0) as x:  # the argument still reads it
        assert x.get_sampling_frequency() == 30.0
        assert x.get_series().shape == sample.truth.series.shape
