"""roicore.concatenate, roicore.stack_planes and roicore.open of several paths or a glob pattern."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore.errors import UnknownSamplingFrequencyError
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor


def _videos(*lengths: int, shape: tuple[int, ...] = (3, 4), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1000, (n, *shape), dtype=np.uint16) for n in lengths]


def test_concatenate_reads_back_to_back_with_numpy_semantics() -> None:
    arrays = _videos(4, 1, 6)
    whole = np.concatenate(arrays)
    video = roicore.concatenate([NumpyImagingExtractor(a, 8.0) for a in arrays])
    assert video.shape == whole.shape and video.dtype == whole.dtype and video.get_num_samples() == 11
    np.testing.assert_array_equal(video.get_series(), whole)
    for start, end in ((0, 4), (3, 6), (4, 5), (2, 11), (5, 5)):  # within, across and on part boundaries
        np.testing.assert_array_equal(video.get_series(start, end), whole[start:end])
    indices = [10, 0, 4, 4, 3, -1]
    np.testing.assert_array_equal(video.get_samples(indices), whole[indices])
    np.testing.assert_array_equal(video[::3, 1, ::-1], whole[::3, 1, ::-1])
    np.testing.assert_allclose(video.get_timestamps(), np.arange(11) / 8.0)  # continued at the common rate
    np.testing.assert_array_equal(video.time_to_sample_indices([0.5, 1.0]), [4, 8])
    again = pickle.loads(pickle.dumps(video))
    np.testing.assert_array_equal(again.get_series(), whole)


def test_concatenate_keeps_time_vectors_and_continues_the_others() -> None:
    first, second, third = (NumpyImagingExtractor(a, 10.0) for a in _videos(3, 2, 2))
    second.set_times([100.0, 100.5])
    video = roicore.concatenate([first, second, third])
    assert video.has_time_vector()
    np.testing.assert_allclose(video.get_timestamps(), [0.0, 0.1, 0.2, 100.0, 100.5, 100.6, 100.7])
    np.testing.assert_allclose(video.slice_samples(2, 5).get_timestamps(), [0.2, 100.0, 100.5])
    second.set_times([0.05, 0.06])  # before the first part ends: the times would go back
    with pytest.raises(ValueError, match=r"item 1 .* starts at 0.05 s, before the previous part ends"):
        video.get_timestamps()


def test_concatenate_checks_shapes_dtypes_and_rates() -> None:
    a, b = _videos(2, 2)
    with pytest.raises(ValueError, match=r"item 1 .*shape \(4, 3\), item 0 \(3, 4\)"):
        roicore.concatenate([NumpyImagingExtractor(a, 5.0), NumpyImagingExtractor(b.reshape(2, 4, 3), 5.0)])
    with pytest.raises(ValueError, match="item 1 .* is int16, item 0 is uint16"):
        roicore.concatenate([NumpyImagingExtractor(a, 5.0), NumpyImagingExtractor(b.astype(np.int16), 5.0)])
    with pytest.raises(ValueError, match="runs at 6.0 Hz, item 0 at 5.0 Hz"):
        roicore.concatenate([NumpyImagingExtractor(a, 5.0), NumpyImagingExtractor(b, 6.0)])
    with pytest.raises(ValueError, match="at least one"):
        roicore.concatenate([])
    with pytest.raises(TypeError, match="list of imaging extractors"):
        roicore.concatenate(NumpyImagingExtractor(a, 5.0))
    segmentation = NumpySegmentationExtractor(np.ones((3, 4, 1)), 5.0, traces={"raw": np.ones((2, 1))})
    with pytest.raises(TypeError, match="item 1 is a NumpySegmentationExtractor"):
        roicore.concatenate([NumpyImagingExtractor(a, 5.0), segmentation])
    unknown = roicore.concatenate([NumpyImagingExtractor(a, None), NumpyImagingExtractor(b, None)])
    assert unknown.get_sampling_frequency() is None
    with pytest.raises(UnknownSamplingFrequencyError):
        unknown.get_timestamps()


def test_closing_a_concatenation_leaves_given_parts_open() -> None:
    parts = [NumpyImagingExtractor(a, 5.0) for a in _videos(2, 3)]
    with roicore.concatenate(parts) as video:
        video.get_series()
    assert not any(part.closed for part in parts)


def test_stack_planes_is_a_lazy_volume() -> None:
    planes = _videos(5, 5, 5, seed=3)
    volume = roicore.stack_planes([NumpyImagingExtractor(p, 12.0) for p in planes])
    expected = np.stack(planes, axis=-1)
    assert volume.is_volumetric and volume.shape == (5, 3, 4, 3) and volume.get_volume_shape() == (3, 4, 3)
    np.testing.assert_array_equal(volume.get_series(1, 4), expected[1:4])
    np.testing.assert_array_equal(volume.get_samples([4, 0]), expected[[4, 0]])
    np.testing.assert_array_equal(volume.select_plane(2).get_series(), planes[2])
    np.testing.assert_allclose(volume.get_timestamps(), np.arange(5) / 12.0)
    with pytest.raises(ValueError, match="different numbers of samples"):
        roicore.stack_planes([NumpyImagingExtractor(a, 1.0) for a in _videos(5, 4)])
    with pytest.raises(ValueError, match="volumetric; give planar videos"):
        roicore.stack_planes([volume, volume])


def test_open_several_paths_or_a_glob(tmp_path: Path) -> None:
    if "npy" not in {c.id for c in roicore.readers()}:
        pytest.skip("needs the roicore-memmap plugin (make test installs it)")
    arrays = _videos(3, 4, 2, seed=9)
    paths = []
    for number, array in enumerate(arrays):
        paths.append(tmp_path / f"run{number}.npy")
        np.save(paths[-1], array)
    (tmp_path / "other.txt").write_text("not a video")
    whole = np.concatenate(arrays)
    with roicore.open(tmp_path / "run*.npy", sampling_frequency=20.0) as video:  # matches sorted by name
        np.testing.assert_array_equal(video.get_series(), whole)
        np.testing.assert_allclose(video.get_timestamps()[[0, -1]], [0.0, 8 / 20.0])
        parts = video.parts
    assert all(part.closed for part in parts)  # roicore.open opened them, so closing closes them
    with roicore.open([paths[2], paths[0]]) as video:  # a list keeps its order
        np.testing.assert_array_equal(video.get_series(), np.concatenate([arrays[2], arrays[0]]))
        assert video.get_sampling_frequency() is None
    with roicore.open([paths[1]]) as single:
        assert not hasattr(single, "parts")
        np.testing.assert_array_equal(single.get_series(), arrays[1])
    with pytest.raises(FileNotFoundError, match="No file or folder matches"):
        roicore.open(tmp_path / "nothing*.npy")
    with pytest.raises(FileNotFoundError):
        roicore.open([paths[0], tmp_path / "missing.npy"])
