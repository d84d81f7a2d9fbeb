"""Damage beyond the main file: every companion file of a sample, and structural damage inside known containers.

``io.corrupt`` damages the bytes of the sample's main data file. These checks damage the rest:

* ``io.corrupt.companions``: each other file of the sample (a sidecar, a folder's other files)
  is deleted, emptied, cut in half or replaced by random bytes;
* ``io.corrupt.structure``: files the kit can parse are damaged in ways that keep them valid
  containers: a JSON object loses a key, an ``.npy`` array loses its last row (a wrong size
  that is still a valid array), an ``.npz`` loses a member, an HDF5 file loses a dataset or
  has one shortened by a row.

Each damaged copy must end in a roicore error (or FileNotFoundError) naming a file of the
sample, within a timeout, or in a read that is consistent with itself.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import RoicoreError
from roicore.testing.checks import NotApplicable, check
from roicore.testing.checks_io import CORRUPT_TIMEOUT, _attempt, _data_file, _open_descriptors, leaked_after_error
from roicore.testing.compare import expect
from roicore.testing.files import copy_sample, sample_files

MAX_STRUCTURE_VARIANTS = 8  # per sample, so large HDF5 layouts stay quick
Damage = Callable[[Path], None]


def _outcome(case: Any, label: str, main: Path, damaged: Path, folder: Path, *, strict_name: bool) -> str | None:
    """Open and read a damaged copy; a problem description, or None when it was handled well."""
    before = _open_descriptors()
    status, error, inconsistency = _attempt(case, main, _inconsistent)
    if status == "hang":
        return f"{label}: no answer within {CORRUPT_TIMEOUT:g} s"
    if error is None:
        return f"{label}: {inconsistency}" if inconsistency else None
    if not isinstance(error, (RoicoreError, FileNotFoundError)):
        return f"{label}: raised {type(error).__name__}: {error} (expected a roicore.errors type)"
    names = [damaged.name, str(damaged)] if strict_name else [damaged.name, main.name, str(main)]
    text = f"{error} {getattr(error, 'filename', '') or ''}"
    if not any(name in text for name in names):
        return f"{label}: {type(error).__name__} does not name {damaged.name}: {error}"
    leaked = leaked_after_error(before, folder)
    if leaked:
        return f"{label}: file handles left open after {type(error).__name__}: {leaked}"
    return None


def _inconsistent(extractor: Any) -> str | None:
    """After a successful read of a damaged copy: summary images must still have the frame's shape."""
    from roicore.segmentation import SegmentationExtractor

    if not isinstance(extractor, SegmentationExtractor):
        return None
    frame = tuple(extractor.get_volume_shape() if extractor.is_volumetric else extractor.get_frame_shape())
    wrong = {name: np.shape(image) for name, image in extractor.get_images_dict().items() if np.shape(image) != frame}
    if wrong:
        return f"read without error, but images {wrong} do not have the frame shape {frame}: a wrong-size array was accepted"
    return None


def _run_damages(case: Any, damages: list[tuple[str, Path, Damage]], *, strict_name: bool) -> list[str]:
    """Apply each (label, relative file, damage) to a fresh copy of the sample and collect the problems."""
    problems = []
    with warnings.catch_warnings():  # readers may warn about what they skip in a damaged file; only errors matter here
        warnings.simplefilter("ignore")
        for label, relative, damage in damages:
            problem = _run_damage(case, label, relative, damage, strict_name=strict_name)
            if problem:
                problems.append(problem)
    return problems


def _run_damage(case: Any, label: str, relative: Path, damage: Damage, *, strict_name: bool) -> str | None:
    """Damage ``relative`` in a fresh copy of the sample, then open and read the copy."""
    folder = case.scratch(label)
    main, _ = copy_sample(case.sample, folder)
    target = folder / relative
    damage(target)
    return _outcome(case, label, main, target, folder, strict_name=strict_name)


def _pristine_files(case: Any) -> tuple[Path, list[Path]]:
    folder = case.scratch("pristine")
    main, copied = copy_sample(case.sample, folder)
    return folder, sample_files(main, copied)


def _delete(path: Path) -> None:
    path.unlink()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _halve(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random(path: Path) -> None:
    size = max(path.stat().st_size, 64)
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())


COMPANION_DAMAGES: dict[str, Damage] = {"missing": _delete, "empty": _empty, "truncated-half": _halve, "random-bytes": _random}


def _several_files(contribution: Any, sample: Any) -> bool:
    return sample.path.is_dir() or len({*sample.files, sample.path}) > 1


@check("io.corrupt.companions", component="io", subject="reader-sample",
       depends_on=("imaging.series.full", "segmentation.ids"), only_for=("samples of several files", _several_files))
def companions(case):
    """Every other file of a sample (sidecars, a folder's other files) missing, empty, cut or random gives a roicore error naming that file, or a read."""
    folder, files = _pristine_files(case)
    main = folder / case.sample.path.relative_to(case.sample.path.parent)
    data_file = _data_file(main)
    others = [f for f in files if f != data_file]
    if not others:
        raise NotApplicable("the sample folder holds a single file (io.corrupt damages it)")
    damages = [(f"{name} {f.relative_to(folder)}", f.relative_to(folder), damage)
               for f in others for name, damage in COMPANION_DAMAGES.items()]
    problems = _run_damages(case, damages, strict_name=True)
    expect(not problems, "damaged companion files were mishandled:\n" + "\n".join(problems))


