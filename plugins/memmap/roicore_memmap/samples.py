"""Conformance samples: small files in every layout this plugin reads, with their ground truth.

Frames are 7 rows x 11 columns (asymmetric, so a transpose changes the
shape) with one bright marker pixel at row 2, column 9 in every frame (so a
flip or a permutation of the axes moves it). The ground truth is the
generator's own input array; the files are made from it with plain numpy
(``transpose`` + ``tobytes``, ``numpy.save``, and CaImAn's own reshaping
recipe), never with this plugin's code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from roicore.memory import NumpyImagingExtractor
from roicore.testing.samples import ImagingTruth, Sample, WriterSample

__all__ = ["make_raw_samples", "make_npy_samples", "make_caiman_samples", "make_writer_samples", "make_video"]

ROWS, COLUMNS = 7, 11
MARKER = (2, 9)
FRAMES = 12


def make_video(dtype: Any, *, frames: int = FRAMES, planes: int | None = None, seed: int = 0) -> np.ndarray:
    """A random ``(frames, 7, 11[, planes])`` video in native byte order with a marker at row 2, column 9.

    The marker holds the dtype's largest value (100.0 for floats, True for booleans).
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype).newbyteorder("=")
    shape = (frames, ROWS, COLUMNS) + ((planes,) if planes else ())
    if dtype.kind == "f":
        video = rng.uniform(-1.0, 1.0, shape).astype(dtype)
        marker: Any = 100.0
    elif dtype.kind == "b":
        video = rng.random(shape) < 0.3
        marker = True
    else:
        info = np.iinfo(dtype)
        video = rng.integers(max(info.min, -2000), min(info.max, 4000) // 2, shape, endpoint=True).astype(dtype)
        marker = info.max
    video[:, MARKER[0], MARKER[1], ...] = marker
    return video.astype(dtype)


def _raw_file(
    folder: Path,
    name: str,
    truth_channels: list[np.ndarray],
    *,
    axes: str,
    file_dtype: str,
    offset: int = 0,
    rate: float = 30.0,
    sidecar: bool = True,
    channel_names: list[str] | None = None,
) -> Path:
    """Write channels of a ``(t, y, x[, z])`` video in ``axes`` order (+ an optional sidecar)."""
    stacked = np.stack(truth_channels, axis=-1)  # (t, y, x[, z], c)
    letters = "tyx" + ("z" if stacked.ndim == 5 else "") + "c"
    if "c" not in axes:
        stacked = stacked[..., 0]
        letters = letters[:-1]
    on_disk = np.ascontiguousarray(np.transpose(stacked, [letters.index(a) for a in axes]), dtype=file_dtype)
    header = bytes((i * 37) % 256 for i in range(offset))  # junk a reader must skip
    path = folder / name
    path.write_bytes(header + on_disk.tobytes())
    if sidecar:
        shape = {letter: int(size) for letter, size in zip(axes, on_disk.shape)}
        content: dict[str, Any] = {
            "format": "roicore-raw-video",
            "version": 1,
            "data": name,
            "dtype": np.dtype(file_dtype).str,
            "axes": axes,
            "shape": shape,
            "offset": offset,
            "sampling_frequency": rate,
        }
        if channel_names is not None:
            content["channel_names"] = channel_names
        (folder / f"{name}.json").write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


def make_raw_samples(folder: Path) -> list[Sample]:
    """Samples of the ``memmap`` reader: dtypes, byte orders, axis orders, offsets, channels, planes."""
    folder = Path(folder)
    samples = []

    def add(
        sample_id: str,
        truth: np.ndarray,
        *,
        axes: str,
        file_dtype: str,
        channels: list[np.ndarray] | None = None,
        reader_kwargs: dict[str, Any] | None = None,
        suffix: str = ".bin",
        open_sidecar: bool = False,
        **options: Any,
    ) -> None:
        name = f"{sample_id}{suffix}"
        rate = options.pop("rate", 30.0)
        path = _raw_file(folder, name, channels or [truth], axes=axes, file_dtype=file_dtype, rate=rate, **options)
        sidecar = folder / f"{name}.json"
        files = (path, sidecar) if options.get("sidecar", True) else (path,)
        samples.append(
            Sample(
                sample_id,
                sidecar if open_sidecar else path,
                ImagingTruth(truth, rate),
                reader_kwargs=reader_kwargs or {},
                detectable=options.get("sidecar", True),
                files=files,
            )
        )

    add("uint16le-tyx", make_video("u2", seed=1), axes="tyx", file_dtype="<u2")
    add("uint16be-tyx", make_video("u2", seed=2), axes="tyx", file_dtype=">u2")
    add("int16-yxt", make_video("i2", seed=3), axes="yxt", file_dtype="<i2", suffix=".raw")
    add("float32-txy", make_video("f4", seed=4), axes="txy", file_dtype="<f4", suffix=".dat", rate=7.5)
    add("float64be-xyt", make_video("f8", seed=5), axes="xyt", file_dtype=">f8")
    add("uint8-tyx-offset", make_video("u1", seed=6), axes="tyx", file_dtype="|u1", offset=100)
    add("int32-tyx-offset", make_video("i4", seed=7), axes="tyx", file_dtype="<i4", offset=7)
    three = [make_video("u2", seed=10 + k) for k in range(3)]
    add(
        "uint16-tcyx-channel1",
        three[1],
        axes="tcyx",
        file_dtype="<u2",
        channels=three,
        channel_names=["red", "green", "blue"],
        reader_kwargs={"channel": 1},
    )
    add("uint16-ctyx-channel2", three[2], axes="ctyx", file_dtype="<u2", channels=three, reader_kwargs={"channel": 2})
    two = [make_video("f4", seed=20 + k) for k in range(2)]
    add(
        "float32-tyxc-green",
        two[1],
        axes="tyxc",
        file_dtype="<f4",
        channels=two,
        channel_names=["red", "green"],
        reader_kwargs={"channel": "green"},
    )
    add("float32-tzyx-volumetric", make_video("f4", planes=3, seed=30), axes="tzyx", file_dtype="<f4")
    add("uint16-xzyt-volumetric", make_video("u2", planes=2, seed=31), axes="xzyt", file_dtype="<u2")
    add("uint16-via-sidecar-path", make_video("u2", seed=40), axes="tyx", file_dtype="<u2", open_sidecar=True)
    add(
        "uint16-no-sidecar",
        make_video("u2", seed=50),
        axes="tyx",
        file_dtype="<u2",
        suffix=".raw",
        sidecar=False,
        rate=20.0,
        reader_kwargs={
            "structure": {"rows": ROWS, "columns": COLUMNS, "axes": "tyx"},
            "dtype": "<u2",
            "sampling_frequency": 20.0,
        },
    )
    add(
        "int16-no-sidecar-yxt-offset",
        make_video("i2", seed=51),
        axes="yxt",
        file_dtype=">i2",
        offset=16,
        sidecar=False,
        rate=12.5,
        reader_kwargs={
            "structure": {"rows": ROWS, "columns": COLUMNS, "axes": "yxt", "dtype": ">i2", "offset": 16},
            "sampling_frequency": 12.5,
        },
    )
    return samples


def _npy_sidecar(path: Path, rate: float, axes: str) -> Path:
    sidecar = path.with_name(path.name + ".json")
    content = {"format": "roicore-npy-video", "version": 1, "data": path.name, "axes": axes, "sampling_frequency": rate}
    sidecar.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return sidecar


def make_npy_samples(folder: Path) -> list[Sample]:
    """Samples of the ``npy`` reader: C and Fortran order, byte orders, planes, channels, other axis orders."""
    folder = Path(folder)
    samples = []

    def save(name: str, array: np.ndarray) -> Path:
        path = folder / name
        np.save(path, array, allow_pickle=False)
        return path

    video = make_video("u2", seed=60)
    samples.append(Sample("uint16-c", save("uint16-c.npy", video), ImagingTruth(video, 15.0), {"sampling_frequency": 15.0}))
    video = make_video("u2", seed=64)
    # no sidecar and no sampling_frequency=: the rate is unknown, and the reader must say None
    samples.append(Sample("uint16-no-rate", save("uint16-no-rate.npy", video), ImagingTruth(video, None), {}))
    video = make_video("i2", seed=61)
    path = save("int16-fortran.npy", np.asfortranarray(video))
    samples.append(Sample("int16-fortran", path, ImagingTruth(video, 15.0), {"sampling_frequency": 15.0}))
    video = make_video("f4", seed=62)
    path = save("float32be-fortran.npy", np.asfortranarray(video.astype(">f4")))
    samples.append(Sample("float32be-fortran", path, ImagingTruth(video, 9.0), {"sampling_frequency": 9.0}))
    video = make_video("f4", planes=3, seed=63)
    path = save("float32-volumetric-sidecar.npy", video)
    sidecar = _npy_sidecar(path, 22.0, "tyxz")
    samples.append(Sample("float32-volumetric-sidecar", path, ImagingTruth(video, 22.0), files=(path, sidecar)))
    video = make_video("u1", planes=2, seed=64)
    path = save("uint8-volumetric-fortran.npy", np.asfortranarray(video))
    samples.append(
        Sample("uint8-volumetric-fortran", path, ImagingTruth(video, 5.0), {"sampling_frequency": 5.0, "volumetric": True})
    )
    video = make_video("u2", seed=65)
    path = save("uint16-yxt-axes.npy", np.ascontiguousarray(np.moveaxis(video, 0, 2)))
    samples.append(Sample("uint16-yxt-axes", path, ImagingTruth(video, 30.0), {"sampling_frequency": 30.0, "axes": "yxt"}))
    channels = [make_video("i4", seed=66 + k) for k in range(2)]
    path = save("int32-tyxc-channel1.npy", np.stack(channels, axis=-1))
    samples.append(
        Sample(
            "int32-tyxc-channel1",
            path,
            ImagingTruth(channels[1], 30.0),
            {"sampling_frequency": 30.0, "axes": "tyxc", "channel": 1},
        )
    )
    return samples


def write_caiman_mmap(folder: Path, base: str, video: np.ndarray, order: str) -> Path:
    """Write ``video`` ``(T, d1, d2[, d3])`` the way ``caiman.mmapping.save_memmap`` does.

    CaImAn moves time last, flattens the pixels in Fortran order into ``Yr``
    of shape ``(pixels, T)``, and stores ``Yr`` as float32 in ``order``.
    """
    frames, dims = video.shape[0], video.shape[1:]
    yr = np.reshape(np.transpose(video, [*range(1, len(dims) + 1), 0]), (int(np.prod(dims)), frames), order="F")
    d3 = dims[2] if len(dims) == 3 else 1
    name = f"{base}_d1_{dims[0]}_d2_{dims[1]}_d3_{d3}_order_{order}_frames_{frames}_.mmap"
    path = folder / name
    path.write_bytes(np.asarray(yr, dtype="<f4").tobytes(order=order))
    return path


def make_caiman_samples(folder: Path) -> list[Sample]:
    """Samples of the ``caiman-mmap`` reader: both storage orders, planar and volumetric."""
    folder = Path(folder)
    samples = []
    for order in ("C", "F"):
        video = make_video("f4", seed=70 + ord(order))
        path = write_caiman_mmap(folder, f"planar{order}", video, order)
        samples.append(Sample(f"order{order}", path, ImagingTruth(video, 30.0), {"sampling_frequency": 30.0}))
        video = make_video("f4", planes=3, seed=80 + ord(order))
        path = write_caiman_mmap(folder, f"volume{order}", video, order)
        samples.append(Sample(f"order{order}-volumetric", path, ImagingTruth(video, 4.0), {"sampling_frequency": 4.0}))
    return samples


def make_writer_samples(folder: Path) -> list[WriterSample]:
    """Sources for the ``memmap`` writer: several dtypes, planar and volumetric, to raw and ``.npy``."""
    cases = [
        ("uint16-bin", "u2", None, "movie.bin"),
        ("int16-raw", "i2", None, "movie.raw"),
        ("float32-dat", "f4", None, "movie.dat"),
        ("uint8-bin", "u1", None, "movie8.bin"),
        ("bool-bin", "b1", None, "mask.bin"),
        ("float64-volumetric-bin", "f8", 3, "volume.bin"),
        ("uint16-npy", "u2", None, "movie.npy"),
        ("int32-npy", "i4", None, "movie32.npy"),
        ("float32-volumetric-npy", "f4", 2, "volume.npy"),
    ]
    samples = []
    for index, (sample_id, dtype, planes, filename) in enumerate(cases):
        video = make_video(dtype, planes=planes, seed=90 + index)
        source = NumpyImagingExtractor(video, 10.0 + index, volumetric=planes is not None)
        options = {"chunk_frames": 5} if index % 2 else {}
        samples.append(WriterSample(sample_id, source, filename, options=options))
    return samples
