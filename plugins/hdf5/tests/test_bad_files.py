"""Bad files and bad arguments give roicore errors (or the fitting builtin) that name the file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError, UnsupportedFeatureError
from roicore_hdf5.opening import DatasetNotFoundError
from roicore_hdf5.reader import Hdf5ImagingExtractor
from roicore_hdf5.samples import make_video, write_video_file


@pytest.fixture
def movie(tmp_path):
    return write_video_file(tmp_path / "movie.h5", [make_video("u2", frames=40)], axes="tyx", chunks=(8, 7, 11), compression="gzip")


def _make(path, build):
    with h5py.File(path, "w") as handle:
        build(handle)
    return path


def test_truncated_file(movie, tmp_path):
    data = movie.read_bytes()
    for fraction in (0.3, 0.7, 0.95):
        cut = tmp_path / f"cut{fraction}.h5"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(CorruptFileError, match=rf"cut{fraction}\.h5.*truncated, damaged or not HDF5"):
            Hdf5ImagingExtractor(cut)


def test_damaged_chunk_is_reported_at_read_time(movie, tmp_path):
    with h5py.File(movie, "r") as handle:
        offset = handle["imaging"].id.get_chunk_info(2).byte_offset
    data = bytearray(movie.read_bytes())
    data[offset : offset + 64] = bytes(64)  # zeroed gzip stream
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(bytes(data))
    with Hdf5ImagingExtractor(damaged) as video:
        np.testing.assert_array_equal(video.get_series(0, 8), make_video("u2", frames=40)[0:8])
        with pytest.raises(CorruptFileError, match=r"damaged\.h5: cannot read frames 16\.\.23 of dataset /imaging"):
            video.get_series(16, 20)


def test_string_dataset(tmp_path):
    path = _make(tmp_path / "strings.h5", lambda h: h.create_dataset("names", data=np.array([b"ab"] * 60).reshape(3, 4, 5)))
    with pytest.raises(CorruptFileError, match=r"strings\.h5: dataset /names holds strings, not pixel values"):
        Hdf5ImagingExtractor(path, dataset="names", axes="tyx")
    with pytest.raises(CorruptFileError, match=r"strings\.h5 holds no numeric 3-D to 5-D dataset.*names"):
        Hdf5ImagingExtractor(path)


def test_complex_and_compound_datasets(tmp_path):
    path = _make(tmp_path / "complex.h5", lambda h: h.create_dataset("z", data=np.zeros((3, 4, 5), np.complex64)))
    with pytest.raises(UnsupportedFeatureError, match=r"complex\.h5: dataset /z holds complex"):
        Hdf5ImagingExtractor(path, dataset="z", axes="tyx")
    compound = np.zeros((3, 4, 5), dtype=[("a", "u2"), ("b", "f4")])
    path = _make(tmp_path / "compound.h5", lambda h: h.create_dataset("c", data=compound))
    with pytest.raises(CorruptFileError, match=r"compound\.h5: dataset /c holds values of type"):
        Hdf5ImagingExtractor(path, dataset="c", axes="tyx")


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ("tyq", r"unknown letter\(s\) 'q'"),
        ("tyy", "a repeated letter"),
        ("tzy", "no 'x'"),
        ("", "no 't', 'y', 'x'"),
    ],
)
def test_wrong_axes_string(movie, axes, message):
    with pytest.raises(ValueError, match=rf"movie\.h5: axes={axes!r} has {message}"):
        roicore.open(movie, axes=axes)


def test_axes_not_a_string(movie):
    with pytest.raises(TypeError, match="axes must be a string"):
        roicore.open(movie, axes=["t", "y", "x"])


def test_axes_length_mismatch(movie):
    with pytest.raises(CorruptFileError, match=r"movie\.h5: dataset /imaging is 3-D \(40, 7, 11\), but axes='tzyx' gives 4 axes"):
        roicore.open(movie, axes="tzyx")


def test_missing_dataset(movie):
    with pytest.raises(DatasetNotFoundError, match=r"movie\.h5 has no dataset 'video'; candidate video datasets: /imaging") as caught:
        roicore.open(movie, dataset="video")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, CorruptFileError)
    with pytest.raises(KeyError):
        roicore.open(movie, dataset="/deep/missing/path")


def test_group_named_as_dataset(tmp_path):
    def build(handle):
        handle["session/movie"] = make_video("u2")

    path = _make(tmp_path / "groups.h5", build)
    with pytest.raises(CorruptFileError, match=r"groups\.h5: 'session' is a group, not a dataset \(members: movie\)"):
        roicore.open(path, dataset="session")


def test_two_dimensional_dataset_named(tmp_path):
    path = _make(tmp_path / "flat.h5", lambda h: h.create_dataset("image", data=np.zeros((7, 11), np.uint16)))
    with pytest.raises(CorruptFileError, match=r"flat\.h5: dataset /image is 2-D"):
        roicore.open(path, reader="hdf5", dataset="image", axes="yx")


def test_no_frames(tmp_path):
    path = _make(tmp_path / "empty.h5", lambda h: h.create_dataset("imaging", shape=(0, 7, 11), dtype="u2"))
    with pytest.raises(CorruptFileError, match=r"empty\.h5: dataset /imaging \(0, 7, 11\).*no frames"):
        roicore.open(path, reader="hdf5", axes="tyx")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["t", "y", "q"], r"unknown letter\(s\) 'q'"),
        (["time", "y", "x"], "not one axis letter per dimension"),
        (["t", "y", ""], "not one axis letter per dimension"),
    ],
)
def test_bad_dimension_labels(tmp_path, labels, message):
    def build(handle):
        handle["imaging"] = make_video("u2")
        for index, label in enumerate(labels):
            handle["imaging"].dims[index].label = label

    path = _make(tmp_path / "labels.h5", build)
    with pytest.raises(CorruptFileError, match=rf"labels\.h5.*{message}"):
        roicore.open(path)
    with roicore.open(path, axes="tyx") as video:  # axes= overrides the bad labels
        np.testing.assert_array_equal(np.asarray(video), make_video("u2"))


@pytest.mark.parametrize("value", [-3.0, 0.0, np.nan, "fast", np.array([1.0, 2.0])])
def test_bad_rate_attribute(tmp_path, value):
    path = write_video_file(tmp_path / "rate.h5", [make_video("u2")], axes="tyx", rate=None)
    with h5py.File(path, "a") as handle:
        handle["imaging"].attrs["sampling_frequency"] = value
    with pytest.raises(CorruptFileError, match=r"rate\.h5: attribute 'sampling_frequency' of /imaging is .*not a frame rate"):
        roicore.open(path)
    with roicore.open(path, sampling_frequency=3.0) as video:  # an explicit rate does not look at it
        assert video.get_sampling_frequency() == 3.0


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        Hdf5ImagingExtractor(tmp_path / "absent.h5")
    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(CorruptFileError, match=r"folder\.h5 is a folder"):
        Hdf5ImagingExtractor(tmp_path / "folder.h5")


def test_virtual_dataset_is_refused(tmp_path):
    source = write_video_file(tmp_path / "source.h5", [make_video("u2")], axes="tyx")
    layout = h5py.VirtualLayout(shape=(13, 7, 11), dtype="u2")
    layout[:] = h5py.VirtualSource(str(source), "imaging", shape=(13, 7, 11))
    path = tmp_path / "virtual.h5"
    with h5py.File(path, "w") as handle:
        handle.create_virtual_dataset("imaging", layout)
    with pytest.raises(UnsupportedFeatureError, match=r"virtual\.h5: dataset /imaging keeps its data in other files"):
        roicore.open(path, reader="hdf5", axes="tyx")


def test_damaged_object_header_is_a_corrupt_file(movie, tmp_path):
    data = bytearray(movie.read_bytes())
    with h5py.File(movie, "r") as handle:
        header = h5py.h5o.get_info(handle["imaging"].id).addr
    data[header : header + 48] = bytes(range(48))
    damaged = tmp_path / "header.h5"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"header\.h5"):
        Hdf5ImagingExtractor(damaged)


def test_errors_that_ask_for_an_argument_are_roicore_errors(samples, tmp_path):
    from roicore.errors import RoicoreError
    from roicore_hdf5.opening import NeedsArgumentError

    with pytest.raises(NeedsArgumentError, match=r"int16-yxt-unlabelled\.h5.*pass axes=") as caught:
        Hdf5ImagingExtractor(samples["int16-yxt-unlabelled"].path)
    assert isinstance(caught.value, RoicoreError) and isinstance(caught.value, ValueError)
    path = _make(tmp_path / "two.h5", lambda h: (h.create_dataset("a", data=make_video("u1")), h.create_dataset("b", data=make_video("u1"))))
    with pytest.raises(NeedsArgumentError, match=r"two\.h5 holds several candidate video datasets \(/a .*; /b .*\)"):
        Hdf5ImagingExtractor(path)


def test_compressed_chunks_posing_as_raw_are_refused(tmp_path):
    """Fuzz finding: a flipped bit turned the filter pipeline message of an LZF dataset into an
    unknown message, so HDF5 read the compressed chunks as raw ones, shorter than their shape, and
    filled the rest from uninitialised memory: the same pixels read differently call to call."""
    video = make_video("f4", seed=3)
    path = tmp_path / "lzf.h5"
    write_video_file(path, [video], axes="tyx", chunks=(5, 4, 6), compression="lzf")
    with roicore.open(path) as intact:
        np.testing.assert_array_equal(intact.get_series(), video)
    data = bytearray(path.read_bytes())
    name = data.find(b"lzf\0")
    pipeline = data.rfind(b"\x0b\x00", 0, name)  # the header of message type 11, the filter pipeline
    assert name > 0 and name - pipeline < 64, "the filter pipeline message was not found"
    data[pipeline] ^= 0x11  # type 11 -> 26: the message is no longer read as a pipeline
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"lzf\.h5: dataset /imaging is stored without compression, "
                                               r"but its chunk at offset \(\d+, \d+, \d+\) holds \d+ bytes") as caught:
        roicore.open(path)
    assert caught.value.path == str(path)


def test_fixed_length_dimension_labels_are_read_without_crashing(tmp_path):
    """Labels stored as a fixed-length string array (h5py's dims[i].label crashes on them)."""
    video = make_video("u2", seed=2)
    path = tmp_path / "fixed-labels.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("imaging", data=video.transpose(1, 2, 0)).attrs["DIMENSION_LABELS"] = np.array([b"y", b"x", b"t"])
    with roicore.open(path, sampling_frequency=10.0) as movie:
        np.testing.assert_array_equal(movie.get_series(), video)
