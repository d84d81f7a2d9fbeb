"""Write any roicore SegmentationExtractor as a CaImAn CNMF HDF5 file.

The file follows what ``CNMF.save()`` writes (see :mod:`roicore_caiman.caimansave`),
so CaImAn's ``load_CNMF`` reads it back:

* ``estimates/A``: the ROI masks as a CSC group, pixels in Fortran order;
* ``estimates/C`` (denoised), ``YrA`` (raw - denoised), ``S`` (deconvolved),
  ``F_dff`` (dff): ``(K, T)``; ``b`` ``(d, nb)`` (Fortran pixel order) and
  ``f`` ``(nb, T)`` from the background components;
* ``idx_components`` / ``idx_components_bad`` from the bool property
  ``is_accepted``; ``SNR_comp``, ``r_values``, ``cnn_preds`` from the
  properties ``snr``, ``r_values``, ``cnn_preds``; ``Cn`` from the
  ``correlation`` image;
* ``"NoneType"`` placeholders for every field the source lacks;
* ``params/data/fr`` and ``dims``, root ``dims``.

What CaImAn's layout cannot say goes to a root group ``/roicore`` that
CaImAn's loader keeps as a plain dict: non-default ROI/background ids, other
properties, images and traces, and the note that ``C`` was made from ``raw``
when the source has no denoised traces (``YrA`` is then zero). The reader
honours it, so a write/read round trip returns the source.

Raw traces never pose as CaImAn's denoised ``C`` silently: such a ``C`` carries
an attribute ``roicore_note`` saying what it holds, and the provenance of a
computed source (``extractor.provenance``, e.g. an extraction result) is kept
as JSON in the attribute ``/roicore.provenance``; the reader reports both (its
``origin_note``, printed by ``roicore info``).

A CaImAn file converted to CaImAn (the reader's extractor itself, or a view of
all its samples) keeps every ``estimates`` field as stored - those roicore does
not read (``sn``, ``g``, ``center``, ``lam``, ``W``, ``b0``, ...) and the trace
matrices bit for bit (``YrA`` is not recomputed) - and the whole ``params``
group, copied from the source file; ``params/data/fr`` is the rate written.
Only ``A`` is rewritten, from the same masks.

Traces are streamed in time chunks; roicore renames the temporary file into
place when :func:`write_caiman` returns (atomic, no overwrite by default).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from roicore.errors import UnsupportedFeatureError
from roicore.segmentation import SegmentationExtractor
from roicore_caiman.caimansave import save_dict, write_none
from roicore_caiman.contents import EXTRAS_GROUP, METRICS
from roicore_caiman.layout import c_to_fortran_pixels

__all__ = ["write_caiman", "CHUNK_BYTES"]

#: Target size of one time chunk of all trace matrices together (bytes).
CHUNK_BYTES = 64 * 2**20
#: Background footprints denser than this many bytes are stored as a sparse group.
DENSE_BACKGROUND_BYTES = 256 * 2**20

_ONLINE_FIELDS = (
    "noisyC", "C_on", "Ab", "Cf", "OASISinstances", "CY", "CC", "Ab_dense", "Yr_buf",
    "mn", "vr", "ind_new", "rho_buf", "AtA", "AtY_buf", "sv",
)
_UNSET_FIELDS = (
    "R", "W", "b0", "sn", "bl", "c1", "neurons_sn", "lam", "center", "ecc", "A_thr",
    "discarded_components", "coordinates", "merged_ROIs", "groups",
)
_CAIMAN_TRACES = {"raw", "denoised", "deconvolved", "dff", "background"}
_PROPERTY_FIELDS = {key: name for name, key in METRICS.items()}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("roicore-caiman")
    except Exception:
        return "unknown"


def _id_array(ids: list[Any], what: str) -> np.ndarray:
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in ids):
        return np.asarray(ids, dtype=np.int64)
    if all(isinstance(i, str) for i in ids):
        return np.array([i.encode("utf-8") for i in ids], dtype=np.bytes_)
    raise UnsupportedFeatureError(f"{what} mix ints and strings; the CaImAn writer stores either kind, not both")


def _storable(values: Any) -> np.ndarray | None:
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind == "U":
        return np.char.encode(arr, "utf-8")
    if arr.dtype.kind == "S":
        return arr
    return None


def _fortran_csc(matrix: Any, rows: int, columns: int) -> Any:
    """A C-order ``(pixels, n)`` CSC matrix with its pixel axis reordered to Fortran order."""
    from scipy import sparse

    csc = sparse.csc_matrix(matrix)
    remapped = sparse.csc_matrix(
        (csc.data, c_to_fortran_pixels(csc.indices, rows, columns), csc.indptr), shape=csc.shape
    )
    remapped.sort_indices()
    return remapped


def _write_csc(group: h5py.Group, key: str, matrix: Any) -> None:
    sub = group.create_group(key)
    sub["data"] = matrix.data
    sub["indptr"] = matrix.indptr
    sub["indices"] = matrix.indices
    sub["shape"] = np.asarray(matrix.shape, dtype=np.int64)


def _residual(raw: np.ndarray, denoised: np.ndarray) -> np.ndarray:
    """``YrA`` (float64) such that ``denoised + YrA`` rounds back to ``raw`` exactly.

    The float64 difference of two float32 values is exact; for float64 data
    a few ``nextafter`` steps repair the last-bit rounding of ``raw - C``.
    """
    target = raw.astype(np.float64)
    base = denoised.astype(np.float64)
    residual = target - base
    for _ in range(4):
        total = base + residual
        wrong = total != target
        if not wrong.any():
            break
        direction = np.where(total[wrong] < target[wrong], np.inf, -np.inf)
        residual[wrong] = np.nextafter(residual[wrong], direction)
    return residual


class _TracePlan:
    """Which CaImAn dataset each source trace goes to, and how it is computed."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.synthesized: list[str] = []
        self.fields: dict[str, str] = {}  # CaImAn field -> source trace name
        if "denoised" in names:
            self.fields["C"] = "denoised"
            if "raw" in names:
                self.fields["YrA"] = "raw"
        elif "raw" in names:
            self.fields["C"] = "raw"
            self.fields["YrA"] = "raw"  # zeros: C holds raw itself
            self.synthesized.append("C")
        if "deconvolved" in names:
            self.fields["S"] = "deconvolved"
        if "dff" in names:
            self.fields["F_dff"] = "dff"
        self.extra = [name for name in names if name not in _CAIMAN_TRACES]


