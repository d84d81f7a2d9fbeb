"""Values read from CaImAn files: masks (Fortran order), traces, background, images, acceptance, metrics."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import roicore
from roicore.errors import CorruptFileError, UnknownSamplingFrequencyError, UnsupportedFeatureError
from roicore_caiman.reader import CaimanSegmentationExtractor


def _open(path, **kwargs) -> CaimanSegmentationExtractor:
    return CaimanSegmentationExtractor(path, **kwargs)


# -- masks ---------------------------------------------------------------------------------------------


def test_mask_pixels_decode_fortran_order(tmp_path, build):
    """A footprint on pixel F-index 5 of a 3 x 5 frame is row 2, column 1 (5 = 2 + 1 * 3)."""

    def footprint(handle):
        del handle["estimates/A"]
        group = handle.create_group("estimates/A")
        # component 0: F-indices 5 and 13 -> (2, 1) and (1, 4); component 1: F-index 3 -> (0, 1)
        group["data"] = np.array([0.25, 0.75, 1.0])
        group["indices"] = np.array([5, 13, 3], dtype=np.int32)
        group["indptr"] = np.array([0, 2, 3], dtype=np.int32)
        group["shape"] = np.array([15, 2])

    built = build(shape=(3, 5), count=2, edit=footprint)
    with _open(built.path) as seg:
        pixel = seg.get_roi_pixel_masks()
        np.testing.assert_array_equal(pixel[0], [[1, 4, 0.75], [2, 1, 0.25]])
        np.testing.assert_array_equal(pixel[1], [[0, 1, 1.0]])
        image = seg.get_roi_image_masks()
        assert image.shape == (3, 5, 2)
        assert image[2, 1, 0] == 0.25 and image[1, 4, 0] == 0.75 and image[0, 1, 1] == 1.0
        assert np.count_nonzero(image) == 3
        # the core's matrix is in C order: row * columns + column
        np.testing.assert_array_equal(np.sort(seg.get_roi_masks().matrix.indices[:2]), [1 * 5 + 4, 2 * 5 + 1])


def test_masks_equal_generated_footprints_on_asymmetric_frames(samples):
    for sample in samples.values():
        with _open(sample.path) as seg:
            rows, columns = seg.get_frame_shape()
            assert rows != columns
            np.testing.assert_allclose(seg.get_roi_image_masks(), sample.truth.image_masks, rtol=1e-12, atol=0)
            # the peak of every mask is where the generator put it
            for k in range(seg.get_num_rois()):
                expected = np.unravel_index(np.argmax(sample.truth.image_masks[:, :, k]), (rows, columns))
                got = np.unravel_index(np.argmax(seg.get_roi_image_masks(roi_ids=[k])[:, :, 0]), (rows, columns))
                assert got == expected


def test_dense_a_is_read_too(build):
    def dense(handle):
        group = handle["estimates/A"]
        matrix = sparse.csc_matrix(
            (group["data"][()], group["indices"][()], group["indptr"][()]), shape=tuple(group["shape"][()])
        ).toarray()
        del handle["estimates/A"]
        handle["estimates/A"] = matrix

    built = build(shape=(5, 8), count=3, edit=dense)
    with _open(built.path) as seg:
        np.testing.assert_allclose(seg.get_roi_image_masks(), built.masks)


# -- traces --------------------------------------------------------------------------------------------


def test_trace_names_map_to_caiman_fields(samples):
    sample = samples["evaluated"]
    with h5py.File(sample.path, "r") as handle:
        c, yra, s, dff, f = (handle[f"estimates/{k}"][()] for k in ("C", "YrA", "S", "F_dff", "f"))
    with _open(sample.path) as seg:
        assert seg.get_trace_names() == ["raw", "denoised", "deconvolved", "dff", "background"]
        np.testing.assert_array_equal(seg.get_traces(name="raw"), (c + yra.astype(np.float64)).T)
        np.testing.assert_array_equal(seg.get_traces(name="denoised"), c.T)
        np.testing.assert_array_equal(seg.get_traces(name="deconvolved"), s.T)
        np.testing.assert_array_equal(seg.get_traces(name="dff"), dff.T)
        np.testing.assert_array_equal(seg.get_traces(name="background"), f.T)
        with pytest.raises(KeyError, match="available"):
            seg.get_traces(name="neuropil")


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_raw_is_c_plus_yra_for_any_window_and_roi_subset(samples, data):
    sample = samples["evaluated"]
    with h5py.File(sample.path, "r") as handle:
        c, yra = handle["estimates/C"][()], handle["estimates/YrA"][()]
    count, frames = c.shape
    start = data.draw(st.integers(0, frames))
    end = data.draw(st.integers(start, frames))
    ids = data.draw(st.lists(st.integers(0, count - 1), min_size=0, max_size=2 * count))  # any order, repeats
    with _open(sample.path) as seg:
        got = seg.get_traces(roi_ids=ids, start_sample=start, end_sample=end, name="raw")
    expected = (c[ids, start:end] + yra[ids, start:end].astype(np.float64)).T
    assert got.shape == (end - start, len(ids))
    np.testing.assert_array_equal(got, expected)


def test_scattered_rois_use_run_reads(monkeypatch, build):
    """Many scattered components read as runs, not as one huge block, and still give the right values."""
    from roicore_caiman import reader as reader_module

    monkeypatch.setattr(reader_module, "SPAN_BYTES", 0)
    built = build(count=40, frames=30)
    ids = [0, 1, 7, 20, 21, 22, 39]
    with _open(built.path) as seg:
        got = seg.get_traces(roi_ids=ids, start_sample=3, end_sample=17, name="raw")
    fields = built.fields
    np.testing.assert_array_equal(got, (fields["C"][ids, 3:17] + fields["YrA"][ids, 3:17].astype(np.float64)).T)


def test_small_blocks_give_the_same_traces(monkeypatch, samples):
    from roicore_caiman import reader as reader_module

    sample = samples["all-rejected"]
    with _open(sample.path) as seg:
        expected = seg.get_traces(name="background")
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", 64)
    with _open(sample.path) as seg:
        np.testing.assert_array_equal(seg.get_traces(name="background"), expected)
        np.testing.assert_array_equal(seg.get_traces(name="raw"), sample.truth.traces["raw"])


def test_float32_traces_stay_float32(build):
    built = build(estimates={"C": np.ones((4, 20), dtype=np.float32), "S": np.ones((4, 20), dtype=np.float32)})
    with _open(built.path) as seg:
        assert seg.get_traces(name="denoised").dtype == np.float32
        assert seg.get_traces(name="raw").dtype == np.float32
        assert seg.get_traces(name="deconvolved").dtype == np.float32


# -- background ----------------------------------------------------------------------------------------


def test_background_is_kept_apart(samples):
    sample = samples["evaluated"]
    with _open(sample.path) as seg:
        assert seg.get_roi_ids() == list(range(9))
        assert seg.get_background_ids() == [9, 10]
        assert seg.get_num_rois() == 9 and seg.get_num_background_components() == 2
        np.testing.assert_allclose(seg.get_background_image_masks(), sample.truth.background_masks)
        np.testing.assert_allclose(seg.get_traces(roi_ids=[10], name="background")[:, 0], sample.truth.background_traces[:, 1])
        assert seg.get_roi_image_masks().shape[2] == 9  # no background among the ROI masks
        with pytest.raises(KeyError):
            seg.get_traces(roi_ids=[9], name="raw")


def test_one_dimensional_b_is_one_component(samples):
    sample = samples["unevaluated"]
    with _open(sample.path) as seg:
        assert seg.get_background_ids() == [6]
        np.testing.assert_allclose(seg.get_background_image_masks(), sample.truth.background_masks)


def test_sparse_b_group_does_not_crash(samples):
    sample = samples["all-rejected"]
    with _open(sample.path) as seg:
        rows, columns = seg.get_frame_shape()
        assert seg.get_num_background_components() == rows * columns
        masks = seg.get_background_masks()
        # background j is pixel j in Fortran order
        for j in (0, 1, rows, rows * columns - 1):
            pixel = masks.to_pixel_masks([j])[0]
            np.testing.assert_array_equal(pixel, [[j % rows, j // rows, 1.0]])


def test_ring_model_has_no_background(samples):
    with _open(samples["ring-model"].path) as seg:
        assert seg.get_background_ids() == []
        assert "background" not in seg.get_trace_names()
        assert seg.get_background_masks().num_rois == 0


def test_background_traces_without_footprints(build):
    built = build(estimates={"b": None, "f": np.ones((2, 20))})
    with _open(built.path) as seg:
        assert seg.get_background_ids() == [4, 5]
        np.testing.assert_array_equal(seg.get_traces(name="background"), np.ones((20, 2)))
        with pytest.raises(UnsupportedFeatureError):
            seg.get_background_masks()


def test_f_and_b_disagreeing_is_corrupt(build):
    built = build(estimates={"f": np.ones((3, 20))})
    with pytest.raises(CorruptFileError, match="3 background traces but b has 1"):
        _open(built.path)


# -- images --------------------------------------------------------------------------------------------


def test_correlation_image_only_when_stored_and_never_a_mean(samples):
    sample = samples["evaluated"]
    with _open(sample.path) as seg:
        images = seg.get_images_dict()
        assert set(images) == {"correlation"}
        np.testing.assert_array_equal(images["correlation"], sample.truth.images["correlation"])
        images["correlation"][:] = -1  # a copy
        assert seg.get_image("correlation").min() >= 0
    with _open(samples["unevaluated"].path) as seg:
        assert seg.get_images_dict() == {}
        with pytest.raises(KeyError):
            seg.get_image("mean")


def test_invalid_cn_is_ignored_with_a_warning(build):
    built = build(shape=(6, 9), estimates={"Cn": np.ones((9, 6))})
    with pytest.warns(UserWarning, match="Cn ignored"):
        seg = _open(built.path)
    with seg:
        assert seg.get_images_dict() == {}
        assert any("Cn" in note for note in seg.notes)


# -- acceptance and metrics ----------------------------------------------------------------------------


def test_evaluated_acceptance(samples):
    with _open(samples["evaluated"].path) as seg:
        assert seg.acceptance_evaluated
        accepted = seg.get_property("is_accepted")
        assert accepted.dtype == bool
        np.testing.assert_array_equal(accepted, [1, 0, 1, 1, 0, 1, 0, 0, 1])
        np.testing.assert_array_equal(seg.get_property("is_accepted", roi_ids=[8, 1]), [True, False])


def test_unevaluated_file_has_no_acceptance(samples):
    with _open(samples["unevaluated"].path) as seg:
        assert seg.acceptance_evaluated is False
        assert "is_accepted" not in seg.get_property_keys()
        assert "NoneType" in seg.acceptance_note
        assert "acceptance not evaluated" in repr(seg)


def test_empty_accepted_list_means_none_accepted(samples):
    with _open(samples["all-rejected"].path) as seg:
        assert seg.acceptance_evaluated
        np.testing.assert_array_equal(seg.get_property("is_accepted"), np.zeros(5, dtype=bool))


def test_only_rejected_list(build):
    built = build(estimates={"idx_components": None, "idx_components_bad": np.array([1, 3])})
    with _open(built.path) as seg:
        np.testing.assert_array_equal(seg.get_property("is_accepted"), [True, False, True, False])


def test_empty_list_saved_as_float_array(build):
    built = build(estimates={"idx_components": [], "idx_components_bad": [0, 1, 2, 3]})
    with h5py.File(built.path, "r") as handle:
        assert handle["estimates/idx_components"].dtype == np.float64  # CaImAn's np.array([])
    with _open(built.path) as seg:
        assert not seg.get_property("is_accepted").any()


def test_selected_components_are_all_accepted(samples):
    with _open(samples["selected"].path) as seg:
        assert seg.acceptance_evaluated
        assert seg.get_property("is_accepted").all()
        assert "select_components" in seg.acceptance_note


@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        (np.array([0, 4]), None, "indices 0..4 but there are 4 components"),
        (np.array([-1]), None, "indices -1"),
        (np.array([0, 1]), np.array([1, 2]), "both idx_components and idx_components_bad"),
        (np.array([0.5]), None, "integer indices"),
    ],
)
def test_bad_index_lists_are_corrupt(build, good, bad, message):
    built = build(estimates={"idx_components": good, "idx_components_bad": bad})
    with pytest.raises(CorruptFileError, match=message) as info:
        _open(built.path)
    assert str(built.path) in str(info.value)


def test_quality_metrics_as_properties(samples):
    sample = samples["evaluated"]
    with _open(sample.path) as seg:
        assert set(seg.get_property_keys()) == {"is_accepted", "snr", "r_values", "cnn_preds"}
        for key in ("snr", "r_values", "cnn_preds"):
            np.testing.assert_array_equal(seg.get_property(key), sample.truth.properties[key])


def test_metric_of_wrong_length_is_ignored_with_a_warning(build):
    built = build(estimates={"SNR_comp": np.ones(3), "r_values": np.arange(4.0)})
    with pytest.warns(UserWarning, match="SNR_comp ignored"):
        seg = _open(built.path)
    with seg:
        assert "snr" not in seg.get_property_keys()
        np.testing.assert_array_equal(seg.get_property("r_values"), np.arange(4.0))


# -- placeholders and metadata -------------------------------------------------------------------------


def test_nonetype_placeholders_are_absent_fields(build):
    built = build(estimates={"F_dff": None, "S": None, "cnn_preds": None, "b": None, "f": None})
    with h5py.File(built.path, "r") as handle:
        assert handle["estimates/F_dff"][()] == b"NoneType"
        assert handle["estimates/F_dff"].shape == ()
        assert handle["estimates/shifts"].shape == (0,)  # an empty list
        assert handle["estimates/g"][()] == 0.0  # CaImAn saves an unset g as 0
    with _open(built.path) as seg:
        assert seg.get_trace_names() == ["raw", "denoised"]
        assert seg.get_background_ids() == []
        assert "cnn_preds" not in seg.get_property_keys()


def test_missing_yra_means_no_raw(build):
    built = build(estimates={"YrA": None})
    with _open(built.path) as seg:
        assert seg.get_trace_names() == ["denoised", "deconvolved", "dff", "background"]


def test_legacy_strings_and_numbers_as_bytes(samples):
    sample = samples["legacy-strings"]
    with h5py.File(sample.path, "r") as handle:
        assert handle["params/data/fr"][()] == b"7.5"
        assert handle["params/data/dims"][()] == b"NoneType"
        assert handle["estimates/cnn_preds"].dtype.kind == "S"
    with _open(sample.path) as seg:
        assert seg.get_sampling_frequency() == 7.5
        assert seg.get_frame_shape() == (15, 22)  # from estimates/dims
        np.testing.assert_allclose(seg.get_property("cnn_preds"), sample.truth.properties["cnn_preds"], rtol=0)
        assert seg.get_property("is_accepted").all()


def test_dims_as_text(build):
    def text_dims(handle):
        del handle["params/data/dims"]
        handle["params/data/dims"] = np.bytes_(b"(6, 9)")

    with _open(build(edit=text_dims).path) as seg:
        assert seg.get_frame_shape() == (6, 9)


def test_three_dimensional_results_are_unsupported(build):
    def volume(handle):
        del handle["params/data/dims"]
        handle["params/data/dims"] = np.array([3, 6, 3])

    built = build(shape=(6, 9), edit=volume)
    with pytest.raises(UnsupportedFeatureError, match="3-D"):
        _open(built.path)


def test_missing_frame_rate(build):
    built = build(rate=None)
    with roicore.open(built.path) as seg:  # no rate in the file: unknown, and every read still works
        assert seg.get_sampling_frequency() is None
        np.testing.assert_allclose(seg.get_traces(), (built.fields["C"] + built.fields["YrA"]).T, rtol=1e-6)
        with pytest.raises(UnknownSamplingFrequencyError, match=built.path.name):
            seg.get_timestamps()
        with pytest.raises(UnknownSamplingFrequencyError, match="params/data/fr"):
            roicore.write(seg, built.path.with_name("copy.hdf5"))
        assert not built.path.with_name("copy.hdf5").exists()
    with _open(built.path, sampling_frequency=12.5) as seg:
        assert seg.get_sampling_frequency() == 12.5
    with pytest.raises(ValueError, match="sampling_frequency"):
        _open(built.path, sampling_frequency=-1)


def test_frame_rate_and_shape_types(samples):
    with _open(samples["evaluated"].path) as seg:
        assert type(seg.get_sampling_frequency()) is float and seg.get_sampling_frequency() == 15.0
        shape = seg.get_frame_shape()
        assert shape == (23, 31) and all(type(v) is int for v in shape)
        assert seg.get_num_samples() == 40 and type(seg.get_num_samples()) is int
        np.testing.assert_allclose(seg.get_timestamps()[:3], [0, 1 / 15, 2 / 15])


def test_pickle_reopens_from_the_path(samples):
    sample = samples["evaluated"]
    with _open(sample.path) as seg:
        payload = pickle.dumps(seg)
        assert len(payload) < 4096
        with pickle.loads(payload) as clone:
            np.testing.assert_array_equal(clone.get_traces(name="raw"), seg.get_traces(name="raw"))
            np.testing.assert_array_equal(clone.get_property("is_accepted"), seg.get_property("is_accepted"))


def test_views(samples):
    sample = samples["evaluated"]
    with _open(sample.path) as seg:
        subset = seg.select_rois([7, 2])
        np.testing.assert_array_equal(subset.get_traces(name="dff"), sample.truth.traces["dff"][:, [7, 2]])
        np.testing.assert_array_equal(subset.get_property("is_accepted"), [False, True])
        window = seg.slice_samples(5, 25)
        np.testing.assert_array_equal(window.get_traces(roi_ids=[3], name="raw"), sample.truth.traces["raw"][5:25, [3]])


def test_pixel_masks_without_scipy_equal_those_of_the_masks(tmp_path, build):
    """The direct decoding (no scipy) gives what the RoiMasks path gives: duplicates summed, zeros dropped."""

    def footprint(handle):
        del handle["estimates/A"]
        group = handle.create_group("estimates/A")
        # component 0: F-index 5 twice (summed), a zero; component 1: empty; component 2: unsorted F-indices
        group["data"] = np.array([0.25, 0.5, 0.0, 1.0, 2.0, 3.0])
        group["indices"] = np.array([5, 5, 7, 14, 3, 9], dtype=np.int32)
        group["indptr"] = np.array([0, 3, 3, 6], dtype=np.int32)
        group["shape"] = np.array([15, 3])

    built = build(shape=(3, 5), count=3, edit=footprint)
    with _open(built.path) as seg:
        direct = seg.get_roi_pixel_masks()
        subset = seg.get_roi_pixel_masks(roi_ids=seg.get_roi_ids()[::-1])
        via_masks = seg.get_roi_masks().to_pixel_masks()  # builds and caches the masks
        cached = seg.get_roi_pixel_masks()
    np.testing.assert_array_equal(direct[0], [[2, 1, 0.75]])
    assert direct[1].shape == (0, 3)
    np.testing.assert_array_equal(direct[2], [[0, 1, 2.0], [0, 3, 3.0], [2, 4, 1.0]])
    for a, b, c in zip(direct, via_masks, cached, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    for a, b in zip(subset, direct[::-1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_negative_footprint_weights_are_refused_by_the_direct_decoding(tmp_path, build):
    def footprint(handle):
        del handle["estimates/A"]
        group = handle.create_group("estimates/A")
        group["data"] = np.array([0.5, -1.0])
        group["indices"] = np.array([1, 2], dtype=np.int32)
        group["indptr"] = np.array([0, 1, 2], dtype=np.int32)
        group["shape"] = np.array([15, 2])

    built = build(shape=(3, 5), count=2, edit=footprint)
    with _open(built.path) as seg, pytest.raises(CorruptFileError, match="negative weights"):
        seg.get_roi_pixel_masks()


def test_open_and_pixel_masks_import_no_scipy(tmp_path, build):
    import json
    import subprocess
    import sys

    built = build(shape=(3, 5), count=2)
    code = (
        "import json, sys\n"
        "from roicore_caiman.reader import CaimanSegmentationExtractor\n"
        f"with CaimanSegmentationExtractor({str(built.path)!r}) as seg:\n"
        "    masks = seg.get_roi_pixel_masks()\n"
        "    raw = seg.get_traces(name='raw')\n"
        "print(json.dumps({'scipy': 'scipy.sparse' in sys.modules, 'masks': len(masks)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"scipy": False, "masks": 2}
