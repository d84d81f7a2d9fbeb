"""Hypothesis strategies that draw mutations for a seed, from what its files are.

:class:`SeedFiles` inspects a seed's unmutated files once (size, payload
ranges, HDF5 members, parsed JSON); the strategies draw only mutations that
fit: HDF5 edits for HDF5 files, field edits for JSON objects (sidecars),
byte-level changes for every file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fuzz.mutations import (
    Extend,
    FlipBytes,
    Hdf5Delete,
    Hdf5Edit,
    JsonDrop,
    JsonRename,
    JsonSet,
    JsonText,
    Mutation,
    Truncate,
)
from fuzz.regions import Payload, is_hdf5, payload_of
from fuzz.seeds import Seed

__all__ = ["FileFacts", "SeedFiles", "byte_mutation", "structure_mutation", "has_structure"]

HEAD_BYTES = 512
MAX_FLIPS = 8


@dataclass(frozen=True)
class FileFacts:
    """What a seed file is, for drawing mutations."""

    name: str
    size: int
    payload: Payload | None
    hdf5_nodes: tuple[tuple[str, bool, tuple[int, ...]], ...] | None  # (path, is dataset, shape)
    json: Any = None

    @property
    def is_json_object(self) -> bool:
        return isinstance(self.json, dict)


def _hdf5_nodes(path: Path) -> tuple[tuple[str, bool, tuple[int, ...]], ...]:
    import h5py

    nodes: list[tuple[str, bool, tuple[int, ...]]] = []

    def visit(name: str, node: Any) -> None:
        is_dataset = isinstance(node, h5py.Dataset)
        nodes.append((name, is_dataset, tuple(node.shape) if is_dataset else ()))

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return tuple(nodes)


def _json(path: Path) -> Any:
    if path.stat().st_size > 1 << 20:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


class SeedFiles:
    """Facts about every file of a seed (computed once from the unmutated files)."""

    def __init__(self, seed: Seed) -> None:
        self.seed = seed
        main = seed.folder / seed.main
        self.files: dict[str, FileFacts] = {}
        for name in seed.files:
            path = seed.folder / name
            hdf5 = is_hdf5(path) if path.stat().st_size else False
            self.files[name] = FileFacts(
                name=name,
                size=path.stat().st_size,
                payload=payload_of(path, main=main, reader_kwargs=seed.reader_kwargs),
                hdf5_nodes=_hdf5_nodes(path) if hdf5 else None,
                json=None if hdf5 else _json(path),
            )

    @property
    def hdf5_files(self) -> list[str]:
        return [name for name, facts in self.files.items() if facts.hdf5_nodes]

    @property
    def json_files(self) -> list[str]:
        return [name for name, facts in self.files.items() if facts.is_json_object]


# -- bytes --------------------------------------------------------------------------------------------
@st.composite
def byte_mutation(draw: Any, files: SeedFiles) -> Mutation:
    """Truncate, flip bytes (in the header, the payload or anywhere) or append garbage to one file."""
    nonempty = [name for name, facts in files.files.items() if facts.size]
    name = draw(st.sampled_from(nonempty), label="file")
    facts = files.files[name]
    operation = draw(st.sampled_from(["flip", "truncate", "extend"]), label="operation")
    if operation == "truncate":
        return Truncate(name, size=draw(st.integers(0, facts.size - 1), label="keep bytes"))
    if operation == "extend":
        return Extend(name, data=draw(st.binary(min_size=1, max_size=64), label="appended"))
    regions = ["head", "anywhere"] + (["payload"] if facts.payload is not None and facts.payload.size else [])
    region = draw(st.sampled_from(regions), label="region")
    count = draw(st.integers(1, MAX_FLIPS), label="flips")
    if region == "payload":
        payload = facts.payload
        assert payload is not None
        offsets = st.lists(st.integers(0, payload.size - 1), min_size=count, max_size=count)
        indices = draw(offsets, label="payload bytes")
        positions = tuple(payload.position(i) for i in indices)
    else:
        limit = min(facts.size, HEAD_BYTES) if region == "head" else facts.size
        positions = tuple(draw(st.lists(st.integers(0, limit - 1), min_size=count, max_size=count), label="positions"))
    masks = tuple(draw(st.lists(st.integers(1, 255), min_size=count, max_size=count), label="xor masks"))
    return FlipBytes(name, positions=positions, masks=masks, region=region)


# -- HDF5 ---------------------------------------------------------------------------------------------
_DTYPES = ["int8", "uint16", "int64", "float32", ">f8", "float64", "bool", "S8", "vlen-str", "complex64", "compound"]
_TEXTS = ["NoneType", "", "garbage", "(512, 512)", "1e400", "-1"]
_FILLS = ["zero", "minus-one", "one", "int32-max", "huge", "nan", "inf", "-inf"]


def _shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Wrong shapes for a dataset of ``shape``: scalar, empty, an axis dropped or added, transposed, resized."""
    candidates = [(), (0,), (1,), (3,), shape + (1,), (1,) + shape, shape[::-1], (2, 2, 2)]
    if shape:
        candidates += [shape[:-1], shape[1:], (shape[0] + 1,) + shape[1:], (max(shape[0] - 1, 0),) + shape[1:],
                       (shape[0] * 2,) + shape[1:], shape[:-1] + (shape[-1] + 1,), (int(math.prod(shape)),)]
    return sorted({c for c in candidates if c != shape and math.prod(c) <= 1 << 20})


