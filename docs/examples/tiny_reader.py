"""A complete roicore plugin for a made-up format, in one file.

The "TinyScope" format (``.tiny``) is invented for this example:

* 8 bytes of magic, ``b"TINYSCP1"``;
* a 16-byte little-endian header: number of frames (uint32), rows (uint16),
  columns (uint16), sampling frequency in Hz (float64);
* the frames, uint16 little-endian, in C order ``(frames, rows, columns)``.

Use it in-process, without packaging anything::

    import roicore, tiny_reader
    roicore.register(tiny_reader)
    video = roicore.open("session.tiny")

This file is part of roicore's documentation and is tested
(``tests/test_docs_examples.py`` registers it and runs the conformance kit
on it), so it always works with the roicore it ships with.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

import roicore
from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor
from roicore.registry.specs import ReaderSpec, Support

MAGIC = b"TINYSCP1"
HEADER = struct.Struct("<IHHd")  # frames, rows, columns, sampling frequency
DATA_OFFSET = len(MAGIC) + HEADER.size
DTYPE = np.dtype("<u2")

# Lazy references name this module: "tiny_reader:TinyImaging" when imported as tiny_reader.
MODULE = __name__


# -- 1. the spec: what detection needs, without importing anything heavy -----------------------


@roicore.hookimpl
def roicore_readers() -> list[ReaderSpec]:
    return [
        ReaderSpec(
            id="tinyscope",
            kind="imaging",
            reader=f"{MODULE}:TinyImaging",
            sniff=f"{MODULE}:sniff",
            suffixes=(".tiny",),
            magic=(MAGIC,),
            samples=f"{MODULE}:make_samples",
            description="TinyScope video (a made-up example format)",
        )
    ]


# -- 2. sniff: a cheap yes/maybe/no from the file's first bytes --------------------------------


def sniff(path: Path, header: bytes) -> Support:
    """Claim files that start with the TinyScope magic and hold a whole header."""
    if not header.startswith(MAGIC):
        return Support.no("no TinyScope magic bytes")
    if len(header) < DATA_OFFSET:
        return Support.no("TinyScope magic, but the header is cut short")
    return Support.yes("TinyScope magic bytes")


# -- 3. the reader: metadata getters and one read hook; the base class does the rest -----------


class TinyImaging(ImagingExtractor):
    """A TinyScope video, ``(frames, rows, columns)`` uint16.

    Parameters
    ----------
    file_path : str or Path
        The ``.tiny`` file.
    sampling_frequency : float, optional
        Overrides the rate stored in the header.
    """

    def __init__(self, file_path: Any, sampling_frequency: float | None = None) -> None:
        self._path = Path(file_path)
        if self._path.is_dir():
            raise CorruptFileError(f"{self._path}: is a folder, not a TinyScope file", path=self._path)
        with open(self._path, "rb") as handle:  # read the header, then close: no handle is kept
            head = handle.read(DATA_OFFSET)
        if not head.startswith(MAGIC) or len(head) < DATA_OFFSET:
            raise CorruptFileError(f"{self._path}: not a TinyScope file (bad magic or short header)", path=self._path)
        frames, rows, columns, rate = HEADER.unpack(head[len(MAGIC) :])
        if sampling_frequency is not None:
            rate = float(sampling_frequency)
        if frames < 1 or rows < 1 or columns < 1 or not np.isfinite(rate) or rate <= 0:
            raise CorruptFileError(
                f"{self._path}: bad header: {frames} frames of {rows} x {columns} at {rate} Hz", path=self._path
            )
        expected = DATA_OFFSET + frames * rows * columns * DTYPE.itemsize
        actual = self._path.stat().st_size
        if actual != expected:
            raise CorruptFileError(
                f"{self._path}: {actual} bytes, but the header promises {expected}", path=self._path
            )
        self._shape = (frames, rows, columns)
        self._rate = float(rate)

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape[1], self._shape[2]

    def get_num_samples(self) -> int:
        return self._shape[0]

    def get_sampling_frequency(self) -> float:
        return self._rate

    def get_dtype(self) -> np.dtype:
        return DTYPE

    def _read_series(self, start: int, end: int) -> np.ndarray:
        # start and end are already validated: 0 <= start < end <= n
        frame = self._shape[1] * self._shape[2]
        with open(self._path, "rb") as handle:  # one handle per read: thread safe, nothing to leak
            handle.seek(DATA_OFFSET + start * frame * DTYPE.itemsize)
            data = np.fromfile(handle, dtype=DTYPE, count=(end - start) * frame)
        return data.reshape(end - start, *self._shape[1:])


# -- 4. samples: small files and the values they must read back (for the conformance kit) -------


def write_tiny(path: Path, video: np.ndarray, rate: float) -> None:
    """Write a ``(frames, rows, columns)`` uint16 video as a TinyScope file."""
    frames, rows, columns = video.shape
    header = MAGIC + HEADER.pack(frames, rows, columns, rate)
    path.write_bytes(header + np.ascontiguousarray(video, dtype=DTYPE).tobytes())


def make_samples(folder: Path) -> list[Any]:
    """Two small files; the truth is the generator's input, not something read back."""
    from roicore.testing.samples import ImagingTruth, Sample

    samples = []
    for name, (frames, rows, columns), rate in [("small", (12, 5, 7), 30.0), ("one-frame", (1, 3, 4), 7.5)]:
        video = (np.arange(frames * rows * columns) % 251).astype(DTYPE).reshape(frames, rows, columns)
        video[:, 1, -1] = 4000  # a distinctive pixel off the diagonal: a transposed read would move it
        path = folder / f"{name}.tiny"
        write_tiny(path, video, rate)
        samples.append(Sample(name, path, ImagingTruth(video, rate)))
    return samples