def write_caiman(
    extractor: SegmentationExtractor,
    target: Any,
    *,
    chunk_frames: int | None = None,
    compression: str | None = None,
) -> None:
    """Write ``extractor`` to ``target.temporary()`` in CaImAn's CNMF HDF5 layout.

    Parameters
    ----------
    extractor : SegmentationExtractor
        The source; only read.
    target : roicore.writing.WriteTarget
        Hands out the temporary path; roicore renames it into place afterwards.
    chunk_frames : int, optional
        Frames per streamed chunk of traces; by default about 64 MiB of traces.
    compression : {"gzip", "lzf"}, optional
        HDF5 compression of the trace matrices (CaImAn writes none; its loader
        reads both).

    Raises
    ------
    TypeError
        The source is not a SegmentationExtractor.
    ValueError
        A bad option.
    UnsupportedFeatureError
        ROI ids that mix ints and strings.
    """
    if not isinstance(extractor, SegmentationExtractor):
        raise TypeError(f"the CaImAn writer writes SegmentationExtractors, not {type(extractor).__name__}")
    if chunk_frames is not None and (isinstance(chunk_frames, bool) or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1):
        raise ValueError(f"chunk_frames must be a positive integer, not {chunk_frames!r}")
    if compression not in (None, "gzip", "lzf"):
        raise ValueError(f"compression must be None, 'gzip' or 'lzf', not {compression!r}")
    rows, columns = (int(v) for v in extractor.get_frame_shape())
    roi_ids = list(extractor.get_roi_ids())
    background_ids = list(extractor.get_background_ids())
    count, num_background = len(roi_ids), len(background_ids)
    num_samples = int(extractor.get_num_samples())
    # CaImAn's own params need fr (its CNMFParams default is 30 Hz): never write a guess
    rate = extractor.require_sampling_frequency("writing CaImAn's params/data/fr")
    plan = _TracePlan(list(extractor.get_trace_names()))
    properties = {key: extractor.get_property(key) for key in extractor.get_property_keys()}
    images = extractor.get_images_dict()

    path = target.temporary()
    with h5py.File(path, "w") as handle:
        handle.attrs["runmode"] = "CNMF"
        save_dict(
            handle,
            {
                "dims": np.asarray((rows, columns), dtype=np.int64),
                "dview": None,
                "params": {"data": {"dims": np.asarray((rows, columns), dtype=np.int64), "fr": rate, "fnames": None}},
            },
        )
        estimates = handle.create_group("estimates")
        extras = handle.create_group(EXTRAS_GROUP)
        extras.attrs["writer"] = f"roicore-caiman {_version()}"
        save_dict(extras, {"format_version": 1, "num_samples": num_samples})
        _write_small_fields(estimates, extras, properties, images, count, rows, columns)
        _write_ids(extras, roi_ids, background_ids, count, num_background)
        masks = extractor.get_roi_masks()
        _write_csc(estimates, "A", _fortran_csc(masks.matrix, rows, columns))
        del masks
        _write_background_masks(extractor, estimates, num_background, rows, columns)
        if plan.synthesized:
            extras["synthesized"] = np.array([name.encode() for name in plan.synthesized], dtype=np.bytes_)
        _write_traces(extractor, estimates, extras, plan, count, num_background, num_samples, chunk_frames, compression)
        if "C" in plan.synthesized:  # for anyone reading the file with h5py or CaImAn itself
            estimates["C"].attrs["roicore_note"] = RAW_AS_C_NOTE
        provenance = getattr(extractor, "provenance", None)
        if isinstance(provenance, Mapping):
            extras.attrs["provenance"] = json.dumps(dict(provenance), default=str, sort_keys=True)
        source = _caiman_source(extractor)
        if source is not None:
            _copy_source_fields(source, handle, rate)


