"""Conformance samples: small CaImAn CNMF files written the way ``CNMF.save()`` does.

Each file is built from known footprints and traces and saved through
:func:`roicore_caiman.caimansave.save_dict`, which follows CaImAn's own
serialisation rules (``NoneType`` placeholders, string attributes, CSC
groups, Fortran-order pixels). The ground truth is the generator's input,
never a value read back.

Reader samples (all on frames with rows != columns):

``evaluated``
    Components evaluated with some rejected; 2 dense background components;
    ``Cn``; ``SNR_comp``, ``r_values``, ``cnn_preds``; ``S`` and ``F_dff``.
``unevaluated``
    Saved before component evaluation: ``idx_components`` and the metrics are
    ``NoneType``; ``F_dff`` unset; a 1-D ``b`` (one background component); no ``Cn``.
``all-rejected``
    Evaluated, none accepted (``idx_components`` empty); CaImAn's ``gnb=-1``
    full background: ``b`` a sparse identity group, ``f`` one trace per pixel.
``ring-model``
    CNMF-E ring model (``gnb=0``): ``b`` of shape ``(d, 0)``, ``f`` unset,
    sparse ``W`` and ``b0``; no background components.
``legacy-strings``
    Strings stored as datasets (CaImAn < 1.9.9), the frame rate as a byte
    string, ``params/data/dims`` unset (dims from ``estimates/dims``),
    ``cnn_preds`` as byte strings, ``idx_components_bad`` an empty list.
``selected``
    After ``Estimates.select_components()``: index lists reset to ``NoneType``,
    the rejected components moved to ``discarded_components``; all remaining
    components are accepted.

Writer samples: in-memory extractors with every kind of content the writer
maps (string ids, all trace names, background, images, extra properties),
only raw traces, and no traces at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from roicore.testing.samples import Sample, SegmentationTruth, WriterSample
from roicore_caiman.caimansave import save_dict

__all__ = [
    "make_reader_samples",
    "make_writer_samples",
    "synthetic_footprints",
    "fortran_csc",
    "cnmf_dict",
    "write_cnmf_file",
]


def synthetic_footprints(
    rng: np.random.Generator, frame_shape: tuple[int, int], count: int, sigma: float = 1.6
) -> np.ndarray:
    """Gaussian blobs ``(rows, columns, count)`` cut at 15 % of their peak, unit L2 norm (like CaImAn's ``A``).

    Centres are spread over the whole frame so that rows and columns both matter.
    """
    rows, columns = frame_shape
    rr, cc = np.mgrid[0:rows, 0:columns]
    masks = np.zeros((rows, columns, count))
    for k in range(count):
        r0, c0 = rng.uniform(1, rows - 2), rng.uniform(1, columns - 2)
        blob = np.exp(-((rr - r0) ** 2 + (cc - c0) ** 2) / (2 * sigma**2))
        blob[blob < 0.15 * blob.max()] = 0.0
        masks[:, :, k] = blob / np.linalg.norm(blob)
    return masks


def fortran_csc(image_masks: np.ndarray) -> Any:
    """``(rows, columns, n)`` masks as CaImAn's ``A``: CSC ``(rows * columns, n)``, pixels in Fortran order."""
    from scipy import sparse

    rows, columns, count = image_masks.shape
    return sparse.csc_matrix(image_masks.reshape(rows * columns, count, order="F"))


def _traces(rng: np.random.Generator, count: int, frames: int) -> dict[str, np.ndarray]:
    """CNMF-like ``(K, T)`` matrices: C (float64), YrA (float32, as CaImAn's residuals), S, F_dff."""
    spikes = (rng.random((count, frames)) < 0.08) * rng.uniform(0.5, 2.0, (count, frames))
    calcium = np.zeros((count, frames))
    for t in range(frames):
        calcium[:, t] = (0.9 * calcium[:, t - 1] if t else 0.0) + spikes[:, t]
    residual = rng.normal(0, 0.2, (count, frames)).astype(np.float32)
    baseline = rng.uniform(1.0, 3.0, (count, 1))
    return {
        "C": calcium + baseline,
        "YrA": residual,
        "S": spikes,
        "F_dff": (calcium / baseline),
    }


def cnmf_dict(
    *,
    frame_shape: tuple[int, int],
    rate: Any,
    footprints: Any,
    estimates: dict[str, Any],
    params_dims: Any = "frame",
    extra_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The nested dict ``CNMF.__dict__`` would give for these results (CaImAn 1.12 field names).

    Unset fields are None, exactly as in ``Estimates.__init__``.
    """
    dims = tuple(frame_shape)
    est: dict[str, Any] = {
        "A": footprints, "C": None, "f": None, "b": None, "R": None, "W": None, "b0": None, "YrA": None,
        "S": None, "sn": None, "g": None, "bl": None, "c1": None, "neurons_sn": None, "lam": None,
        "center": None, "merged_ROIs": None, "coordinates": None, "F_dff": None,
        "idx_components": None, "idx_components_bad": None, "SNR_comp": None, "r_values": None,
        "cnn_preds": None, "ecc": None,
        "noisyC": None, "C_on": None, "Ab": None, "Cf": None, "OASISinstances": None, "CY": None,
        "CC": None, "Ab_dense": None, "Yr_buf": None, "mn": None, "vr": None, "ind_new": None,
        "rho_buf": None, "AtA": None, "AtY_buf": None, "sv": None, "groups": None,
        "dims": dims, "shifts": [], "A_thr": None, "discarded_components": None,
    }
    est.update(estimates)
    data = {
        "fnames": ["movie_0.tif"],
        "dims": dims if params_dims == "frame" else params_dims,
        "fr": rate,
        "decay_time": 0.4,
        "dxy": (1, 1),
        "var_name_hdf5": "mov",
        "caiman_version": "1.12.1",
        "last_commit": None,
    }
    params = {
        "data": data,
        "init": {"K": footprints.shape[1], "gSig": [2, 2], "nb": 2, "method_init": "greedy_roi"},
        "quality": {"min_SNR": 2.5, "rval_thr": 0.8, "use_cnn": False, "min_cnn_thr": 0.9},
        "temporal": {"p": 1, "method_deconvolution": "oasis"},
        "patch": {"rf": None, "stride": None, "only_init": True},
    }
    if extra_params:
        for group, values in extra_params.items():
            params.setdefault(group, {}).update(values)
    return {
        "dims": dims,
        "dview": None,
        "skip_refinement": False,
        "remove_very_bad_comps": False,
        "mmap_file": "memmap_d1_{}_d2_{}_d3_1_order_C_frames_{}.mmap".format(*dims, 0),
        "params": params,
        "estimates": est,
    }


def write_cnmf_file(path: Path, contents: dict[str, Any], *, legacy_strings: bool = False) -> Path:
    """Save ``contents`` like ``save_dict_to_hdf5(cnm.__dict__, path)`` does."""
    with h5py.File(path, "w") as handle:
        save_dict(handle, contents, legacy_strings=legacy_strings)
    return path


def _raw(fields: dict[str, np.ndarray]) -> np.ndarray:
    return (fields["C"].astype(np.float64) + fields["YrA"].astype(np.float64)).T


def _evaluated(folder: Path) -> Sample:
    rng = np.random.default_rng(11)
    shape, count, frames, rate = (23, 31), 9, 40, 15.0
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    background = rng.uniform(0.5, 1.5, (shape[0], shape[1], 2))
    background_traces = rng.uniform(0.8, 1.2, (2, frames))
    correlation = rng.uniform(0, 1, shape)
    accepted = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1], dtype=bool)
    snr, r_values, cnn = rng.uniform(0, 10, count), rng.uniform(-1, 1, count), rng.uniform(0, 1, count)
    contents = cnmf_dict(
        frame_shape=shape,
        rate=rate,
        footprints=fortran_csc(masks),
        estimates={
            **fields,
            "b": background.reshape(shape[0] * shape[1], 2, order="F"),
            "f": background_traces,
            "Cn": correlation,
            "idx_components": np.flatnonzero(accepted).astype(int),
            "idx_components_bad": np.flatnonzero(~accepted).astype(int),
            "SNR_comp": snr,
            "r_values": r_values,
            "cnn_preds": cnn,
            "sn": rng.uniform(0, 1, shape[0] * shape[1]),
            "g": [np.array([0.9]) for _ in range(count)],
            "center": rng.uniform(0, 20, (count, 2)),
        },
    )
    path = write_cnmf_file(folder / "evaluated_results.hdf5", contents)
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T, "deconvolved": fields["S"].T, "dff": fields["F_dff"].T},
        sampling_frequency=rate,
        num_samples=frames,
        images={"correlation": correlation},
        background_ids=[count, count + 1],
        background_masks=background,
        background_traces=background_traces.T,
        properties={"is_accepted": accepted, "snr": snr, "r_values": r_values, "cnn_preds": cnn},
    )
    return Sample("evaluated", path, truth)


def _unevaluated(folder: Path) -> Sample:
    rng = np.random.default_rng(12)
    shape, count, frames, rate = (17, 26), 6, 33, 30.0
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    del fields["F_dff"]
    background = rng.uniform(0.5, 1.5, shape)
    background_trace = rng.uniform(0.8, 1.2, (1, frames))
    contents = cnmf_dict(
        frame_shape=shape,
        rate=rate,
        footprints=fortran_csc(masks),
        estimates={**fields, "b": background.reshape(-1, order="F"), "f": background_trace},
    )
    path = write_cnmf_file(folder / "unevaluated.hdf5", contents)
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T, "deconvolved": fields["S"].T},
        sampling_frequency=rate,
        num_samples=frames,
        background_ids=[count],
        background_masks=background[:, :, np.newaxis],
        background_traces=background_trace.T,
        absent_properties=("is_accepted", "snr", "r_values", "cnn_preds"),
    )
    return Sample("unevaluated", path, truth)


def _all_rejected(folder: Path) -> Sample:
    from scipy import sparse

    rng = np.random.default_rng(13)
    shape, count, frames, rate = (20, 14), 5, 25, 9.5
    pixels = shape[0] * shape[1]
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    per_pixel = rng.uniform(0.5, 1.5, (pixels, frames))  # f of gnb=-1: one trace per pixel (F order)
    snr, r_values = rng.uniform(0, 1, count), rng.uniform(-1, 0, count)
    correlation = rng.uniform(0, 1, shape)
    contents = cnmf_dict(
        frame_shape=shape,
        rate=rate,
        footprints=fortran_csc(masks),
        estimates={
            **fields,
            "b": sparse.identity(pixels, format="csc"),
            "f": per_pixel,
            "Cn": correlation,
            "idx_components": np.array([], dtype=int),
            "idx_components_bad": np.arange(count),
            "SNR_comp": snr,
            "r_values": r_values,
        },
        extra_params={"init": {"nb": -1}},
    )
    path = write_cnmf_file(folder / "all_rejected.hdf5", contents)
    # background component j is pixel j in Fortran order: (row j % rows, column j // rows)
    identity = np.eye(pixels).reshape(shape[0], shape[1], pixels, order="F")
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T, "deconvolved": fields["S"].T, "dff": fields["F_dff"].T},
        sampling_frequency=rate,
        num_samples=frames,
        images={"correlation": correlation},
        background_ids=list(range(count, count + pixels)),
        background_masks=identity,
        background_traces=per_pixel.T,
        properties={"is_accepted": np.zeros(count, dtype=bool), "snr": snr, "r_values": r_values},
        absent_properties=("cnn_preds",),
    )
    return Sample("all-rejected", path, truth)


def _ring_model(folder: Path) -> Sample:
    from scipy import sparse

    rng = np.random.default_rng(14)
    shape, count, frames, rate = (21, 19), 4, 30, 20.0
    pixels = shape[0] * shape[1]
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    ring = sparse.random(pixels, pixels, density=0.01, random_state=14, format="csr")
    correlation = rng.uniform(0, 1, shape)
    contents = cnmf_dict(
        frame_shape=shape,
        rate=rate,
        footprints=fortran_csc(masks),
        estimates={
            **fields,
            "b": np.zeros((pixels, 0)),
            "f": None,
            "W": ring,
            "b0": rng.uniform(0, 100, pixels),
            "Cn": correlation,
            "idx_components": np.arange(count),
            "idx_components_bad": np.array([], dtype=int),
        },
        extra_params={"init": {"nb": 0, "method_init": "corr_pnr", "ring_size_factor": 1.5}},
    )
    path = write_cnmf_file(folder / "ring_model_cnmfe.hdf5", contents)
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T, "deconvolved": fields["S"].T, "dff": fields["F_dff"].T},
        sampling_frequency=rate,
        num_samples=frames,
        images={"correlation": correlation},
        background_ids=[],
        properties={"is_accepted": np.ones(count, dtype=bool)},
    )
    return Sample("ring-model", path, truth)


def _legacy_strings(folder: Path) -> Sample:
    rng = np.random.default_rng(15)
    shape, count, frames = (15, 22), 3, 21
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    cnn = rng.uniform(0, 1, count)
    contents = cnmf_dict(
        frame_shape=shape,
        rate="7.5",  # a string: an old file stores it as a string dataset
        footprints=fortran_csc(masks),
        params_dims=None,  # dims only in estimates/dims and the root
        estimates={
            **fields,
            "b": rng.uniform(0.5, 1.5, (shape[0] * shape[1], 1)),
            "f": rng.uniform(0.8, 1.2, (1, frames)),
            "idx_components": list(range(count)),
            "idx_components_bad": [],  # an empty list: float64 (0,)
            "cnn_preds": np.array([float(v) for v in cnn], dtype=object),  # cast to |S32 by the saver
        },
    )
    path = write_cnmf_file(folder / "legacy_strings.hdf5", contents, legacy_strings=True)
    background = contents["estimates"]["b"].reshape(shape[0], shape[1], 1, order="F")
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T, "deconvolved": fields["S"].T, "dff": fields["F_dff"].T},
        sampling_frequency=7.5,
        num_samples=frames,
        background_ids=[count],
        background_masks=background,
        background_traces=contents["estimates"]["f"].T,
        properties={"is_accepted": np.ones(count, dtype=bool), "cnn_preds": np.array([float(f"{v}") for v in cnn])},
        rtol=1e-6,
    )
    return Sample("legacy-strings", path, truth)


def _selected(folder: Path) -> Sample:
    rng = np.random.default_rng(16)
    shape, count, frames, rate = (19, 24), 7, 28, 12.0
    masks = synthetic_footprints(rng, shape, count)
    fields = _traces(rng, count, frames)
    keep = np.array([0, 2, 3, 6])
    drop = np.setdiff1d(np.arange(count), keep)
    snr = rng.uniform(0, 10, count)
    kept = {name: values[keep] for name, values in fields.items()}
    discarded = {name: values[drop] for name, values in fields.items()}
    discarded.update({"A": fortran_csc(masks[:, :, drop]), "SNR_comp": snr[drop], "nr": int(drop.size), "dims": shape})
    contents = cnmf_dict(
        frame_shape=shape,
        rate=rate,
        footprints=fortran_csc(masks[:, :, keep]),
        estimates={
            **kept,
            "b": rng.uniform(0.5, 1.5, (shape[0] * shape[1], 1)),
            "f": rng.uniform(0.8, 1.2, (1, frames)),
            "SNR_comp": snr[keep],
            "discarded_components": discarded,
            "nr": int(keep.size),
        },
    )
    path = write_cnmf_file(folder / "selected.hdf5", contents)
    truth = SegmentationTruth(
        roi_ids=list(range(keep.size)),
        image_masks=masks[:, :, keep],
        traces={"raw": _raw(kept), "denoised": kept["C"].T, "deconvolved": kept["S"].T, "dff": kept["F_dff"].T},
        sampling_frequency=rate,
        num_samples=frames,
        background_ids=[int(keep.size)],
        background_masks=contents["estimates"]["b"].reshape(shape[0], shape[1], 1, order="F"),
        background_traces=contents["estimates"]["f"].T,
        properties={"is_accepted": np.ones(keep.size, dtype=bool), "snr": snr[keep]},
    )
    return Sample("selected", path, truth)


def pixel_outside_frame(path: Path) -> None:
    """Damage a results file in place: the first pixel index of ``estimates/A`` points past the frame."""
    with h5py.File(path, "r+") as handle:
        rows, columns = (int(v) for v in handle["estimates/dims"][()])
        handle["estimates/A/indices"][0] = rows * columns + 3


def _long(folder: Path) -> Sample:
    """Traces over 11000 frames (1 MiB per trace matrix), so the kit can see that a window read is not a whole read."""
    rng = np.random.default_rng(17)
    shape, count, frames, rate = (12, 15), 12, 11000, 20.0
    masks = synthetic_footprints(rng, shape, count)
    fields = {key: value for key, value in _traces(rng, count, frames).items() if key in ("C", "YrA")}
    contents = cnmf_dict(frame_shape=shape, rate=rate, footprints=fortran_csc(masks), estimates=fields)
    path = write_cnmf_file(folder / "long_results.hdf5", contents)
    truth = SegmentationTruth(
        roi_ids=list(range(count)),
        image_masks=masks,
        traces={"raw": _raw(fields), "denoised": fields["C"].T},
        sampling_frequency=rate,
        num_samples=frames,
        absent_properties=("is_accepted",),
    )
    return Sample("long", path, truth, damages={"roi-outside-frame": pixel_outside_frame})


def make_reader_samples(folder: Path) -> list[Sample]:
    """Write the reader samples into ``folder`` and return them with their ground truth."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    evaluated = _evaluated(folder)
    evaluated.damages["roi-outside-frame"] = pixel_outside_frame
    return [
        evaluated,
        _unevaluated(folder),
        _all_rejected(folder),
        _ring_model(folder),
        _legacy_strings(folder),
        _selected(folder),
        _long(folder),
    ]


def make_writer_samples(folder: Path) -> list[WriterSample]:
    """In-memory sources for the writer checks (``folder`` is unused: nothing to write up front)."""
    from roicore.memory import NumpySegmentationExtractor

    rng = np.random.default_rng(21)
    shape, count, frames = (13, 18), 5, 37
    masks = synthetic_footprints(rng, shape, count)
    denoised = rng.uniform(0, 5, (frames, count)).astype(np.float32)
    full = NumpySegmentationExtractor(
        masks,
        22.5,
        traces={
            "raw": denoised + rng.normal(0, 0.3, (frames, count)).astype(np.float32),
            "denoised": denoised,
            "deconvolved": rng.uniform(0, 1, (frames, count)).astype(np.float32),
            "dff": rng.normal(0, 1, (frames, count)),
            "neuropil": rng.uniform(0, 2, (frames, count)),
        },
        roi_ids=[f"cell-{k}" for k in range(count)],
        images={"correlation": rng.uniform(0, 1, shape), "mean": rng.uniform(100, 200, shape)},
        properties={
            "is_accepted": np.array([True, False, True, True, False]),
            "snr": rng.uniform(0, 9, count),
            "area": np.array([30, 41, 28, 35, 33]),
        },
        background_masks=rng.uniform(0.1, 1.0, (shape[0], shape[1], 2)),
        background_traces=rng.uniform(0, 1, (frames, 2)),
        background_ids=["global-0", "global-1"],
    )
    raw_only = NumpySegmentationExtractor(
        synthetic_footprints(rng, (11, 7), 3),
        30.0,
        traces={"raw": rng.normal(10, 2, (frames, 3))},
    )
    no_traces = NumpySegmentationExtractor(
        synthetic_footprints(rng, (9, 16), 2),
        4.0,
        num_samples=12,
        properties={"is_accepted": np.array([False, False])},
    )
    return [
        WriterSample("full", full, "full_results.hdf5"),
        WriterSample("raw-only", raw_only, "raw_only.hdf5"),
        WriterSample("no-traces", no_traces, "no_traces.hdf5"),
    ]