# -- structural damage -------------------------------------------------------------------------------
def _json_damages(path: Path) -> list[tuple[str, Damage]]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(content, dict):
        return []

    def drop(key: str) -> Damage:
        def damage(target: Path) -> None:
            data = json.loads(target.read_text(encoding="utf-8"))
            del data[key]
            target.write_text(json.dumps(data), encoding="utf-8")
        return damage

    return [(f"missing key {key!r}", drop(key)) for key in list(content)[:8]]


def _short_npy(target: Path) -> None:
    array = np.load(target, allow_pickle=False)
    np.save(target, np.ascontiguousarray(array[:-1]), allow_pickle=False)


def _npy_damages(path: Path) -> list[tuple[str, Damage]]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return []
    if array.ndim == 0 or array.shape[0] < 2:
        return []
    return [("one row short (a valid array of the wrong size)", _short_npy)]


def _npz_damages(path: Path) -> list[tuple[str, Damage]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return []

    def drop(member: str) -> Damage:
        def damage(target: Path) -> None:
            with zipfile.ZipFile(target) as archive:
                kept = {name: archive.read(name) for name in archive.namelist() if name != member}
            with zipfile.ZipFile(target, "w") as archive:
                for name, data in kept.items():
                    archive.writestr(name, data)
        return damage

    return [(f"missing member {m!r}", drop(m)) for m in members[:8]]


def _hdf5_damages(path: Path) -> list[tuple[str, Damage]]:
    with open(path, "rb") as handle:
        if handle.read(8) != HDF5_SIGNATURE:
            return []
    try:
        import h5py
    except ImportError:
        return []
    datasets: list[tuple[int, str, bool]] = []
    try:
        with h5py.File(path, "r") as handle:
            def visit(name: str, item: Any) -> None:
                if isinstance(item, h5py.Dataset):
                    shortenable = item.ndim >= 1 and item.shape[0] >= 2 and item.dtype.kind in "biuf"
                    datasets.append((int(item.size), name, shortenable))
            handle.visititems(visit)
    except Exception:  # noqa: BLE001 - not a readable HDF5 file: nothing structural to damage
        return []

    def drop(name: str) -> Damage:
        def damage(target: Path) -> None:
            with h5py.File(target, "r+") as handle:
                del handle[name]
        return damage

    def shorten(name: str) -> Damage:
        def damage(target: Path) -> None:
            with h5py.File(target, "r+") as handle:
                data, attrs = handle[name][:-1], dict(handle[name].attrs)
                del handle[name]
                handle.create_dataset(name, data=data)
                handle[name].attrs.update(attrs)
        return damage

    found = []
    for _, name, shortenable in sorted(datasets, key=lambda d: (-d[0], d[1])):
        found.append((f"missing dataset {name!r}", drop(name)))
        if shortenable:
            found.append((f"dataset {name!r} one row short", shorten(name)))
    return found


def structural_damages(path: Path) -> list[tuple[str, Damage]]:
    """Structural damages the kit knows for ``path``'s container type (JSON, .npy, .npz, HDF5)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _json_damages(path)
    if suffix == ".npy":
        return _npy_damages(path)
    if suffix == ".npz":
        return _npz_damages(path)
    return _hdf5_damages(path)


CONTAINER_SUFFIXES = (".json", ".npy", ".npz")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _has_container(contribution: Any, sample: Any) -> bool:
    """Whether any file of the sample is a JSON, .npy, .npz or HDF5 file (by suffix or signature)."""
    files = []
    for path in {*sample.files, sample.path}:
        files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    for path in files:
        if path.suffix.lower() in CONTAINER_SUFFIXES:
            return True
        try:
            with open(path, "rb") as handle:
                if handle.read(8) == HDF5_SIGNATURE:
                    return True
        except OSError:
            continue
    return False


@check("io.corrupt.structure", component="io", subject="reader-sample",
       depends_on=("imaging.series.full", "segmentation.ids"),
       only_for=("samples with a JSON, .npy, .npz or HDF5 file", _has_container))
def structure(case):
    """A JSON key, an HDF5 dataset or an .npz member removed, or an array one row short, gives a roicore error naming a file, or a consistent read."""
    folder, files = _pristine_files(case)
    damages = []
    for file in files:
        for label, damage in structural_damages(file):
            damages.append((f"{file.relative_to(folder)}: {label}", file.relative_to(folder), damage))
    if not damages:
        raise NotApplicable("no file of the sample is a JSON, .npy, .npz or HDF5 container the kit can damage")
    # spread the budget over the files: interleave their damages
    by_file: dict[Path, list[Any]] = {}
    for item in damages:
        by_file.setdefault(item[1], []).append(item)
    interleaved = [item for group in _zip_longest(list(by_file.values())) for item in group]
    problems = _run_damages(case, interleaved[:MAX_STRUCTURE_VARIANTS], strict_name=False)
    expect(not problems, "structurally damaged files were mishandled:\n" + "\n".join(problems))


def _zip_longest(groups: list[list[Any]]) -> list[list[Any]]:
    rounds = max(len(g) for g in groups)
    return [[g[i] for g in groups if i < len(g)] for i in range(rounds)]
