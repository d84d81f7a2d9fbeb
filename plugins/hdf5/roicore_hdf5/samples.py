"""Conformance samples: small HDF5 videos in every layout the reader reads, with their ground truth.

Frames are 7 rows x 11 columns (asymmetric, so a transpose changes the
shape) with one bright marker pixel at row 2, column 9 in every frame (so a
flip or a permutation of the axes moves it). The ground truth is the
generator's own input array; the files are made from it with plain numpy
(``transpose``) and h5py, never with this plugin's reader or writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roicore.memory import NumpyImagingExtractor
from roicore.testing.samples import ImagingTruth, Sample, WriterSample

__all__ = ["make_reader_samples", "make_writer_samples", "make_video", "write_video_file", "ROWS", "COLUMNS", "MARKER"]

ROWS, COLUMNS = 7, 11
MARKER = (2, 9)
FRAMES = 13


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


def write_video_file(
    path: Path,
    channels: list[np.ndarray],
    *,
    axes: str,
    dataset: str = "imaging",
    file_dtype: Any = None,
    labels: bool = True,
    rate: float | None = 30.0,
    rate_attribute: str = "sampling_frequency",
    rate_on_root: bool = False,
    channel_names: list[str] | None = None,
    extra: dict[str, np.ndarray] | None = None,
    **create: Any,
) -> Path:
    """Write ``(t, y, x[, z])`` channel videos as one dataset stored in ``axes`` order.

    ``labels`` writes h5py dimension labels (``DIMENSION_LABELS``); ``create``
    goes to ``create_dataset`` (``chunks=``, ``compression=``, ...); ``extra``
    adds other datasets by name.
    """
    import h5py

    stacked = np.stack(channels, axis=-1)  # (t, y, x[, z], c)
    letters = "tyx" + ("z" if stacked.ndim == 5 else "") + "c"
    if "c" not in axes:
        stacked = stacked[..., 0]
        letters = letters[:-1]
    on_disk = np.transpose(stacked, [letters.index(a) for a in axes])
    if file_dtype is not None:
        on_disk = on_disk.astype(file_dtype)
    with h5py.File(path, "w") as handle:
        video = handle.create_dataset(dataset, data=on_disk, **create)
        if labels:
            for index, letter in enumerate(axes):
                video.dims[index].label = letter
        if rate is not None:
            (handle if rate_on_root else video).attrs[rate_attribute] = rate
        if channel_names is not None:
            video.attrs["channel_names"] = np.array([n.encode() for n in channel_names])
        for name, value in (extra or {}).items():
            handle.create_dataset(name, data=value)
    return path


def make_reader_samples(folder: Path) -> list[Sample]:
    """Samples of the ``hdf5`` reader: axis orders, dtypes, compression, planes, channels, several datasets."""
    folder = Path(folder)
    samples: list[Sample] = []

    def add(sample_id: str, truth: np.ndarray, rate: float, *, kwargs: dict[str, Any] | None = None, **options: Any) -> None:
        channels = options.pop("channels", None) or [truth]
        path = write_video_file(folder / f"{sample_id}.h5", channels, rate=options.pop("stored_rate", rate), **options)
        samples.append(Sample(sample_id, path, ImagingTruth(truth, rate), reader_kwargs=kwargs or {}))

    # time chunks of 4 over 13 frames: whole and partial chunk rows
    add("uint16-tyx-gzip", make_video("u2", seed=1), 30.0, axes="tyx", chunks=(4, ROWS, COLUMNS), compression="gzip")
    # SIMA's example.h5 layout: time last, contiguous, no labels, no rate
    add(
        "int16-yxt-unlabelled",
        make_video("i2", seed=2),
        15.0,
        axes="yxt",
        labels=False,
        stored_rate=None,
        kwargs={"axes": "yxt", "sampling_frequency": 15.0},
    )
    # chunked across space and time, lzf
    add("float32-tyx-lzf-tiles", make_video("f4", seed=3), 7.5, axes="tyx", chunks=(5, 4, 6), compression="lzf")
    add("float64be-xyt", make_video("f8", seed=4), 12.0, axes="xyt", file_dtype=">f8")
    add("uint8-tzyx-volume", make_video("u1", planes=3, seed=5), 4.0, axes="tzyx", chunks=(1, 1, ROWS, COLUMNS), compression="gzip")
    # SIMA's example-volume.h5 layout (t, z, y, x, c), chunked one plane of one channel at a time
    two = [make_video("u2", planes=2, seed=6 + k) for k in range(2)]
    add(
        "uint16-tzyxc-channel1",
        two[1],
        10.0,
        axes="tzyxc",
        channels=two,
        channel_names=["red", "green"],
        chunks=(3, 1, ROWS, COLUMNS, 1),
        compression="gzip",
        kwargs={"channel": 1},
    )
    three = [make_video("i4", seed=10 + k) for k in range(3)]
    add(
        "int32-ctyx-green",
        three[1],
        20.0,
        axes="ctyx",
        channels=three,
        channel_names=["red", "green", "blue"],
        kwargs={"channel": "green"},
    )
    add(
        "float32-yxtc-rate-on-root",
        make_video("f4", seed=13),
        9.0,
        axes="yxtc",
        rate_attribute="frame_rate",
        rate_on_root=True,
        chunks=(ROWS, COLUMNS, 6, 1),
        compression="gzip",
    )
    two_movies = make_video("u2", seed=14)
    add(
        "uint16-two-datasets",
        two_movies,
        25.0,
        axes="tyx",
        dataset="session/registered",
        extra={"session/raw": make_video("u2", seed=15), "timestamps": np.arange(FRAMES) / 25.0},
        kwargs={"dataset": "/session/registered"},
    )
    return samples


def make_writer_samples(folder: Path) -> list[WriterSample]:
    """Sources for the ``hdf5`` writer: dtypes, planar and volumetric, each compression."""
    cases: list[tuple[str, str, int | None, str, dict[str, Any]]] = [
        ("uint16-gzip", "u2", None, "movie.h5", {}),
        ("int16-lzf", "i2", None, "movie.hdf5", {"compression": "lzf"}),
        ("float32-none", "f4", None, "movie32.h5", {"compression": "none"}),
        ("uint8-gzip9-chunk3", "u1", None, "movie8.h5", {"compression_level": 9, "chunk_frames": 3}),
        ("bool-gzip", "b1", None, "mask.h5", {}),
        ("float64-volume-gzip", "f8", 3, "volume.h5", {"chunk_frames": 5}),
        ("uint16-volume-lzf-named", "u2", 2, "volume16.h5", {"compression": "lzf", "dataset": "data/video"}),
    ]
    samples = []
    for index, (sample_id, dtype, planes, filename, options) in enumerate(cases):
        video = make_video(dtype, planes=planes, seed=90 + index)
        source = NumpyImagingExtractor(video, 10.0 + index, volumetric=planes is not None)
        samples.append(WriterSample(sample_id, source, filename, options=options))
    return samples
