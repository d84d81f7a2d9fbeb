"""Option validation, optional dependencies, progress bars and the result's metadata."""

from __future__ import annotations

import builtins
import pickle
import subprocess
import sys

import numpy as np
import pytest
from roicore_sima.extract import default_chunk_size, default_workers
from roicore_sima.samples import make_movie

import roicore
from roicore.errors import MissingDependencyError, UnsupportedFeatureError
from roicore.memory import NumpyImagingExtractor


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(backend="gpu"), ValueError, "backend must be one of"),
        (dict(n_workers=0), ValueError, "n_workers must be at least 1"),
        (dict(n_workers=1.5), TypeError, "n_workers must be a positive integer"),
        (dict(chunk_size=True), TypeError, "chunk_size must be a positive integer"),
        (dict(chunk_size=-3), ValueError, "chunk_size must be at least 1"),
        (dict(remove_overlap="yes"), TypeError, "remove_overlap must be True or False"),
        (dict(sima_compat=1), TypeError, "sima_compat must be True or False"),
        (dict(progress="auto"), TypeError, "progress must be True or False"),
        (dict(summary=3), TypeError, "summary must be a file path"),
        (dict(client=object()), ValueError, 'client= is for backend="dask"'),
        (dict(mean_image=None), TypeError, "mean_image must be True or False"),
        (dict(mean_image=False, summary="x.png"), ValueError, "needs mean_image=True"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(options, error, match):
    movie = make_movie(frames=3)
    with pytest.raises(error, match=match):
        roicore.extract(movie.imaging(), movie.masks, method="sima", **options)


def test_unknown_options_are_refused():
    movie = make_movie(frames=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'remove_overlaps'"):
        roicore.extract(movie.imaging(), movie.masks, method="sima", remove_overlaps=True)


def test_volumetric_video_is_unsupported():
    video = np.zeros((3, 26, 33, 2), dtype=np.uint16)
    movie = make_movie(frames=3)
    with pytest.raises(UnsupportedFeatureError, match="select_plane"):
        roicore.extract(NumpyImagingExtractor(video, 1.0, volumetric=True), movie.masks, method="sima")
    plane = NumpyImagingExtractor(video, 1.0, volumetric=True).select_plane(1)
    assert roicore.extract(plane, movie.masks, method="sima").get_traces().shape == (3, 6)


def test_dask_without_a_client_says_how_to_start_one():
    distributed = pytest.importorskip(
        "distributed", reason='dask.distributed is not installed (pip install "roicore-sima[dask]")'
    )
    try:
        distributed.get_client()
        pytest.skip("a dask client is running in this process")
    except ValueError:
        pass
    movie = make_movie(frames=4)
    with pytest.raises(ValueError, match="no client is running"):
        roicore.extract(movie.imaging(), movie.masks, method="sima", backend="dask")
    with pytest.raises(TypeError, match="distributed.Client"):
        roicore.extract(movie.imaging(), movie.masks, method="sima", backend="dask", client="tcp://nowhere")


@pytest.fixture
def hide_modules(monkeypatch):
    """``hide("tqdm", ...)``: make importing those packages fail as if they were not installed."""

    def hide(*names: str) -> None:
        real_import = builtins.__import__
        for name in list(sys.modules):
            if name.split(".")[0] in names:
                monkeypatch.delitem(sys.modules, name)

        def fake_import(name, *args, **kwargs):
            if name.split(".")[0] in names:
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide


def test_missing_optional_packages_raise_with_the_pip_command(hide_modules, tmp_path):
    movie = make_movie(frames=3)
    hide_modules("matplotlib", "tqdm", "dask", "distributed")
    with pytest.raises(MissingDependencyError, match=r'pip install "roicore-sima\[plot\]"'):
        roicore.extract(movie.imaging(), movie.masks, method="sima", summary=tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists()
    with pytest.raises(MissingDependencyError, match=r'pip install "roicore-sima\[progress\]"'):
        roicore.extract(movie.imaging(), movie.masks, method="sima", progress=True)
    with pytest.raises(MissingDependencyError, match=r'pip install "roicore-sima\[dask\]"') as info:
        roicore.extract(movie.imaging(), movie.masks, method="sima", backend="dask")
    assert isinstance(info.value, ImportError)
    # automatic progress without tqdm is silently off
    assert roicore.extract(movie.imaging(), movie.masks, method="sima", progress=None).get_num_rois() == 6


def test_progress_true_draws_a_bar_and_false_draws_none(capsys):
    pytest.importorskip("tqdm", reason='tqdm is not installed (pip install "roicore-sima[progress]")')
    movie = make_movie(frames=30)
    roicore.extract(movie.imaging(), movie.masks, method="sima", progress=True, chunk_size=4)
    assert "sima: traces" in capsys.readouterr().err
    roicore.extract(movie.imaging(), movie.masks, method="sima", progress=False)
    roicore.extract(movie.imaging(), movie.masks, method="sima")  # not interactive under pytest: no bar
    assert capsys.readouterr().err == ""


def test_result_carries_provenance_rate_timestamps_and_properties():
    movie = make_movie(frames=12)
    imaging = movie.imaging(rate=7.5)
    times = 100.0 + np.cumsum(np.full(12, 0.13))
    imaging.set_times(times)
    result = roicore.extract(imaging, movie.masks, method="sima", label="l", chunk_size=5, n_workers=2)
    assert result.get_sampling_frequency() == 7.5
    np.testing.assert_array_equal(result.get_timestamps(), times)
    provenance = result.provenance
    assert provenance["method"] == "sima" and provenance["label"] == "l"
    assert provenance["options"] == {
        "remove_overlap": True,
        "demix_channel": None,
        "label": "l",
        "n_workers": 2,
        "chunk_size": 5,
        "progress": None,
        "backend": "threads",
        "summary": None,
        "sima_compat": False,
        "mean_image": True,
    }
    assert provenance["num_samples"] == 12 and provenance["frame_shape"] == (26, 33) and provenance["dtype"] == "uint16"
    assert {"time", "timestamp", "duration_s", "version", "plugin", "imaging"} <= set(provenance)
    assert sorted(result.get_property_keys()) == ["is_empty", "num_overlap_pixels", "num_pixels"]
    assert result.get_traces().dtype == np.float32
    assert result.get_images_dict().keys() == {"mean"}
    provenance["label"] = "changed"
    assert result.provenance["label"] == "l"  # a copy
    # a sliced video without a time vector keeps its offset times
    sliced = movie.imaging(rate=10.0).slice_samples(4, 10)
    np.testing.assert_allclose(
        roicore.extract(sliced, movie.masks, method="sima").get_timestamps(), np.arange(4, 10) / 10.0
    )
    plain = roicore.extract(movie.imaging(rate=10.0), movie.masks, method="sima")
    assert not plain.has_time_vector()


def test_result_pickles_and_writes_with_roicore_write(tmp_path):
    movie = make_movie(frames=10)
    result = roicore.extract(movie.imaging(), movie.masks, method="sima", remove_overlap=False)
    again = pickle.loads(pickle.dumps(result))
    np.testing.assert_array_equal(again.get_traces(), result.get_traces())
    assert again.provenance == result.provenance and again.overlap.count == result.overlap.count
    writers = {w.id for w in roicore.writers()}
    if "caiman" not in writers:
        pytest.skip("no segmentation writer installed (roicore-caiman)")
    target = tmp_path / "traces.hdf5"
    roicore.write(result, target, format="caiman")
    with roicore.open(target) as back:
        np.testing.assert_allclose(
            back.get_traces(name="raw") if "raw" in back.get_trace_names() else back.get_traces(),
            result.get_traces(),
            rtol=1e-6,
        )


def test_mean_image_can_be_skipped():
    movie = make_movie(frames=9, nan_border=True)
    with_mean = roicore.extract(movie.imaging(), movie.masks, method="sima", remove_overlap=False)
    without = roicore.extract(movie.imaging(), movie.masks, method="sima", remove_overlap=False, mean_image=False)
    np.testing.assert_array_equal(without.get_traces(), with_mean.get_traces())
    assert without.get_images_dict() == {} and without.to_sima_dict()["mean_frame"] is None
    compat = roicore.extract(movie.imaging(), movie.masks, method="sima", sima_compat=True, mean_image=False)
    assert compat.get_images_dict() == {}


def test_empty_video_and_no_rois():
    movie = make_movie(frames=5)
    empty = roicore.extract(NumpyImagingExtractor(movie.video[:0], 5.0), movie.masks, method="sima")
    assert empty.get_traces().shape == (0, 6) and np.isnan(empty.get_image("mean")).all()
    none = roicore.extract(movie.imaging(), np.zeros((26, 33, 0), dtype=bool), method="sima")
    assert none.get_traces().shape == (5, 0)
    np.testing.assert_allclose(none.get_image("mean"), movie.video.mean(axis=0))


def test_defaults():
    assert 1 <= default_workers() <= 8
    assert default_chunk_size(512 * 512 * 2, "threads") == 16  # 8 MiB
    assert default_chunk_size(512 * 512 * 2, "threads", views=True) == 64  # 32 MiB: views of the video take no memory
    assert default_chunk_size(512 * 512 * 2, "dask", views=True) == 128
    assert default_chunk_size(512 * 512 * 2, "dask") == 128  # 64 MiB
    assert default_chunk_size(10**9, "threads") == 4  # at least 4 frames
    assert default_chunk_size(10**9, "threads", floating=True) == 8
    assert default_chunk_size(512 * 512 * 4, "threads") == 8
    assert default_chunk_size(64 * 64 * 2, "threads") == 1024


def test_plugin_entry_module_is_light():
    code = (
        "import sys, roicore_sima._plugin as p; specs = p.roicore_methods();"
        "heavy = [m for m in ('scipy', 'dask', 'distributed', 'matplotlib', 'tqdm', 'roicore_sima.extract')"
        " if m in sys.modules];"
        "print(heavy, specs[0].id, sorted(specs[0].capabilities))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[] sima ['chunk_invariant', 'deterministic', 'weighted_masks']"
