"""Seeds made from the real recordings in ``../shared/realdata`` (see its README).

Two kinds:

* every real file is a seed of every installed reader whose suffixes,
  patterns or magic bytes match it (so a third-party HDF5 reader is fuzzed
  with SIMA's real HDF5 files too). Files a reader is known to read get the
  reader arguments and ground truth below; the others have no truth, and
  their unmutated outcome (usually an error: a SIMA HDF5 file is not a CaImAn
  result) is the baseline their mutants are judged against;
* the real video re-encoded with plain numpy into the formats of readers
  that cannot read the originals (raw + sidecar, ``.npy``, CaImAn memmap), so
  those readers are fuzzed with real pixel data too.

The real files are read from the shared folder and copied only into
temporary folders, never into the repository.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from roicore.testing.samples import ImagingTruth

from fuzz.seeds import Seed, statically_matches

__all__ = ["REALDATA", "realdata_seeds", "RATE"]

#: ``<repository>/../shared/realdata``, or the folder named by ROICORE_REALDATA
REALDATA = Path(os.environ.get("ROICORE_REALDATA") or Path(__file__).resolve().parents[3] / "shared" / "realdata")

#: SIMA's example files store no frame rate; this one is ours, given to the readers that need one
RATE = 10.0

RAW = "sima_example_t20_y128_x256_uint16le.raw"
MOVIE = "sima_example.h5"
VOLUME = "sima_example-volume.h5"

_RAW_KWARGS = {
    "structure": {"rows": 128, "columns": 256, "axes": "tyx"},
    "dtype": "<u2",
    "sampling_frequency": RATE,
}

#: (file, reader) -> reader arguments, for real files a reader is known to read
KNOWN_KWARGS: dict[tuple[str, str], dict] = {(RAW, "roicore-memmap:memmap"): _RAW_KWARGS}


def _movie(realdata: Path) -> np.ndarray:
    """SIMA's example movie as ``(t, y, x)`` uint16, read with h5py (independent of every reader)."""
    import h5py

    with h5py.File(realdata / MOVIE, "r") as handle:
        return np.ascontiguousarray(np.moveaxis(handle["imaging"][()], 2, 0))


def _volume(realdata: Path) -> np.ndarray:
    """SIMA's example volume, first channel, as ``(t, y, x, z)`` uint8."""
    import h5py

    with h5py.File(realdata / VOLUME, "r") as handle:
        tzyxc = handle["imaging"][()]
    return np.ascontiguousarray(np.moveaxis(tzyxc[..., 0], 1, 3))


def _raw_with_sidecar(realdata: Path, folder: Path, reader: str) -> list[Seed]:
    shutil.copyfile(realdata / RAW, folder / RAW)
    sidecar = {
        "format": "roicore-raw-video",
        "version": 1,
        "data": RAW,
        "dtype": "<u2",
        "axes": "tyx",
        "shape": {"t": 20, "y": 128, "x": 256},
        "offset": 0,
        "sampling_frequency": RATE,
    }
    (folder / f"{RAW}.json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    truth = ImagingTruth(_movie(realdata), RATE)
    files = (RAW, f"{RAW}.json")
    return [Seed(reader, "imaging", f"real:{RAW}+sidecar", folder, RAW, files, {}, True, truth, "realdata")]


def _npy(realdata: Path, folder: Path, reader: str) -> list[Seed]:
    movie, volume = _movie(realdata), _volume(realdata)
    np.save(folder / "sima_example.npy", movie, allow_pickle=False)
    np.save(folder / "sima_example-volume.npy", volume, allow_pickle=False)
    return [
        Seed(reader, "imaging", "real:sima_example.npy", folder, "sima_example.npy", ("sima_example.npy",),
             {"sampling_frequency": RATE}, True, ImagingTruth(movie, RATE), "realdata"),
        Seed(reader, "imaging", "real:sima_example-volume.npy", folder, "sima_example-volume.npy",
             ("sima_example-volume.npy",), {"sampling_frequency": RATE, "volumetric": True}, True,
             ImagingTruth(volume, RATE), "realdata"),
    ]


def _caiman_mmap(realdata: Path, folder: Path, reader: str) -> list[Seed]:
    movie = _movie(realdata).astype(np.float32)
    frames, rows, columns = movie.shape
    name = f"sima_d1_{rows}_d2_{columns}_d3_1_order_C_frames_{frames}_.mmap"
    # CaImAn's layout: pixels flattened in Fortran order, stored pixel-major (P, T) in C order
    pixels_by_time = movie.reshape(frames, -1, order="F").T
    np.ascontiguousarray(pixels_by_time, dtype="<f4").tofile(folder / name)
    return [Seed(reader, "imaging", f"real:{name}", folder, name, (name,), {"sampling_frequency": RATE}, True,
                 ImagingTruth(movie, RATE), "realdata")]


#: reader -> function writing the real video in that reader's format
DERIVED: dict[str, Callable[[Path, Path, str], list[Seed]]] = {
    "roicore-memmap:memmap": _raw_with_sidecar,
    "roicore-memmap:npy": _npy,
    "roicore-memmap:caiman-mmap": _caiman_mmap,
}


def realdata_seeds(reader: str, kind: str, folder: Path, realdata: Path = REALDATA) -> list[Seed]:
    """The real-data seeds of ``reader`` (empty when the real data folder is absent).

    Parameters
    ----------
    reader : str
        Qualified reader id.
    kind : str
        The reader's kind.
    folder : Path
        Where derived seeds are written.
    realdata : Path
        The shared real-data folder.
    """
    if not realdata.is_dir():
        return []
    seeds = []
    for path in sorted(p for p in realdata.iterdir() if p.is_file() and p.suffix != ".md"):
        if not statically_matches(reader, path):
            continue
        kwargs = KNOWN_KWARGS.get((path.name, reader))
        truth = ImagingTruth(_movie(realdata), RATE) if kwargs is not None and path.name == RAW else None
        seeds.append(
            Seed(reader, kind, f"real:{path.name}", realdata, path.name, (path.name,), dict(kwargs or {}),
                 detectable=False, truth=truth, origin="realdata")
        )
    derive = DERIVED.get(reader)
    if derive is not None:
        folder.mkdir(parents=True, exist_ok=True)
        seeds.extend(derive(realdata, folder, reader))
    return seeds