#: the attribute on a ``C`` that holds raw traces
RAW_AS_C_NOTE = (
    "raw fluorescence written by roicore, not CaImAn's denoised C: the source had no denoised traces "
    "(YrA is zero; roicore reads this C back as 'raw')"
)
#: written from the extractor even when the source is a CaImAn file: A in roicore's sorted CSC layout
_REWRITTEN = {"A"}


def _caiman_source(extractor: SegmentationExtractor) -> h5py.File | None:
    """The CaImAn file behind ``extractor`` when it shows all of it unchanged (see the module docstring)."""
    from roicore.segmentation import SampleSlicedSegmentationExtractor

    from roicore_caiman.reader import CaimanSegmentationExtractor

    node: Any = extractor
    while (
        isinstance(node, SampleSlicedSegmentationExtractor)
        and node._start == 0
        and node._end == node._parent.get_num_samples()
        and node._times is None
        and not node._own_properties()
    ):
        node = node._parent
    if type(node) is CaimanSegmentationExtractor and node._times is None and node._file is not None:
        # the reader's own open handle: a second h5py handle on the file would share (and close) it
        return node._file
    return None


def _copy_source_fields(original: h5py.File, handle: h5py.File, rate: float) -> None:
    estimates = original.get("estimates")
    if isinstance(estimates, h5py.Group):
        for key in estimates:
            if key in _REWRITTEN:
                continue
            if key in handle["estimates"]:
                del handle["estimates"][key]  # the placeholder written for it
            original.copy(estimates[key], handle["estimates"], name=key)
    params = original.get("params")
    if isinstance(params, h5py.Group):
        del handle["params"]
        original.copy(params, handle, name="params")
        data = handle["params"].require_group("data")
        if "fr" in data:
            del data["fr"]
        data["fr"] = rate


