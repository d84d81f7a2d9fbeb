"""What a CaImAn CNMF HDF5 file holds, worked out from metadata when it is opened.

:func:`parse` walks the members of an open file once and returns
:class:`CaimanContents`: frame shape, rate, the footprint matrix (not read),
the datasets behind each trace name (not read), the background layout,
acceptance and per-component quality metrics (small ``(K,)`` vectors, read),
and roicore's own additions written by :mod:`roicore_caiman.writer`. It reads
no trace data and no footprint data; every inconsistency of shapes is a
:class:`~roicore.errors.CorruptFileError` naming the file and the member.

Trace names (roicore's, mapped to CaImAn's fields):

========== =========================== =====================
name       CaImAn field                shape on disk
========== =========================== =====================
raw        ``C + YrA``                 (K, T) each
denoised   ``C``                       (K, T)
deconvolved ``S``                      (K, T)
dff        ``F_dff``                   (K, T)
background ``f`` (over background ids) (nb, T)
========== =========================== =====================
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from roicore.errors import UnsupportedFeatureError
from roicore_caiman.layout import (
    DATASET,
    GROUP,
    MISSING,
    NONE,
    SparseGroupInfo,
    corrupt,
    member,
    read_dims,
    read_float,
    read_id_list,
    read_index_array,
    read_text_list,
    read_vector,
    sparse_group_info,
)

__all__ = ["CaimanContents", "parse", "METRICS", "EXTRAS_GROUP", "TRACE_FIELDS"]

#: CaImAn quality metric field -> roicore property key (roiextractors' names).
METRICS = {"SNR_comp": "snr", "r_values": "r_values", "cnn_preds": "cnn_preds"}

#: roicore trace name -> CaImAn fields summed to make it.
TRACE_FIELDS = {
    "raw": ("C", "YrA"),
    "denoised": ("C",),
    "deconvolved": ("S",),
    "dff": ("F_dff",),
}

#: The root group where roicore's writer keeps what CaImAn's layout cannot say.
EXTRAS_GROUP = "roicore"


@dataclass
class CaimanContents:
    """The parsed layout of one CaImAn file (h5py objects stay unread).

    Attributes
    ----------
    frame_shape : tuple of int
        ``(rows, columns)`` = CaImAn's ``dims``.
    sampling_frequency : float or None
    num_components : int
        K, the number of spatial footprints in ``estimates/A``.
    num_samples : int
        T.
    footprints : SparseGroupInfo or h5py.Dataset
        ``estimates/A``: a CSC group (CaImAn's form) or a dense ``(d, K)`` dataset.
    traces : dict of str to tuple of h5py.Dataset
        Trace name -> the fields summed to make it (``raw`` = ``C`` + ``YrA``).
    background : SparseGroupInfo or h5py.Dataset or None
        ``estimates/b``; None when absent, a placeholder, or ``(d, 0)``.
    num_background : int
        Number of background components (columns of ``b``, or rows of ``f``).
    correlation : h5py.Dataset or None
        ``estimates/Cn`` when it is a valid ``(rows, columns)`` image.
    accepted : numpy.ndarray or None
        Bool per component, or None when acceptance was never evaluated.
    acceptance_evaluated : bool
    acceptance_note : str
        Where the acceptance came from, or why it is unknown.
    metrics : dict of str to numpy.ndarray
        Property key -> float64 ``(K,)`` (``snr``, ``r_values``, ``cnn_preds``).
    roi_ids : list
        CaImAn's component indices ``0 .. K-1`` unless roicore's writer stored others.
    background_ids : list
        ``K .. K+nb-1`` (background component ``j`` has id ``K + j``), so the two
        id sets never overlap, unless roicore's writer stored others.
    extra_properties : dict of str to numpy.ndarray
    extra_images : dict of str to h5py.Dataset
    notes : list of str
        Fields that were present but ignored, and why.
    provenance : dict or None
        What roicore's writer recorded about a computed source (``/roicore.provenance``,
        e.g. an extraction's method and options), else None.
    raw_as_c : bool
        ``estimates/C`` holds raw traces written by roicore (the source had no denoised ones).
    """

    frame_shape: tuple[int, int]
    sampling_frequency: float | None
    num_components: int
    num_samples: int
    footprints: SparseGroupInfo | h5py.Dataset
    traces: dict[str, tuple[h5py.Dataset, ...]]
    background: SparseGroupInfo | h5py.Dataset | None
    num_background: int
    correlation: h5py.Dataset | None
    accepted: np.ndarray | None
    acceptance_evaluated: bool
    acceptance_note: str
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    roi_ids: list[Any] = field(default_factory=list)
    background_ids: list[Any] = field(default_factory=list)
    extra_properties: dict[str, np.ndarray] = field(default_factory=dict)
    extra_images: dict[str, h5py.Dataset] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] | None = None
    raw_as_c: bool = False


def _group(parent: h5py.Group, name: str) -> h5py.Group | None:
    state, node = member(parent, name)
    return node if state == GROUP else None


def _dims(handle: h5py.File, estimates: h5py.Group, path: str) -> tuple[int, int]:
    params = _group(handle, "params")
    data = _group(params, "data") if params is not None else None
    candidates = [(data, "dims", "params/data/dims"), (estimates, "dims", "estimates/dims"), (handle, "dims", "dims")]
    for parent, name, label in candidates:
        if parent is None:
            continue
        state, node = member(parent, name)
        if state == GROUP:
            raise corrupt(parent, f"{name!r} must be a dataset of image dimensions, not a group")
        if state == DATASET:
            dims = read_dims(node, label)
            break
    else:
        raise corrupt(path, "no image dimensions: params/data/dims, estimates/dims and dims are all missing or NoneType")
    if len(dims) == 3:
        raise UnsupportedFeatureError(
            f"{path}: a 3-D (volumetric) CaImAn result with dims {dims}; roicore-caiman reads 2-D results only"
        )
    if len(dims) != 2:
        raise corrupt(path, f"image dimensions {dims} are neither 2-D nor 3-D")
    return dims[0], dims[1]


def _rate(handle: h5py.File, path: str, override: float | None) -> float | None:
    """The override, else ``params/data/fr``; None when the file has none (missing or NoneType)."""
    if override is not None:
        return override
    params = _group(handle, "params")
    data = _group(params, "data") if params is not None else None
    if data is not None:
        state, node = member(data, "fr")
        if state == DATASET:
            rate = read_float(node, "the frame rate params/data/fr")
            if not math.isfinite(rate) or rate <= 0:
                raise corrupt(node, f"the frame rate must be a finite number > 0, got {rate}")
            return rate
    return None


def _footprints(estimates: h5py.Group, pixels: int, rows: int, columns: int) -> tuple[Any, int]:
    state, node = member(estimates, "A")
    if state == MISSING:
        raise corrupt(estimates, "no spatial footprints 'A'")
    if state == NONE:
        raise corrupt(estimates, "A is NoneType: the CNMF object was saved before fitting and holds no components")
    if state == GROUP:
        info = sparse_group_info(node, "estimates/A")
        count = info.shape[1]
        rows_in_file = info.shape[0]
        footprints: Any = info
    else:
        if node.ndim != 2 or node.dtype.kind not in "biuf":
            raise corrupt(node, f"must be a (pixels, components) matrix, got shape {node.shape}, dtype {node.dtype}")
        rows_in_file, count = (int(v) for v in node.shape)
        footprints = node
    if rows_in_file != pixels:
        raise corrupt(
            estimates,
            f"A has {rows_in_file} pixel rows but the dims {rows} x {columns} make {pixels} pixels",
        )
    return footprints, count


def _trace_field(estimates: h5py.Group, name: str, count: int) -> h5py.Dataset | None:
    state, node = member(estimates, name)
    if state in (MISSING, NONE):
        return None
    if state == GROUP:
        raise corrupt(estimates, f"{name} must be a (components, frames) array, found a group")
    if node.ndim == 1 and node.shape[0] == 0:
        return None  # an empty list saved by CaImAn
    if node.dtype.kind not in "biuf":
        raise corrupt(node, f"must hold numbers, got dtype {node.dtype}")
    if node.ndim != 2 or node.shape[0] != count:
        raise corrupt(node, f"has shape {node.shape}; expected ({count}, frames) for {count} components")
    return node


def _background_masks(estimates: h5py.Group, pixels: int) -> tuple[Any, int | None]:
    """``(b or None, number of background components or None if unknown)``."""
    state, node = member(estimates, "b")
    if state in (MISSING, NONE):
        return None, None
    if state == GROUP:
        info = sparse_group_info(node, "estimates/b")
        if info.shape[0] != pixels:
            raise corrupt(node, f"has {info.shape[0]} pixel rows; the frame has {pixels} pixels")
        return (info if info.shape[1] else None), info.shape[1]
    if node.dtype.kind not in "biuf":
        raise corrupt(node, f"must hold numbers, got dtype {node.dtype}")
    if node.ndim == 1:
        if node.shape[0] == 0:
            return None, 0
        if node.shape[0] != pixels:
            raise corrupt(node, f"has {node.shape[0]} pixels; the frame has {pixels}")
        return node, 1
    if node.ndim != 2 or node.shape[0] != pixels:
        raise corrupt(node, f"has shape {node.shape}; expected ({pixels}, background components)")
    count = int(node.shape[1])
    return (node if count else None), count


def _background_traces(estimates: h5py.Group) -> h5py.Dataset | None:
    state, node = member(estimates, "f")
    if state in (MISSING, NONE):
        return None
    if state == GROUP:
        raise corrupt(estimates, "f must be a (background components, frames) array, found a group")
    if node.dtype.kind not in "biuf":
        raise corrupt(node, f"must hold numbers, got dtype {node.dtype}")
    if node.ndim not in (1, 2):
        raise corrupt(node, f"must be 1-D or 2-D, got shape {node.shape}")
    if node.size == 0:
        return None  # ring model (no global background) or an empty list
    return node


def _acceptance(estimates: h5py.Group, count: int) -> tuple[np.ndarray | None, bool, str]:
    good_state, good = member(estimates, "idx_components")
    bad_state, bad = member(estimates, "idx_components_bad")
    for state, name in ((good_state, "idx_components"), (bad_state, "idx_components_bad")):
        if state == GROUP:
            raise corrupt(estimates, f"{name} must be an index array, found a group")
    accepted_idx = read_index_array(good, count, "idx_components") if good_state == DATASET else None
    rejected_idx = read_index_array(bad, count, "idx_components_bad") if bad_state == DATASET else None
    if accepted_idx is not None:
        if rejected_idx is not None:
            both = np.intersect1d(accepted_idx, rejected_idx)
            if both.size:
                raise corrupt(
                    estimates,
                    f"components {both[:10].tolist()} are listed in both idx_components and idx_components_bad",
                )
        accepted = np.zeros(count, dtype=bool)
        accepted[accepted_idx] = True
        return accepted, True, f"evaluated: {int(accepted.sum())} of {count} in estimates/idx_components"
    if rejected_idx is not None:
        accepted = np.ones(count, dtype=bool)
        accepted[rejected_idx] = False
        return accepted, True, f"evaluated: {int(rejected_idx.size)} of {count} rejected in estimates/idx_components_bad"
    discarded_state, _ = member(estimates, "discarded_components")
    if discarded_state == GROUP:
        # Estimates.select_components() removed the rejected components, kept them in
        # discarded_components and reset both index lists to None: all remaining are accepted
        return (
            np.ones(count, dtype=bool),
            True,
            "all accepted: rejected components were removed by select_components (estimates/discarded_components)",
        )
    return (
        None,
        False,
        "not evaluated: estimates/idx_components and idx_components_bad are NoneType "
        "(CaImAn's component evaluation was not run before saving)",
    )


def _metrics(estimates: h5py.Group, count: int, notes: list[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for name, key in METRICS.items():
        state, node = member(estimates, name)
        if state != DATASET:
            continue
        if node.ndim == 1 and node.shape[0] == 0 and count:
            continue  # an empty list: not computed
        values = read_vector(node, count, name)
        if values is None:
            notes.append(f"estimates/{name} ignored: shape {node.shape} and dtype {node.dtype} do not give {count} numbers")
            continue
        found[key] = values
    return found


def _correlation(estimates: h5py.Group, frame_shape: tuple[int, int], notes: list[str]) -> h5py.Dataset | None:
    state, node = member(estimates, "Cn")
    if state != DATASET:
        return None
    if node.shape != frame_shape or node.dtype.kind not in "biuf":
        notes.append(
            f"estimates/Cn ignored: shape {node.shape}, dtype {node.dtype} is not a {frame_shape} correlation image"
        )
        return None
    return node


def _extras(
    handle: h5py.File,
    contents: CaimanContents,
    count: int,
    frame_shape: tuple[int, int],
) -> tuple[set[str], dict[str, h5py.Dataset]]:
    """Apply the writer's additions; returns (synthesized CaImAn fields, extra traces)."""
    group = _group(handle, EXTRAS_GROUP)
    synthesized: set[str] = set()
    extra_traces: dict[str, h5py.Dataset] = {}
    if group is None:
        return synthesized, extra_traces
    notes = contents.notes
    state, node = member(group, "roi_ids")
    if state == DATASET:
        ids = read_id_list(node, count, "roi_ids")
        if ids is None:
            notes.append(f"{EXTRAS_GROUP}/roi_ids ignored: not {count} unique ids")
        else:
            contents.roi_ids = ids
    state, node = member(group, "background_ids")
    if state == DATASET:
        ids = read_id_list(node, contents.num_background, "background_ids")
        if ids is None:
            notes.append(f"{EXTRAS_GROUP}/background_ids ignored: not {contents.num_background} unique ids")
        else:
            contents.background_ids = ids
    state, node = member(group, "synthesized")
    if state == DATASET:
        synthesized = set(read_text_list(node))
    text = group.attrs.get("provenance")
    if text is not None:
        try:
            provenance = json.loads(text.decode() if isinstance(text, bytes) else str(text))
        except ValueError:
            provenance = None
        if isinstance(provenance, dict):
            contents.provenance = provenance
        else:
            notes.append(f"{EXTRAS_GROUP}.provenance ignored: not a JSON object")
    properties = _group(group, "properties")
    if properties is not None:
        for key in properties:
            state, node = member(properties, key)
            if state != DATASET or node.ndim == 0 or node.shape[0] != count:
                notes.append(f"{EXTRAS_GROUP}/properties/{key} ignored: not one value per component")
                continue
            try:
                values = np.asarray(node[()])
            except Exception as exc:
                raise corrupt(node, f"cannot be read ({type(exc).__name__}: {exc})") from exc
            if values.dtype.kind in "SO":
                values = np.asarray(read_text_list(node), dtype=str).reshape(values.shape)
            contents.extra_properties[key] = values
    images = _group(group, "images")
    if images is not None:
        for name in images:
            state, node = member(images, name)
            if state != DATASET or node.shape != frame_shape or node.dtype.kind not in "biuf":
                notes.append(f"{EXTRAS_GROUP}/images/{name} ignored: not a {frame_shape} image")
                continue
            contents.extra_images[name] = node
    traces = _group(group, "traces")
    if traces is not None:
        for name in traces:
            state, node = member(traces, name)
            if (
                state != DATASET
                or node.ndim != 2
                or node.shape[0] != count
                or node.dtype.kind not in "biuf"
                or name in TRACE_FIELDS
                or name == "background"
            ):
                notes.append(f"{EXTRAS_GROUP}/traces/{name} ignored: not a ({count}, frames) trace matrix")
                continue
            extra_traces[name] = node
    return synthesized, extra_traces


def _num_samples_fallback(handle: h5py.File) -> int:
    group = _group(handle, EXTRAS_GROUP)
    if group is not None:
        state, node = member(group, "num_samples")
        if state == DATASET:
            value = read_float(node, "num_samples")
            if value >= 0 and value == int(value):
                return int(value)
    return 0


def parse(handle: h5py.File, path: str, sampling_frequency: float | None = None) -> CaimanContents:
    """Describe the open CaImAn file ``handle`` without reading traces or footprints.

    Parameters
    ----------
    handle : h5py.File
        Open for reading.
    path : str
        The file's path, for messages.
    sampling_frequency : float, optional
        Overrides ``params/data/fr`` (already validated as finite and > 0).

    Raises
    ------
    CorruptFileError
        The file lacks what a CNMF result needs or its shapes disagree.
    UnsupportedFeatureError
        A 3-D (volumetric) result.
    """
    state, estimates = member(handle, "estimates")
    if state != GROUP:
        raise corrupt(path, "no 'estimates' group: not a CaImAn CNMF result")
    rows, columns = _dims(handle, estimates, path)
    pixels = rows * columns
    rate = _rate(handle, path, sampling_frequency)
    footprints, count = _footprints(estimates, pixels, rows, columns)

    fields = {name: _trace_field(estimates, name, count) for name in ("C", "YrA", "S", "F_dff")}
    lengths = {name: int(node.shape[1]) for name, node in fields.items() if node is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} {length}" for name, length in lengths.items())
        raise corrupt(estimates, f"trace matrices disagree on the number of frames ({described})")
    num_samples = next(iter(lengths.values()), None)

    background, mask_count = _background_masks(estimates, pixels)
    f_node = _background_traces(estimates)
    if f_node is not None:
        trace_count = 1 if f_node.ndim == 1 else int(f_node.shape[0])
        f_length = int(f_node.shape[-1])
        if num_samples is None:
            num_samples = f_length
        elif f_length != num_samples:
            raise corrupt(f_node, f"has {f_length} frames but the component traces have {num_samples}")
        if mask_count is not None and mask_count != trace_count:
            raise corrupt(
                estimates,
                f"f has {trace_count} background traces but b has {mask_count} background components",
            )
        num_background = trace_count
    else:
        num_background = mask_count or 0
    if num_samples is None:
        num_samples = _num_samples_fallback(handle)

    accepted, evaluated, note = _acceptance(estimates, count)
    notes: list[str] = []
    contents = CaimanContents(
        frame_shape=(rows, columns),
        sampling_frequency=rate,
        num_components=count,
        num_samples=num_samples,
        footprints=footprints,
        traces={},
        background=background,
        num_background=num_background,
        correlation=_correlation(estimates, (rows, columns), notes),
        accepted=accepted,
        acceptance_evaluated=evaluated,
        acceptance_note=note,
        metrics=_metrics(estimates, count, notes),
        roi_ids=list(range(count)),
        background_ids=list(range(count, count + num_background)),
        notes=notes,
    )
    synthesized, extra_traces = _extras(handle, contents, count, (rows, columns))
    contents.raw_as_c = "C" in synthesized

    c, yra = fields["C"], fields["YrA"]
    if c is not None and yra is not None:
        contents.traces["raw"] = (c, yra)
    if c is not None and "C" not in synthesized:
        contents.traces["denoised"] = (c,)
    if fields["S"] is not None:
        contents.traces["deconvolved"] = (fields["S"],)
    if fields["F_dff"] is not None:
        contents.traces["dff"] = (fields["F_dff"],)
    for name, node in extra_traces.items():
        if node.shape[1] != num_samples:
            notes.append(f"{EXTRAS_GROUP}/traces/{name} ignored: {node.shape[1]} frames, not {num_samples}")
            continue
        contents.traces[name] = (node,)
    if f_node is not None and num_background:
        contents.traces["background"] = (f_node,)
    for text in notes:
        warnings.warn(f"{path}: {text}", UserWarning, stacklevel=3)
    return contents
