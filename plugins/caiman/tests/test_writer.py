"""The CaImAn writer: CaImAn's layout on disk, exact round trips, streaming, no overwrite."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import sparse

import roicore
from roicore.memory import NumpySegmentationExtractor
from roicore_caiman.reader import CaimanSegmentationExtractor
from roicore_caiman.samples import make_writer_samples, synthetic_footprints


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return {sample.id: sample.source for sample in make_writer_samples(tmp_path_factory.mktemp("unused"))}


def _roundtrip(source, path, **options):
    roicore.write(source, path, format="caiman", **options)
    return CaimanSegmentationExtractor(path)


def test_layout_follows_caiman(sources, tmp_path):
    source = sources["full"]
    path = tmp_path / "out.hdf5"
    roicore.write(source, path, format="caiman")
    rows, columns = source.get_frame_shape()
    count, frames = source.get_num_rois(), source.get_num_samples()
    with h5py.File(path, "r") as handle:
        assert handle.attrs["runmode"] == "CNMF"
        np.testing.assert_array_equal(handle["dims"][()], [rows, columns])
        np.testing.assert_array_equal(handle["params/data/dims"][()], [rows, columns])
        assert handle["params/data/fr"][()] == 22.5
        assert handle["dview"][()] == b"NoneType"
        group = handle["estimates/A"]
        assert set(group) == {"data", "indices", "indptr", "shape"}
        np.testing.assert_array_equal(group["shape"][()], [rows * columns, count])
        a = sparse.csc_matrix((group["data"][()], group["indices"][()], group["indptr"][()]), shape=(rows * columns, count))
        # Fortran pixel order: column k reshaped with order="F" is the image mask
        expected = source.get_roi_image_masks()
        for k in range(count):
            np.testing.assert_allclose(a[:, [k]].toarray().reshape(rows, columns, order="F"), expected[:, :, k])
        est = handle["estimates"]
        for field in ("C", "YrA", "S", "F_dff"):
            assert est[field].shape == (count, frames)
        np.testing.assert_array_equal(est["C"][()], source.get_traces(name="denoised").T)
        np.testing.assert_array_equal(est["C"][()] + est["YrA"][()], source.get_traces(name="raw").T.astype(np.float64))
        assert est["f"].shape == (2, frames) and est["b"].shape == (rows * columns, 2)
        np.testing.assert_array_equal(est["idx_components"][()], [0, 2, 3])
        np.testing.assert_array_equal(est["idx_components_bad"][()], [1, 4])
        assert est["idx_components"].dtype == np.int64
        np.testing.assert_array_equal(est["SNR_comp"][()], source.get_property("snr"))
        assert est["r_values"][()] == b"NoneType" and est["cnn_preds"][()] == b"NoneType"
        for placeholder in ("R", "W", "b0", "sn", "center", "noisyC", "discarded_components"):
            assert est[placeholder][()] == b"NoneType", placeholder
        assert "coordinates" not in est and "merged_ROIs" not in est  # never saved by CaImAn
        assert est["g"][()] == 0.0 and est["shifts"].shape == (0,)
        np.testing.assert_array_equal(est["Cn"][()], source.get_image("correlation"))
        extras = handle["roicore"]
        assert [v.decode() for v in extras["roi_ids"][()]] == source.get_roi_ids()
        assert set(extras["properties"]) == {"area"} and set(extras["images"]) == {"mean"}
        assert set(extras["traces"]) == {"neuropil"}


def test_roundtrip_is_exact(sources, tmp_path):
    source = sources["full"]
    with _roundtrip(source, tmp_path / "out.hdf5") as back:
        assert back.get_roi_ids() == source.get_roi_ids()
        assert back.get_background_ids() == source.get_background_ids()
        assert back.get_sampling_frequency() == source.get_sampling_frequency()
        assert set(back.get_trace_names()) == set(source.get_trace_names())
        for name in source.get_trace_names():
            np.testing.assert_array_equal(back.get_traces(name=name), source.get_traces(name=name))
        np.testing.assert_array_equal(back.get_roi_image_masks(), source.get_roi_image_masks())
        np.testing.assert_array_equal(back.get_background_image_masks(), source.get_background_image_masks())
        assert set(back.get_property_keys()) == set(source.get_property_keys())
        for key in source.get_property_keys():
            np.testing.assert_array_equal(back.get_property(key), source.get_property(key))
        assert back.get_images_dict().keys() == source.get_images_dict().keys()
        for name, image in source.get_images_dict().items():
            np.testing.assert_array_equal(back.get_image(name), image)
        assert back.acceptance_evaluated


def test_float64_raw_roundtrips_bit_for_bit(tmp_path):
    rng = np.random.default_rng(5)
    masks = synthetic_footprints(rng, (8, 10), 6)
    denoised = rng.lognormal(0, 3, (50, 6))
    raw = denoised + rng.normal(0, 1e-3, (50, 6)) * rng.lognormal(0, 5, (50, 6))
    source = NumpySegmentationExtractor(masks, 5.0, traces={"raw": raw, "denoised": denoised})
    with _roundtrip(source, tmp_path / "f64.hdf5") as back:
        np.testing.assert_array_equal(back.get_traces(name="raw"), raw)
        np.testing.assert_array_equal(back.get_traces(name="denoised"), denoised)


def test_raw_only_source(sources, tmp_path):
    source = sources["raw-only"]
    path = tmp_path / "raw.hdf5"
    with _roundtrip(source, path) as back:
        assert back.get_trace_names() == ["raw"]  # C was made from raw: no invented "denoised"
        np.testing.assert_array_equal(back.get_traces(name="raw"), source.get_traces(name="raw"))
        assert back.acceptance_evaluated is False and "is_accepted" not in back.get_property_keys()
        assert back.get_background_ids() == []
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["estimates/C"][()], source.get_traces(name="raw").T)
        assert not handle["estimates/YrA"][()].any()
        assert handle["estimates/idx_components"][()] == b"NoneType"
        assert handle["estimates/b"][()] == b"NoneType" and handle["estimates/f"][()] == b"NoneType"
        assert "roi_ids" not in handle["roicore"]


def test_source_without_traces(sources, tmp_path):
    source = sources["no-traces"]
    with _roundtrip(source, tmp_path / "none.hdf5") as back:
        assert back.get_trace_names() == []
        assert back.get_num_samples() == 12
        assert not back.get_property("is_accepted").any()


def test_caiman_file_roundtrip(samples, tmp_path):
    """CaImAn file -> roicore -> CaImAn file -> roicore gives the same values."""
    for sample in samples.values():
        with CaimanSegmentationExtractor(sample.path) as original, _roundtrip(original, tmp_path / f"{sample.id}.hdf5") as back:
            assert back.get_roi_ids() == original.get_roi_ids()
            assert back.get_background_ids() == original.get_background_ids()
            np.testing.assert_array_equal(back.get_roi_image_masks(), original.get_roi_image_masks())
            for name in original.get_trace_names():
                np.testing.assert_array_equal(back.get_traces(name=name), original.get_traces(name=name))
            assert back.acceptance_evaluated == original.acceptance_evaluated
            assert back.get_property_keys() == original.get_property_keys()
            assert back.get_images_dict().keys() == original.get_images_dict().keys()


def test_traces_are_streamed_in_chunks(sources, tmp_path):
    source = sources["full"]
    windows: list[tuple[int, int]] = []
    original = type(source).get_traces

    def spy(self, roi_ids=None, start_sample=None, end_sample=None, name="raw"):
        windows.append((start_sample, end_sample))
        return original(self, roi_ids, start_sample, end_sample, name)

    type(source).get_traces = spy
    try:
        roicore.write(source, tmp_path / "chunks.hdf5", format="caiman", chunk_frames=8)
    finally:
        type(source).get_traces = original
    assert windows and all(end - start <= 8 for start, end in windows)
    assert (None, None) not in windows
    with CaimanSegmentationExtractor(tmp_path / "chunks.hdf5") as back:
        np.testing.assert_array_equal(back.get_traces(name="dff"), source.get_traces(name="dff"))


def test_compression_option(sources, tmp_path):
    with _roundtrip(sources["full"], tmp_path / "gz.hdf5", compression="gzip") as back:
        np.testing.assert_array_equal(back.get_traces(name="deconvolved"), sources["full"].get_traces(name="deconvolved"))
    with h5py.File(tmp_path / "gz.hdf5", "r") as handle:
        assert handle["estimates/C"].compression == "gzip"
    with pytest.raises(ValueError, match="compression"):
        roicore.write(sources["full"], tmp_path / "bad.hdf5", format="caiman", compression="zip")
    with pytest.raises(ValueError, match="chunk_frames"):
        roicore.write(sources["full"], tmp_path / "bad.hdf5", format="caiman", chunk_frames=0)
    assert not (tmp_path / "bad.hdf5").exists()


def test_no_overwrite_and_atomic_replacement(sources, tmp_path):
    path = tmp_path / "out.hdf5"
    roicore.write(sources["raw-only"], path, format="caiman")
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        roicore.write(sources["full"], path, format="caiman")
    assert path.read_bytes() == before
    roicore.write(sources["full"], path, overwrite=True)  # chosen by the .hdf5 suffix
    with CaimanSegmentationExtractor(path) as back:
        assert back.get_roi_ids() == sources["full"].get_roi_ids()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.hdf5"]


def test_mixed_id_types_are_refused(tmp_path):
    masks = synthetic_footprints(np.random.default_rng(0), (5, 6), 2)
    source = NumpySegmentationExtractor(masks, 1.0, num_samples=3, roi_ids=[1, "two"])
    with pytest.raises(roicore.errors.UnsupportedFeatureError, match="mix"):
        roicore.write(source, tmp_path / "mixed.hdf5", format="caiman")
    assert list(tmp_path.iterdir()) == []