def _write_small_fields(
    estimates: h5py.Group,
    extras: h5py.Group,
    properties: dict[str, np.ndarray],
    images: dict[str, np.ndarray],
    count: int,
    rows: int,
    columns: int,
) -> None:
    fields: dict[str, Any] = {name: None for name in (*_UNSET_FIELDS, *_ONLINE_FIELDS)}
    fields["g"] = None  # CaImAn stores an unset g as the float 0
    fields["shifts"] = []  # an empty list: float64 (0,)
    fields["dims"] = np.asarray((rows, columns), dtype=np.int64)
    accepted = properties.get("is_accepted")
    if accepted is not None:
        flags = np.asarray(accepted).astype(bool).reshape(-1)
        fields["idx_components"] = np.flatnonzero(flags).astype(np.int64)
        fields["idx_components_bad"] = np.flatnonzero(~flags).astype(np.int64)
    else:
        fields["idx_components"] = fields["idx_components_bad"] = None
    other: dict[str, np.ndarray] = {}
    for key, values in properties.items():
        if key == "is_accepted":
            continue
        arr = np.asarray(values)
        if key in _PROPERTY_FIELDS and arr.ndim == 1 and arr.dtype.kind in "biuf":
            fields[_PROPERTY_FIELDS[key]] = arr.astype(np.float64)
        else:
            other[key] = arr
    for name in METRICS:
        fields.setdefault(name, None)
    if "correlation" in images:
        fields["Cn"] = np.asarray(images["correlation"], dtype=np.float64)
    save_dict(estimates, fields)
    if other:
        group = extras.create_group("properties")
        for key, arr in other.items():
            storable = _storable(arr)
            if storable is None:
                warnings.warn(f"property {key!r} of dtype {arr.dtype} cannot be stored in HDF5; it is not written", UserWarning, stacklevel=4)
                continue
            group[key] = storable
    others = {name: image for name, image in images.items() if name != "correlation"}
    if others:
        group = extras.create_group("images")
        for name, image in others.items():
            group[name] = np.asarray(image)


def _write_ids(extras: h5py.Group, roi_ids: list[Any], background_ids: list[Any], count: int, num_background: int) -> None:
    if roi_ids != list(range(count)):
        extras["roi_ids"] = _id_array(roi_ids, "ROI ids")
    if background_ids != list(range(count, count + num_background)):
        extras["background_ids"] = _id_array(background_ids, "background ids")


def _write_background_masks(
    extractor: SegmentationExtractor, estimates: h5py.Group, num_background: int, rows: int, columns: int
) -> None:
    if num_background == 0:
        write_none(estimates, "b")
        return
    try:
        masks = extractor.get_background_masks()
    except UnsupportedFeatureError:
        write_none(estimates, "b")  # background traces without footprints
        return
    matrix = _fortran_csc(masks.matrix, rows, columns)
    if rows * columns * num_background * 8 <= DENSE_BACKGROUND_BYTES:
        estimates["b"] = matrix.toarray()  # CaImAn's usual dense (d, nb)
    else:
        _write_csc(estimates, "b", matrix)  # like CaImAn's gnb=-1 sparse background


def _write_traces(
    extractor: SegmentationExtractor,
    estimates: h5py.Group,
    extras: h5py.Group,
    plan: _TracePlan,
    count: int,
    num_background: int,
    num_samples: int,
    chunk_frames: int | None,
    compression: str | None,
) -> None:
    def create(group: h5py.Group, key: str, rows: int, dtype: Any) -> h5py.Dataset:
        options: dict[str, Any] = {}
        if compression is not None and rows and num_samples:
            options = {"compression": compression, "chunks": (min(rows, 64), min(num_samples, 4096))}
        return group.create_dataset(key, shape=(rows, num_samples), dtype=dtype, **options)

    probe = {name: extractor.get_traces(name=name, start_sample=0, end_sample=0).dtype for name in plan.names}
    outputs: dict[str, tuple[h5py.Dataset, str]] = {}
    for field, source in plan.fields.items():
        dtype = np.float64 if field == "YrA" and not plan.synthesized else probe[source]
        outputs[field] = (create(estimates, field, count, dtype), source)
    for field in ("C", "YrA", "S", "F_dff"):
        if field not in plan.fields:
            write_none(estimates, field)
    if plan.extra:
        group = extras.create_group("traces")
        for name in plan.extra:
            outputs[f"extra:{name}"] = (create(group, name, count, probe[name]), name)
    if num_background and "background" in plan.names:
        outputs["f"] = (create(estimates, "f", num_background, probe["background"]), "background")
    else:
        write_none(estimates, "f")

    width = max(1, count + num_background) * 8 * (len(outputs) + 2)
    step = chunk_frames or max(1, CHUNK_BYTES // width)
    for start in range(0, num_samples, step):
        end = min(num_samples, start + step)
        blocks = {name: extractor.get_traces(name=name, start_sample=start, end_sample=end) for name in plan.names}
        for field, (dataset, source) in outputs.items():
            if field == "YrA":
                if plan.synthesized:
                    block = np.zeros_like(blocks[source])
                else:
                    block = _residual(blocks["raw"], blocks["denoised"])
            else:
                block = blocks[source]
            dataset[:, start:end] = np.ascontiguousarray(block.T)
