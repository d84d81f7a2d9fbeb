"""Decoy files: things a reader's name rules match but whose content is not its format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_decoys", "decoy_names", "make_folder_decoys"]


def decoy_names(spec: Any, limit: int = 8) -> list[str]:
    """File names the spec's suffixes and patterns match statically."""
    names = [f"decoy{suffix}" for suffix in spec.suffixes[:limit]]
    for pattern in spec.patterns[:limit]:
        names.append(re.sub(r"\[[^\]]*\]|[*?]", "x", pattern))
    return names or ["decoy.bin"]


def make_decoys(folder: Path, spec: Any) -> list[Path]:
    """Write decoys for ``spec`` into ``folder``: empty, random bytes, plain HDF5, a 1-D .npy, folders.

    Each file decoy is written under every name from :func:`decoy_names`, so
    the reader's static rules match it and its ``sniff`` has to decide.
    """
    rng = np.random.default_rng(1234)
    random_bytes = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    decoys = []
    for index, name in enumerate(decoy_names(spec)):
        for kind in ("empty", "random", "hdf5", "npy1d"):
            target = folder / f"{kind}-{index}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "empty":
                target.write_bytes(b"")
            elif kind == "random":
                target.write_bytes(random_bytes)
            elif kind == "hdf5":
                if not _write_plain_hdf5(target):
                    continue
            else:
                with target.open("wb") as handle:
                    np.save(handle, np.arange(10, dtype=np.int16), allow_pickle=False)
            decoys.append(target)
    if spec.directory:
        empty_folder = folder / "empty-folder"
        empty_folder.mkdir(exist_ok=True)
        other_folder = folder / "folder-with-a-file"
        other_folder.mkdir(exist_ok=True)
        (other_folder / "notes.txt").write_text("not a dataset\n")
        decoys += [empty_folder, other_folder]
    return decoys


def _write_plain_hdf5(path: Path) -> bool:
    try:
        import h5py
    except ImportError:
        return False
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=np.arange(100, dtype=np.float32).reshape(10, 10))
        handle.create_group("estimates")  # half a CaImAn layout: must still be declined
    return True


def _marker_path(marker: str) -> str:
    """A concrete relative path a directory-marker glob matches ("plane*/stat.npy" -> "planex/stat.npy").

    A character class stands for its first member ("*.[tT][iI][fF]*" -> "x.tifx"); a negated
    one for a character outside it.
    """
    def one_of(match: re.Match[str]) -> str:
        token = match.group(0)
        if not token.startswith("["):
            return "x"
        members = token[1:-1]
        if members[:1] in ("!", "^"):
            return next(c for c in "xyzq_0" if c not in members[1:])
        return members[0]

    return re.sub(r"\[[^\]]+\]|[*?]", one_of, marker.replace("**/", ""))


FOLDER_CONTENTS = ("empty", "random", "npy1d", "json", "hdf5", "text")


def make_folder_decoys(folder: Path, spec: Any) -> list[Path]:
    """Folders that hold every one of ``spec``'s marker files, with plausible but wrong contents.

    One folder per kind of content (empty files, random bytes, a 1-D ``.npy``, a JSON object
    of another format, a plain HDF5 file, a line of text), so the reader's static rules match
    and its ``sniff`` has to look inside. Nothing for readers without directory markers.
    """
    rng = np.random.default_rng(4321)
    decoys = []
    for kind in FOLDER_CONTENTS if spec.directory else ():
        root = folder / f"folder-{kind}"
        for marker in spec.directory:
            target = root / _marker_path(marker)
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "empty":
                target.write_bytes(b"")
            elif kind == "random":
                target.write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
            elif kind == "npy1d":
                with target.open("wb") as handle:
                    np.save(handle, np.arange(10, dtype=np.int16), allow_pickle=False)
            elif kind == "json":
                target.write_text('{"format": "some-other-format", "version": 3, "data": "x.bin"}\n')
            elif kind == "hdf5":
                if not _write_plain_hdf5(target):
                    target.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(56))
            else:
                target.write_text("not a dataset\n")
        decoys.append(root)
    return decoys