@st.composite
def hdf5_mutation(draw: Any, files: SeedFiles, used: dict[str, set[str]] | None = None) -> Mutation:
    """Delete, reshape, retype, refill or replace one member of an HDF5 file.

    ``used`` names, per file, the members the reader depends on; three draws in
    four pick one of those (when known), so edits are not wasted on fields the
    reader ignores.
    """
    name = draw(st.sampled_from(files.hdf5_files), label="file")
    nodes = files.files[name].hdf5_nodes or ()
    depended_on = [node for node in nodes if node[0] in (used or {}).get(name, ())]
    if depended_on and draw(st.integers(0, 3), label="favour used members") < 3:
        nodes = depended_on
    member, is_dataset, shape = draw(st.sampled_from(nodes), label="member")
    hows = ["delete", "group", "scalar", "text", "softlink", "external"]
    if is_dataset:
        hows += ["shape", "dtype", "fill"] * 2
    how = draw(st.sampled_from(hows), label="edit")
    if how == "delete":
        return Hdf5Delete(name, name=member)
    argument: Any = None
    if how == "shape":
        argument = draw(st.sampled_from(_shapes(shape)), label="new shape")
    elif how == "dtype":
        argument = draw(st.sampled_from(_DTYPES), label="new dtype")
    elif how == "fill":
        argument = draw(st.sampled_from(_FILLS), label="fill")
    elif how == "text":
        argument = draw(st.sampled_from(_TEXTS), label="text")
    elif how == "softlink":
        argument = draw(st.sampled_from(["/nowhere", "/" + member]), label="link target")  # dangling, or itself
    elif how == "external":
        argument = "missing.h5"
    return Hdf5Edit(name, name=member, how=how, arg=argument)


# -- sidecar JSON -------------------------------------------------------------------------------------
_POOL: list[Any] = [
    None, True, False, 0, 1, -1, 2, 7, 255, 2**31, 2**53 + 1, 2**64, 10**30, -0.0, 0.5, 1e308,
    float("nan"), float("inf"), "", "0", "x", "tyx", "yxt", "tyxz", "tyxc", "ttx", "tzyx", "<u2", ">f8", "|u1", "|b1",
    "|O", "O", "V8", "<U4", "S3", "M8[ns]", "<c8", "uint16", "roicore-raw-video", "roicore-npy-video",
    "../escape.bin", "/etc/hostname", "sub/../x.bin", "a\u0000b", "C:escape.bin", "..\\escape.bin", "\u00e9",
    [], [1], ["a", "a"], ["a", "b", "c", "d"], {}, {"y": 7}, {"t": 0, "y": 7, "x": 11}, {"y": -1, "x": 11},
]
_TEXT_REPLACEMENTS = [
    "", "[]", "null", "1", '"x"', "{", "\ufeff{original}", "{original}{original}", "{original}\u0000",
    "\udcff{original}", '{"offset": 1, {inner}', '{"format": "x", {inner}', "[" * 100_000, "{" * 5000,
    " " * (1 << 20) + "{original}",
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field path in a JSON value: object keys and list indices."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(prefix + (key,))
            found.extend(_paths(item, prefix + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append(prefix + (index,))
            found.extend(_paths(item, prefix + (index,)))
    return found


def _get(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        value = value[key]
    return value


def _nearby(current: Any) -> list[Any]:
    """Plausible wrong values close to the current one."""
    if isinstance(current, bool):
        return [not current, int(current)]
    if isinstance(current, int):
        return [current + 1, current - 1, current * 2, -current, current * 1_000_003, float(current), str(current)]
    if isinstance(current, float):
        return [current * 2, current / 2, -current, int(current), str(current)]
    if isinstance(current, str):
        return [current + "x", current[::-1], current[:-1], current.upper(), current * 2, [current]]
    if isinstance(current, list):
        return [current[:-1], current + current[:1], current[::-1]]
    if isinstance(current, dict):
        return [dict(list(current.items())[1:]), {**current, "q": 1}, list(current.values())]
    return []


@st.composite
def json_mutation(draw: Any, files: SeedFiles) -> Mutation:
    """Drop, rename, add or corrupt a field of a JSON object (a sidecar), or replace its text."""
    name = draw(st.sampled_from(files.json_files), label="file")
    content = files.files[name].json
    paths = _paths(content)
    operation = draw(st.sampled_from(["set", "set", "drop", "rename", "add", "text"]), label="operation")
    if operation == "text":
        text = draw(st.sampled_from(_TEXT_REPLACEMENTS), label="text")
        original = json.dumps(content, indent=2)
        return JsonText(name, text=text.replace("{inner}", original.strip()[1:]))
    if operation == "add":
        fields = ["extra", "frames", "offset", "axes", "metadata", "channel_names", "shape"]
        key = draw(st.sampled_from(fields), label="field")
        return JsonSet(name, keys=(key,), value=draw(st.sampled_from(_POOL), label="value"))
    keys = draw(st.sampled_from(paths), label="field")
    if operation == "drop":
        return JsonDrop(name, keys=keys)
    if operation == "rename":
        if not isinstance(keys[-1], str):
            return JsonDrop(name, keys=keys)
        new = draw(st.sampled_from(["", keys[-1].upper(), keys[-1] + " ", "t", "format", "extra"]), label="new name")
        return JsonRename(name, keys=keys, new=new)
    value = draw(st.sampled_from(_POOL + _nearby(_get(content, keys))), label="value")
    return JsonSet(name, keys=keys, value=value)


def has_structure(files: SeedFiles) -> bool:
    """Whether the seed has an HDF5 file or a JSON object to edit."""
    return bool(files.hdf5_files or files.json_files)


def structure_mutation(files: SeedFiles, used: dict[str, set[str]] | None = None) -> st.SearchStrategy[Mutation]:
    """HDF5 member edits and sidecar field edits, for whichever of them the seed has."""
    options = []
    if files.hdf5_files:
        options.append(hdf5_mutation(files, used))
    if files.json_files:
        options.append(json_mutation(files))
    return st.one_of(options)
